import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseConfig } from '../src/config/config.js';
import { tgfleetCommand } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tgfleet-bounds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// In a folder of its own: no config.yaml there for `run` to fall back on.
const tgfleet = tgfleetCommand({ cwd: dir });

let files = 0;
function configFile(text: string): string {
  const path = join(dir, `config-${++files}.yaml`);
  writeFileSync(path, text);
  return path;
}

const API_HASH = '0123456789abcdef0123456789abcdef';

/** [what, YAML, key, given value as quoted back, allowed range as written in the message] */
const outOfRange: [string, string, string, string, string][] = [
  ['a task timeout past the longest timer', 'runtime:\n  task_timeout: 3000000\n', 'runtime.task_timeout', '3000000', 'a number from 0 to 2147483 s'],
  ['a lease timeout of 1e12 seconds', 'cache:\n  lease_timeout: 1e12\n', 'cache.lease_timeout', '1000000000000', 'a number more than 0 and at most 2147483 s'],
  ['a cleanup interval past the longest timer', 'cache:\n  process:\n    cleanup_interval: 2147484\n', 'cache.process.cleanup_interval', '2147484', 'a number more than 0 and at most 2147483 s'],
  ['a shutdown grace past the longest timer', 'runtime:\n  shutdown_grace: 1e9\n', 'runtime.shutdown_grace', '1000000000', 'a number from 0 to 2147483 s'],
  ['100000 workers', 'runtime:\n  workers: 100000\n', 'runtime.workers', '100000', 'a whole number from 0 to 256'],
  ['a 1 MiB worker heap', 'runtime:\n  max_worker_memory_mb: 1\n', 'runtime.max_worker_memory_mb', '1', 'a whole number from 32 to 65536 MiB'],
  ['a negative queue', 'runtime:\n  max_queue: -5\n', 'runtime.max_queue', '-5', 'a whole number from 1 to 10000000'],
  ['a TTL of ten years', 'cache:\n  ttl:\n    entity: 315360000\n', 'cache.ttl.entity', '315360000', 'a number from 0 to 31536000 s'],
  ['a seed past 32 bits', 'workload:\n  seed: 4294967296\n', 'workload.seed', '4294967296', 'a whole number from 0 to 4294967295'],
  ['a fractional worker count', 'runtime:\n  workers: 1.5\n', 'runtime.workers', '1.5', 'a whole number from 0 to 256'],
];

describe('every number has a range the loader enforces', () => {
  test.each(outOfRange)('%s is refused, naming the key, the value and the range', (_, text, key, given, allowed) => {
    let error: unknown;
    try {
      parseConfig(parseYaml(text));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const line = (error as ConfigError).message.split('\n').find((l) => l.includes(`${key}:`));
    expect(line, (error as ConfigError).message).toBeDefined();
    expect(line).toContain(`allowed: ${allowed}`);
    expect(line).toContain(`(given: ${given})`);
  });

  it('takes the largest timer that still works as written', () => {
    expect(parseConfig({ runtime: { task_timeout: 2_147_483 } }).config.runtime.taskTimeoutMs).toBe(2_147_483_000);
  });
});

describe('config check and run refuse the same bad file with exit 2', () => {
  test.each(outOfRange)('%s', async (_, text, key, given, allowed) => {
    const file = configFile(text);
    for (const command of [
      ['config', 'check', file],
      ['run', '--config', file, '--no-progress'],
    ]) {
      const { code, stderr } = await tgfleet(...command);
      expect(code, `${command.join(' ')}: ${stderr}`).toBe(2);
      expect(stderr).toContain(`${key}: `);
      expect(stderr).toContain(`allowed: ${allowed} (given: ${given})`);
    }
  });

  const cases: [string, string, RegExp][] = [
    ['a task module that does not exist', `workload:\n  task: ${JSON.stringify(join(dir, 'missing-task.js'))}\n`, /workload\.task: task module .*missing-task\.js not found/],
    [
      'a task module without a default export',
      `workload:\n  task: ${JSON.stringify(join(dir, 'no-default.mjs'))}\n`,
      /workload\.task: task module .*no-default\.mjs has no function as its default export/,
    ],
    ['a task module that does not load', `workload:\n  task: ${JSON.stringify(join(dir, 'broken.mjs'))}\n`, /workload\.task: task module .*broken\.mjs cannot be loaded/],
  ];
  writeFileSync(join(dir, 'no-default.mjs'), 'export const task = async () => 1;\n');
  writeFileSync(join(dir, 'broken.mjs'), 'export default async function (\n');

  test.each(cases)('%s', async (_, text, message) => {
    const file = configFile(text);
    for (const command of [
      ['config', 'check', file],
      ['run', '--config', file, '--no-progress'],
    ]) {
      const { code, stderr } = await tgfleet(...command);
      expect(code, `${command.join(' ')}: ${stderr}`).toBe(2);
      expect(stderr).toMatch(message);
    }
  });
});

describe('secrets written inline', () => {
  const account = (hash: string): string => `accounts:\n  - phone: "+15550001111"\n    api_id: 12345\n    api_hash: "${hash}"\n    session_env: TG_SESSION_1\n`;

  it('a valid inline api_hash passes with a warning that names the key and not the value', async () => {
    const { code, stdout, stderr } = await tgfleet('config', 'check', configFile(account(API_HASH)));
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/^warning: accounts\[0\]\.api_hash is written inline in .*: anyone who can read the file can use the application; prefer api_hash_env$/m);
    expect(`${stdout}${stderr}`).not.toContain(API_HASH);
  });

  it('a refused file quotes no secret back', async () => {
    const upper = API_HASH.toUpperCase();
    const file = configFile(`${account(upper)}runtime:\n  workers: 100000\n`);
    for (const command of [
      ['config', 'check', file],
      ['run', '--config', file],
    ]) {
      const { code, stdout, stderr } = await tgfleet(...command);
      expect(code).toBe(2);
      expect(`${stdout}${stderr}`).not.toContain(upper);
      expect(`${stdout}${stderr}`.toLowerCase()).not.toContain(API_HASH);
    }
  });
});
