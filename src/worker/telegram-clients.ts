import { TelegramClient } from 'telegram';
import { Logger, LogLevel } from 'telegram/extensions/Logger.js';
import { StringSession } from 'telegram/sessions/index.js';
import type { AccountCache } from '../channel/channel-client.js';
import type { AccountCredentials, TaskPayload } from '../channel/protocol.js';
import { CachedTelegramClient, type TaskClient } from '../telegram/cached-client.js';
import { createSimulatedClient } from '../telegram/simulated/simulated-sender.js';
import { portTransport } from '../telegram/simulated/transport.js';

export type { TaskClient };

/**
 * One GramJS client per account per worker, connected on the account's first task and reused by
 * the next ones (the scheduler keeps an account on one worker), so a task does not pay for a new
 * connection. Creation is shared by concurrent first tasks of an account.
 */
const clients = new Map<string, Promise<TelegramClient>>();

/**
 * Flood waits must reach the runtime (it cools the account down); GramJS must not sleep them away
 * or log secrets. Simulated clients get the same settings from createSimulatedClient.
 */
const LIVE_CLIENT_OPTIONS = { floodSleepThreshold: 0, baseLogger: new Logger(LogLevel.NONE), connectionRetries: 3 } as const;

async function connectLive(account: AccountCredentials): Promise<TelegramClient> {
  if (account.apiId === undefined || account.apiHash === undefined || account.session === undefined) {
    throw new Error(`account ${account.phone} has no api_id, api_hash or session: live accounts need all three`);
  }
  const client = new TelegramClient(new StringSession(account.session), account.apiId, account.apiHash, LIVE_CLIENT_OPTIONS);
  await client.connect();
  return client;
}

async function connect(payload: TaskPayload, cache: AccountCache): Promise<TelegramClient> {
  if (payload.telegram.mode === 'live') return connectLive(payload.account);
  const port = await cache.openTelegramConnection();
  return createSimulatedClient(portTransport(port));
}

function accountClient(payload: TaskPayload, cache: AccountCache): Promise<TelegramClient> {
  const phone = payload.account.phone;
  let client = clients.get(phone);
  if (client === undefined) {
    client = connect(payload, cache);
    clients.set(phone, client);
    // A failed connection is not cached: the account's next task tries again.
    client.catch(() => clients.delete(phone));
  }
  return client;
}

/**
 * The account's shared client, seen through the task's own cache channel; or, with the entity
 * cache off, the bare GramJS client, which is what the benchmarks compare against.
 */
export async function clientForTask(payload: TaskPayload, cache: AccountCache): Promise<TaskClient> {
  const client = await accountClient(payload, cache);
  return payload.telegram.entityCache ? new CachedTelegramClient(client, cache, payload.telegram) : client;
}

/** Disconnects every client of this worker (it is being stopped), or only those of `accounts` (they move to another host). */
export async function disconnectClients(accounts?: readonly string[]): Promise<void> {
  const phones = accounts ?? [...clients.keys()];
  const leaving = phones.flatMap((phone) => {
    const client = clients.get(phone);
    clients.delete(phone);
    return client === undefined ? [] : [client];
  });
  await Promise.allSettled(leaving.map(async (client) => (await client).destroy()));
}
