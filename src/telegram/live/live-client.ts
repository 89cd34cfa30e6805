/**
 * A GramJS client on the live code path: api_id, api_hash and a StringSession, optionally sent to
 * a data-centre address of the operator's choosing (a loopback data centre, or a test DC), with
 * connects and calls that end within the call timeout and reconnects paced with jitter. Used for
 * `telegram.mode: live` and `loopback` alike, so both run exactly the same client code.
 */
import { Logger, TelegramClient } from 'telegram';
import { LogLevel } from 'telegram/extensions/Logger.js';
import { StringSession } from 'telegram/sessions/index.js';
import type { ConnectionLease } from '../../channel/protocol.js';
import { AccountLease } from '../connection-lease.js';
import { guardCalls, type CallGuard } from './call-guard.js';
import { ConnectionFencedError, dcConnection, type DcAddress } from './dc-connection.js';
import { LeaseKeeper } from './lease-keeper.js';
import { ReconnectPacer } from './reconnect-pacer.js';
import { sessionFailure, SessionRevokedError, TelegramUnreachableError } from './session-errors.js';

export interface LiveAccount {
  phone: string;
  apiId?: number | undefined;
  apiHash?: string | undefined;
  session?: string | undefined;
}

export interface LiveClientOptions {
  /** Connect here instead of the data centre GramJS picks from the session. */
  dcAddress?: DcAddress | undefined;
  /** Longest wait for a connection or for one call's answer, in ms. */
  callTimeoutMs: number;
  /** The client is unusable (revoked session, stalled connection): the caller forgets it. */
  onBroken(error: Error): void;
  /** A fleet host's lease on its accounts: the connection stays within it (src/telegram/live/lease-keeper.ts). */
  lease?: ConnectionLease | undefined;
}

/** Connection attempts per connect or reconnect before GramJS gives up on it. */
const CONNECTION_RETRIES = 3;

function sessionOf(account: LiveAccount): StringSession {
  try {
    return new StringSession(account.session);
  } catch (error) {
    throw new Error(`account ${account.phone}: its session string is not a GramJS StringSession (${(error as Error).message}); export one with StringSession.save()`);
  }
}

async function withinTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function connectLiveClient(account: LiveAccount, options: LiveClientOptions): Promise<TelegramClient> {
  if (account.apiId === undefined || account.apiHash === undefined || account.session === undefined) {
    throw new Error(`account ${account.phone} has no api_id, api_hash or session: live accounts need all three`);
  }
  const session = sessionOf(account);
  const hooks: { guard?: CallGuard; revoked?: SessionRevokedError } = {};
  let rejectConnect: (error: Error) => void = () => {};
  const rejected = new Promise<never>((_, reject) => {
    rejectConnect = reject;
  });
  rejected.catch(() => undefined);
  const keeper =
    options.lease === undefined
      ? undefined
      : new LeaseKeeper(new AccountLease(options.lease, account.phone), () => {
          const fenced = new ConnectionFencedError(`account ${account.phone}: this host's lease on it lapsed, so its connection is closed`);
          rejectConnect(fenced);
          hooks.guard?.fail(fenced);
        });
  const client = new TelegramClient(session, account.apiId, account.apiHash, {
    connection: dcConnection({
      pacer: new ReconnectPacer(),
      address: options.dcAddress,
      ...(keeper !== undefined && { mayCarry: keeper.mayCarry, onConnected: keeper.onConnected }),
      onTransportError: (code) => {
        if (code !== 404) return;
        hooks.revoked = new SessionRevokedError(account.phone, 'AUTH_KEY_UNKNOWN (transport error 404: the data centre does not know this auth key)');
        rejectConnect(hooks.revoked);
        hooks.guard?.fail(hooks.revoked);
      },
    }),
    // Flood waits must reach the runtime (it cools the account down), not be slept inside GramJS; and GramJS must log nothing (secrets).
    floodSleepThreshold: 0,
    baseLogger: new Logger(LogLevel.NONE),
    connectionRetries: CONNECTION_RETRIES,
    // The pacer spaces the attempts.
    retryDelay: 0,
  });
  if (keeper !== undefined) {
    keeper.attach(client);
    const destroy = client.destroy.bind(client);
    client.destroy = () => {
      keeper.stop();
      return destroy();
    };
  }
  const address = options.dcAddress === undefined ? `${session.serverAddress ?? 'the default data centre'}` : `${options.dcAddress.host}:${options.dcAddress.port}`;
  const giveUp = async (error: Error): Promise<never> => {
    await client.destroy().catch(() => undefined);
    throw error;
  };
  let connected: boolean;
  try {
    connected = await withinTimeout(
      Promise.race([client.connect(), rejected]),
      options.callTimeoutMs,
      () => new TelegramUnreachableError(account.phone, address, `no connection within ${options.callTimeoutMs / 1000} s (telegram.call_timeout)`),
    );
  } catch (error) {
    // Connecting already invokes (initConnection): a refused session is told apart here too.
    return giveUp(sessionFailure(account.phone, error) ?? (error as Error));
  }
  if (!connected) return giveUp(new TelegramUnreachableError(account.phone, address, `${CONNECTION_RETRIES} connection attempts failed`));
  hooks.guard = guardCalls(client, {
    account: account.phone,
    timeoutMs: options.callTimeoutMs,
    onBroken: (error) => {
      options.onBroken(error);
      void client.destroy().catch(() => undefined);
    },
  });
  return client;
}
