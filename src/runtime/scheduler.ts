import { FloodCooldownError, QueueFullError, RuntimeClosedError } from '../task-errors.js';
import { onAbort } from './abort-fanout.js';
import { LinkedQueue, type QueueNode } from './linked-queue.js';

/**
 * Thrown by a task's start function to be queued again, at the front of its account's queue: the
 * account's order is kept, and a full queue cannot refuse a task it had already admitted.
 */
export class RequeueTask extends Error {
  override readonly name = 'RequeueTask';
}

export interface SchedulerOptions {
  /** Tasks running at once across all accounts: the pool's capacity. */
  globalConcurrency: number;
  perAccountConcurrency: number;
  /** Queued (not yet running) tasks beyond which `submit` rejects. */
  maxQueue: number;
  /** Real milliseconds an account must still wait before its next task may start; 0 when it may start now. */
  cooldownRemaining: (account: string) => number;
  /** What a cooldown does to the account's queued tasks. */
  onCooldown: 'wait' | 'fail';
}

interface QueuedTask {
  account: string;
  /** The caller's id for the task, unique among tasks queued or running; undefined when it gave none. */
  id: string | undefined;
  start: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  /** Stops listening for the caller's abort. */
  stopListening: (() => void) | undefined;
  /** The caller has its answer: the outcome, or its abort, which may come while the task still runs. */
  settled: boolean;
  /** Where the task waits in its account's queue; null while it runs. */
  node: QueueNode<QueuedTask> | null;
}

interface AccountLane {
  queue: LinkedQueue<QueuedTask>;
  running: number;
  /** Wakes the lane when its cooldown ends; ref'd so queued work keeps the process alive. */
  cooldownTimer: NodeJS.Timeout | null;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('the task was aborted', 'AbortError');
}

/**
 * Per-account FIFO queues served round-robin: an account runs at most `perAccountConcurrency`
 * tasks, the fleet at most `globalConcurrency`, and an account that Telegram told to wait is
 * skipped without holding up the others.
 */
export class Scheduler {
  private readonly lanes = new Map<string, AccountLane>();
  /** Accounts that may have a task ready to start, in round-robin order. */
  private readonly rotation = new LinkedQueue<string>();
  private readonly inRotation = new Set<string>();
  /** Ids of the tasks queued or running. */
  private readonly ids = new Set<string>();
  private queued = 0;
  private running = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: SchedulerOptions) {}

  get queuedCount(): number {
    return this.queued;
  }

  get runningCount(): number {
    return this.running;
  }

  /** Whether a task with this id is queued or running. */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /**
   * Queues a task of an account; the promise settles with the task's own outcome, or rejects with
   * the reason of `signal` as soon as it aborts, whether the task is queued or running (stopping a
   * running task is its runner's business; the task holds its place until it has finished). A
   * start function that throws {@link RequeueTask} is queued again instead. `id`, when given,
   * must not be one of a task queued or running (see `has`).
   */
  submit<R>(account: string, start: () => Promise<R>, signal?: AbortSignal, id?: string): Promise<R> {
    if (this.closed) return Promise.reject(new RuntimeClosedError('the runtime is shutting down and accepts no new tasks'));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.queued >= this.options.maxQueue) {
      return Promise.reject(new QueueFullError(`the task queue is full (${this.options.maxQueue} queued tasks, runtime.max_queue); retry when tasks have finished`));
    }
    if (id !== undefined) this.ids.add(id);
    return new Promise<R>((resolve, reject) => {
      const task: QueuedTask = { account, id, start, resolve: resolve as (value: unknown) => void, reject, signal, stopListening: undefined, settled: false, node: null };
      this.enqueue(task, 'back');
      this.pump();
    });
  }

  /** Re-examines an account after its cooldown changed. */
  cooldownChanged(account: string): void {
    const lane = this.lanes.get(account);
    if (lane === undefined || lane.queue.length === 0) return;
    if (lane.cooldownTimer !== null) {
      clearTimeout(lane.cooldownTimer);
      lane.cooldownTimer = null;
    }
    this.markReady(account);
    this.pump();
  }

  /** Stops accepting tasks and rejects those still queued; running tasks go on. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const lane of this.lanes.values()) {
      if (lane.cooldownTimer !== null) clearTimeout(lane.cooldownTimer);
      lane.cooldownTimer = null;
      for (const task of this.dequeueAll(lane)) this.settleAndForget(task, false, new RuntimeClosedError('the runtime shut down before this task started'));
    }
    this.notifyIdle();
  }

  /** Resolves when no task is running (after `close`, when the last one has finished). */
  whenIdle(): Promise<void> {
    if (this.running === 0 && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private lane(account: string): AccountLane {
    let lane = this.lanes.get(account);
    if (lane === undefined) {
      lane = { queue: new LinkedQueue(), running: 0, cooldownTimer: null };
      this.lanes.set(account, lane);
    }
    return lane;
  }

  private markReady(account: string): void {
    if (this.inRotation.has(account)) return;
    this.inRotation.add(account);
    this.rotation.push(account);
  }

  /** Starts tasks until the fleet is at capacity or no account has one that may start. */
  private pump(): void {
    while (this.running < this.options.globalConcurrency && this.rotation.length > 0) {
      const account = this.rotation.shift() as string;
      this.inRotation.delete(account);
      const lane = this.lanes.get(account) as AccountLane;
      // An account that cannot start now leaves the rotation; it comes back when one of its tasks
      // finishes, a task of it is queued, or its cooldown ends.
      if (lane.queue.length === 0 || lane.running >= this.options.perAccountConcurrency || lane.cooldownTimer !== null) continue;
      const remaining = this.options.cooldownRemaining(account);
      if (remaining > 0) {
        this.holdForCooldown(account, lane, remaining);
        continue;
      }
      this.startTask(lane, this.dequeue(lane, lane.queue.peek() as QueuedTask));
      if (lane.queue.length > 0) this.markReady(account);
    }
  }

  private holdForCooldown(account: string, lane: AccountLane, remainingMs: number): void {
    if (this.options.onCooldown === 'fail') {
      for (const task of this.dequeueAll(lane)) this.settleAndForget(task, false, new FloodCooldownError(account, remainingMs));
      this.notifyIdle();
      return;
    }
    lane.cooldownTimer = setTimeout(() => {
      lane.cooldownTimer = null;
      this.markReady(account);
      this.pump();
    }, remainingMs);
  }

  /** Puts a task in its account's queue, listening for its caller's abort from now until it has finished. */
  private enqueue(task: QueuedTask, end: 'front' | 'back'): void {
    if (task.signal !== undefined && task.stopListening === undefined) task.stopListening = onAbort(task.signal, () => this.aborted(task));
    const queue = this.lane(task.account).queue;
    task.node = end === 'front' ? queue.unshift(task) : queue.push(task);
    this.queued++;
    this.markReady(task.account);
  }

  /** Takes a task out of its queue, whatever happens to it next. */
  private dequeue(lane: AccountLane, task: QueuedTask): QueuedTask {
    if (task.node !== null) lane.queue.remove(task.node);
    task.node = null;
    this.queued--;
    return task;
  }

  private dequeueAll(lane: AccountLane): QueuedTask[] {
    const tasks = lane.queue.drain();
    for (const task of tasks) {
      task.node = null;
      this.dequeue(lane, task);
    }
    return tasks;
  }

  private startTask(lane: AccountLane, task: QueuedTask): void {
    lane.running++;
    this.running++;
    let outcome: Promise<unknown>;
    try {
      outcome = task.start();
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (value) => this.finish(lane, task, true, value),
      (error: unknown) => this.finish(lane, task, false, error),
    );
  }

  private finish(lane: AccountLane, task: QueuedTask, ok: boolean, result: unknown): void {
    lane.running--;
    this.running--;
    if (!ok && result instanceof RequeueTask) {
      // Back before anything else of the account can start, unless its caller has gone already.
      if (this.closed) this.settleAndForget(task, false, new RuntimeClosedError('the runtime shut down before this task could run again'));
      else if (task.settled) this.forget(task);
      else this.enqueue(task, 'front');
    } else {
      this.settleAndForget(task, ok, result);
    }
    if (lane.queue.length > 0) this.markReady(task.account);
    this.pump();
    this.notifyIdle();
  }

  private settle(task: QueuedTask, ok: boolean, result: unknown): void {
    if (task.settled) return;
    task.settled = true;
    if (ok) task.resolve(result);
    else task.reject(result);
  }

  /** The task has left the scheduler for good: its id is free, and its caller's abort no longer concerns it. */
  private forget(task: QueuedTask): void {
    if (task.id !== undefined) this.ids.delete(task.id);
    task.stopListening?.();
    task.stopListening = undefined;
  }

  private settleAndForget(task: QueuedTask, ok: boolean, result: unknown): void {
    this.settle(task, ok, result);
    this.forget(task);
  }

  /** A running task's caller gets its abort at once; a queued task leaves its queue too, never started. */
  private aborted(task: QueuedTask): void {
    // The signal's listeners have run: there is nothing left to stop listening to.
    task.stopListening = undefined;
    const lane = this.lanes.get(task.account);
    if (lane === undefined || task.node === null) {
      this.settle(task, false, abortReason(task.signal as AbortSignal));
      return;
    }
    this.dequeue(lane, task);
    // Nothing is left to wake when the cooldown ends: a timer kept would hold the process open for it.
    if (lane.queue.length === 0 && lane.cooldownTimer !== null) {
      clearTimeout(lane.cooldownTimer);
      lane.cooldownTimer = null;
    }
    this.settleAndForget(task, false, abortReason(task.signal as AbortSignal));
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.running !== 0 || this.queued !== 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
