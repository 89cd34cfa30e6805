import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TelegramCache } from '../src/cache/telegram-cache.js';
import { Reporter } from '../src/telemetry/reporter.js';
import { FleetMetrics, startMetricsServer, type FleetMetricsSource, type MetricsServer } from '../src/telemetry/prometheus.js';

/** The sample lines of a scrape, keyed by name and labels as Prometheus prints them. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    values.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return values;
}

function stats(taskId: string, hits: number, misses: number) {
  return {
    taskId,
    account: '+100',
    task: 'resolve-peers',
    scope: 'process' as const,
    warmStart: true,
    perAccountMaxEntries: 500,
    wasInvalidated: false,
    hits,
    misses,
    sets: misses,
    invalidations: 0,
    evictions: { capacity: 0, accountCap: 0, expired: 0 },
    size: 3,
    durationMs: 250,
  };
}

describe('Prometheus /metrics', () => {
  let now: number;
  let reporter: Reporter;
  let source: { -readonly [K in keyof FleetMetricsSource]: FleetMetricsSource[K] };
  let metrics: FleetMetrics;
  let server: MetricsServer;

  beforeEach(async () => {
    now = 1_000_000;
    reporter = new Reporter();
    const cache = new TelegramCache({ scope: 'process', maxSize: 100 });
    cache.set('+100', 'username:alice', { id: 1 });
    cache.set('+100', 'username:bob', { id: 2 });
    source = { reporter, registry: { scope: 'process', currentProcessCache: cache }, queuedTasks: 0, runningTasks: 0 };
    metrics = new FleetMetrics(source, { clock: () => now });
    server = await startMetricsServer(metrics, { port: 0, host: '127.0.0.1' });
  });

  afterEach(async () => {
    metrics.close();
    await server.close();
  });

  async function scrape(): Promise<Map<string, number>> {
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return samples(await response.text());
  }

  it('listens on the port the system picked', () => {
    expect(server.address.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.address.port}/metrics`);
  });

  it('starts every counter series at zero', async () => {
    const values = await scrape();
    expect(values.get('tgfleet_cache_hits_total{scope="process"}')).toBe(0);
    expect(values.get('tgfleet_cache_misses_total{scope="process"}')).toBe(0);
    expect(values.get('tgfleet_cache_evictions_total{reason="accountCap"}')).toBe(0);
    expect(values.get('tgfleet_tasks_total{outcome="ok"}')).toBe(0);
    expect(values.get('tgfleet_tasks_total{outcome="error"}')).toBe(0);
  });

  it('counts what the reporter emits and samples the runtime at scrape time', async () => {
    reporter.emit('cache:stats', stats('1', 3, 1));
    reporter.emit('task:end', { taskId: '1', account: '+100', task: 'resolve-peers', durationMs: 250 });
    reporter.emit('cache:stats', stats('2', 4, 2));
    reporter.emit('task:error', {
      taskId: '2',
      account: '+200',
      task: 'resolve-peers',
      durationMs: 4000,
      error: { name: 'FloodWaitError', message: 'wait', code: 420, errorMessage: 'FLOOD_WAIT_30', seconds: 30 },
    });
    reporter.emit('cache:eviction', { account: '+100', key: 'username:carol', reason: 'accountCap' });
    reporter.emit('cache:eviction', { account: '+100', key: 'username:dave', reason: 'expired' });
    reporter.emit('flood:cooldown', { account: '+200', seconds: 30, method: 'contacts.ResolveUsername', cooldownMs: 30_000 });
    reporter.emit('flood:cooldown', { account: '+300', seconds: 1, method: 'contacts.ResolveUsername', cooldownMs: 1_000 });
    source.queuedTasks = 7;
    source.runningTasks = 2;

    const values = await scrape();
    expect(values.get('tgfleet_cache_hits_total{scope="process"}')).toBe(7);
    expect(values.get('tgfleet_cache_misses_total{scope="process"}')).toBe(3);
    expect(values.get('tgfleet_cache_entries')).toBe(2);
    expect(values.get('tgfleet_cache_evictions_total{reason="accountCap"}')).toBe(1);
    expect(values.get('tgfleet_cache_evictions_total{reason="expired"}')).toBe(1);
    expect(values.get('tgfleet_cache_evictions_total{reason="capacity"}')).toBe(0);
    expect(values.get('tgfleet_tasks_total{outcome="ok"}')).toBe(1);
    expect(values.get('tgfleet_tasks_total{outcome="error"}')).toBe(1);
    expect(values.get('tgfleet_task_duration_seconds_count{outcome="ok"}')).toBe(1);
    expect(values.get('tgfleet_task_duration_seconds_sum{outcome="error"}')).toBe(4);
    expect(values.get('tgfleet_task_duration_seconds_bucket{le="0.25",outcome="ok"}')).toBe(1);
    expect(values.get('tgfleet_task_duration_seconds_bucket{le="2.5",outcome="error"}')).toBe(0);
    expect(values.get('tgfleet_flood_cooldowns_total{method="contacts.ResolveUsername"}')).toBe(2);
    expect(values.get('tgfleet_flood_cooled_down_accounts')).toBe(2);
    expect(values.get('tgfleet_tasks_queued')).toBe(7);
    expect(values.get('tgfleet_tasks_running')).toBe(2);

    now += 5_000;
    expect((await scrape()).get('tgfleet_flood_cooled_down_accounts')).toBe(1);
  });

  it('reports an empty cache size in task scope and once the process cache is gone', async () => {
    source.registry = { scope: 'task', currentProcessCache: null };
    expect((await scrape()).get('tgfleet_cache_entries')).toBe(0);
  });

  it('stops counting once closed', async () => {
    metrics.close();
    reporter.emit('task:end', { taskId: '1', account: '+100', task: 'resolve-peers', durationMs: 1 });
    expect((await scrape()).get('tgfleet_tasks_total{outcome="ok"}')).toBe(0);
    expect(reporter.listenerCount('task:end')).toBe(0);
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    const base = `http://127.0.0.1:${server.address.port}`;
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics/extra`)).status).toBe(404);
    expect((await fetch(`${base}/metrics?debug=1`)).status).toBe(200);
    const post = await fetch(server.url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('keeps each instance in its own registry', async () => {
    const other = new FleetMetrics({ ...source, reporter: new Reporter() });
    reporter.emit('task:end', { taskId: '1', account: '+100', task: 'resolve-peers', durationMs: 1 });
    expect(samples(await other.metrics()).get('tgfleet_tasks_total{outcome="ok"}')).toBe(0);
    expect((await scrape()).get('tgfleet_tasks_total{outcome="ok"}')).toBe(1);
    other.close();
  });
});
