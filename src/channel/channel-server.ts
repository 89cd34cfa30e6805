import type { MessagePort } from 'node:worker_threads';
import { expose, type Endpoint } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ACCOUNT_CACHE_METHODS, HOT_METHODS, isHotCall, type AbortNotice, type AccountCacheApi, type HotCall, type HotReply } from './protocol.js';
import { serializeError } from './remote-error.js';

const ALLOWED = new Set<string>(ACCOUNT_CACHE_METHODS);
const HOT = new Set<string>(HOT_METHODS);

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
 */
type Listener = Parameters<Endpoint['addEventListener']>[1];
type ListenerFunction = (event: { data: unknown }) => void;

function guarded(endpoint: Endpoint): Endpoint {
  const listeners = new Map<Listener, ListenerFunction>();
  return {
    postMessage: (message, transfer) => endpoint.postMessage(message, transfer),
    addEventListener: (type, listener) => {
      const filter: ListenerFunction = (event) => {
        // Hot calls are answered by their own listener (see answerHotCalls).
        if (isHotCall(event.data)) return;
        const request = event.data as ComlinkRequest | undefined;
        const method = request?.path?.[0];
        const allowed =
          request?.type === 'APPLY' && request.path?.length === 1 && typeof method === 'string' && ALLOWED.has(method);
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

function refused(): never {
  throw new TypeError(`only these methods may be called on a cache channel: ${ACCOUNT_CACHE_METHODS.join(', ')}`);
}

/** The main end of one task's channel. */
export interface ServedChannel {
  /** Tells the worker the task is cancelled; the task sees its abort signal fire. */
  abort(reason: string): void;
  /** Closes both ends of the channel. comlink's releaseProxy does not, so the runtime must. */
  close(): void;
}

/** Answers the hot calls of the protocol; a call of any other method gets an error reply, never silence. */
function answerHotCalls(port: MessagePort, api: AccountCacheApi): void {
  const reply = (message: HotReply): void => port.postMessage(message);
  const fail = (hot: number, error: unknown): void => reply({ hot, ok: false, error: serializeError(error) });
  port.on('message', (data: unknown) => {
    if (!isHotCall(data)) return;
    const { hot, method, args } = data as HotCall;
    if (!HOT.has(method)) {
      fail(hot, new TypeError(`${method} is not a hot cache call; hot calls are ${HOT_METHODS.join(', ')}`));
      return;
    }
    let value: unknown;
    try {
      value = (api[method as keyof AccountCacheApi] as (...values: unknown[]) => unknown).apply(api, args);
    } catch (error) {
      fail(hot, error);
      return;
    }
    if (value instanceof Promise) value.then((settled: unknown) => reply({ hot, ok: true, value: settled }), (error: unknown) => fail(hot, error));
    else reply({ hot, ok: true, value });
  });
}

/** Serves `api` (already bound to one account) on the main end of a task's channel. */
export function serveChannel(port: MessagePort, api: AccountCacheApi): ServedChannel {
  answerHotCalls(port, api);
  const target: Record<string, unknown> = Object.create(null);
  for (const method of ACCOUNT_CACHE_METHODS) target[method] = api[method].bind(api);
  target.refused = refused;
  expose(Object.freeze(target), guarded(nodeEndpoint(port)));
  return {
    abort(reason) {
      const notice: AbortNotice = { tgfleetAbort: true, reason };
      port.postMessage(notice);
    },
    close() {
      port.close();
    },
  };
}
