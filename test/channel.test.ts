import { once } from 'node:events';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { createEndpoint, wrap } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { afterEach, describe, expect, it } from 'vitest';
import { TelegramCache } from '../src/cache/telegram-cache.js';
import { ChannelClient } from '../src/channel/channel-client.js';
import { serveChannel, type ServedChannel } from '../src/channel/channel-server.js';
import { ACCOUNT_CACHE_METHODS } from '../src/channel/protocol.js';
import { AccountEndpoint, type AccountEndpointServices } from '../src/runtime/account-endpoint.js';
import { FloodControl } from '../src/runtime/flood-control.js';
import { SingleFlight } from '../src/runtime/single-flight.js';

const REFUSAL = `only these methods may be called on a cache channel: ${ACCOUNT_CACHE_METHODS.join(', ')}`;

/** The main thread's shared state, as a runtime holds it: one cache and one set of services for all channels. */
function mainThread(services: Partial<AccountEndpointServices> = {}) {
  return {
    cache: new TelegramCache({ scope: 'process', maxSize: 1000 }),
    services: { singleFlight: new SingleFlight(30_000), flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0 }), ...services },
  };
}

describe('a task’s cache channel over a real MessageChannel', () => {
  const openPorts: MessagePort[] = [];

  afterEach(() => {
    for (const port of openPorts.splice(0)) port.close();
  });

  /** Serves `account` on a new channel; the other end is left raw for the caller to use. */
  function serve(state: ReturnType<typeof mainThread>, account: string, taskId = 't1'): { endpoint: AccountEndpoint; served: ServedChannel; mainPort: MessagePort; workerPort: MessagePort } {
    const { port1, port2 } = new MessageChannel();
    openPorts.push(port1, port2);
    const endpoint = new AccountEndpoint(state.cache, account, taskId, state.services);
    return { endpoint, served: serveChannel(port1, endpoint), mainPort: port1, workerPort: port2 };
  }

  function connect(state: ReturnType<typeof mainThread>, account: string, taskId?: string) {
    const channel = serve(state, account, taskId);
    return { ...channel, client: new ChannelClient(channel.workerPort) };
  }

  it('reads and writes only the bound account’s entries, whatever keys the worker sends', async () => {
    const state = mainThread();
    state.cache.set('bob', '@shared', 'bob’s access hash');
    const { client, endpoint } = connect(state, 'alice');
    const bytes = new Uint8Array([0x1c, 0xb5, 0xc4, 0x15]);

    await client.set('@shared', 'alice’s access hash');
    await client.setMany([{ key: 'user:1', value: bytes }, { key: 'user:2', value: { id: 2 } }]);

    expect(await client.getMany(['@shared', 'user:1', 'user:2', '@nobody'])).toEqual(['alice’s access hash', bytes, { id: 2 }, undefined]);
    expect(await client.get('user:1')).toBeInstanceOf(Uint8Array);
    expect(state.cache.get('bob', '@shared')).toBe('bob’s access hash');
    expect(await client.invalidate(['@shared', '@nobody'])).toBe(1);
    expect(state.cache.get('bob', '@shared')).toBe('bob’s access hash');
    expect(endpoint.counters).toEqual({ hits: 4, misses: 1, sets: 3, invalidations: 1, wasInvalidated: true, floodReported: false });
  });

  it('rejects a write of a value that cannot cross threads, and goes on serving', async () => {
    const { client } = connect(mainThread(), 'alice');

    await expect(client.set('@alice', () => 'a function')).rejects.toMatchObject({ name: 'DataCloneError' });
    await client.set('@alice', 'hash');
    await expect(client.get('@alice')).resolves.toBe('hash');
    await expect(client.flush()).resolves.toBeUndefined();
  });

  it('has every write acknowledged once flush resolves, awaited by the task or not', async () => {
    const state = mainThread();
    const { client } = connect(state, 'alice');

    for (let index = 0; index < 100; index++) void client.set(`peer:${index}`, index);
    void client.setMany([{ key: 'last', value: 'written' }]);
    await client.flush();

    expect(state.cache.accountSize('alice')).toBe(101);
    expect(state.cache.get('alice', 'last')).toBe('written');
  });

  it('flushes on close, then closes both ends', async () => {
    const state = mainThread();
    const { client, mainPort } = connect(state, 'alice');
    const mainClosed = once(mainPort, 'close');

    void client.set('@alice', 1);
    await client.close();
    await mainClosed;

    expect(state.cache.get('alice', '@alice')).toBe(1);
    await expect(client.get('@alice')).rejects.toThrow('the task has ended: its cache channel is closed');
  });

  it('fires the task’s signal with the runtime’s reason when the runtime aborts the task', async () => {
    const { client, served } = connect(mainThread(), 'alice');
    const fired = once(client.signal, 'abort');

    served.abort('the caller aborted the task');
    await fired;

    expect(client.signal.reason).toMatchObject({ name: 'AbortError', message: 'the caller aborted the task' });
  });

  it('fires the task’s signal when the main end closes the channel', async () => {
    const { client, served } = connect(mainThread(), 'alice');
    const fired = once(client.signal, 'abort');

    served.close();
    await fired;

    expect(client.signal.reason).toMatchObject({ name: 'AbortError', message: 'the task channel closed' });
  });

  it('lets one task fetch a missed key while another task of the account waits for its result', async () => {
    const state = mainThread();
    const leader = connect(state, 'alice', 't1');
    const follower = connect(state, 'alice', 't2');

    await expect(leader.client.lookup('@durov')).resolves.toEqual({ hit: false, leader: true });
    let answered = false;
    const waiting = follower.client.lookup('@durov').finally(() => {
      answered = true;
    });
    // A round trip on the follower's own channel (one that counts nothing): its lookup has reached the main thread by now.
    await follower.client.invalidate([]);
    expect(answered).toBe(false);
    await leader.client.settle('@durov', [{ key: '@durov', value: { id: 1 } }]);

    await expect(waiting).resolves.toEqual({ hit: true, value: { id: 1 } });
    expect(follower.endpoint.counters).toMatchObject({ hits: 1, misses: 0 });
    expect(leader.endpoint.counters).toMatchObject({ hits: 0, misses: 1, sets: 1 });
  });

  it('cools down the bound account when the worker reports a FLOOD_WAIT', async () => {
    const state = mainThread();
    const { client } = connect(state, 'alice');

    await client.reportFloodWait(30, 'contacts.ResolveUsername');

    expect(state.services.flood.remaining('alice')).toBeGreaterThan(0);
    expect(state.services.flood.remaining('bob')).toBe(0);
  });

  it('hands over a connection port to the simulated Telegram, and refuses one in live mode', async () => {
    const telegram = new MessageChannel();
    openPorts.push(telegram.port1, telegram.port2);
    const simulated = connect(mainThread({ openTelegramConnection: () => telegram.port2 }), 'alice');
    const live = connect(mainThread(), 'alice');

    const port = await simulated.client.openTelegramConnection();
    openPorts.push(port);
    const received = once(port, 'message');
    telegram.port1.postMessage('hello');

    expect(await received).toEqual(['hello']);
    await expect(live.client.openTelegramConnection()).rejects.toThrow(/talks to live Telegram/);
  });

  describe('its guard', () => {
    /** A raw comlink proxy on the worker end, able to send whatever comlink can express. */
    function rawRemote() {
      const channel = serve(mainThread(), 'alice');
      // Typed as any on purpose: the point is to send what the protocol's types forbid.
      return { ...channel, remote: wrap<any>(nodeEndpoint(channel.workerPort)) };
    }

    /** Posts a message by hand and resolves with the answer whose `field` echoes the one sent. */
    function exchange(port: MessagePort, message: Record<string, unknown>, field: 'id' | 'hot', value: string | number): Promise<unknown> {
      return new Promise((resolve) => {
        const onMessage = (data: Record<string, unknown>): void => {
          if (data[field] !== value) return;
          port.off('message', onMessage);
          resolve(data);
        };
        port.on('message', onMessage);
        port.postMessage({ ...message, [field]: value });
      });
    }

    /** A comlink request written by hand. */
    const request = (port: MessagePort, message: Record<string, unknown>): Promise<unknown> => exchange(port, message, 'id', `raw-${Math.random()}`);

    const refused = { type: 'HANDLER', name: 'throw', value: { isError: true, value: { name: 'TypeError', message: REFUSAL } } };

    it('refuses reading a property, the method itself included', async () => {
      const { remote } = rawRemote();
      // Awaiting a comlink proxy reads the property; Promise.resolve does that without calling the proxy as a function.
      const read = (property: unknown): Promise<unknown> => Promise.resolve(property);

      await expect(read(remote.get)).rejects.toThrow(REFUSAL);
      await expect(read(remote.get.name)).rejects.toThrow(REFUSAL);
      await expect(read(remote.__proto__)).rejects.toThrow(REFUSAL);
    });

    it('refuses calls on nested paths and of names outside the protocol', async () => {
      const { remote } = rawRemote();

      await expect(remote.get.call(null, 'key')).rejects.toThrow(REFUSAL);
      await expect(remote.constructor('return process')).rejects.toThrow(REFUSAL);
      await expect(remote.toString()).rejects.toThrow(REFUSAL);
      await expect(remote.refused()).rejects.toThrow(REFUSAL);
    });

    it('refuses construction and new endpoints, which would expose the view unguarded', async () => {
      const { remote } = rawRemote();

      await expect(new remote.getMany()).rejects.toThrow(REFUSAL);
      await expect(remote[createEndpoint]()).rejects.toThrow(REFUSAL);
    });

    it('refuses setting a property, and the method stays intact', async () => {
      const { remote, workerPort, endpoint } = rawRemote();

      const answer = await request(workerPort, { type: 'SET', path: ['get'], value: { type: 'RAW', value: 'overwritten' } });

      expect(answer).toMatchObject(refused);
      await expect(remote.get('@alice')).resolves.toBeUndefined();
      expect(endpoint.counters.misses).toBe(1);
    });

    it('answers a message that is not a comlink request with a refusal rather than silence', async () => {
      const { workerPort } = rawRemote();

      await expect(request(workerPort, { type: 'NOT_A_TYPE', path: ['get'] })).resolves.toMatchObject(refused);
    });

    /** A hot call written by hand. */
    const hotCall = (port: MessagePort, method: string, args: unknown[]): Promise<unknown> => exchange(port, { method, args }, 'hot', Math.floor(Math.random() * 1e9));

    it('answers a hot call of a method outside the hot path with an error naming the hot calls', async () => {
      const { workerPort, endpoint } = rawRemote();

      const answer = await hotCall(workerPort, 'openTelegramConnection', []);

      expect(answer).toMatchObject({ ok: false, error: { name: 'TypeError', message: 'openTelegramConnection is not a hot cache call; hot calls are get, getMany, set, setMany, invalidate, lookup, settle, acquireResolvePermit' } });
      expect(await hotCall(workerPort, 'get', ['@alice'])).toMatchObject({ ok: true, value: undefined });
      expect(endpoint.counters.misses).toBe(1);
    });

    it('passes an error thrown on the main thread back to the worker with its name and message', async () => {
      const { workerPort } = rawRemote();
      const client = new ChannelClient(workerPort);

      await expect(client.set('@alice', 'hash', -5)).rejects.toMatchObject({ name: 'RangeError', message: expect.stringContaining('ttlMs must be 0') });
      await expect(client.get('@alice')).resolves.toBeUndefined();
    });
  });
});
