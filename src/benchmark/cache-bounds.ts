/**
 * What any cache could achieve on a lookup trace, to judge a real cache against: an unbounded
 * cache misses only the first lookup of each key, and Belady's optimal policy (evict the entry
 * needed furthest in the future) is the best any cache of a given size can do.
 */

export interface TraceLookup {
  account: string;
  key: string;
}

function id(lookup: TraceLookup): string {
  return `${lookup.account}\u0000${lookup.key}`;
}

/**
 * Which lookups a cache that never evicts would answer. The run is shorter than any TTL, so there
 * are no expiry refreshes to count. One flag per lookup, so callers can plot the bound over time.
 */
export function firstLookupHits(trace: readonly TraceLookup[]): boolean[] {
  const seen = new Set<string>();
  return trace.map((lookup) => {
    const key = id(lookup);
    if (seen.has(key)) return true;
    seen.add(key);
    return false;
  });
}

/**
 * Which lookups Belady's clairvoyant policy answers with room for `capacity` entries: on a miss
 * with the cache full, whichever of the cached keys and the new one is needed furthest in the
 * future stays out (the new one too: a cache may decline to admit, as W-TinyLFU does). The
 * furthest next use comes from a max-heap with stale entries skipped, so a trace of millions of
 * lookups takes seconds, not hours.
 */
export function beladyHits(trace: readonly TraceLookup[], capacity: number): boolean[] {
  const keys = trace.map(id);
  // nextUse[i]: the position of the next lookup of keys[i] after i, or the trace length for never.
  const never = keys.length;
  const nextUse = new Int32Array(keys.length);
  const upcoming = new Map<string, number>();
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i] as string;
    nextUse[i] = upcoming.get(key) ?? never;
    upcoming.set(key, i);
  }
  const cached = new Map<string, number>();
  const heap = new FurthestFirst();
  return keys.map((key, i) => {
    const next = nextUse[i] as number;
    const hit = cached.has(key);
    if (!hit && cached.size >= capacity) {
      // Stale heap entries (a key since read again, or gone) are dropped as they surface.
      while (heap.size > 0 && cached.get(heap.topKey()) !== heap.topNext()) heap.pop();
      if (capacity === 0 || heap.size === 0 || heap.topNext() <= next) return false;
      cached.delete(heap.topKey());
      heap.pop();
    }
    cached.set(key, next);
    heap.push(next, key);
    return hit;
  });
}

/** A binary max-heap of (next use, key). */
class FurthestFirst {
  private readonly next: number[] = [];
  private readonly keys: string[] = [];

  get size(): number {
    return this.next.length;
  }

  topNext(): number {
    return this.next[0] as number;
  }

  topKey(): string {
    return this.keys[0] as string;
  }

  push(next: number, key: string): void {
    let i = this.next.length;
    this.next.push(next);
    this.keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.next[parent] as number) >= next) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): void {
    const lastNext = this.next.pop() as number;
    const lastKey = this.keys.pop() as string;
    if (this.next.length === 0) return;
    this.next[0] = lastNext;
    this.keys[0] = lastKey;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < this.next.length && (this.next[left] as number) > (this.next[largest] as number)) largest = left;
      if (right < this.next.length && (this.next[right] as number) > (this.next[largest] as number)) largest = right;
      if (largest === i) return;
      this.swap(i, largest);
      i = largest;
    }
  }

  private swap(a: number, b: number): void {
    [this.next[a], this.next[b]] = [this.next[b] as number, this.next[a] as number];
    [this.keys[a], this.keys[b]] = [this.keys[b] as string, this.keys[a] as string];
  }
}
