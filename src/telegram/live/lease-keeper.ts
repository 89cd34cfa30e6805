/**
 * Keeps a live client's connection within its host's lease on the account (src/telegram/connection-lease.ts).
 * The connection writes only while the lease reaches a ping delay ahead; every connection opens with
 * ping_delay_disconnect and repeats it three times per delay, so the server closes the connection
 * once the pings stop: by the lease's end at the latest, however the host stopped (fenced, frozen
 * or gone). GramJS's own keep-alive ping asks for a delay of 60000 s, which would keep a frozen
 * host's connection open for most of a day: it is sent with the lease's delay instead.
 */
import { Api, helpers, type TelegramClient } from 'telegram';
import type { AccountLease } from '../connection-lease.js';

/** Sends per delay: a ping may come a third of the delay late before the server closes the connection. */
const PINGS_PER_DELAY = 3;

type Sender = NonNullable<TelegramClient['_sender']>;

function randomPingId(): Api.long {
  return helpers.returnBigInt(helpers.getRandomInt(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
}

export class LeaseKeeper {
  private connection: { close(): void } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private client: TelegramClient | undefined;
  private readonly senders = new WeakSet<Sender>();
  private readonly delaySeconds: number;

  /** Set once the lease lapsed: a client lives within one unbroken lease, and never reconnects under a later one. */
  private fenced = false;

  constructor(
    private readonly lease: AccountLease,
    /** The lease lapsed (or the client was destroyed): the client must not be used again. */
    private readonly onFenced: () => void,
  ) {
    this.delaySeconds = lease.pingDelayMs / 1000;
  }

  readonly mayCarry = (): boolean => {
    if (this.fenced) return false;
    if (this.lease.mayCarry()) return true;
    this.fence();
    return false;
  };

  /** A new connection is up: its first message is a ping, so the server counts down from the start. */
  readonly onConnected = (connection: { close(): void }): void => {
    this.connection = connection;
    this.ping();
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.lease.pingDelayMs / PINGS_PER_DELAY);
      // The client's users keep the worker alive, not its keep-alive.
      this.timer.unref();
    }
  };

  attach(client: TelegramClient): void {
    this.client = client;
  }

  /** The client is destroyed: nothing may reconnect it, whatever GramJS still has under way. */
  stop(): void {
    this.fenced = true;
    clearInterval(this.timer);
    this.connection = null;
  }

  private tick(): void {
    if (this.mayCarry()) this.ping();
  }

  /** The lease cannot be confirmed in time: the connection goes now, before it would for the others. */
  private fence(): void {
    this.fenced = true;
    clearInterval(this.timer);
    this.connection?.close();
    this.connection = null;
    this.onFenced();
  }

  private ping(): void {
    const sender = this.client?._sender;
    if (sender === undefined) return;
    this.ownPings(sender);
    sender.send(new Api.PingDelayDisconnect({ pingId: randomPingId(), disconnectDelay: this.delaySeconds }))?.catch(() => undefined);
  }

  /** GramJS's update loop pings too: with the lease's delay, never its own. */
  private ownPings(sender: Sender): void {
    if (this.senders.has(sender)) return;
    this.senders.add(sender);
    const send = sender.send.bind(sender);
    sender.send = (request) =>
      send(
        request instanceof Api.PingDelayDisconnect && request.disconnectDelay !== this.delaySeconds
          ? new Api.PingDelayDisconnect({ pingId: request.pingId, disconnectDelay: this.delaySeconds })
          : request,
      );
  }
}
