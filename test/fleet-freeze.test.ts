import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerDoubleConnections } from '../src/fleet/connection-ledger.js';
import { FleetClient } from '../src/fleet/fleet-client.js';
import { fleetNames } from '../src/fleet/fleet-database.js';
import { shardOf } from '../src/fleet/shard-map.js';
import { simulatedPhones } from '../src/runtime/accounts.js';
import type { FleetCallsArgs, FleetCallsResult } from './fixtures/fleet-calls.js';
import { fixturePath } from './helpers/fixtures.js';
import { completedTwice, fleetDatabaseProblem, FleetTables, HostProcess, orderViolations, testFleet, until, untilStatus, type TestFleet } from './helpers/fleet.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet freeze test skipped: ${problem}`);

const ACCOUNTS = 12;
const TASKS_PER_ACCOUNT = 14;

describe.skipIf(problem !== null)('a host frozen with SIGSTOP', () => {
  let fleet: TestFleet;
  let tables: FleetTables;
  const hosts: HostProcess[] = [];

  beforeAll(() => {
    fleet = testFleet({ shards: 6, accounts: ACCOUNTS });
    tables = new FleetTables(fleet);
  });
  afterAll(async () => {
    for (const host of hosts) host.kill('SIGCONT');
    await Promise.all(hosts.map((host) => host.stop()));
    await tables.close();
    await fleet.drop();
  });

  it('has stopped using its accounts before another host takes them, and on waking sends nothing for them', async () => {
    const a = await HostProcess.start(fleet, 'host-a');
    const b = await HostProcess.start(fleet, 'host-b');
    hosts.push(a, b);
    await untilStatus(fleet, (status) => status.unownedShards.length === 0 && status.hosts.every((host) => host.shards.length === 3));

    const client = await FleetClient.connect({ config: fleet.config });
    const results: Promise<FleetCallsResult>[] = [];
    for (let seq = 0; seq < TASKS_PER_ACCOUNT; seq++) {
      for (const account of simulatedPhones(ACCOUNTS)) {
        results.push(client.submit<FleetCallsResult, FleetCallsArgs>({ account, task: fixturePath('fleet-calls'), args: { seq, calls: 4, pauseMs: 50 } }));
      }
    }
    await until(
      () => tables.completedBy('host-a'),
      (count) => count >= 8,
    );
    a.kill('SIGSTOP');
    const frozenAt = Date.now();

    // Its kernel still answers, so only its heartbeat's age tells: host-b ends its session, then waits the grace.
    await untilStatus(
      fleet,
      (status) => status.hosts.length === 1 && status.hosts[0]?.hostId === 'host-b' && status.hosts[0].shards.length === 6 && status.lastMoves.every((move) => move.servingAfterMs !== null),
    );
    a.kill('SIGCONT');
    const fenced = await a.next((message) => message.type === 'fenced');
    expect(fenced.type === 'fenced' && fenced.reason).toBeTruthy();

    const settled = await Promise.allSettled(results);
    await client.close();
    expect(settled.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    const done = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    expect(orderViolations(done)).toEqual([]);
    expect(completedTwice(await tables.completions())).toEqual([]);

    // host-a comes back as a new member and gets its share again, handed over cleanly.
    await untilStatus(fleet, (status) => status.unownedShards.length === 0 && status.hosts.length === 2 && status.hosts.every((host) => host.shards.length === 3));

    const moves = await tables.moves();
    const takeovers = moves.filter((move) => move.from === 'host-a' && move.to === 'host-b' && move.lockedAt >= frozenAt);
    expect(takeovers.length).toBe(3);
    const calls = await a.calls();
    const accounts = simulatedPhones(ACCOUNTS);
    for (const takeover of takeovers) {
      expect(takeover.servingAt! - takeover.lockedAt).toBeGreaterThanOrEqual(fleet.config.fleet.takeoverGraceMs);
      // From host-b serving the shard until host-a serves it again (if it does), host-a's Telegram saw nothing of its accounts.
      const back = moves.find((move) => move.shard === takeover.shard && move.to === 'host-a' && move.lockedAt > takeover.lockedAt)?.servingAt ?? Infinity;
      const shardAccounts = accounts.filter((account) => shardOf(account, fleet.config.fleet.shards) === takeover.shard);
      const late = shardAccounts.flatMap((account) => (calls[account] ?? []).filter((at) => at >= takeover.servingAt! && at < back));
      expect(late).toEqual([]);
      // It was busy with them when it froze.
      expect(shardAccounts.some((account) => (calls[account] ?? []).length > 0)).toBe(true);
    }
    expect(await new LedgerDoubleConnections(tables.db, fleetNames(fleet.schema)).count()).toBe(0);
  }, 90_000);
});
