import type { FleetRuntime } from '../runtime/fleet-runtime.js';
import type { CacheStatsEvent, FloodCooldownEvent } from '../runtime/reporter.js';
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

export interface JobResult {
  tasks: number;
  failed: number;
  /** Failures by error name. */
  errors: Record<string, number>;
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
  const records: TaskRecord[] = [];
  const errors: Record<string, number> = {};
  const progress: JobProgress = { done: 0, failed: 0, total: workload.length, hits: 0, lookups: 0 };
  const started = performance.now();
  try {
    await Promise.all(
      workload.map(async (item) => {
        let ok = true;
        let reportedLookups: number | undefined;
        try {
          const result = (await runtime.run({
            account: item.account,
            task: options.task,
            taskId: `w${item.index}`,
            args: { peers: item.peers },
            ...(options.signal && { signal: options.signal }),
          })) as TaskResultShape | null;
          if (typeof result?.lookups === 'number') reportedLookups = result.lookups;
        } catch (error) {
          ok = false;
          const name = (error as Error).name || 'Error';
          errors[name] = (errors[name] ?? 0) + 1;
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
      }),
    );
  } finally {
    runtime.reporter.off('cache:stats', onStats);
    runtime.reporter.off('flood:cooldown', onFlood);
    runtime.reporter.off('task:retry', onRetry);
  }
  const wallMs = performance.now() - started;

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
    failed: progress.failed,
    errors,
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
    tasksPerSecond: workload.length / (wallMs / 1000),
    telegramSeconds: wallMs / 1000 / runtime.timeScale,
    records,
  };
}
