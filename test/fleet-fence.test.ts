import { afterAll, describe, expect, it } from 'vitest';
import { completedTwice, fleetDatabaseProblem, orderViolations, TwoHostFleet, until } from './helpers/fleet.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet fence test skipped: ${problem}`);

describe.skipIf(problem !== null)('hosts that dial the data centre over TCP', () => {
  let fleet: TwoHostFleet | undefined;
  afterAll(() => fleet?.close());

  it("a frozen host's connections are closed by the data centre, for want of its pings, before the new owner connects its accounts", async () => {
    fleet = await TwoHostFleet.start({ accounts: 12, shards: 6, dataCentre: true });
    const { a, b } = fleet;
    const dc = fleet.dc!;
    const results = fleet.submitRounds(14, { calls: 4, pauseMs: 50 });
    await fleet.untilCompletedBy(a, 8);
    const frozenAccounts = await fleet.accountsOf(a);
    const open = frozenAccounts.reduce((sum, account) => sum + dc.openConnectionsOf(account), 0);
    expect(open).toBeGreaterThan(0);
    const closedByPings = dc.counters.pingDisconnects;
    const byB = async (): Promise<number> => (await fleet!.tables.completions()).filter((row) => row.hostId === b.hostId && frozenAccounts.includes(row.account)).length;
    const byBBefore = await byB();
    a.kill('SIGSTOP');

    // Frozen, it sends no more pings: the data centre closes what it had open, as Telegram would.
    await until(
      async () => dc.counters.pingDisconnects - closedByPings,
      (closed) => closed >= open,
    );
    await fleet.untilAlone(b);
    // host-b runs the frozen host's accounts, on connections of its own, while host-a is still frozen.
    await until(byB, (count) => count > byBBefore);
    a.kill('SIGCONT');
    await a.next((message) => message.type === 'fenced');

    const settled = await Promise.allSettled(results);
    expect(settled.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    const done = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    expect(orderViolations(done)).toEqual([]);
    expect(completedTwice(await fleet.tables.completions())).toEqual([]);
    // The data centre's own count: never two clients of one account connected at once.
    expect(dc.counters.doubleConnections).toBe(0);
    expect(dc.counters.duplicateAuthKeys).toBe(0);
  }, 120_000);
});
