import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturePath } from './helpers/fixtures.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'tgfleet-run-summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  stdout: string;
}

/**
 * Runs `tgfleet run` and sends it `signal` once `waiting` tasks have said on stderr that they are
 * waiting for their abort: by then two tasks have succeeded, two failed, and the rest are queued.
 */
function runUntilWaiting(config: string, waiting: number, signal: NodeJS.Signals): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'run', '--config', config, '--no-progress'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (!sent && (stderr.match(/^waiting w\d+$/gm) ?? []).length >= waiting) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => (sent ? resolve({ code, stdout }) : reject(new Error(`tgfleet run ended (exit ${code}) before ${waiting} tasks were waiting:\n${stderr}`))));
  });
}

describe('tgfleet run stopped by a signal', () => {
  const config = join(dir, 'mixed.yaml');
  writeFileSync(
    config,
    [
      'runtime: { workers: 1, shutdown_grace: 0 }',
      'telegram: { simulated: { accounts: 2 } }',
      `workload: { tasks_per_account: 5, task: ${JSON.stringify(fixturePath('mixed-outcomes'))} }`,
      'logging: { level: warn }',
    ].join('\n'),
  );

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    'after %s, counts tasks done, failed and not run apart, and prints each distinct failure with its Telegram fields',
    async (signal, exitCode) => {
      const { code, stdout } = await runUntilWaiting(config, 2, signal);

      expect(code).toBe(exitCode);
      // Each account runs one task at a time: w0-w3 ended, w4 and w5 were waiting, w6-w9 still queued.
      expect(stdout).toMatch(/^tasks +10 \(4 done, 2 failed, 4 not run\)$/m);
      expect(stdout).toMatch(/^failed with +message +Telegram +tasks$/m);
      expect(stdout).toMatch(/^RPCError +400: CHANNEL_PRIVATE \(caused by channels\.GetFullChannel\) +code 400, CHANNEL_PRIVATE +2$/m);
      // A whole CLI process with its workers: slow to start on a loaded machine, so the bound is generous.
    },
    90_000,
  );
});
