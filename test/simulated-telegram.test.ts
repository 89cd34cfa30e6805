import { createHook } from 'node:async_hooks';
import { MessageChannel, Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { Api, errors, helpers, type TelegramClient } from 'telegram';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulatedClient } from '../src/telegram/simulated/simulated-sender.js';
import { SimulatedTelegram, type SimulatedTelegramOptions } from '../src/telegram/simulated/simulated-telegram.js';
import { portTransport, TransportClosedError } from '../src/telegram/simulated/transport.js';

/**
 * Counts the timers created from now on that are still pending. A timer's destroy hook runs in
 * the turn after it fired or was cleared, so `live` lets two turns pass before it counts.
 */
function watchTimers(): { live(): Promise<number>; stop(): void } {
  const pending = new Set<number>();
  const hook = createHook({
    init: (id, type) => {
      if (type === 'Timeout') pending.add(id);
    },
    destroy: (id) => pending.delete(id),
  }).enable();
  return {
    live: async () => {
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
      return pending.size;
    },
    stop: () => hook.disable(),
  };
}
import { createWorld, isValidUsername, type WorldOptions } from '../src/telegram/simulated/world.js';

const ALICE = '+15550000001';
const BOB = '+15550000002';

const openClients: TelegramClient[] = [];

afterEach(async () => {
  await Promise.all(openClients.splice(0).map((client) => client.disconnect()));
});

/** A server on a hand-moved clock (simulated ms), with no latency unless asked. */
function setup(worldOptions: Partial<WorldOptions> = {}, serverOptions: SimulatedTelegramOptions = {}) {
  const world = createWorld({ seed: 42, ...worldOptions });
  const time = { now: 0 };
  const server = new SimulatedTelegram(world, { latencyMs: 0, now: () => time.now, ...serverOptions });
  const clientFor = async (account: string): Promise<TelegramClient> => {
    const client = await createSimulatedClient(server.connect(account));
    openClients.push(client);
    return client;
  };
  return { world, server, time, clientFor };
}

async function rpcErrorOf(promise: Promise<unknown>): Promise<errors.RPCError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(errors.RPCError);
  return error as errors.RPCError;
}

async function floodWaitOf(promise: Promise<unknown>): Promise<number> {
  const error = await rpcErrorOf(promise);
  expect(error).toBeInstanceOf(errors.FloodWaitError);
  return (error as errors.FloodWaitError).seconds;
}

function resolve(client: TelegramClient, username: string): Promise<Api.contacts.ResolvedPeer> {
  return client.invoke(new Api.contacts.ResolveUsername({ username }));
}

describe('simulated Telegram behind a real GramJS client', () => {
  it('counts one ResolveUsername per getEntity("@name"), because GramJS never answers it from its cache', async () => {
    const { world, server, clientFor } = setup();
    const client = await clientFor(ALICE);
    const channel = world.channels[0]!;

    await client.getEntity(`@${channel.baseUsername}`);
    await client.getEntity(`@${channel.baseUsername}`);

    expect(server.totalCalls('contacts.ResolveUsername')).toBe(2);
    expect(server.calls()[ALICE]?.['contacts.ResolveUsername']).toBe(2);
  });

  it('answers getInputEntity from the GramJS session after the first resolve', async () => {
    const { world, server, clientFor } = setup();
    const client = await clientFor(ALICE);
    const user = world.users[0]!;

    await client.getInputEntity(user.baseUsername);
    const input = await client.getInputEntity(user.baseUsername);

    expect(input).toBeInstanceOf(Api.InputPeerUser);
    expect(server.totalCalls('contacts.ResolveUsername')).toBe(1);
  });

  it('gives two accounts different access hashes for the same peer', async () => {
    const { world, clientFor } = setup();
    const channel = world.channels[1]!;

    const seenByAlice = (await (await clientFor(ALICE)).getEntity(channel.baseUsername)) as Api.Channel;
    const seenByBob = (await (await clientFor(BOB)).getEntity(channel.baseUsername)) as Api.Channel;

    expect(seenByAlice.id.toString()).toBe(seenByBob.id.toString());
    expect(seenByAlice.accessHash?.toString()).not.toBe(seenByBob.accessHash?.toString());
    expect(seenByAlice.accessHash?.toString()).toBe(String(world.accessHash(ALICE, channel.id)));
  });

  it('rejects a channel hash borrowed from another account with CHANNEL_INVALID and counts the leak', async () => {
    const { world, server, clientFor } = setup();
    const alice = await clientFor(ALICE);
    const bob = await clientFor(BOB);
    const channel = (await alice.getEntity(world.channels[2]!.baseUsername)) as Api.Channel;
    await bob.getMe();
    const borrowed = new Api.InputChannel({ channelId: channel.id, accessHash: channel.accessHash! });

    const error = await rpcErrorOf(bob.invoke(new Api.channels.GetChannels({ id: [borrowed] })));

    expect(error.errorMessage).toBe('CHANNEL_INVALID');
    expect(error.code).toBe(400);
    expect(server.foreignHashRejections()).toBe(1);
    expect(server.foreignHashRejections(BOB)).toBe(1);
  });

  it('rejects a user hash borrowed from another account with PEER_ID_INVALID and counts the leak', async () => {
    const { world, server, clientFor } = setup();
    const alice = await clientFor(ALICE);
    const bob = await clientFor(BOB);
    const user = (await alice.getEntity(world.users[3]!.baseUsername)) as Api.User;
    await bob.getMe();
    const borrowed = new Api.InputUser({ userId: user.id, accessHash: user.accessHash! });

    const error = await rpcErrorOf(bob.invoke(new Api.users.GetUsers({ id: [borrowed] })));

    expect(error.errorMessage).toBe('PEER_ID_INVALID');
    expect(server.foreignHashRejections(BOB)).toBe(1);
  });

  it('rejects a made-up hash without counting it as a leak', async () => {
    const { world, server, clientFor } = setup();
    const bob = await clientFor(BOB);
    const channel = world.channels[0]!;
    const guessed = new Api.InputChannel({ channelId: helpers.returnBigInt(channel.id), accessHash: helpers.returnBigInt(12345) });

    const error = await rpcErrorOf(bob.invoke(new Api.channels.GetChannels({ id: [guessed] })));

    expect(error.errorMessage).toBe('CHANNEL_INVALID');
    expect(server.foreignHashRejections()).toBe(0);
  });

  it('floods ResolveUsername past the per-minute limit with escalating waits, for that account only', async () => {
    const { world, server, time, clientFor } = setup({}, { resolveLimitPerMinute: 3 });
    const alice = await clientFor(ALICE);
    const bob = await clientFor(BOB);
    const name = world.users[0]!.baseUsername;
    for (let i = 0; i < 3; i++) await resolve(alice, name);

    expect(await floodWaitOf(resolve(alice, name))).toBe(5);
    time.now += 2_000;
    expect(await floodWaitOf(resolve(alice, name))).toBe(3);
    await resolve(bob, name);
    time.now += 3_000;
    expect(await floodWaitOf(resolve(alice, name))).toBe(10);
    time.now += 60_000;
    await resolve(alice, name);

    expect(server.floodWaits()).toEqual({ [ALICE]: { count: 3, seconds: 18 } });
  });

  it('lets getEntity surface the FloodWaitError instead of sleeping it away', async () => {
    const { world, clientFor } = setup({}, { resolveLimitPerMinute: 1 });
    const alice = await clientFor(ALICE);
    await alice.getEntity(world.users[0]!.baseUsername);

    expect(await floodWaitOf(alice.getEntity(world.users[1]!.baseUsername))).toBe(5);
  });

  it('retires a changed username: the old one is USERNAME_NOT_OCCUPIED, the new one resolves', async () => {
    const { world, time, clientFor } = setup({ usernameChangeFraction: 1, usernameChangeEveryHours: 1 });
    const alice = await clientFor(ALICE);
    const channel = world.channels[0]!;
    const oldName = world.usernameAt(channel, time.now);
    const before = (await alice.getEntity(oldName)) as Api.Channel;

    time.now = world.nextUsernameChangeAt(channel, time.now)!;
    const newName = world.usernameAt(channel, time.now);
    const error = await rpcErrorOf(resolve(alice, oldName));
    const after = (await alice.getEntity(newName)) as Api.Channel;

    expect(newName).not.toBe(oldName);
    expect(error.errorMessage).toBe('USERNAME_NOT_OCCUPIED');
    await expect(alice.getEntity(`@${oldName}`)).rejects.toThrow(/No user has/);
    expect(after.id.toString()).toBe(before.id.toString());
    expect(after.username).toBe(newName);
  });

  it('frees a deleted user’s username and answers USER_DEACTIVATED to requests that still name them', async () => {
    const { world, time, clientFor } = setup({ deactivationFraction: 1, usernameChangeFraction: 0 });
    const alice = await clientFor(ALICE);
    const leaving = world.users[0]!;
    const deletedAt = world.deactivatedAt(leaving.id)!;
    time.now = Math.max(0, deletedAt - 1);
    const before = (await alice.getEntity(leaving.baseUsername)) as Api.User;
    const input = new Api.InputPeerUser({ userId: before.id, accessHash: before.accessHash! });

    time.now = deletedAt;

    expect((await rpcErrorOf(resolve(alice, leaving.baseUsername))).errorMessage).toBe('USERNAME_NOT_OCCUPIED');
    expect((await rpcErrorOf(alice.invoke(new Api.messages.SendMessage({ peer: input, message: 'hello?', randomId: helpers.generateRandomLong() })))).errorMessage).toBe('USER_DEACTIVATED');
    expect(world.deactivatedAt(world.channels[0]!.id)).toBeUndefined();
  });

  it.each(['abcd', '1channel', 'bad-name', 'x'.repeat(33)])('rejects the malformed username %j with USERNAME_INVALID', async (username) => {
    const { clientFor } = setup();
    const alice = await clientFor(ALICE);

    expect((await rpcErrorOf(resolve(alice, username))).errorMessage).toBe('USERNAME_INVALID');
  });

  it('answers CHANNEL_PRIVATE for a channel private to the account, though its username resolves', async () => {
    const { world, clientFor } = setup({ privateChannelFraction: 1 });
    const alice = await clientFor(ALICE);
    const channel = (await alice.getEntity(world.channels[0]!.baseUsername)) as Api.Channel;

    for (const call of [alice.getMessages(channel, { limit: 2 }), alice.invoke(new Api.channels.JoinChannel({ channel })), alice.invoke(new Api.channels.GetChannels({ id: [channel] }))]) {
      expect((await rpcErrorOf(call)).errorMessage).toBe('CHANNEL_PRIVATE');
    }
  });

  it('serves the latest channel posts newest first, and a message sent after joining a megagroup', async () => {
    const { world, clientFor } = setup();
    const alice = await clientFor(ALICE);
    const group = world.channels.find((channel) => channel.kind === 'megagroup')!;
    const entity = (await alice.getEntity(group.baseUsername)) as Api.Channel;

    const latest = await alice.getMessages(entity, { limit: 2 });
    expect(Array.from(latest, (message) => message.id)).toEqual([group.posts.at(-1)!.id, group.posts.at(-2)!.id]);
    expect(latest[0]?.message).toBe(group.posts.at(-1)!.text);

    expect((await rpcErrorOf(alice.sendMessage(entity, { message: 'hi' }))).errorMessage).toBe('CHAT_WRITE_FORBIDDEN');
    await alice.invoke(new Api.channels.JoinChannel({ channel: entity }));
    const sent = await alice.sendMessage(entity, { message: 'hello group' });
    const [newest] = await alice.getMessages(entity, { limit: 1 });

    expect(newest?.id).toBe(sent.id);
    expect(newest?.message).toBe('hello group');
    expect(newest?.out).toBe(true);
  });

  it('answers users, full users, full channels, reactions and direct messages', async () => {
    const { world, clientFor } = setup();
    const alice = await clientFor(ALICE);
    const user = (await alice.getEntity(world.users[0]!.baseUsername)) as Api.User;
    const broadcast = world.channels.find((channel) => channel.kind === 'broadcast')!;
    const channel = (await alice.getEntity(broadcast.baseUsername)) as Api.Channel;

    const full = await alice.invoke(new Api.users.GetFullUser({ id: user }));
    const fullChannel = await alice.invoke(new Api.channels.GetFullChannel({ channel }));
    await alice.invoke(new Api.messages.SendReaction({ peer: channel, msgId: 1, reaction: [new Api.ReactionEmoji({ emoticon: '👍' })] }));
    const direct = await alice.sendMessage(user, { message: 'hello' });

    expect(full.users[0]?.id.toString()).toBe(user.id.toString());
    expect((fullChannel.fullChat as Api.ChannelFull).about).toBe(broadcast.about);
    expect(direct.message).toBe('hello');
    expect(Array.from(await alice.getMessages(user, { limit: 5 }), (message) => message.message)).toEqual(['hello']);
  });

  it('answers an unsupported method with an RPC error instead of hanging', async () => {
    const { clientFor } = setup();
    const alice = await clientFor(ALICE);

    const error = await rpcErrorOf(alice.invoke(new Api.help.GetConfig()));

    expect(error.errorMessage).toBe('METHOD_NOT_SUPPORTED_IN_SIMULATOR');
  });

  it('waits latencyMs of simulated time per call, scaled to real time by timeScale', async () => {
    const world = createWorld({ seed: 1 });
    const server = new SimulatedTelegram(world, { latencyMs: 40_000, timeScale: 0.001 });
    const client = await createSimulatedClient(server.connect(ALICE));
    openClients.push(client);

    const startedAt = performance.now();
    const simulatedStart = server.clock.now();
    await client.getMe();

    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(35);
    expect(performance.now() - startedAt).toBeLessThan(5_000);
    expect(server.clock.now() - simulatedStart).toBeGreaterThanOrEqual(35_000);
  });

  it.each(['disconnect', 'destroy'] as const)('leaves no timer behind after %s, and refuses calls afterwards', async (end) => {
    const { world, clientFor } = setup({}, { latencyMs: 1, timeScale: 1 });
    // Only this test's own timers count: one left pending by an earlier test may fire at any moment.
    const timers = watchTimers();
    try {
      const alice = await clientFor(ALICE);
      await alice.getEntity(world.users[0]!.baseUsername);

      await alice[end]();

      expect(await timers.live()).toBe(0);
      await expect(alice.getMe()).rejects.toThrow(/disconnected/);
    } finally {
      timers.stop();
    }
  });
});

describe('world', () => {
  it('is the same for the same seed and differs for another', () => {
    const first = createWorld({ seed: 9 });
    const again = createWorld({ seed: 9 });
    const other = createWorld({ seed: 10 });

    expect(again.users).toEqual(first.users);
    expect(again.channels).toEqual(first.channels);
    expect(again.accessHash(ALICE, first.channels[0]!.id)).toBe(first.accessHash(ALICE, first.channels[0]!.id));
    expect(again.account(ALICE)).toEqual(first.account(ALICE));
    expect(other.channels.map((channel) => channel.baseUsername)).not.toEqual(first.channels.map((channel) => channel.baseUsername));
  });

  it('keeps every username valid and resolvable back to its peer at any time', () => {
    const world = createWorld({ seed: 3, usernameChangeFraction: 0.5, usernameChangeEveryHours: 2 });
    const peers = [...world.users, ...world.channels];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: peers.length - 1 }), fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), (index, atMs) => {
        const peer = peers[index]!;
        const username = world.usernameAt(peer, atMs);
        return isValidUsername(username) && world.resolveUsername(username.toUpperCase(), atMs) === peer;
      }),
    );
  });

  it('gives every peer a distinct id, including account users', () => {
    const world = createWorld({ seed: 5 });
    const ids = [...world.users, ...world.channels].map((peer) => peer.id);
    ids.push(world.account(ALICE).self.id, world.account(BOB).self.id);

    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('transports', () => {
  it('carries a GramJS client across a MessageChannel, bound to the account the server chose', async () => {
    const { world, server } = setup();
    const { port1, port2 } = new MessageChannel();
    server.serve(BOB, port1);
    const client = await createSimulatedClient(portTransport(port2));
    openClients.push(client);

    const entity = (await client.getEntity(world.users[0]!.baseUsername)) as Api.User;

    expect(entity.accessHash?.toString()).toBe(String(world.accessHash(BOB, world.users[0]!.id)));
    expect(Object.keys(server.calls())).toEqual([BOB]);
  });

  it('rejects pending calls when the port closes', async () => {
    const world = createWorld({ seed: 42 });
    const server = new SimulatedTelegram(world, { latencyMs: 60_000, timeScale: 1 });
    const { port1, port2 } = new MessageChannel();
    server.serve(ALICE, port1);
    const transport = portTransport(port2);
    const request = new Api.users.GetUsers({ id: [new Api.InputUserSelf()] }).getBytes();

    const pending = transport.call(request);
    server.close();

    await expect(pending).rejects.toBeInstanceOf(TransportClosedError);
    await expect(transport.call(request)).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('serves a GramJS client running in a worker thread, which then exits on its own', async () => {
    const { world, server } = setup();
    const { port1, port2 } = new MessageChannel();
    server.serve(ALICE, port1);
    const user = world.users[4]!;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        port: port2,
        username: user.baseUsername,
        transportModule: new URL('../src/telegram/simulated/transport.ts', import.meta.url).href,
        senderModule: new URL('../src/telegram/simulated/simulated-sender.ts', import.meta.url).href,
      },
      transferList: [port2],
    });
    const messages: unknown[] = [];
    worker.on('message', (message: unknown) => messages.push(message));
    const exitCode = await new Promise<number>((resolveExit, rejectExit) => {
      worker.once('exit', resolveExit);
      worker.once('error', rejectExit);
    });

    expect(messages).toEqual([{ id: String(user.id), accessHash: String(world.accessHash(ALICE, user.id)) }]);
    expect(exitCode).toBe(0);
    expect(server.totalCalls('contacts.ResolveUsername')).toBe(1);
  });
});

/**
 * Runs in the worker: builds a client over the transferred port and resolves one username. On
 * Node 20 a worker thread ignores `--import tsx`, so the TypeScript loader is registered here.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { register } = await import('tsx/esm/api');
  register();
  const { portTransport } = await import(workerData.transportModule);
  const { createSimulatedClient } = await import(workerData.senderModule);
  const client = await createSimulatedClient(portTransport(workerData.port));
  const entity = await client.getEntity(workerData.username);
  parentPort.postMessage({ id: entity.id.toString(), accessHash: entity.accessHash.toString() });
  await client.disconnect();
})();
`;
