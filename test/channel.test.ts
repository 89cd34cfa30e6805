import { once } from 'node:events';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { createEndpoint, wrap } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { afterEach, describe, expect, it } from 'vitest';
import { TelegramCache } from '../src/cache/telegram-cache.js';
import { ChannelServer, ServedTask } from '../src/channel/channel-server.js';
import { ACCOUNT_CACHE_METHODS, HOT_METHODS } from '../src/channel/protocol.js';
import { CALL, CALL_STRIDE, REPLY } from '../src/channel/wire.js';
import { WorkerLink } from '../src/channel/worker-link.js';
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

describe('tasks’ cache channels over a worker’s link (real MessagePorts)', () => {
  const openPorts: MessagePort[] = [];

  afterEach(() => {
    for (const port of openPorts.splice(0)) port.close();
  });

  /** One worker's link: the main end's server and the worker end, with the raw ports for tests that speak the wire by hand. */
  function link() {
    const { port1, port2 } = new MessageChannel();
    openPorts.push(port1, port2);
    return { server: new ChannelServer(port1), worker: new WorkerLink(port2), mainPort: port1, workerPort: port2 };
  }

  let nextBinding = 0;

  /** Serves `account` for a task on `via` (a fresh link by default) and opens the task's end there. */
  function connect(state: ReturnType<typeof mainThread>, account: string, taskId = 't1', via = link()) {
    const endpoint = new AccountEndpoint(state.cache, account, taskId, state.services);
    const served = new ServedTask(++nextBinding, endpoint);
    served.attach(via.server);
    return { ...via, endpoint, served, client: via.worker.open(served.binding) };
  }

  it('reads and writes only the bound account’s entries, whatever keys the worker sends', async () => {
    const state = mainThread();
    state.cache.set('bob', '@shared', 'bob’s access hash');
    const { client, endpoint } = connect(state, 'alice');
    const bytes = new Uint8Array([0x1c, 0xb5, 0xc4, 0x15]);

    await client.set('@shared', 'alice’s access hash');
    await client.setMany([
      { key: 'user:1', value: bytes },
      { key: 'user:2', value: { id: 2 } },
    ]);

    expect(await client.getMany(['@shared', 'user:1', 'user:2', '@nobody'])).toEqual(['alice’s access hash', bytes, { id: 2 }, undefined]);
    expect(await client.get('user:1')).toBeInstanceOf(Uint8Array);
    expect(state.cache.get('bob', '@shared')).toBe('bob’s access hash');
    expect(await client.invalidate(['@shared', '@nobody'])).toBe(1);
    expect(state.cache.get('bob', '@shared')).toBe('bob’s access hash');
    expect(endpoint.counters).toEqual({ hits: 4, misses: 1, sets: 3, invalidations: 1, wasInvalidated: true, floodReported: false });
  });

  it('keeps two tasks of two accounts on one link apart, and refuses a binding from another worker or after its task ended', async () => {
    const state = mainThread();
    const shared = link();
    const alice = connect(state, 'alice', 't1', shared);
    const bob = connect(state, 'bob', 't2', shared);
    const elsewhere = link();
    const stray = elsewhere.worker.open(alice.served.binding);

    await Promise.all([alice.client.set('@me', 'alice'), bob.client.set('@me', 'bob')]);

    expect(state.cache.get('alice', '@me')).toBe('alice');
    expect(state.cache.get('bob', '@me')).toBe('bob');
    await expect(stray.get('@me')).rejects.toThrow('this task’s cache binding is not open on this worker');
    alice.served.release();
    const late = shared.worker.open(alice.served.binding);
    await expect(late.get('@me')).rejects.toThrow('this task’s cache binding is not open on this worker');
    await expect(bob.client.get('@me')).resolves.toBe('bob');
  });

  it('sends what the tasks of one worker ask in the same turn as one message, and answers it with one', async () => {
    const state = mainThread();
    const shared = link();
    const tasks = Array.from({ length: 10 }, (_, index) => connect(state, `account${index}`, `t${index}`, shared));
    const toMain: unknown[] = [];
    const toWorker: unknown[] = [];
    shared.mainPort.on('message', (data: unknown) => toMain.push(data));
    shared.workerPort.on('message', (data: unknown) => toWorker.push(data));

    const answers = await Promise.all(tasks.map(({ client }) => client.get('@nobody')));

    expect(answers).toEqual(Array(10).fill(undefined));
    expect(toMain).toHaveLength(1);
    expect(toWorker).toHaveLength(1);
  });

  it('rejects a write of a value that cannot cross threads, and goes on serving', async () => {
    const { client } = connect(mainThread(), 'alice');

    await expect(client.set('@alice', () => 'a function')).rejects.toMatchObject({ name: 'DataCloneError' });
    await client.set('@alice', 'hash');
    await expect(client.get('@alice')).resolves.toBe('hash');
    await expect(client.flush()).resolves.toBeUndefined();
  });

  it('fails only the call whose value cannot cross threads, not the others sent with it', async () => {
    const state = mainThread();
    const { client } = connect(state, 'alice');

    const [good, bad] = await Promise.allSettled([client.set('@good', 1), client.set('@bad', Symbol('not cloneable'))]);

    expect(good.status).toBe('fulfilled');
    expect(bad).toMatchObject({ status: 'rejected', reason: { name: 'DataCloneError' } });
    expect(state.cache.get('alice', '@good')).toBe(1);
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

  it('hands back a plain outcome, for Piscina’s reply, once its writes were acknowledged, then refuses further calls', async () => {
    const state = mainThread();
    const { client } = connect(state, 'alice');

    void client.set('@alice', 1);
    await expect(client.finish({ ok: true, value: { sent: 3 } })).resolves.toEqual({ ok: true, value: { sent: 3 } });

    expect(state.cache.get('alice', '@alice')).toBe(1);
    await expect(client.get('@alice')).rejects.toThrow('the task has ended: its cache channel is closed');
  });

  it('sends an outcome that is not plain data on the link, after its writes were acknowledged', async () => {
    const state = mainThread();
    const { client, served } = connect(state, 'alice');
    class Summary {
      constructor(readonly sent: number) {}
    }

    void client.set('@alice', 1);
    await expect(client.finish({ ok: true, value: new Summary(3) })).resolves.toBe('ended');

    await expect(served.ended).resolves.toEqual({ ok: true, value: { sent: 3 } });
    expect(state.cache.get('alice', '@alice')).toBe(1);
  });

  it('turns a result that cannot cross threads into the task’s own error', async () => {
    const { client, served } = connect(mainThread(), 'alice');

    await client.finish({ ok: true, value: { callback: () => 'not data' } });

    expect(await served.ended).toMatchObject({ ok: false, error: { name: 'TypeError', message: expect.stringContaining('must be plain data that can cross threads') } });
  });

  it('fires the task’s signal with the runtime’s reason when the runtime aborts the task', async () => {
    const { client, served } = connect(mainThread(), 'alice');
    const fired = once(client.signal, 'abort');

    served.abort('the caller aborted the task');
    await fired;

    expect(client.signal.reason).toMatchObject({ name: 'AbortError', message: 'the caller aborted the task' });
  });

  it('fires the task’s signal when the main end closes the link', async () => {
    const { client, server } = connect(mainThread(), 'alice');
    const fired = once(client.signal, 'abort');

    server.close();
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
    // A round trip on the follower's own link (one that counts nothing): its lookup has reached the main thread by now.
    await follower.client.invalidate([]);
    expect(answered).toBe(false);
    await leader.client.settle('@durov', [{ key: '@durov', value: { id: 1 } }]);

    await expect(waiting).resolves.toEqual({ hit: true, value: { id: 1 } });
    expect(follower.endpoint.counters).toMatchObject({ hits: 1, misses: 0 });
    expect(leader.endpoint.counters).toMatchObject({ hits: 0, misses: 1, sets: 1 });
  });

  it('answers a leader’s lookup with its resolve permit once the permit is due, in one round trip', async () => {
    let now = 0;
    const state = mainThread({ flood: new FloodControl({ timeScale: 1, resolvesPerMinute: 0, clock: () => now }) });
    state.services.flood.coolDown('alice', 0.05, 'contacts.ResolveUsername');
    const { client, mainPort } = connect(state, 'alice');
    const toMain: unknown[] = [];
    mainPort.on('message', (data: unknown) => toMain.push(data));

    let answered = false;
    const lead = client.lookup('@durov', true).finally(() => {
      answered = true;
    });
    await client.invalidate([]);
    expect(answered).toBe(false);
    now = 50;

    await expect(lead).resolves.toEqual({ hit: false, leader: true });
    // One message, carrying the lookup and the invalidation sent in the same turn: no separate permit call.
    expect(toMain).toHaveLength(1);
    expect((toMain[0] as unknown[]).filter((_, index) => index % CALL_STRIDE === 2)).toEqual([CALL.lookup, CALL.invalidate]);
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
    /** A raw comlink proxy on a task's comlink port, able to send whatever comlink can express. */
    function rawRemote() {
      const channel = connect(mainThread(), 'alice');
      const comlink = new MessageChannel();
      openPorts.push(comlink.port1, comlink.port2);
      channel.served.openCold(comlink.port1);
      // Typed as any on purpose: the point is to send what the protocol's types forbid.
      // biome-ignore lint/suspicious/noExplicitAny: see above
      return { ...channel, comlinkPort: comlink.port2, remote: wrap<any>(nodeEndpoint(comlink.port2)) };
    }

    /** Posts a comlink request by hand and resolves with the answer that echoes its id. */
    function request(port: MessagePort, message: Record<string, unknown>): Promise<unknown> {
      const id = `raw-${Math.random()}`;
      return new Promise((resolve) => {
        const onMessage = (data: Record<string, unknown>): void => {
          if (data.id !== id) return;
          port.off('message', onMessage);
          resolve(data);
        };
        port.on('message', onMessage);
        port.postMessage({ ...message, id });
      });
    }

    const refused = { type: 'HANDLER', name: 'throw', value: { isError: true, value: { name: 'TypeError', message: REFUSAL } } };

    it('refuses reading a property, the method itself included', async () => {
      const { remote } = rawRemote();
      // Awaiting a comlink proxy reads the property; Promise.resolve does that without calling the proxy as a function.
      const read = (property: unknown): Promise<unknown> => Promise.resolve(property);

      await expect(read(remote.get)).rejects.toThrow(REFUSAL);
      await expect(read(remote.get.name)).rejects.toThrow(REFUSAL);
      // biome-ignore lint/suspicious/noProto: the prototype is one of the paths the server must refuse
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
      const { remote, comlinkPort, endpoint } = rawRemote();

      const answer = await request(comlinkPort, { type: 'SET', path: ['get'], value: { type: 'RAW', value: 'overwritten' } });

      expect(answer).toMatchObject(refused);
      await expect(remote.get('@alice')).resolves.toBeUndefined();
      expect(endpoint.counters.misses).toBe(1);
    });

    it('answers a message that is not a comlink request with a refusal rather than silence', async () => {
      const { comlinkPort } = rawRemote();

      await expect(request(comlinkPort, { type: 'NOT_A_TYPE', path: ['get'] })).resolves.toMatchObject(refused);
    });

    it('answers a call of a code outside the protocol on the link with an error naming the hot calls', async () => {
      const { workerPort, served, client, endpoint } = connect(mainThread(), 'alice');
      const answer = once(workerPort, 'message');

      workerPort.postMessage([served.binding, 7777, 99, undefined, undefined, undefined]);

      expect(await answer).toEqual([[7777, REPLY.error, expect.objectContaining({ name: 'TypeError', message: `call code 99 is not a cache call; the hot calls are ${HOT_METHODS.join(', ')}` })]]);
      expect(CALL.end).toBeLessThan(99);
      await expect(client.get('@alice')).resolves.toBeUndefined();
      expect(endpoint.counters.misses).toBe(1);
    });

    it('passes an error thrown on the main thread back to the worker with its name and message', async () => {
      const { client } = connect(mainThread(), 'alice');

      await expect(client.set('@alice', 'hash', -5)).rejects.toMatchObject({ name: 'RangeError', message: expect.stringContaining('ttlMs must be 0') });
      await expect(client.get('@alice')).resolves.toBeUndefined();
    });
  });
});
