import { afterAll, describe, expect, it } from 'vitest';
import { completedTwice, fleetDatabaseProblem, orderViolations, TwoHostFleet } from './helpers/fleet.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet kill test skipped: ${problem}`);

const ACCOUNTS = 12;
const TASKS_PER_ACCOUNT = 12;

describe.skipIf(problem !== null)('a host killed with SIGKILL', () => {
  let fleet: TwoHostFleet | undefined;
  afterAll(() => fleet?.close());

  it('has its shards taken after the takeover grace; its tasks run again there, none lost, none completed twice, order kept', async () => {
    fleet = await TwoHostFleet.start({ accounts: ACCOUNTS, shards: 6 });
    const { a, b, tables } = fleet;
    const results = fleet.submitRounds(TASKS_PER_ACCOUNT, { calls: 3, pauseMs: 40 });
    // Mid-run: host-a has finished some of its tasks and holds the rest.
    await fleet.untilCompletedBy(a, 8);
    a.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited;

    await fleet.untilAlone(b);
    const settled = await Promise.allSettled(results);

    const rejected = settled.filter((outcome) => outcome.status === 'rejected');
    expect(rejected).toEqual([]);
    const done = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    expect(done.length).toBe(ACCOUNTS * TASKS_PER_ACCOUNT);
    expect(orderViolations(done)).toEqual([]);

    const completions = await tables.completions();
    expect(completions.length).toBe(ACCOUNTS * TASKS_PER_ACCOUNT);
    expect(completedTwice(completions)).toEqual([]);
    // What host-a left running ran again on host-b, as a later attempt.
    expect(completions.some((completion) => completion.hostId === 'host-b' && completion.attempt > 0)).toBe(true);

    // host-b locked each shard once it came free, then waited the grace before serving it: host-a
    // did not give them up, and might (were it only cut off) still be using their accounts.
    const takeovers = (await tables.moves()).filter((move) => move.from === 'host-a' && move.to === 'host-b' && move.lockedAt >= killedAt);
    expect(takeovers.length).toBe(3);
    for (const move of takeovers) expect(move.servingAt! - move.lockedAt).toBeGreaterThanOrEqual(fleet.fleet.config.fleet.takeoverGraceMs);
  });
});
