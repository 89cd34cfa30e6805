import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { RemoteTaskError } from '../src/channel/remote-error.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { RuntimeClosedError, WorkerCrashedError } from '../src/task-errors.js';
import { fixturePath, runSlow as slow } from './helpers/fixtures.js';
import { accountPicker, startRuntime } from './helpers/runtime.js';
import { settled } from './helpers/settled.js';

/** A runtime whose workers a runaway task can exhaust quickly, though their own code fits. */
const startFaultRuntime = (): Promise<FleetRuntime> =>
  startRuntime((config) => {
    config.runtime.maxWorkerMemoryMb = 32;
  });

describe('a task that throws', () => {
  let runtime: FleetRuntime;

  beforeAll(async () => {
    runtime = await startFaultRuntime();
  });
  afterAll(() => runtime?.shutdown());

  it('leaves its worker serving the account', async () => {
    const account = accountPicker(() => runtime)();
    const before = await slow(runtime, account);

    await expect(runtime.run({ account, task: fixturePath('throws-telegram-error'), args: { name: 'RPCError', message: 'PEER_ID_INVALID', code: 400 } })).rejects.toBeInstanceOf(RemoteTaskError);

    expect((await slow(runtime, account)).threadId).toBe(before.threadId);
  });
});

describe.each([
  { fault: 'calls process.exit', fixture: 'exits-process', cause: /worker exited with code: 1/ },
  { fault: 'runs out of memory', fixture: 'allocates-until-oom', cause: /memory limit/ },
])('a worker that $fault', ({ fixture, cause }) => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);

  beforeAll(async () => {
    runtime = await startFaultRuntime();
  });
  afterAll(() => runtime?.shutdown());

  it('fails only the task it ran; other accounts go on and the account moves to a live worker', async () => {
    const [victim, bystander] = [takeAccount(), takeAccount()];
    const [victimThread, bystanderThread] = (await Promise.all([slow(runtime, victim), slow(runtime, bystander)])).map((result) => result.threadId);
    expect(victimThread).not.toBe(bystanderThread);

    const [crash, bystanderRun] = await Promise.all([settled(runtime.run({ account: victim, task: fixturePath(fixture) })), settled(slow(runtime, bystander, 100))]);

    expect(crash).toMatchObject({ status: 'rejected', reason: expect.any(WorkerCrashedError) });
    const { message } = (crash as PromiseRejectedResult).reason as Error;
    expect(message).toContain(`of account ${victim} died`);
    expect(message).toMatch(cause);
    expect(bystanderRun).toMatchObject({ status: 'fulfilled', value: { threadId: bystanderThread } });
    const next = await slow(runtime, victim);
    expect(next.threadId).not.toBe(victimThread);
    expect((await slow(runtime, victim)).threadId).toBe(next.threadId);
  });

  it('serves every account afterwards', async () => {
    const results = await Promise.all(runtime.accounts.map((account) => runtime.run({ account, task: 'noop' })));

    expect(results).toEqual(runtime.accounts.map(() => null));
  });
});

describe('shutdown with tasks in flight', () => {
  it('lets running tasks finish within the grace period, aborts the rest and rejects queued and new tasks', async () => {
    const runtime = await startRuntime((config) => {
      config.runtime.shutdownGraceMs = 500;
    });
    const takeAccount = accountPicker(() => runtime);
    const [finishing, stuck, cooperative] = [takeAccount(), takeAccount(), takeAccount()];
    try {
      const finished = settled(slow(runtime, finishing, 20));
      const queued = settled(slow(runtime, finishing));
      const stopsWhenAborted = settled(runtime.run({ account: cooperative, task: fixturePath('waits-for-abort') }));
      const ignoresItsSignal = settled(slow(runtime, stuck, 60_000));

      const closing = runtime.shutdown();
      const afterShutdown = settled(runtime.run({ account: finishing, task: 'noop' }));

      expect(runtime.shutdown()).toBe(closing);
      await closing;
      const outcomes = await Promise.all([finished, queued, stopsWhenAborted, ignoresItsSignal, afterShutdown]);
      expect(outcomes).toMatchObject([
        { status: 'fulfilled', value: { threadId: expect.any(Number) } },
        { status: 'rejected', reason: expect.any(RuntimeClosedError) },
        { status: 'rejected', reason: { name: 'AbortError', message: 'the runtime is shutting down' } },
        { status: 'rejected', reason: expect.any(RuntimeClosedError) },
        { status: 'rejected', reason: expect.any(RuntimeClosedError) },
      ]);
      expect((outcomes[3] as PromiseRejectedResult).reason).toMatchObject({ message: expect.stringMatching(/did not stop within the grace period/) });
      await expect(runtime.shutdown()).resolves.toBeUndefined();
    } finally {
      await runtime.shutdown();
    }
  });
});

/**
 * Runs a compiled host script and resolves with its exit. Once it has printed "stopped" it has
 * nothing left to do, so from then on it gets `drainMs` to end by itself before it is killed and the
 * test fails; its start-up, as slow as a loaded machine makes it, is bounded by the test's timeout.
 */
function runHost(args: string[], onReady?: (child: ChildProcess) => void, drainMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixturePath('runtime-lifecycle'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('ready\n')) onReady?.(child);
      if (stdout.includes('stopped\n') && timer === undefined) {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the host process did not exit by itself within ${drainMs} ms of its runtime stopping: something keeps it alive\n${stderr}`));
        }, drainMs);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('a host process after shutdown', () => {
  it('exits by itself once runtime.shutdown() has resolved', async () => {
    const exit = await runHost(['shutdown']);

    expect(exit).toMatchObject({ code: 0, signal: null, stdout: 'stopped\n' });
  });

  it('shuts down on SIGTERM when it asked for signal handling, then exits by itself', async () => {
    let signalled = false;
    const exit = await runHost(['signal'], (child) => {
      if (signalled) return;
      signalled = true;
      child.kill('SIGTERM');
    });

    expect(exit).toMatchObject({ code: 0, signal: null, stdout: 'ready\nstopped\n' });
  });
});
