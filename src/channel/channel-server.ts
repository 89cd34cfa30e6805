import type { MessagePort } from 'node:worker_threads';
import { expose, type Endpoint } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ACCOUNT_CACHE_METHODS, type AbortNotice, type AccountCacheApi } from './protocol.js';

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

/** Serves `api` (already bound to one account) on the main end of a task's channel. */
export function serveChannel(port: MessagePort, api: AccountCacheApi): ServedChannel {
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
