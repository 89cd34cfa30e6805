/*
 * The wire format of a worker's link: one long-lived MessagePort per worker thread, carrying the
 * calls of every task that runs there. What the tasks of one worker send in the same turn of its
 * event loop leaves as one message, and the main thread answers a message's synchronous calls
 * with one message: waking the other thread, not the call, is what a round trip costs.
 *
 * Messages are flat arrays of plain values, which structured clone copies faster than an array of
 * small objects.
 */
import type { MessagePort } from 'node:worker_threads';
import { HOT_METHODS } from './protocol.js';

/** A call's code: its method's index in HOT_METHODS, or one of the control codes after them. */
export const CALL = {
  ...(Object.fromEntries(HOT_METHODS.map((method, index) => [method, index])) as Record<(typeof HOT_METHODS)[number], number>),
  /** Opens the task's comlink channel: `a` is the port, which the message transfers. */
  cold: HOT_METHODS.length,
  /** The task ended: `a` is its TaskOutcome. Sent after every other call of the task was answered; no reply. */
  end: HOT_METHODS.length + 1,
  /**
   * The task is about to make a Telegram call that changes something (`a` is its method). The
   * call waits for the answer, so the main thread knows of every such call before Telegram
   * could have seen it: a task that made none is safe to run again after its worker died.
   */
  write: HOT_METHODS.length + 2,
  /** The worker received the task's abort; no reply. A worker that never says so within the grace is not running its event loop. */
  abortSeen: HOT_METHODS.length + 3,
  /** The worker's answer to a probe (binding 0); no reply. */
  alive: HOT_METHODS.length + 4,
} as const;

/** Worker → main, per call: binding, call id, code, then up to three arguments. */
export const CALL_STRIDE = 6;

/** Main → worker, per entry: call id (or binding, for an abort or a revocation), status, value. */
export const REPLY_STRIDE = 3;

export const REPLY = {
  ok: 0,
  /** `value` is a SerializedError. */
  error: 1,
  /** The task is cancelled: the first field is its binding, `value` the reason. */
  abort: 2,
  /** A lookup made the task the key's leader (and, if asked, granted its resolve permit). */
  lead: 3,
  /** A lookup waited for a leader that failed: `value` is the leader's SerializedError. */
  leaderFailed: 4,
  /** The task kept running past its abort grace: the first field is its binding, `value` the reason. Its calls are refused from now on. */
  revoke: 5,
  /**
   * Asks the worker to show its event loop turns (first field 0, no value): it answers with
   * CALL.alive. A task that saw its abort may still block the loop later, so only a fresh answer
   * says the worker is free for its other tasks.
   */
  probe: 6,
} as const;

/** Posted once by each worker thread on its parent port, handing the main thread its end of the link. */
export interface LinkOffer {
  tgfleetLink: MessagePort;
  /** The worker's threadId, which is also its id in Piscina's balancer. */
  threadId: number;
  /** The worker's CrashRecord, shared memory the main thread reads when the worker dies. */
  crashRecord: SharedArrayBuffer;
}

export function isLinkOffer(message: unknown): message is LinkOffer {
  const offer = message as Partial<LinkOffer> | null;
  return typeof offer === 'object' && offer !== null && typeof offer.threadId === 'number' && typeof offer.tgfleetLink === 'object' && offer.crashRecord instanceof SharedArrayBuffer;
}
