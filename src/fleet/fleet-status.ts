import pg from 'pg';
import type { FleetConfig } from '../config/config.js';
import { formatTable } from '../format/table.js';
import { simulatedPhones } from '../runtime/accounts.js';
import { connectionUrl } from '../config/postgres-url.js';
import { fleetNames } from './fleet-database.js';
import { databaseError, type QueueDepth } from './fleet-queue.js';
import { Membership } from './membership.js';
import { shardOf } from './shard-map.js';

export interface HostStatus {
  hostId: string;
  hostname: string;
  pid: number;
  heartbeatAgeMs: number;
  /** Whether its lock session is still open on the server. */
  connected: boolean;
  shards: number[];
  accounts: number;
}

export interface FleetStatus {
  schema: string;
  shards: number;
  accounts: number;
  hosts: HostStatus[];
  /** Shards no live session holds right now (moving, or no host is running). */
  unownedShards: number[];
  queue: QueueDepth;
  /** Shards that went from one host to another. */
  moves: number;
  lastMoves: { shard: number; from: string | null; to: string; at: Date; servingAfterMs: number | null }[];
}

/** The accounts the config describes: the listed live ones, or the simulated ones. */
function configuredAccounts(config: FleetConfig): string[] {
  return config.telegram.mode === 'live' ? config.accounts.map((account) => account.phone) : simulatedPhones(config.telegram.simulated.accounts);
}

/** Reads the fleet's state from PostgreSQL; changes nothing. */
export async function readFleetStatus(config: FleetConfig): Promise<FleetStatus> {
  const names = fleetNames(config.fleet.schema);
  const db = new pg.Pool({ connectionString: connectionUrl(config.fleet.databaseUrl), max: 2, application_name: 'tgfleet fleet status', connectionTimeoutMillis: 5000 });
  db.on('error', () => undefined);
  try {
    try {
      await db.query('SELECT 1');
    } catch (error) {
      throw databaseError(config.fleet, error);
    }
    const exists = await db.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [names.schema, 'fleet_host']);
    if (exists.rowCount === 0) throw new Error(`no fleet in schema ${names.schema} of ${config.fleet.databaseUrl}: start a host (tgfleet host) first, or check fleet.schema`);
    const membership = new Membership(db, names);
    const [rows, locked] = await Promise.all([membership.hosts(), membership.lockedShards()]);
    const alive = new Set((await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity')).rows.map((row) => row.pid));
    const accounts = configuredAccounts(config);
    const perShard = new Map<number, number>();
    for (const account of accounts) {
      const shard = shardOf(account, config.fleet.shards);
      perShard.set(shard, (perShard.get(shard) ?? 0) + 1);
    }
    const hosts = rows.map((row): HostStatus => {
      const shards = [...locked.entries()]
        .filter(([, pid]) => pid === row.backendPid)
        .map(([shard]) => shard)
        .sort((a, b) => a - b);
      return { ...row, connected: alive.has(row.backendPid), shards, accounts: shards.reduce((sum, shard) => sum + (perShard.get(shard) ?? 0), 0) };
    });
    const owned = new Set(hosts.flatMap((host) => host.shards));
    const depth = await db.query<{ state: string; count: string }>(`SELECT state, count(*) AS count FROM "${names.schema}".job WHERE name LIKE 'shard-%' GROUP BY state`).catch(() => ({ rows: [] }));
    const count = (state: string): number => Number(depth.rows.find((row) => row.state === state)?.count ?? 0);
    const moves = await db.query<{ count: string }>(`SELECT count(*) AS count FROM ${names.table('move')} WHERE from_host IS NOT NULL AND from_host <> to_host`);
    const last = await db.query<{ shard: number; from_host: string | null; to_host: string; locked_at: Date; serving_ms: number | null }>(
      `SELECT shard, from_host, to_host, locked_at, (extract(epoch FROM serving_at - locked_at) * 1000)::float8 AS serving_ms
       FROM ${names.table('move')} ORDER BY id DESC LIMIT 5`,
    );
    return {
      schema: names.schema,
      shards: config.fleet.shards,
      accounts: accounts.length,
      hosts,
      unownedShards: Array.from({ length: config.fleet.shards }, (_, shard) => shard).filter((shard) => !owned.has(shard)),
      queue: { queued: count('created') + count('retry'), active: count('active'), completed: count('completed'), failed: count('failed') + count('cancelled') },
      moves: Number(moves.rows[0]?.count ?? 0),
      lastMoves: last.rows.map((row) => ({ shard: row.shard, from: row.from_host, to: row.to_host, at: row.locked_at, servingAfterMs: row.serving_ms })),
    };
  } finally {
    await db.end().catch(() => undefined);
  }
}

function shardList(shards: readonly number[]): string {
  return shards.length <= 12 ? shards.join(',') : `${shards.slice(0, 12).join(',')},…`;
}

export function renderFleetStatus(status: FleetStatus): string {
  const hosts = formatTable(
    ['host', 'pid', 'heartbeat', 'shards', 'accounts', 'which shards'],
    status.hosts.map((host) => [host.hostId, host.pid, host.connected ? `${Math.round(host.heartbeatAgeMs)} ms ago` : 'gone', host.shards.length, host.accounts, shardList(host.shards)]),
  );
  const { queue } = status;
  const lines = [
    `fleet ${status.schema}: ${status.hosts.length} hosts, ${status.shards} shards (${status.unownedShards.length} unowned), ${status.accounts} accounts in this config`,
    '',
    hosts,
    '',
    `queue: ${queue.queued} queued, ${queue.active} running, ${queue.completed} completed, ${queue.failed} failed`,
    `moves: ${status.moves} shards changed hands`,
  ];
  for (const move of status.lastMoves) {
    lines.push(
      `  shard ${move.shard}: ${move.from ?? '(none)'} -> ${move.to} at ${move.at.toISOString()}${move.servingAfterMs === null ? ', not serving yet' : `, serving after ${Math.round(move.servingAfterMs)} ms`}`,
    );
  }
  return lines.join('\n');
}
