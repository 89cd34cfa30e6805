/**
 * Telegram's per-account flood control for one method: a budget of calls per simulated minute,
 * and once it is exceeded a FLOOD_WAIT that grows with each repeated violation. Calls made while a
 * wait is active are refused with the seconds that remain, as Telegram does, and do not spend the
 * budget.
 */

export interface FloodLimiterOptions {
  /** Calls allowed per account in any sliding simulated minute. */
  limitPerMinute: number;
  /** The first wait, in seconds; each further violation doubles it. Default 5. */
  baseWaitSeconds?: number;
  /** The longest wait, in seconds. Default 3600. */
  maxWaitSeconds?: number;
  /** A violation is forgotten after this long without another one, in simulated ms. Default 1 h. */
  forgiveAfterMs?: number;
}

interface AccountFloodState {
  /** Simulated times of accepted calls within the last minute, oldest first. */
  recent: number[];
  waitUntil: number;
  violations: number;
  lastViolationAt: number;
}

const WINDOW_MS = 60_000;

export class FloodLimiter {
  private readonly limit: number;
  private readonly baseWaitSeconds: number;
  private readonly maxWaitSeconds: number;
  private readonly forgiveAfterMs: number;
  private readonly accounts = new Map<string, AccountFloodState>();

  constructor(options: FloodLimiterOptions) {
    this.limit = options.limitPerMinute;
    this.baseWaitSeconds = options.baseWaitSeconds ?? 5;
    this.maxWaitSeconds = options.maxWaitSeconds ?? 3600;
    this.forgiveAfterMs = options.forgiveAfterMs ?? 60 * WINDOW_MS;
  }

  /** Spends one call of the account's budget, or returns the seconds it must wait instead. */
  acquire(account: string, now: number): { ok: true } | { ok: false; waitSeconds: number } {
    const state = this.stateOf(account);
    if (now < state.waitUntil) {
      return { ok: false, waitSeconds: Math.ceil((state.waitUntil - now) / 1000) };
    }
    const windowStart = now - WINDOW_MS;
    while ((state.recent[0] ?? Number.POSITIVE_INFINITY) <= windowStart) state.recent.shift();
    if (state.recent.length < this.limit) {
      state.recent.push(now);
      return { ok: true };
    }
    if (now - state.lastViolationAt > this.forgiveAfterMs) state.violations = 0;
    state.violations += 1;
    state.lastViolationAt = now;
    const waitSeconds = Math.min(this.maxWaitSeconds, this.baseWaitSeconds * 2 ** (state.violations - 1));
    state.waitUntil = now + waitSeconds * 1000;
    return { ok: false, waitSeconds };
  }

  private stateOf(account: string): AccountFloodState {
    let state = this.accounts.get(account);
    if (state === undefined) {
      state = { recent: [], waitUntil: 0, violations: 0, lastViolationAt: Number.NEGATIVE_INFINITY };
      this.accounts.set(account, state);
    }
    return state;
  }
}
