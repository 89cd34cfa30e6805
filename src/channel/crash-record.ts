/**
 * What a worker thread leaves behind when it dies, in memory the main thread shares: which task's
 * code was running, and, when the worker saw it coming (a task called `process.exit`, threw where
 * nobody catches, left a rejection unhandled), whose fault it was and why. A worker that runs out
 * of heap runs no more JavaScript, and messages it posted may not arrive before Piscina reports
 * the exit; a write to shared memory is visible the moment it is made, so the main thread reads
 * the record when Piscina tells it the worker is gone.
 */

/** Int32 slots: the binding whose code runs now, whether a blame was written, the blamed binding, the reason's length in bytes. */
const RUNNING = 0;
const BLAMED = 1;
const CULPRIT = 2;
const REASON_LENGTH = 3;
const HEADER_BYTES = 4 * Int32Array.BYTES_PER_ELEMENT;
const REASON_BYTES = 1024;

/** Why a worker died, as far as it could tell. */
export interface CrashCause {
  /** The binding of the task whose code killed the worker; null when nobody can tell. */
  binding: number | null;
  /** What the worker said about it (the uncaught error, the exit code), when it said anything. */
  reason: string | null;
}

export class CrashRecord {
  private readonly slots: Int32Array;
  private readonly reason: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(HEADER_BYTES + REASON_BYTES)) {
    this.slots = new Int32Array(buffer, 0, HEADER_BYTES / Int32Array.BYTES_PER_ELEMENT);
    this.reason = new Uint8Array(buffer, HEADER_BYTES);
  }

  /** Worker side: the code of task `binding` (0 for the runtime's own code) starts running. */
  running(binding: number): void {
    this.slots[RUNNING] = binding;
  }

  /** Worker side, just before the thread ends: `binding` (0 if unknown) is why. */
  blame(binding: number, reason: string): void {
    const { written } = new TextEncoder().encodeInto(reason, this.reason);
    this.slots[CULPRIT] = binding;
    this.slots[REASON_LENGTH] = written;
    this.slots[BLAMED] = 1;
  }

  /**
   * Main side, once the worker is gone. Without a blame, the task whose code was running is the
   * cause: a heap that runs out does so in the middle of the code that fills it.
   */
  read(): CrashCause {
    const blamed = this.slots[BLAMED] === 1;
    const binding = blamed ? this.slots[CULPRIT] : this.slots[RUNNING];
    const length = this.slots[REASON_LENGTH] as number;
    return {
      binding: binding === 0 || binding === undefined ? null : binding,
      reason: blamed ? new TextDecoder().decode(this.reason.slice(0, length)) : null,
    };
  }
}
