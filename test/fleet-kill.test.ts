import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetClient } from '../src/fleet/fleet-client.js';
import { simulatedPhones } from '../src/runtime/accounts.js';
import type { FleetCallsArgs, FleetCallsResult } from './fixtures/fleet-calls.js';
import { fixturePath } from './helpers/fixtures.js';
import { completedTwice, fleetDatabaseProblem, FleetTables, HostProcess, orderViolations, testFleet, until, untilStatus, type TestFleet } from './helpers/fleet.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet kill test skipped: ${problem}`);

const ACCOUNTS = 12;
const TASKS_PER_ACCOUNT = 12;

describe.skipIf(problem !== null)('a host killed with SIGKILL', () => {
  let fleet: TestFleet;
  let tables: FleetTables;
  const hosts: HostProcess[] = [];

  beforeAll(() => {
    fleet = testFleet({ shards: 6, accounts: ACCOUNTS });
    tables = new FleetTables(fleet);
  });
  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.stop()));
    await tables.close();
    await fleet.drop();
  });

  it('has its shards taken after the takeover grace; its tasks run again there, none lost, none completed twice, order kept', async () => {
    const a = await HostProcess.start(fleet, 'host-a');
    const b = await HostProcess.start(fleet, 'host-b');
    hosts.push(a, b);
    await untilStatus(fleet, (status) => status.unownedShards.length === 0 && status.hosts.every((host) => host.shards.length === 3));

    const client = await FleetClient.connect({ config: fleet.config });
    const results: Promise<FleetCallsResult>[] = [];
    for (let seq = 0; seq < TASKS_PER_ACCOUNT; seq++) {
      for (const account of simulatedPhones(ACCOUNTS)) {
        results.push(client.submit<FleetCallsResult, FleetCallsArgs>({ account, task: fixturePath('fleet-calls'), args: { seq, calls: 3, pauseMs: 40 } }));
      }
    }
    // Mid-run: host-a has finished some of its tasks and holds the rest.
    await until(
      () => tables.completedBy('host-a'),
      (count) => count >= 8,
    );
    a.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited;

    await untilStatus(fleet, (status) => status.hosts.length === 1 && status.hosts[0]?.hostId === 'host-b' && status.hosts[0].shards.length === 6);
    const settled = await Promise.allSettled(results);
    await client.close();

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
    for (const move of takeovers) expect(move.servingAt! - move.lockedAt).toBeGreaterThanOrEqual(fleet.config.fleet.takeoverGraceMs);
  });
});
