import { describe, expect, it } from 'vitest';
import { ReconnectPacer } from '../src/telegram/live/reconnect-pacer.js';
import { seededRandom } from '../src/telegram/simulated/seeded-random.js';

/** A pacer whose waits are recorded instead of slept. */
function recordingPacer(random: () => number): { pacer: ReconnectPacer; waits: number[] } {
  const waits: number[] = [];
  const pacer = new ReconnectPacer({
    baseDelayMs: 1000,
    maxDelayMs: 8000,
    random,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  return { pacer, waits };
}

describe('reconnect pacing', () => {
  it('dials a first connection at once', async () => {
    const { pacer, waits } = recordingPacer(() => 0.99);
    await pacer.beforeAttempt();
    expect(waits).toEqual([]);
  });

  it('spreads a fleet that lost its data centre at the same moment over the whole first window', async () => {
    const random = seededRandom(7);
    const delays: number[] = [];
    for (let client = 0; client < 1000; client++) {
      const { pacer, waits } = recordingPacer(random);
      await pacer.beforeAttempt();
      pacer.connected();
      await pacer.beforeAttempt();
      delays.push(waits[0] ?? 0);
    }
    // Full jitter: every 100 ms slice of the 1 s window gets about a tenth of the fleet, none all of it.
    const slices = Array.from({ length: 10 }, (_, slice) => delays.filter((ms) => ms >= slice * 100 && ms < (slice + 1) * 100).length);
    for (const count of slices) expect(count).toBeGreaterThan(50);
    for (const count of slices) expect(count).toBeLessThan(150);
    expect(Math.max(...delays)).toBeLessThan(1000);
  });

  it('doubles the ceiling after each failed attempt up to the maximum, and starts again once connected', async () => {
    const { pacer, waits } = recordingPacer(() => 0.999_999);
    await pacer.beforeAttempt();
    pacer.connected();
    for (let attempt = 0; attempt < 6; attempt++) await pacer.beforeAttempt();
    pacer.connected();
    await pacer.beforeAttempt();
    expect(waits).toEqual([999, 1999, 3999, 7999, 7999, 7999, 999]);
  });
});
