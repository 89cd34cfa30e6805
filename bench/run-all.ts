import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { variantProgress } from '../src/cli/progress.js';
import { formatTable as formatBenchTable, type BenchRun } from './harness.js';
import { quickFromEnv, repositoryRoot } from './bench-env.js';
import { renderHitRateMarkdown, runHitRateBenchmark } from '../src/benchmark/hit-rate.js';
import { runRedisBench } from './redis.bench.js';
import { runRuntimeBench } from './runtime.bench.js';
import { formatMemory, runTelegramCacheBench } from './telegram-cache.bench.js';

/*
 * `npm run bench`: every benchmark, each with its peer in the same run, then bench/RESULTS.md
 * rewritten from what was just measured, with the hit-rate chart beside it.
 */

function section(title: string, runs: readonly BenchRun[], explanation: string): string {
  const tables = runs.map((run) => ['```', formatBenchTable(run.record), '```'].join('\n'));
  const notes = runs.flatMap((run) => Object.entries(run.record.notes).map(([key, value]) => `- ${run.record.name} / ${key}: ${String(value)}`));
  return [`## ${title}`, '', explanation, '', ...tables, '', ...notes].join('\n');
}

async function main(): Promise<void> {
  const quick = quickFromEnv();
  const root = repositoryRoot();
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const quiet = { quick, print: () => {} };

  log('TelegramCache against lru-cache…');
  const cache = await runTelegramCacheBench(quiet);
  log('runtime against raw Piscina and a raw MessagePort…');
  const runtime = await runRuntimeBench(quiet);
  log('shared cache against Redis…');
  const redis = await runRedisBench(quiet);
  log('cross-task hit rates…');
  const resultsDir = join(root, 'bench', 'results');
  const progress = variantProgress(true);
  const hitRate = await runHitRateBenchmark({ quick, outDir: resultsDir, onVariant: progress.onVariant, onProgress: progress.onProgress }).finally(() => progress.stop());

  const machine = cache.idle.record.machine;
  const command = 'npm run bench';
  const lines = [
    '# Benchmark results',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine.cpuModel} ×${machine.cpuCount}, Node ${machine.node} (${machine.platform}/${machine.arch})${quick ? ', QUICK MODE: not for comparison' : ''}.`,
    `Regenerate with \`${command}\` (it rebuilds, runs every benchmark and rewrites this file). Times are medians per operation; the`,
    'ratio is ours over the peer measured in the same run (below 1: ours is faster). The machine is shared and noisy: compare ratios, not absolute times.',
    '',
    '## Cross-task hit rate',
    '',
    'The same seeded workload (the shipped `config.yaml`) under each variant, each on a fresh runtime and a fresh simulated Telegram.',
    '',
    renderHitRateMarkdown(hitRate),
    '',
    '![hit rate by task round](results/hit-rate.svg)',
    '',
    section('TelegramCache against lru-cache', [cache.idle, cache.loaded], 'Single-thread cost of the cache itself, configured alike (bounded, same TTL), at three sizes, idle and with another process loading a core. Regenerate alone with `npm run build && node dist/bench/telegram-cache.bench.js`.'),
    '',
    '```',
    formatMemory(cache.memory),
    '```',
    '',
    section('Runtime and channel against raw Piscina and a raw MessagePort', runtime, 'What a task pays for the runtime (scheduler, channel, cache view) and what a cache read pays for the channel.'),
    '',
    'skipped' in redis
      ? `## Shared cache against Redis\n\n${redis.skipped}`
      : section(
          'Shared cache against Redis',
          [redis],
          'What a worker pays to read the main-thread cache, against reading the same records from Redis on loopback (what a user would otherwise pick to share a cache between workers).',
        ),
    '',
  ];
  // The durable store's section comes from its own benchmark (bench/store.bench.ts), kept as it last ran.
  const storeSection = join(resultsDir, 'store.md');
  if (existsSync(storeSection)) lines.push(readFileSync(storeSection, 'utf8'), '');
  writeFileSync(join(root, 'bench', 'RESULTS.md'), lines.filter((line, index, all) => !(line === '' && all[index - 1] === '')).join('\n'));
  log(`wrote bench/RESULTS.md and bench/results/`);
}

await main();
