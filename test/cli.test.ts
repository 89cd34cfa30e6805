import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tgfleetCommand } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tgfleet-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tgfleet = tgfleetCommand();

function configFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('tgfleet', () => {
  const metricsFile = join(dir, 'metrics.sqlite');
  const small = configFile(
    'small.yaml',
    [
      'cache: { scope: process }',
      'runtime: { workers: 2 }',
      'telegram: { simulated: { accounts: 3 } }',
      'workload: { tasks_per_account: 4, public_peers: 60, private_peers_per_account: 5 }',
      'logging: { level: warn }',
      `metrics: { sqlite: ${JSON.stringify(metricsFile)} }`,
    ].join('\n'),
  );

  it('runs the workload, prints the summary as JSON and writes the metrics file', async () => {
    const { code, stdout } = await tgfleet('run', '--config', small, '--json', '--no-progress');

    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as { tasks: number; failed: number; lookups: number; totalCalls: number; foreignHashRejections: number };
    expect(summary).toMatchObject({ tasks: 12, failed: 0, lookups: 12 * 8, foreignHashRejections: 0 });
    expect(summary.totalCalls).toBeGreaterThan(0);

    const metrics = await tgfleet('metrics', '--file', metricsFile, '--by', 'account');
    expect(metrics.code).toBe(0);
    // One row per account: 4 tasks, no errors, 4 × 8 lookups.
    expect(metrics.stdout.match(/^\+99966\d+ +4 +0 +32 /gm)).toHaveLength(3);
  });

  it('prints a summary table people can read', async () => {
    const { code, stdout } = await tgfleet('run', '--config', small, '--no-progress', '--tasks-per-account', '2');

    expect(code).toBe(0);
    expect(stdout).toMatch(/tgfleet run: channel-digest on simulated Telegram, process scope/);
    expect(stdout).toMatch(/^tasks +6 \(0 failed\)$/m);
    expect(stdout).toMatch(/^contacts\.ResolveUsername +\d+ +[\d.]+$/m);
    expect(stdout).toMatch(/^peak memory \(RSS\) +\d+ MiB$/m);
    expect(stdout).toMatch(/^memory per account +-?[\d.]+ KiB \(peak RSS growth during the run \/ accounts\)$/m);
  });

  it('validates a config file, naming each bad key with its value and what is allowed', async () => {
    const good = await tgfleet('config', 'check', small);
    expect(good).toMatchObject({ code: 0 });
    expect(good.stdout).toContain('valid (scope process, simulated Telegram, 2 workers)');

    const bad = await tgfleet('config', 'check', configFile('bad.yaml', 'cache:\n  scope: global\nruntime:\n  wokers: 3\n'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('cache.scope: Invalid option: expected one of "task"|"process" (given: "global")');
    expect(bad.stderr).toContain('unknown key runtime.wokers (did you mean runtime.workers?)');
  });

  it('exits 2 for a wrong command line or an unreadable config, with one clear line', async () => {
    expect((await tgfleet('frobnicate')).code).toBe(2);
    const missing = await tgfleet('run', '--config', join(dir, 'missing.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^tgfleet: cannot read config file .*missing\.yaml/m);
  });

  it('says what to do when there is no metrics file yet, with exit 2 like any other file named wrongly', async () => {
    const { code, stderr } = await tgfleet('metrics', '--file', join(dir, 'none.sqlite'));
    expect(code).toBe(2);
    expect(stderr).toContain('no metrics file at');
  });
});
