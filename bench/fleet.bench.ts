/*
 * The failover benchmark of a fleet of hosts (docs/FLEET.md): `npm run bench:fleet`.
 *
 * Host processes (`tgfleet host`), a producer (this process, through FleetClient) and PostgreSQL
 * on this machine. Part 1 measures throughput with 1, 2 and 3 hosts on latency-bound tasks (their
 * time is spent waiting on Telegram's replies; each host runs at most fleet.max_in_flight at once).
 * Part 2 runs a steady stream of tasks for 300 accounts while hosts start staggered, one is killed
 * (SIGKILL), another frozen (SIGSTOP) past host_timeout, and a fourth joins; it ends with one line.
 *
 * In part 1, Telegram is the simulated one inside each host, with a reply delay. In part 2, it is
 * one loopback data centre (`tgfleet dc`, its own process) that every host dials over TCP with
 * MTProto; double connections are what that data centre counted (two sessions of one account
 * connected at once), read from its status endpoint. The hosts share one cache store in
 * PostgreSQL, so a moved account's cache follows it.
 *
 * BENCH_QUICK=1 runs it small and fast (24 accounts, 4 shards, one throughput run per size, the
 * tests' tighter fleet timings): the figures are not for comparison, but every part runs, which is
 * what the smoke test (test/fleet-bench-smoke.test.ts) checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseConfig, type FleetConfig } from '../src/config/config.js';
import { FleetClient } from '../src/fleet/fleet-client.js';
import { connectionUrl } from '../src/config/postgres-url.js';
import { fleetNames } from '../src/fleet/fleet-database.js';
import { readFleetStatus, type FleetStatus } from '../src/fleet/fleet-status.js';
import { createSimulator, simulatedPhones } from '../src/runtime/accounts.js';
import type { DcStarted } from '../src/cli/dc-command.js';
import type { DcStatus } from '../src/telegram/loopback/dc-status.js';
import { quickFromEnv, repositoryRoot } from './bench-env.js';
import { completedTwice, orderViolations } from './fleet-checks.js';
import type { FleetBenchArgs, FleetBenchResult } from './fleet-task.js';

const DATABASE_URL = process.env.TGFLEET_BENCH_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';
const QUICK = quickFromEnv();
const ACCOUNTS = QUICK ? 24 : 300;
const SHARDS = QUICK ? 4 : 32;
/** Tighter than the defaults, so the quick run's takeovers wait less (H < X, Y > X + D, G ≥ X + D, ping delay 1 s). */
const QUICK_TIMINGS = { heartbeat_interval: 0.2, lock_timeout: 2.4, disconnect_timeout: 0.5, host_timeout: 3.5, takeover_grace: 3, rebalance_interval: 0.2 };
const RUNS = QUICK ? 1 : 3;
/** Tasks the producer submits every 100 ms in the failover run. */
const SUBMIT_PER_TICK = QUICK ? 2 : 3;
/** Completions the fleet makes in a new shape before the run goes on to the next step. */
const SETTLE_COMPLETIONS = QUICK ? 40 : 300;
/** Telegram's reply delay in real ms: latency_ms is in simulated ms, which run at time_scale. */
const REPLY_MS = 50;
const TIME_SCALE = 0.01;
const MAX_IN_FLIGHT = 8;
const root = repositoryRoot();
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const task = join(root, 'dist', 'bench', 'fleet-task.js');
const dir = mkdtempSync(join(tmpdir(), 'tgfleet-bench-fleet-'));

const now = (): number => Date.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string): void => void process.stdout.write(`${line}\n`);

const cacheTable = (schema: string): string => `${schema}_cache`;

interface Fleet {
  config: FleetConfig;
  file: string;
  schema: string;
}

/** A fleet's config; with `sessionsFile`, its hosts dial the loopback data centre that wrote it. */
function makeFleet(label: string, sessionsFile?: string): Fleet {
  const schema = `fleet_bench_${label}_${process.pid}`;
  const simulated = { accounts: ACCOUNTS, latency_ms: REPLY_MS / TIME_SCALE, time_scale: TIME_SCALE, users: 400, channels: 40 };
  const raw = {
    logging: { level: 'error' },
    // A short write interval: a killed host loses at most that much of what its accounts learnt.
    cache: { scope: 'process', store: { driver: 'postgres', postgres: { url: DATABASE_URL, table: cacheTable(schema) }, write_interval: 0.2 } },
    runtime: { workers: 1, tasks_per_worker: MAX_IN_FLIGHT, shutdown_grace: 2 },
    telegram: sessionsFile === undefined ? { mode: 'simulated', simulated } : { mode: 'loopback', loopback: { sessions_file: sessionsFile }, simulated },
    fleet: { database_url: DATABASE_URL, schema, shards: SHARDS, max_in_flight: MAX_IN_FLIGHT, poll_interval: 1, ...(QUICK && QUICK_TIMINGS) },
  };
  const file = join(dir, `${label}.yaml`);
  writeFileSync(file, JSON.stringify(raw));
  return { config: parseConfig(raw, file).config, file, schema };
}

class Host {
  readonly process: ChildProcess;
  readonly exited: Promise<void>;

  constructor(
    readonly id: string,
    fleet: Fleet,
  ) {
    this.process = spawn(process.execPath, [cli, 'host', '--config', fleet.file, '--host-id', id], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.exited = new Promise((resolve) => this.process.once('exit', () => resolve()));
  }

  signal(signal: NodeJS.Signals): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
  }

  async stop(): Promise<void> {
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    await this.exited;
  }
}

/** `tgfleet dc` in a process of its own, on the fleet's simulated world, until stopped. */
class DataCentre {
  private constructor(
    readonly process: ChildProcess,
    readonly started: DcStarted,
  ) {}

  static async start(fleet: Fleet, sessionsFile: string): Promise<DataCentre> {
    const child = spawn(process.execPath, [cli, 'dc', '--config', fleet.file, '--sessions', sessionsFile, '--status-port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    // A benchmark that fails half-way leaves no data centre behind.
    process.once('exit', () => child.kill('SIGKILL'));
    const [line] = (await Promise.race([
      once(child.stdout!, 'data'),
      once(child, 'exit').then(([code]) => {
        throw new Error(`tgfleet dc exited with code ${code} before it listened`);
      }),
    ])) as [Buffer];
    return new DataCentre(child, JSON.parse(line.toString('utf8').split('\n')[0]!) as DcStarted);
  }

  async status(): Promise<DcStatus> {
    return (await (await fetch(this.started.status)).json()) as DcStatus;
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null) return;
    this.process.kill('SIGTERM');
    await once(this.process, 'exit');
  }
}

async function until(fleet: Fleet, accept: (status: FleetStatus) => boolean): Promise<FleetStatus> {
  for (;;) {
    const status = await readFleetStatus(fleet.config).catch(() => null);
    if (status !== null && accept(status)) return status;
    await sleep(200);
  }
}

/** Every shard served, by exactly these hosts, in even shares, and no move still waiting out its grace. */
const balanced =
  (ids: readonly string[]) =>
  (status: FleetStatus): boolean =>
    status.unownedShards.length === 0 &&
    status.hosts.length === ids.length &&
    status.hosts.every((host) => ids.includes(host.hostId) && Math.abs(host.shards.length - SHARDS / ids.length) < 1) &&
    status.lastMoves.every((move) => move.servingAfterMs !== null);

function stats(values: readonly number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0] ?? NaN, median: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
}

async function dropFleet(db: pg.Pool, fleet: Fleet): Promise<void> {
  await db.query(`DROP SCHEMA IF EXISTS "${fleet.schema}" CASCADE`);
  await db.query(`DROP TABLE IF EXISTS "${cacheTable(fleet.schema)}"`);
}

/** Part 1: the same batch of latency-bound tasks, one per account, on 1, 2 and 3 hosts. */
async function throughput(db: pg.Pool): Promise<number[]> {
  const fleet = makeFleet('scale');
  const hosts: Host[] = [];
  const medians: number[] = [];
  const accounts = simulatedPhones(ACCOUNTS);
  const batch = QUICK ? 24 : 240;
  let seq = 0;
  const client = await FleetClient.connect({ config: fleet.config });
  try {
    for (let size = 1; size <= 3; size++) {
      hosts.push(new Host(`scale-${size}`, fleet));
      await until(fleet, balanced(hosts.map((host) => host.id)));
      const rates: number[] = [];
      for (let rep = 0; rep < RUNS; rep++) {
        const started = now();
        await Promise.all(accounts.slice(0, batch).map((account) => client.submit<FleetBenchResult, FleetBenchArgs>({ account, task, args: { seq: seq++, peers: [], calls: 4 } })));
        rates.push(batch / ((now() - started) / 1000));
      }
      const { min, median, max } = stats(rates);
      medians.push(median);
      log(
        `throughput, ${size} host${size > 1 ? 's' : ''}: ${median.toFixed(1)} tasks/s (min ${min.toFixed(1)}, max ${max.toFixed(1)}; ${batch} tasks of 4 calls × ${REPLY_MS} ms, ${MAX_IN_FLIGHT} in flight per host, ${RUNS} run${RUNS > 1 ? 's' : ''})`,
      );
    }
  } finally {
    await client.close();
    await Promise.all(hosts.map((host) => host.stop()));
    await dropFleet(db, fleet);
  }
  log(`throughput, 3 hosts / 1 host: ${(medians[2]! / medians[0]!).toFixed(2)}×`);
  return medians;
}

/** Part 2: a steady stream of tasks through joins, a kill, a freeze and a late join. */
async function failover(db: pg.Pool): Promise<string> {
  const sessionsFile = join(dir, 'dc-sessions.json');
  const fleet = makeFleet('failover', sessionsFile);
  const dc = await DataCentre.start(fleet, sessionsFile);
  const accounts = simulatedPhones(ACCOUNTS);
  const world = createSimulator(fleet.config).world;
  const stable = world.users.filter((user) => !user.usernameChanges && world.deactivatedAt(user.id) === undefined).map((user) => user.baseUsername);
  const peersOf = (index: number): string[] => [0, 1, 2, 3].map((k) => stable[(index * 7 + k * 13) % stable.length]!);

  const hosts = new Map<string, Host>();
  const start = (id: string): void => void hosts.set(id, new Host(id, fleet));
  const client = await FleetClient.connect({ config: fleet.config });
  const results: Promise<FleetBenchResult>[] = [];
  let producing = true;
  const producer = (async () => {
    let next = 0;
    const perAccount = new Map<string, number>();
    while (producing) {
      for (let k = 0; k < SUBMIT_PER_TICK; k++) {
        const index = next++ % ACCOUNTS;
        const account = accounts[index]!;
        const seq = perAccount.get(account) ?? 0;
        perAccount.set(account, seq + 1);
        const result = client.submit<FleetBenchResult, FleetBenchArgs>({ account, task, args: { seq, peers: peersOf(index), calls: 2 } });
        // Counted at the end; a task that fails early must not end the run as an unhandled rejection.
        result.catch(() => undefined);
        results.push(result);
      }
      await sleep(100);
    }
  })();

  // Each step waits for the fleet to reach the state the last one leads to, as status shows it.
  const step = async (what: string, accept: (status: FleetStatus) => boolean): Promise<void> => {
    const status = await until(fleet, accept);
    log(`  ${((now() - t0) / 1000).toFixed(1)} s: ${what}: ${status.hosts.map((host) => `${host.hostId} ${host.shards.length}`).join(', ')} shards; ${status.queue.queued} queued`);
  };
  const t0 = now();
  start('h1');
  await step('h1 serves every shard', (status) => status.hosts.length === 1 && status.unownedShards.length === 0);
  start('h2');
  await step('h2 joined', balanced(['h1', 'h2']));
  const names = fleetNames(fleet.schema);
  /** Waits until the host has completed some tasks since `since`: it is serving in the new shape, mid-run. */
  const busy = async (hostId: string, since: number): Promise<void> => {
    const done = async (): Promise<number> =>
      Number(
        (await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${names.table('completion')} WHERE host_id = $1 AND completed_at >= to_timestamp($2 / 1000.0)`, [hostId, since])).rows[0]?.n ?? 0,
      );
    while ((await done()) < SETTLE_COMPLETIONS / 3) await sleep(200);
  };
  start('h3');
  await step('h3 joined', balanced(['h1', 'h2', 'h3']));
  await busy('h1', now());
  hosts.get('h1')!.signal('SIGKILL');
  const killedAt = now();
  await step('h1 killed, its shards taken', balanced(['h2', 'h3']));
  hosts.get('h2')!.signal('SIGSTOP');
  const frozenAt = now();
  await step('h2 frozen, its shards taken', balanced(['h3']));
  hosts.get('h2')!.signal('SIGCONT');
  const wokeAt = now();
  start('h4');
  await step('h2 woke and rejoined, h4 joined', balanced(['h2', 'h3', 'h4']));
  await busy('h4', now());
  producing = false;
  await producer;

  // A task that has not ended a minute after the last submission is counted as lost.
  const ended: (FleetBenchResult | Error)[] = [];
  const all = Promise.all(
    results.map((result) =>
      result.then(
        (value) => void ended.push(value),
        (error: Error) => void ended.push(error),
      ),
    ),
  );
  let deadline: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((resolve) => (deadline = setTimeout(resolve, 60_000)))]);
  // Not left pending: it would hold the process a minute after the run.
  clearTimeout(deadline);
  const done = ended.filter((value): value is FleetBenchResult => !(value instanceof Error));
  const errors = ended.filter((value): value is Error => value instanceof Error).map(String);
  await client.close();
  const final = await readFleetStatus(fleet.config);

  const completions = (
    await db.query<{ task_id: string; host_id: string; account: string; cache_hits: number; cache_misses: number }>(
      `SELECT task_id, host_id, account, cache_hits, cache_misses FROM ${names.table('completion')} ORDER BY completed_at`,
    )
  ).rows;
  const moves = (await db.query<{ from_host: string | null; locked_at: Date; serving_at: Date | null }>(`SELECT from_host, locked_at, serving_at FROM ${names.table('move')}`)).rows;
  /** How long after `since` the last of the host's shards was served again, among moves locked before `before`. */
  const failoverOf = (host: string, since: number, before = Infinity): number =>
    Math.max(
      0,
      ...moves
        .filter((move) => move.from_host === host && move.locked_at.getTime() >= since && move.locked_at.getTime() < before)
        .map((move) => ((move.serving_at?.getTime() ?? now()) - since) / 1000),
    );
  const telegram = await dc.status();

  // The first task of an account on a host other than the one that ran its previous task.
  const lastHost = new Map<string, string>();
  let movedHits = 0;
  let movedLookups = 0;
  let steadyHits = 0;
  let steadyLookups = 0;
  for (const row of completions) {
    const previous = lastHost.get(row.account);
    lastHost.set(row.account, row.host_id);
    if (previous === undefined) continue;
    if (previous !== row.host_id) {
      movedHits += row.cache_hits;
      movedLookups += row.cache_hits + row.cache_misses;
    } else {
      steadyHits += row.cache_hits;
      steadyLookups += row.cache_hits + row.cache_misses;
    }
  }
  const pct = (hits: number, lookups: number): string => (lookups === 0 ? 'n/a' : `${((100 * hits) / lookups).toFixed(0)}`);

  await Promise.all([...hosts.values()].map((host) => host.stop()));
  await dc.stop();
  await dropFleet(db, fleet);

  log(`failover run: ${results.length} tasks over ${ACCOUNTS} accounts, ${SHARDS} shards; ${final.moves} moves; ${errors.length} rejected${errors[0] === undefined ? '' : ` (first: ${errors[0]})`}`);
  log(`killed host h1: shards served again after ${failoverOf('h1', killedAt).toFixed(1)} s (takeover grace ${fleet.config.fleet.takeoverGraceMs / 1000} s)`);
  log(`frozen host h2: shards served again after ${failoverOf('h2', frozenAt, wokeAt).toFixed(1)} s (host_timeout ${fleet.config.fleet.hostTimeoutMs / 1000} s + grace)`);
  log(
    `hit rate: ${pct(steadyHits, steadyLookups)}% for an account's task on the host that ran its previous one, ${pct(movedHits, movedLookups)}% for its first task after a move (${movedLookups} lookups; the hosts share a PostgreSQL cache store)`,
  );
  log(
    `data centre: ${telegram.counters.connections} connections, ${telegram.counters.rpcCalls} calls, ${telegram.counters.pingDisconnects} closed for want of pings (ping_delay_disconnect), ` +
      `${telegram.counters.duplicateAuthKeys} AUTH_KEY_DUPLICATED, ${telegram.counters.doubleConnections} double connections (two sessions of one account connected at once, as it counts them)`,
  );
  return (
    `hosts ${hosts.size}, tasks ${results.length}, lost ${results.length - done.length}, completed twice ${completedTwice(completions.map((row) => ({ taskId: row.task_id }))).length}, ` +
    `order violations ${orderViolations(done).length}, double connections ${telegram.counters.doubleConnections}, failover max ${failoverOf('h1', killedAt).toFixed(1)} s, hit rate after move ${pct(movedHits, movedLookups)}%`
  );
}

const db = new pg.Pool({ connectionString: connectionUrl(DATABASE_URL), max: 2 });
db.on('error', () => undefined);
try {
  await db.query('SELECT 1');
} catch (error) {
  process.stderr.write(`bench:fleet needs PostgreSQL at ${DATABASE_URL} (trust auth, database "test"): it does not answer (${(error as Error).message})\n`);
  process.exit(1);
}
try {
  await throughput(db);
  log(await failover(db));
} finally {
  await db.end();
  rmSync(dir, { recursive: true, force: true });
}
