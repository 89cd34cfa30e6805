import { Api, errors, helpers, type TelegramClient } from 'telegram';
import { afterEach, describe, expect, it } from 'vitest';
import { TelegramCacheRegistry, resetCacheRegistry } from '../src/cache/registry.js';
import { defaultConfig } from '../src/config/config.js';
import { packRecord, recordOf, unpackCacheValue, type EntityRecord } from '../src/telegram/entity-record.js';
import { createSimulatedClient } from '../src/telegram/simulated/simulated-sender.js';
import { SimulatedTelegram, type SimulatedTelegramOptions } from '../src/telegram/simulated/simulated-telegram.js';
import { createWorld, type WorldChannel, type WorldOptions, type WorldUser } from '../src/telegram/simulated/world.js';
import { initStandaloneCache, type StandaloneCacheOptions } from '../src/runtime/standalone-cache.js';
import { memoryLogger } from './helpers/runtime.js';

const ALICE = '+15550000001';
const BOB = '+15550000002';
const STANDALONE = 'standalone';

const openClients: TelegramClient[] = [];

afterEach(async () => {
  await Promise.all(openClients.splice(0).map((client) => client.disconnect()));
});

/** A simulated Telegram with no latency, and cached clients over real GramJS clients connected to it. */
function setup(serverOptions: SimulatedTelegramOptions = {}, worldOptions: Partial<WorldOptions> = {}) {
  const world = createWorld({ seed: 42, privateChannelFraction: 0, ...worldOptions });
  const server = new SimulatedTelegram(world, { latencyMs: 0, now: () => 0, ...serverOptions });
  const cachedClient = async (account: string, options: StandaloneCacheOptions = {}) => {
    const raw = await createSimulatedClient(server.connect(account));
    openClients.push(raw);
    return initStandaloneCache(raw, options);
  };
  const calls = (account: string, method: string): number => server.calls()[account]?.[method] ?? 0;
  return { world, server, cachedClient, calls };
}

function megagroup(world: ReturnType<typeof createWorld>): WorldChannel {
  const found = world.channels.find((channel) => channel.kind === 'megagroup');
  if (found === undefined) throw new Error('the test world has no megagroup');
  return found;
}

describe('CachedTelegramClient', () => {
  it('resolves a username once, whatever its spelling, and rebuilds real Api objects from the cache', async () => {
    const { world, cachedClient, calls } = setup();
    const { client } = await cachedClient(ALICE);
    const channel = world.channels[0] as WorldChannel;

    const first = await client.getEntity(`@${channel.baseUsername}`);
    const again = await client.getEntity(channel.baseUsername.toUpperCase());
    const viaLink = await client.getEntity(`https://t.me/${channel.baseUsername}`);

    expect(calls(ALICE, 'contacts.ResolveUsername')).toBe(1);
    for (const entity of [first, again, viaLink]) {
      expect(entity).toBeInstanceOf(Api.Channel);
      expect((entity as Api.Channel).accessHash?.toString()).toBe(String(world.accessHash(ALICE, channel.id)));
    }
  });

  it('answers getInputEntity and getEntity by id from the record a username resolve stored', async () => {
    const { world, cachedClient, server } = setup();
    const { client } = await cachedClient(ALICE);
    const user = world.users[0];
    if (user === undefined) throw new Error('the test world has no users');
    await client.getEntity(user.baseUsername);

    const input = await client.getInputEntity(`@${user.baseUsername}`);
    const byId = await client.getEntity(user.id);

    expect(input).toBeInstanceOf(Api.InputPeerUser);
    expect((input as Api.InputPeerUser).accessHash.toString()).toBe(String(world.accessHash(ALICE, user.id)));
    expect(byId).toBeInstanceOf(Api.User);
    expect(server.totalCalls()).toBe(1);
  });

  it('stores the peers a response carries, so a message author needs no call of its own', async () => {
    const { world, cachedClient, calls } = setup();
    const { client } = await cachedClient(ALICE);
    const group = await client.getEntity(megagroup(world).baseUsername);

    const messages = await client.getMessages(group, { limit: 5 });
    const author = messages.find((message) => message.senderId !== undefined)?.senderId;
    if (author === undefined) throw new Error('the megagroup has no authored posts');
    const user = await client.getEntity(author);

    expect(user).toBeInstanceOf(Api.User);
    expect(calls(ALICE, 'users.GetUsers')).toBe(0);
  });

  it('resolves the peers of an invoked request through the cache', async () => {
    const { world, cachedClient, calls } = setup();
    const { client } = await cachedClient(ALICE);
    const channel = world.channels[1] as WorldChannel;
    await client.getEntity(channel.baseUsername);

    const full = await client.invoke(new Api.channels.GetFullChannel({ channel: `@${channel.baseUsername}` }));

    expect(full.fullChat.id.toString()).toBe(String(channel.id));
    expect(calls(ALICE, 'contacts.ResolveUsername')).toBe(1);
  });

  it('remembers an unoccupied username for the negative TTL and fails the way GramJS does', async () => {
    const { cachedClient, calls } = setup();
    const time = { now: 0 };
    const { client } = await cachedClient(ALICE, { negativeTtlMs: 60_000, clock: () => time.now });

    const failures = [];
    for (const at of [0, 59_000, 61_000]) {
      time.now = at;
      failures.push(await client.getEntity('@nobody_uses_this').catch((error: unknown) => error));
    }

    for (const failure of failures) {
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toBe('No user has "nobody_uses_this" as username');
    }
    expect(calls(ALICE, 'contacts.ResolveUsername')).toBe(2);
  });

  it('drops a peer whose cached hash Telegram rejects and repeats a read once on a fresh resolve', async () => {
    const { world, cachedClient, calls } = setup();
    const { client, cache } = await cachedClient(ALICE);
    const channel = megagroup(world);
    const real = (await client.getEntity(channel.baseUsername)) as Api.Channel;
    // What a cache would hold after the peer's hash changed under it.
    real.accessHash = helpers.returnBigInt(12345);
    const stale = recordOf(real, 0);
    if (stale === undefined) throw new Error('a full channel always has a record');
    cache.set(STANDALONE, `p:-100${channel.id}`, packRecord(stale));
    cache.setAlias(STANDALONE, `u:${channel.baseUsername}`, `p:-100${channel.id}`);

    const entity = await client.getEntity(`@${channel.baseUsername}`);
    const messages = await client.getMessages(entity, { limit: 2 });

    expect(messages).toHaveLength(2);
    expect(calls(ALICE, 'messages.GetHistory')).toBe(2);
    expect(calls(ALICE, 'contacts.ResolveUsername')).toBe(2);
    expect(cache.stats().invalidations).toBe(2);
    const refreshed = unpackCacheValue(cache.get(STANDALONE, `p:-100${channel.id}`)) as EntityRecord;
    expect(refreshed.accessHash).toBe(String(world.accessHash(ALICE, channel.id)));
  });

  it('drops a cached user who has since deleted their account, once Telegram says USER_DEACTIVATED', async () => {
    let now = 0;
    const { world, cachedClient } = setup({ now: () => now }, { deactivationFraction: 1, usernameChangeFraction: 0 });
    const leaving = world.users.find((user) => (world.deactivatedAt(user.id) ?? 0) > 0) as WorldUser;
    const { client, cache } = await cachedClient(ALICE);
    await client.getEntity(leaving.baseUsername);
    expect(cache.size).toBe(2);

    now = world.deactivatedAt(leaving.id) as number;
    const error = await client.sendMessage(leaving.baseUsername, { message: 'still there?' }).catch((reason: unknown) => reason);

    expect((error as errors.RPCError).errorMessage).toBe('USER_DEACTIVATED');
    expect(cache.size).toBe(0);
    expect(cache.stats().invalidations).toBe(2);
    await expect(client.getEntity(leaving.baseUsername)).rejects.toThrow(/No user has/);
  });

  it('lets a FloodWaitError through and releases the lookup it led', async () => {
    const { world, cachedClient } = setup({ resolveLimitPerMinute: 1 });
    const { client } = await cachedClient(ALICE);
    await client.getEntity((world.channels[0] as WorldChannel).baseUsername);
    const flooded = (world.channels[1] as WorldChannel).baseUsername;

    const error = await client.getEntity(flooded).catch((reason: unknown) => reason);

    expect(error).toBeInstanceOf(errors.FloodWaitError);
    expect((error as errors.FloodWaitError).seconds).toBe(5);
    // The flooded key's lease was settled: asking again waits out the 5 s cooldown and reaches
    // Telegram (and its wait) again, instead of hanging on a lease nobody holds (30 s, the test's limit).
    await expect(client.getEntity(flooded)).rejects.toBeInstanceOf(errors.FloodWaitError);
    await expect(client.getEntity(world.channels[0]?.baseUsername as string)).resolves.toBeInstanceOf(Api.Channel);
  });
});

describe('initStandaloneCache', () => {
  it('keeps its entries to itself, away from the registry and from other standalone caches', async () => {
    const { world, cachedClient, calls } = setup();
    const registry = new TelegramCacheRegistry({ ...defaultConfig().cache, scope: 'process' });
    resetCacheRegistry(registry);
    const { logger, lines } = memoryLogger();
    try {
      const alice = await cachedClient(ALICE, { logger });
      const bob = await cachedClient(BOB);
      const channel = world.channels[2] as WorldChannel;

      await alice.client.getEntity(channel.baseUsername);
      const seenByBob = (await bob.client.getEntity(channel.baseUsername)) as Api.Channel;

      expect(lines.map((line) => line.msg)).toContain('Initialized standalone cache (isolated from task/process scopes)');
      expect(registry.currentProcessCache).toBeNull();
      expect(calls(BOB, 'contacts.ResolveUsername')).toBe(1);
      expect(seenByBob.accessHash?.toString()).toBe(String(world.accessHash(BOB, channel.id)));
      expect(alice.cache.has(STANDALONE, `u:${channel.baseUsername}`)).toBe(true);
      expect(Object.keys(alice.cache.stats().accounts)).toEqual([STANDALONE]);
    } finally {
      resetCacheRegistry();
    }
  });
});
