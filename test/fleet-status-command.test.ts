import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetClient } from '../src/fleet/fleet-client.js';
import type { FleetStatus } from '../src/fleet/fleet-status.js';
import { shardOf } from '../src/fleet/shard-map.js';
import { simulatedPhones } from '../src/runtime/accounts.js';
import { fixturePath } from './helpers/fixtures.js';
import { fleetDatabaseProblem, HostProcess, testFleet, untilStatus, type TestFleet } from './helpers/fleet.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet status command tests skipped: ${problem}`);

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const ACCOUNTS = 8;
const SHARDS = 4;

function tgfleet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

describe.skipIf(problem !== null)('tgfleet fleet status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tgfleet-fleet-status-'));
  let fleet: TestFleet;
  let configFile: string;
  const hosts: HostProcess[] = [];

  beforeAll(() => {
    fleet = testFleet({ shards: SHARDS, accounts: ACCOUNTS });
    configFile = join(dir, 'fleet.yaml');
    // JSON is YAML: the CLI reads the very config the hosts run with.
    writeFileSync(configFile, JSON.stringify(fleet.raw));
  });
  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.stop()));
    await fleet.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the hosts, the shards and accounts each serves, the queue and the moves', async () => {
    const a = await HostProcess.start(fleet, 'host-a');
    hosts.push(a);
    await untilStatus(fleet, (status) => status.hosts[0]?.shards.length === SHARDS);
    const b = await HostProcess.start(fleet, 'host-b');
    hosts.push(b);
    await untilStatus(fleet, (status) => status.unownedShards.length === 0 && status.hosts.length === 2 && status.hosts.every((host) => host.shards.length === SHARDS / 2));

    const [account] = simulatedPhones(1) as [string];
    const submitted = await tgfleet('submit', '--config', configFile, '--account', account, '--task', fixturePath('fleet-calls'), '--args', '{"seq":3}');
    expect(submitted.stderr).toBe('');
    expect(JSON.parse(submitted.stdout)).toMatchObject({ seq: 3, account });

    const json = await tgfleet('fleet', 'status', '--config', configFile, '--json');
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as FleetStatus;
    expect(status.hosts.map((host) => host.hostId)).toEqual(['host-a', 'host-b']);
    for (const host of status.hosts) {
      expect(host.shards.length).toBe(SHARDS / 2);
      expect(host.accounts).toBe(simulatedPhones(ACCOUNTS).filter((phone) => host.shards.includes(shardOf(phone, SHARDS))).length);
    }
    expect(status.queue).toEqual({ queued: 0, active: 0, completed: 1, failed: 0 });
    expect(status.moves).toBe(SHARDS / 2);

    const text = await tgfleet('fleet', 'status', '--config', configFile);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`fleet ${fleet.schema}: 2 hosts, ${SHARDS} shards (0 unowned), ${ACCOUNTS} accounts in this config`);
    for (const host of status.hosts) {
      const row = lines.find((line) => line.startsWith(host.hostId));
      expect(row?.split(/\s{2,}/)).toEqual([host.hostId, String(host.pid), expect.stringMatching(/^\d+ ms ago$/), String(SHARDS / 2), String(host.accounts), host.shards.join(',')]);
    }
    expect(lines).toContain('queue: 0 queued, 0 running, 1 completed, 0 failed');
    expect(lines).toContain(`moves: ${SHARDS / 2} shards changed hands`);
    const moved = lines.filter((line) => /^ {2}shard \d+: host-a -> host-b at .+, serving after \d+ ms$/.test(line));
    expect(moved.length).toBe(SHARDS / 2);
  }, 90_000);

  it('counts tasks waiting for a host as queued, and shards no host serves as unowned', async () => {
    await Promise.all(hosts.splice(0).map((host) => host.stop()));
    const client = await FleetClient.connect({ config: fleet.config });
    const waiting = Promise.allSettled(simulatedPhones(3).map((account, seq) => client.submit({ account, task: fixturePath('fleet-calls'), args: { seq } })));
    await untilStatus(fleet, (status) => status.queue.queued === 3);
    const text = await tgfleet('fleet', 'status', '--config', configFile);
    expect(text.stdout.split('\n')[0]).toBe(`fleet ${fleet.schema}: 0 hosts, ${SHARDS} shards (${SHARDS} unowned), ${ACCOUNTS} accounts in this config`);
    expect(text.stdout).toContain('queue: 3 queued, 0 running, 1 completed, 0 failed');
    await client.close();
    const outcomes = await waiting;
    expect(outcomes.every((outcome) => outcome.status === 'rejected' && /closed before task/.test(String(outcome.reason)))).toBe(true);
  });

  it('says so when PostgreSQL does not answer, and when the schema holds no fleet', async () => {
    const nowhere = join(dir, 'nowhere.yaml');
    writeFileSync(nowhere, JSON.stringify({ ...fleet.raw, fleet: { ...(fleet.raw.fleet as object), database_url: 'postgres://127.0.0.1:1/test' } }));
    const down = await tgfleet('fleet', 'status', '--config', nowhere);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/the fleet database postgres:\/\/127\.0\.0\.1:1\/test does not answer/);

    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, JSON.stringify({ ...fleet.raw, fleet: { ...(fleet.raw.fleet as object), schema: `${fleet.schema}_none` } }));
    const none = await tgfleet('fleet', 'status', '--config', empty);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(new RegExp(`no fleet in schema ${fleet.schema}_none`));
  }, 60_000);
});
