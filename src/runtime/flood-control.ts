import type { SerializedError } from '../channel/remote-error.js';
import type { Reporter } from './reporter.js';

/**
 * A wait that Telegram imposes on the whole account. Other 420 errors (SLOWMODE_WAIT) concern one
 * chat: they must neither cool the account down nor re-run a task that may already have sent.
 */
export function isAccountFloodWait(error: SerializedError): error is SerializedError & { seconds: number } {
  const flood = error.name === 'FloodWaitError' || /^FLOOD_(PREMIUM_)?WAIT/.test(error.errorMessage ?? '');
  return flood && typeof error.seconds === 'number';
}

export interface FloodControlOptions {
  /** Real seconds per Telegram second: 1 live, the simulator's time scale when simulated. */
  timeScale: number;
  /** The runtime's own cap on username resolves per account per Telegram minute; 0 for none. */
  resolvesPerMinute: number;
  reporter?: Reporter;
  /** Told when an account's cooldown changes, so queued tasks can be held or released. */
  onCooldownChange?: (account: string) => void;
  clock?: () => number;
}

/** A timer that an abort clears, rejecting with the abort's reason. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Flood waits are per account: when Telegram tells one account to wait, only that account's tasks
 * stop. The optional resolve cap spaces an account's username resolves so the limit is not hit.
 */
export class FloodControl {
  private readonly cooldownUntil = new Map<string, number>();
  /** When each account may make its next resolve under the runtime's own cap. */
  private readonly nextResolveAt = new Map<string, number>();
  private readonly clock: () => number;

  constructor(private readonly options: FloodControlOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Records a FLOOD_WAIT of `seconds` Telegram seconds for an account. */
  coolDown(account: string, seconds: number, method: string): void {
    const cooldownMs = Math.max(0, seconds) * 1000 * this.options.timeScale;
    const until = this.clock() + cooldownMs;
    if (until <= (this.cooldownUntil.get(account) ?? 0)) return;
    this.cooldownUntil.set(account, until);
    this.options.reporter?.emit('flood:cooldown', { account, seconds, method, cooldownMs });
    this.options.onCooldownChange?.(account);
  }

  /** Real milliseconds the account must still wait; 0 when it may call Telegram. */
  remaining(account: string): number {
    const until = this.cooldownUntil.get(account);
    if (until === undefined) return 0;
    const left = until - this.clock();
    if (left > 0) return left;
    this.cooldownUntil.delete(account);
    return 0;
  }

  /**
   * Waits until the account may resolve another username under the runtime's cap (and any
   * cooldown). `signal` ends the wait early, with the timer, when the asking task goes away.
   */
  async acquireResolvePermit(account: string, signal?: AbortSignal): Promise<void> {
    const now = this.clock();
    let startAt = now + this.remaining(account);
    if (this.options.resolvesPerMinute > 0) {
      const spacingMs = (60_000 * this.options.timeScale) / this.options.resolvesPerMinute;
      startAt = Math.max(startAt, this.nextResolveAt.get(account) ?? 0);
      this.nextResolveAt.set(account, startAt + spacingMs);
    }
    const waitMs = startAt - now;
    if (waitMs > 0) await wait(waitMs, signal);
  }
}
