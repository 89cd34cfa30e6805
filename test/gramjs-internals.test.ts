/**
 * tgfleet reaches below GramJS's public API in a few places: the MTProto sender (the simulated
 * seam), the helpers of telegram/client/users.js and the client methods a request's `resolve`
 * calls (the cache's resolver stands in for the client there), the rebuilt request, and the TCP
 * connection's socket. package.json pins GramJS to the version these were checked against; each
 * test here names the internal it checks and the tgfleet file that relies on it, so that a GramJS
 * upgrade that moves one fails here first, saying what moved.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Api, errors, Logger, TelegramClient, utils } from 'telegram';
import { PromisedNetSockets } from 'telegram/extensions/index.js';
import { LogLevel } from 'telegram/extensions/Logger.js';
import { ConnectionTCPFull } from 'telegram/network/connection/index.js';
import { StringSession } from 'telegram/sessions/index.js';
import { describe, expect, test } from 'vitest';
import { installSimulatedSender } from '../src/telegram/simulated/simulated-sender.js';
import { inProcessTransport, type TransportReply } from '../src/telegram/simulated/transport.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const gramjsDir = join(require.resolve('telegram'), '..');
const installed = (require('telegram/package.json') as { version: string }).version;

function silentClient(): TelegramClient {
  return new TelegramClient(new StringSession(''), 1, 'internals', { baseLogger: new Logger(LogLevel.NONE), floodSleepThreshold: 0, connectionRetries: 0 });
}

describe('the GramJS version', () => {
  test('package.json pins GramJS exactly, and the lockfile and node_modules hold that version', () => {
    const pinned = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.telegram;
    const locked = (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }).packages['node_modules/telegram']?.version;
    expect(pinned, 'package.json must pin telegram to one exact version: the code uses internals of that version').toMatch(/^\d+\.\d+\.\d+$/);
    expect(locked, `package-lock.json locks telegram ${locked}, package.json pins ${pinned}: run npm install`).toBe(pinned);
    expect(installed, `node_modules holds telegram ${installed}, package.json pins ${pinned}: run npm ci`).toBe(pinned);
  });
});

describe('internals the code imports (every deep import from telegram/… in src/)', () => {
  /** Every value (non-type) name src/ imports from a GramJS subpath, with the files that import it. */
  function deepImports(): Map<string, Map<string, string[]>> {
    const found = new Map<string, Map<string, string[]>>();
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : []));
    for (const file of walk(join(root, 'src'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+'(telegram\/[^']+)'/g)) {
        if (match[1] !== undefined) continue;
        const names = (match[2] as string)
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name !== '' && !name.startsWith('type '));
        const byName = found.get(match[3] as string) ?? new Map<string, string[]>();
        for (const name of names) byName.set(name, [...(byName.get(name) ?? []), file.slice(root.length)]);
        found.set(match[3] as string, byName);
      }
    }
    return found;
  }

  test('each still exports what tgfleet imports from it', async () => {
    const imports = deepImports();
    expect(imports.size, 'src/ should import from GramJS subpaths (telegram/client/users.js …); did the scan break?').toBeGreaterThan(3);
    for (const [specifier, names] of imports) {
      const module = (await import(specifier)) as Record<string, unknown>;
      for (const [name, files] of names) expect(module[name], `${specifier} no longer exports ${name} (used by ${files.join(', ')})`).toBeDefined();
    }
  });
});

describe("the client methods a request's resolve() calls (src/telegram/cached-client.ts resolver)", () => {
  const PROVIDED = ['_getInputDialog', '_getInputNotify', 'getInputEntity', 'getPeerId'];

  test('the generated requests call only the client methods the resolver provides', () => {
    const source = readFileSync(join(gramjsDir, 'tl', 'api.js'), 'utf8');
    const called = [...new Set([...source.matchAll(/\bclient\.([A-Za-z_$][\w$]*)/g)].map((match) => match[1] as string))].sort();
    expect(
      called,
      `GramJS's tl/api.js now calls client.${called.filter((name) => !PROVIDED.includes(name)).join(', client.')} while resolving a request: CachedTelegramClient's resolver must provide it`,
    ).toEqual(PROVIDED);
  });

  test("a request's resolve() turns a username into an input peer through the client it is given", async () => {
    const asked: unknown[] = [];
    const alice = new Api.InputPeerUser({ userId: BigInt(42) as never, accessHash: BigInt(7) as never });
    const resolver = {
      getInputEntity: async (peer: unknown) => {
        asked.push(peer);
        return alice;
      },
    };
    const request = new Api.messages.GetHistory({ peer: 'alice', limit: 1 });
    await request.resolve(resolver as never, utils);
    expect(asked, 'request.resolve(client, utils) no longer asks client.getInputEntity for the peer').toEqual(['alice']);
    expect(request.peer, 'request.resolve no longer replaces the peer argument with the input peer').toBe(alice);
  });

  test("users.js getPeerId(client, peer) resolves a username through the client it is passed, so the resolver's cache answers it", async () => {
    const { getPeerId } = await import('telegram/client/users.js');
    const asked: unknown[] = [];
    const channel = new Api.InputPeerChannel({ channelId: BigInt(5) as never, accessHash: BigInt(1) as never });
    const resolver = {
      getInputEntity: async (peer: unknown) => {
        asked.push(peer);
        return channel;
      },
    };
    expect(await getPeerId(resolver as never, 'somechannel', true), 'getPeerId no longer marks a channel id the way utils.getPeerId does').toBe(utils.getPeerId(channel, true));
    expect(asked[0], 'getPeerId(client, username) no longer calls client.getInputEntity with the username').toBe('somechannel');
  });

  test('a request rebuilt from its originalArgs serializes like the original (the refresh after a stale access hash)', () => {
    const request = new Api.messages.GetHistory({ peer: new Api.InputPeerSelf(), limit: 3, offsetId: 9 });
    expect(request.originalArgs, 'requests no longer keep the arguments they were built from in originalArgs').toBeDefined();
    const copy = new (request.constructor as new (args: unknown) => Api.messages.GetHistory)(request.originalArgs);
    expect(Buffer.compare(copy.getBytes(), request.getBytes()), 'a request built from originalArgs no longer equals the original').toBe(0);
  });
});

describe('the MTProto sender seam (src/telegram/simulated/simulated-sender.ts)', () => {
  /** A client whose connection is `answer`, recording what reached it. */
  async function clientAnswering(answer: (request: Uint8Array) => TransportReply): Promise<{ client: TelegramClient; sent: Uint8Array[] }> {
    const sent: Uint8Array[] = [];
    const client = silentClient();
    installSimulatedSender(
      client,
      inProcessTransport(async (request) => {
        sent.push(request);
        return answer(request);
      }),
    );
    await client.connect();
    return { client, sent };
  }

  test("invoke() hands the sender a state with the request's bytes, and reads the result with the request's readResult()", async () => {
    const reply = new Api.NearestDc({ country: 'NL', thisDc: 2, nearestDc: 4 });
    const { client, sent } = await clientAnswering(() => ({ ok: true, result: reply.getBytes() }));
    const request = new Api.help.GetNearestDc();
    const result = await client.invoke(request);
    expect(
      sent.map((bytes) => Buffer.from(bytes).toString('hex')),
      'the sender no longer gets the serialized request as state.data through addStateToQueue(state)',
    ).toEqual([request.getBytes().toString('hex')]);
    expect(result, 'the result no longer comes from state.resolve(request.readResult(reader))').toBeInstanceOf(Api.NearestDc);
    expect(result.nearestDc).toBe(4);
    expect(client.connected, 'client.connected no longer asks the sender isConnected()').toBe(true);
    await client.disconnect();
    expect(client.disconnected, 'client.disconnected no longer reads the sender _disconnected').toBe(true);
    await expect(client.invoke(new Api.help.GetNearestDc()), 'invoke after disconnect no longer checks the sender userDisconnected').rejects.toThrow(/disconnected/);
  });

  test('an RPC error the sender rejects with reaches the caller as the GramJS error class, with its seconds', async () => {
    const { client } = await clientAnswering(() => ({ ok: false, error: { code: 420, message: 'FLOOD_WAIT_5' } }));
    const failure = await client.invoke(new Api.help.GetNearestDc()).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure, 'errors.RPCMessageToError no longer maps FLOOD_WAIT_5 to FloodWaitError, or invoke retries it below floodSleepThreshold 0').toBeInstanceOf(errors.FloodWaitError);
    expect((failure as errors.FloodWaitError).seconds).toBe(5);
    await client.disconnect();
  });
});

describe('the TCP connection (src/telegram/live/dc-connection.ts)', () => {
  test('ConnectionTCPFull takes ip and port in its params and keeps the node socket at socket.client, where Nagle is turned off', async () => {
    const accepted: Socket[] = [];
    const server = createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const connection = new ConnectionTCPFull({
      ip: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      dcId: 2,
      loggers: new Logger(LogLevel.NONE),
      socket: PromisedNetSockets,
      testServers: false,
    } as never);
    try {
      await connection.connect();
      expect((connection as unknown as { socket: { client?: unknown } }).socket.client, 'ConnectionTCPFull no longer keeps its net.Socket at socket.client').toBeInstanceOf(Socket);
    } finally {
      await connection.disconnect();
      for (const socket of accepted) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
