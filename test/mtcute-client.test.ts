import { MemoryStorage, TelegramClient, type tl } from '@mtcute/node';
import { __tlReaderMapWithCompat, writeStringSession } from '@mtcute/core/utils.js';
import { StringSession } from 'telegram/sessions/index.js';
import { afterEach, expect, test } from 'vitest';
import { startLoopback, type LoopbackSetup } from './helpers/loopback.js';

/**
 * A second MTProto implementation, written by other people, against the loopback data centre:
 * what the server does right is not only what GramJS happens to accept.
 */

const ACCOUNT = '+15550000001';
/** The layer the data centre answers in: GramJS's schema, whose objects mtcute reads with its compatibility readers. */
const GRAMJS_LAYER = 198;

let setup: LoopbackSetup | undefined;
let client: TelegramClient | undefined;

afterEach(async () => {
  await client?.destroy();
  client = undefined;
  await setup?.close();
  setup = undefined;
});

/** The GramJS StringSession the data centre issued, as an mtcute string session: same auth key, same address. */
async function asMtcuteSession(issued: string, address: { host: string; port: number }): Promise<string> {
  const session = new StringSession(issued);
  await session.load();
  const authKey = session.getAuthKey()?.getKey();
  if (authKey === undefined) throw new Error('the issued session carries no auth key');
  const dc = { id: session.dcId, ipAddress: address.host, port: address.port };
  return writeStringSession({ version: 3, primaryDcs: { main: dc, media: dc }, self: null, authKey: new Uint8Array(authKey) });
}

test('mtcute connects with an issued session and resolves a username to the hash the world gave that account', async () => {
  setup = await startLoopback();
  const [issued] = await setup.dc.provision([ACCOUNT]);
  client = new TelegramClient({
    apiId: 1,
    apiHash: '0'.repeat(32),
    storage: new MemoryStorage(),
    logLevel: 0,
    overrideLayer: GRAMJS_LAYER,
    readerMap: __tlReaderMapWithCompat,
  });
  await client.importSession(await asMtcuteSession(issued!.session, setup.dc.address));
  await client.connect();

  const channel = setup.world.channels[0]!;
  const peer = (await client.resolvePeer(channel.baseUsername)) as tl.RawInputPeerChannel;

  expect(peer._).toBe('inputPeerChannel');
  expect(peer.channelId).toBe(channel.id);
  expect(BigInt(peer.accessHash.toString())).toBe(setup.world.accessHash(ACCOUNT, channel.id));
  expect(setup.simulator.calls()[ACCOUNT]?.['contacts.ResolveUsername']).toBe(1);
  expect(setup.dc.counters.duplicateAuthKeys).toBe(0);
});
