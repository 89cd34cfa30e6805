/*
 * tgfleet's own errors about how a task ended, as a host sees them on the main thread and a task
 * sees them in its worker.
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
