import type { ClientBase, Pool } from 'pg';
import { fnv1a } from './shard-map.js';

/** The names one fleet uses in PostgreSQL, all derived from `fleet.schema` so two fleets never meet. */
export interface FleetNames {
  schema: string;
  /** The first key of every advisory lock this fleet takes; the shard is the second. */
  lockNamespace: number;
  /** NOTIFY channel a producer wakes a shard's owner on (payload: the shard). */
  wakeChannel: string;
  /** NOTIFY channel a host announces a finished task on (payload: the task id). */
  doneChannel: string;
  table(name: 'host' | 'shard' | 'move' | 'completion' | 'connection'): string;
  queue(shard: number): string;
}

/** The shard key the schema's own setup lock uses; shards are 0 and up. */
const SETUP_LOCK = -1;

export function fleetNames(schema: string): FleetNames {
  return {
    schema,
    // 31 bits: pg_locks shows the key as an oid, and a positive one reads the same there.
    lockNamespace: fnv1a(`tgfleet:${schema}`) & 0x7fffffff,
    wakeChannel: `${schema}_wake`,
    doneChannel: `${schema}_done`,
    table: (name) => `"${schema}".fleet_${name}`,
    queue: (shard) => `shard-${shard}`,
  };
}

/**
 * Creates the fleet's own tables (pg-boss makes its job tables itself). Hosts starting together
 * would race on CREATE TABLE, so creation runs under a transaction advisory lock.
 */
export async function ensureFleetTables(db: Pool, names: FleetNames): Promise<void> {
  await inTransaction(db, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [names.lockNamespace, SETUP_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${names.schema}"`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${names.table('host')} (
      host_id text PRIMARY KEY, hostname text NOT NULL, pid integer NOT NULL, backend_pid integer NOT NULL,
      started_at timestamptz NOT NULL DEFAULT clock_timestamp(), heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    // Who last served a shard, and whether it gave the shard up cleanly (then the next owner need not wait).
    await client.query(`CREATE TABLE IF NOT EXISTS ${names.table('shard')} (
      shard integer PRIMARY KEY, host_id text, released boolean NOT NULL DEFAULT true, since timestamptz NOT NULL DEFAULT clock_timestamp())`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${names.table('move')} (
      id bigserial PRIMARY KEY, shard integer NOT NULL, from_host text, to_host text NOT NULL,
      locked_at timestamptz NOT NULL DEFAULT clock_timestamp(), serving_at timestamptz)`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${names.table('completion')} (
      task_id uuid NOT NULL, attempt integer NOT NULL, host_id text NOT NULL, account text NOT NULL,
      completed_at timestamptz NOT NULL DEFAULT clock_timestamp(), cache_hits integer NOT NULL, cache_misses integer NOT NULL)`);
    await client.query(`CREATE INDEX IF NOT EXISTS fleet_completion_task ON ${names.table('completion')} (task_id)`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${names.table('connection')} (
      id bigserial PRIMARY KEY, account text NOT NULL, host_id text NOT NULL, opened_at timestamptz NOT NULL, closed_at timestamptz)`);
  });
}

/**
 * Runs `work` in a transaction on one pooled connection. The server may end the connection while
 * it is checked out (idle_in_transaction_session_timeout, after the host froze): the failed query
 * reports that, and the connection is thrown away rather than returned to the pool.
 */
export async function inTransaction<T>(db: Pool, work: (client: ClientBase) => Promise<T>): Promise<T> {
  const client = await db.connect();
  const reportedByTheQuery = (): void => undefined;
  client.on('error', reportedByTheQuery);
  let failed = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    failed = true;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', reportedByTheQuery);
    client.release(failed);
  }
}
