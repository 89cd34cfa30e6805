import type { MessagePort } from 'node:worker_threads';
import { wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { isAbortNotice, isHotReply, type AccountCacheApi, type CacheValue, type CacheWrite, type HotCall, type HotMethod, type LookupResult } from './protocol.js';
import { RemoteTaskError } from './remote-error.js';

/** The worker's view of a task's cache channel: every call returns a promise. */
export type AccountCache = {
  [K in keyof AccountCacheApi]: (...args: Parameters<AccountCacheApi[K]>) => Promise<Awaited<ReturnType<AccountCacheApi[K]>>>;
};

/**
 * The worker end of a task's channel. It keeps track of every call in flight so the task's result
 * is returned only after all its writes were acknowledged, and it turns the main thread's abort
 * notice into the task's abort signal.
 */
export class ChannelClient implements AccountCache {
  /** The comlink side, made on first use: most tasks only ever make hot calls. */
  private comlinkRemote: Remote<AccountCacheApi> | null = null;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly controller = new AbortController();
  private readonly hotCalls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextHotCall = 0;
  private closed = false;

  constructor(private readonly port: MessagePort) {
    port.on('message', (data: unknown) => {
      if (isHotReply(data)) {
        const call = this.hotCalls.get(data.hot);
        this.hotCalls.delete(data.hot);
        if (data.ok) call?.resolve(data.value);
        else call?.reject(new RemoteTaskError(data.error));
      } else if (isAbortNotice(data)) {
        this.controller.abort(new DOMException(data.reason, 'AbortError'));
      }
    });
    port.on('close', () => {
      for (const call of this.hotCalls.values()) call.reject(new Error('the task channel closed before the main thread answered'));
      this.hotCalls.clear();
      // Closed from the main end (the task was cut off), not by this task finishing.
      if (!this.closed && !this.controller.signal.aborted) this.controller.abort(new DOMException('the task channel closed', 'AbortError'));
      this.closed = true;
    });
  }

  /** Fires when the runtime cancels the task or its channel goes away. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get(key: string): Promise<CacheValue | undefined> {
    return this.hot('get', [key]);
  }

  getMany(keys: string[]): Promise<(CacheValue | undefined)[]> {
    return this.hot('getMany', [keys]);
  }

  set(key: string, value: CacheValue, ttlMs?: number): Promise<void> {
    return this.hot('set', ttlMs === undefined ? [key, value] : [key, value, ttlMs]);
  }

  setMany(entries: CacheWrite[]): Promise<void> {
    return this.hot('setMany', [entries]);
  }

  invalidate(keys: string[]): Promise<number> {
    return this.hot('invalidate', [keys]);
  }

  lookup(key: string): Promise<LookupResult> {
    return this.hot('lookup', [key]);
  }

  settle(key: string, entries: CacheWrite[]): Promise<void> {
    return this.hot('settle', [key, entries]);
  }

  reportFloodWait(seconds: number, method: string): Promise<void> {
    return this.track(() => this.remote.reportFloodWait(seconds, method));
  }

  acquireResolvePermit(): Promise<void> {
    return this.hot('acquireResolvePermit', []);
  }

  /** Resolves to a port that outlives the task: it belongs to the account's reused client. */
  openTelegramConnection(): Promise<MessagePort> {
    return this.track(() => this.remote.openTelegramConnection()) as Promise<MessagePort>;
  }

  private get remote(): Remote<AccountCacheApi> {
    this.comlinkRemote ??= wrap<AccountCacheApi>(nodeEndpoint(this.port));
    return this.comlinkRemote;
  }

  /** Waits for every call still in flight, including ones started while waiting. */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Flushes, then closes the port (which closes the main end too). */
  async close(): Promise<void> {
    await this.flush();
    if (!this.closed) this.port.close();
    this.closed = true;
  }

  /** A call of the protocol's hot path: one small message each way, no comlink. */
  private hot<T>(method: HotMethod, args: unknown[]): Promise<T> {
    return this.track(() => {
      const hot = ++this.nextHotCall;
      const answer = new Promise<T>((resolve, reject) => {
        this.hotCalls.set(hot, { resolve: resolve as (value: unknown) => void, reject });
      });
      const call: HotCall = { hot, method, args };
      try {
        this.port.postMessage(call);
      } catch (error) {
        // A value that cannot cross threads (a function, a socket) fails here, as a rejection like any other.
        this.hotCalls.delete(hot);
        return Promise.reject(error as Error);
      }
      return answer;
    });
  }

  /** Starts a call unless the channel is closed, and keeps it in the set `flush` waits for. */
  private track<T>(start: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the task has ended: its cache channel is closed'));
    const call = start();
    this.inFlight.add(call);
    const done = (): void => {
      this.inFlight.delete(call);
    };
    call.then(done, done);
    return call;
  }
}

