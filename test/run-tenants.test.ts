import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tgfleetCommand } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tgfleet-run-tenants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tgfleet = tgfleetCommand();

describe('tgfleet run --tenant', () => {
  const config = join(dir, 'tenants.yaml');
  writeFileSync(config, ['runtime: { workers: 2 }', 'telegram: { simulated: { accounts: 3 } }', 'workload: { tasks_per_account: 2 }', 'logging: { level: warn }'].join('\n'));

  it('runs the workload with the accounts grouped into tenants', async () => {
    const { code, stdout } = await tgfleet('run', '--config', config, '--json', '--no-progress', '--tenant', 'acme=+9996610001,+9996610002', '--tenant', 'globex=+9996610003');

    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ tasks: 6, done: 6, failed: 0, notRun: 0 });
  }, 90_000);

  it('exits 2 naming an account the fleet does not have, or a malformed flag', async () => {
    const unknown = await tgfleet('run', '--config', config, '--no-progress', '--tenant', 'acme=+15550001111');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('tenant acme lists account +15550001111, which this runtime does not serve');

    const malformed = await tgfleet('run', '--config', config, '--tenant', 'acme');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('expected name=phone[,phone...]');
  }, 90_000);
});
