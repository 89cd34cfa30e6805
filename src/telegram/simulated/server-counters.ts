/**
 * What the simulated server saw, per account: the numbers a fleet run is judged by (how many
 * resolves a cache saved, how many flood waits it caused, whether any access hash leaked).
 */

/** account → TL method class name (e.g. `contacts.ResolveUsername`) → calls. */
export type CallCounts = Record<string, Record<string, number>>;

export interface FloodWaitTally {
  count: number;
  /** Sum of the waits handed out, in simulated seconds. */
  seconds: number;
}

export class ServerCounters {
  private readonly callsByAccount = new Map<string, Map<string, number>>();
  private readonly floodByAccount = new Map<string, FloodWaitTally>();
  private readonly foreignByAccount = new Map<string, number>();

  recordCall(account: string, method: string): void {
    let methods = this.callsByAccount.get(account);
    if (methods === undefined) {
      methods = new Map();
      this.callsByAccount.set(account, methods);
    }
    methods.set(method, (methods.get(method) ?? 0) + 1);
  }

  recordFloodWait(account: string, seconds: number): void {
    const tally = this.floodByAccount.get(account) ?? { count: 0, seconds: 0 };
    this.floodByAccount.set(account, { count: tally.count + 1, seconds: tally.seconds + seconds });
  }

  /** `account` presented an access hash that was issued to another account. */
  recordForeignHash(account: string): void {
    this.foreignByAccount.set(account, (this.foreignByAccount.get(account) ?? 0) + 1);
  }

  calls(): CallCounts {
    return Object.fromEntries([...this.callsByAccount].map(([account, methods]) => [account, Object.fromEntries(methods)]));
  }

  totalCalls(method?: string): number {
    let total = 0;
    for (const methods of this.callsByAccount.values()) {
      if (method === undefined) for (const count of methods.values()) total += count;
      else total += methods.get(method) ?? 0;
    }
    return total;
  }

  /** Every call one account has made. */
  accountCalls(account: string): number {
    let total = 0;
    for (const count of this.callsByAccount.get(account)?.values() ?? []) total += count;
    return total;
  }

  floodWaits(): Record<string, FloodWaitTally> {
    return Object.fromEntries([...this.floodByAccount].map(([account, tally]) => [account, { ...tally }]));
  }

  /** With an account: that account's count; without: the whole server's. */
  foreignHashRejections(account?: string): number {
    if (account !== undefined) return this.foreignByAccount.get(account) ?? 0;
    let total = 0;
    for (const count of this.foreignByAccount.values()) total += count;
    return total;
  }

  reset(): void {
    this.callsByAccount.clear();
    this.floodByAccount.clear();
    this.foreignByAccount.clear();
  }
}
