import { errors } from 'telegram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteTaskError } from '../src/channel/remote-error.js';
import { FleetClient } from '../src/fleet/fleet-client.js';
import { simulatedPhones } from '../src/runtime/accounts.js';
import type { FleetCallsArgs, FleetCallsResult } from './fixtures/fleet-calls.js';
import type { ThrowsClassArgs } from './fixtures/throws-class.js';
import type { TelegramErrorArgs } from './fixtures/throws-telegram-error.js';
import { TelegramCallTimeoutError } from '../src/telegram/live/session-errors.js';
import { fixturePath } from './helpers/fixtures.js';
import { completedTwice, fleetDatabaseProblem, FleetTables, HostProcess, orderViolations, testFleet, untilStatus, type TestFleet } from './helpers/fleet.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet submit tests skipped: ${problem}`);

describe.skipIf(problem !== null)('FleetClient.submit', () => {
  let fleet: TestFleet;
  let tables: FleetTables;
  let host: HostProcess;
  let client: FleetClient;
  const [first, second] = simulatedPhones(2) as [string, string];

  beforeAll(async () => {
    fleet = testFleet({ shards: 4, accounts: 4 });
    tables = new FleetTables(fleet);
    host = await HostProcess.start(fleet, 'host-a');
    await untilStatus(fleet, (status) => status.unownedShards.length === 0);
    client = await FleetClient.connect({ config: fleet.config });
  });
  afterAll(async () => {
    await client?.close();
    await host?.stop();
    await tables?.close();
    await fleet?.drop();
  });

  it("resolves with the task's result, run by the account's host", async () => {
    const result = await client.submit<FleetCallsResult, FleetCallsArgs>({ account: first, task: fixturePath('fleet-calls'), args: { seq: 7 } });
    expect(result).toMatchObject({ seq: 7, account: first, pid: host.pid });
  });

  it("rejects with the task's error, its Telegram fields kept", async () => {
    const failing = client.submit<never, TelegramErrorArgs>({
      account: first,
      task: fixturePath('throws-telegram-error'),
      args: { name: 'RPCError', message: '400: CHANNEL_PRIVATE', code: 400, errorMessage: 'CHANNEL_PRIVATE' },
    });
    await expect(failing).rejects.toMatchObject({ name: 'RPCError', code: 400, errorMessage: 'CHANNEL_PRIVATE' });
  });

  it("rejects with the worker's own error classes, as a caller on the host gets them", async () => {
    const thrown = (args: ThrowsClassArgs): Promise<unknown> => client.submit<never, ThrowsClassArgs>({ account: first, task: fixturePath('throws-class'), args }).catch((error: unknown) => error);
    const [flood, timeout, own] = await Promise.all([thrown('flood-wait'), thrown('tgfleet'), thrown('own-class')]);
    expect(flood).toBeInstanceOf(errors.FloodWaitError);
    expect(flood).toMatchObject({ code: 420, errorMessage: 'FLOOD', seconds: 30 });
    expect(timeout).toBeInstanceOf(TelegramCallTimeoutError);
    expect(timeout).toMatchObject({ account: first, timeoutMs: 1500 });
    // A class only the task knows cannot be rebuilt: it arrives as a RemoteTaskError with its name.
    expect(own).toBeInstanceOf(RemoteTaskError);
    expect(own).toMatchObject({ name: 'ReportError', message: 'the report failed' });
  });

  it('rejects a task for an account no host knows, naming it', async () => {
    await expect(client.submit({ account: '+15550009999', task: fixturePath('fleet-calls'), args: { seq: 0 } })).rejects.toThrow(/unknown account \+15550009999/);
  });

  it("runs each account's tasks in the order they were submitted", async () => {
    const submitted = Array.from({ length: 20 }, (_, seq) =>
      [first, second].map((account) => client.submit<FleetCallsResult, FleetCallsArgs>({ account, task: fixturePath('fleet-calls'), args: { seq, calls: 2 } })),
    ).flat();
    const results = await Promise.all(submitted);
    expect(results.length).toBe(40);
    expect(orderViolations(results)).toEqual([]);
  });

  it('joins a task submitted again with the same id instead of running it twice', async () => {
    const taskId = `report-${Date.now()}`;
    const once = client.submit<FleetCallsResult, FleetCallsArgs>({ account: second, task: fixturePath('fleet-calls'), args: { seq: 1 }, taskId });
    const again = client.submit<FleetCallsResult, FleetCallsArgs>({ account: second, task: fixturePath('fleet-calls'), args: { seq: 1 }, taskId });
    const [a, b] = await Promise.all([once, again]);
    expect(b).toEqual(a);
    // After it ended, too: a producer that restarts and submits again gets the stored result.
    const later = await client.submit<FleetCallsResult, FleetCallsArgs>({ account: second, task: fixturePath('fleet-calls'), args: { seq: 1 }, taskId });
    expect(later).toEqual(a);
    const completions = await tables.completions();
    expect(completedTwice(completions)).toEqual([]);
    expect(completions.filter((completion) => completion.account === second).length).toBe(21);
  });
});
