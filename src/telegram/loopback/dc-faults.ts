/**
 * The failures a loopback data centre produces on demand, set from config at start and changed by
 * tests while it runs: the ones that hurt GramJS fleets in production (dropped and stalled
 * connections, slow replies, revoked or unregistered auth keys). Randomness is seeded, so a run
 * with random drops is the same run every time.
 */
import { seededRandom, type Random } from '../simulated/seeded-random.js';

/** The 401 answers Telegram gives a session it no longer accepts. */
export type RevocationReason = 'AUTH_KEY_UNREGISTERED' | 'SESSION_REVOKED';

export interface DcFaultOptions {
  /** Close a connection after it has delivered this many messages to the server (0: never). */
  dropAfterMessages?: number;
  /** Chance, per message received, that the server closes the connection instead of answering. */
  dropProbability?: number;
  /** Real milliseconds added before every reply. */
  replyDelayMs?: number;
  /** Accounts whose requests are read and never answered. */
  stalledAccounts?: readonly string[];
  /** Accounts whose session the server no longer accepts. */
  revokedAccounts?: Readonly<Record<string, RevocationReason>>;
  /** Restart the data centre this often, in ms, as a crash and a quick recovery would (0: never). */
  restartEveryMs?: number;
  seed?: number;
}

export class DcFaults {
  dropAfterMessages: number;
  dropProbability: number;
  replyDelayMs: number;
  private readonly stalled: Set<string>;
  private readonly revoked: Map<string, RevocationReason>;
  private readonly random: Random;

  constructor(options: DcFaultOptions = {}) {
    this.dropAfterMessages = options.dropAfterMessages ?? 0;
    this.dropProbability = options.dropProbability ?? 0;
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.stalled = new Set(options.stalledAccounts ?? []);
    this.revoked = new Map(Object.entries(options.revokedAccounts ?? {}));
    this.random = seededRandom(options.seed ?? 1);
  }

  /** Whether the connection that has just delivered its `count`-th message is to be dropped. */
  shouldDrop(count: number): boolean {
    if (this.dropAfterMessages > 0 && count >= this.dropAfterMessages) return true;
    return this.dropProbability > 0 && this.random() < this.dropProbability;
  }

  stall(account: string, on = true): void {
    if (on) this.stalled.add(account);
    else this.stalled.delete(account);
  }

  isStalled(account: string): boolean {
    return this.stalled.has(account);
  }

  /** From now on every request of `account` is answered with the 401 `reason`. */
  revoke(account: string, reason: RevocationReason = 'SESSION_REVOKED'): void {
    this.revoked.set(account, reason);
  }

  restore(account: string): void {
    this.revoked.delete(account);
  }

  revocation(account: string): RevocationReason | undefined {
    return this.revoked.get(account);
  }

  /** Back to a healthy data centre. */
  clear(): void {
    this.dropAfterMessages = 0;
    this.dropProbability = 0;
    this.replyDelayMs = 0;
    this.stalled.clear();
    this.revoked.clear();
  }
}
