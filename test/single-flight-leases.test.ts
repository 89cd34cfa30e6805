import { afterEach, describe, expect, it, vi } from 'vitest';
import { SingleFlight, type FlightOwnerLife } from '../src/runtime/single-flight.js';

const empty = (): unknown => undefined;

/** A task's life as the endpoint gives it: live until it ends. */
function life(): FlightOwnerLife & { end: () => void } {
  const controller = new AbortController();
  return { live: () => !controller.signal.aborted, signal: () => controller.signal, end: () => controller.abort() };
}

describe('SingleFlight leases', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps the lease of a leader whose task still runs, however long its fetch takes', async () => {
    vi.useFakeTimers();
    const flight = new SingleFlight(1000);
    const leader = life();
    await flight.lookup('acc', '@slow', 'leader', empty, leader);
    let woken = false;
    const waiter = Promise.resolve(flight.lookup('acc', '@slow', 'waiter', empty, life())).finally(() => {
      woken = true;
    });

    await vi.advanceTimersByTimeAsync(10_000);
    expect(woken).toBe(false);
    expect(flight.activeLeases).toBe(1);

    leader.end();
    await vi.advanceTimersByTimeAsync(1000);
    await expect(waiter).resolves.toEqual({ hit: false, leader: true });
  });

  it('hands a failing leader’s error to its waiters instead of making each of them lead in turn', async () => {
    const flight = new SingleFlight(30_000);
    await flight.lookup('acc', '@broken', 'leader', empty);
    const waiters = ['w1', 'w2', 'w3'].map((owner) => flight.lookup('acc', '@broken', owner, empty));
    const failure = { name: 'RPCError', message: 'INTERNAL_SERVER_ERROR', code: 500 };

    flight.settle('acc', '@broken', 'leader', failure);

    await expect(Promise.all(waiters)).resolves.toEqual([1, 2, 3].map(() => ({ hit: false, leader: false, error: failure })));
    expect(flight.activeLeases).toBe(0);
  });

  it('releases a task’s leases without touching the other tasks’ ones', async () => {
    const flight = new SingleFlight(30_000);
    for (let index = 0; index < 1000; index++) await flight.lookup('acc', `@other${index}`, `task${index}`, empty);
    await flight.lookup('acc', '@mine', 'ending', empty);

    flight.releaseOwner('ending');
    flight.releaseOwner('never-held-anything');

    expect(flight.activeLeases).toBe(1000);
    expect(await flight.lookup('acc', '@mine', 'next', empty)).toEqual({ hit: false, leader: true });
  });
});
