import type { EvictionCounts } from '../cache/telegram-cache.js';

/**
 * Which of an account's evictions each task reports. Tasks of one account may overlap
 * (`runtime.per_account_concurrency` > 1) and each sees the account's counters move during its
 * run; reporting every difference would count one eviction once per overlapping task. Here a task
 * reports only what no task ending before it has reported.
 */
export class EvictionLedger {
  private readonly reported = new Map<string, EvictionCounts>();

  /** The evictions of `account` between `before` (when the task started) and `after` (now) that are the task's to report. */
  claim(account: string, before: EvictionCounts, after: EvictionCounts): EvictionCounts {
    const last = this.reported.get(account);
    this.reported.set(account, after);
    const from = (field: keyof EvictionCounts): number => Math.max(0, after[field] - Math.max(before[field], last?.[field] ?? 0));
    return { capacity: from('capacity'), accountCap: from('accountCap'), expired: from('expired') };
  }
}
