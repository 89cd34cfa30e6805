import { afterEach, describe, expect, it } from 'vitest';
import { faultsWithFlags } from '../src/cli/dc-command.js';
import { type LoopbackFaultsConfig, parseConfig } from '../src/config/config.js';
import { simulatedPhones } from '../src/runtime/accounts.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import type { ChannelDigestResult } from '../tasks/channel-digest.js';
import { startRuntime } from './helpers/runtime.js';
import { until } from './helpers/until.js';

/**
 * Every fault of the loopback data centre can be set before it starts, from
 * `telegram.loopback.faults` or from `tgfleet dc`'s flags, not only by a test while it runs.
 */

let runtime: FleetRuntime | undefined;

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
});

const [stalled, revoked, unregistered, healthy] = simulatedPhones(4) as [string, string, string, string];

function faultsOf(faults: Record<string, unknown>): LoopbackFaultsConfig {
  return parseConfig({ telegram: { loopback: { faults } } }, 'test').config.telegram.loopback.faults;
}

async function loopbackWith(faults: LoopbackFaultsConfig, callTimeoutMs = 1000): Promise<FleetRuntime> {
  runtime = await startRuntime((config) => {
    config.telegram.mode = 'loopback';
    config.telegram.simulated.accounts = 4;
    config.telegram.callTimeoutMs = callTimeoutMs;
    config.telegram.loopback.faults = faults;
  });
  return runtime;
}

function digest(on: FleetRuntime, account: string, offset = 0): Promise<ChannelDigestResult> {
  const names = on.world!.channels.slice(offset, offset + 2).map((channel) => `@${channel.baseUsername}`);
  return on.run<ChannelDigestResult>({ account, task: 'channel-digest', args: { peers: names, posts: 0 } });
}

describe('loopback faults from config', () => {
  it('stalls, revokes and unregisters the accounts the config names, and the others go on', async () => {
    const on = await loopbackWith(faultsOf({ stalled_accounts: [stalled], revoked_accounts: [revoked], unregistered_accounts: [unregistered.slice(1)] }));
    const results = await Promise.allSettled([digest(on, stalled), digest(on, revoked), digest(on, unregistered), digest(on, healthy)]);
    // Stalled from the start, its very first call (initConnection, on connect) goes unanswered.
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { name: 'TelegramUnreachableError', message: expect.stringContaining('telegram.call_timeout') } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { name: 'SessionRevokedError', errorMessage: 'SESSION_REVOKED' } });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { name: 'SessionRevokedError', errorMessage: 'AUTH_KEY_UNREGISTERED' } });
    expect(results[3]).toMatchObject({ status: 'fulfilled', value: { resolved: 2, failed: [] } });
    expect(on.dataCentre!.counters.duplicateAuthKeys).toBe(0);
  });

  it('restarts the data centre as often as restart_every says, and the accounts come back each time', async () => {
    // Long enough apart for a reconnect (GramJS waits 1 s, the pacer up to 1 s more) to finish a call between two.
    const on = await loopbackWith(faultsOf({ restart_every: 3 }), 5000);
    const dc = on.dataCentre!;
    for (let round = 0; round < 2; round++) {
      const restarts = dc.counters.restarts;
      await until(() => dc.counters.restarts > restarts);
      expect(await digest(on, healthy, round * 10)).toMatchObject({ resolved: 2, failed: [] });
    }
    expect(dc.counters.duplicateAuthKeys).toBe(0);
  });

  it('refuses an account that is both revoked and unregistered', () => {
    expect(() => faultsOf({ revoked_accounts: [healthy], unregistered_accounts: [healthy] })).toThrow(/either revoked \(SESSION_REVOKED\) or unregistered/);
  });
});

describe("tgfleet dc's fault flags", () => {
  const base = faultsOf({ drop_probability: 0.5, stalled_accounts: [stalled] });

  it('replace the keys they name, with the config’s ranges, and leave the others', () => {
    const faults = faultsWithFlags(base, { dropAfter: '5', replyDelay: '250', revoke: [revoked], unregister: [unregistered], restartEvery: '30' });
    expect(faults).toEqual({
      dropAfterMessages: 5,
      dropProbability: 0.5,
      replyDelayMs: 250,
      stalledAccounts: [stalled],
      revokedAccounts: { [revoked]: 'SESSION_REVOKED', [unregistered]: 'AUTH_KEY_UNREGISTERED' },
      restartEveryMs: 30_000,
    });
    expect(faultsWithFlags(base, {})).toEqual(base);
  });

  it('name the key and its range when a value is out of it', () => {
    expect(() => faultsWithFlags(base, { dropProbability: '2' })).toThrow(/drop_probability/);
    expect(() => faultsWithFlags(base, { restartEvery: 'soon' })).toThrow(/restart_every/);
    expect(() => faultsWithFlags(base, { stall: ['not-a-phone'] })).toThrow(/stalled_accounts.*phone number/s);
  });
});
