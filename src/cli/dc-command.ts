/**
 * `tgfleet dc`: the loopback data centre as a process of its own, for fleets of several processes.
 * It builds the simulated world from the config (seed and account count overridable), issues each
 * account a session, writes them to the sessions file that `telegram.mode: loopback` processes
 * join through, serves its status over HTTP, and runs until SIGINT or SIGTERM.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { type FleetConfig, type LoopbackFaultsConfig, parseConfig } from '../config/config.js';

/** How the command reaches the rest of the CLI: its config reader and its error handling. */
export interface DcCommandContext {
  readConfig(path: string | undefined): FleetConfig;
  guarded(action: () => Promise<number> | number): Promise<void>;
}

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) throw new InvalidArgumentError(`"${value}" is not a port: give 0 (any free port) to 65535`);
  return parsed;
}

function count(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 100_000) throw new InvalidArgumentError(`"${value}" is not an account count: give 1 to 100000`);
  return parsed;
}

function seed(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 0xffff_ffff) throw new InvalidArgumentError(`"${value}" is not a seed: give an integer from 0 to 4294967295`);
  return parsed;
}

interface FaultFlags {
  dropAfter?: string;
  dropProbability?: string;
  replyDelay?: string;
  stall?: string[];
  revoke?: string[];
  unregister?: string[];
  restartEvery?: string;
}

/**
 * The fault flags over the config's `telegram.loopback.faults`: each flag given replaces its key,
 * checked by the config's own schema, so a flag has the key's range and its error message.
 * --revoke and --unregister together replace both of the config's lists of refused accounts.
 */
export function faultsWithFlags(faults: LoopbackFaultsConfig, flags: FaultFlags): LoopbackFaultsConfig {
  const number = (value: string | undefined): number | string | undefined => (value === undefined || value.trim() === '' || Number.isNaN(Number(value)) ? value : Number(value));
  const raw: Record<string, unknown> = {
    drop_after_messages: number(flags.dropAfter),
    drop_probability: number(flags.dropProbability),
    reply_delay_ms: number(flags.replyDelay),
    stalled_accounts: flags.stall,
    revoked_accounts: flags.revoke,
    unregistered_accounts: flags.unregister,
    restart_every: number(flags.restartEvery),
  };
  const given = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined));
  const parsed = parseConfig({ telegram: { loopback: { faults: given } } }, 'the tgfleet dc flags').config.telegram.loopback.faults;
  const revoked = flags.revoke === undefined && flags.unregister === undefined ? faults.revokedAccounts : parsed.revokedAccounts;
  return {
    dropAfterMessages: flags.dropAfter === undefined ? faults.dropAfterMessages : parsed.dropAfterMessages,
    dropProbability: flags.dropProbability === undefined ? faults.dropProbability : parsed.dropProbability,
    replyDelayMs: flags.replyDelay === undefined ? faults.replyDelayMs : parsed.replyDelayMs,
    stalledAccounts: flags.stall === undefined ? faults.stalledAccounts : parsed.stalledAccounts,
    revokedAccounts: revoked,
    restartEveryMs: flags.restartEvery === undefined ? faults.restartEveryMs : parsed.restartEveryMs,
  };
}

/** `tgfleet dc`. The data centre's modules (and GramJS) load only when it runs. */
export function registerDcCommand(program: Command, context: DcCommandContext): void {
  program
    .command('dc')
    .description('run the loopback Telegram data centre as its own process, for fleets of several processes: writes the sessions it issues and serves its status')
    .option('-c, --config <path>', 'config file (default: $TGFLEET_CONFIG or ./config.yaml)')
    .option('--host <address>', 'loopback address to listen on', '127.0.0.1')
    .option('--port <n>', 'TCP port of the data centre, 0 for a free one (default: telegram.loopback.port)', port)
    .option('--seed <n>', 'seed of the simulated world (default: telegram.simulated.seed)', seed)
    .option('--accounts <n>', 'accounts to issue sessions to (default: telegram.simulated.accounts)', count)
    .option('--sessions <file>', 'where the issued sessions go (default: telegram.loopback.sessions_file)')
    .option('--status-port <n>', 'port of the HTTP status endpoint (GET / gives JSON), 0 for a free one', port, 0)
    .option('--drop-after <n>', 'drop a connection after this many messages, 0 never (telegram.loopback.faults.drop_after_messages)')
    .option('--drop-probability <p>', 'chance of dropping a connection at each message, 0-1 (…faults.drop_probability)')
    .option('--reply-delay <ms>', 'delay before each reply, 0-60000 ms (…faults.reply_delay_ms)')
    .option('--stall <phones...>', 'accounts whose requests are read and never answered (…faults.stalled_accounts)')
    .option('--revoke <phones...>', 'accounts answered SESSION_REVOKED (…faults.revoked_accounts)')
    .option('--unregister <phones...>', 'accounts answered AUTH_KEY_UNREGISTERED (…faults.unregistered_accounts)')
    .option('--restart-every <s>', 'restart the data centre this often, dropping every connection, 0-86400 s, 0 never (…faults.restart_every)')
    .action(async (flags: { config?: string; host: string; port?: number; seed?: number; accounts?: number; sessions?: string; statusPort: number } & FaultFlags) =>
      context.guarded(async () => {
        const config = context.readConfig(flags.config);
        config.telegram.loopback.faults = faultsWithFlags(config.telegram.loopback.faults, flags);
        if (flags.seed !== undefined) config.telegram.simulated.seed = flags.seed;
        if (flags.accounts !== undefined) config.telegram.simulated.accounts = flags.accounts;
        const sessionsFile = flags.sessions ?? config.telegram.loopback.sessionsFile;
        if (sessionsFile === '') throw new Error('tgfleet dc needs a file for the sessions it issues: pass --sessions <file> or set telegram.loopback.sessions_file');
        return dcCommand({ config, host: flags.host, port: flags.port ?? config.telegram.loopback.port, sessionsFile, statusPort: flags.statusPort });
      }),
    );
}

export interface DcCommandOptions {
  config: FleetConfig;
  host: string;
  /** TCP port of the data centre; 0 picks a free one. */
  port: number;
  /** Where the issued sessions go. */
  sessionsFile: string;
  /** Port of the status endpoint; 0 picks a free one. */
  statusPort: number;
}

/** What the command prints once it listens: one JSON line, so a parent process can read where it is. */
export interface DcStarted {
  host: string;
  port: number;
  accounts: number;
  sessions: string;
  status: string;
}

export async function dcCommand(options: DcCommandOptions): Promise<number> {
  const { config } = options;
  const [{ createSimulator, simulatedPhones }, { serveDcStatus }, { writeSessionsFile }, { LoopbackDc }] = await Promise.all([
    import('../runtime/accounts.js'),
    import('../telegram/loopback/dc-status.js'),
    import('../telegram/loopback/issued-sessions.js'),
    import('../telegram/loopback/loopback-dc.js'),
  ]);
  const simulator = createSimulator(config);
  const dc = await new LoopbackDc(simulator, { host: options.host, port: options.port, faults: config.telegram.loopback.faults }).start();
  const status = await serveDcStatus(dc, options.host, options.statusPort).catch(async (error: unknown) => {
    await dc.stop();
    throw error;
  });
  try {
    const { host, port } = dc.address;
    const accounts = await dc.provision(simulatedPhones(config.telegram.simulated.accounts));
    const world = simulator.world;
    await writeSessionsFile(options.sessionsFile, {
      host,
      port,
      world: { seed: world.seed, users: world.users.length, channels: world.channels.length, timeScale: simulator.clock.timeScale },
      accounts,
    });
    const started: DcStarted = { host, port, accounts: accounts.length, sessions: options.sessionsFile, status: status.url };
    process.stdout.write(`${JSON.stringify(started)}\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stderr.write(
      `tgfleet dc: ${signal}, stopping (${dc.counters.connections} connections, ${dc.counters.rpcCalls} calls, ${dc.counters.duplicateAuthKeys} AUTH_KEY_DUPLICATED, ${dc.counters.doubleConnections} double connections)\n`,
    );
    return 0;
  } finally {
    await status.close();
    await dc.stop();
    simulator.close();
  }
}
