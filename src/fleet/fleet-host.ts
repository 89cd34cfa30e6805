import { hostname } from 'node:os';
import { EventEmitter } from 'eventemitter3';
import { serializeError } from '../channel/remote-error.js';
import { loadConfig, type FleetConfig, type FleetHostsConfig } from '../config/config.js';
import { FleetRuntime } from '../runtime/fleet-runtime.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { LeaseBoard, pingDelaySeconds } from '../telegram/connection-lease.js';
import { PgConnectionLedger } from './connection-ledger.js';
import { FencedConnections } from './fenced-connections.js';
import { FleetQueue, type FetchedJob, type FleetOutcome } from './fleet-queue.js';
import { LockSession, wallTime } from './lock-session.js';
import { Membership } from './membership.js';
import { accountsByShard, fairShare, preference, shardOf } from './shard-map.js';

export interface FleetHostOptions {
  /** The configuration; read from config.yaml (or $TGFLEET_CONFIG) when absent. */
  config?: FleetConfig;
  logger?: Logger;
  /** Overrides fleet.host_id. */
  hostId?: string;
  /**
   * Told of every request this host lets through its fence to Telegram, as it lets it through:
   * an audit of which host used which account when.
   */
  onTelegramRequest?: (account: string, atWallMs: number) => void;
}

export interface FleetHostEvents {
  /** The host took a shard and now runs its accounts' tasks. */
  'shard:serving': [shard: number];
  /** The host gave a shard up cleanly (rebalance or leave). */
  'shard:released': [shard: number];
  /** The host lost its lock session and dropped every account; it rejoins by itself. */
  fenced: [reason: string];
}

/**
 * A shard this host holds the lock of. `taking`: locked, waiting out the grace before connecting;
 * `serving`: running its tasks; `releasing`: giving it up.
 */
interface HeldShard {
  phase: 'taking' | 'serving' | 'releasing';
  /** Connections of the shard's accounts may open and carry requests. */
  connectable: boolean;
  session: LockSession;
  runs: Map<string, AbortController>;
  /** Ends the poll nap early: a producer's NOTIFY, or the shard being given up. */
  wake: () => void;
  /** Ends the takeover grace early, only because the shard is given up: a NOTIFY must never shorten it. */
  endGrace: () => void;
  consumer: Promise<void>;
}

/** A sleep that the function handed to `onEarlyEnd` ends early. */
function nap(ms: number, onEarlyEnd: (end: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      resolve();
    }
    onEarlyEnd(done);
  });
}

function defaultHostId(): string {
  return `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
}

/**
 * One host of a fleet: a FleetRuntime whose accounts are shared with other hosts through
 * PostgreSQL. The host owns a fair share of the shards (a session advisory lock each, on one
 * dedicated connection), runs the tasks queued for its shards' accounts, and gives shards up when
 * hosts join, takes them when hosts leave or die. docs/FLEET.md describes the protocol and its timings.
 */
export class FleetHost extends EventEmitter<FleetHostEvents> {
  private session: LockSession | null = null;
  private readonly held = new Map<number, HeldShard>();
  private readonly shardAccounts: Map<number, string[]>;
  private readonly membership: Membership;
  /** Shards an earlier lock session of this process served and dropped when it was lost. */
  private readonly droppedShards = new Set<number>();
  private readonly cacheStats = new Map<string, { hits: number; misses: number }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private inFlight = 0;
  /** Places taken by queue reads still under way, so that shards read at once never take more than max_in_flight between them. */
  private reserved = 0;
  private roomWaiters: (() => void)[] = [];
  private ticking: Promise<void> | null = null;
  private confirming = false;
  private fencing: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly hostId: string,
    readonly config: FleetConfig,
    readonly runtime: FleetRuntime,
    readonly queue: FleetQueue,
    private readonly gate: FencedConnections,
    private readonly ledger: PgConnectionLedger,
    /** Where the workers' live clients read the lease from; null on the simulated Telegram, whose connections `gate` fences. */
    private readonly board: LeaseBoard | null,
    readonly logger: Logger,
  ) {
    super();
    this.shardAccounts = accountsByShard(runtime.accounts, config.fleet.shards);
    this.membership = new Membership(queue.db, queue.names);
    runtime.reporter.on('cache:stats', (stats) => {
      if (this.cacheStats.has(stats.taskId)) this.cacheStats.set(stats.taskId, { hits: stats.hits, misses: stats.misses });
    });
  }

  /** Starts the runtime, joins the fleet and begins taking shards. */
  static async start(options: FleetHostOptions = {}): Promise<FleetHost> {
    const config = options.config ?? loadConfig().config;
    const logger = options.logger ?? createLogger({ level: config.logging.level });
    const hostId = options.hostId ?? (config.fleet.hostId || defaultHostId());
    const queue = await FleetQueue.open(config.fleet, { role: 'host', applicationName: `tgfleet host ${hostId}` });
    const ledger = new PgConnectionLedger(queue.db, queue.names, hostId, logger);
    let host: FleetHost | undefined;
    const gate = new FencedConnections(
      (account) => host?.mayConnect(account) ?? false,
      () => wallTime(host?.session?.leaseUntil ?? 0),
      ledger,
      options.onTelegramRequest,
    );
    let board: LeaseBoard | null = null;
    if (config.telegram.mode !== 'simulated') {
      const delay = pingDelaySeconds(config.fleet.lockTimeoutMs, config.fleet.heartbeatIntervalMs);
      if (delay < 1) {
        await queue.close();
        throw new Error(
          `fleet.lock_timeout (${config.fleet.lockTimeoutMs / 1000} s) must be at least 1.5 × (1 s + heartbeat_interval (${config.fleet.heartbeatIntervalMs / 1000} s)) for hosts that dial Telegram: their ping_delay_disconnect counts whole seconds (docs/FLEET.md)`,
        );
      }
      board = new LeaseBoard(config.fleet.shards, delay);
    }
    let runtime: FleetRuntime;
    try {
      runtime = await FleetRuntime.start({ config, logger, connectionGate: gate, ...(board !== null && { connectionLease: board.lease }) });
    } catch (error) {
      await queue.close();
      throw error;
    }
    host = new FleetHost(hostId, config, runtime, queue, gate, ledger, board, logger.child({ component: 'fleet', host: hostId }));
    try {
      await host.join();
    } catch (error) {
      await runtime.shutdown();
      await queue.close();
      throw error;
    }
    host.startTimers();
    return host;
  }

  /** Shards this host serves now (locked and past the grace). */
  servedShards(): number[] {
    return [...this.held.entries()]
      .filter(([, held]) => held.phase === 'serving')
      .map(([shard]) => shard)
      .sort((a, b) => a - b);
  }

  /** Shards this host holds the lock of, in any phase. */
  heldShards(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** The backend pid of the lock session, or null between sessions. */
  get lockBackendPid(): number | null {
    return this.session?.backendPid ?? null;
  }

  /** Gives every shard up cleanly, leaves the fleet and stops the runtime. */
  stop(): Promise<void> {
    this.stopping ??= this.leave();
    return this.stopping;
  }

  private get timings(): FleetHostsConfig {
    return this.config.fleet;
  }

  private mayConnect(account: string): boolean {
    const held = this.held.get(shardOf(account, this.timings.shards));
    return held?.connectable === true && held.session === this.session && held.session.valid();
  }

  /**
   * How far ahead the lease must reach for the host to go on: the ping delay, on a Telegram its
   * workers dial. The workers' clients stop at that point (src/telegram/connection-lease.ts), so the
   * host stops with them, and a task whose connection was cut is run again, not completed failed.
   */
  private get leaseMarginMs(): number {
    return this.board === null ? 0 : this.board.lease.pingDelaySeconds * 1000;
  }

  private leaseHolds(session: LockSession): boolean {
    return session.valid(performance.now() + this.leaseMarginMs);
  }

  /** Tells the workers, per shard, until when they may use its accounts: the lease while the shard's connections are allowed, else 0. */
  private publishLeases(): void {
    if (this.board === null) return;
    const session = this.session;
    for (let shard = 0; shard < this.timings.shards; shard++) {
      const held = this.held.get(shard);
      const usable = session !== null && held?.connectable === true && held.session === session && session.valid();
      this.board.publish(shard, usable ? wallTime(session.leaseUntil) : 0);
    }
  }

  private async join(): Promise<void> {
    const session = await LockSession.open(this.timings, this.queue.names, { hostId: this.hostId, hostname: hostname() });
    session.on('lost', (reason) => void this.fence(session, reason));
    await session.listen(this.queue.names.wakeChannel, (payload) => this.held.get(Number(payload))?.wake());
    this.session = session;
    this.logger.info({ backendPid: session.backendPid, shards: this.timings.shards }, 'joined the fleet');
  }

  private startTimers(): void {
    const every = (ms: number, work: () => void): void => {
      this.timers.push(setInterval(work, ms));
    };
    every(this.timings.heartbeatIntervalMs, () => {
      const session = this.session;
      if (session === null || this.confirming) return;
      this.confirming = true;
      void session
        .confirm()
        .then(() => this.publishLeases())
        .finally(() => (this.confirming = false));
    });
    // The watchdog needs no database: it only compares the lease with the clock.
    every(Math.max(20, this.timings.heartbeatIntervalMs / 4), () => {
      const session = this.session;
      if (session !== null && !this.leaseHolds(session)) {
        session.lose(
          `the lock was not confirmed within lock_timeout (${this.timings.lockTimeoutMs} ms${this.leaseMarginMs > 0 ? `, less the ${this.leaseMarginMs} ms ping delay its connections need ahead` : ''})`,
        );
      }
      this.publishLeases();
    });
    every(this.timings.rebalanceIntervalMs, () => {
      if (this.ticking !== null) return;
      this.ticking = this.rebalance()
        .catch((error: Error) => this.logger.warn({ err: error.message }, 'rebalance failed; trying again'))
        .finally(() => (this.ticking = null));
    });
  }

  /** Compares the shards held with the fair share among live hosts, and takes or gives some. */
  private async rebalance(): Promise<void> {
    if (this.stopping !== null || this.fencing !== null) return;
    if (this.session === null) {
      await this.join();
      return;
    }
    const session = this.session;
    const live = await this.membership.liveHosts(this.timings.hostTimeoutMs);
    const target = fairShare(
      live.map((host) => host.hostId),
      this.hostId,
      this.timings.shards,
    );
    const kept = [...this.held.entries()].filter(([, held]) => held.phase !== 'releasing').map(([shard]) => shard);
    if (kept.length > target) {
      const excess = kept.sort((a, b) => preference(this.hostId, a) - preference(this.hostId, b)).slice(0, kept.length - target);
      for (const shard of excess) void this.release(shard);
      return;
    }
    if (kept.length === target) return;
    const locked = await this.membership.lockedShards();
    const free = Array.from({ length: this.timings.shards }, (_, shard) => shard)
      .filter((shard) => !locked.has(shard) && !this.held.has(shard))
      .sort((a, b) => preference(this.hostId, b) - preference(this.hostId, a));
    let count = kept.length;
    for (const shard of free) {
      if (count >= target || this.session !== session || session.lost) break;
      if (await session.tryLock(shard)) {
        count++;
        this.take(shard, session);
      }
    }
  }

  /** A shard just locked: wait out the grace if its last owner did not give it up cleanly, then serve it. */
  private take(shard: number, session: LockSession): void {
    const held: HeldShard = { phase: 'taking', connectable: false, session, runs: new Map(), wake: () => undefined, endGrace: () => undefined, consumer: Promise.resolve() };
    this.held.set(shard, held);
    held.consumer = (async () => {
      const { table } = this.queue.names;
      await this.queue.db.query(`INSERT INTO ${table('shard')} (shard) VALUES ($1) ON CONFLICT (shard) DO NOTHING`, [shard]);
      const last = (await this.queue.db.query<{ host_id: string | null; released: boolean }>(`SELECT host_id, released FROM ${table('shard')} WHERE shard = $1`, [shard])).rows[0];
      const previous = last?.host_id ?? null;
      const move = await this.queue.db.query<{ id: string }>(`INSERT INTO ${table('move')} (shard, from_host, to_host) VALUES ($1, $2, $3) RETURNING id`, [shard, previous, this.hostId]);
      // A host that did not give the shard up cleanly may still be using its accounts until its
      // own lease runs out: takeover_grace covers that (docs/FLEET.md). An earlier session of this
      // very process dropped the shard's accounts before this session began.
      const droppedHere = previous === this.hostId && this.droppedShards.has(shard);
      if (last?.released === false && !droppedHere) await nap(this.timings.takeoverGraceMs, (end) => (held.endGrace = end));
      if (this.held.get(shard) !== held || held.phase !== 'taking' || session.lost) return;
      const requeued = await this.queue.requeueActive(shard);
      await this.queue.db.query(`UPDATE ${table('shard')} SET host_id = $2, released = false, since = clock_timestamp() WHERE shard = $1`, [shard, this.hostId]);
      await this.queue.db.query(`UPDATE ${table('move')} SET serving_at = clock_timestamp() WHERE id = $1`, [move.rows[0]?.id]);
      if (this.held.get(shard) !== held || held.phase !== 'taking' || session.lost) return;
      held.phase = 'serving';
      held.connectable = true;
      this.publishLeases();
      this.logger.info({ shard, from: previous, requeued }, 'serving shard');
      this.emit('shard:serving', shard);
      await this.consume(shard, held);
    })().catch((error: Error) => {
      this.logger.warn({ shard, err: error.message }, 'taking the shard failed');
      if (this.held.get(shard) === held && held.phase === 'taking') void this.release(shard);
    });
  }

  /** Reads the shard's queue while it is served: woken by NOTIFY, and every poll_interval at least. */
  private async consume(shard: number, held: HeldShard): Promise<void> {
    const serving = (): boolean => this.held.get(shard) === held && held.phase === 'serving' && !held.session.lost;
    while (serving()) {
      await this.roomFor();
      if (!serving()) return;
      const room = Math.min(32, this.timings.maxInFlight - this.inFlight - this.reserved);
      this.reserved += room;
      let jobs: FetchedJob[];
      try {
        jobs = await this.queue.fetch(shard, room);
      } catch (error) {
        // A database hiccup must not end the shard's reading while the host keeps its lock.
        this.logger.warn({ shard, err: (error as Error).message }, 'reading the shard queue failed; trying again');
        await nap(this.timings.pollIntervalMs, (end) => (held.wake = end));
        continue;
      } finally {
        this.reserved -= room;
      }
      // Places this read took but did not fill go back to the other shards' readers.
      if (jobs.length < room) this.wakeRoomWaiters();
      // Fetched as the shard was being given up: they are active, and whoever puts the shard's
      // active tasks back (this host's release, or the next owner) puts these back too.
      if (!serving()) return;
      if (jobs.length === 0) {
        await nap(this.timings.pollIntervalMs, (end) => (held.wake = end));
        continue;
      }
      for (const job of jobs) void this.dispatch(shard, held, job);
    }
  }

  private async roomFor(): Promise<void> {
    while (this.inFlight + this.reserved >= this.timings.maxInFlight) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  private wakeRoomWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  private async dispatch(shard: number, held: HeldShard, job: FetchedJob): Promise<void> {
    this.inFlight++;
    const controller = new AbortController();
    held.runs.set(job.id, controller);
    const taskId = `${job.id}/${job.attempt}`;
    this.cacheStats.set(taskId, { hits: 0, misses: 0 });
    let outcome: FleetOutcome | null;
    try {
      const value = await this.runtime.run({ account: job.data.account, task: job.data.task, args: job.data.args, signal: controller.signal, taskId });
      outcome = { ok: true, value };
    } catch (error) {
      // Aborted: the shard is being given up, and the task runs again on its next owner.
      outcome = controller.signal.aborted ? null : { ok: false, error: serializeError(error) };
      // A worker saw the lease lapse before this thread did: the host stops too, and the task runs again.
      if ((error as Error).name === 'ConnectionFencedError') {
        held.session.lose('a connection of this host reached the end of its lease');
        outcome = null;
      }
    } finally {
      held.runs.delete(job.id);
      this.inFlight--;
      this.wakeRoomWaiters();
    }
    const stats = this.cacheStats.get(taskId) ?? { hits: 0, misses: 0 };
    this.cacheStats.delete(taskId);
    if (outcome === null || this.held.get(shard) !== held || held.phase !== 'serving' || !this.leaseHolds(held.session)) return;
    try {
      const applied = await this.queue.complete(shard, job, outcome, { lockPid: held.session.backendPid, hostId: this.hostId, cacheHits: stats.hits, cacheMisses: stats.misses });
      if (!applied) this.logger.warn({ shard, task: job.id, attempt: job.attempt }, 'completion refused: the shard or the task moved on');
    } catch (error) {
      // Not knowing whether the task was recorded, the host cannot keep the account's order by
      // retrying it alone; it gives everything up and the shard's tasks are put back in order.
      held.session.lose(`a completion could not be recorded: ${(error as Error).message}`);
    }
  }

  /** Gives a shard up cleanly: stop reading, put its running tasks back, disconnect, unlock. */
  private async release(shard: number): Promise<void> {
    const held = this.held.get(shard);
    if (held === undefined || held.phase === 'releasing') return;
    held.phase = 'releasing';
    held.wake();
    held.endGrace();
    for (const controller of held.runs.values()) controller.abort('the shard moves to another host');
    this.wakeRoomWaiters();
    try {
      await held.consumer;
      while (held.runs.size > 0) await new Promise((resolve) => setImmediate(resolve));
      if (!held.session.lost) await this.queue.requeueActive(shard);
      const disconnected = await this.disconnect(held, this.shardAccounts.get(shard) ?? []);
      if (!held.session.lost) {
        // Accounts not seen disconnected within disconnect_timeout may still be connected: the next owner then waits out the grace.
        if (disconnected) await this.queue.db.query(`UPDATE ${this.queue.names.table('shard')} SET released = true WHERE shard = $1 AND host_id = $2`, [shard, this.hostId]);
        await held.session.unlock(shard);
      }
      this.logger.info({ shard }, 'released shard');
      this.emit('shard:released', shard);
    } catch (error) {
      held.session.lose(`giving shard ${shard} up failed: ${(error as Error).message}`);
    } finally {
      if (this.held.get(shard) === held) this.held.delete(shard);
    }
  }

  /**
   * Cuts the accounts off; true when they are known to be: on the simulated Telegram the relay in
   * this thread closed them at once, and a worker's own connections count once the workers say so
   * within disconnect_timeout.
   */
  private async disconnect(held: HeldShard, accounts: readonly string[]): Promise<boolean> {
    held.connectable = false;
    this.publishLeases();
    this.gate.close(accounts);
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      this.runtime.disconnectAccounts(accounts).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.timings.disconnectTimeoutMs))),
    ]);
    clearTimeout(timer);
    return done || this.board === null;
  }

  /**
   * The lock session is lost: nothing of it can be trusted. Every account is cut off at once
   * (the gate refuses already), tasks are dropped uncompleted, and the session is ended, which
   * frees any lock it still holds. The next rebalance joins again with a new session.
   */
  private fence(session: LockSession, reason: string): Promise<void> {
    this.fencing ??= (async () => {
      this.logger.warn({ reason, shards: this.held.size }, 'lost the lock session: dropping every account');
      if (this.session === session) this.session = null;
      const dropped = [...this.held.entries()].filter(([, held]) => held.session === session);
      for (const [shard, held] of dropped) {
        held.connectable = false;
        held.wake();
        held.endGrace();
        for (const controller of held.runs.values()) controller.abort('this host lost its shard lock');
        if (this.held.get(shard) === held) this.held.delete(shard);
        this.droppedShards.add(shard);
      }
      this.wakeRoomWaiters();
      this.publishLeases();
      this.gate.closeAll();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.runtime.disconnectAccounts(this.runtime.accounts), new Promise((resolve) => (timer = setTimeout(resolve, this.timings.disconnectTimeoutMs)))]);
      clearTimeout(timer);
      await session.close();
      this.emit('fenced', reason);
    })().finally(() => (this.fencing = null));
    return this.fencing;
  }

  private async leave(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    await this.ticking;
    await this.fencing;
    await Promise.allSettled([...this.held.keys()].map((shard) => this.release(shard)));
    const session = this.session;
    this.session = null;
    if (session !== null) {
      // Leaving is not losing: the shards are already given up, so no fence runs.
      session.removeAllListeners('lost');
      await this.queue.db.query(`DELETE FROM ${this.queue.names.table('host')} WHERE host_id = $1 AND backend_pid = $2`, [this.hostId, session.backendPid]).catch(() => undefined);
      await session.close();
    }
    await this.runtime.shutdown();
    await this.ledger.flush();
    await this.queue.close();
    this.logger.info('left the fleet');
  }
}
