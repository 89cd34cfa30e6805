import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { variantProgress } from '../src/cli/progress.js';
import { formatTable as formatBenchTable, type BenchRun } from './harness.js';
import { quickFromEnv, repositoryRoot } from './bench-env.js';
import { renderHitRateMarkdown, runHitRateBenchmark } from '../src/benchmark/hit-rate.js';
import { cellVerdict, renderGridMarkdown, runPolicyGridBenchmark } from './policy-grid.js';
import { renderTraceMarkdown, runPublicTraces } from './public-traces.js';
import { defaultConfig } from '../src/config/config.js';
import { runRedisBench } from './redis.bench.js';
import { runRuntimeBench } from './runtime.bench.js';
import { formatMemory, runTelegramCacheBench } from './telegram-cache.bench.js';

/*
 * `npm run bench`: every benchmark, each with its peer in the same run, then bench/RESULTS.md
 * rewritten from what was just measured, with the charts beside it. `npm run bench -- --only
 * cache,policies` runs some of them (hit-rate, cache, policies, runtime, redis) and rewrites
 * only their sections, keeping the others as they were last measured.
 */

const SECTIONS = ['hit-rate', 'cache', 'policies', 'runtime', 'redis'] as const;
type Section = (typeof SECTIONS)[number];

const TITLES: Record<Section, string> = {
  'hit-rate': 'Cross-task hit rate',
  cache: 'TelegramCache against lru-cache',
  policies: 'Eviction policies: the fleet grid and public traces',
  runtime: 'Runtime and channel against raw Piscina and a raw MessagePort',
  redis: 'Shared cache against Redis',
};

function benchSection(title: string, runs: readonly BenchRun[], explanation: string): string {
  const tables = runs.map((run) => ['```', formatBenchTable(run.record), '```'].join('\n'));
  const notes = runs.flatMap((run) => Object.entries(run.record.notes).map(([key, value]) => `- ${run.record.name} / ${key}: ${String(value)}`));
  return [`## ${title}`, '', explanation, '', ...tables, '', ...notes].join('\n');
}

function selectedSections(argv: readonly string[]): Section[] {
  const at = argv.indexOf('--only');
  if (at < 0) return [...SECTIONS];
  const names = (argv[at + 1] ?? '').split(',').filter((name) => name !== '');
  const unknown = names.filter((name) => !(SECTIONS as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) throw new Error(`--only takes a comma-separated list of ${SECTIONS.join(', ')}; got ${argv[at + 1] ?? 'nothing'}`);
  return names as Section[];
}

/** The `## ` sections of the results file as it stands, by title. */
function previousSections(file: string): Map<string, string> {
  const sections = new Map<string, string>();
  if (!existsSync(file)) return sections;
  for (const part of readFileSync(file, 'utf8')
    .split(/^(?=## )/m)
    .slice(1)) {
    sections.set(part.slice(3, part.indexOf('\n')).trim(), part.trimEnd());
  }
  return sections;
}

async function measure(section: Section, quick: boolean, root: string, log: (line: string) => void): Promise<string> {
  const quiet = { quick, print: () => {} };
  const resultsDir = join(root, 'bench', 'results');
  const title = TITLES[section];
  if (section === 'cache') {
    log('TelegramCache against lru-cache, idle and beside a busy core…');
    const cache = await runTelegramCacheBench(quiet);
    return [
      benchSection(
        title,
        [cache.idle, cache.loaded],
        'Single-thread cost of the cache itself, configured alike (bounded, same TTL), at three sizes, idle and with another process keeping a core busy; each side measured three times, turn about. Alone: `npm run build && node dist/bench/telegram-cache.bench.js`.',
      ),
      '',
      '```',
      formatMemory(cache.memory),
      '```',
    ].join('\n');
  }
  if (section === 'policies') {
    log('policy grid…');
    const cells = runPolicyGridBenchmark({ workload: defaultConfig().workload, quick, outDir: resultsDir });
    const passed = cells.filter((c) => cellVerdict(c) === 'pass').length;
    // The traces are third-party files kept outside the repository; only the caller knows where.
    const tracesSetting = process.env['BENCH_TRACES'];
    const tracesDir = tracesSetting === undefined || tracesSetting === '' ? null : resolve(root, tracesSetting);
    if (tracesDir === null) log('public traces skipped: set BENCH_TRACES to the folder holding them');
    else log('public traces…');
    const traces = tracesDir === null ? null : runPublicTraces(tracesDir);
    return [
      `## ${title}`,
      '',
      'Lookup traces of fleets of 8 to 1000 accounts (the shipped workload: 30 tasks an account, 8 peers a task, Zipf-popular public peers and private contacts), the accounts taking turns round-robin, Zipf-skewed or in bursts of up to ten tasks. Each cell replays the real TelegramCache with each policy under a byte budget (every entry costs the same 400 B, so Belady gets the same budget as a number of entries), Belady with bypass and the unbounded cache. Bounds: at 10% and 25% the new policy closes half of LRU’s gap to Belady, and in no cell is it more than 0.5 points below LRU.',
      '',
      `${passed} of ${cells.length} cells meet the bounds.`,
      '',
      renderGridMarkdown(cells),
      '',
      '![hit rate against budget](results/policy-grid.svg)',
      '',
      'Public traces (the LIRS and cache2k traces), each alone as one account at the sizes others published hit rates for, then all three interleaved as three accounts. lru-cache on the same trace is the reference for LRU.',
      '',
      tracesDir === null
        ? 'Not run: BENCH_TRACES was not set to the folder holding the traces (gli, multi1 and web07, from the LIRS and cache2k projects).'
        : traces === null
          ? `Not run: the traces were not found in ${tracesDir} (BENCH_TRACES).`
          : renderTraceMarkdown(traces),
      '',
      'Alone: `npm run build && BENCH_TRACES=<folder of the traces> node dist/bench/run-all.js --only policies`.',
    ].join('\n');
  }
  if (section === 'runtime') {
    log('runtime against raw Piscina and a raw MessagePort…');
    return runRuntimeBench(quiet);
  }
  if (section === 'redis') {
    log('shared cache against Redis…');
    return runRedisBench(quiet);
  }
  log('cross-task hit rates…');
  const progress = variantProgress(true);
  const hitRate = await runHitRateBenchmark({ quick, outDir: resultsDir, onVariant: progress.onVariant, onProgress: progress.onProgress }).finally(() => progress.stop());
  return [
    `## ${title}`,
    '',
    'The same seeded workload (the shipped `config.yaml`) under each variant, each on a fresh runtime and a fresh simulated Telegram.',
    '',
    renderHitRateMarkdown(hitRate),
    '',
    '![hit rate by task round](results/hit-rate.svg)',
  ].join('\n');
}

async function main(): Promise<void> {
  const quick = quickFromEnv();
  const root = repositoryRoot();
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const selected = selectedSections(process.argv.slice(2));
  const file = join(root, 'bench', 'RESULTS.md');
  const previous = previousSections(file);
  const measured = new Map<Section, string>();
  for (const section of selected) measured.set(section, await measure(section, quick, root, log));

  const cpuList = cpus();
  const sections = SECTIONS.map((section) => measured.get(section) ?? previous.get(TITLES[section])).filter((text): text is string => text !== undefined);
  // Sections that other benchmarks write in place themselves (the loopback data centre's, the durable store's) stay as they last ran.
  const ownTitles = new Set<string>(Object.values(TITLES));
  sections.push(...[...previous].filter(([title]) => !ownTitles.has(title)).map(([, text]) => text));
  const lines = [
    '# Benchmark results',
    '',
    `Sections ${selected.join(', ')} measured ${new Date().toISOString().slice(0, 10)} on ${cpuList[0]?.model.trim() ?? 'unknown'} ×${cpuList.length}, Node ${process.version} (${process.platform}/${process.arch})${quick ? ', QUICK MODE: not for comparison' : ''}; the others are as last measured.`,
    'Regenerate with `npm run bench` (it rebuilds, runs every benchmark and rewrites this file), or some with `npm run bench -- --only cache,policies`. Times are medians per operation; the',
    'ratio is ours over the peer measured in the same run (below 1: ours is faster). The machine is shared and noisy: compare ratios, not absolute times.',
    '',
    ...sections.flatMap((text) => [text, '']),
  ];
  writeFileSync(file, lines.filter((line, index, all) => !(line === '' && all[index - 1] === '')).join('\n'));
  log('wrote bench/RESULTS.md and bench/results/');
}

await main();
