import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FleetConfig } from '../src/config/config.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import { connectLiveClient } from '../src/telegram/live/live-client.js';
import { LOOPBACK_API_HASH, LOOPBACK_API_ID } from '../src/runtime/loopback-accounts.js';
import type { RevocationReason } from '../src/telegram/loopback/dc-faults.js';
import type { LoopbackDc } from '../src/telegram/loopback/loopback-dc.js';
import type { ChannelDigestResult } from '../tasks/channel-digest.js';
import { startRuntime } from './helpers/runtime.js';

/**
 * What the runtime does when the loopback data centre misbehaves: for each fault, the task it hits
 * settles with a result or a clear error, and the accounts it does not hit go on.
 */

let runtime: FleetRuntime | undefined;

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
});

/** Long enough for a reconnect within one call: GramJS waits 1 s, the pacer up to 1 s more. */
const CALL_TIMEOUT_MS = 5000;
/** Where a test waits out the call timeout on purpose. */
const SHORT_CALL_TIMEOUT_MS = 1000;

async function startLoopbackRuntime(edit?: (config: FleetConfig) => void): Promise<{ runtime: FleetRuntime; dc: LoopbackDc; accounts: readonly string[] }> {
  runtime = await startRuntime((config) => {
    config.telegram.mode = 'loopback';
    config.telegram.simulated.accounts = 3;
    config.telegram.callTimeoutMs = CALL_TIMEOUT_MS;
    edit?.(config);
  });
  return { runtime, dc: runtime.dataCentre!, accounts: runtime.accounts };
}

/** Resolves a few channels of the world as `account` (no posts: one call per peer). */
function digest(on: FleetRuntime, account: string, offset = 0, peers = 3): Promise<ChannelDigestResult> {
  const names = on.world!.channels.slice(offset, offset + peers).map((channel) => `@${channel.baseUsername}`);
  return on.run<ChannelDigestResult>({ account, task: 'channel-digest', args: { peers: names, posts: 0 } });
}

function expectComplete(result: ChannelDigestResult, peers = 3): void {
  expect(result.failed).toEqual([]);
  expect(result.resolved).toBe(peers);
}

describe('the runtime on a faulty loopback data centre', () => {
  it('reconnects a connection dropped after N messages and retries the call', async () => {
    const { runtime, dc, accounts } = await startLoopbackRuntime((config) => {
      config.telegram.loopback.faults.dropAfterMessages = 4;
    });
    const [a, b] = accounts as [string, string];
    const results = await Promise.all([digest(runtime, a, 0, 6), digest(runtime, b, 10, 6)]);
    for (const result of results) expectComplete(result, 6);
    expect(dc.counters.drops).toBeGreaterThan(0);
    expect(dc.counters.connections).toBeGreaterThan(2);
    expect(dc.counters.duplicateAuthKeys).toBe(0);
  });

  it('reconnects connections dropped at random and retries the calls', async () => {
    const { runtime, dc, accounts } = await startLoopbackRuntime((config) => {
      config.telegram.loopback.faults.dropProbability = 0.1;
    });
    const results = await Promise.all(accounts.map((account, index) => digest(runtime, account, index * 10)));
    for (const result of results) expectComplete(result);
    expect(dc.counters.drops).toBeGreaterThan(0);
    expect(dc.counters.duplicateAuthKeys).toBe(0);
  });

  it('waits for replies slower than usual, and fails a call whose reply comes after the call timeout', async () => {
    const { runtime, dc, accounts } = await startLoopbackRuntime((config) => {
      config.telegram.loopback.faults.replyDelayMs = 100;
      config.telegram.callTimeoutMs = SHORT_CALL_TIMEOUT_MS;
    });
    const [a, b] = accounts as [string, string];
    expectComplete(await digest(runtime, a));
    dc.faults.replyDelayMs = SHORT_CALL_TIMEOUT_MS * 2;
    await expect(digest(runtime, a, 10)).rejects.toMatchObject({ name: 'TelegramCallTimeoutError' });
    dc.faults.replyDelayMs = 0;
    expectComplete(await digest(runtime, b));
    expectComplete(await digest(runtime, a, 20));
  });

  it("fails a stalled account's call within the call timeout while the other accounts go on", async () => {
    const { runtime, dc, accounts } = await startLoopbackRuntime((config) => {
      config.telegram.callTimeoutMs = SHORT_CALL_TIMEOUT_MS;
    });
    const [a, b] = accounts as [string, string];
    expectComplete(await digest(runtime, a));
    dc.faults.stall(a);
    const stalled = digest(runtime, a, 10);
    expectComplete(await digest(runtime, b));
    await expect(stalled).rejects.toMatchObject({ name: 'TelegramCallTimeoutError', message: expect.stringContaining('telegram.call_timeout') });
    dc.faults.stall(a, false);
    expectComplete(await digest(runtime, a, 20));
  });

  it('brings every account back after the data centre restarts', async () => {
    const { runtime, dc, accounts } = await startLoopbackRuntime();
    for (const result of await Promise.all(accounts.map((account, index) => digest(runtime, account, index * 10)))) expectComplete(result);
    const connectionsBefore = dc.counters.connections;
    const badSaltsBefore = dc.counters.badSalts;
    await dc.restart();
    for (const result of await Promise.all(accounts.map((account, index) => digest(runtime, account, 100 + index * 10)))) expectComplete(result);
    // Each account dialled again, and learnt the restarted data centre's new salt.
    expect(dc.counters.connections - connectionsBefore).toBeGreaterThanOrEqual(accounts.length);
    expect(dc.counters.badSalts - badSaltsBefore).toBeGreaterThanOrEqual(accounts.length);
    expect(dc.counters.duplicateAuthKeys).toBe(0);
  });

  const reasons: RevocationReason[] = ['SESSION_REVOKED', 'AUTH_KEY_UNREGISTERED'];
  for (const reason of reasons) {
    it(`takes an account answered ${reason} out of rotation with a clear error, and the fleet goes on`, async () => {
      const { runtime, dc, accounts } = await startLoopbackRuntime();
      const [a, b] = accounts as [string, string];
      expectComplete(await digest(runtime, a));
      dc.faults.revoke(a, reason);
      await expect(digest(runtime, a, 10)).rejects.toMatchObject({ name: 'SessionRevokedError', errorMessage: reason, message: expect.stringContaining('out of rotation') });
      expect(runtime.revokedAccounts).toEqual(new Map([[a, reason]]));
      const callsBefore = dc.counters.rpcCalls;
      // Later tasks of the account fail at once, without asking the data centre again.
      await expect(digest(runtime, a, 20)).rejects.toMatchObject({ name: 'SessionRevokedError', errorMessage: reason });
      expect(dc.counters.rpcCalls).toBe(callsBefore);
      expectComplete(await digest(runtime, b));
    });
  }

  it('answers AUTH_KEY_DUPLICATED, and counts it, when a second connection uses an account’s auth key at once', async () => {
    const { runtime, dc, accounts } = await startLoopbackRuntime();
    const [a, b] = accounts as [string, string];
    expectComplete(await digest(runtime, a));
    expect(dc.counters.duplicateAuthKeys).toBe(0);
    // Another process with the same session, while the runtime's worker still holds its connection.
    const [issued] = await dc.provision([a]);
    const intruder = connectLiveClient(
      { phone: a, apiId: LOOPBACK_API_ID, apiHash: LOOPBACK_API_HASH, session: issued!.session },
      { dcAddress: dc.address, callTimeoutMs: CALL_TIMEOUT_MS, onBroken: () => {} },
    );
    // Its first call (initConnection, on connect) is refused, and it gives its connection up.
    await expect(intruder).rejects.toMatchObject({ name: 'AuthKeyDuplicatedError', errorMessage: 'AUTH_KEY_DUPLICATED' });
    expect(dc.counters.duplicateAuthKeys).toBeGreaterThan(0);
    await vi.waitFor(() => expect(dc.openConnectionsOf(a)).toBe(1));
    // The account's own tasks go on once the other user of its key has let go, and so do the others'.
    expectComplete(await digest(runtime, a, 10));
    expectComplete(await digest(runtime, b));
  });
});
