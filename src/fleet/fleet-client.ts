import pg from 'pg';
import { reviveError, type SerializedError } from '../channel/remote-error.js';
import { loadConfig, type FleetConfig } from '../config/config.js';
import { connectionUrl } from '../config/postgres-url.js';
import { FleetQueue, type FinishedJob, type FleetOutcome } from './fleet-queue.js';
import { shardOf } from './shard-map.js';
import { taskUuid } from './task-id.js';

export interface FleetSubmitOptions<Args = unknown> {
  /** The account's phone number, as the hosts know it. */
  account: string;
  /** An example task's name, a path to a task module or a file: URL, as the hosts resolve it. */
  task: string;
  args?: Args;
  /**
   * The task's own id. Submitting again with the same id (after a crash, say) joins the first
   * submission instead of queueing another. Generated when absent.
   */
  taskId?: string;
}

/** The fleet gave a task up: it was run again `fleet.retry_limit` times after its hosts lost it. */
export class FleetTaskFailedError extends Error {
  override readonly name = 'FleetTaskFailedError';
}

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * Submits tasks to a fleet from any process, hosts included, and resolves each with its result or
 * its error. An account's tasks submitted through one client are queued in the order of the
 * submit calls.
 */
export class FleetClient {
  private readonly waiting = new Map<string, Waiting[]>();
  /** The last queueing of each account, so the next one is queued after it. */
  private readonly accountTail = new Map<string, Promise<unknown>>();
  private lookup: Promise<void> | null = null;
  private lookupAgain = false;
  private readonly poller: NodeJS.Timeout;
  private closed = false;

  private constructor(
    readonly config: FleetConfig,
    private readonly queue: FleetQueue,
    private readonly listener: pg.Client,
  ) {
    listener.on('notification', (message) => {
      if (message.payload !== undefined && this.waiting.has(message.payload)) this.lookUp();
    });
    // NOTIFY is the fast path; the poll catches what a reconnect or a busy listener missed.
    this.poller = setInterval(() => this.lookUp(), config.fleet.pollIntervalMs);
    this.poller.unref();
  }

  static async connect(options: { config?: FleetConfig } = {}): Promise<FleetClient> {
    const config = options.config ?? loadConfig().config;
    const queue = await FleetQueue.open(config.fleet, { role: 'client', applicationName: 'tgfleet client' });
    const listener = new pg.Client({ connectionString: connectionUrl(config.fleet.databaseUrl), application_name: 'tgfleet client (results)' });
    listener.on('error', () => undefined);
    try {
      await listener.connect();
      await listener.query(`LISTEN "${queue.names.doneChannel}"`);
    } catch (error) {
      await listener.end().catch(() => undefined);
      await queue.close();
      throw error;
    }
    return new FleetClient(config, queue, listener);
  }

  /** Tasks submitted through this client that have not ended yet. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Queues a task for its account's owner and resolves with its result, or rejects with its error. */
  submit<Result = unknown, Args = unknown>(options: FleetSubmitOptions<Args>): Promise<Result> {
    if (this.closed) return Promise.reject(new Error('the fleet client is closed'));
    if (typeof options.account !== 'string' || options.account === '') return Promise.reject(new TypeError('submit needs an account: the phone number as the hosts know it'));
    if (typeof options.task !== 'string' || options.task === '') return Promise.reject(new TypeError('submit needs a task: an example task name or a task module path'));
    const id = taskUuid(options.account, options.taskId);
    const shard = shardOf(options.account, this.config.fleet.shards);
    const result = new Promise<Result>((resolve, reject) => {
      const list = this.waiting.get(id) ?? [];
      list.push({ resolve: resolve as (value: unknown) => void, reject });
      this.waiting.set(id, list);
    });
    const previous = this.accountTail.get(options.account) ?? Promise.resolve();
    const queued = previous.catch(() => undefined).then(() => this.queue.send(shard, id, { account: options.account, task: options.task, ...(options.args !== undefined && { args: options.args }) }));
    this.accountTail.set(options.account, queued);
    queued.then(
      // A task submitted again may have ended already: look it up at once.
      () => this.lookUp(),
      (error: Error) => this.settle(id, (waiter) => waiter.reject(error)),
    );
    void queued.finally(() => {
      if (this.accountTail.get(options.account) === queued) this.accountTail.delete(options.account);
    });
    return result;
  }

  /** Stops listening; tasks still pending keep running on the hosts, but this client no longer hears of them. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    await Promise.allSettled([...this.accountTail.values()]);
    await this.lookup;
    for (const id of [...this.waiting.keys()]) this.settle(id, (waiter) => waiter.reject(new Error(`the fleet client closed before task ${id} ended`)));
    await this.listener.end().catch(() => undefined);
    await this.queue.close();
  }

  private lookUp(): void {
    if (this.lookup !== null) {
      this.lookupAgain = true;
      return;
    }
    this.lookup = (async () => {
      do {
        this.lookupAgain = false;
        const ids = [...this.waiting.keys()];
        for (let start = 0; start < ids.length; start += 1000) {
          const finished = await this.queue.finished(ids.slice(start, start + 1000)).catch(() => [] as FinishedJob[]);
          for (const job of finished) this.deliver(job);
        }
      } while (this.lookupAgain && !this.closed);
    })().finally(() => (this.lookup = null));
  }

  private deliver(job: FinishedJob): void {
    if (job.state === 'completed') {
      const outcome = job.output as FleetOutcome;
      if (outcome.ok) this.settle(job.id, (waiter) => waiter.resolve(outcome.value));
      // Rebuilt as its own class (a FloodWaitError stays one), as the runtime gives it to a caller on the host.
      else this.settle(job.id, (waiter) => waiter.reject(reviveError(outcome.error as SerializedError)));
      return;
    }
    this.settle(job.id, (waiter) => waiter.reject(new FleetTaskFailedError(`task ${job.id} was ${job.state} by the fleet after its hosts lost it ${this.config.fleet.retryLimit} times`)));
  }

  private settle(id: string, how: (waiter: Waiting) => void): void {
    const list = this.waiting.get(id);
    this.waiting.delete(id);
    for (const waiter of list ?? []) how(waiter);
  }
}
