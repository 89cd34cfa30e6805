/* What a fleet run is judged by, shared by the fleet tests and the failover benchmark. */

/** Task ids completed more than once: a fenced completion makes this empty however often a task ran. */
export function completedTwice(completions: readonly { taskId: string }[]): string[] {
  const seen = new Map<string, number>();
  for (const { taskId } of completions) seen.set(taskId, (seen.get(taskId) ?? 0) + 1);
  return [...seen.entries()].filter(([, count]) => count > 1).map(([taskId]) => taskId);
}

/** Per account, a result whose run began before the run of the task submitted before it had ended. */
export function orderViolations(results: readonly { account: string; seq: number; startedAt: number; endedAt: number }[]): string[] {
  const byAccount = new Map<string, { seq: number; startedAt: number; endedAt: number }[]>();
  for (const result of results) {
    const list = byAccount.get(result.account) ?? [];
    list.push(result);
    byAccount.set(result.account, list);
  }
  const violations: string[] = [];
  for (const [account, list] of byAccount) {
    list.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < list.length; i++) {
      if (list[i]!.startedAt < list[i - 1]!.endedAt) violations.push(`${account}: task ${list[i]!.seq} started before task ${list[i - 1]!.seq} ended`);
    }
  }
  return violations;
}
