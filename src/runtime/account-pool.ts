import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { PiscinaTask } from 'piscina';
import { ChannelServer, type ServedTask } from '../channel/channel-server.js';
import { CrashRecord } from '../channel/crash-record.js';
import type { TaskPayload, WorkerPayload, WorkerReply } from '../channel/protocol.js';
import { isLinkOffer } from '../channel/wire.js';
import { ConfigError } from '../config/config.js';
import { workerEntry } from '../module-paths.js';

export interface AccountPoolOptions {
  /**
   * Worker threads, shared out among the tenants, at least one each (no thread serves two
   * tenants): fewer than there are tenants is refused. 0 means one per core, or one per tenant
   * when there are more tenants than cores.
   */
  threads: number;
  /** Tasks one worker runs at once: account tasks mostly wait on Telegram, so a worker can interleave several. */
  tasksPerWorker: number;
  maxWorkerMemoryMb: number;
  /** Each account's tenant; an account not in it belongs to {@link DEFAULT_TENANT}. */
  tenantOf?: ReadonlyMap<string, string>;
}

/** The tenant of every account when none is configured: one operator's fleet. */
export const DEFAULT_TENANT = 'default';

/**
 * The workers of one tenant, or of one quarantined account: a Piscina pool of their own, so that
 * no thread ever holds the clients, cache channels or memory of two tenants.
 */
interface WorkerGroup {
  name: string;
  threads: number;
  piscina: Piscina<WorkerPayload, WorkerReply>;
  readyWorkers: number;
  /** The workers Piscina last offered the group's balancer; their state is read live from these views. */
  lastOffered: PiscinaWorkerView[];
}

/** The affinity key rides on the task object where Piscina hands it to the balancer. */
interface AccountTask {
  account: string | null;
  /** A message for one particular worker (the shutdown disconnect). */
  worker?: number;
  /** The task's binding, opened on the link of the worker it goes to, and on that one only. */
  served?: ServedTask;
}

/** How a worker died, as read the moment Piscina gave it up, before it failed the worker's tasks. */
export interface WorkerDeath {
  /** The binding of the task that killed the worker; null when nobody can tell. */
  culprit: number | null;
  /** What the worker or the runtime said about it, when anything. */
  reason: string | null;
  /** Tasks the worker held when it died. */
  residents: number;
}

/** The threads the tenants' pools have in all: `runtime.workers`, which must leave every tenant one. */
function threadsFor(workers: number, tenants: readonly string[]): number {
  if (workers === 0) return Math.max(availableParallelism(), tenants.length);
  if (workers >= tenants.length) return workers;
  const named = tenants.length > 5 ? `${tenants.slice(0, 5).join(', ')}, …` : tenants.join(', ');
  throw new ConfigError(
    `runtime.workers is ${workers}, but the accounts belong to ${tenants.length} tenants (${named}): no worker thread serves two tenants, so each needs one of its own; set runtime.workers to at least ${tenants.length}, or to 0 for one per CPU core (and at least one per tenant)`,
    'runtime.workers',
  );
}

/** Deaths remembered for the tasks that still have to read theirs: far more than die at once. */
const MAX_DEATHS = 64;

type PiscinaWorkerView = Parameters<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & object>[1][number];

/**
 * The Piscina pools that run account tasks: one per tenant, and one for each quarantined account.
 * A pool's balancer keeps each account on one worker while that worker lives, so the account's
 * Telegram client and connection in that worker are reused; a new account goes to the worker
 * serving the fewest accounts.
 */
export class AccountPool {
  /** Threads of the tenants' pools (quarantined accounts' threads come on top). */
  readonly threads: number;
  readonly tasksPerWorker: number;
  private readonly maxWorkerMemoryMb: number;
  private readonly tenants = new Map<string, WorkerGroup>();
  private readonly tenantOf: ReadonlyMap<string, string>;
  /** Quarantined accounts' pools, by account. */
  private readonly quarantined = new Map<string, WorkerGroup>();
  private readonly workerOf = new Map<string, number>();
  private readonly accountsOn = new Map<number, number>();
  /**
   * Accounts moved to a surviving worker while theirs was gone and its replacement not yet
   * started: once the pool is whole again, each moves once more, when it has no task placed, so
   * the survivors do not keep every orphan.
   */
  private readonly interim = new Set<string>();
  /** Tasks of each account placed on a worker and not yet ended. */
  private readonly placedOf = new Map<string, number>();
  /** The main end of each worker's link, by the worker's thread id. */
  private readonly links = new Map<number, ChannelServer>();
  /** Tasks placed on a worker whose link offer has not arrived yet. */
  private readonly awaitingLink = new Map<number, ServedTask[]>();
  private readonly crashRecords = new Map<number, CrashRecord>();
  /** The tasks each worker holds now, by thread id. */
  private readonly residents = new Map<number, Set<ServedTask>>();
  /** Workers the runtime stopped itself, with the task it stopped them for. */
  private readonly stoppedFor = new Map<number, { binding: number; reason: string }>();
  private readonly deaths = new Map<number, WorkerDeath>();

  constructor(options: AccountPoolOptions) {
    this.tasksPerWorker = options.tasksPerWorker;
    this.maxWorkerMemoryMb = options.maxWorkerMemoryMb;
    this.tenantOf = options.tenantOf ?? new Map();
    const names = [...new Set(this.tenantOf.values())].sort();
    if (names.length === 0) names.push(DEFAULT_TENANT);
    const total = threadsFor(options.threads, names);
    // Every tenant gets at least one thread, and the rest are shared out as evenly as they go.
    const each = Math.floor(total / names.length);
    let spare = total - each * names.length;
    for (const name of names) {
      const threads = each + (spare > 0 ? 1 : 0);
      spare = Math.max(0, spare - 1);
      this.tenants.set(name, this.group(name, threads));
    }
    this.threads = [...this.tenants.values()].reduce((sum, group) => sum + group.threads, 0);
  }

  private group(name: string, threads: number): WorkerGroup {
    const entry = workerEntry();
    const group: WorkerGroup = {
      name,
      threads,
      readyWorkers: 0,
      lastOffered: [],
      piscina: new Piscina({
        filename: entry.filename,
        minThreads: threads,
        maxThreads: threads,
        idleTimeout: Infinity,
        concurrentTasksPerWorker: this.tasksPerWorker,
        // Parked workers ('sync') may not receive port messages between tasks.
        atomics: 'disabled',
        // The scheduler bounds and orders the queue; Piscina's own bound would turn a busy account's
        // waiting task into a rejection.
        maxQueue: Infinity,
        resourceLimits: { maxOldGenerationSizeMb: this.maxWorkerMemoryMb },
        loadBalancer: (task, workers) => this.pick(group, task, workers),
      }),
    };
    // A worker offers its link when it loads, before it takes any task.
    group.piscina.on('message', (message: unknown) => {
      if (!isLinkOffer(message)) return;
      const { threadId } = message;
      const server = new ChannelServer(message.tgfleetLink);
      this.links.set(threadId, server);
      this.crashRecords.set(threadId, new CrashRecord(message.crashRecord));
      // Piscina's own listeners came first: they fail the worker's tasks, whose callbacks run only
      // after this emit, by when the death is recorded. (Piscina's 'workerDestroy' would come too
      // late to know the thread: a worker's threadId reads -1 once it has exited.)
      const thread = group.piscina.threads.find((worker) => worker.threadId === threadId);
      const gone = (): void => this.workerGone(threadId);
      thread?.once('exit', gone);
      thread?.on('error', gone);
      for (const task of this.awaitingLink.get(message.threadId) ?? []) task.attach(server);
      this.awaitingLink.delete(message.threadId);
    });
    return group;
  }

  private groups(): WorkerGroup[] {
    return [...this.tenants.values(), ...this.quarantined.values()];
  }

  /** The pool an account's tasks run in: its own when quarantined, else its tenant's. */
  private groupOf(account: string): WorkerGroup {
    return this.quarantined.get(account) ?? (this.tenants.get(this.tenantOf.get(account) ?? DEFAULT_TENANT) as WorkerGroup);
  }

  /** The tenant an account belongs to. */
  tenant(account: string): string {
    return this.tenantOf.get(account) ?? DEFAULT_TENANT;
  }

  /**
   * Moves an account to a worker of its own, started now, where its crashes can take down no
   * other account's tasks; its tasks on its old worker finish there.
   */
  quarantine(account: string): void {
    if (this.quarantined.has(account)) return;
    const current = this.workerOf.get(account);
    if (current !== undefined) this.unassign(account, current);
    this.quarantined.set(account, this.group(`quarantine:${account}`, 1));
  }

  /** The accounts on workers of their own. */
  quarantinedAccounts(): string[] {
    return [...this.quarantined.keys()];
  }

  /** Waits until every worker has loaded, so the first accounts spread over all of them; rejects if they have not within `timeoutMs`. */
  async ready(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const group of this.tenants.values()) {
      while (group.readyWorkers < group.threads && Date.now() < deadline) {
        await group.piscina.run({ ping: true });
        if (group.readyWorkers < group.threads) await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    const ready = [...this.tenants.values()].reduce((sum, group) => sum + Math.min(group.readyWorkers, group.threads), 0);
    if (ready < this.threads) {
      throw new Error(`only ${ready} of ${this.threads} worker threads had started after ${timeoutMs} ms: the machine may be overloaded, or runtime.workers too high for it`);
    }
  }

  /**
   * Runs a task; its calls are answered on the link of the worker it lands on, under `served`.
   * Resolves when the worker has sent the task's outcome (read it from `served.ended`).
   */
  run(payload: TaskPayload, account: string, served: ServedTask): Promise<WorkerReply> {
    // A symbol-keyed property does not travel with the payload: structured clone skips it.
    const options: AccountTask = { account, served };
    (payload as unknown as Record<symbol, AccountTask>)[Piscina.queueOptionsSymbol] = options;
    const run = this.groupOf(account).piscina.run(payload);
    const leave = (): void => this.leave(account, served);
    run.then(leave, leave);
    return run;
  }

  private place(account: string, served: ServedTask, threadId: number): void {
    this.placedOf.set(account, (this.placedOf.get(account) ?? 0) + 1);
    served.threadId = threadId;
    let held = this.residents.get(threadId);
    if (held === undefined) {
      held = new Set();
      this.residents.set(threadId, held);
    }
    held.add(served);
    const server = this.links.get(threadId);
    if (server !== undefined) served.attach(server);
    else {
      const waiting = this.awaitingLink.get(threadId);
      if (waiting === undefined) this.awaitingLink.set(threadId, [served]);
      else waiting.push(served);
    }
  }

  private leave(account: string, served: ServedTask): void {
    // A task is placed once, when the balancer picks its worker; one never placed left nothing behind.
    if (served.threadId === null) return;
    this.residents.get(served.threadId)?.delete(served);
    const left = (this.placedOf.get(account) ?? 1) - 1;
    if (left > 0) this.placedOf.set(account, left);
    else this.placedOf.delete(account);
  }

  /**
   * Stops a worker whose event loop a task holds (it did not even see its abort), so the thread's
   * other tasks can run again elsewhere; Piscina starts a replacement. From now on the balancer
   * sends nothing there: the accounts it served move to a live worker at once, since a fresh
   * thread takes seconds to load.
   */
  replaceWorker(threadId: number, binding: number, reason: string): void {
    const thread = this.groups()
      .flatMap((group) => group.piscina.threads)
      .find((worker) => worker.threadId === threadId);
    if (thread === undefined) return;
    this.stoppedFor.set(threadId, { binding, reason });
    void thread.terminate();
  }

  /**
   * Watches the worker of a task that was revoked after it had seen its abort, for as long as the
   * task still runs there: the task may have blocked the worker's event loop only later (a loop
   * that starts after an await). The worker is probed every `intervalMs`, and stopped like
   * `replaceWorker` does when a probe goes unanswered that long.
   */
  watchRevoked(served: ServedTask, intervalMs: number, reason: string): void {
    const threadId = served.threadId;
    if (threadId === null) return;
    const probe = (): void => {
      const server = this.links.get(threadId);
      if (server === undefined || this.residents.get(threadId)?.has(served) !== true) return;
      const answered = server.answeredProbes;
      server.probe();
      setTimeout(() => {
        if (this.links.get(threadId) !== server || this.residents.get(threadId)?.has(served) !== true) return;
        if (server.answeredProbes === answered) this.replaceWorker(threadId, served.binding, reason);
        else probe();
      }, intervalMs).unref();
    };
    probe();
  }

  /** How the worker `threadId` died, once it has; undefined while it lives. */
  death(threadId: number): WorkerDeath | undefined {
    return this.deaths.get(threadId);
  }

  private workerGone(threadId: number): void {
    if (!this.crashRecords.has(threadId)) return;
    this.recordDeath(threadId);
    this.links.get(threadId)?.close();
    this.links.delete(threadId);
    this.crashRecords.delete(threadId);
    this.residents.delete(threadId);
    this.stoppedFor.delete(threadId);
  }

  private recordDeath(threadId: number): void {
    const stopped = this.stoppedFor.get(threadId);
    const cause = this.crashRecords.get(threadId)?.read() ?? { binding: null, reason: null };
    const residents = this.residents.get(threadId)?.size ?? 0;
    this.deaths.set(threadId, stopped === undefined ? { culprit: cause.binding, reason: cause.reason, residents } : { culprit: stopped.binding, reason: stopped.reason, residents });
    if (this.deaths.size > MAX_DEATHS) this.deaths.delete(this.deaths.keys().next().value as number);
  }

  /**
   * Asks every worker to disconnect its Telegram clients (only those of `accounts`, when given);
   * gives up after `timeoutMs` (a live network may hang).
   */
  async disconnectClients(timeoutMs: number, accounts?: readonly string[]): Promise<void> {
    const asks = (group: WorkerGroup) => async (): Promise<void> => {
      // A ping passes the balancer, which refreshes the list of live workers (one may have been replaced).
      await group.piscina.run({ ping: true });
      await Promise.allSettled(
        this.live(group.lastOffered).map(({ id: worker }) =>
          group.piscina.run(
            Object.assign({ disconnect: true as const, ...(accounts !== undefined && { accounts: [...accounts] }) }, { [Piscina.queueOptionsSymbol]: { account: null, worker } satisfies AccountTask }),
          ),
        ),
      );
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    // Shutdown goes on whatever happens here: a client that cannot say goodbye is closed with its thread.
    await Promise.race([Promise.all(this.groups().map((group) => asks(group)().catch(() => undefined))), deadline]);
    clearTimeout(timer);
  }

  /** Which worker serves each account now, for tests and diagnostics. */
  assignments(): ReadonlyMap<string, number> {
    return this.workerOf;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.groups().map((group) => group.piscina.destroy()));
  }

  private pick(group: WorkerGroup, task: PiscinaTask, workers: PiscinaWorkerView[]): PiscinaWorkerView | null {
    group.readyWorkers = Math.max(group.readyWorkers, workers.length);
    group.lastOffered = workers;
    const options = (task as unknown as Record<symbol, AccountTask | null>)[Piscina.queueOptionsSymbol];
    if (options?.worker !== undefined) {
      const live = this.live(workers);
      return live.find((worker) => worker.id === options.worker) ?? this.leastBusy(live);
    }
    const account = options?.account ?? null;
    if (account === null) return this.leastBusy(this.live(workers));
    const chosen = this.forAccount(account, workers, group.threads);
    if (chosen !== null && options?.served !== undefined) this.place(account, options.served, chosen.id);
    return chosen;
  }

  private isLive(worker: PiscinaWorkerView): boolean {
    return !worker.terminating && !worker.destroyed && !this.stoppedFor.has(worker.id);
  }

  private live(workers: PiscinaWorkerView[]): PiscinaWorkerView[] {
    return workers.filter((worker) => this.isLive(worker));
  }

  /** The account's worker while it lives (found without building a list: this runs for every task), else a new one. */
  private forAccount(account: string, workers: PiscinaWorkerView[], threads: number): PiscinaWorkerView | null {
    const current = this.workerOf.get(account);
    if (current !== undefined) {
      let worker: PiscinaWorkerView | undefined;
      for (const candidate of workers) {
        if (candidate.id === current) {
          if (this.isLive(candidate)) worker = candidate;
          break;
        }
      }
      // The account's worker is alive: its task goes there even past tasksPerWorker (tasks mostly
      // wait on Telegram, and the scheduler bounds the total), since declining would stall
      // Piscina's whole queue behind it, and moving would cost the account its client.
      if (worker !== undefined && !this.mayRebalance(account, workers, threads)) return worker;
      this.unassign(account, current);
    }
    const live = this.live(workers);
    const whole = live.length >= threads;
    const chosen = live
      .filter((worker) => worker.currentUsage < this.tasksPerWorker)
      .sort((a, b) => (this.accountsOn.get(a.id) ?? 0) - (this.accountsOn.get(b.id) ?? 0) || a.currentUsage - b.currentUsage)[0];
    if (chosen === undefined) return null;
    this.workerOf.set(account, chosen.id);
    this.accountsOn.set(chosen.id, (this.accountsOn.get(chosen.id) ?? 0) + 1);
    // A worker is missing: the account waits on a survivor rather than for a thread still loading.
    if (current !== undefined && !whole) this.interim.add(account);
    return chosen;
  }

  /** An account parked on a survivor may move once the pool is whole, if nothing of it runs where it is. */
  private mayRebalance(account: string, workers: PiscinaWorkerView[], threads: number): boolean {
    if (!this.interim.has(account)) return false;
    const live = this.live(workers);
    if (live.length < threads || (this.placedOf.get(account) ?? 0) > 0) return false;
    this.interim.delete(account);
    const here = this.accountsOn.get(this.workerOf.get(account) as number) ?? 0;
    const fewest = Math.min(...live.map((worker) => this.accountsOn.get(worker.id) ?? 0));
    return fewest < here - 1;
  }

  private unassign(account: string, worker: number): void {
    this.workerOf.delete(account);
    this.interim.delete(account);
    const left = (this.accountsOn.get(worker) ?? 1) - 1;
    if (left > 0) this.accountsOn.set(worker, left);
    else this.accountsOn.delete(worker);
  }

  private leastBusy(workers: PiscinaWorkerView[]): PiscinaWorkerView | null {
    const idle = workers.filter((worker) => worker.currentUsage < this.tasksPerWorker);
    return idle.sort((a, b) => a.currentUsage - b.currentUsage)[0] ?? null;
  }
}
