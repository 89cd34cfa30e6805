import { MessageChannel, type MessagePort, type Transferable } from 'node:worker_threads';
import { ChannelClient } from './channel-client.js';
import { reviveError, serializeError, type SerializedError } from './remote-error.js';
import { CALL, CALL_STRIDE, REPLY, REPLY_STRIDE, type LinkOffer } from './wire.js';

/** Early aborts kept at most: more tasks than a worker ever holds at once. */
const MAX_EARLY = 1024;

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** A lookup's answer is decoded from the reply's status. */
  lookup: boolean;
}

/**
 * The worker end of a worker's link, shared by every task on the thread. Calls made in the same
 * turn of the event loop leave together in one message (sent from `setImmediate`, after the turn's
 * promise callbacks have run; sooner when nothing else awaits an answer), and one listener
 * dispatches every answer and abort.
 */
export class WorkerLink {
  private outgoing: unknown[] = [];
  private transfers: Transferable[] = [];
  private scheduled = false;
  private readonly pending = new Map<number, PendingCall>();
  private readonly tasks = new Map<number, ChannelClient>();
  /**
   * Aborts and revocations that arrived before their task opened its channel: the task travels
   * through Piscina, its abort through this link, and either may come first.
   */
  private readonly early = new Map<number, { status: number; reason: string }>();
  private nextCall = 0;
  private closed = false;
  private readonly send = (): void => this.flush();

  constructor(private readonly port: MessagePort) {
    port.on('message', (data: unknown) => this.receive(data));
    port.on('close', () => this.lost());
  }

  /** The task's view of its account's cache, over this link under the task's binding. */
  open(binding: number): ChannelClient {
    const client = new ChannelClient(this, binding);
    this.tasks.set(binding, client);
    const early = this.early.get(binding);
    if (early !== undefined) {
      this.early.delete(binding);
      this.stop(client, early.status, early.reason);
    }
    return client;
  }

  /** @internal A call that expects an answer. */
  call<T>(binding: number, code: number, a?: unknown, b?: unknown, c?: unknown): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the worker’s link to the main thread is closed'));
    const id = ++this.nextCall;
    const lookup = code === CALL.lookup;
    const answer = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, lookup });
    });
    this.queue(binding, id, code, a, b, c);
    return answer;
  }

  /** @internal A call that expects no answer, sent at once with whatever was queued before it (the task's end, its comlink port). */
  notify(binding: number, code: number, a: unknown, transfer?: Transferable): void {
    if (this.closed) return;
    this.queue(binding, 0, code, a, undefined, undefined);
    if (transfer !== undefined) this.transfers.push(transfer);
    this.flush();
  }

  /** @internal */ forget(binding: number): void {
    this.tasks.delete(binding);
  }

  private queue(binding: number, id: number, code: number, a: unknown, b: unknown, c: unknown): void {
    this.outgoing.push(binding, id, code, a, b, c);
    if (this.scheduled) return;
    this.scheduled = true;
    // With no other call awaiting an answer there is little to batch with (at low concurrency the
    // message would only wait): it leaves once the promise callbacks queued before it have run,
    // without waiting for the event loop to come round. With calls in flight, the calls of a turn
    // wait for its end and leave together.
    if (this.pending.size <= 1) queueMicrotask(this.send);
    else setImmediate(this.send);
  }

  private flush(): void {
    if (this.outgoing.length === 0) return;
    const batch = this.outgoing;
    const transfers = this.transfers;
    this.outgoing = [];
    this.transfers = [];
    this.scheduled = false;
    try {
      this.port.postMessage(batch, transfers);
    } catch (error) {
      this.sendEach(batch, error);
    }
  }

  /**
   * A value that cannot cross threads (a function, a socket) fails the whole message; sent one by
   * one, only its own call fails, and a task's end is replaced by the error that explains it.
   */
  private sendEach(batch: unknown[], batchError: unknown): void {
    for (let index = 0; index < batch.length; index += CALL_STRIDE) {
      const entry = batch.slice(index, index + CALL_STRIDE);
      const code = entry[2] as number;
      try {
        this.port.postMessage(entry, code === CALL.cold ? [entry[3] as MessagePort] : []);
      } catch (error) {
        if (code === CALL.end) {
          const reason = `the task's result must be plain data that can cross threads (no functions, class instances with methods or sockets): ${(error as Error).message}`;
          entry[3] = { ok: false, error: serializeError(new TypeError(reason)) };
          this.port.postMessage(entry);
        } else {
          this.settle(entry[1] as number, REPLY.error, serializeError(error ?? batchError), error as Error);
        }
      }
    }
  }

  private receive(data: unknown): void {
    if (!Array.isArray(data)) return;
    for (let index = 0; index + REPLY_STRIDE <= data.length; index += REPLY_STRIDE) {
      const status = data[index + 1] as number;
      if (status === REPLY.abort || status === REPLY.revoke) this.stopped(data[index] as number, status, data[index + 2] as string);
      else if (status === REPLY.probe) this.notify(0, CALL.alive, undefined);
      else this.settle(data[index] as number, status, data[index + 2]);
    }
  }

  private stopped(binding: number, status: number, reason: string): void {
    const client = this.tasks.get(binding);
    if (client !== undefined) this.stop(client, status, reason);
    else this.keepEarly(binding, status, reason);
    if (status === REPLY.abort) this.notify(binding, CALL.abortSeen, undefined);
  }

  private stop(client: ChannelClient, status: number, reason: string): void {
    if (status === REPLY.revoke) client.revokedByMain(reason);
    else client.abortedByMain(reason);
  }

  /** The task may also have ended already; a few stale entries are forgotten rather than kept forever. */
  private keepEarly(binding: number, status: number, reason: string): void {
    const kept = this.early.get(binding);
    if (kept?.status === REPLY.revoke) return;
    this.early.set(binding, { status, reason });
    if (this.early.size > MAX_EARLY) this.early.delete(this.early.keys().next().value as number);
  }

  private settle(id: number, status: number, value: unknown, local?: Error): void {
    const call = this.pending.get(id);
    if (call === undefined) return;
    this.pending.delete(id);
    if (status === REPLY.error) call.reject(local ?? reviveError(value as SerializedError));
    else if (!call.lookup) call.resolve(value);
    else if (status === REPLY.lead) call.resolve({ hit: false, leader: true });
    else if (status === REPLY.leaderFailed) call.resolve({ hit: false, leader: false, error: value });
    else call.resolve({ hit: true, value });
  }

  private lost(): void {
    if (this.closed) return;
    this.closed = true;
    const error = new Error('the worker’s link to the main thread closed before it answered');
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
    for (const task of this.tasks.values()) task.abortedByMain('the task channel closed');
  }
}

/**
 * Opens this thread's link and offers the main end to the parent (Piscina passes the offer on as
 * the pool's `message` event). Called once, when the worker loads.
 */
export function offerLink(parent: MessagePort, threadId: number, crashRecord: SharedArrayBuffer): WorkerLink {
  const { port1, port2 } = new MessageChannel();
  const offer: LinkOffer = { tgfleetLink: port2, threadId, crashRecord };
  parent.postMessage(offer, [port2]);
  // Piscina keeps the thread alive while it has work; an idle worker must not be held by its link.
  port1.unref();
  return new WorkerLink(port1);
}
