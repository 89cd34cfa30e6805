/**
 * Paces one client's reconnects with jittered exponential backoff ("full jitter": a random wait up
 * to a doubling ceiling). When a data centre restarts, every client of a fleet sees its connection
 * drop at the same moment; without jitter they would all come back in the same instant, and again
 * in lockstep after each failed attempt.
 */

export interface ReconnectPacerOptions {
  /** Ceiling of the first reconnect's wait, in ms. */
  baseDelayMs?: number;
  /** Largest ceiling, however many attempts have failed, in ms. */
  maxDelayMs?: number;
  /** [0, 1) source, replaceable so tests can check the spread. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export class ReconnectPacer {
  private attempts = 0;
  private connectedOnce = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: ReconnectPacerOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** The wait before the next connection attempt: none for a client's first connection. */
  nextDelayMs(): number {
    if (!this.connectedOnce && this.attempts === 0) return 0;
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.attempts, 30));
    return Math.floor(this.random() * ceiling);
  }

  /** Waits the paced delay; call before every attempt to open the socket. */
  async beforeAttempt(): Promise<void> {
    const delay = this.nextDelayMs();
    this.attempts++;
    if (delay > 0) await this.sleep(delay);
  }

  /** A socket opened: the next drop starts from the base delay again. */
  connected(): void {
    this.connectedOnce = true;
    this.attempts = 0;
  }
}
