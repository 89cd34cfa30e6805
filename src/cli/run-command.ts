import type { FleetConfig } from '../config/config.js';
import { FleetRuntime } from '../runtime/fleet-runtime.js';
import { createLogger } from '../telemetry/logger.js';
import { logCacheMetrics, type LogCacheMetricsOptions } from '../telemetry/metrics-store.js';
import { FleetMetrics, startMetricsServer } from '../telemetry/prometheus.js';
import { runWorkload, type FailureGroup, type JobResult } from '../workload/fleet-job.js';
import { configuredUniverse, simulatedUniverse } from '../workload/universe.js';
import { generateWorkload } from '../workload/workload.js';
import { progressBar } from './progress.js';
import { formatTable, percent, type Cell } from '../format/table.js';

export interface RunCommandOptions {
  config: FleetConfig;
  progress: boolean;
  json: boolean;
  /** false runs the bare GramJS client, to see what the cache saves. */
  cache: boolean;
  /** Tenants by name with their accounts, over the config's (the --tenant flag). */
  tenants?: Record<string, string[]>;
}

export function renderSummary(config: FleetConfig, result: JobResult, cache: boolean): string {
  const scope = cache ? `${config.cache.scope} scope` : 'no cache (bare GramJS)';
  const rows: Cell[][] = [
    ['tasks', result.notRun === 0 ? `${result.tasks} (${result.failed} failed)` : `${result.tasks} (${result.done} done, ${result.failed} failed, ${result.notRun} not run)`],
    ['entity lookups', result.lookups],
    ['hit rate', percent(result.hitRate)],
    ['Telegram calls', result.totalCalls],
    ['calls per task', result.callsPerTask],
    ['FLOOD_WAITs', result.floodWaits],
    ['flood seconds', result.floodSeconds],
    ['tasks retried after a wait', result.retries],
    ['wall time', `${(result.wallMs / 1000).toFixed(2)} s`],
    ['tasks per second', result.tasksPerSecond],
  ];
  if (config.telegram.mode === 'simulated') rows.push(['Telegram time', `${Math.round(result.telegramSeconds)} s (simulated)`]);
  if (result.foreignHashRejections !== null) rows.push(['foreign access hashes', result.foreignHashRejections]);
  const lines = [`tgfleet run: ${config.workload.task} on ${config.telegram.mode} Telegram, ${scope}`, '', formatTable(['metric', 'value'], rows, { alignRight: [1] })];
  const methods = Object.entries(result.calls).sort(([, a], [, b]) => b - a);
  if (methods.length > 0) {
    lines.push(
      '',
      formatTable(
        ['Telegram method', 'calls', 'per task'],
        methods.map(([method, count]) => [method, count, count / Math.max(1, result.tasks)]),
      ),
    );
  }
  if (result.failures.length > 0)
    lines.push(
      '',
      formatTable(
        ['failed with', 'message', 'Telegram', 'tasks'],
        result.failures.map((failure) => [failure.name, failure.message, telegramFields(failure), failure.count]),
        { alignRight: [3] },
      ),
    );
  return lines.join('\n');
}

/** Telegram's own words for a failure, and whether it was another task's crash. */
function telegramFields(failure: FailureGroup): string {
  const fields = [
    failure.code !== undefined && `code ${failure.code}`,
    failure.errorMessage !== undefined && failure.errorMessage,
    failure.seconds !== undefined && `wait ${failure.seconds} s`,
    failure.collateral === true && 'collateral',
  ];
  return fields.filter((field): field is string => field !== false).join(', ');
}

/**
 * Counts each task's Telegram calls for the metrics file, from the simulated Telegram's per-account
 * counters. Exact only while an account runs one task at a time, so with more (or live accounts,
 * whose calls the runtime cannot see) the column stays empty.
 */
function callCounter(runtime: FleetRuntime, config: FleetConfig): Pick<LogCacheMetricsOptions, 'telegramCalls'> {
  const simulator = runtime.simulator;
  if (simulator === undefined || config.runtime.perAccountConcurrency !== 1) return {};
  const atStart = new Map<string, number>();
  runtime.reporter.on('task:start', (event) => void atStart.set(event.taskId, simulator.accountCalls(event.account)));
  return {
    telegramCalls: (stats) => {
      const start = atStart.get(stats.taskId);
      atStart.delete(stats.taskId);
      return start === undefined ? undefined : simulator.accountCalls(stats.account) - start;
    },
  };
}

/** The main job: the configured fleet runs the workload's tasks on worker threads. Returns the exit code. */
export async function runCommand(options: RunCommandOptions): Promise<number> {
  const { config } = options;
  const logger = createLogger({ level: config.logging.level, pretty: process.stderr.isTTY });
  const runtime = await FleetRuntime.start({ config, logger, entityCache: options.cache, ...(options.tenants !== undefined && { tenants: options.tenants }) });
  const metrics = config.metrics.sqlite === '' ? null : logCacheMetrics(runtime.reporter, { path: config.metrics.sqlite, logger, ...callCounter(runtime, config) });
  const fleetMetrics = config.metrics.prometheusPort > 0 ? new FleetMetrics(runtime, { logger }) : null;
  const prometheus = fleetMetrics === null ? null : await startMetricsServer(fleetMetrics, { port: config.metrics.prometheusPort, host: config.metrics.prometheusHost });
  if (prometheus !== null) logger.info({ url: prometheus.url }, 'serving Prometheus metrics');

  let signalled: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled = signal;
    logger.warn({ signal }, 'stopping: queued tasks are dropped, running ones get the grace period');
    void runtime.shutdown();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const accounts = runtime.accounts;
    const world = runtime.world;
    const universe = world === undefined ? configuredUniverse(config.workload) : simulatedUniverse(world, config.workload, accounts);
    const workload = generateWorkload(config.workload, accounts, universe);
    const bar = progressBar(config.workload.task, workload.length, options.progress);
    const result = await runWorkload(runtime, workload, { task: config.workload.task, onProgress: (progress) => bar.update(progress) });
    bar.stop();
    process.stdout.write(options.json ? `${JSON.stringify({ ...result, records: undefined }, null, 2)}\n` : `${renderSummary(config, result, options.cache)}\n`);
    if (signalled !== null) return signalled === 'SIGINT' ? 130 : 143;
    return result.failed > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runtime.shutdown();
    metrics?.close();
    fleetMetrics?.close();
    await prometheus?.close();
  }
}
