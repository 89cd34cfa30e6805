/**
 * Simulated time for the simulated Telegram. A fleet run covers hours of Telegram time (flood
 * windows, username changes) in seconds of real time, so the server reads this clock, never
 * `Date.now()`.
 */
import { performance } from 'node:perf_hooks';

export interface SimulatedClockOptions {
  /**
   * Real milliseconds per simulated millisecond: 1 is real time, 0.01 runs 100× faster.
   * Default 1.
   */
  timeScale?: number;
  /** Simulated milliseconds since time zero; tests inject one to move time by hand. */
  now?: () => number;
}

export interface SimulatedClock {
  readonly timeScale: number;
  /** Simulated milliseconds since time zero. */
  now(): number;
  /** Waits `simulatedMs` of simulated time (real `simulatedMs * timeScale`). */
  sleep(simulatedMs: number): Promise<void>;
}

export function createSimulatedClock(options: SimulatedClockOptions = {}): SimulatedClock {
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0)) throw new RangeError('timeScale must be positive');
  const startedAt = performance.now();
  return {
    timeScale,
    now: options.now ?? (() => (performance.now() - startedAt) / timeScale),
    sleep(simulatedMs) {
      const realMs = simulatedMs * timeScale;
      if (!(realMs > 0)) return Promise.resolve();
      return new Promise((resolve) => setTimeout(resolve, realMs));
    },
  };
}
