import { Api, errors } from 'telegram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeError } from '../src/channel/remote-error.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { isAccountFloodWait } from '../src/runtime/flood-control.js';
import { floodWaitSeconds } from '../src/telegram/rpc-errors.js';
import type { GramjsErrorArgs } from './fixtures/throws-gramjs-error.js';
import { fixturePath } from './helpers/fixtures.js';
import { accountPicker, recordEvents, startRuntime } from './helpers/runtime.js';

/*
 * GramJS makes a SlowModeWaitError (a wait in one chat) and a FloodWaitError (a wait for the whole
 * account) alike: both are FloodErrors with errorMessage "FLOOD" and a `seconds`. Only the second
 * may cool the account down; these are the errors GramJS really makes, not look-alikes.
 */

const gramjsError = (errorMessage: string): Error =>
  errors.RPCMessageToError(new Api.RpcError({ errorCode: 420, errorMessage }), new Api.messages.SendMessage({ peer: 'me', message: 'hello' })) as Error;

describe('SLOWMODE_WAIT against FLOOD_WAIT, as GramJS raises them', () => {
  it('is no flood wait for the cached client, which would report it to the runtime', () => {
    expect(floodWaitSeconds(gramjsError('SLOWMODE_WAIT_30'))).toBeUndefined();
    expect(floodWaitSeconds(gramjsError('FLOOD_WAIT_30'))).toBe(30);
  });

  it('is no account flood wait once the error crossed threads', () => {
    expect(isAccountFloodWait(serializeError(gramjsError('SLOWMODE_WAIT_30')))).toBe(false);
    expect(isAccountFloodWait(serializeError(gramjsError('FLOOD_WAIT_30')))).toBe(true);
  });
});

describe('a task that ends in a 420', () => {
  let runtime: FleetRuntime;
  const takeAccount = accountPicker(() => runtime);
  const run = (account: string, errorMessage: string): Promise<unknown> =>
    runtime.run<never, GramjsErrorArgs>({ account, task: fixturePath('throws-gramjs-error'), args: { code: 420, errorMessage } });

  beforeAll(async () => {
    runtime = await startRuntime((config) => {
      config.flood.retries = 2;
    });
  });
  afterAll(() => runtime?.shutdown());

  it('leaves its account running after a SLOWMODE_WAIT, and is not run again', async () => {
    const account = takeAccount();
    const retries = recordEvents(runtime.reporter, 'task:retry');
    const cooldowns = recordEvents(runtime.reporter, 'flood:cooldown');

    await expect(run(account, 'SLOWMODE_WAIT_30')).rejects.toMatchObject({ name: 'SlowModeWaitError', seconds: 30 });

    expect(runtime.flood.remaining(account)).toBe(0);
    expect(cooldowns).toEqual([]);
    expect(retries).toEqual([]);
  });

  it('cools its account down after a FLOOD_WAIT', async () => {
    const account = takeAccount();
    const cooldowns = recordEvents(runtime.reporter, 'flood:cooldown');
    const failed = run(account, 'FLOOD_WAIT_30').catch((error: unknown) => error);

    await expect(failed).resolves.toMatchObject({ name: 'FloodWaitError' });
    expect(cooldowns.map((event) => event.account)).toContain(account);
  });
});
