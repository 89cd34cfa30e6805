import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import type { DcStarted } from '../src/cli/dc-command.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { LOOPBACK_API_HASH, LOOPBACK_API_ID } from '../src/runtime/loopback-accounts.js';
import { connectLiveClient } from '../src/telegram/live/live-client.js';
import { readSessionsFile } from '../src/telegram/loopback/issued-sessions.js';
import type { DcStatus } from '../src/telegram/loopback/dc-status.js';
import type { ChannelDigestResult } from '../tasks/channel-digest.js';
import { startRuntime } from './helpers/runtime.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

let dcProcess: ChildProcess | undefined;
let runtime: FleetRuntime | undefined;

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
  if (dcProcess?.exitCode === null) dcProcess.kill('SIGKILL');
  dcProcess = undefined;
});

/** Starts `tgfleet dc` and resolves with the line it prints once it listens. */
function startDc(args: string[]): Promise<DcStarted> {
  const child = spawn(process.execPath, [cli, 'dc', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  dcProcess = child;
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as DcStarted));
    child.once('exit', (code) => reject(new Error(`tgfleet dc exited with ${code} before it listened: ${stderr}`)));
  });
}

async function status(url: string): Promise<DcStatus> {
  return (await (await fetch(url)).json()) as DcStatus;
}

test('tgfleet dc serves another process that joins through its sessions file, and counts its double connections per account', async () => {
  const sessions = join(mkdtempSync(join(tmpdir(), 'tgfleet-dc-')), 'sessions.json');
  const started = await startDc(['--port', '0', '--seed', '9', '--accounts', '3', '--sessions', sessions, '--status-port', '0']);
  expect(started).toMatchObject({ host: '127.0.0.1', accounts: 3, sessions });
  const file = await readSessionsFile(sessions);
  expect(file).toMatchObject({ host: '127.0.0.1', port: started.port, world: { seed: 9 } });
  expect(file.accounts).toHaveLength(3);
  // The file holds auth keys: its owner alone may read it.
  expect(statSync(sessions).mode & 0o777).toBe(0o600);

  runtime = await startRuntime((config) => {
    config.telegram.mode = 'loopback';
    config.telegram.loopback.sessionsFile = sessions;
  });
  const [a, b] = runtime.accounts as [string, string];
  const peers = runtime.world!.channels.slice(0, 3).map((channel) => `@${channel.baseUsername}`);
  const result = await runtime.run<ChannelDigestResult>({ account: a, task: 'channel-digest', args: { peers, posts: 0 } });
  expect(result).toMatchObject({ resolved: 3, failed: [] });

  const afterRun = await status(started.status);
  expect(afterRun.counters.rpcCalls).toBeGreaterThanOrEqual(3);
  expect(afterRun.accounts[a]).toEqual({ open: 1, duplicateAuthKeys: 0, doubleConnections: 0 });
  expect(afterRun.accounts[b]).toEqual({ open: 0, duplicateAuthKeys: 0, doubleConnections: 0 });
  expect(afterRun.counters.duplicateAuthKeys).toBe(0);

  // A third process with a's session, while the runtime still holds a's connection: the data centre counts it against a.
  const session = file.accounts.find((account) => account.phone === a)!.session;
  const intruder = connectLiveClient(
    { phone: a, apiId: LOOPBACK_API_ID, apiHash: LOOPBACK_API_HASH, session },
    { dcAddress: { host: file.host, port: file.port }, callTimeoutMs: 5000, onBroken: () => {} },
  );
  await expect(intruder).rejects.toMatchObject({ name: 'AuthKeyDuplicatedError' });
  const afterIntruder = await status(started.status);
  expect(afterIntruder.accounts[a]!.duplicateAuthKeys).toBeGreaterThan(0);
  expect(afterIntruder.accounts[b]!.duplicateAuthKeys).toBe(0);

  await runtime.shutdown();
  runtime = undefined;
  const exited = new Promise<number | null>((resolve) => dcProcess!.once('exit', resolve));
  dcProcess!.kill('SIGTERM');
  expect(await exited).toBe(0);
});
