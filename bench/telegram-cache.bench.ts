import { spawn } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LRUCache } from 'lru-cache';
import { do_not_optimize } from 'mitata';
import { CachePolicy, TelegramCache } from '../src/cache/telegram-cache.js';
import { markedIdOf, packRecord, type EntityRecord } from '../src/telegram/entity-record.js';
import { isMain, quickFromEnv } from './bench-env.js';
import { runPairs, type BenchCase, type BenchOptions, type BenchPair, type BenchRun, type BenchTarget } from './harness.js';
import { sampleRecords } from './sample-records.js';

/*
 * TelegramCache against lru-cache@11, configured alike: both bounded to the same number of
 * entries, both with the same TTL on every entry, neither refreshing the TTL on a read nor running
 * a purge timer. TelegramCache runs the shipped policy (W-TinyLFU) and weighs every value, as it
 * does in a fleet; its entries are spread over several accounts with a per-account cap above
 * their share, so the insert case exercises the global eviction both share. lru-cache gets its
 * keys as precomputed "account + key" strings, which is how it would have to be keyed to keep
 * accounts apart; building those strings is not timed, in its favour. Values are packed records
 * of real GramJS channels, as the Telegram client stores them.
 */

const SIZES = [10_000, 100_000, 1_000_000] as const;
const QUICK_SIZES = [1_000] as const;
const ACCOUNTS = 8;
const TTL_MS = 3_600_000;
/** Distinct GramJS channels made; more entries reuse their TL bytes under ids of their own (making a GramJS object costs ~70 µs). */
const RECORD_POOL = 1024;
/** The entry count at which bytes per entry are measured, and the bound they must stay under. */
const MEMORY_ENTRIES = 100_000;
const MEMORY_BOUND = { payloadFactor: 1.3, plusBytes: 100 };
/** CPU time of one measurement: enough for a stable median, short enough for 24 of them per size and condition. */
const MEASURE_MS = 250;

/**
 * One flat string with the characters of `text` (all Latin-1 here). A key built by concatenation
 * is a tree of string parts that a cache's first hash of it flattens; without this, memory would
 * be measured on whichever cache happened to flatten its keys, not on what each holds.
 */
const flat = (text: string): string => Buffer.from(text, 'latin1').toString('latin1');

/** Packed records for `count` entries, each its own string (so memory is measured for distinct values, as a fleet holds them). */
export function realisticValues(count: number): { keys: string[]; values: string[] } {
  const pool = sampleRecords(Math.min(count, RECORD_POOL));
  const keys: string[] = [];
  const values: string[] = [];
  for (let n = 0; n < count; n++) {
    const base = pool[n % pool.length] as EntityRecord;
    const record: EntityRecord = { ...base, id: String(1_500_000_000 + n), accessHash: String(-4_242_424_242_424_242n + BigInt(n)), usernames: [`sample_channel_${n}`] };
    keys.push(flat(`p:${markedIdOf(record)}`));
    values.push(flat(packRecord(record)));
  }
  return { keys, values };
}

interface Workload {
  size: number;
  accounts: string[];
  keys: string[];
  combined: string[];
  values: string[];
  hitOrder: Uint32Array;
  missOrder: Uint32Array;
  insertOrder: Uint32Array;
}

/** A deterministic shuffle, so hits come in no order a cache could be lucky with, yet every run is alike. */
function shuffled(values: Uint32Array): Uint32Array {
  const out = values.slice();
  let seed = 0x9e3779b9;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Entries 0..size-1 fill both caches; size..2*size-1 are the next ones inserted (in an order that
 * after the first `size` always adds a new key, and so always evicts); 2*size..3*size-1 are never
 * inserted and make the misses.
 */
function workloadOf(size: number, values: readonly string[]): Workload {
  const accounts: string[] = [];
  const keys: string[] = [];
  const combined: string[] = [];
  for (let n = 0; n < 3 * size; n++) {
    const account = `+1555000${String(n % ACCOUNTS).padStart(4, '0')}`;
    const key = flat(`p:-100${1_500_000_000 + n}`);
    accounts.push(account);
    keys.push(key);
    combined.push(flat(`${account}\u0000${key}`));
  }
  const range = (from: number, count: number): Uint32Array => Uint32Array.from({ length: count }, (_, i) => from + i);
  return {
    size,
    accounts,
    keys,
    combined,
    values: Array.from({ length: 2 * size }, (_, n) => values[n % values.length] as string),
    hitOrder: shuffled(range(0, size)),
    missOrder: shuffled(range(2 * size, size)),
    insertOrder: Uint32Array.from({ length: 2 * size }, (_, i) => (i + size) % (2 * size)),
  };
}

function cycling(order: Uint32Array, op: (n: number) => unknown): BenchTarget {
  let i = 0;
  return {
    run: () => {
      const n = order[i]!;
      if (++i === order.length) i = 0;
      return op(n);
    },
  };
}

function filledTelegramCache(w: Workload): TelegramCache<string> {
  const cache = new TelegramCache<string>({ maxSize: w.size, policy: CachePolicy.TINYLFU, perAccountMaxEntries: Math.ceil((2 * w.size) / ACCOUNTS), defaultTtlMs: TTL_MS });
  for (let n = 0; n < w.size; n++) cache.set(w.accounts[n]!, w.keys[n]!, w.values[n]!);
  return cache;
}

function filledLruCache(w: Workload): LRUCache<string, string> {
  const cache = new LRUCache<string, string>({ max: w.size, ttl: TTL_MS });
  for (let n = 0; n < w.size; n++) cache.set(w.combined[n]!, w.values[n]!);
  return cache;
}

function pairsFor(w: Workload): BenchPair[] {
  const ours = (order: Uint32Array, op: (cache: TelegramCache<string>, n: number) => unknown): BenchCase => ({
    label: 'TelegramCache',
    setup: () => {
      const cache = filledTelegramCache(w);
      return cycling(order, (n) => op(cache, n));
    },
  });
  const theirs = (order: Uint32Array, op: (cache: LRUCache<string, string>, n: number) => unknown): BenchCase => ({
    label: 'lru-cache@11',
    setup: () => {
      const cache = filledLruCache(w);
      return cycling(order, (n) => op(cache, n));
    },
  });
  const at = `${w.size.toExponential(0).replace('+', '')} entries`;
  return [
    {
      name: `get hit, ${at}`,
      subject: ours(w.hitOrder, (cache, n) => do_not_optimize(cache.get(w.accounts[n]!, w.keys[n]!))),
      peer: theirs(w.hitOrder, (cache, n) => do_not_optimize(cache.get(w.combined[n]!))),
    },
    {
      name: `get miss, ${at}`,
      subject: ours(w.missOrder, (cache, n) => do_not_optimize(cache.get(w.accounts[n]!, w.keys[n]!))),
      peer: theirs(w.missOrder, (cache, n) => do_not_optimize(cache.get(w.combined[n]!))),
    },
    {
      name: `set insert, evicting, ${at}`,
      subject: ours(w.insertOrder, (cache, n) => cache.set(w.accounts[n]!, w.keys[n]!, w.values[n]!)),
      peer: theirs(w.insertOrder, (cache, n) => cache.set(w.combined[n]!, w.values[n]!)),
    },
    {
      name: `set overwrite, ${at}`,
      subject: ours(w.hitOrder, (cache, n) => cache.set(w.accounts[n]!, w.keys[n]!, w.values[n]!)),
      peer: theirs(w.hitOrder, (cache, n) => cache.set(w.combined[n]!, w.values[n]!)),
    },
  ];
}

/**
 * Runs `work` while another process keeps one core busy, as a neighbour on a shared machine
 * does. The spinner ends itself after `limitMs`, or as soon as this process is gone.
 */
async function whileCoreBusy<T>(limitMs: number, work: () => Promise<T>): Promise<T> {
  const spin = `const end = Date.now() + ${limitMs}; const parent = ${process.pid}; for (let i = 1; ; i++) if (i % 1e7 === 0 && (Date.now() > end || process.ppid !== parent)) break;`;
  const spinner = spawn(process.execPath, ['-e', spin], { stdio: 'ignore' });
  try {
    return await work();
  } finally {
    spinner.kill();
  }
}

export interface MemoryResult {
  entries: number;
  /** Average bytes of a value's own characters (Latin-1: one byte each). */
  payloadBytes: number;
  /** Heap and array buffers after a full collection, minus the same before the values existed, divided by the entries. */
  telegramCacheBytesPerEntry: number;
  lruCacheBytesPerEntry: number;
  /** payloadFactor × payloadBytes + plusBytes. */
  bound: number;
}

function collector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

/** Bytes a cache of `entries` distinct records costs per entry, all in: keys, values and the cache's own structures. */
/** V8's heap and the array buffers outside it, where typed arrays keep their contents: what an entry costs is in both. */
function allocated(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

export function measureMemory(entries: number): MemoryResult {
  const collect = collector();
  const heapPerEntry = (fill: () => unknown): number => {
    collect();
    const before = allocated();
    const held = fill();
    collect();
    const after = allocated();
    do_not_optimize(held);
    return (after - before) / entries;
  };
  const accountOf = (n: number): string => `+1555000${String(n % ACCOUNTS).padStart(4, '0')}`;
  // GramJS builds its schema tables on first use; that once-per-process cost is no entry's.
  realisticValues(1);
  let payload = 0;
  const telegramCacheBytesPerEntry = heapPerEntry(() => {
    const { keys, values } = realisticValues(entries);
    payload = values.reduce((sum, value) => sum + value.length, 0) / entries;
    const cache = new TelegramCache<string>({ maxSize: entries, policy: CachePolicy.TINYLFU, defaultTtlMs: TTL_MS });
    for (let n = 0; n < entries; n++) cache.set(accountOf(n), keys[n]!, values[n]!);
    return cache;
  });
  const lruCacheBytesPerEntry = heapPerEntry(() => {
    const { keys, values } = realisticValues(entries);
    const cache = new LRUCache<string, string>({ max: entries, ttl: TTL_MS });
    for (let n = 0; n < entries; n++) cache.set(flat(`${accountOf(n)}\u0000${keys[n]!}`), values[n]!);
    return cache;
  });
  return { entries, payloadBytes: payload, telegramCacheBytesPerEntry, lruCacheBytesPerEntry, bound: MEMORY_BOUND.payloadFactor * payload + MEMORY_BOUND.plusBytes };
}

export interface TelegramCacheBenchResult {
  idle: BenchRun;
  loaded: BenchRun;
  memory: MemoryResult;
}

/** Both conditions at every size, then bytes per entry; the JSON records are `telegram-cache-idle` and `telegram-cache-loaded`. */
export async function runTelegramCacheBench(options: BenchOptions = {}): Promise<TelegramCacheBenchResult> {
  const quick = options.quick ?? quickFromEnv();
  const sizes = quick ? QUICK_SIZES : SIZES;
  const largest = Math.max(...sizes);
  const { values } = realisticValues(Math.min(2 * largest, RECORD_POOL));
  const pairs = sizes.flatMap((size) => pairsFor(workloadOf(size, values)));
  const notes = {
    sizes: sizes.join(', '),
    accounts: ACCOUNTS,
    ttlMs: TTL_MS,
    policy: 'tinylfu (the shipped one), every value weighed',
    values: `packed records of real GramJS channels, ${values[0]?.length ?? 0} characters`,
    lruCacheKeys: 'precomputed account+key strings',
  };
  const timing: BenchOptions = { measureMs: MEASURE_MS, ...options };
  const idle = await runPairs({ name: 'telegram-cache-idle', notes: { ...notes, load: 'none besides the machine’s own' }, pairs }, timing);
  const loaded = await whileCoreBusy(20 * 60_000, () => runPairs({ name: 'telegram-cache-loaded', notes: { ...notes, load: 'another process spinning on one core' }, pairs }, timing));
  const memory = measureMemory(quick ? QUICK_SIZES[0] : MEMORY_ENTRIES);
  (options.print ?? console.log)(formatMemory(memory));
  return { idle, loaded, memory };
}

export function formatMemory(memory: MemoryResult): string {
  return [
    `bytes per entry at ${memory.entries} entries (heap and array buffers after GC ÷ entries; keys, values and structures):`,
    `  TelegramCache ${memory.telegramCacheBytesPerEntry.toFixed(0)} B, lru-cache@11 ${memory.lruCacheBytesPerEntry.toFixed(0)} B;`,
    `  payload ${memory.payloadBytes.toFixed(0)} B, bound ${MEMORY_BOUND.payloadFactor} × payload + ${MEMORY_BOUND.plusBytes} B = ${memory.bound.toFixed(0)} B`,
  ].join('\n');
}

if (isMain(import.meta.url)) await runTelegramCacheBench();
