import { Api, helpers } from 'telegram';
import { ConnectionTCPAbridged, ConnectionTCPFull, ConnectionTCPObfuscated, type Connection } from 'telegram/network/connection/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from './helpers/fleet.js';
import { ConnectionTCPIntermediate, startLoopback, type LoopbackSetup } from './helpers/loopback.js';

const ALICE = '+15550000001';
const BOB = '+15550000002';

let setup: LoopbackSetup | undefined;

afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

describe('the loopback data centre, to a GramJS client over TCP', () => {
  const transports: [string, typeof Connection][] = [
    ['full', ConnectionTCPFull],
    ['abridged', ConnectionTCPAbridged],
    ['intermediate', ConnectionTCPIntermediate],
    ['obfuscated abridged', ConnectionTCPObfuscated],
  ];
  for (const [name, transport] of transports) {
    it(`resolves a username over TCP ${name} with the hash the simulated world issued that account`, async () => {
      setup = await startLoopback();
      const client = await setup.client(ALICE, { transport });
      const channel = setup.world.channels[0]!;
      const entity = (await client.getEntity(`@${channel.baseUsername}`)) as Api.Channel;
      expect(entity).toBeInstanceOf(Api.Channel);
      expect(entity.username).toBe(channel.baseUsername);
      expect(BigInt(entity.accessHash!.toString())).toBe(setup.world.accessHash(ALICE, channel.id));
      expect(setup.simulator.calls()[ALICE]).toEqual({ 'contacts.ResolveUsername': 1 });
    });
  }

  it('tells a client with no salt the right one (bad_server_salt) and opens its session (new_session_created)', async () => {
    setup = await startLoopback();
    const client = await setup.client(ALICE);
    await client.getMe();
    expect(setup.dc.counters.badSalts).toBe(1);
    expect(setup.dc.counters.newSessions).toBe(1);
    expect(setup.dc.counters.duplicateAuthKeys).toBe(0);
  });

  it('answers ping with pong', async () => {
    setup = await startLoopback();
    const client = await setup.client(ALICE);
    const pong = (await client.invoke(new Api.Ping({ pingId: helpers.returnBigInt(424242) }))) as Api.Pong;
    expect(pong.pingId.toString()).toBe('424242');
  });

  it('closes a connection whose ping_delay_disconnect ran out with no new ping, as Telegram does, and counts it', async () => {
    setup = await startLoopback();
    const client = await setup.client(ALICE);
    await client.getMe();
    expect(setup.dc.openConnectionsOf(ALICE)).toBe(1);
    await client._sender!.send(new Api.PingDelayDisconnect({ pingId: helpers.returnBigInt(7), disconnectDelay: 1 }));
    await until(
      async () => setup!.dc.counters.pingDisconnects,
      (closed) => closed === 1,
    );
    // The client comes back on a new connection, which the old one's end does not count against.
    await expect(client.getMe()).resolves.toBeInstanceOf(Api.User);
    expect(setup.dc.counters.doubleConnections).toBe(0);
  });

  it('gzips a large result', async () => {
    setup = await startLoopback({ world: { postsPerChannel: 60 } });
    const client = await setup.client(ALICE);
    const channel = setup.world.channels[0]!;
    const input = (await client.getInputEntity(`@${channel.baseUsername}`)) as Api.InputPeerChannel;
    const history = (await client.invoke(new Api.messages.GetHistory({ peer: input, limit: 100 }))) as Api.messages.ChannelMessages;
    expect(history.messages.map((message) => message.id)).toEqual(channel.posts.map((post) => post.id).reverse());
    expect(setup.dc.counters.gzippedResults).toBe(1);
    const self = new Api.InputPeerSelf();
    const text = 'a message long enough to need a long TL string header '.repeat(40);
    await client.invoke(new Api.messages.SendMessage({ peer: self, message: text, randomId: helpers.generateRandomLong() }));
    const saved = (await client.invoke(new Api.messages.GetHistory({ peer: self, limit: 1 }))) as Api.messages.Messages;
    expect((saved.messages[0] as Api.Message).message).toBe(text);
  });

  it("refuses another account's access hash, as the simulated world does", async () => {
    setup = await startLoopback();
    const alice = await setup.client(ALICE);
    const bob = await setup.client(BOB);
    const channel = setup.world.channels[0]!;
    const aliceInput = (await alice.getInputEntity(`@${channel.baseUsername}`)) as Api.InputPeerChannel;
    const asBob = new Api.InputChannel({ channelId: aliceInput.channelId, accessHash: aliceInput.accessHash });
    await expect(bob.invoke(new Api.channels.GetChannels({ id: [asBob] }))).rejects.toMatchObject({ errorMessage: 'CHANNEL_INVALID' });
    expect(setup.simulator.foreignHashRejections(BOB)).toBe(1);
  });
});
