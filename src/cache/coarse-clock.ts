/**
 * The wall clock read at most once per turn of the event loop. On some virtual machines a
 * `Date.now()` costs tens of nanoseconds, as much as the rest of a cache read, and expiry is
 * judged in milliseconds and TTLs of minutes: one reading serves every operation of a synchronous
 * stretch of work, and is forgotten when its microtasks run. Within one long synchronous stretch
 * the time stands still, so an entry may outlive its TTL by that stretch (lru-cache makes the same
 * trade with its ttlResolution, for a millisecond at least). When something has replaced
 * `Date.now` (a test's fake timers), every call reads the replacement, so fake time moves at once.
 */

const nativeNow = Date.now;
let cached = 0;

function forget(): void {
  cached = 0;
}

export function coarseNow(): number {
  if (Date.now !== nativeNow) return Date.now();
  if (cached !== 0) return cached;
  cached = nativeNow();
  queueMicrotask(forget);
  return cached;
}

/** Whether `clock` is the wall clock, which a cache then reads through `coarseNow`. */
export function isWallClock(clock: () => number): boolean {
  return clock === nativeNow || clock === Date.now;
}
