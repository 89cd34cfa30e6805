import pg from 'pg';
import PgBoss from 'pg-boss';
import type { SerializedError } from '../channel/remote-error.js';
import type { FleetHostsConfig } from '../config/config.js';
import { connectionUrl } from '../config/postgres-url.js';
import { ensureFleetTables, fleetNames, inTransaction, type FleetNames } from './fleet-database.js';

/** What a submitted task carries through the queue. */
export interface FleetJobData {
  account: string;
  task: string;
  args?: unknown;
}

/** The result a host stores with a finished task: the task's value, or its error. */
export type FleetOutcome = { ok: true; value: unknown } | { ok: false; error: SerializedError };

export interface FetchedJob {
  id: string;
  data: FleetJobData;
  /** Which run of the task this is: completing it is accepted only for this run. */
  attempt: number;
}

export interface FinishedJob {
  id: string;
  state: 'completed' | 'failed' | 'cancelled';
  output: unknown;
}

export interface QueueDepth {
  queued: number;
  active: number;
  completed: number;
  failed: number;
}

/** pg-boss expires a job active this long; a host that dies is noticed far sooner, by its lock. */
const ACTIVE_EXPIRY_SECONDS = 12 * 3600;

/** A clear line when PostgreSQL does not answer, instead of pg's bare ECONNREFUSED. */
export function databaseError(config: FleetHostsConfig, error: unknown): Error {
  const detail = error instanceof AggregateError ? error.errors.map((inner: Error) => inner.message).join('; ') || error.message : (error as Error).message;
  const where = config.databaseUrl.replace(/(:\/\/[^/@:]*:)[^/@]*@/, '$1[redacted]@');
  return new Error(`the fleet database ${where} does not answer or refused the fleet (fleet.database_url): ${detail}`, { cause: error });
}

/**
 * The fleet's durable task queue: one pg-boss queue per shard, so a shard's owner reads exactly its
 * accounts' tasks in submission order. pg-boss keeps the jobs, their retries and their results;
 * completion is this module's own statement, because it must be fenced by the shard's lock and
 * accepted only for the run that is current.
 */
export class FleetQueue {
  private constructor(
    readonly boss: PgBoss,
    readonly db: pg.Pool,
    readonly names: FleetNames,
    private readonly config: FleetHostsConfig,
  ) {}

  /** Connects, creates the fleet's tables and the shard queues that are missing. */
  static async open(config: FleetHostsConfig, options: { role: 'host' | 'client'; applicationName: string }): Promise<FleetQueue> {
    const names = fleetNames(config.schema);
    // A host frozen inside one of its transactions (a completion) would hold the job's row lock
    // until it wakes, and the next owner of its shards would wait on it (putting the frozen host's
    // tasks back deletes their rows). The server ends such a transaction after lock_timeout, when
    // the host's lease is over anyway. pg-boss's own statements run alone, never in an open transaction.
    const idle_in_transaction_session_timeout = config.lockTimeoutMs;
    const db = new pg.Pool({
      connectionString: connectionUrl(config.databaseUrl),
      max: 4,
      application_name: options.applicationName.slice(0, 63),
      connectionTimeoutMillis: 5000,
      idle_in_transaction_session_timeout,
    });
    db.on('error', () => undefined);
    const boss = new PgBoss({
      connectionString: connectionUrl(config.databaseUrl),
      schema: config.schema,
      max: 4,
      application_name: `${options.applicationName} (queue)`.slice(0, 63),
      // Only hosts run pg-boss's maintenance (expiry, archiving); producers just send and read.
      supervise: options.role === 'host',
      schedule: false,
    });
    boss.on('error', () => undefined);
    try {
      await db.query('SELECT 1');
      await ensureFleetTables(db, names);
      await boss.start();
      const existing = new Set((await boss.getQueues()).map((queue) => queue.name));
      for (let shard = 0; shard < config.shards; shard++) {
        const name = names.queue(shard);
        if (!existing.has(name)) await boss.createQueue(name, { name, policy: 'standard', retryLimit: config.retryLimit, retryDelay: 0, expireInSeconds: ACTIVE_EXPIRY_SECONDS });
      }
    } catch (error) {
      await boss.stop({ graceful: false, wait: false }).catch(() => undefined);
      await db.end().catch(() => undefined);
      throw databaseError(config, error);
    }
    return new FleetQueue(boss, db, names, config);
  }

  /** Queues a task; the same id queued twice stays one job. Wakes the shard's owner. */
  async send(shard: number, id: string, data: FleetJobData): Promise<void> {
    const queue = this.names.queue(shard);
    await this.boss.send(queue, data as unknown as object, { id, retryLimit: this.config.retryLimit, retryDelay: 0, expireInSeconds: ACTIVE_EXPIRY_SECONDS });
    await this.db.query('SELECT pg_notify($1, $2)', [this.names.wakeChannel, String(shard)]);
  }

  /**
   * The shard's next tasks in submission order (retried ones first: they were submitted earlier),
   * marked active as pg-boss's own fetch does. It is written here because pg-boss returns a batch
   * in whatever order the UPDATE produced it, which breaks an account's order within the batch.
   */
  async fetch(shard: number, batchSize: number): Promise<FetchedJob[]> {
    const job = `"${this.names.schema}".job`;
    const result = await this.db.query<{ id: string; data: FleetJobData; retry_count: number }>(
      `WITH next AS (
         SELECT id FROM ${job} WHERE name = $1 AND state < 'active' AND start_after < now()
         ORDER BY priority DESC, created_on, id LIMIT $2 FOR UPDATE SKIP LOCKED),
       taken AS (
         UPDATE ${job} j SET state = 'active', started_on = now(),
           retry_count = CASE WHEN j.started_on IS NOT NULL THEN j.retry_count + 1 ELSE j.retry_count END
         FROM next WHERE j.name = $1 AND j.id = next.id
         RETURNING j.id, j.data, j.retry_count, j.priority, j.created_on)
       SELECT id, data, retry_count FROM taken ORDER BY priority DESC, created_on, id`,
      [this.names.queue(shard), batchSize],
    );
    return result.rows.map((row) => ({ id: row.id, data: row.data, attempt: row.retry_count }));
  }

  /**
   * Puts the shard's running tasks back in the queue, to run again (they keep their place: a
   * retried job keeps its creation time). A new owner does this to what the old one left running.
   */
  async requeueActive(shard: number): Promise<number> {
    const queue = this.names.queue(shard);
    const active = await this.db.query<{ id: string }>(`SELECT id FROM "${this.names.schema}".job WHERE name = $1 AND state = 'active'`, [queue]);
    const ids = active.rows.map((row) => row.id);
    if (ids.length > 0) await this.boss.fail(queue, ids);
    return ids.length;
  }

  /**
   * Completes one run of a task, fenced: only while `lockPid`'s session holds the shard's lock,
   * only if the task is still active in this very run. Returns whether the completion was applied;
   * a stale run (the shard moved, the task was retried) is refused and changes nothing.
   */
  async complete(shard: number, job: FetchedJob, outcome: FleetOutcome, fence: { lockPid: number; hostId: string; cacheHits: number; cacheMisses: number }): Promise<boolean> {
    const queue = this.names.queue(shard);
    return inTransaction(this.db, async (client) => {
      const owner = await client.query(
        `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND pid = $3
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [this.names.lockNamespace, shard, fence.lockPid],
      );
      if (owner.rowCount === 0) return false;
      const done = await client.query(
        `UPDATE "${this.names.schema}".job SET state = 'completed', completed_on = now(), output = $4::jsonb
         WHERE name = $1 AND id = $2 AND state = 'active' AND retry_count = $3`,
        [queue, job.id, job.attempt, JSON.stringify(outcome)],
      );
      if (done.rowCount === 0) return false;
      await client.query(`INSERT INTO ${this.names.table('completion')} (task_id, attempt, host_id, account, cache_hits, cache_misses) VALUES ($1, $2, $3, $4, $5, $6)`, [
        job.id,
        job.attempt,
        fence.hostId,
        job.data.account,
        fence.cacheHits,
        fence.cacheMisses,
      ]);
      await client.query('SELECT pg_notify($1, $2)', [this.names.doneChannel, job.id]);
      return true;
    });
  }

  /** The tasks among `ids` that have ended, with their stored outcome. */
  async finished(ids: readonly string[]): Promise<FinishedJob[]> {
    if (ids.length === 0) return [];
    const result = await this.db.query<FinishedJob>(
      `SELECT id, state, output FROM "${this.names.schema}".job WHERE id = ANY($1::uuid[]) AND state IN ('completed', 'failed', 'cancelled')
       UNION ALL SELECT id, state, output FROM "${this.names.schema}".archive WHERE id = ANY($1::uuid[]) AND state IN ('completed', 'failed', 'cancelled')`,
      [ids],
    );
    return result.rows;
  }

  /** Tasks by state, over every shard queue. */
  async depth(): Promise<QueueDepth> {
    const result = await this.db.query<{ state: string; count: string }>(`SELECT state, count(*) AS count FROM "${this.names.schema}".job WHERE name LIKE 'shard-%' GROUP BY state`);
    const count = (state: string): number => Number(result.rows.find((row) => row.state === state)?.count ?? 0);
    return { queued: count('created') + count('retry'), active: count('active'), completed: count('completed'), failed: count('failed') + count('cancelled') };
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: false, wait: true, close: true }).catch(() => undefined);
    await this.db.end().catch(() => undefined);
  }
}
