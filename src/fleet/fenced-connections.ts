import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ConnectionGate } from '../runtime/connection-gate.js';
import type { ConnectionLedger, LedgerEntry } from './connection-ledger.js';

/** A host tried to connect an account whose shard it does not serve at this moment. */
export class NotOwnerError extends Error {
  override readonly name = 'NotOwnerError';
}

interface Relay {
  close(): void;
}

/**
 * The fence between a host's workers and Telegram. Every message of every account connection
 * passes through here and goes on only while the host may use the account (it serves the shard
 * and its lock lease has not run out); the first message past that closes the connection. So a
 * host frozen past its lease sends nothing when it wakes, even before its own timers have run.
 *
 * This fences the simulated Telegram, whose connections the main thread makes. A client that
 * dials Telegram itself from a worker (live, or the loopback data centre) needs the same check
 * where it sends: {@link FencedConnections.may} is the predicate to apply there.
 */
export class FencedConnections implements ConnectionGate {
  private readonly relays = new Map<string, Set<Relay>>();

  constructor(
    /** Whether this host may use the account's connection now. */
    readonly may: (account: string) => boolean,
    /** Wall ms until which the host's lease runs: a connection cut later stopped carrying requests then. */
    private readonly leaseEnd: () => number,
    private readonly ledger: ConnectionLedger,
    /** Told of every request the fence lets through to Telegram, when it lets it through. */
    private readonly onSent?: (account: string, atWallMs: number) => void,
  ) {}

  open(account: string, connect: () => MessagePort): MessagePort {
    if (!this.may(account)) throw new NotOwnerError(`account ${account}: this host does not serve its shard now, so it may not connect it`);
    const upstream = connect();
    const { port1: near, port2: far } = new MessageChannel();
    const entry: LedgerEntry = this.ledger.opened(account, Date.now());
    let closed = false;
    const relay: Relay = {
      close: () => {
        if (closed) return;
        closed = true;
        entry.closed(Math.min(Date.now(), this.leaseEnd()));
        this.relays.get(account)?.delete(relay);
        near.close();
        upstream.close();
      },
    };
    const forward = (to: MessagePort) => (message: unknown) => {
      if (closed) return;
      if (!this.may(account)) return relay.close();
      if (to === upstream) this.onSent?.(account, Date.now());
      to.postMessage(message);
    };
    near.on('message', forward(upstream));
    upstream.on('message', forward(near));
    near.once('close', relay.close);
    upstream.once('close', relay.close);
    // The relay never keeps the host alive by itself; the worker's end is ref'd while calls wait.
    near.unref();
    upstream.unref();
    let set = this.relays.get(account);
    if (set === undefined) this.relays.set(account, (set = new Set()));
    set.add(relay);
    return far;
  }

  /** Cuts these accounts' connections now. */
  close(accounts: Iterable<string>): void {
    for (const account of accounts) for (const relay of [...(this.relays.get(account) ?? [])]) relay.close();
  }

  closeAll(): void {
    this.close([...this.relays.keys()]);
  }

  /** Accounts with a connection open through this host. */
  connectedAccounts(): string[] {
    return [...this.relays.entries()].filter(([, set]) => set.size > 0).map(([account]) => account);
  }
}
