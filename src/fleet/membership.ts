import type { Pool } from 'pg';
import type { FleetNames } from './fleet-database.js';

export interface HostRow {
  hostId: string;
  hostname: string;
  pid: number;
  backendPid: number;
  heartbeatAgeMs: number;
}

/**
 * Who is in the fleet, read from PostgreSQL: a host is live while its lock session exists (in
 * pg_stat_activity) and its heartbeat is younger than host_timeout.
 */
export class Membership {
  constructor(
    private readonly db: Pool,
    private readonly names: FleetNames,
  ) {}

  /**
   * The live hosts. On the way it removes hosts whose session is gone (killed: the server ended it
   * when their socket closed) and ends the session of hosts whose heartbeat is too old (frozen:
   * their kernel still answers TCP, so only the heartbeat tells), which frees their shards.
   */
  async liveHosts(hostTimeoutMs: number): Promise<HostRow[]> {
    const result = await this.db.query<{ host_id: string; hostname: string; pid: number; backend_pid: number; age_ms: number; connected: boolean }>(
      `SELECT h.host_id, h.hostname, h.pid, h.backend_pid,
              (extract(epoch FROM clock_timestamp() - h.heartbeat_at) * 1000)::float8 AS age_ms,
              EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = h.backend_pid) AS connected
       FROM ${this.names.table('host')} h ORDER BY h.host_id`,
    );
    const live: HostRow[] = [];
    for (const row of result.rows) {
      if (row.connected && row.age_ms <= hostTimeoutMs) {
        live.push({ hostId: row.host_id, hostname: row.hostname, pid: row.pid, backendPid: row.backend_pid, heartbeatAgeMs: row.age_ms });
        continue;
      }
      if (row.connected) await this.db.query('SELECT pg_terminate_backend($1)', [row.backend_pid]);
      // Only this session's row: the host may have come back with a new one meanwhile.
      await this.db.query(`DELETE FROM ${this.names.table('host')} WHERE host_id = $1 AND backend_pid = $2`, [row.host_id, row.backend_pid]);
    }
    return live;
  }

  /** Every host row, live or not, for status. */
  async hosts(): Promise<HostRow[]> {
    const result = await this.db.query<{ host_id: string; hostname: string; pid: number; backend_pid: number; age_ms: number }>(
      `SELECT host_id, hostname, pid, backend_pid, (extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::float8 AS age_ms
       FROM ${this.names.table('host')} ORDER BY host_id`,
    );
    return result.rows.map((row) => ({ hostId: row.host_id, hostname: row.hostname, pid: row.pid, backendPid: row.backend_pid, heartbeatAgeMs: row.age_ms }));
  }

  /** Shard → backend pid of the session holding its lock, from the server's own lock table. */
  async lockedShards(): Promise<Map<number, number>> {
    const result = await this.db.query<{ shard: number; pid: number }>(
      `SELECT l.objid::bigint::int AS shard, l.pid FROM pg_locks l
       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = $1::bigint::oid
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [this.names.lockNamespace],
    );
    return new Map(result.rows.map((row) => [row.shard, row.pid]));
  }
}
