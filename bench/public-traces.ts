/*
 * The policies on real access traces that nobody in this project wrote (the LIRS and cache2k
 * traces), so that the cache can be checked against hit rates others published: each trace alone,
 * as one account, and several interleaved as a multi-account mix (the same key under two accounts
 * being two entries). Every policy, lru-cache and Belady get the same number of entries; the real
 * cache is given them as a byte budget at a uniform cost per entry, so the units agree.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { CachePolicy } from '../src/cache/telegram-cache.js';
import { formatTable } from '../src/format/table.js';
import { beladyHits, type TraceLookup } from '../src/benchmark/cache-bounds.js';
import { ENTRY_BYTES, replayHits } from './policy-grid.js';

export interface TraceSpec {
  name: string;
  file: string;
  /** Cache sizes, in entries, at which others published hit rates. */
  sizes: readonly number[];
}

/** The traces and sizes with published reference points (see the traces' README). */
export const TRACES: readonly TraceSpec[] = [
  { name: 'gli', file: 'lirs-gli.txt.gz', sizes: [250, 1000] },
  { name: 'multi1', file: 'lirs-multi1.txt.gz', sizes: [100, 500] },
  { name: 'web07', file: 'cache2k-web07.u32be.gz', sizes: [500, 2000] },
];

/** Reads a trace: LIRS text (one key a line, `*` lines are markers) or cache2k's 32-bit big-endian keys. */
export function readTrace(path: string): string[] {
  const bytes = gunzipSync(readFileSync(path));
  if (path.endsWith('.u32be.gz')) {
    const keys: string[] = [];
    for (let at = 0; at + 4 <= bytes.length; at += 4) keys.push(String(bytes.readUInt32BE(at)));
    return keys;
  }
  return bytes
    .toString('latin1')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== '*');
}

/** The traces taken in turn, one lookup each, as the accounts `a0`, `a1`, … of a fleet: a multi-account mix. */
export function interleaved(traces: readonly (readonly string[])[]): TraceLookup[] {
  const out: TraceLookup[] = [];
  const longest = Math.max(0, ...traces.map((t) => t.length));
  for (let i = 0; i < longest; i++) {
    traces.forEach((trace, account) => {
      const key = trace[i];
      if (key !== undefined) out.push({ account: `a${account}`, key });
    });
  }
  return out;
}

export interface TraceRow {
  trace: string;
  entries: number;
  lookups: number;
  hitRates: { tinylfu: number; lru: number; lruCache: number; belady: number };
}

function lruCacheHits(trace: readonly TraceLookup[], entries: number): number {
  const cache = new LRUCache<string, true>({ max: entries });
  let hits = 0;
  for (const { account, key } of trace) {
    const id = `${account}\u0000${key}`;
    if (cache.get(id) === undefined) cache.set(id, true);
    else hits++;
  }
  return hits;
}

export function replayTrace(name: string, trace: readonly TraceLookup[], entries: number): TraceRow {
  const rate = (hits: number): number => (trace.length === 0 ? 0 : hits / trace.length);
  return {
    trace: name,
    entries,
    lookups: trace.length,
    hitRates: {
      tinylfu: rate(replayHits(trace, CachePolicy.TINYLFU, entries * ENTRY_BYTES)),
      lru: rate(replayHits(trace, CachePolicy.LRU, entries * ENTRY_BYTES)),
      lruCache: rate(lruCacheHits(trace, entries)),
      belady: rate(beladyHits(trace, entries).filter(Boolean).length),
    },
  };
}

/**
 * Every trace alone at its published sizes, then all of them interleaved as a three-account mix
 * at the sum of their sizes. Returns null when the traces are not where `dir` says.
 */
export function runPublicTraces(dir: string, specs: readonly TraceSpec[] = TRACES): TraceRow[] | null {
  if (!specs.every((spec) => existsSync(join(dir, spec.file)))) return null;
  const loaded = specs.map((spec) => ({ spec, keys: readTrace(join(dir, spec.file)) }));
  const rows: TraceRow[] = [];
  for (const { spec, keys } of loaded) {
    const trace = keys.map((key) => ({ account: 'a0', key }));
    for (const entries of spec.sizes) rows.push(replayTrace(spec.name, trace, entries));
  }
  const mix = interleaved(loaded.map(({ keys }) => keys));
  const mixName = `mix of ${specs.map((s) => s.name).join(' + ')}`;
  for (let i = 0; i < Math.max(...specs.map((s) => s.sizes.length)); i++) {
    rows.push(
      replayTrace(
        mixName,
        mix,
        specs.reduce((sum, s) => sum + (s.sizes[i] ?? 0), 0),
      ),
    );
  }
  return rows;
}

export function renderTraceMarkdown(rows: readonly TraceRow[]): string {
  const pct = (rate: number): string => `${(rate * 100).toFixed(1)}%`;
  return formatTable(
    ['trace', 'entries', 'lookups', 'tinylfu', 'lru', 'lru-cache@11', 'Belady'],
    rows.map((r) => [r.trace, r.entries, r.lookups, pct(r.hitRates.tinylfu), pct(r.hitRates.lru), pct(r.hitRates.lruCache), pct(r.hitRates.belady)]),
    { markdown: true, alignRight: [1, 2, 3, 4, 5, 6] },
  );
}
