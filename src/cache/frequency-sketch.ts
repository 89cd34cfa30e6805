/**
 * How often a key was asked for lately, in a few bits per counter instead of a map of every key
 * ever seen: a count-min sketch of four rows of 4-bit counters, packed two to a byte. The estimate
 * is the smallest of a key's four counters, so collisions can only overstate it. A key's four
 * counters lie in one 64-byte block (a row in each quarter of it), so counting a lookup costs one
 * cache line, not four: at a million entries the sketch is megabytes, and four scattered reads
 * per lookup would cost more than the rest of the lookup. Every counter is
 * halved once the sketch has counted ten times its width, so that what was popular an hour ago
 * does not keep out what is popular now (TinyLFU's reset). The sketch never holds keys, only
 * hashes, so it costs the same whatever the keys are.
 */

const ROWS = 4;
const MAX_COUNT = 15;
const SAMPLE_FACTOR = 10;
/** Counters in one block: 64 bytes of two counters each; each row has a quarter of them. */
const BLOCK_COUNTERS = 128;
const ROW_COUNTERS = BLOCK_COUNTERS / 4;

export class FrequencySketch {
  /** Counters per row; a power of two so that an index is a mask. */
  private width: number;
  private counters: Uint8Array;
  private additions = 0;

  constructor(expectedEntries: number) {
    this.width = FrequencySketch.widthFor(expectedEntries);
    this.counters = new Uint8Array((ROWS * this.width) >>> 1);
  }

  private static widthFor(entries: number): number {
    let width = 64;
    while (width < entries && width < 1 << 26) width <<= 1;
    return width;
  }

  /**
   * Grows the sketch when the cache holds more entries than it has counters per row. The counts
   * start over: they are estimates, and a cache that has doubled has a new workload to learn.
   */
  ensureCapacity(entries: number): void {
    if (entries <= this.width || this.width >= 1 << 26) return;
    this.width = FrequencySketch.widthFor(entries);
    this.counters = new Uint8Array((ROWS * this.width) >>> 1);
    this.additions = 0;
  }

  /** The estimated recent frequency of the key with this hash, 0 to 15. */
  frequency(hash: number): number {
    const base = this.blockOf(hash);
    const spot = this.spotOf(hash);
    let least = MAX_COUNT;
    for (let row = 0; row < ROWS; row++) {
      const count = this.counter(indexIn(base, spot, row));
      if (count < least) least = count;
    }
    return least;
  }

  /** Counts one request of the key with this hash. */
  increment(hash: number): void {
    const base = this.blockOf(hash);
    const spot = this.spotOf(hash);
    const i0 = indexIn(base, spot, 0);
    const i1 = indexIn(base, spot, 1);
    const i2 = indexIn(base, spot, 2);
    const i3 = indexIn(base, spot, 3);
    const c0 = this.counter(i0);
    const c1 = this.counter(i1);
    const c2 = this.counter(i2);
    const c3 = this.counter(i3);
    const least = Math.min(c0, c1, c2, c3);
    if (least === MAX_COUNT) return;
    // Conservative update: only the counters at the minimum grow, which keeps collisions from inflating estimates.
    if (c0 === least) this.add(i0);
    if (c1 === least) this.add(i1);
    if (c2 === least) this.add(i2);
    if (c3 === least) this.add(i3);
    if (++this.additions >= SAMPLE_FACTOR * this.width) this.halve();
  }

  clear(): void {
    this.counters.fill(0);
    this.additions = 0;
  }

  /** The first counter of the key's block: the hash mixed one way. */
  private blockOf(hash: number): number {
    const block = Math.imul(hash ^ (hash >>> 16), 0x9e3779b1);
    const blocks = (ROWS * this.width) / BLOCK_COUNTERS;
    return ((block >>> 8) & (blocks - 1)) * BLOCK_COUNTERS;
  }

  /** The bits that place the key in each row's quarter of its block: the hash mixed another way. */
  private spotOf(hash: number): number {
    return Math.imul(hash ^ (hash >>> 13), 0x85ebca77);
  }

  private counter(index: number): number {
    const byte = this.counters[index >>> 1] as number;
    return index & 1 ? byte >>> 4 : byte & 0x0f;
  }

  private add(index: number): void {
    this.counters[index >>> 1] = (this.counters[index >>> 1] as number) + (index & 1 ? 0x10 : 0x01);
  }

  private halve(): void {
    const counters = this.counters;
    // Both nibbles of a byte halve at once: shift, then clear the bit that crossed from high to low.
    for (let i = 0; i < counters.length; i++) counters[i] = ((counters[i] as number) >>> 1) & 0x77;
    this.additions = Math.floor(this.additions / 2);
  }
}

/** The counter of `row` in the block at `base`, at the place five bits of `spot` give. */
function indexIn(base: number, spot: number, row: number): number {
  return base + row * ROW_COUNTERS + ((spot >>> (row * 5 + 7)) & (ROW_COUNTERS - 1));
}

/**
 * A 32-bit hash of a key, continued from its account's hash so two accounts' keys count apart:
 * FNV-1a's step taken over two characters at a time (every lookup hashes its key, and half the
 * steps is a tenth of a cache read), then mixed so that its low bits, which pick the table slot,
 * depend on every character.
 */
export function keyHash(accountHash: number, key: string): number {
  let hash = accountHash;
  const last = key.length - 1;
  let i = 0;
  for (; i < last; i += 2) hash = Math.imul(hash ^ (key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)), 0x01000193);
  if (i === last) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x2c1b3c6d);
  hash ^= hash >>> 12;
  return hash >>> 0;
}

export const ACCOUNT_HASH_BASIS = 0x811c9dc5;

/** The hash an account's keys start from. */
export function accountHash(account: string): number {
  return keyHash(ACCOUNT_HASH_BASIS, `${account}\u0000`);
}
