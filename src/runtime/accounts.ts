import { readFile } from 'node:fs/promises';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { AccountCredentials } from '../channel/protocol.js';
import type { AccountConfig, FleetConfig } from '../config/config.js';
import type { DcAddress } from '../telegram/live/dc-connection.js';
import { parseDcAddress } from '../telegram/live/dc-connection.js';
import type { LoopbackDc } from '../telegram/loopback/loopback-dc.js';
import { SimulatedTelegram } from '../telegram/simulated/simulated-telegram.js';
import { createWorld, usersForFleet, type World } from '../telegram/simulated/world.js';
import { loopbackFleet } from './loopback-accounts.js';

/** The accounts a runtime serves and, in simulated mode, the Telegram they talk to. */
export interface FleetAccounts {
  accounts: AccountCredentials[];
  /** Real seconds per Telegram second: 1 live, the simulator's scale when simulated. */
  timeScale: number;
  /**
   * Telegram time in milliseconds, the clock cache expiry runs on: wall time live, the
   * simulator's faster clock when simulated, so TTLs mean the same in both.
   */
  clock: () => number;
  simulator: SimulatedTelegram | undefined;
  /** The simulated world the workload draws peers from (simulated and loopback modes). */
  world: World | undefined;
  /** Where live clients connect instead of their session's data centre. */
  dcAddress: DcAddress | undefined;
  /** The in-process loopback data centre (loopback mode), with its faults and counters. */
  dc: LoopbackDc | undefined;
  /** One end of a new connection to the simulator, authenticated as the account. */
  openConnection(account: string): MessagePort;
  close(): Promise<void>;
}

/** Phone numbers of simulated accounts, in Telegram's reserved test range (99966XYYYY). */
export function simulatedPhones(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `+99966${String(10_000 + index + 1).padStart(5, '0')}`);
}

/** Builds the simulated Telegram a config describes. */
export function createSimulator(config: FleetConfig): SimulatedTelegram {
  const sim = config.telegram.simulated;
  const users = usersForFleet(sim.users, sim.channels, { ...config.workload, accounts: sim.accounts });
  return new SimulatedTelegram(createWorld({ seed: sim.seed, users, channels: sim.channels }), {
    latencyMs: sim.latencyMs,
    timeScale: sim.timeScale,
    resolveLimitPerMinute: sim.resolveLimitPerMinute,
  });
}

async function secret(account: AccountConfig, what: string, value: string | undefined, envName: string | undefined, file?: string): Promise<string> {
  if (value !== undefined) return value;
  if (envName !== undefined) {
    const fromEnv = process.env[envName];
    if (fromEnv === undefined || fromEnv === '') throw new Error(`account ${account.phone}: the environment variable ${envName} (its ${what}) is not set`);
    return fromEnv.trim();
  }
  if (file !== undefined) {
    try {
      return (await readFile(file, 'utf8')).trim();
    } catch (error) {
      throw new Error(`account ${account.phone}: cannot read its ${what} from ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  throw new Error(`account ${account.phone}: no ${what} configured`);
}

async function liveCredentials(account: AccountConfig): Promise<AccountCredentials> {
  return {
    phone: account.phone,
    apiId: account.apiId,
    apiHash: await secret(account, 'api_hash', account.apiHash, account.apiHashEnv),
    session: await secret(account, 'session string', undefined, account.sessionEnv, account.sessionFile),
  };
}

function noSimulatedConnection(): never {
  throw new Error('live and loopback accounts connect to Telegram themselves; there is no simulated connection');
}

export async function resolveAccounts(config: FleetConfig): Promise<FleetAccounts> {
  if (config.telegram.mode === 'loopback') {
    const fleet = await loopbackFleet(config, () => createSimulator(config), simulatedPhones(config.telegram.simulated.accounts));
    return { ...fleet, openConnection: noSimulatedConnection };
  }
  if (config.telegram.mode === 'live') {
    if (config.accounts.length === 0) throw new Error('telegram.mode is live but config.yaml lists no accounts: add them under accounts:, or use telegram.mode: simulated');
    const accounts = await Promise.all(config.accounts.map(liveCredentials));
    return {
      accounts,
      timeScale: 1,
      clock: Date.now,
      simulator: undefined,
      world: undefined,
      dcAddress: config.telegram.dcAddress === '' ? undefined : parseDcAddress(config.telegram.dcAddress),
      dc: undefined,
      openConnection: noSimulatedConnection,
      close: async () => {},
    };
  }
  const simulator = createSimulator(config);
  return {
    accounts: simulatedPhones(config.telegram.simulated.accounts).map((phone) => ({ phone })),
    timeScale: config.telegram.simulated.timeScale,
    clock: () => simulator.clock.now(),
    simulator,
    world: simulator.world,
    dcAddress: undefined,
    dc: undefined,
    openConnection(account) {
      const { port1, port2 } = new MessageChannel();
      simulator.serve(account, port1);
      return port2;
    },
    close: async () => simulator.close(),
  };
}
