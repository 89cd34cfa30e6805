#!/usr/bin/env node
import '../runtime/quiet-web-storage.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type FleetConfig, type LoadedConfig } from '../config/config.js';
import { checkTaskModule } from '../module-paths.js';
import { TaskModuleError } from '../task-errors.js';
import { METRICS_GROUPS, type MetricsGroupBy } from '../telemetry/metrics-groups.js';
import { registerDcCommand } from './dc-command.js';
import { registerFleetCommands } from './fleet-commands.js';
import { variantProgress } from './progress.js';

/**
 * Exit codes a shell user expects: 0 done, 1 the job failed, 2 what the user gave is wrong (the
 * command line, the config, a file or module it names), in every command alike.
 */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return parsed;
}

/** `--tenant name=+phone,+phone`, repeatable: the tenants so far, with this one added. */
function tenantFlag(value: string, tenants: Record<string, string[]>): Record<string, string[]> {
  const match = /^([^=]+)=(.+)$/.exec(value);
  if (match === null) throw new InvalidArgumentError('expected name=phone[,phone...], e.g. acme=+15550001111,+15550002222');
  const [, name, phones] = match as unknown as [string, string, string];
  return {
    ...tenants,
    [name]: [
      ...(tenants[name] ?? []),
      ...phones
        .split(',')
        .map((phone) => phone.trim())
        .filter((phone) => phone !== ''),
    ],
  };
}

/** A file or value the user named that cannot be used; exits 2 like a bad config. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The configured task module, loaded once here so that a missing one is a config error, not a failure of every task. */
async function checkWorkloadTask(config: FleetConfig): Promise<void> {
  try {
    await checkTaskModule(config.workload.task);
  } catch (error) {
    if (error instanceof TaskModuleError) throw new UsageError(`workload.task: ${error.message}`);
    throw error;
  }
}

function readConfig(path: string | undefined): LoadedConfig {
  const loaded = loadConfig(path);
  for (const warning of loaded.warnings) process.stderr.write(`warning: ${warning}\n`);
  return loaded;
}

/** Prints an expected failure as one clear line (no stack) and picks the exit code. */
function fail(error: unknown): number {
  if (error instanceof ConfigError || error instanceof UsageError) {
    process.stderr.write(`tgfleet: ${error.message}\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`tgfleet: ${error instanceof Error ? error.message : String(error)}\n`);
  return EXIT_FAILED;
}

async function guarded(action: () => Promise<number> | number): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (error) {
    process.exitCode = fail(error);
  }
}

const program = new Command('tgfleet')
  .description("Run many Telegram accounts' tasks in parallel on worker threads, with an account-isolated entity cache")
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) })
  .exitOverride((error) => {
    process.exit(error.exitCode === 0 ? 0 : EXIT_USAGE);
  });

/** The workload knobs both `run` and `bench` take, over the config file's values. */
interface WorkloadFlags {
  config?: string;
  tasksPerAccount?: number;
  accounts?: number;
  peersPerTask?: number;
  seed?: number;
}

function withWorkloadFlags(command: Command): Command {
  return command
    .option('-c, --config <path>', 'config file (default: $TGFLEET_CONFIG or ./config.yaml)')
    .option('--tasks-per-account <n>', 'override workload.tasks_per_account', positiveInt)
    .option('--peers-per-task <n>', 'override workload.peers_per_task', positiveInt)
    .option('--accounts <n>', 'override telegram.simulated.accounts', positiveInt)
    .option('--seed <n>', 'override workload.seed', positiveInt);
}

/** The config file, with the command line's workload flags applied over it. */
function workloadConfig(flags: WorkloadFlags): FleetConfig {
  const { config } = readConfig(flags.config);
  if (flags.tasksPerAccount !== undefined) config.workload.tasksPerAccount = flags.tasksPerAccount;
  if (flags.peersPerTask !== undefined) config.workload.peersPerTask = flags.peersPerTask;
  if (flags.accounts !== undefined) config.telegram.simulated.accounts = flags.accounts;
  if (flags.seed !== undefined) config.workload.seed = flags.seed;
  return config;
}

withWorkloadFlags(program.command('run'))
  .description('run the configured workload on the fleet and print a summary (the main job)')
  .addOption(new Option('--scope <scope>', 'override cache.scope').choices(['task', 'process']))
  .option('--no-cache', 'give tasks the bare GramJS client, to measure what the cache saves')
  .option('--no-progress', 'no progress bar')
  .option('--json', 'print the summary as JSON')
  .option('--tenant <name=phones>', 'put these accounts (comma-separated phones) in tenant <name>, over their tenant in the config; repeatable', tenantFlag, {})
  .action(async (options: WorkloadFlags & { scope?: 'task' | 'process'; cache: boolean; progress: boolean; json?: boolean; tenant: Record<string, string[]> }) =>
    guarded(async () => {
      const config = workloadConfig(options);
      if (options.scope !== undefined) config.cache.scope = options.scope;
      await checkWorkloadTask(config);
      // The runtime and GramJS load only for the commands that run tasks.
      const { runCommand } = await import('./run-command.js');
      return runCommand({ config, progress: options.progress, json: options.json ?? false, cache: options.cache, tenants: options.tenant });
    }),
  );

withWorkloadFlags(program.command('bench'))
  .description('run the cross-task hit-rate benchmark: bare GramJS, task scope, process scope, a small process cache, and the bounds')
  .option('--quick', 'a few tasks per account: checks the benchmark runs, not for figures')
  .option('--out <dir>', 'where the table, JSON and chart go', 'tgfleet-bench')
  .action(async (options: WorkloadFlags & { quick?: boolean; out: string }) =>
    guarded(async () => {
      const config = workloadConfig(options);
      const { runHitRateBenchmark, renderHitRateMarkdown } = await import('../benchmark/hit-rate.js');
      const progress = variantProgress(true);
      const report = await runHitRateBenchmark({ config, quick: options.quick ?? false, outDir: options.out, onVariant: progress.onVariant, onProgress: progress.onProgress }).finally(() =>
        progress.stop(),
      );
      process.stdout.write(`${renderHitRateMarkdown(report)}\n\nWrote hit-rate.md, hit-rate.json and hit-rate.svg to ${options.out}\n`);
      return 0;
    }),
  );

const configCommand = program.command('config').description('work with config.yaml');
configCommand
  .command('check [path]')
  .description('validate a config file: every bad value is named with what is allowed; unknown keys are warned about')
  .action(async (path: string | undefined) =>
    guarded(async () => {
      const loaded = readConfig(path);
      await checkWorkloadTask(loaded.config);
      const { cache, telegram, runtime } = loaded.config;
      process.stdout.write(`${loaded.source}: valid (scope ${cache.scope}, ${telegram.mode} Telegram, ${runtime.workers === 0 ? 'one worker per core' : `${runtime.workers} workers`})\n`);
      return 0;
    }),
  );

program
  .command('metrics')
  .description('summarise the per-task cache metrics file: hit rate and calls saved')
  .option('-c, --config <path>', 'config file, for metrics.sqlite (default: $TGFLEET_CONFIG or ./config.yaml)')
  .option('-f, --file <path>', 'the metrics file (default: metrics.sqlite from the config)')
  .addOption(new Option('--by <group>', 'group rows by').choices(METRICS_GROUPS).default('scope'))
  .action(async (options: { config?: string; file?: string; by: MetricsGroupBy }) =>
    guarded(async () => {
      const file = options.file ?? readConfig(options.config).config.metrics.sqlite;
      if (file === '') throw new UsageError('metrics.sqlite is empty in the config (metrics are off): pass --file');
      // The SQLite addon loads only for this command.
      const { MetricsFileError, renderMetricsSummary, summarizeMetrics } = await import('../telemetry/metrics-summary.js');
      try {
        process.stdout.write(`${renderMetricsSummary(summarizeMetrics(file, { groupBy: options.by }))}\n`);
      } catch (error) {
        if (error instanceof MetricsFileError) throw new UsageError(error.message);
        throw error;
      }
      return 0;
    }),
  );

registerFleetCommands(program, { readConfig: (path) => readConfig(path).config, guarded });
registerDcCommand(program, { readConfig: (path) => readConfig(path).config, guarded });

await program.parseAsync(process.argv);
