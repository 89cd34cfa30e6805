import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { AccountCacheApi, CacheValue, CacheWrite, LookupResult, TaskOutcome } from './protocol.js';
import type { SerializedError } from './remote-error.js';
import { travelsWhole } from './plain-data.js';
import { TaskRevokedError } from '../task-errors.js';
import { CALL } from './wire.js';
import type { WorkerLink } from './worker-link.js';

/** The worker's view of a task's cache channel: every call returns a promise. */
export type AccountCache = {
  [K in keyof AccountCacheApi]: (...args: Parameters<AccountCacheApi[K]>) => Promise<Awaited<ReturnType<AccountCacheApi[K]>>>;
};

/**
 * One task's end of the cache channel, on its worker's link. It counts the task's calls in flight
 * so the task's result is sent only after all its writes were acknowledged, and it turns the main
 * thread's abort into the task's signal. comlink (for the rare calls that need it) gets a port of
 * its own on first use: a task that makes only hot calls pays nothing for it.
 */
export class ChannelClient implements AccountCache {
  private comlinkRemote: Remote<AccountCacheApi> | null = null;
  private comlinkPort: MessagePort | null = null;
  private controller: AbortController | null = null;
  /** An abort that came before anyone read `signal`. */
  private abortReason: string | null = null;
  private inFlight = 0;
  private drained: (() => void) | null = null;
  private closed = false;
  /** Set when the main thread gave up on the task: every later call fails with it. */
  private revokedWith: TaskRevokedError | null = null;
  private onRevoked: ((error: TaskRevokedError) => void) | null = null;

  constructor(
    private readonly link: WorkerLink,
    readonly binding: number,
  ) {}

  /** Fires when the runtime cancels the task or the link to the main thread goes away. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.abortReason !== null) this.controller.abort(new DOMException(this.abortReason, 'AbortError'));
    }
    return this.controller.signal;
  }

  get(key: string): Promise<CacheValue | undefined> {
    return this.track(CALL.get, key);
  }

  getMany(keys: string[]): Promise<(CacheValue | undefined)[]> {
    return this.track(CALL.getMany, keys);
  }

  set(key: string, value: CacheValue, ttlMs?: number): Promise<void> {
    return this.track(CALL.set, key, value, ttlMs);
  }

  setMany(entries: CacheWrite[]): Promise<void> {
    return this.track(CALL.setMany, entries);
  }

  invalidate(keys: string[]): Promise<number> {
    return this.track(CALL.invalidate, keys);
  }

  lookup(key: string, withResolvePermit = false): Promise<LookupResult> {
    return this.track(CALL.lookup, key, withResolvePermit);
  }

  /** `failure` is the error the leader got instead of entries; its waiters fail with it rather than each calling Telegram. */
  settle(key: string, entries: CacheWrite[], failure?: SerializedError): Promise<void> {
    return this.track(CALL.settle, key, entries, failure);
  }

  acquireResolvePermit(): Promise<void> {
    return this.track(CALL.acquireResolvePermit);
  }

  reportFloodWait(seconds: number, method: string): Promise<void> {
    return this.cold(() => this.remote.reportFloodWait(seconds, method));
  }

  /** Resolves to a port that outlives the task: it belongs to the account's reused client. */
  openTelegramConnection(): Promise<MessagePort> {
    return this.cold(() => this.remote.openTelegramConnection()) as Promise<MessagePort>;
  }

  /** @internal Declares a Telegram call that changes something, before it is made; refused once the task is revoked. */
  declareWrite(method: string): Promise<void> {
    return this.track(CALL.write, method);
  }

  /**
   * @internal Settles as `work` does, unless the main thread gives up on the task first: then it
   * rejects, so the worker stops waiting for the task. The task's code may go on, but it no
   * longer takes a place on the worker. One promise, where a race would make three.
   */
  unlessRevoked<T>(work: T | Promise<T>): Promise<T> {
    if (this.revokedWith !== null) return Promise.reject(this.revokedWith);
    return new Promise<T>((resolve, reject) => {
      this.onRevoked = reject;
      // A task module in plain JavaScript may return its result rather than a promise of it.
      if (work instanceof Promise) work.then(resolve, reject);
      else resolve(work);
    });
  }

  /** @internal The task has ended (reported its outcome or closed the channel). */
  get ended(): boolean {
    return this.closed;
  }

  /** @internal Why the task may no longer act as its account; null while it may. */
  get revocation(): TaskRevokedError | null {
    return this.revokedWith;
  }

  /** Waits for every call still in flight, including ones started while waiting. */
  flush(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.drained;
      this.drained = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Flushes, then ends the task's use of the channel without reporting an outcome. */
  async close(): Promise<void> {
    await this.flush();
    this.closeNow();
  }

  /**
   * Flushes, then hands back the outcome for Piscina's reply when it is plain data, or sends it on
   * the link (the last thing the task says there) and hands back `ended`. Either way every call of
   * the task was answered first, so the main thread has seen its writes before its end.
   */
  finish(outcome: TaskOutcome): Promise<TaskOutcome | 'ended'> {
    if (this.inFlight > 0) return this.flush().then(() => this.end(outcome));
    return Promise.resolve(this.end(outcome));
  }

  private end(outcome: TaskOutcome): TaskOutcome | 'ended' {
    const whole = !this.closed && (!outcome.ok || travelsWhole(outcome.value));
    if (!this.closed && !whole) this.link.notify(this.binding, CALL.end, outcome);
    this.closeNow();
    return whole ? outcome : 'ended';
  }

  /** @internal The main thread cancelled the task, or the link closed. */
  abortedByMain(reason: string): void {
    if (this.abortReason !== null) return;
    this.abortReason = reason;
    this.controller?.abort(new DOMException(reason, 'AbortError'));
  }

  /** @internal The main thread gave up on the task: it ran on too long after its abort. */
  revokedByMain(reason: string): void {
    this.abortedByMain(reason);
    if (this.revokedWith !== null) return;
    this.revokedWith = new TaskRevokedError(`this task was revoked and may no longer act as its account: ${reason}`);
    this.onRevoked?.(this.revokedWith);
  }

  private closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.forget(this.binding);
    this.comlinkPort?.close();
  }

  private get remote(): Remote<AccountCacheApi> {
    if (this.comlinkRemote === null) {
      const { port1, port2 } = new MessageChannel();
      this.link.notify(this.binding, CALL.cold, port2, port2);
      this.comlinkPort = port1;
      this.comlinkRemote = wrap<AccountCacheApi>(nodeEndpoint(port1));
    }
    return this.comlinkRemote;
  }

  private cold<T>(start: () => Promise<T>): Promise<T> {
    if (this.revokedWith !== null) return Promise.reject(this.revokedWith);
    if (this.closed) return Promise.reject(new Error('the task has ended: its cache channel is closed'));
    return this.counted(start());
  }

  private track<T>(code: number, a?: unknown, b?: unknown, c?: unknown): Promise<T> {
    if (this.revokedWith !== null) return Promise.reject(this.revokedWith);
    if (this.closed) return Promise.reject(new Error('the task has ended: its cache channel is closed'));
    return this.counted(this.link.call<T>(this.binding, code, a, b, c));
  }

  /** Counts a call until it settles, so `flush` knows when the task's last call was answered. */
  private counted<T>(call: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = (): void => {
      if (--this.inFlight > 0 || this.drained === null) return;
      const wake = this.drained;
      this.drained = null;
      wake();
    };
    call.then(done, done);
    return call;
  }
}
