import type { MessagePort } from 'node:worker_threads';
import { expose, type Endpoint } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ACCOUNT_CACHE_METHODS, HOT_METHODS, type AccountCacheApi, type CacheWrite, type LookupResult, type TaskOutcome } from './protocol.js';
import { serializeError, type SerializedError } from './remote-error.js';
import { TaskRevokedError } from '../task-errors.js';
import { CALL, CALL_STRIDE, REPLY } from './wire.js';

const ALLOWED = new Set<string>(ACCOUNT_CACHE_METHODS);

interface ComlinkRequest {
  id?: string;
  type?: string;
  path?: unknown[];
  argumentList?: unknown[];
}

/**
 * comlink answers GET, SET and CONSTRUCT on any property path of the exposed object, which would
 * let a worker walk from a method to shared prototypes. Only calls of the protocol's own methods
 * pass; anything else becomes a call of `refused`, so the caller gets an error instead of a hang.
 * The port carries comlink's messages only: nothing is inspected twice.
 */
type Listener = Parameters<Endpoint['addEventListener']>[1];
type ListenerFunction = (event: { data: unknown }) => void;

function guarded(endpoint: Endpoint): Endpoint {
  const listeners = new Map<Listener, ListenerFunction>();
  return {
    postMessage: (message, transfer) => endpoint.postMessage(message, transfer),
    addEventListener: (type, listener) => {
      const filter: ListenerFunction = (event) => {
        const request = event.data as ComlinkRequest | undefined;
        const method = request?.path?.[0];
        const allowed = request?.type === 'APPLY' && request.path?.length === 1 && typeof method === 'string' && ALLOWED.has(method);
        const data = allowed || request?.type === 'RELEASE' ? request : { id: request?.id, type: 'APPLY', path: ['refused'], argumentList: [] };
        const forward = { data } as Parameters<ListenerFunction>[0] as never;
        if (typeof listener === 'function') listener(forward);
        else listener.handleEvent(forward);
      };
      listeners.set(listener, filter);
      endpoint.addEventListener(type, filter as Listener);
    },
    removeEventListener: (type, listener) => {
      const filter = listeners.get(listener);
      if (filter !== undefined) endpoint.removeEventListener(type, filter as Listener);
      listeners.delete(listener);
    },
  };
}

/** What the main thread tells a worker about a failure: the error as data, without the main thread's stack. */
function refusal(error: unknown): SerializedError {
  return serializeError(error, { stack: false });
}

/** comlink sends a thrown error's stack along: the worker gets the same error with only its own first line. */
function stackless<A extends unknown[], R>(method: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      return method(...args);
    } catch (error) {
      if (error instanceof Error) error.stack = `${error.name}: ${error.message}`;
      throw error;
    }
  };
}

function refused(): never {
  throw new TypeError(`only these methods may be called on a cache channel: ${ACCOUNT_CACHE_METHODS.join(', ')}`);
}

/**
 * One task as the main thread serves it: its account's cache view (`api`, bound to one account
 * when it was made) under the task's binding number. The binding is answered only while it is
 * attached to the link of the worker the task was placed on.
 */
export class ServedTask {
  /** The worker thread the task was placed on; null until the pool places it. */
  threadId: number | null = null;
  /** The worker said it received the task's abort, so its event loop turns. */
  abortSeen = false;
  /** The first Telegram call the task declared that changes something; null while it made none. */
  firstWrite: string | null = null;
  private server: ChannelServer | null = null;
  private pendingAbort: string | null = null;
  private coldPort: MessagePort | null = null;
  private released = false;
  /**
   * How the task's end arrived on the link, kept until someone asks for `ended`: most tasks
   * report their outcome in Piscina's reply instead, and a promise made for each of them would
   * only be garbage.
   */
  private end: { outcome: TaskOutcome } | { error: Error } | null = null;
  private endPromise: Promise<TaskOutcome> | null = null;
  private endWaiter: { resolve: (outcome: TaskOutcome) => void; reject: (error: Error) => void } | null = null;

  constructor(
    readonly binding: number,
    readonly api: AccountCacheApi,
  ) {}

  /** Settles with the task's outcome when the worker reports its end on the link, or rejects if the worker's link goes away first. */
  get ended(): Promise<TaskOutcome> {
    if (this.endPromise === null) {
      const end = this.end;
      this.endPromise =
        end === null
          ? new Promise<TaskOutcome>((resolve, reject) => {
              this.endWaiter = { resolve, reject };
            })
          : 'outcome' in end
            ? Promise.resolve(end.outcome)
            : Promise.reject(end.error);
    }
    return this.endPromise;
  }

  /** @internal */ resolveEnd(outcome: TaskOutcome): void {
    if (this.end !== null) return;
    this.end = { outcome };
    this.endWaiter?.resolve(outcome);
  }

  /** @internal */ rejectEnd(error: Error): void {
    if (this.end !== null) return;
    this.end = { error };
    this.endWaiter?.reject(error);
  }

  /** Answers the task's calls on `server`'s link from now on; an abort that came first is sent now. */
  attach(server: ChannelServer): void {
    if (this.released) return;
    this.server = server;
    server.adopt(this);
    if (this.pendingAbort !== null) server.sendAbort(this.binding, this.pendingAbort);
  }

  /** Tells the worker the task is cancelled; the task sees its abort signal fire. */
  abort(reason: string): void {
    if (this.server === null) this.pendingAbort = reason;
    else this.server.sendAbort(this.binding, reason);
  }

  /**
   * Gives up on the task: the worker is told that the task may no longer act as its account, and
   * the binding is refused here from now on, whatever the worker does.
   */
  revoke(reason: string): void {
    this.server?.sendRevoke(this.binding, reason);
    this.release();
  }

  /** Serves the task's comlink calls on a port the task opened for them. */
  openCold(port: MessagePort): void {
    if (this.released) {
      port.close();
      return;
    }
    this.coldPort?.close();
    this.coldPort = port;
    const target: Record<string, unknown> = Object.create(null);
    for (const method of ACCOUNT_CACHE_METHODS) target[method] = stackless((this.api[method] as (...args: unknown[]) => unknown).bind(this.api));
    target.refused = stackless(refused);
    expose(Object.freeze(target), guarded(nodeEndpoint(port)));
  }

  /** The task is over: its binding is refused from now on, and its comlink port is closed. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.server?.forget(this);
    this.server = null;
    this.coldPort?.close();
    this.coldPort = null;
  }
}

/** A call made while the link was still connected, answered after the batch that carried it. */
type Answer = (status: number, value: unknown) => void;

function lookupReply(result: LookupResult, answer: Answer): void {
  if (result.hit) answer(REPLY.ok, result.value);
  else if (result.leader) answer(REPLY.lead, undefined);
  else answer(REPLY.leaderFailed, result.error);
}

/**
 * The main end of one worker's link. It dispatches every call of every task on that worker from
 * one listener, answers a batch's synchronous calls with one message, and gathers the answers of
 * calls that waited (a lookup behind a leader, a resolve permit) into one message per turn.
 */
export class ChannelServer {
  private readonly tasks = new Map<number, ServedTask>();
  private later: unknown[] = [];
  private laterScheduled = false;
  private closed = false;
  /** Probes the worker has answered: one that stays unanswered means its event loop is held. */
  answeredProbes = 0;

  constructor(private readonly port: MessagePort) {
    port.on('message', (data: unknown) => this.receive(data));
    port.on('close', () => this.lost());
    // The runtime's pool decides when the process may exit, not this port.
    port.unref();
  }

  /** @internal */ adopt(task: ServedTask): void {
    if (this.closed) task.rejectEnd(new Error('the worker’s link closed before the task was placed on it'));
    else this.tasks.set(task.binding, task);
  }

  /** @internal */ forget(task: ServedTask): void {
    if (this.tasks.get(task.binding) === task) this.tasks.delete(task.binding);
  }

  /** @internal */ sendAbort(binding: number, reason: string): void {
    this.post([binding, REPLY.abort, reason]);
  }

  /** @internal */ sendRevoke(binding: number, reason: string): void {
    this.post([binding, REPLY.revoke, reason]);
  }

  /** Asks the worker to answer as soon as its event loop turns; the answer counts in `answeredProbes`. */
  probe(): void {
    this.post([0, REPLY.probe, null]);
  }

  /** Closes the link; the worker's tasks see their signals fire. */
  close(): void {
    this.port.close();
    this.lost();
  }

  private lost(): void {
    if (this.closed) return;
    this.closed = true;
    const error = new Error('the worker’s link closed while its task was running');
    for (const task of this.tasks.values()) task.rejectEnd(error);
    this.tasks.clear();
  }

  private post(message: unknown[]): void {
    if (this.closed) return;
    try {
      this.port.postMessage(message);
    } catch (error) {
      // A value the cache holds that cannot be cloned is the caller's answer, not the batch's.
      this.postEach(message, error);
    }
  }

  private postEach(message: unknown[], error: unknown): void {
    for (let index = 0; index < message.length; index += 3) {
      const entry = message.slice(index, index + 3);
      try {
        this.port.postMessage(entry);
      } catch {
        if (entry[1] !== REPLY.abort && entry[1] !== REPLY.revoke) this.port.postMessage([entry[0], REPLY.error, refusal(error)]);
      }
    }
  }

  private answerLater(id: number): Answer {
    return (status, value) => {
      this.later.push(id, status, value);
      if (this.laterScheduled) return;
      this.laterScheduled = true;
      setImmediate(() => {
        this.laterScheduled = false;
        const batch = this.later;
        this.later = [];
        this.post(batch);
      });
    };
  }

  private receive(data: unknown): void {
    if (!Array.isArray(data)) return;
    const replies: unknown[] = [];
    const now: Answer = (status, value) => void replies.push(id, status, value);
    let id = 0;
    for (let index = 0; index + CALL_STRIDE <= data.length; index += CALL_STRIDE) {
      const binding = data[index] as number;
      const code = data[index + 2] as number;
      id = data[index + 1] as number;
      if (code === CALL.alive) {
        this.answeredProbes++;
        continue;
      }
      const task = this.tasks.get(binding);
      if (task === undefined) {
        if (code === CALL.cold) (data[index + 3] as MessagePort | undefined)?.close?.();
        else if (code !== CALL.end && code !== CALL.abortSeen)
          now(REPLY.error, refusal(new TaskRevokedError('this task’s cache binding is not open on this worker: the task has ended or was revoked, or was never placed here')));
        continue;
      }
      try {
        this.call(task, code, data[index + 3], data[index + 4], data[index + 5], now, id);
      } catch (error) {
        now(REPLY.error, refusal(error));
      }
    }
    if (replies.length > 0) this.post(replies);
  }

  /** A read memory answered goes back with the batch; one the durable store answers, when it has. */
  private value(result: unknown, now: Answer, id: number): void {
    if (!(result instanceof Promise)) return now(REPLY.ok, result);
    const later = this.answerLater(id);
    result.then(
      (value: unknown) => later(REPLY.ok, value),
      (error: unknown) => later(REPLY.error, refusal(error)),
    );
  }

  private call(task: ServedTask, code: number, a: unknown, b: unknown, c: unknown, now: Answer, id: number): void {
    const api = task.api;
    switch (code) {
      case CALL.get:
        return this.value(api.get(a as string), now, id);
      case CALL.getMany:
        return this.value(api.getMany(a as string[]), now, id);
      case CALL.set:
        api.set(a as string, b, c as number | undefined);
        return now(REPLY.ok, undefined);
      case CALL.setMany:
        api.setMany(a as CacheWrite[]);
        return now(REPLY.ok, undefined);
      case CALL.invalidate:
        return now(REPLY.ok, api.invalidate(a as string[]));
      case CALL.settle:
        api.settle(a as string, b as CacheWrite[], c as SerializedError | undefined);
        return now(REPLY.ok, undefined);
      case CALL.lookup: {
        const result = api.lookup(a as string, b === true);
        if (!(result instanceof Promise)) return lookupReply(result, now);
        const later = this.answerLater(id);
        result.then(
          (settled) => lookupReply(settled, later),
          (error: unknown) => later(REPLY.error, refusal(error)),
        );
        return;
      }
      case CALL.acquireResolvePermit: {
        const permit = api.acquireResolvePermit();
        if (!(permit instanceof Promise)) return now(REPLY.ok, undefined);
        const later = this.answerLater(id);
        permit.then(
          () => later(REPLY.ok, undefined),
          (error: unknown) => later(REPLY.error, refusal(error)),
        );
        return;
      }
      case CALL.cold:
        return task.openCold(a as MessagePort);
      case CALL.end:
        return task.resolveEnd(a as TaskOutcome);
      case CALL.write:
        task.firstWrite ??= String(a);
        return now(REPLY.ok, undefined);
      case CALL.abortSeen:
        task.abortSeen = true;
        return;
      default:
        throw new TypeError(`call code ${String(code)} is not a cache call; the hot calls are ${HOT_METHODS.join(', ')}`);
    }
  }
}
