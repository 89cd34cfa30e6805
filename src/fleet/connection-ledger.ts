import type { Pool } from 'pg';
import type { Logger } from '../telemetry/logger.js';
import type { FleetNames } from './fleet-database.js';

/** One account connection's record: closed once, with the last moment it could carry a request. */
export interface LedgerEntry {
  closed(atWallMs: number): void;
}

/**
 * Where a host writes down when it connected and disconnected each account, so that two hosts
 * connecting one account at once can be counted afterwards. A data centre that sees auth keys
 * (issue 12's loopback DC) counts that itself; {@link DoubleConnectionCounter} is the seam both fill.
 */
export interface ConnectionLedger {
  opened(account: string, atWallMs: number): LedgerEntry;
  /** Waits for writes still under way. */
  flush(): Promise<void>;
}

/** Counts moments when one account was connected from two hosts at once. */
export interface DoubleConnectionCounter {
  /** Where the count comes from, printed with it. */
  readonly source: string;
  count(): Promise<number>;
}

/** The ledger in the fleet's database (`fleet_connection`). A failed write is logged and never fails a task. */
export class PgConnectionLedger implements ConnectionLedger {
  private readonly writes = new Set<Promise<unknown>>();

  constructor(
    private readonly db: Pool,
    private readonly names: FleetNames,
    private readonly hostId: string,
    private readonly logger: Logger,
  ) {}

  opened(account: string, atWallMs: number): LedgerEntry {
    const id = this.track(
      this.db
        .query<{ id: string }>(`INSERT INTO ${this.names.table('connection')} (account, host_id, opened_at) VALUES ($1, $2, to_timestamp($3 / 1000.0)) RETURNING id`, [account, this.hostId, atWallMs])
        .then((result) => result.rows[0]?.id),
    );
    return {
      closed: (closedAt) => {
        this.track(
          id.then((row) => (row === undefined ? undefined : this.db.query(`UPDATE ${this.names.table('connection')} SET closed_at = to_timestamp($2 / 1000.0) WHERE id = $1`, [row, closedAt]))),
        );
      },
    };
  }

  async flush(): Promise<void> {
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
  }

  private track<T>(write: Promise<T>): Promise<T | undefined> {
    const logged = write.catch((error: Error) => {
      this.logger.warn({ err: error.message }, 'could not write a connection record');
      return undefined;
    });
    this.writes.add(logged);
    void logged.finally(() => this.writes.delete(logged));
    return logged;
  }
}

/**
 * Double connections from the hosts' own records: pairs of connections of one account, from two
 * hosts, whose intervals overlap. A connection still open had its host die (killed) at the time
 * `endOf` gives, or is open now.
 */
export class LedgerDoubleConnections implements DoubleConnectionCounter {
  readonly source = "the hosts' own connect/disconnect records";

  constructor(
    private readonly db: Pool,
    private readonly names: FleetNames,
    /** When each host that never closed its connections died, in wall ms; others are open now. */
    private readonly diedAt: ReadonlyMap<string, number> = new Map(),
  ) {}

  async count(): Promise<number> {
    const died = [...this.diedAt.entries()];
    const result = await this.db.query<{ doubles: string }>(
      `WITH died AS (SELECT * FROM unnest($1::text[], $2::float8[]) AS d(host_id, at_ms)),
       spans AS (
         SELECT c.id, c.account, c.host_id, c.opened_at,
                COALESCE(c.closed_at, to_timestamp((SELECT at_ms FROM died WHERE died.host_id = c.host_id) / 1000.0), clock_timestamp()) AS closed_at
         FROM ${this.names.table('connection')} c)
       SELECT count(*) AS doubles FROM spans a JOIN spans b
         ON a.account = b.account AND a.id < b.id AND a.host_id <> b.host_id AND a.opened_at < b.closed_at AND b.opened_at < a.closed_at`,
      [died.map(([host]) => host), died.map(([, at]) => at)],
    );
    return Number(result.rows[0]?.doubles ?? 0);
  }
}
