import { EventEmitter } from 'eventemitter3';
import pg from 'pg';
import type { FleetHostsConfig } from '../config/config.js';
import { connectionUrl } from '../config/postgres-url.js';
import type { FleetNames } from './fleet-database.js';

interface LockSessionEvents {
  /** The session can no longer be trusted to hold its locks: its connection failed, or a confirmation came too late. */
  lost: [reason: string];
}

/** Wall-clock milliseconds of a monotonic `performance.now()` reading, to compare across processes. */
export function wallTime(monotonic: number): number {
  return performance.timeOrigin + monotonic;
}

/**
 * The one dedicated connection a host holds its shard locks on (session advisory locks, freed by
 * the server the moment this session ends). Never pooled, never through a transaction-mode pooler.
 *
 * Each confirmation (the heartbeat UPDATE) proves the session, and so the locks, were alive when
 * it started; the host may use its accounts until `leaseUntil`, lock_timeout after that start.
 */
export class LockSession extends EventEmitter<LockSessionEvents> {
  /** performance.now() until which the locks are known to be held. */
  leaseUntil: number;
  private lostReason: string | null = null;
  /** Queries on this connection, one after another: pg would queue them anyway, but warns. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly client: pg.Client,
    readonly backendPid: number,
    private readonly names: FleetNames,
    private readonly hostId: string,
    private readonly lockTimeoutMs: number,
    confirmedAt: number,
  ) {
    super();
    this.leaseUntil = confirmedAt + lockTimeoutMs;
    client.on('error', (error) => this.lose(`the lock connection failed: ${error.message}`));
    client.on('end', () => this.lose('the lock connection closed'));
  }

  /**
   * Connects, sets the session's TCP keepalives (so the server ends it soon after the host's
   * machine or network vanishes) and registers the host. A live host with the same id is an error.
   */
  static async open(config: FleetHostsConfig, names: FleetNames, host: { hostId: string; hostname: string }): Promise<LockSession> {
    const client = new pg.Client({
      connectionString: connectionUrl(config.databaseUrl),
      application_name: `tgfleet host ${host.hostId}`.slice(0, 63),
      keepAlive: true,
      connectionTimeoutMillis: config.lockTimeoutMs,
    });
    // Until the session exists, errors surface through connect() and the queries below.
    client.on('error', () => undefined);
    try {
      await client.connect();
      const started = performance.now();
      const keepaliveSeconds = String(Math.max(1, Math.ceil((config.lockTimeoutMs + config.disconnectTimeoutMs) / 1000)));
      await client.query(
        `SELECT set_config('tcp_keepalives_idle', $1, false), set_config('tcp_keepalives_interval', '1', false),
                set_config('tcp_keepalives_count', '3', false), set_config('tcp_user_timeout', $2, false)`,
        [keepaliveSeconds, String(config.lockTimeoutMs + config.disconnectTimeoutMs)],
      );
      const registered = await client.query<{ backend_pid: number }>(
        `INSERT INTO ${names.table('host')} AS h (host_id, hostname, pid, backend_pid) VALUES ($1, $2, $3, pg_backend_pid())
         ON CONFLICT (host_id) DO UPDATE SET hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, backend_pid = EXCLUDED.backend_pid,
           started_at = clock_timestamp(), heartbeat_at = clock_timestamp()
         WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = h.backend_pid)
         RETURNING backend_pid`,
        [host.hostId, host.hostname, process.pid],
      );
      const row = registered.rows[0];
      if (row === undefined) throw new Error(`host id ${host.hostId} is in use by a live host of this fleet: give each host its own fleet.host_id`);
      return new LockSession(client, row.backend_pid, names, host.hostId, config.lockTimeoutMs, started);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  get lost(): boolean {
    return this.lostReason !== null;
  }

  /** Whether the locks are still known to be held now. */
  valid(now = performance.now()): boolean {
    return this.lostReason === null && now < this.leaseUntil;
  }

  /** Writes the heartbeat; on success the lease runs lock_timeout from when this call started. */
  async confirm(): Promise<void> {
    if (this.lost) return;
    const started = performance.now();
    try {
      const result = await this.query(`UPDATE ${this.names.table('host')} SET heartbeat_at = clock_timestamp() WHERE host_id = $1 AND backend_pid = pg_backend_pid()`, [this.hostId]);
      if (result.rowCount === 0) {
        this.lose('this host was declared dead by the fleet (its heartbeat row is gone)');
        return;
      }
      if (!this.lost) this.leaseUntil = Math.max(this.leaseUntil, started + this.lockTimeoutMs);
    } catch (error) {
      this.lose(`the lock could not be confirmed: ${(error as Error).message}`);
    }
  }

  async tryLock(shard: number): Promise<boolean> {
    const result = await this.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [this.names.lockNamespace, shard]);
    return result.rows[0]?.locked === true;
  }

  async unlock(shard: number): Promise<void> {
    await this.query('SELECT pg_advisory_unlock($1, $2)', [this.names.lockNamespace, shard]);
  }

  /** Subscribes to a NOTIFY channel on this connection (it is dedicated, so it may LISTEN). */
  async listen(channel: string, onPayload: (payload: string) => void): Promise<void> {
    this.client.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) onPayload(message.payload);
    });
    await this.query(`LISTEN "${channel}"`);
  }

  private query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<Row>> {
    const result = this.queue.then(() => this.client.query<Row>(text, values));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Marks the session lost (once) and tells the host, which must drop its accounts before anything else. */
  lose(reason: string): void {
    if (this.lostReason !== null) return;
    this.lostReason = reason;
    this.emit('lost', reason);
  }

  /** Ends the session, which frees every lock it holds. */
  async close(): Promise<void> {
    this.lose('the host closed its lock session');
    await this.client.end().catch(() => undefined);
  }
}
