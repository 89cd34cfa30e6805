import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import type { ReturnedKind } from './fixtures/returns-value.js';
import { fixturePath } from './helpers/fixtures.js';
import { startRuntime } from './helpers/runtime.js';

/*
 * A plain result travels in Piscina's reply and anything else on the worker's link; a value that
 * cannot cross threads must fail its own task only, never the worker that other tasks share.
 */
describe('what a task returns', () => {
  let runtime: FleetRuntime;
  let account: string;
  const run = (kind: ReturnedKind): Promise<unknown> => runtime.run({ account, task: fixturePath('returns-value'), args: { kind } });

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.runtime.workers = 1;
    });
    account = runtime.accounts[0] as string;
  });
  afterAll(() => runtime?.shutdown());

  it('arrives intact when it is plain data, small or large', async () => {
    await expect(run('plain')).resolves.toEqual({ text: 'ok', count: 3, nothing: null, list: [1, 'two', [3]], bytes: new Uint8Array([1, 2, 3]), when: new Date(0), big: 10n });
    const large = (await run('large')) as { index: number }[];
    expect(large).toHaveLength(5000);
    expect(large[4999]).toEqual({ index: 4999 });
  });

  it.each(['function', 'proxy', 'nested-function', 'symbol'] as const)('fails its own task when it is a %s, and the worker lives on', async (kind) => {
    const thread = await run('thread');

    await expect(run(kind)).rejects.toMatchObject({ name: 'TypeError', message: expect.stringContaining('must be plain data that can cross threads') });
    await expect(run('thread')).resolves.toBe(thread);
  });
});
