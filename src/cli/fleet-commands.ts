import type { Command } from 'commander';
import type { FleetConfig } from '../config/config.js';

/** How the fleet commands reach the rest of the CLI: its config reader and its error handling. */
export interface FleetCommandContext {
  readConfig(path: string | undefined): FleetConfig;
  guarded(action: () => Promise<number> | number): Promise<void>;
}

/** Exit code of a host stopped with Ctrl-C, as shells expect. */
const EXIT_INTERRUPTED = 130;

function parseArgs(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`--args must be JSON, e.g. '{"peers":["@durov"]}': ${(error as Error).message}`);
  }
}

/** `tgfleet host`, `tgfleet submit` and `tgfleet fleet status`. The fleet's modules (and pg) load only when one runs. */
export function registerFleetCommands(program: Command, context: FleetCommandContext): void {
  program
    .command('host')
    .description('run a fleet host: join the fleet in PostgreSQL (fleet.database_url) and serve a fair share of its shards until stopped')
    .option('-c, --config <path>', 'config file (default: $TGFLEET_CONFIG or ./config.yaml)')
    .option('--host-id <id>', 'override fleet.host_id')
    .action(async (options: { config?: string; hostId?: string }) =>
      context.guarded(async () => {
        const config = context.readConfig(options.config);
        const { FleetHost } = await import('../fleet/fleet-host.js');
        const host = await FleetHost.start({ config, ...(options.hostId !== undefined && { hostId: options.hostId }) });
        process.stderr.write(`tgfleet host ${host.hostId}: joined fleet ${config.fleet.schema} (${config.fleet.shards} shards); stop with SIGTERM or Ctrl-C\n`);
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGTERM', () => resolve('SIGTERM'));
          process.once('SIGINT', () => resolve('SIGINT'));
        });
        await host.stop();
        return signal === 'SIGINT' ? EXIT_INTERRUPTED : 0;
      }),
    );

  program
    .command('submit')
    .description("queue a task for an account on the fleet and print its result as JSON (waits until the account's host has run it)")
    .requiredOption('--account <phone>', 'the account, as the hosts know it')
    .option('--task <task>', 'an example task name or a task module path, as the hosts resolve it', 'channel-digest')
    .option('--args <json>', 'the task arguments, as JSON')
    .option('--id <taskId>', 'the task id: submitting again with the same id joins the first submission')
    .option('-c, --config <path>', 'config file (default: $TGFLEET_CONFIG or ./config.yaml)')
    .action(async (options: { account: string; task: string; args?: string; id?: string; config?: string }) =>
      context.guarded(async () => {
        const config = context.readConfig(options.config);
        const args = parseArgs(options.args);
        const { FleetClient } = await import('../fleet/fleet-client.js');
        const client = await FleetClient.connect({ config });
        try {
          const result = await client.submit({ account: options.account, task: options.task, args, ...(options.id !== undefined && { taskId: options.id }) });
          process.stdout.write(`${JSON.stringify(result ?? null)}\n`);
          return 0;
        } finally {
          await client.close();
        }
      }),
    );

  program
    .command('fleet')
    .description('look at a fleet of hosts')
    .command('status')
    .description('hosts, shards per host, accounts, queue depth and moves')
    .option('-c, --config <path>', 'config file (default: $TGFLEET_CONFIG or ./config.yaml)')
    .option('--json', 'print the status as JSON')
    .action(async (options: { config?: string; json?: boolean }) =>
      context.guarded(async () => {
        const config = context.readConfig(options.config);
        const { readFleetStatus, renderFleetStatus } = await import('../fleet/fleet-status.js');
        const status = await readFleetStatus(config);
        process.stdout.write(`${options.json ? JSON.stringify(status, null, 2) : renderFleetStatus(status)}\n`);
        return 0;
      }),
    );
}
