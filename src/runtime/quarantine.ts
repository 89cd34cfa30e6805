/** What a crash of an account's task means for where the account runs next. */
export type CrashVerdict = 'stays' | 'quarantine' | 'no-room';

export interface QuarantineOptions {
  /** Crashes within the window that quarantine the account; 0 never does. */
  crashes: number;
  windowMs: number;
  /** Accounts quarantined at most: each one costs a worker thread. */
  maxAccounts: number;
}

/**
 * Counts the worker crashes each account's tasks cause. One crash may be bad luck (a malformed
 * answer, a task's bug that a fix will cure); an account that crashes workers again and again
 * would keep killing its neighbours' tasks, so it is moved to a worker of its own.
 */
export class CrashQuarantine {
  private readonly crashTimes = new Map<string, number[]>();
  private readonly accounts = new Set<string>();

  constructor(
    private readonly options: QuarantineOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a crash caused by a task of `account`. */
  noteCrash(account: string): CrashVerdict {
    if (this.options.crashes === 0 || this.accounts.has(account)) return 'stays';
    const since = this.now() - this.options.windowMs;
    const recent = (this.crashTimes.get(account) ?? []).filter((time) => time > since);
    recent.push(this.now());
    this.crashTimes.set(account, recent);
    if (recent.length < this.options.crashes) return 'stays';
    if (this.accounts.size >= this.options.maxAccounts) return 'no-room';
    this.accounts.add(account);
    this.crashTimes.delete(account);
    return 'quarantine';
  }
}
