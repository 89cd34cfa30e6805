/*
 * tgfleet's own errors about how a task ended or why it did not run, as a host sees them on the
 * main thread and a task sees them in its worker. A leaf module: the channel rebuilds them by class
 * across threads (src/channel/error-registry.ts), so they cannot live in the runtime above it.
 */

/**
 * The task kept running after its abort (a timeout, the caller's signal, shutdown) for longer
 * than runtime.abort_grace: the runtime gave up on it, and every cache and Telegram call it
 * makes from then on is refused, so it can no longer act as its account.
 */
export class TaskRevokedError extends Error {
  override readonly name = 'TaskRevokedError';
}

/**
 * A worker died while running the task. `collateral` is true when another task killed it and
 * this one could not be run again (it had already made a Telegram call that changes something);
 * false for the task that killed it.
 */
export class WorkerCrashedError extends Error {
  override readonly name = 'WorkerCrashedError';
  readonly collateral: boolean;

  constructor(message: string, options: { collateral?: boolean } = {}) {
    super(message);
    this.collateral = options.collateral ?? false;
  }
}

/** Thrown when the scheduler's queue is full; the caller should slow down or retry later. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

/** Thrown for a task submitted after shutdown began, or still queued when it did. */
export class RuntimeClosedError extends Error {
  override readonly name = 'RuntimeClosedError';
}

/** Thrown, in `fail` mode, for a task whose account is cooling down after a FLOOD_WAIT. */
export class FloodCooldownError extends Error {
  override readonly name = 'FloodCooldownError';
  constructor(
    readonly account: string,
    /** Real milliseconds until the account may call Telegram again. */
    readonly remainingMs: number,
  ) {
    super(`account ${account} is cooling down after a FLOOD_WAIT for another ${Math.ceil(remainingMs)} ms`);
  }
}

/** A task module that cannot run: not found, not loadable, or without a function as its default export. */
export class TaskModuleError extends Error {
  override readonly name = 'TaskModuleError';
}
