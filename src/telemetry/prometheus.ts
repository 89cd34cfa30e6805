import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TelegramCacheRegistry } from '../cache/registry.js';
import type { EvictionReason } from '../cache/telegram-cache.js';
import type { CacheStatsEvent, EvictionEvent, FloodCooldownEvent, Reporter, TaskEndEvent } from './reporter.js';
import { silentLogger, type Logger } from './logger.js';

/** What the metrics read from a running fleet; a FleetRuntime fits it as it is. */
export interface FleetMetricsSource {
  readonly reporter: Reporter;
  readonly registry: Pick<TelegramCacheRegistry, 'scope' | 'currentProcessCache'>;
  readonly queuedTasks: number;
  readonly runningTasks: number;
  /** Accounts moved to a worker of their own after crashing workers (FleetRuntime has them). */
  readonly quarantinedAccounts?: readonly string[];
}

export interface FleetMetricsOptions {
  logger?: Logger;
  clock?: () => number;
}

export type MetricsRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export const METRICS_PATH = '/metrics';

/** A record whose type lists every reason, so a new eviction reason cannot be left without a series. */
const EVICTION_REASONS = Object.keys({ capacity: true, accountCap: true, expired: true } satisfies Record<EvictionReason, true>);

/** Tasks range from a cached lookup to minutes of flood-limited resolving. */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * Prometheus metrics of one fleet, fed by its reporter and sampled from it at scrape time. Each
 * instance has its own registry, so a host running several fleets, or its own metrics, keeps them
 * apart (or merges them with `Registry.merge`).
 */
export class FleetMetrics {
  readonly register = new Registry();
  private readonly detach: () => void;
  private readonly logger: Logger;
  /** When each account's flood cooldown ends; the reporter says when one starts, never when it ends. */
  private readonly cooldownUntil = new Map<string, number>();

  constructor(source: FleetMetricsSource, options: FleetMetricsOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    const clock = options.clock ?? Date.now;
    const registers = [this.register];

    const hits = new Counter({ name: 'tgfleet_cache_hits_total', help: 'Entity lookups answered by the cache, each a Telegram call not made', labelNames: ['scope'], registers });
    const misses = new Counter({ name: 'tgfleet_cache_misses_total', help: 'Entity lookups the cache could not answer', labelNames: ['scope'], registers });
    new Gauge({
      name: 'tgfleet_cache_entries',
      help: 'Entries in the process-scoped cache; 0 in task scope, where each cache ends with its task',
      registers,
      collect() {
        this.set(source.registry.currentProcessCache?.size ?? 0);
      },
    });
    new Gauge({
      name: 'tgfleet_cache_bytes',
      help: 'Bytes of heap the process-scoped cache entries cost (keys, records, bookkeeping), as cache.process.max_bytes counts them',
      registers,
      collect() {
        this.set(source.registry.currentProcessCache?.bytes ?? 0);
      },
    });
    const evictions = new Counter({ name: 'tgfleet_cache_evictions_total', help: 'Entries the cache dropped on its own, by reason', labelNames: ['reason'], registers });
    const tasks = new Counter({ name: 'tgfleet_tasks_total', help: 'Finished task attempts by outcome; retried: ended in a FLOOD_WAIT and queued again', labelNames: ['outcome'], registers });
    const duration = new Histogram({ name: 'tgfleet_task_duration_seconds', help: 'Task run time, queueing excluded', labelNames: ['outcome'], buckets: DURATION_BUCKETS, registers });
    const cooldowns = new Counter({ name: 'tgfleet_flood_cooldowns_total', help: 'FLOOD_WAITs that held an account, by the method that hit the limit', labelNames: ['method'], registers });
    const cooldownUntil = this.cooldownUntil;
    new Gauge({
      name: 'tgfleet_flood_cooled_down_accounts',
      help: 'Accounts currently held by a flood cooldown',
      registers,
      collect() {
        const now = clock();
        for (const [account, until] of cooldownUntil) if (until <= now) cooldownUntil.delete(account);
        this.set(cooldownUntil.size);
      },
    });
    new Gauge({
      name: 'tgfleet_tasks_queued',
      help: 'Tasks waiting for a worker, an account slot or a cooldown to end',
      registers,
      collect() {
        this.set(source.queuedTasks);
      },
    });
    new Gauge({
      name: 'tgfleet_quarantined_accounts',
      help: 'Accounts on a worker of their own because their tasks crashed workers again and again (runtime.quarantine_crashes)',
      registers,
      collect() {
        this.set(source.quarantinedAccounts?.length ?? 0);
      },
    });
    new Gauge({
      name: 'tgfleet_tasks_running',
      help: 'Tasks running on workers',
      registers,
      collect() {
        this.set(source.runningTasks);
      },
    });

    // Series start at zero, so rate() works from the first scrape rather than the first event.
    hits.inc({ scope: source.registry.scope }, 0);
    misses.inc({ scope: source.registry.scope }, 0);
    for (const reason of EVICTION_REASONS) evictions.inc({ reason }, 0);
    for (const outcome of ['ok', 'error', 'retried']) tasks.inc({ outcome }, 0);

    const onStats = (stats: CacheStatsEvent): void => {
      hits.inc({ scope: stats.scope }, stats.hits);
      misses.inc({ scope: stats.scope }, stats.misses);
    };
    const onEviction = (event: EvictionEvent): void => evictions.inc({ reason: event.reason });
    const finished =
      (outcome: 'ok' | 'error' | 'retried') =>
      (event: TaskEndEvent): void => {
        tasks.inc({ outcome });
        duration.observe({ outcome }, event.durationMs / 1000);
      };
    const onEnd = finished('ok');
    const onError = finished('error');
    const onRetry = finished('retried');
    const onCooldown = (event: FloodCooldownEvent): void => {
      cooldowns.inc({ method: event.method });
      cooldownUntil.set(event.account, Math.max(cooldownUntil.get(event.account) ?? 0, clock() + event.cooldownMs));
    };
    const { reporter } = source;
    reporter.on('cache:stats', onStats).on('cache:eviction', onEviction).on('task:end', onEnd).on('task:error', onError).on('task:retry', onRetry).on('flood:cooldown', onCooldown);
    this.detach = () => {
      reporter.off('cache:stats', onStats).off('cache:eviction', onEviction).off('task:end', onEnd).off('task:error', onError).off('task:retry', onRetry).off('flood:cooldown', onCooldown);
    };
  }

  /** The exposition text a scrape gets. */
  metrics(): Promise<string> {
    return this.register.metrics();
  }

  /**
   * Serves GET and HEAD of `/metrics` and answers 404 elsewhere, so a host can hand it every
   * request of a dedicated server or only those its own router sends to `/metrics`.
   */
  readonly handler: MetricsRequestHandler = (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: metrics are at ${METRICS_PATH}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    this.register.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': this.register.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        this.logger.error({ err: error }, 'could not collect the Prometheus metrics');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('could not collect metrics\n');
      },
    );
  };

  /** Stops listening to the reporter; the counters keep their values for a last scrape. */
  close(): void {
    this.detach();
  }
}

export interface MetricsServerOptions {
  /** 0 lets the system pick a free port; the chosen one is in `address.port`. */
  port: number;
  host: string;
}

export interface MetricsServer {
  address: AddressInfo;
  /** The scrape URL, e.g. http://127.0.0.1:9464/metrics. */
  url: string;
  /** Stops listening and drops open keep-alive connections, so shutdown does not wait on a scraper. */
  close(): Promise<void>;
}

/** Starts a dedicated HTTP server for the metrics, for hosts that do not mount the handler in their own. */
export function startMetricsServer(metrics: FleetMetrics, options: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer(metrics.handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        address,
        url: `http://${host}:${address.port}${METRICS_PATH}`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
