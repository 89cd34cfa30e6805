import type { SerializedError } from '../channel/remote-error.js';
import { LinkedQueue } from './linked-queue.js';
import type { Reporter } from '../telemetry/reporter.js';

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

/** Node fires a longer timer at once; a longer wait is re-checked when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface PermitWaiter {
  grant: () => void;
}

/** An account's resolve permits: who waits, in order, and when the next may be granted. */
interface PermitLine {
  waiters: LinkedQueue<PermitWaiter>;
  timer: NodeJS.Timeout | null;
  /** The earliest time the runtime's cap lets the next permit go. */
  nextAt: number;
}

/**
 * Flood waits are per account: when Telegram tells one account to wait, only that account's tasks
 * stop. The optional resolve cap spaces an account's username resolves so the limit is not hit.
 * A permit is granted only when it is due: the cooldown is checked again when a wait ends (it may
 * have begun meanwhile), and a cancelled wait leaves the line without taking a slot.
 */
export class FloodControl {
  private readonly cooldownUntil = new Map<string, number>();
  private readonly lines = new Map<string, PermitLine>();
  private readonly clock: () => number;
  private readonly spacingMs: number;

  constructor(private readonly options: FloodControlOptions) {
    this.clock = options.clock ?? Date.now;
    this.spacingMs = options.resolvesPerMinute > 0 ? (60_000 * options.timeScale) / options.resolvesPerMinute : 0;
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

  /** Takes a resolve permit if one is due now (nobody waits before it, no cooldown, the cap allows). */
  tryResolvePermit(account: string): boolean {
    const line = this.lines.get(account);
    if (line !== undefined && line.waiters.length > 0) return false;
    if (this.remaining(account) > 0) return false;
    const now = this.clock();
    if (this.spacingMs === 0) return true;
    if (line !== undefined && line.nextAt > now) return false;
    this.line(account).nextAt = now + this.spacingMs;
    return true;
  }

  /**
   * Waits until the account may resolve another username under the runtime's cap (and any
   * cooldown), in the order asked. `signal` ends the wait early, and gives its place to the next.
   */
  acquireResolvePermit(account: string, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tryResolvePermit(account)) return Promise.resolve();
    const line = this.line(account);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        line.waiters.remove(node);
        if (line.waiters.length === 0) this.idle(account, line);
        reject(signal?.reason);
      };
      const node = line.waiters.push({
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (line.timer === null) this.serve(account, line);
    });
  }

  private line(account: string): PermitLine {
    let line = this.lines.get(account);
    if (line === undefined) {
      line = { waiters: new LinkedQueue(), timer: null, nextAt: 0 };
      this.lines.set(account, line);
    }
    return line;
  }

  /** Grants what is due, in order, and sets a timer for the next one. */
  private serve(account: string, line: PermitLine): void {
    line.timer = null;
    while (line.waiters.length > 0) {
      const now = this.clock();
      const waitMs = Math.max(this.remaining(account), line.nextAt - now);
      if (waitMs > 0) {
        line.timer = setTimeout(() => this.serve(account, line), Math.min(waitMs, MAX_TIMER_MS));
        return;
      }
      if (this.spacingMs > 0) line.nextAt = now + this.spacingMs;
      (line.waiters.shift() as PermitWaiter).grant();
    }
    this.idle(account, line);
  }

  /** Nobody waits: no timer is kept, and a line whose cap slot has passed is forgotten. */
  private idle(account: string, line: PermitLine): void {
    if (line.timer !== null) clearTimeout(line.timer);
    line.timer = null;
    if (line.nextAt <= this.clock()) this.lines.delete(account);
  }
}
