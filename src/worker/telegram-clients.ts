import type { TelegramClient } from 'telegram';
import type { AccountCache } from '../channel/channel-client.js';
import type { TaskPayload } from '../channel/protocol.js';
import { CachedTelegramClient, type TaskClient } from '../telegram/cached-client.js';
import { connectLiveClient } from '../telegram/live/live-client.js';
import { createSimulatedClient } from '../telegram/simulated/simulated-sender.js';
import { portTransport } from '../telegram/simulated/transport.js';
import { guardTaskCalls } from './task-calls.js';
import { outsideTask } from './task-scope.js';

export type { TaskClient };

/**
 * One GramJS client per account per worker, connected on the account's first task and reused by
 * the next ones (the scheduler keeps an account on one worker), so a task does not pay for a new
 * connection. Creation is shared by concurrent first tasks of an account.
 */
const clients = new Map<string, Promise<TelegramClient>>();

async function connect(payload: TaskPayload, cache: AccountCache, onBroken: () => void): Promise<TelegramClient> {
  const { telegram, account } = payload;
  const simulated = telegram.mode === 'simulated';
  const client = simulated
    ? await createSimulatedClient(portTransport(await cache.openTelegramConnection()))
    : await connectLiveClient(account, { dcAddress: telegram.dcAddress, callTimeoutMs: telegram.callTimeoutMs, onBroken });
  guardTaskCalls(client, { account: account.phone, callTimeoutMs: simulated ? telegram.callTimeoutMs : null });
  return client;
}

function accountClient(payload: TaskPayload, cache: AccountCache): Promise<TelegramClient> {
  const phone = payload.account.phone;
  let client = clients.get(phone);
  if (client === undefined) {
    // A revoked or stalled client is forgotten, so the account's next task connects afresh (or is refused, if revoked).
    const forget = (): void => {
      if (clients.get(phone) === client) clients.delete(phone);
    };
    // The client outlives this task: its timers and reconnects must not run as this task.
    client = outsideTask(() => connect(payload, cache, forget));
    clients.set(phone, client);
    // A failed connection is not cached: the account's next task tries again.
    client.catch(forget);
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
