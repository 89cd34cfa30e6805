import { afterEach, describe, expect, it, vi } from 'vitest';
import { FloodControl, isAccountFloodWait } from '../src/runtime/flood-control.js';

describe('resolve permits', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds a permit whose wait ended inside a cooldown that began while it waited', async () => {
    vi.useFakeTimers();
    // One resolve every 10 real ms.
    const flood = new FloodControl({ timeScale: 0.01, resolvesPerMinute: 60 });
    await flood.acquireResolvePermit('a');
    let granted = false;
    const second = flood.acquireResolvePermit('a').then(() => {
      granted = true;
    });
    await vi.advanceTimersByTimeAsync(5);
    flood.coolDown('a', 2, 'contacts.ResolveUsername');

    await vi.advanceTimersByTimeAsync(5);
    expect(granted).toBe(false);
    await vi.advanceTimersByTimeAsync(15);
    expect(granted).toBe(true);
    await second;
  });

  it('gives a cancelled wait’s slot to the next in line', async () => {
    vi.useFakeTimers();
    const flood = new FloodControl({ timeScale: 0.01, resolvesPerMinute: 60 });
    await flood.acquireResolvePermit('a');
    const cancel = new AbortController();
    const cancelled = flood.acquireResolvePermit('a', cancel.signal).catch((error: unknown) => error);
    let granted = false;
    const next = flood.acquireResolvePermit('a').then(() => {
      granted = true;
    });

    cancel.abort();
    expect(await cancelled).toMatchObject({ name: 'AbortError' });
    await vi.advanceTimersByTimeAsync(10);
    expect(granted).toBe(true);
    await next;
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('which 420 errors cool the account down', () => {
  it('tells SLOWMODE_WAIT (one chat) apart from FLOOD_WAIT (the account)', () => {
    expect(isAccountFloodWait({ name: 'FloodWaitError', message: 'A wait of 30 seconds is required', code: 420, errorMessage: 'FLOOD', seconds: 30 })).toBe(true);
    expect(isAccountFloodWait({ name: 'RPCError', message: '420: FLOOD_WAIT_30', code: 420, errorMessage: 'FLOOD_WAIT_30', seconds: 30 })).toBe(true);
    expect(isAccountFloodWait({ name: 'RPCError', message: '420: FLOOD_PREMIUM_WAIT_5', errorMessage: 'FLOOD_PREMIUM_WAIT_5', seconds: 5 })).toBe(true);
    expect(isAccountFloodWait({ name: 'SlowModeWaitError', message: 'A wait of 30 seconds is required', code: 420, errorMessage: 'SLOWMODE_WAIT', seconds: 30 })).toBe(false);
    expect(isAccountFloodWait({ name: 'RPCError', message: '420: SLOWMODE_WAIT_30', code: 420, errorMessage: 'SLOWMODE_WAIT_30', seconds: 30 })).toBe(false);
  });
});
