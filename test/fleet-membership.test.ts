import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fleetDatabaseProblem, HostProcess, testFleet, untilStatus, type TestFleet } from './helpers/fleet.js';
import type { FleetStatus } from '../src/fleet/fleet-status.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet membership tests skipped: ${problem}`);

function shardsOf(status: FleetStatus, hostId: string): number[] {
  return status.hosts.find((host) => host.hostId === hostId)?.shards ?? [];
}

/** Every shard owned, each by one of `hostIds`, in shares that differ by at most one. */
function balancedAmong(status: FleetStatus, hostIds: readonly string[]): boolean {
  if (status.unownedShards.length > 0) return false;
  const counts = hostIds.map((id) => shardsOf(status, id).length);
  return counts.every((count) => count > 0) && counts.reduce((a, b) => a + b, 0) === status.shards && Math.max(...counts) - Math.min(...counts) <= 1;
}

describe.skipIf(problem !== null)('fleet membership: hosts join, rebalance and leave', () => {
  let fleet: TestFleet;
  const hosts: HostProcess[] = [];

  beforeAll(() => {
    fleet = testFleet({ shards: 6 });
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((host) => host.stop()));
  });
  afterAll(async () => {
    await fleet.drop();
  });

  it('a lone host takes every shard; a second one takes half; the first leaving hands its shards over cleanly', async () => {
    const a = await HostProcess.start(fleet, 'host-a');
    hosts.push(a);
    const alone = await untilStatus(fleet, (status) => shardsOf(status, 'host-a').length === status.shards);
    expect(alone.unownedShards).toEqual([]);
    expect(alone.hosts.find((host) => host.hostId === 'host-a')?.accounts).toBe(alone.accounts);

    const b = await HostProcess.start(fleet, 'host-b');
    hosts.push(b);
    const shared = await untilStatus(fleet, (status) => balancedAmong(status, ['host-a', 'host-b']));
    expect(shardsOf(shared, 'host-a').length).toBe(3);
    expect(shardsOf(shared, 'host-b').length).toBe(3);
    // Only what the newcomer needed changed hands: host-a gave up three shards, each once.
    const givenUp = a.messages.filter((message) => message.type === 'released').map((message) => (message.type === 'released' ? message.shard : -1));
    expect(givenUp.sort()).toEqual(shardsOf(shared, 'host-b'));

    await a.stop();
    const after = await untilStatus(fleet, (status) => shardsOf(status, 'host-b').length === status.shards && !status.hosts.some((host) => host.hostId === 'host-a'));
    // Given up cleanly, so host-b served them with no takeover grace; the moves say so.
    const handedOver = after.lastMoves.filter((move) => move.from === 'host-a' && move.to === 'host-b');
    expect(handedOver.length).toBeGreaterThan(0);
    for (const move of handedOver) expect(move.servingAfterMs).not.toBeNull();
    expect(Math.max(...handedOver.map((move) => move.servingAfterMs ?? Infinity))).toBeLessThan(fleet.config.fleet.takeoverGraceMs);
  });
});
