import { createHook } from 'node:async_hooks';
import type { CrashRecord } from '../channel/crash-record.js';
import { currentTask, onTaskEntry } from './task-scope.js';

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return String(value);
}

/**
 * Keeps `record` saying which task's code runs, and makes a worker that is about to die say whose
 * fault it was: a task's `process.exit`, an exception nobody caught, or a rejection nobody
 * handled. Such a worker still dies (its state may be broken, and other accounts' clients live in
 * it), but only the guilty task fails for it; the main thread runs the others again elsewhere.
 */
export function watchForCrashes(record: CrashRecord): void {
  // Runs before every callback: cheap (one slot write), and what names the culprit of an out-of-memory death.
  createHook({ before: () => record.running(currentTask()?.binding ?? 0) }).enable();
  onTaskEntry((binding) => record.running(binding));
  const exit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) => {
    record.blame(currentTask()?.binding ?? 0, `a task called process.exit(${code ?? ''})`);
    return exit(code);
  }) as typeof process.exit;
  process.on('uncaughtException', (error) => {
    record.blame(currentTask()?.binding ?? 0, `an uncaught exception: ${describe(error)}`);
    exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    record.blame(currentTask()?.binding ?? 0, `an unhandled rejection: ${describe(reason)}`);
    exit(1);
  });
}
