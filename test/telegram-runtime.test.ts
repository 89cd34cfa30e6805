import { MessageChannel, Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelegramCache } from '../src/cache/telegram-cache.js';
import { ChannelServer, ServedTask } from '../src/channel/channel-server.js';
import type { FleetConfig } from '../src/config/config.js';
import { AccountEndpoint } from '../src/runtime/account-endpoint.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { FloodControl } from '../src/runtime/flood-control.js';
import { SingleFlight } from '../src/runtime/single-flight.js';
import { unpackCacheValue, type EntityRecord } from '../src/telegram/entity-record.js';
import { SimulatedTelegram } from '../src/telegram/simulated/simulated-telegram.js';
import { createWorld, type World, type WorldChannel } from '../src/telegram/simulated/world.js';
import type { ChannelDigestArgs, ChannelDigestResult } from '../tasks/channel-digest.js';
import type { CachedClientWorkerResult, CachedClientWorkerSetup } from './fixtures/cached-client-worker.js';
import { fixturePath } from './helpers/fixtures.js';
import { accountPicker, recordEvents, startRuntime } from './helpers/runtime.js';

const RESOLVE = 'contacts.ResolveUsername';

function digest(runtime: FleetRuntime, account: string, peers: string[], posts = 0): Promise<ChannelDigestResult> {
  return runtime.run<ChannelDigestResult, ChannelDigestArgs>({ account, task: 'channel-digest', args: { peers, posts } });
}

function callsOf(runtime: FleetRuntime, accounts: readonly string[], method?: string): number {
  const calls = runtime.simulator?.calls() ?? {};
  let total = 0;
  for (const account of accounts) {
    for (const [name, count] of Object.entries(calls[account] ?? {})) if (method === undefined || name === method) total += count;
  }
  return total;
}

/** Public channels none of `accounts` is locked out of, so that no lookup fails by design. */
function openChannels(world: World, accounts: readonly string[], count: number): WorldChannel[] {
  return world.channels.filter((channel) => accounts.every((account) => !world.isChannelPrivateFor(account, channel.id))).slice(0, count);
}

function worldOf(runtime: FleetRuntime): World {
  if (runtime.simulator === undefined) throw new Error('these tests run on the simulated Telegram');
  return runtime.simulator.world;
}

/** A small fleet job: every account digests the same popular channels a few times, reading posts. */
async function digestRounds(runtime: FleetRuntime, accounts: readonly string[], peers: string[], rounds: number): Promise<ChannelDigestResult[]> {
  const results: ChannelDigestResult[] = [];
  for (let round = 0; round < rounds; round++) results.push(...(await Promise.all(accounts.map((account) => digest(runtime, account, peers, 2)))));
  return results;
}

describe('tasks on the cached client in process scope', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.cache.scope = 'process';
      config.runtime.perAccountConcurrency = 4;
      config.telegram.simulated.accounts = 16;
      // 10 ms of real time per call, so that concurrent lookups overlap; cooldowns of a quarter second.
      config.telegram.simulated.timeScale = 0.05;
      config.telegram.simulated.latencyMs = 200;
      config.telegram.simulated.resolveLimitPerMinute = 3;
    });
  });
  afterAll(() => runtime?.shutdown());

  it("resolves '@name' once for two consecutive tasks of an account", async () => {
    const account = takeAccount();
    const [channel] = openChannels(worldOf(runtime), [account], 1) as [WorldChannel];
    const stats = recordEvents(runtime.reporter, 'cache:stats');

    await digest(runtime, account, [`@${channel.baseUsername}`]);
    const second = await digest(runtime, account, [`@${channel.baseUsername}`]);

    expect(second).toMatchObject({ lookups: 1, resolved: 1, failed: [] });
    expect(callsOf(runtime, [account], RESOLVE)).toBe(1);
    expect(stats.filter((event) => event.account === account).map(({ hits, misses }) => ({ hits, misses }))).toEqual([
      { hits: 0, misses: 1 },
      { hits: 1, misses: 0 },
    ]);
  });

  it('gives each account its own resolve and its own access hash for the same username', async () => {
    const accounts = [takeAccount(), takeAccount()];
    const world = worldOf(runtime);
    const [channel] = openChannels(world, accounts, 1) as [WorldChannel];

    for (const account of accounts) await digest(runtime, account, [channel.baseUsername]);

    const cache = runtime.registry.currentProcessCache;
    for (const account of accounts) {
      expect(callsOf(runtime, [account], RESOLVE)).toBe(1);
      const record = unpackCacheValue(cache?.get(account, `u:${channel.baseUsername}`)) as EntityRecord | undefined;
      expect(record?.accessHash).toBe(String(world.accessHash(account, channel.id)));
    }
  });

  it('never presents one account’s hash to Telegram for another across a multi-account run', async () => {
    const accounts = [takeAccount(), takeAccount(), takeAccount(), takeAccount()];
    const peers = openChannels(worldOf(runtime), accounts, 3).map((channel) => `@${channel.baseUsername}`);

    const results = await digestRounds(runtime, accounts, peers, 2);

    expect(results.every((result) => result.failed.length === 0 && result.posts.length === 6)).toBe(true);
    expect(callsOf(runtime, accounts, RESOLVE)).toBe(accounts.length * peers.length);
    expect(runtime.simulator?.foreignHashRejections()).toBe(0);
  });

  it('drops a cached channel that turned private for the account and marks the task invalidated', async () => {
    const account = takeAccount();
    const world = worldOf(runtime);
    const locked = world.channels.find((channel) => world.isChannelPrivateFor(account, channel.id)) as WorldChannel;
    const stats = recordEvents(runtime.reporter, 'cache:stats');
    await digest(runtime, account, [locked.baseUsername]);

    const result = await digest(runtime, account, [locked.baseUsername], 2);

    expect(result.failed).toEqual([{ peer: locked.baseUsername, error: 'CHANNEL_PRIVATE' }]);
    expect(stats.filter((event) => event.account === account).map((event) => event.wasInvalidated)).toEqual([false, true]);
    expect(runtime.registry.currentProcessCache?.has(account, `p:-100${locked.id}`)).toBe(false);
  });

  it('makes one Telegram call when several tasks of an account miss the same username at once', async () => {
    const account = takeAccount();
    const [channel] = openChannels(worldOf(runtime), [account], 1) as [WorldChannel];
    const stats = recordEvents(runtime.reporter, 'cache:stats');
    const order: string[] = [];
    runtime.reporter.on('task:start', (event) => void (event.account === account && order.push('start')));
    runtime.reporter.on('task:end', (event) => void (event.account === account && order.push('end')));

    const results = await Promise.all(Array.from({ length: 4 }, () => digest(runtime, account, [channel.baseUsername])));

    // All four were running at once, so the one call is single flight's doing, not the cache's alone.
    expect(order).toEqual(['start', 'start', 'start', 'start', 'end', 'end', 'end', 'end']);
    expect(results.every((result) => result.resolved === 1)).toBe(true);
    expect(callsOf(runtime, [account], RESOLVE)).toBe(1);
    const mine = stats.filter((event) => event.account === account);
    expect(mine.reduce((sum, event) => sum + event.misses, 0)).toBe(1);
    expect(mine.reduce((sum, event) => sum + event.hits, 0)).toBe(3);
  });

  it('holds a flooded account’s next task until its cooldown has passed while other accounts go on', async () => {
    const [flooded, other] = [takeAccount(), takeAccount()] as [string, string];
    const peers = openChannels(worldOf(runtime), [flooded, other], 4).map((channel) => channel.baseUsername);
    const cooldowns = recordEvents(runtime.reporter, 'flood:cooldown');
    // The flooded account's cooldown left when each task started: read in the same turn as the start, so no machine is too slow for it.
    const coolingAtStart = new Map<string, number>();
    runtime.reporter.on('task:start', (event) => void coolingAtStart.set(event.taskId, runtime.flood.remaining(flooded)));
    let coolingAtSubmit = 0;
    let next: Promise<[unknown, unknown]> | undefined;
    // Both tasks are queued the moment the cooldown begins, while it is certainly still running.
    runtime.reporter.on('flood:cooldown', (event) => {
      if (event.account !== flooded || next !== undefined) return;
      coolingAtSubmit = runtime.flood.remaining(flooded);
      next = Promise.all([
        runtime.run({ account: flooded, task: 'channel-digest', taskId: 'flooded-again', args: { peers: peers.slice(0, 3), posts: 0 } }),
        runtime.run({ account: other, task: 'channel-digest', taskId: 'unaffected', args: { peers: peers.slice(0, 3), posts: 0 } }),
      ]);
    });

    await expect(digest(runtime, flooded, peers)).rejects.toMatchObject({ name: 'FloodWaitError', seconds: 5 });
    const cooldown = cooldowns.at(-1);
    const [retried, unaffected] = await (next as Promise<[unknown, unknown]>);

    expect(cooldowns.map((event) => event.account)).not.toContain(other);
    expect(cooldown).toMatchObject({ account: flooded, seconds: 5, cooldownMs: 250 });
    expect(retried).toMatchObject({ resolved: 3 });
    expect(unaffected).toMatchObject({ resolved: 3 });
    expect(coolingAtSubmit).toBeGreaterThan(0);
    // The other account's task started at once, during the cooldown; the flooded one only once it had passed.
    expect(coolingAtStart.get('unaffected')).toBeGreaterThan(0);
    expect(coolingAtStart.get('flooded-again')).toBe(0);
    expect([...coolingAtStart.keys()].filter((id) => id === 'unaffected' || id === 'flooded-again')).toEqual(['unaffected', 'flooded-again']);
  });
});

describe('the same tasks on bare GramJS', () => {
  let bare: FleetRuntime;
  let cached: FleetRuntime;
  const takeBare = accountPicker(() => bare);
  const takeCached = accountPicker(() => cached);

  beforeAll(async () => {
    const processScope = (config: FleetConfig): void => {
      config.cache.scope = 'process';
      config.telegram.simulated.accounts = 5;
    };
    [bare, cached] = await Promise.all([startRuntime(processScope, { entityCache: false }), startRuntime(processScope)]);
  });
  afterAll(() => Promise.all([bare?.shutdown(), cached?.shutdown()]));

  it("resolves '@name' again for every task, as GramJS does", async () => {
    const account = takeBare();
    const [channel] = openChannels(worldOf(bare), [account], 1) as [WorldChannel];

    await digest(bare, account, [`@${channel.baseUsername}`]);
    await digest(bare, account, [`@${channel.baseUsername}`]);

    expect(callsOf(bare, [account], RESOLVE)).toBe(2);
  });

  it('costs more Telegram calls per channel-digest task than the cached client in process scope', async () => {
    const bareAccounts = [takeBare(), takeBare(), takeBare()];
    const cachedAccounts = [takeCached(), takeCached(), takeCached()];
    const peers = openChannels(worldOf(bare), [...bareAccounts, ...cachedAccounts], 4).map((channel) => `@${channel.baseUsername}`);

    const bareResults = await digestRounds(bare, bareAccounts, peers, 3);
    const cachedResults = await digestRounds(cached, cachedAccounts, peers, 3);

    expect(bareResults).toEqual(cachedResults);
    // Each task reads 4 channels' posts either way; bare GramJS also resolves all 4 names every time.
    expect(callsOf(bare, bareAccounts) / bareResults.length).toBe(8);
    expect(callsOf(cached, cachedAccounts) / cachedResults.length).toBeCloseTo(16 / 3);
    expect(cached.simulator?.foreignHashRejections()).toBe(0);
  });

  it('runs the join-and-react and resolve-contacts tasks unchanged on either client', async () => {
    const [bareAccount, cachedAccount] = [takeBare(), takeCached()];
    const world = worldOf(bare);
    const channels = openChannels(world, [bareAccount, cachedAccount], 2).map((channel) => channel.baseUsername);
    const users = world.users.slice(0, 2).map((user) => `@${user.baseUsername}`);
    const run = (runtime: FleetRuntime, account: string) =>
      Promise.all([runtime.run({ account, task: 'join-and-react', args: { peers: channels } }), runtime.run({ account, task: 'resolve-contacts', args: { peers: users } })]);

    const [onBare, onCached] = await Promise.all([run(bare, bareAccount), run(cached, cachedAccount)]);

    expect(onCached).toEqual(onBare);
    expect(onCached[0]).toMatchObject({ lookups: 2, joined: channels, alreadyMember: [], failed: [] });
    expect(onCached[1]).toMatchObject({ lookups: 2, sent: users.map((peer, index) => ({ peer, messageId: index + 1 })), failed: [] });
  });
});

describe('single flight across worker threads', () => {
  it('coalesces one account’s simultaneous misses in two workers into one Telegram call', async () => {
    const account = '+15550000001';
    const world = createWorld({ seed: 42, privateChannelFraction: 0 });
    const server = new SimulatedTelegram(world, { latencyMs: 100 });
    const cache = new TelegramCache({ scope: 'process', maxSize: 100 });
    const services = { singleFlight: new SingleFlight(5000), flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0 }) };
    const peer = (world.channels[0] as WorldChannel).baseUsername;
    const endpoints = [0, 1].map((index) => new AccountEndpoint(cache, account, `task-${index}`, services));

    const workers = endpoints.map((endpoint) => {
      const cacheChannel = new MessageChannel();
      const telegram = new MessageChannel();
      new ServedTask(1, endpoint).attach(new ChannelServer(cacheChannel.port1));
      server.serve(account, telegram.port1);
      const worker = new Worker(fixturePath('cached-client-worker'));
      const setup: CachedClientWorkerSetup = {
        cachePort: cacheChannel.port2,
        binding: 1,
        telegramPort: telegram.port2,
        peer,
        ttls: { entityTtlMs: 60_000, usernameTtlMs: 60_000, negativeTtlMs: 60_000 },
      };
      worker.postMessage(setup, [cacheChannel.port2, telegram.port2]);
      return worker;
    });
    const exited = workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve)));
    const next = <T>(worker: Worker) => new Promise<T>((resolve, reject) => worker.once('message', resolve).once('error', reject));
    await Promise.all(workers.map((worker) => next<'ready'>(worker)));
    const answers = workers.map((worker) => next<CachedClientWorkerResult>(worker));
    for (const worker of workers) worker.postMessage('go');
    const results = await Promise.all(answers);
    await Promise.all(exited);
    server.close();

    expect(server.totalCalls(RESOLVE)).toBe(1);
    expect(results[0]).toEqual(results[1]);
    expect(results[0]?.accessHash).toBe(String(world.accessHash(account, world.channels[0]?.id as number)));
    expect(endpoints.map((endpoint) => endpoint.counters.misses).sort()).toEqual([0, 1]);
    expect(endpoints.map((endpoint) => endpoint.counters.hits).sort()).toEqual([0, 1]);
  });
});
