import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, expect, test, vi } from 'vitest';
import type { BenchRecord } from '../bench/harness.js';
import { runHitRateBenchmark } from '../src/benchmark/hit-rate.js';
import { LEVELS, runRedisBench } from '../bench/redis.bench.js';
import { runRuntimeBench } from '../bench/runtime.bench.js';
import { runTelegramCacheBench } from '../bench/telegram-cache.bench.js';
import { ENTRY_BYTES, runPolicyGrid, runPolicyGridBenchmark } from '../bench/policy-grid.js';
import { interleaved, readTrace, replayTrace } from '../bench/public-traces.js';
import { defaultConfig } from '../src/config/config.js';

const outDir = mkdtempSync(join(tmpdir(), 'tgfleet-bench-'));

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

// Each benchmark does a fixed amount of work (the hit-rate one starts six real runtimes one after
// another), which a full parallel suite on a loaded two-core machine stretches several times over:
// the suite's budget is for a test, not for a benchmark run end to end.
vi.setConfig({ testTimeout: 120_000 });

// Only that the benchmark runs end to end and records what it should: timings in a test are noise.
test('the cache benchmark runs in quick mode, idle and under load, records every pair with its spread and measures bytes per entry', async () => {
  const printed: string[] = [];
  const { idle, loaded, memory } = await runTelegramCacheBench({ quick: true, outDir, print: (line) => printed.push(line) });
  expect([idle.file, loaded.file]).toEqual([join(outDir, 'telegram-cache-idle.json'), join(outDir, 'telegram-cache-loaded.json')]);

  for (const file of [idle.file, loaded.file]) {
    const record = JSON.parse(readFileSync(file, 'utf8')) as BenchRecord;
    expect(record).toMatchObject({ quick: true, statistic: 'p50', repetitions: 1, unit: 'ns/op', machine: { node: process.version } });
    expect(Number.isNaN(Date.parse(record.date))).toBe(false);
    expect(record.pairs.map((p) => p.name)).toEqual(['get hit, 1e3 entries', 'get miss, 1e3 entries', 'set insert, evicting, 1e3 entries', 'set overwrite, 1e3 entries']);
    for (const pair of record.pairs) {
      expect([pair.subject.label, pair.peer.label]).toEqual(['TelegramCache', 'lru-cache@11']);
      expect(Number.isFinite(pair.ratio) && pair.ratio > 0, `${pair.name}: ratio ${pair.ratio}`).toBe(true);
      expect(pair.ratio).toBeCloseTo(pair.subject.p50 / pair.peer.p50, 10);
      expect(pair.ratios.min).toBeLessThanOrEqual(pair.ratios.max);
    }
  }
  expect(memory.entries).toBe(1000);
  expect(memory.payloadBytes).toBeGreaterThan(100);
  for (const bytes of [memory.telegramCacheBytesPerEntry, memory.lruCacheBytesPerEntry]) expect(Number.isFinite(bytes)).toBe(true);
  expect(printed.join('\n')).toContain('set overwrite');
  expect(printed.join('\n')).toContain('bytes per entry');
});

test('the runtime benchmark runs in quick mode against its baselines and writes its section with finite ratios', async () => {
  const section = await runRuntimeBench({ quick: true, outDir, print: () => undefined });

  expect(section.startsWith('## Runtime and channel against raw Piscina and a raw MessagePort\n')).toBe(true);
  const rows = section.split('\n').filter((line) => /^\| (idle|loaded|8 tasks)/.test(line));
  expect(rows.map((row) => row.split('|')[1]?.trim().split(':')[0])).toEqual(['idle', 'loaded', '8 tasks in flight']);
  for (const row of rows) {
    const ratios = [...row.matchAll(/(\d+\.\d+)×/g)].map((match) => Number(match[1]));
    expect(ratios, row).toHaveLength(6);
    for (const ratio of ratios) expect(ratio, row).toBeGreaterThan(0);
  }
  const channel = JSON.parse(readFileSync(join(outDir, 'runtime-channel.json'), 'utf8')) as BenchRecord;
  expect(channel.pairs.map((p) => [p.subject.label, p.peer.label])).toEqual([
    ['cache channel', 'MessagePort'],
    ['cache channel', 'MessagePort'],
  ]);
  for (const pair of channel.pairs) expect(Number.isFinite(pair.ratio) && pair.ratio > 0, `${pair.name}: ratio ${pair.ratio}`).toBe(true);
});

test('the Redis benchmark sweeps every level in quick mode, or says clearly why it skipped', async () => {
  const printed: string[] = [];
  const section = await runRedisBench({ quick: true, outDir, print: (line) => printed.push(line) });

  expect(section.startsWith('## Shared cache against Redis\n')).toBe(true);
  expect(printed).toEqual([section]);
  const rows = section.split('\n').filter((line) => /^\|\s+\d+ \|/.test(line));
  if (rows.length === 0) {
    expect(section).toMatch(/Redis rows are skipped/);
    return;
  }
  expect(rows.map((row) => Number(row.split('|')[1]))).toEqual([...LEVELS]);
  for (const row of rows) {
    const ratios = [...row.matchAll(/(\d+\.\d+)×/g)].map((match) => Number(match[1]));
    expect(ratios, row).toHaveLength(3);
    for (const ratio of ratios) expect(ratio, row).toBeGreaterThan(0);
  }
});

test('the hit-rate benchmark runs every variant and bound and writes its table, JSON and chart', async () => {
  const config = defaultConfig();
  config.logging.level = 'silent';
  config.runtime.workers = 2;
  config.telegram.simulated.accounts = 3;
  config.workload.publicPeers = 40;
  const report = await runHitRateBenchmark({ config, quick: true, outDir });

  expect(report.variants.map((v) => v.name)).toEqual(['bare GramJS', 'task scope', 'process scope', 'unbounded cache', 'process scope, 25% size, tinylfu', 'process scope, 25% size, lru']);
  expect(report.bounds.map((b) => b.name)).toEqual(['first-lookup bound', 'Belady, quarter size']);
  expect(report.workingSetEntries).toBeGreaterThanOrEqual(report.workingSet);
  expect(report.smallCacheBytes).toBe(Math.ceil(report.workingSetBytes / 4));
  const byName = new Map(report.variants.map((v) => [v.name, v]));
  // What the benchmark exists to show: the bare client never hits, a process cache does.
  expect(byName.get('bare GramJS')?.hitRate).toBe(0);
  expect(byName.get('process scope')?.hitRate).toBeGreaterThan(0);
  for (const variant of report.variants) {
    expect(variant.tasks).toBe(3 * report.tasksPerAccount);
    expect(variant.hitRateByRound).toHaveLength(report.tasksPerAccount);
    expect(variant.foreignHashRejections).toBe(0);
  }
  expect(readFileSync(join(outDir, 'hit-rate.md'), 'utf8')).toContain('| process scope');
  expect(JSON.parse(readFileSync(join(outDir, 'hit-rate.json'), 'utf8'))).toMatchObject({ workingSet: report.workingSet });
  expect(readFileSync(join(outDir, 'hit-rate.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
});

test('the policy grid replays every policy and bound per cell, in one unit, with Belady on top', () => {
  const cells = runPolicyGrid({ workload: defaultConfig().workload, accounts: [4], budgets: [0.25, 1], tasksPerAccount: 3 });
  expect(cells.map((c) => [c.activity, c.budget])).toEqual([
    ['round-robin', 0.25],
    ['round-robin', 1],
    ['zipf-accounts', 0.25],
    ['zipf-accounts', 1],
    ['bursts', 0.25],
    ['bursts', 1],
  ]);
  for (const cell of cells) {
    expect(cell.capacity).toBe(Math.max(1, Math.round(cell.workingSet * cell.budget)));
    expect(cell.budgetBytes).toBe(cell.capacity * ENTRY_BYTES);
    // No policy beats the clairvoyant bound, and nothing bounded beats the unbounded cache.
    expect(cell.hitRates.belady).toBeGreaterThanOrEqual(Math.max(cell.hitRates.tinylfu, cell.hitRates.lru));
    expect(cell.hitRates.unbounded).toBeGreaterThanOrEqual(cell.hitRates.belady);
    // With room for the whole working set every policy only misses first lookups.
    if (cell.budget === 1) expect([cell.hitRates.tinylfu, cell.hitRates.lru, cell.hitRates.belady]).toEqual([cell.hitRates.unbounded, cell.hitRates.unbounded, cell.hitRates.unbounded]);
  }
});

test('the grid benchmark writes its table, JSON record and chart in quick mode', () => {
  const dir = join(outDir, 'grid');
  const cells = runPolicyGridBenchmark({ workload: defaultConfig().workload, quick: true, outDir: dir });
  expect(new Set(cells.map((c) => c.accounts))).toEqual(new Set([8, 64]));
  const table = readFileSync(join(dir, 'policy-grid.md'), 'utf8');
  expect(table.split('\n').filter((line) => line.startsWith('|'))).toHaveLength(cells.length + 2);
  expect(JSON.parse(readFileSync(join(dir, 'policy-grid.json'), 'utf8')).cells).toHaveLength(cells.length);
  const svg = readFileSync(join(dir, 'policy-grid.svg'), 'utf8');
  for (const name of ['tinylfu', 'lru', 'Belady (bound)', 'unbounded (bound)']) expect(svg).toContain(`>${name}<`);
});

test('a public trace is read in either format and replayed alone and interleaved, LRU agreeing with lru-cache', () => {
  const text = join(outDir, 'tiny.txt.gz');
  writeFileSync(text, gzipSync('1\n2\n*\n1\n3\n1\n2\n'));
  const binary = join(outDir, 'tiny.u32be.gz');
  const words = Buffer.alloc(16);
  for (const [i, key] of [7, 8, 7, 9].entries()) words.writeUInt32BE(key, i * 4);
  writeFileSync(binary, gzipSync(words));
  expect(readTrace(text)).toEqual(['1', '2', '1', '3', '1', '2']);
  expect(readTrace(binary)).toEqual(['7', '8', '7', '9']);

  const mix = interleaved([readTrace(text), readTrace(binary)]);
  expect(mix.slice(0, 4)).toEqual([
    { account: 'a0', key: '1' },
    { account: 'a1', key: '7' },
    { account: 'a0', key: '2' },
    { account: 'a1', key: '8' },
  ]);
  const row = replayTrace('mix', mix, 2);
  expect(row.lookups).toBe(10);
  expect(row.hitRates.lru).toBe(row.hitRates.lruCache);
  expect(row.hitRates.belady).toBeGreaterThanOrEqual(Math.max(row.hitRates.lru, row.hitRates.tinylfu));
});
