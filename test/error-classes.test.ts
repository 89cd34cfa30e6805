import { MessageChannel } from 'node:worker_threads';
import { errors } from 'telegram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteTaskError, reviveError, serializeError, type SerializedError } from '../src/channel/remote-error.js';
import { WorkerCrashedError } from '../src/task-errors.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { TaskModuleError } from '../src/task-errors.js';
import { TelegramCallTimeoutError } from '../src/telegram/live/session-errors.js';
import type { ThrowsClassArgs } from './fixtures/throws-class.js';
import { fixturePath } from './helpers/fixtures.js';
import { accountPicker, startRuntime } from './helpers/runtime.js';

/** What arrives on the other end of a real MessagePort. */
async function across(serialized: SerializedError): Promise<Error> {
  const { port1, port2 } = new MessageChannel();
  const arrived = new Promise<SerializedError>((resolve) => port2.once('message', resolve));
  port1.postMessage(serialized);
  const received = await arrived;
  port1.close();
  return reviveError(received);
}

describe('an error a task throws in its worker', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);
  const thrown = (args: ThrowsClassArgs): Promise<unknown> => runtime.run({ account: takeAccount(), task: fixturePath('throws-class'), args }).catch((caught: unknown) => caught);

  beforeAll(async () => {
    runtime = await startRuntime();
  });
  afterAll(() => runtime?.shutdown());

  it('reaches the caller as GramJS’s FloodWaitError, with its wait', async () => {
    const error = await thrown('flood-wait');

    expect(error).toBeInstanceOf(errors.FloodWaitError);
    expect(error).toBeInstanceOf(errors.RPCError);
    expect(error).toMatchObject({ name: 'FloodWaitError', code: 420, errorMessage: 'FLOOD', seconds: 30, message: expect.stringMatching(/wait of 30 seconds/) });
  });

  it('reaches the caller as GramJS’s RPCError, with its code and error message', async () => {
    const error = await thrown('rpc');

    expect(error).toBeInstanceOf(errors.RPCError);
    expect(error).not.toBeInstanceOf(errors.FloodWaitError);
    expect(error).toMatchObject({ name: 'RPCError', code: 400, errorMessage: 'CHANNEL_PRIVATE' });
  });

  it('of a task’s own subclass of RPCError reaches the caller as an RPCError that keeps its name', async () => {
    const error = await thrown('rpc-subclass');

    expect(error).toBeInstanceOf(errors.RPCError);
    expect(error).toMatchObject({ name: 'StaleDraftError', code: 400, errorMessage: 'DRAFT_STALE' });
  });

  it('of tgfleet’s own reaches the caller as its class, with its fields', async () => {
    const error = await thrown('tgfleet');

    expect(error).toBeInstanceOf(TelegramCallTimeoutError);
    expect(error).toMatchObject({ name: 'TelegramCallTimeoutError', method: 'users.GetUsers', timeoutMs: 1500, account: expect.stringMatching(/^\+99966/) });
    expect((error as Error).stack).toMatch(/^TelegramCallTimeoutError: .*\n\s+at /);
  });

  it('of a class the main thread does not know reaches the caller as an Error with its name and message only', async () => {
    const error = await thrown('own-class');

    expect(error).toBeInstanceOf(RemoteTaskError);
    expect(error).toMatchObject({ name: 'ReportError', message: 'the report failed' });
    expect(error).not.toHaveProperty('hint');
  });
});

describe('an error the main thread sends a worker', () => {
  it('arrives as its class with its fields, without the main thread’s stack or file paths', async () => {
    const error = await across(serializeError(new TaskModuleError('cannot load /srv/fleet/tasks/report.js (file:///srv/fleet/tasks/report.js)'), { stack: false }));

    expect(error).toBeInstanceOf(TaskModuleError);
    expect(error.message).toBe('cannot load <path> (<path>)');
    expect(error.stack).toBe('TaskModuleError: cannot load <path> (<path>)');
  });

  it('keeps tgfleet’s fields, such as a crash’s collateral flag', async () => {
    const error = await across(serializeError(new WorkerCrashedError('lost its worker to another task', { collateral: true }), { stack: false }));

    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error).toMatchObject({ name: 'WorkerCrashedError', collateral: true });
    expect(error.stack).not.toMatch(/\n\s+at /);
  });
});
