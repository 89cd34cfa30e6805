import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import type { JobResult } from '../src/workload/fleet-job.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const folder = mkdtempSync(join(tmpdir(), 'tgfleet-restart-'));

afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** `npm start`'s command, in `folder` with the shipped config: the first round only (each account's first task). */
function firstRound(): Promise<JobResult> {
  const { TGFLEET_CONFIG: _ignored, ...env } = process.env;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, 'run', '--no-progress', '--json', '--tasks-per-account', '1'], { cwd: folder, env, timeout: 90_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`tgfleet run failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as JobResult);
    });
  });
}

test('the second run in the same folder, with the shipped SQLite store, makes at least 80% fewer ResolveUsername calls in its first round', async () => {
  copyFileSync(join(root, 'config.yaml'), join(folder, 'config.yaml'));

  const cold = await firstRound();
  // The shipped config keeps the store in the working folder, readable by its owner only.
  expect((statSync(join(folder, 'tgfleet-cache.sqlite')).mode & 0o777).toString(8)).toBe('600');
  const warm = await firstRound();

  expect(cold.failed).toBe(0);
  expect(warm.failed).toBe(0);
  const resolves = (result: JobResult): number => result.calls['contacts.ResolveUsername'] ?? 0;
  expect(resolves(cold)).toBeGreaterThan(0);
  expect(resolves(warm)).toBeLessThanOrEqual(resolves(cold) * 0.2);
  expect(warm.hitRate).toBeGreaterThan(cold.hitRate);
}, 200_000);
