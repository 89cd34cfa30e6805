/**
 * Deterministic randomness for the simulated world: the same seed must build the same world in
 * every process (the main thread, a benchmark re-run, a test), so nothing here reads
 * `Math.random` or the clock.
 */

/** A generator of floats in [0, 1). */
export type Random = () => number;

/** mulberry32: tiny, fast, and good enough to scatter names and dates; not for cryptography. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, bound). */
export function randomInt(random: Random, bound: number): number {
  return Math.floor(random() * bound);
}

export function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[randomInt(random, items.length)];
  if (item === undefined) throw new RangeError('pick from an empty list');
  return item;
}

/**
 * Two independent 32-bit lanes over the key's UTF-16 units (cyrb53-style mixing). Values derived
 * from a key, not from a generator's position, stay stable however many other values exist: adding
 * an account must not change another account's access hashes.
 */
function hashLanes(key: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ unit, 2654435761);
    h2 = Math.imul(h2 ^ unit, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

function keyOf(parts: readonly (string | number)[]): string {
  return parts.join('\u0000');
}

/** A signed 64-bit hash of the parts, never zero (Telegram treats a zero access hash as "none"). */
export function hash64(...parts: (string | number)[]): bigint {
  const [high, low] = hashLanes(keyOf(parts));
  const value = BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low));
  return value === 0n ? 1n : value;
}

/** A float in [0, 1) fixed by the parts: a stable coin toss per key. */
export function unitHash(...parts: (string | number)[]): number {
  const [high, low] = hashLanes(keyOf(parts));
  return (high * 2 ** 21 + (low >>> 11)) / 2 ** 53;
}
