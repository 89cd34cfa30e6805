/**
 * How a client reaches the simulated server: serialized TL requests in, plain-data replies out.
 * Replies hold only strings, numbers and bytes so that they cross a MessagePort by structured clone;
 * the account is bound where the connection is made (like an auth key), never named by the client.
 */
import type { MessagePort } from 'node:worker_threads';

export interface TransportError {
  /** Telegram's error message, e.g. `FLOOD_WAIT_5` or `CHANNEL_INVALID`. */
  message: string;
  code: number;
  /** For FLOOD_WAIT: the simulated seconds to wait. */
  seconds?: number;
}

export type TransportReply = { ok: true; result: Uint8Array } | { ok: false; error: TransportError };

export interface TelegramTransport {
  /** Sends one serialized request; rejects only if the connection is gone, never for an RPC error. */
  call(request: Uint8Array): Promise<TransportReply>;
  /** Closes the connection; pending calls reject with {@link TransportClosedError}. */
  close(): void;
}

/** The server side of a connection already bound to one account. */
export type RequestHandler = (request: Uint8Array) => Promise<TransportReply>;

export class TransportClosedError extends Error {
  constructor() {
    super('simulated Telegram connection is closed');
    this.name = 'TransportClosedError';
  }
}

interface PortRequest {
  id: number;
  request: Uint8Array;
}

interface PortResponse {
  id: number;
  reply: TransportReply;
}

/** Calls awaiting a reply, so that closing a connection fails them instead of leaving them hanging. */
class PendingCalls {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (reply: TransportReply) => void; reject: (error: unknown) => void }>();

  get size(): number {
    return this.waiting.size;
  }

  open(): { id: number; reply: Promise<TransportReply> } {
    const id = this.nextId++;
    const reply = new Promise<TransportReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
    });
    return { id, reply };
  }

  settle(id: number, reply: TransportReply): void {
    const waiter = this.waiting.get(id);
    this.waiting.delete(id);
    waiter?.resolve(reply);
  }

  failAll(error: unknown): void {
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiter of waiters) waiter.reject(error);
  }
}

/**
 * A handler that throws has a bug, not an RPC error; it still gets a reply so the call ends. Not
 * a 5xx: GramJS retries those with sleeps, which would hide the bug behind seconds of waiting.
 */
function failureReply(error: unknown): TransportReply {
  const detail = error instanceof Error ? error.message : String(error);
  return { ok: false, error: { message: `SIMULATOR_INTERNAL_ERROR: ${detail}`, code: 400 } };
}

/** A connection to a server in the same thread. */
export function inProcessTransport(handler: RequestHandler): TelegramTransport {
  const pending = new PendingCalls();
  let closed = false;
  return {
    call(request) {
      if (closed) return Promise.reject(new TransportClosedError());
      const { id, reply } = pending.open();
      void handler(request)
        .catch(failureReply)
        .then((result) => pending.settle(id, result));
      return reply;
    },
    close() {
      closed = true;
      pending.failAll(new TransportClosedError());
    },
  };
}

/**
 * Copies bytes into a buffer of their own, so it can be transferred: a GramJS Buffer is often a
 * slice of Node's shared pool, which must be neither cloned whole nor detached.
 */
function ownedCopy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

function isPortRequest(value: unknown): value is PortRequest {
  return typeof value === 'object' && value !== null && typeof (value as PortRequest).id === 'number' && (value as PortRequest).request instanceof Uint8Array;
}

function isPortResponse(value: unknown): value is PortResponse {
  return typeof value === 'object' && value !== null && typeof (value as PortResponse).id === 'number' && typeof (value as PortResponse).reply === 'object';
}

/**
 * Serves one end of a MessageChannel with `handler`. The port is unref'd: the server side never
 * keeps a process alive on its own; closing the port (from either end) ends the connection.
 */
export function servePort(port: MessagePort, handler: RequestHandler): { close(): void } {
  port.on('message', (message: unknown) => {
    if (!isPortRequest(message)) return;
    const { id } = message;
    void handler(message.request)
      .catch(failureReply)
      .then((reply) => {
        if (reply.ok) {
          const result = ownedCopy(reply.result);
          port.postMessage({ id, reply: { ok: true, result } } satisfies PortResponse, [result.buffer]);
        } else {
          port.postMessage({ id, reply } satisfies PortResponse);
        }
      });
  });
  port.unref();
  return { close: () => port.close() };
}

/**
 * The client end of a port served by {@link servePort}, e.g. inside a worker thread. The port is
 * ref'd only while calls are pending, so an idle connection never keeps a worker alive, and a
 * port closed from either end rejects what is pending.
 */
export function portTransport(port: MessagePort): TelegramTransport {
  const pending = new PendingCalls();
  let closed = false;
  const shutDown = (): void => {
    closed = true;
    pending.failAll(new TransportClosedError());
    port.unref();
  };
  port.on('message', (message: unknown) => {
    if (!isPortResponse(message)) return;
    pending.settle(message.id, message.reply);
    if (pending.size === 0) port.unref();
  });
  port.on('close', shutDown);
  port.unref();
  return {
    call(request) {
      if (closed) return Promise.reject(new TransportClosedError());
      const { id, reply } = pending.open();
      const copy = ownedCopy(request);
      port.ref();
      port.postMessage({ id, request: copy } satisfies PortRequest, [copy.buffer]);
      return reply;
    },
    close() {
      shutDown();
      port.close();
    },
  };
}
