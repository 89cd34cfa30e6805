import type { FleetRuntime } from '../runtime/fleet-runtime.js';
import type { CacheStatsEvent, FloodCooldownEvent, TaskStartEvent } from '../telemetry/reporter.js';
import type { WorkloadTask } from './workload.js';

export interface JobProgress {
  done: number;
  failed: number;
  total: number;
  /** Entity lookups answered from the cache so far, and all entity lookups so far. */
  hits: number;
  lookups: number;
}

/** One finished task, in completion order. */
export interface TaskRecord {
  index: number;
  account: string;
  ok: boolean;
  hits: number;
  lookups: number;
}

/** Tasks that failed the same way: the same class, message and Telegram fields. */
export interface FailureGroup {
  name: string;
  /** The message, with the task's id and account written as <task> and <account>, so that tasks failing alike group. */
  message: string;
  code?: number | string;
  errorMessage?: string;
  seconds?: number;
  /** Whether the task failed only because another task crashed its worker. */
  collateral?: boolean;
  count: number;
}

export interface JobResult {
  tasks: number;
  /** Tasks that ran and succeeded. */
  done: number;
  /** Tasks that ran and failed. */
  failed: number;
  /** Tasks that never started: the run was stopped (a signal) while they were queued. */
  notRun: number;
  /** Failures by error name. */
  errors: Record<string, number>;
  /** Each distinct failure with its count, the most frequent first. */
  failures: FailureGroup[];
  hits: number;
  lookups: number;
  hitRate: number;
  /** Telegram calls by method; empty when the fleet is live (the runtime cannot see them). */
  calls: Record<string, number>;
  totalCalls: number | null;
  callsPerTask: number | null;
  floodWaits: number;
  /** Task attempts that ended in a FLOOD_WAIT and ran again after the cooldown. */
  retries: number;
  /** Telegram seconds of FLOOD_WAIT handed out. */
  floodSeconds: number;
  foreignHashRejections: number | null;
  wallMs: number;
  /** Tasks that ran (done or failed) per second of wall time. */
  tasksPerSecond: number;
  /** Telegram time the run covered: wall time divided by the simulator's time scale. */
  telegramSeconds: number;
  records: TaskRecord[];
}

export interface JobOptions {
  /** The task every workload item runs; it receives `{ peers }`. */
  task: string;
  onProgress?: (progress: JobProgress) => void;
  signal?: AbortSignal;
}

interface TaskResultShape {
  lookups?: unknown;
}

interface ErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  errorMessage?: unknown;
  seconds?: unknown;
  collateral?: unknown;
}

/** Replaces every occurrence of `literal` in `text`. */
function replaceAll(text: string, literal: string, placeholder: string): string {
  return text.split(literal).join(placeholder);
}

function failureOf(error: unknown, taskId: string, account: string): Omit<FailureGroup, 'count'> {
  const shape = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as ErrorShape;
  const name = typeof shape.name === 'string' && shape.name !== '' ? shape.name : 'Error';
  const message = replaceAll(replaceAll(typeof shape.message === 'string' ? shape.message : '', taskId, '<task>'), account, '<account>');
  return {
    name,
    message,
    ...((typeof shape.code === 'number' || typeof shape.code === 'string') && { code: shape.code }),
    ...(typeof shape.errorMessage === 'string' && { errorMessage: shape.errorMessage }),
    ...(typeof shape.seconds === 'number' && { seconds: shape.seconds }),
    ...(shape.collateral === true && { collateral: true }),
  };
}

/**
 * Runs a workload on a runtime: all tasks are submitted at once, in the workload's interleaved
 * order, and the scheduler runs them. What each task cost is read from the reporter's events and,
 * when the fleet is simulated, from the simulated Telegram's own counters.
 */
export async function runWorkload(runtime: FleetRuntime, workload: readonly WorkloadTask[], options: JobOptions): Promise<JobResult> {
  const simulator = runtime.simulator;
  simulator?.resetCounters();
  // A task retried after a FLOOD_WAIT reports stats once per attempt: its lookups add up.
  const statsByTask = new Map<string, { hits: number; misses: number }>();
  const onStats = (event: CacheStatsEvent): void => {
    const sum = statsByTask.get(event.taskId) ?? { hits: 0, misses: 0 };
    statsByTask.set(event.taskId, { hits: sum.hits + event.hits, misses: sum.misses + event.misses });
  };
  let retries = 0;
  const onRetry = (): void => void retries++;
  let floodWaits = 0;
  let floodSeconds = 0;
  const onFlood = (event: FloodCooldownEvent): void => {
    floodWaits++;
    floodSeconds += event.seconds;
  };
  runtime.reporter.on('cache:stats', onStats);
  runtime.reporter.on('flood:cooldown', onFlood);
  runtime.reporter.on('task:retry', onRetry);
  const started = new Set<string>();
  const onStart = (event: TaskStartEvent): void => void started.add(event.taskId);
  runtime.reporter.on('task:start', onStart);
  const failures = new Map<string, FailureGroup>();
  let notRun = 0;
  const records: TaskRecord[] = [];
  const errors: Record<string, number> = {};
  const progress: JobProgress = { done: 0, failed: 0, total: workload.length, hits: 0, lookups: 0 };
  const startedAt = performance.now();
  const runOne = async (item: WorkloadTask): Promise<void> => {
    const taskId = `w${item.index}`;
    let ok = true;
    let reportedLookups: number | undefined;
    try {
      const result = (await runtime.run({
        account: item.account,
        task: options.task,
        taskId,
        args: { peers: item.peers },
        ...(options.signal && { signal: options.signal }),
      })) as TaskResultShape | null;
      if (typeof result?.lookups === 'number') reportedLookups = result.lookups;
    } catch (error) {
      ok = false;
      if (!started.has(taskId)) {
        notRun++;
        return;
      }
      const failure = failureOf(error, taskId, item.account);
      errors[failure.name] = (errors[failure.name] ?? 0) + 1;
      const key = JSON.stringify(failure);
      const group = failures.get(key);
      if (group === undefined) failures.set(key, { ...failure, count: 1 });
      else group.count++;
    }
    const stats = statsByTask.get(`w${item.index}`);
    const hits = stats?.hits ?? 0;
    // A bare client never asks the cache: its lookups are the ones the task says it made.
    const lookups = stats !== undefined && stats.hits + stats.misses > 0 ? stats.hits + stats.misses : (reportedLookups ?? 0);
    records.push({ index: item.index, account: item.account, ok, hits, lookups });
    progress.done++;
    if (!ok) progress.failed++;
    progress.hits += hits;
    progress.lookups += lookups;
    options.onProgress?.({ ...progress });
  };
  try {
    // Tasks are submitted in the workload's order, but never more at once than the scheduler
    // queues (runtime.max_queue): a fleet of thousands of accounts has more tasks than that.
    let next = 0;
    const lanes = Math.min(workload.length, runtime.config.runtime.maxQueue);
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next < workload.length) await runOne(workload[next++] as WorkloadTask);
      }),
    );
  } finally {
    runtime.reporter.off('cache:stats', onStats);
    runtime.reporter.off('flood:cooldown', onFlood);
    runtime.reporter.off('task:retry', onRetry);
    runtime.reporter.off('task:start', onStart);
  }
  const wallMs = performance.now() - startedAt;
  const ran = workload.length - notRun;

  const calls: Record<string, number> = {};
  for (const methods of Object.values(simulator?.calls() ?? {})) {
    for (const [method, count] of Object.entries(methods)) calls[method] = (calls[method] ?? 0) + count;
  }
  if (simulator !== undefined) {
    // The simulator counts every FLOOD_WAIT it answered, including ones the runtime never had to wait out.
    const tallies = Object.values(simulator.floodWaits());
    floodWaits = tallies.reduce((sum, tally) => sum + tally.count, 0);
    floodSeconds = tallies.reduce((sum, tally) => sum + tally.seconds, 0);
  }
  const totalCalls = simulator === undefined ? null : Object.values(calls).reduce((sum, count) => sum + count, 0);
  return {
    tasks: workload.length,
    done: ran - progress.failed,
    failed: progress.failed,
    notRun,
    errors,
    failures: [...failures.values()].sort((a, b) => b.count - a.count),
    hits: progress.hits,
    lookups: progress.lookups,
    hitRate: progress.lookups === 0 ? 0 : progress.hits / progress.lookups,
    calls,
    totalCalls,
    callsPerTask: totalCalls === null ? null : totalCalls / Math.max(1, workload.length),
    floodWaits,
    retries,
    floodSeconds,
    foreignHashRejections: simulator?.foreignHashRejections() ?? null,
    wallMs,
    tasksPerSecond: ran / (wallMs / 1000),
    telegramSeconds: wallMs / 1000 / runtime.timeScale,
    records,
  };
}
