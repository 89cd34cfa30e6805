import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseConfig, type FleetConfig } from '../../src/config/config.js';
import { connectionUrl } from '../../src/config/postgres-url.js';
import { FleetClient } from '../../src/fleet/fleet-client.js';
import { readFleetStatus, type FleetStatus } from '../../src/fleet/fleet-status.js';
import { shardOf } from '../../src/fleet/shard-map.js';
import { createSimulator, simulatedPhones } from '../../src/runtime/accounts.js';
import { writeSessionsFile } from '../../src/telegram/loopback/issued-sessions.js';
import { LoopbackDc } from '../../src/telegram/loopback/loopback-dc.js';
import type { FleetCallsArgs, FleetCallsResult } from '../fixtures/fleet-calls.js';
import type { HostCommand, HostMessage } from '../fixtures/fleet-host.js';
import { fixturePath } from './fixtures.js';

export const FLEET_DATABASE_URL = process.env.TGFLEET_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';

/**
 * Whether the test PostgreSQL answers; when it does not, the reason, in words a reader of the
 * test output understands at once.
 */
export async function fleetDatabaseProblem(): Promise<string | null> {
  const client = new pg.Client({ connectionString: connectionUrl(FLEET_DATABASE_URL), connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return `PostgreSQL at ${FLEET_DATABASE_URL} does not answer (${(error as Error).message}): the fleet tests need it (trust auth, database "test")`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Timings fast enough for tests yet loose enough for a loaded two-core machine (H < X, Y > X + D, G ≥ X + D). */
export const TEST_TIMINGS = {
  heartbeat_interval: 0.2,
  lock_timeout: 1.5,
  disconnect_timeout: 0.5,
  host_timeout: 3,
  takeover_grace: 2,
  rebalance_interval: 0.2,
  poll_interval: 0.5,
};

/**
 * For hosts that dial a data centre: their ping delay counts whole seconds and may take two thirds
 * of lock_timeout less a heartbeat (src/fleet/connection-lease.ts), so lock_timeout is longer.
 */
export const DIALLING_TIMINGS = { ...TEST_TIMINGS, lock_timeout: 2.4, host_timeout: 3.5, takeover_grace: 3 };

/** A fleet of its own for one test: a fresh schema (so parallel runs never meet), its raw config and the parsed one. */
export interface TestFleet {
  raw: Record<string, unknown>;
  config: FleetConfig;
  schema: string;
  drop(): Promise<void>;
}

export function testFleet(options: { shards?: number; accounts?: number; fleet?: Record<string, unknown>; runtime?: Record<string, unknown>; telegram?: Record<string, unknown> } = {}): TestFleet {
  const schema = `fleet_t${randomBytes(5).toString('hex')}`;
  const raw = {
    logging: { level: 'warn' },
    runtime: { workers: 1, shutdown_grace: 1, ...options.runtime },
    telegram: { mode: 'simulated', simulated: { accounts: options.accounts ?? 12, latency_ms: 0, users: 200, channels: 40 }, ...options.telegram },
    fleet: { database_url: FLEET_DATABASE_URL, schema, shards: options.shards ?? 6, ...TEST_TIMINGS, ...options.fleet },
  };
  const config = parseConfig(raw, 'test fleet').config;
  return {
    raw,
    config,
    schema,
    async drop() {
      const pool = new pg.Pool({ connectionString: connectionUrl(config.fleet.databaseUrl), max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await pool.end();
    },
  };
}

/** Polls `read` until `accept` holds for what it returned, and returns that. The test's timeout bounds the wait. */
export async function until<T>(read: () => Promise<T>, accept: (value: T) => boolean, intervalMs = 100): Promise<T> {
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Polls the fleet's status (what `tgfleet fleet status` shows) until `accept` holds. */
export function untilStatus(fleet: TestFleet, accept: (status: FleetStatus) => boolean): Promise<FleetStatus> {
  return until(() => readFleetStatus(fleet.config), accept);
}

/** A fleet host running in a child process (test/fixtures/fleet-host.ts). */
export class HostProcess {
  readonly messages: HostMessage[] = [];
  private readonly listeners = new Set<() => void>();
  readonly exited: Promise<number | null>;

  private constructor(
    readonly hostId: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (message: HostMessage) => {
      this.messages.push(message);
      for (const listener of [...this.listeners]) listener();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(fleet: TestFleet, hostId: string): Promise<HostProcess> {
    const child = fork(fixturePath('fleet-host'), [], {
      env: { ...process.env, TGFLEET_TEST_FLEET_CONFIG: JSON.stringify(fleet.raw), TGFLEET_TEST_HOST_ID: hostId },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const host = new HostProcess(hostId, child);
    await Promise.race([
      host.next((message) => message.type === 'ready'),
      host.exited.then((code) => {
        throw new Error(`host ${hostId} exited with code ${code} before it joined the fleet`);
      }),
    ]);
    return host;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The first message (already received or yet to come) that `match` accepts. */
  next(match: (message: HostMessage) => boolean): Promise<HostMessage> {
    const found = this.messages.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => {
      const check = (): void => {
        const message = this.messages.find(match);
        if (message === undefined) return;
        this.listeners.delete(check);
        resolve(message);
      };
      this.listeners.add(check);
    });
  }

  /** The times the host sent each account's requests to Telegram. */
  async calls(): Promise<Record<string, number[]>> {
    const seen = this.messages.length;
    this.send({ type: 'calls' });
    const reply = await this.next((message) => message.type === 'calls' && this.messages.indexOf(message) >= seen);
    return reply.type === 'calls' ? reply.calls : {};
  }

  /** Leaves the fleet cleanly and waits for the process to end. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.send({ type: 'stop' });
    await this.exited;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  private send(command: HostCommand): void {
    this.child.send(command);
  }
}

/** Reads the fleet's own tables directly, for what a test checks beyond the status. */
export class FleetTables {
  private readonly pool: pg.Pool;

  constructor(private readonly fleet: TestFleet) {
    this.pool = new pg.Pool({ connectionString: connectionUrl(fleet.config.fleet.databaseUrl), max: 2 });
    this.pool.on('error', () => undefined);
  }

  get db(): pg.Pool {
    return this.pool;
  }

  async completions(): Promise<{ taskId: string; attempt: number; hostId: string; account: string }[]> {
    const result = await this.pool.query<{ task_id: string; attempt: number; host_id: string; account: string }>(
      `SELECT task_id, attempt, host_id, account FROM "${this.fleet.schema}".fleet_completion ORDER BY completed_at`,
    );
    return result.rows.map((row) => ({ taskId: row.task_id, attempt: row.attempt, hostId: row.host_id, account: row.account }));
  }

  async completedBy(hostId: string): Promise<number> {
    const result = await this.pool.query<{ count: string }>(`SELECT count(*) AS count FROM "${this.fleet.schema}".fleet_completion WHERE host_id = $1`, [hostId]);
    return Number(result.rows[0]?.count ?? 0);
  }

  /** Every move, oldest first, with wall-clock ms. */
  async moves(): Promise<{ shard: number; from: string | null; to: string; lockedAt: number; servingAt: number | null }[]> {
    const result = await this.pool.query<{ shard: number; from_host: string | null; to_host: string; locked_at: Date; serving_at: Date | null }>(
      `SELECT shard, from_host, to_host, locked_at, serving_at FROM "${this.fleet.schema}".fleet_move ORDER BY id`,
    );
    return result.rows.map((row) => ({ shard: row.shard, from: row.from_host, to: row.to_host, lockedAt: row.locked_at.getTime(), servingAt: row.serving_at?.getTime() ?? null }));
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * The start of every failover test: two hosts sharing the shards evenly, a producer, and, with
 * `dataCentre`, a loopback data centre in this process that both hosts dial over TCP (so what it
 * counts is what Telegram would see); without, each host runs the simulated Telegram inside.
 */
export class TwoHostFleet {
  private constructor(
    readonly fleet: TestFleet,
    readonly tables: FleetTables,
    readonly a: HostProcess,
    readonly b: HostProcess,
    readonly client: FleetClient,
    readonly dc: LoopbackDc | undefined,
    private readonly cleanup: () => Promise<void>,
  ) {}

  static async start(options: { accounts: number; shards: number; dataCentre?: boolean }): Promise<TwoHostFleet> {
    const dir = mkdtempSync(join(tmpdir(), 'tgfleet-two-hosts-'));
    const sessionsFile = join(dir, 'sessions.json');
    const fleet = testFleet({
      accounts: options.accounts,
      shards: options.shards,
      ...(options.dataCentre === true && {
        telegram: { mode: 'loopback', loopback: { sessions_file: sessionsFile }, simulated: { accounts: options.accounts, latency_ms: 0, users: 200, channels: 40 } },
        fleet: DIALLING_TIMINGS,
      }),
    });
    let dc: LoopbackDc | undefined;
    if (options.dataCentre === true) {
      const simulator = createSimulator(fleet.config);
      dc = await new LoopbackDc(simulator).start();
      const world = simulator.world;
      await writeSessionsFile(sessionsFile, {
        ...dc.address,
        world: { seed: world.seed, users: world.users.length, channels: world.channels.length, timeScale: simulator.clock.timeScale },
        accounts: await dc.provision(simulatedPhones(options.accounts)),
      });
    }
    const tables = new FleetTables(fleet);
    const started: HostProcess[] = [];
    const cleanup = async (): Promise<void> => {
      for (const host of started) host.kill('SIGCONT');
      await Promise.all(started.map((host) => host.stop()));
      await tables.close();
      await fleet.drop();
      await dc?.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      started.push(await HostProcess.start(fleet, 'host-a'));
      started.push(await HostProcess.start(fleet, 'host-b'));
      const half = options.shards / 2;
      await untilStatus(fleet, (status) => status.unownedShards.length === 0 && status.hosts.every((host) => host.shards.length === half));
      const client = await FleetClient.connect({ config: fleet.config });
      return new TwoHostFleet(fleet, tables, started[0]!, started[1]!, client, dc, cleanup);
    } catch (error) {
      await cleanup();
      throw error;
    }
  }

  get accounts(): string[] {
    return simulatedPhones(this.fleet.config.telegram.simulated.accounts);
  }

  /** The accounts of the shards a host serves now, as the fleet's status shows them. */
  async accountsOf(host: HostProcess): Promise<string[]> {
    const status = await readFleetStatus(this.fleet.config);
    const shards = new Set(status.hosts.find((row) => row.hostId === host.hostId)?.shards ?? []);
    return this.accounts.filter((account) => shards.has(shardOf(account, this.fleet.config.fleet.shards)));
  }

  /** `rounds` tasks per account, submitted round by round, so each account's seq runs 0, 1, … */
  submitRounds(rounds: number, args: Omit<FleetCallsArgs, 'seq'>): Promise<FleetCallsResult>[] {
    const results: Promise<FleetCallsResult>[] = [];
    for (let seq = 0; seq < rounds; seq++) {
      for (const account of this.accounts) results.push(this.client.submit<FleetCallsResult, FleetCallsArgs>({ account, task: fixturePath('fleet-calls'), args: { ...args, seq } }));
    }
    return results;
  }

  /** Waits until the host has completed at least `count` tasks: it is mid-run, holding the rest. */
  untilCompletedBy(host: HostProcess, count: number): Promise<number> {
    return until(
      () => this.tables.completedBy(host.hostId),
      (completed) => completed >= count,
    );
  }

  /** Waits until `host` alone serves every shard, with no move still waiting out its grace. */
  untilAlone(host: HostProcess): Promise<FleetStatus> {
    return untilStatus(
      this.fleet,
      (status) =>
        status.hosts.length === 1 && status.hosts[0]?.hostId === host.hostId && status.hosts[0].shards.length === status.shards && status.lastMoves.every((move) => move.servingAfterMs !== null),
    );
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
    await this.cleanup();
  }
}

export { completedTwice, orderViolations } from '../../bench/fleet-checks.js';
