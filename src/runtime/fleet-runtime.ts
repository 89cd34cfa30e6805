import type { MessagePort } from 'node:worker_threads';
import { TelegramCacheRegistry } from '../cache/registry.js';
import type { EvictionCounts } from '../cache/telegram-cache.js';
import { ServedTask } from '../channel/channel-server.js';
import type { AccountCredentials, ConnectionLease, TaskOutcome, TaskPayload, TelegramSettings } from '../channel/protocol.js';
import { reviveError, serializeError } from '../channel/remote-error.js';
import { RuntimeClosedError, WorkerCrashedError } from '../task-errors.js';
import { ConfigError, loadConfig, type FleetConfig } from '../config/config.js';
import { isMissingUsernameValue } from '../telegram/entity-record.js';
import { onAbort } from './abort-fanout.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { AccountEndpoint, type AccountEndpointServices } from './account-endpoint.js';
import { AccountPool, DEFAULT_TENANT } from './account-pool.js';
import { EvictionLedger } from './eviction-ledger.js';
import { resolveAccounts, type FleetAccounts } from './accounts.js';
import type { ConnectionGate } from './connection-gate.js';
import { FloodControl, isAccountFloodWait } from './flood-control.js';
import { resolveTaskModule } from '../module-paths.js';
import { Reporter } from '../telemetry/reporter.js';
import { RevokedAccounts } from './revoked-accounts.js';
import { RequeueTask, Scheduler } from './scheduler.js';
import { SingleFlight } from './single-flight.js';
import { CrashQuarantine } from './quarantine.js';
import { TENANT_NAME, TENANT_NAME_RULE } from '../config/schema.js';
import { TaskCache } from './task-cache.js';

export interface FleetRuntimeOptions {
  /** The configuration; read from config.yaml (or $TGFLEET_CONFIG) when absent. */
  config?: FleetConfig;
  logger?: Logger;
  /** Shut down gracefully on SIGTERM and SIGINT. A host with its own signal handling (the CLI, most bots) leaves it off. */
  handleSignals?: boolean;
  /**
   * false hands tasks the bare GramJS client with no tgfleet entity cache: what people run
   * today, kept so that benchmarks can measure what the cache saves.
   */
  entityCache?: boolean;
  /** Passes every simulated Telegram connection a worker opens, e.g. to fence it (see src/fleet/). */
  connectionGate?: ConnectionGate;
  /** The lease live clients keep their connections within (a fleet host's, see src/telegram/connection-lease.ts). */
  connectionLease?: ConnectionLease;
  /**
   * Tenants by name, each with its accounts' phone numbers, over the `tenant` of config.yaml's
   * accounts: no worker ever serves two tenants (docs/ISOLATION.md). An account in neither belongs
   * to the tenant "default".
   */
  tenants?: Readonly<Record<string, readonly string[]>>;
}

export interface RunOptions<Args = unknown> {
  /** The account's phone number, as configured. */
  account: string;
  /** An example task's name, a path to a task module, or a file: URL. */
  task: string;
  args?: Args;
  signal?: AbortSignal;
  /** Overrides runtime.task_timeout for this task; 0 for none. */
  timeoutMs?: number;
  /** The id events and logs carry for this task, so a host can match them to its own jobs; unique among tasks in flight. Generated when absent. */
  taskId?: string;
}

/** How long shutdown waits for the workers' Telegram clients to disconnect before stopping the threads anyway. */
const DISCONNECT_TIMEOUT_MS = 5000;

/** Times a task whose worker another task killed runs again, when it had changed nothing on Telegram. */
const CRASH_RETRIES = 2;

/** What aborted a task: it decides what its caller gets if the task does not stop. */
type AbortCause = 'caller' | 'timeout' | 'shutdown';

/** Runs of a task still allowed, counted across its runs. */
interface RetryBudget {
  flood: number;
  crash: number;
}

/** How one run of a task ended, seen from the main thread. */
type RunEnd = { kind: 'ended'; outcome: TaskOutcome } | { kind: 'lost'; error: Error } | { kind: 'revoked'; error: Error };

function evictionsSince(before: EvictionCounts, after: EvictionCounts): EvictionCounts {
  return {
    capacity: after.capacity - before.capacity,
    accountCap: after.accountCap - before.accountCap,
    expired: after.expired - before.expired,
  };
}

function abortError(reason: string): DOMException {
  return new DOMException(reason, 'AbortError');
}

/** What every running task's abort uses, made once rather than per task. */
interface AbortServices {
  pool: AccountPool;
  /** runtime.abort_grace, in ms. */
  graceMs: number;
}

/**
 * A running task as its caller's signal, its timeout and shutdown see it. An abort is cooperative
 * and bounded: a task still running runtime.abort_grace after its abort is given up on (`giveUp`
 * settles its caller and frees its account), revoked so it can no longer act as its account, and
 * its worker replaced when the task keeps that worker's event loop from even seeing the abort, or
 * from answering a probe once revoked.
 * One object per task, with no timer or listener unless the task has a signal or a timeout.
 */
class RunningTask {
  /** Set by the run that waits for the task's end. */
  giveUp: (error: Error) => void = () => {};
  private aborted = false;
  private timer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly stopListening: (() => void) | undefined;

  constructor(
    private readonly services: AbortServices,
    private readonly taskId: string,
    private readonly served: ServedTask,
    private readonly endpoint: AccountEndpoint,
    private readonly options: RunOptions,
    timeoutMs: number,
  ) {
    const signal = options.signal;
    this.stopListening = signal === undefined ? undefined : onAbort(signal, () => this.abort('the caller aborted the task', 'caller'));
    if (timeoutMs > 0) this.timer = setTimeout(() => this.abort(`the task ran longer than its ${timeoutMs} ms timeout`, 'timeout'), timeoutMs);
  }

  abort(reason: string, cause: AbortCause): void {
    if (this.aborted) return;
    this.aborted = true;
    this.served.abort(reason);
    this.endpoint.cancel(reason);
    this.graceTimer = setTimeout(() => this.revoke(reason, cause), this.services.graceMs);
  }

  /** The task's run is over: nothing more may abort it. */
  stop(): void {
    this.stopListening?.();
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
  }

  private revoke(reason: string, cause: AbortCause): void {
    const { served, taskId, options } = this;
    const { graceMs, pool } = this.services;
    const phone = this.endpoint.account;
    served.revoke(`${reason}, and it did not stop within ${graceMs} ms of its abort (runtime.abort_grace)`);
    if (served.threadId !== null) {
      // Having seen the abort proves the loop turned then, not that the task lets it turn now.
      if (served.abortSeen) {
        pool.watchRevoked(served, graceMs, `task ${taskId} of account ${phone}, revoked, kept the worker's event loop from answering for ${graceMs} ms, so the worker was stopped`);
      } else {
        pool.replaceWorker(served.threadId, served.binding, `task ${taskId} of account ${phone} kept the worker's event loop busy for ${graceMs} ms after its abort, so the worker was stopped`);
      }
    }
    this.giveUp(
      cause === 'shutdown'
        ? new RuntimeClosedError(`the runtime shut down while task ${taskId} (${options.task}) of account ${phone} was still running: it did not stop within the grace period after its abort`)
        : cause === 'caller'
          ? ((options.signal?.reason as Error | undefined) ?? abortError(reason))
          : abortError(`${reason}, and it did not stop within ${graceMs} ms of its abort: it was revoked`),
    );
  }
}

/**
 * The main thread of a fleet: it owns the cache registry, the worker pool, the scheduler and the
 * reporter, and serves each running task its account's cache over a channel of its own.
 */
export class FleetRuntime {
  readonly reporter: Reporter;
  readonly registry: TelegramCacheRegistry;
  readonly flood: FloodControl;
  readonly logger: Logger;
  private readonly scheduler: Scheduler;
  private readonly singleFlight: SingleFlight;
  /** What every task's endpoint uses, made once rather than per task. */
  private readonly endpointServices: AccountEndpointServices;
  private readonly abortServices: AbortServices;
  /** What every task tells its worker about Telegram: the same for all, so made once. */
  private readonly telegramSettings: TelegramSettings;
  private readonly running = new Map<string, RunningTask>();
  private taskCounter = 0;
  /** Numbers the tasks' bindings on the workers' links; a binding is never reused. */
  private bindingCounter = 0;
  /** In process scope, overlapping tasks of one account see the same evictions: each is reported once. */
  private readonly evictionLedger = new EvictionLedger();
  private closing: Promise<void> | null = null;
  /** Set once shutdown stops the workers: a run the pool ends after that was cut short, its worker did not crash. */
  private destroyingPool = false;
  private readonly signalHandler: (() => void) | null;
  private readonly accountsByPhone: ReadonlyMap<string, AccountCredentials>;
  private readonly revoked: RevokedAccounts;
  private readonly quarantine: CrashQuarantine;

  private constructor(
    readonly config: FleetConfig,
    private readonly pool: AccountPool,
    private readonly fleet: FleetAccounts,
    private readonly entityCache: boolean,
    logger: Logger,
    handleSignals: boolean,
    private readonly connectionGate: ConnectionGate | undefined,
    connectionLease: ConnectionLease | undefined,
  ) {
    this.logger = logger;
    this.accountsByPhone = new Map(fleet.accounts.map((account) => [account.phone, account]));
    this.revoked = new RevokedAccounts(logger);
    const runtime = config.runtime;
    this.quarantine = new CrashQuarantine({ crashes: runtime.quarantineCrashes, windowMs: runtime.quarantineWindowMs, maxAccounts: runtime.maxQuarantined });
    this.reporter = new Reporter(logger);
    this.registry = new TelegramCacheRegistry(config.cache, {
      clock: fleet.clock,
      timeScale: fleet.timeScale,
      isNegative: isMissingUsernameValue,
      logger: logger.child({ component: 'cache' }),
      onEvict: (account, key, reason) => {
        if (this.reporter.listenerCount('cache:eviction') > 0) this.reporter.emit('cache:eviction', { account, key, reason });
      },
    });
    this.singleFlight = new SingleFlight(config.cache.leaseTimeoutMs);

    this.flood = new FloodControl({
      timeScale: fleet.timeScale,
      resolvesPerMinute: config.flood.resolvesPerMinute,
      reporter: this.reporter,
      onCooldownChange: (account) => this.scheduler.cooldownChanged(account),
    });
    this.telegramSettings = {
      mode: config.telegram.mode,
      ...(fleet.dcAddress && { dcAddress: fleet.dcAddress }),
      callTimeoutMs: config.telegram.callTimeoutMs,
      entityCache,
      entityTtlMs: config.cache.entityTtlMs,
      usernameTtlMs: config.cache.usernameTtlMs,
      negativeTtlMs: config.cache.negativeTtlMs,
      clientIdleTimeoutMs: config.runtime.clientIdleTimeoutMs,
      maxClients: config.runtime.maxClientsPerWorker,
      ...(connectionLease && { lease: connectionLease }),
    };
    this.endpointServices = {
      singleFlight: this.singleFlight,
      flood: this.flood,
      ...(fleet.simulator && { openTelegramConnection: (name: string) => this.openConnection(name) }),
    };
    this.abortServices = { pool, graceMs: config.runtime.abortGraceMs };
    this.scheduler = new Scheduler({
      globalConcurrency: pool.threads * pool.tasksPerWorker,
      perAccountConcurrency: config.runtime.perAccountConcurrency,
      maxQueue: config.runtime.maxQueue,
      cooldownRemaining: (account) => this.flood.remaining(account),
      onCooldown: config.flood.onCooldown,
    });
    this.signalHandler = handleSignals ? () => void this.shutdown() : null;
    if (this.signalHandler !== null) {
      process.once('SIGTERM', this.signalHandler);
      process.once('SIGINT', this.signalHandler);
    }
  }

  /** Starts the worker pool (and, in simulated mode, the simulated Telegram) and waits until it is ready. */
  static async start(options: FleetRuntimeOptions = {}): Promise<FleetRuntime> {
    const config = options.config ?? loadConfig().config;
    const logger = options.logger ?? createLogger({ level: config.logging.level });
    const fleet = await resolveAccounts(config);
    let pool: AccountPool;
    try {
      pool = new AccountPool({
        threads: config.runtime.workers,
        tasksPerWorker: config.runtime.tasksPerWorker,
        maxWorkerMemoryMb: config.runtime.maxWorkerMemoryMb,
        tenantOf: tenantsOf(fleet.accounts, config, options.tenants ?? {}),
      });
    } catch (error) {
      await fleet.close();
      throw error;
    }
    try {
      await pool.ready();
    } catch (error) {
      await pool.destroy();
      await fleet.close();
      throw error;
    }
    logger.info({ workers: pool.threads, accounts: fleet.accounts.length, mode: config.telegram.mode, scope: config.cache.scope }, 'tgfleet runtime started');
    const runtime = new FleetRuntime(config, pool, fleet, options.entityCache ?? true, logger, options.handleSignals ?? false, options.connectionGate, options.connectionLease);
    await runtime.registry.ready();
    return runtime;
  }

  /** The phone numbers of the accounts this runtime serves. */
  get accounts(): readonly string[] {
    return this.fleet.accounts.map((account) => account.phone);
  }

  /** The simulated Telegram, when the runtime runs on it: its counters show what tasks cost. */
  get simulator(): FleetAccounts['simulator'] {
    return this.fleet.simulator;
  }

  get queuedTasks(): number {
    return this.scheduler.queuedCount;
  }

  get runningTasks(): number {
    return this.scheduler.runningCount;
  }

  /** The simulated world behind the fleet (simulated and loopback modes): the workload draws its peers from it. */
  get world(): FleetAccounts['world'] {
    return this.fleet.world;
  }

  /** The in-process loopback data centre (telegram.mode: loopback), with its fault switches and counters. */
  get dataCentre(): FleetAccounts['dc'] {
    return this.fleet.dc;
  }

  /** Real seconds per Telegram second: 1 live, the simulator's time scale when simulated. */
  get timeScale(): number {
    return this.fleet.timeScale;
  }

  /** Accounts taken out of rotation because Telegram no longer accepts their session, with its reason. */
  get revokedAccounts(): ReadonlyMap<string, string> {
    return this.revoked.list();
  }

  /** Which worker serves each account. */
  workerAssignments(): ReadonlyMap<string, number> {
    return this.pool.assignments();
  }

  /** The tenant an account belongs to. */
  tenantOf(account: string): string {
    return this.pool.tenant(account);
  }

  /** Accounts whose tasks crashed workers runtime.quarantine_crashes times within runtime.quarantine_window: each runs on a worker of its own. */
  get quarantinedAccounts(): readonly string[] {
    return this.pool.quarantinedAccounts();
  }

  /**
   * Queues a task of an account and resolves with its result. A task's error comes back with its
   * name, message and Telegram fields (code, errorMessage, seconds).
   */
  run<Result = unknown, Args = unknown>(options: RunOptions<Args>): Promise<Result> {
    if (this.closing !== null) return Promise.reject(new RuntimeClosedError('the runtime is shutting down and accepts no new tasks'));
    const account = this.accountsByPhone.get(options.account);
    if (account === undefined) {
      const known = this.accounts.slice(0, 5).join(', ') + (this.accounts.length > 5 ? ', …' : '');
      return Promise.reject(new Error(`unknown account ${options.account}: this runtime serves ${this.accounts.length} accounts (${known})`));
    }
    let taskModule: string;
    try {
      taskModule = resolveTaskModule(options.task);
    } catch (error) {
      return Promise.reject(error);
    }
    const taskId = options.taskId ?? `t${++this.taskCounter}`;
    if (this.scheduler.has(taskId)) return Promise.reject(new Error(`task id ${taskId} is already in use by a task in flight: task ids must be unique`));
    const budget: RetryBudget = { flood: this.config.flood.retries, crash: CRASH_RETRIES };
    const start = (): Promise<unknown> => {
      const refusal = this.revoked.refusal(account.phone);
      if (refusal !== undefined) return Promise.reject(refusal);
      return this.execute(taskId, account, taskModule, options, budget);
    };
    // With a signal, the caller's promise rejects as soon as it aborts, while the task is told to stop and holds its account until it has.
    return this.scheduler.submit(account.phone, start, options.signal, taskId) as Promise<Result>;
  }

  /** Disconnects these accounts' Telegram clients in every worker; their next task connects again. */
  disconnectAccounts(accounts: readonly string[]): Promise<void> {
    return this.pool.disconnectClients(DISCONNECT_TIMEOUT_MS, accounts);
  }

  /**
   * Stops accepting tasks, gives running ones the grace period, aborts those still running,
   * clears the process cache and stops the workers. Safe to call more than once.
   */
  shutdown(): Promise<void> {
    this.closing ??= this.close();
    return this.closing;
  }

  private async close(): Promise<void> {
    if (this.signalHandler !== null) {
      process.off('SIGTERM', this.signalHandler);
      process.off('SIGINT', this.signalHandler);
    }
    this.scheduler.close();
    const graceMs = this.config.runtime.shutdownGraceMs;
    if (this.running.size > 0) {
      this.logger.info({ running: this.running.size, graceMs }, 'waiting for running tasks before shutdown');
      if (!(await this.idleWithin(graceMs))) {
        for (const task of this.running.values()) task.abort('the runtime is shutting down', 'shutdown');
        // Within runtime.abort_grace every aborted task has stopped or been revoked.
        await this.scheduler.whenIdle();
      }
    }
    await this.registry.shutdown();
    await this.pool.disconnectClients(DISCONNECT_TIMEOUT_MS);
    this.destroyingPool = true;
    await this.pool.destroy();
    await this.fleet.close();
    this.reporter.removeAllListeners();
    this.logger.info('tgfleet runtime stopped');
  }

  private async idleWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const idle = this.scheduler.whenIdle().then(() => true);
    const result = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    return result;
  }

  private async execute(taskId: string, account: AccountCredentials, taskModule: string, options: RunOptions, budget: RetryBudget): Promise<unknown> {
    const phone = account.phone;
    const cache = new TaskCache(this.registry, taskId);
    const warmStart = cache.isWarm(phone);
    const evictionsBefore = cache.accountStats(phone).evictions;
    const started = performance.now();
    const scope = this.registry.scope;
    // Events nobody listens to and debug lines nobody reads are not even built: a no-op task costs little more than Piscina's round trip.
    if (this.reporter.listenerCount('task:start') > 0) this.reporter.emit('task:start', { taskId, account: phone, task: options.task, cacheScope: scope, warmStart });
    // Per-task lines are debug: a fleet runs thousands of tasks and info is for lifecycle events.
    if (this.logger.isLevelEnabled('debug')) {
      if (scope === 'process') {
        const { size, hits, misses, evictions } = cache.stats();
        this.logger.debug({ taskId, size, hits, misses, evictions }, 'process cache stats before the next task');
      }
      this.logger.debug({ taskId, account: phone, task: options.task, cacheScope: scope, warmStart }, `Using ${scope} cache (warm_start=${warmStart})`);
    }

    const endpoint = new AccountEndpoint(cache, phone, taskId, this.endpointServices);
    const served = new ServedTask(++this.bindingCounter, endpoint);
    const running = new RunningTask(this.abortServices, taskId, served, endpoint, options, options.timeoutMs ?? this.config.runtime.taskTimeoutMs);
    this.running.set(taskId, running);
    const payload: TaskPayload = {
      taskId,
      account,
      taskModule,
      args: options.args,
      cacheScope: scope,
      binding: served.binding,
      telegram: this.telegramSettings,
      logLevel: this.config.logging.level,
    };

    let end: RunEnd;
    try {
      end = await new Promise<RunEnd>((resolve) => {
        // A revoked task may still be running: its run ends whenever it does, and nobody waits for it.
        running.giveUp = (error) => resolve({ kind: 'revoked', error });
        this.pool.run(payload, phone, served).then(
          (reply) => {
            if (typeof reply === 'object') resolve({ kind: 'ended', outcome: reply });
            else
              served.ended.then(
                (outcome) => resolve({ kind: 'ended', outcome }),
                (error: Error) => resolve({ kind: 'lost', error }),
              );
          },
          (error: unknown) => resolve({ kind: 'lost', error: error as Error }),
        );
      });
    } finally {
      running.stop();
      served.release();
      endpoint.release();
      this.running.delete(taskId);
    }

    const durationMs = performance.now() - started;
    this.reportCacheStats(cache, endpoint, { taskId, phone, task: options.task, warmStart, evictionsBefore, durationMs });
    cache.release();
    // A run the pool ended (not the task) is thrown as its own class, so a caller can tell it with instanceof.
    let thrown: Error | null = null;
    let outcome: TaskOutcome;
    if (end.kind === 'ended') outcome = end.outcome;
    else {
      thrown = end.kind === 'revoked' ? end.error : this.lostRun(end.error, served, { taskId, phone, task: options.task }, budget.crash > 0);
      if (thrown instanceof RequeueTask) {
        budget.crash--;
        this.reporter.emit('task:retry', { taskId, account: phone, task: options.task, durationMs, error: serializeError(thrown.cause), retriesLeft: budget.crash });
        throw thrown;
      }
      outcome = { ok: false, error: serializeError(thrown) };
    }
    if (outcome.ok) {
      if (this.reporter.listenerCount('task:end') > 0) this.reporter.emit('task:end', { taskId, account: phone, task: options.task, durationMs });
      return outcome.value;
    }
    const { error } = outcome;
    if (isAccountFloodWait(error)) {
      // The client reports the wait on the channel as soon as it sees it; this covers a bare client.
      if (!endpoint.counters.floodReported) this.flood.coolDown(phone, error.seconds, error.errorMessage ?? error.name);
      // In fail mode the account's queued tasks fail during a cooldown, so a retry would only fail the same way.
      if (budget.flood > 0 && this.config.flood.onCooldown === 'wait' && options.signal?.aborted !== true && this.closing === null) {
        budget.flood--;
        this.reporter.emit('task:retry', { taskId, account: phone, task: options.task, durationMs, error, retriesLeft: budget.flood });
        // The scheduler puts it back at the front of the account's queue, where the cooldown holds it.
        throw new RequeueTask(`task ${taskId} waits out a FLOOD_WAIT and runs again`);
      }
    }
    this.revoked.noteFailure(phone, error);
    this.reporter.emit('task:error', { taskId, account: phone, task: options.task, durationMs, error });
    throw thrown ?? reviveError(error);
  }

  /**
   * What a run the pool ended means for its task: the pool was shutting down, the task's
   * arguments could not cross threads, or its worker died. Only the task that killed the worker
   * fails as its crash; another task on it runs again (a RequeueTask, its cause saying why) when
   * it had changed nothing on Telegram, and otherwise fails saying it was collateral.
   */
  private lostRun(error: Error, served: ServedTask, task: { taskId: string; phone: string; task: string }, mayRetry: boolean): Error {
    const { taskId, phone } = task;
    if (this.destroyingPool) {
      return new RuntimeClosedError(`the runtime shut down while task ${taskId} (${task.task}) of account ${phone} was still running: it did not stop within the grace period after its abort`);
    }
    if (error.name === 'DataCloneError') return new TypeError(`task ${taskId} (${task.task}): its arguments and its result must be plain data that can cross threads: ${error.message}`);
    const death = served.threadId === null ? undefined : this.pool.death(served.threadId);
    const detail = death?.reason == null ? error.message : `${error.message} (${death.reason})`;
    const guilty = death === undefined || death.culprit === served.binding || (death.culprit === null && death.residents <= 1);
    if (guilty) {
      this.noteCrash(phone, detail);
      return new WorkerCrashedError(`the worker running task ${taskId} (${task.task}) of account ${phone} died: ${detail}`);
    }
    const collateral = `task ${taskId} (${task.task}) of account ${phone} lost its worker to another task: ${detail}`;
    if (served.firstWrite !== null) {
      return new WorkerCrashedError(`${collateral}; it had already called ${served.firstWrite}, which changes something on Telegram, so it is not run again`, { collateral: true });
    }
    if (this.closing !== null) return new WorkerCrashedError(`${collateral}; the runtime is shutting down, so it is not run again`, { collateral: true });
    if (!mayRetry) return new WorkerCrashedError(`${collateral}; it had already run ${CRASH_RETRIES + 1} times and lost its worker each time`, { collateral: true });
    return new RequeueTask(`${collateral}; it had changed nothing on Telegram, so it runs again on a live worker`, { cause: new WorkerCrashedError(collateral, { collateral: true }) });
  }

  /** A task of `account` killed its worker: after runtime.quarantine_crashes of them, the account gets a worker of its own. */
  private noteCrash(account: string, detail: string): void {
    const verdict = this.quarantine.noteCrash(account);
    const { quarantineCrashes: crashes, quarantineWindowMs: windowMs, maxQuarantined } = this.config.runtime;
    if (verdict === 'stays') return;
    if (verdict === 'no-room') {
      this.logger.warn(
        { account, crashes, windowMs, maxQuarantined },
        `account ${account} keeps crashing workers (${detail}), but runtime.max_quarantined accounts are quarantined already: it stays on its shared worker`,
      );
      return;
    }
    this.pool.quarantine(account);
    this.logger.warn(
      { account, crashes, windowMs, tenant: this.pool.tenant(account) },
      `account ${account} crashed ${crashes} workers within ${windowMs / 1000} s (last: ${detail}): it runs on a worker of its own from now on`,
    );
    this.reporter.emit('account:quarantined', { account, crashes, windowMs, reason: detail });
  }

  private openConnection(account: string): MessagePort {
    const connect = (): MessagePort => this.fleet.openConnection(account);
    return this.connectionGate === undefined ? connect() : this.connectionGate.open(account, connect);
  }

  private reportCacheStats(
    cache: TaskCache,
    endpoint: AccountEndpoint,
    task: { taskId: string; phone: string; task: string; warmStart: boolean; evictionsBefore: EvictionCounts; durationMs: number },
  ): void {
    // In process scope the ledger must see every task, listened to or not.
    if (cache.scope === 'task' && this.reporter.listenerCount('cache:stats') === 0) return;
    const after = cache.accountStats(task.phone);
    const { hits, misses, sets, invalidations, wasInvalidated } = endpoint.counters;
    this.reporter.emit('cache:stats', {
      taskId: task.taskId,
      account: task.phone,
      task: task.task,
      scope: cache.scope,
      warmStart: task.warmStart,
      perAccountMaxEntries: cache.perAccountMaxEntries,
      wasInvalidated,
      hits,
      misses,
      sets,
      invalidations,
      evictions: cache.scope === 'process' ? this.evictionLedger.claim(task.phone, task.evictionsBefore, after.evictions) : evictionsSince(task.evictionsBefore, after.evictions),
      size: after.size,
      durationMs: task.durationMs,
    });
  }
}

/**
 * Each account's tenant: from the runtime's options first, then config.yaml's accounts, else the
 * default tenant. A phone the runtime does not serve, or listed under two tenants, is refused.
 */
function tenantsOf(accounts: readonly AccountCredentials[], config: FleetConfig, given: Readonly<Record<string, readonly string[]>>): Map<string, string> {
  const served = new Set(accounts.map((account) => account.phone));
  const tenantOf = new Map<string, string>();
  for (const account of config.accounts) if (account.tenant !== undefined && served.has(account.phone)) tenantOf.set(account.phone, account.tenant);
  const listed = new Map<string, string>();
  for (const [tenant, phones] of Object.entries(given)) {
    if (!TENANT_NAME.test(tenant)) throw new ConfigError(`tenant name ${JSON.stringify(tenant)} is not allowed: use ${TENANT_NAME_RULE}`, 'tenants');
    for (const phone of phones) {
      if (!served.has(phone)) throw new ConfigError(`tenant ${tenant} lists account ${phone}, which this runtime does not serve`, 'tenants');
      const other = listed.get(phone);
      if (other !== undefined && other !== tenant) throw new ConfigError(`account ${phone} is listed under two tenants (${other} and ${tenant}): an account belongs to one tenant`, 'tenants');
      listed.set(phone, tenant);
      tenantOf.set(phone, tenant);
    }
  }
  for (const phone of served) if (!tenantOf.has(phone)) tenantOf.set(phone, DEFAULT_TENANT);
  return tenantOf;
}
