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

/** An account's client on this worker, and the tasks using it now. */
interface Held {
  client: Promise<TelegramClient>;
  /** The client once connected: the account's later tasks take it without waiting on a promise. */
  ready: TelegramClient | null;
  /** Tasks of the account between clientForTask and releaseClient. */
  users: number;
  /** Disconnects the client once it has sat unused for runtime.client_idle_timeout. */
  idleTimer: NodeJS.Timeout | null;
}

/**
 * One GramJS client per account per worker, connected on the account's first task and reused by
 * the next ones (the scheduler keeps an account on one worker), so a task does not pay for a new
 * connection; creation is shared by concurrent first tasks of an account. A fleet of thousands of
 * accounts cannot keep every client: one unused for runtime.client_idle_timeout is disconnected,
 * and the worker holds at most runtime.max_clients_per_worker, in the order they were last used
 * (the map's order), so a new one first disconnects the least recently used idle one.
 */
const clients = new Map<string, Held>();
/** First tasks of accounts waiting for a place, because every held client is in use. */
const waitingForPlace: (() => void)[] = [];

async function connect(payload: TaskPayload, cache: AccountCache, onBroken: () => void): Promise<TelegramClient> {
  const { telegram, account } = payload;
  const simulated = telegram.mode === 'simulated';
  const client = simulated
    ? await createSimulatedClient(portTransport(await cache.openTelegramConnection()))
    : await connectLiveClient(account, { dcAddress: telegram.dcAddress, callTimeoutMs: telegram.callTimeoutMs, onBroken, lease: telegram.lease });
  guardTaskCalls(client, { account: account.phone, callTimeoutMs: simulated ? telegram.callTimeoutMs : null });
  return client;
}

function disconnect(phone: string, held: Held): void {
  if (clients.get(phone) !== held) return;
  clients.delete(phone);
  if (held.idleTimer !== null) clearTimeout(held.idleTimer);
  // A client that never connected has nothing to close; one that did is closed whenever it can be.
  void held.client.then(
    (client) => client.destroy(),
    () => undefined,
  );
  waitingForPlace.shift()?.();
}

/** Frees a place for one more client: the least recently used idle one goes, or the caller waits for a task to end. */
async function place(maxClients: number): Promise<void> {
  while (clients.size >= maxClients) {
    let idle: [string, Held] | undefined;
    for (const entry of clients) {
      if (entry[1].users === 0) {
        idle = entry;
        break;
      }
    }
    if (idle !== undefined) disconnect(idle[0], idle[1]);
    else await new Promise<void>((resolve) => waitingForPlace.push(resolve));
  }
}

/** The client each task took, so its end releases that one, even if the account has a newer client by then. */
const taken = new WeakMap<AccountCache, Held>();

function accountClient(payload: TaskPayload, cache: AccountCache): TelegramClient | Promise<TelegramClient> {
  const maxClients = payload.telegram.maxClients;
  if (!clients.has(payload.account.phone) && clients.size >= maxClients) return place(maxClients).then(() => takeClient(payload, cache));
  return takeClient(payload, cache);
}

function takeClient(payload: TaskPayload, cache: AccountCache): TelegramClient | Promise<TelegramClient> {
  const phone = payload.account.phone;
  let held = clients.get(phone);
  if (held === undefined) {
    // A revoked or stalled client is forgotten, so the account's next task connects afresh (or is refused, if revoked).
    const forget = (): void => disconnect(phone, entry);
    // The client outlives this task: its timers and reconnects must not run as this task.
    const entry: Held = { client: outsideTask(() => connect(payload, cache, forget)), ready: null, users: 0, idleTimer: null };
    // A failed connection is not kept: the account's next task tries again.
    entry.client.then((client) => {
      entry.ready = client;
    }, forget);
    held = entry;
  } else {
    // Last used now: it moves to the end of the order.
    clients.delete(phone);
  }
  clients.set(phone, held);
  held.users++;
  taken.set(cache, held);
  if (held.idleTimer !== null) {
    clearTimeout(held.idleTimer);
    held.idleTimer = null;
  }
  return held.ready ?? held.client;
}

/**
 * The account's shared client, seen through the task's own cache channel; or, with the entity
 * cache off, the bare GramJS client, which is what the benchmarks compare against. The task hands
 * it back with {@link releaseClient} when it ends.
 */
export function clientForTask(payload: TaskPayload, cache: AccountCache): TaskClient | Promise<TaskClient> {
  const client = accountClient(payload, cache);
  if (client instanceof Promise) return client.then((connected) => seenByTask(connected, payload, cache));
  return seenByTask(client, payload, cache);
}

function seenByTask(client: TelegramClient, payload: TaskPayload, cache: AccountCache): TaskClient {
  return payload.telegram.entityCache ? new CachedTelegramClient(client, cache, payload.telegram) : client;
}

/** The task with this cache channel has ended: its client may sit idle now, and go after runtime.client_idle_timeout. */
export function releaseClient(payload: TaskPayload, cache: AccountCache): void {
  const held = taken.get(cache);
  taken.delete(cache);
  if (held === undefined || --held.users > 0) return;
  const idleMs = payload.telegram.clientIdleTimeoutMs;
  if (idleMs > 0 && clients.get(payload.account.phone) === held) {
    held.idleTimer = setTimeout(() => disconnect(payload.account.phone, held), idleMs);
    // An idle client's timer must not keep the worker alive.
    held.idleTimer.unref();
  }
  waitingForPlace.shift()?.();
}

/** The accounts whose clients this worker holds connected (or connecting) now, least recently used first. */
export function connectedAccounts(): string[] {
  return [...clients.keys()];
}

/** Disconnects every client of this worker (it is being stopped), or only those of `accounts` (they move to another host). */
export async function disconnectClients(accounts?: readonly string[]): Promise<void> {
  const phones = accounts ?? [...clients.keys()];
  const leaving = phones.flatMap((phone) => {
    const held = clients.get(phone);
    if (held === undefined) return [];
    clients.delete(phone);
    if (held.idleTimer !== null) clearTimeout(held.idleTimer);
    return [held.client];
  });
  await Promise.allSettled(leaving.map(async (client) => (await client).destroy()));
}
