import { afterAll, describe, expect, it } from 'vitest';
import { LedgerDoubleConnections } from '../src/fleet/connection-ledger.js';
import { fleetNames } from '../src/fleet/fleet-database.js';
import { shardOf } from '../src/fleet/shard-map.js';
import { completedTwice, fleetDatabaseProblem, orderViolations, TwoHostFleet, untilStatus } from './helpers/fleet.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet freeze test skipped: ${problem}`);

const ACCOUNTS = 12;
const TASKS_PER_ACCOUNT = 14;

describe.skipIf(problem !== null)('a host frozen with SIGSTOP', () => {
  let fleet: TwoHostFleet | undefined;
  afterAll(() => fleet?.close());

  it('has stopped using its accounts before another host takes them, and on waking sends nothing for them', async () => {
    fleet = await TwoHostFleet.start({ accounts: ACCOUNTS, shards: 6 });
    const { a, b, tables } = fleet;
    const results = fleet.submitRounds(TASKS_PER_ACCOUNT, { calls: 4, pauseMs: 50 });
    await fleet.untilCompletedBy(a, 8);
    a.kill('SIGSTOP');
    const frozenAt = Date.now();

    // Its kernel still answers, so only its heartbeat's age tells: host-b ends its session, then waits the grace.
    await fleet.untilAlone(b);
    a.kill('SIGCONT');
    const fenced = await a.next((message) => message.type === 'fenced');
    expect(fenced.type === 'fenced' && fenced.reason).toBeTruthy();

    const settled = await Promise.allSettled(results);
    expect(settled.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    const done = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    expect(orderViolations(done)).toEqual([]);
    expect(completedTwice(await tables.completions())).toEqual([]);

    // host-a comes back as a new member and gets its share again, handed over cleanly.
    await untilStatus(fleet.fleet, (status) => status.unownedShards.length === 0 && status.hosts.length === 2 && status.hosts.every((host) => host.shards.length === 3));

    const moves = await tables.moves();
    const takeovers = moves.filter((move) => move.from === 'host-a' && move.to === 'host-b' && move.lockedAt >= frozenAt);
    expect(takeovers.length).toBe(3);
    const calls = await a.calls();
    const shards = fleet.fleet.config.fleet.shards;
    for (const takeover of takeovers) {
      expect(takeover.servingAt! - takeover.lockedAt).toBeGreaterThanOrEqual(fleet.fleet.config.fleet.takeoverGraceMs);
      // From host-b serving the shard until host-a serves it again (if it does), host-a's Telegram saw nothing of its accounts.
      const back = moves.find((move) => move.shard === takeover.shard && move.to === 'host-a' && move.lockedAt > takeover.lockedAt)?.servingAt ?? Infinity;
      const shardAccounts = fleet.accounts.filter((account) => shardOf(account, shards) === takeover.shard);
      const late = shardAccounts.flatMap((account) => (calls[account] ?? []).filter((at) => at >= takeover.servingAt! && at < back));
      expect(late).toEqual([]);
      // It was busy with them when it froze.
      expect(shardAccounts.some((account) => (calls[account] ?? []).length > 0)).toBe(true);
    }
    expect(await new LedgerDoubleConnections(tables.db, fleetNames(fleet.fleet.schema)).count()).toBe(0);
  }, 90_000);
});
