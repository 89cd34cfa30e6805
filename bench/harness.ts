import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { measure } from 'mitata';
import { formatTable as textTable } from '../src/format/table.js';
import { quickFromEnv, repositoryRoot } from './bench-env.js';

/**
 * Shared benchmark harness: every benchmark of this repository compares a subject (ours) with a
 * peer (the thing it wraps or replaces) in the same process and the same run, so the ratio is
 * meaningful even on a noisy machine where absolute times are not.
 */

/** What one benchmark times. Built fresh by `setup` so no case inherits another's state. */
export interface BenchTarget {
  /** One operation; may return a promise, which is awaited and timed. */
  run: () => unknown;
  /** Releases what setup started (worker pools, ports, connections). */
  teardown?: () => unknown;
}

export interface BenchCase {
  /** Label of the implementation, e.g. "TelegramCache" or "lru-cache@11". */
  label: string;
  setup: () => BenchTarget | Promise<BenchTarget>;
}

export interface BenchPair {
  name: string;
  subject: BenchCase;
  peer: BenchCase;
}

export interface BenchSuite {
  /** File name of the JSON record (`bench/out/<name>.json`) and the table's title. */
  name: string;
  /** How subject and peer were configured so that they are comparable; copied into the record. */
  notes: Record<string, string | number | boolean>;
  pairs: BenchPair[];
}

export type Statistic = 'p50' | 'avg';

export interface BenchOptions {
  /** Run each case very briefly: for smoke tests, never for numbers. Defaults to BENCH_QUICK=1. */
  quick?: boolean;
  /** Which time the ratio compares; the median by default, being the least disturbed by GC pauses. */
  statistic?: Statistic;
  /** Where the JSON record goes; `bench/out` of the repository by default. */
  outDir?: string;
  /** Where the table goes; standard output by default. */
  print?: (line: string) => void;
  /** Times each case is measured, subject and peer taking turns; 3 unless quick (then 1). */
  repetitions?: number;
  /** CPU time mitata spends on one measurement, in ms; its own default (about 640 ms) unless given. */
  measureMs?: number;
}

/** The spread of one statistic over the repetitions of a case. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** Nanoseconds per operation; each figure is the median over the repetitions, except `min` and `max`, which are the extremes of all. */
export interface CaseResult {
  label: string;
  /** The chosen statistic of each repetition, as min/median/max: how much the machine moved it. */
  spread: Spread;
  p50: number;
  avg: number;
  p99: number;
  min: number;
  max: number;
  samples: number;
  /** Operations timed in all; much more than `samples` when mitata timed them in batches. */
  calls: number;
}

export interface PairResult {
  name: string;
  subject: CaseResult;
  peer: CaseResult;
  /** subject / peer of the chosen statistic (medians over repetitions): below 1 means the subject is faster. */
  ratio: number;
  /** The ratio of each repetition's pair of measurements, as min/median/max. */
  ratios: Spread;
}

export interface BenchRecord {
  name: string;
  date: string;
  machine: { cpuModel: string; cpuCount: number; node: string; platform: string; arch: string };
  quick: boolean;
  statistic: Statistic;
  repetitions: number;
  unit: 'ns/op';
  notes: BenchSuite['notes'];
  pairs: PairResult[];
}

export interface BenchRun {
  record: BenchRecord;
  /** Path of the JSON record written. */
  file: string;
}

/**
 * Enough samples to exercise every code path and produce finite numbers in a few milliseconds per
 * case. Forcing a GC between cases is skipped too: without --expose-gc mitata does it by
 * allocating a gigabyte.
 */
const QUICK_MEASURE = { min_cpu_time: 5e6, min_samples: 4, warmup_samples: 1, batch_samples: 256, gc: false } as const;
const WARM_UP_MS = 100;

/**
 * mitata decides from its first two calls whether to time calls in batches. A cold first call
 * (lazy compilation, first-use initialisation) can make it time a fast operation one call at a
 * time, adding the clock's own cost to every sample of that side only; warming up first keeps
 * subject and peer measured the same way.
 */
async function warmUp(run: () => unknown, budgetMs: number): Promise<void> {
  const end = performance.now() + budgetMs;
  do await run();
  while (performance.now() < end);
}

type Measurement = Omit<CaseResult, 'spread'>;

async function measureCase(benchCase: BenchCase, quick: boolean, options: BenchOptions): Promise<Measurement> {
  const target = await benchCase.setup();
  try {
    await warmUp(target.run, quick ? 1 : WARM_UP_MS);
    const budget = options.measureMs === undefined ? {} : { min_cpu_time: options.measureMs * 1e6 };
    const stats = await measure(target.run, quick ? { ...QUICK_MEASURE } : budget);
    return {
      label: benchCase.label,
      p50: stats.p50,
      avg: stats.avg,
      p99: stats.p99,
      min: stats.min,
      max: stats.max,
      samples: stats.samples.length,
      calls: stats.ticks,
    };
  } finally {
    await target.teardown?.();
  }
}

export function spreadOf(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { min: sorted[0] ?? Number.NaN, median, max: sorted[sorted.length - 1] ?? Number.NaN };
}

function combined(runs: readonly Measurement[], statistic: Statistic): CaseResult {
  const median = (pick: (run: Measurement) => number): number => spreadOf(runs.map(pick)).median;
  return {
    label: (runs[0] as Measurement).label,
    spread: spreadOf(runs.map((run) => run[statistic])),
    p50: median((run) => run.p50),
    avg: median((run) => run.avg),
    p99: median((run) => run.p99),
    min: Math.min(...runs.map((run) => run.min)),
    max: Math.max(...runs.map((run) => run.max)),
    samples: runs.reduce((sum, run) => sum + run.samples, 0),
    calls: runs.reduce((sum, run) => sum + run.calls, 0),
  };
}

const formatNs = (ns: number): string => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);

const formatSpread = (spread: Spread, format: (value: number) => string): string => `${format(spread.min)} / ${format(spread.median)} / ${format(spread.max)}`;
const formatRatio = (ratio: number): string => `${ratio.toFixed(2)}x`;

/** A fixed-width table of the pairs: min / median / max over the repetitions of each side's time per operation, and of their ratio. */
export function formatTable(record: BenchRecord): string {
  const first = record.pairs[0];
  const header = [`${record.statistic} per op, min / median / max of ${record.repetitions}`, first?.subject.label ?? 'subject', first?.peer.label ?? 'peer', 'ratio'];
  const rows = record.pairs.map((p) => [p.name, formatSpread(p.subject.spread, formatNs), formatSpread(p.peer.spread, formatNs), formatSpread(p.ratios, formatRatio)]);
  const title = `${record.name}${record.quick ? ' (quick mode: not for comparison)' : ''} — ${record.machine.cpuModel} x${record.machine.cpuCount}, Node ${record.machine.node}`;
  return [title, textTable(header, rows, { alignRight: [1, 2, 3] })].join('\n');
}

/**
 * Times every pair (subject, then its peer, repetition after repetition, pair after pair, so slow
 * drift and a neighbour's load affect both sides alike), prints the table and writes the JSON record.
 */
export async function runPairs(suite: BenchSuite, options: BenchOptions = {}): Promise<BenchRun> {
  const quick = options.quick ?? quickFromEnv();
  const statistic = options.statistic ?? 'p50';
  const repetitions = options.repetitions ?? (quick ? 1 : 3);
  const pairs: PairResult[] = [];
  for (const pair of suite.pairs) {
    const subjects: Measurement[] = [];
    const peers: Measurement[] = [];
    for (let i = 0; i < repetitions; i++) {
      subjects.push(await measureCase(pair.subject, quick, options));
      peers.push(await measureCase(pair.peer, quick, options));
    }
    const subject = combined(subjects, statistic);
    const peer = combined(peers, statistic);
    const ratios = spreadOf(subjects.map((run, i) => run[statistic] / (peers[i] as Measurement)[statistic]));
    pairs.push({ name: pair.name, subject, peer, ratio: subject[statistic] / peer[statistic], ratios });
  }
  const cpuList = cpus();
  const record: BenchRecord = {
    name: suite.name,
    date: new Date().toISOString(),
    machine: { cpuModel: cpuList[0]?.model.trim() ?? 'unknown', cpuCount: cpuList.length, node: process.version, platform: process.platform, arch: process.arch },
    quick,
    statistic,
    repetitions,
    unit: 'ns/op',
    notes: suite.notes,
    pairs,
  };
  const outDir = options.outDir ?? join(repositoryRoot(), 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${suite.name}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  (options.print ?? console.log)(formatTable(record));
  return { record, file };
}
