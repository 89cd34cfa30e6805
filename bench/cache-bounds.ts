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

/** Which lookups Belady's clairvoyant policy answers with room for `capacity` entries. */
export function beladyHits(trace: readonly TraceLookup[], capacity: number): boolean[] {
  const keys = trace.map(id);
  // nextUse[i]: the position of the next lookup of keys[i] after i, or Infinity.
  const nextUse = new Array<number>(keys.length);
  const upcoming = new Map<string, number>();
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i] as string;
    nextUse[i] = upcoming.get(key) ?? Infinity;
    upcoming.set(key, i);
  }
  const cached = new Map<string, number>();
  return keys.map((key, i) => {
    const hit = cached.has(key);
    if (!hit && cached.size >= capacity) {
      let victim: string | undefined;
      let furthest = -1;
      for (const [candidate, next] of cached) {
        if (next > furthest) {
          furthest = next;
          victim = candidate;
        }
      }
      if (victim !== undefined) cached.delete(victim);
    }
    if (capacity > 0) cached.set(key, nextUse[i] as number);
    return hit;
  });
}
