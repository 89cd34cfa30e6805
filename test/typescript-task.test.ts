import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { TaskModuleError } from '../src/task-errors.js';
import { type CliOutcome, ROOT as root, tgfleetCommand } from './helpers/cli.js';
import { startRuntime } from './helpers/runtime.js';

// Inside the repository, so that the tasks' `import … from 'tgfleet'` resolves to the built package, as in a host.
mkdirSync(join(root, 'test', '.tmp'), { recursive: true });
const dir = mkdtempSync(join(root, 'test', '.tmp', 'ts-task-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Type annotations, an interface and `satisfies`: none of it is JavaScript, so the module runs only through a loader or Node's type stripping. */
const TYPED_TASK = `import { defineTask, type TaskContext } from 'tgfleet';

interface Args { label: string }
type Result = { label: string; me: string; account: TaskContext['account'] };

export default defineTask<Args, Result>(async ({ client, args, account }): Promise<Result> => {
  const me = await client.getMe();
  return { label: args.label satisfies string, me: me.id.toString(), account };
});
`;

const files = {
  typed: join(dir, 'typed.ts'),
  typedModule: join(dir, 'typed-module.mts'),
  noDefaultTs: join(dir, 'no-default.ts'),
  noDefaultJs: join(dir, 'no-default.mjs'),
  brokenTs: join(dir, 'broken.ts'),
  missingTs: join(dir, 'missing-task.ts'),
  missingJs: join(dir, 'missing-task.js'),
};
writeFileSync(files.typed, TYPED_TASK);
writeFileSync(files.typedModule, TYPED_TASK);
writeFileSync(files.noDefaultTs, 'export const task = async (): Promise<number> => 1;\n');
writeFileSync(files.noDefaultJs, 'export const task = async () => 1;\n');
writeFileSync(files.brokenTs, 'export default async function (: number {\n');

/** What a rejected task run carries, with the module's path taken out, so a .ts and a .js module's can be compared. */
async function refusal(runtime: FleetRuntime, account: string, task: string): Promise<{ name: string; message: string }> {
  const error = (await runtime.run({ account, task }).then(
    () => {
      throw new Error(`${task} ran`);
    },
    (failure: unknown) => failure,
  )) as Error;
  return { name: error.name, message: error.message.replaceAll(pathToFileURL(task).href, '<task>').replaceAll(task, '<task>') };
}

describe('a TypeScript task module on worker threads', () => {
  let runtime: FleetRuntime;
  beforeAll(async () => {
    runtime = await startRuntime();
  });
  afterAll(() => runtime?.shutdown());

  test('runs from its .ts and .mts paths, on the simulated Telegram, like a JavaScript one', async () => {
    const [first, second] = runtime.accounts as [string, string];
    const results = await Promise.all([runtime.run({ account: first, task: files.typed, args: { label: 'ts' } }), runtime.run({ account: second, task: files.typedModule, args: { label: 'mts' } })]);
    expect(results).toEqual([
      { label: 'ts', me: expect.stringMatching(/^\d+$/), account: first },
      { label: 'mts', me: expect.stringMatching(/^\d+$/), account: second },
    ]);
  });

  test('a missing .ts module and a .ts module without a default export fail as the JavaScript ones do', async () => {
    const [account] = runtime.accounts as [string];
    await expect(runtime.run({ account, task: files.missingTs })).rejects.toBeInstanceOf(TaskModuleError);
    expect(await refusal(runtime, account, files.missingTs)).toEqual(await refusal(runtime, account, files.missingJs));
    expect(await refusal(runtime, account, files.noDefaultTs)).toEqual(await refusal(runtime, account, files.noDefaultJs));
  });
});

describe('config check of a TypeScript task module', () => {
  const tgfleet = tgfleetCommand();
  function configCheck(task: string): Promise<CliOutcome> {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `workload:\n  task: ${JSON.stringify(task)}\n`);
    return tgfleet('config', 'check', file);
  }

  test('loads a good one and refuses the bad ones with the JavaScript messages', async () => {
    const good = await configCheck(files.typed);
    expect(good.code, good.stderr).toBe(0);
    const cases: [string, RegExp][] = [
      [files.missingTs, /workload\.task: task module .*missing-task\.ts not found/],
      [files.noDefaultTs, /workload\.task: task module .*no-default\.ts has no function as its default export/],
      [files.brokenTs, /workload\.task: task module .*broken\.ts cannot be loaded/],
    ];
    for (const [task, message] of cases) {
      const { code, stderr } = await configCheck(task);
      expect(code, stderr).toBe(2);
      expect(stderr).toMatch(message);
    }
    // Four `tgfleet` processes one after another, each loading the package and a task module.
  }, 120_000);
});
