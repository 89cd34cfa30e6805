import { isProxy } from 'node:util/types';

/** Values walked at most: past it, the link's own copy (which can fail safely) is cheaper than the walk. */
const WALK_BUDGET = 512;

/**
 * Whether structured clone is sure to copy `value`: primitives other than symbols, and arrays,
 * plain objects, dates and byte views made of them. A task's result that passes travels in
 * Piscina's own reply, the one message a task's end must cost anyway; one that does not (a class
 * instance, a function, a proxy, something large) goes on the worker's link, where a failed copy
 * fails only its task, whereas Piscina's reply failing to copy kills the worker.
 */
export function travelsWhole(value: unknown): boolean {
  let budget = WALK_BUDGET;
  const walk = (item: unknown): boolean => {
    if (--budget < 0) return false;
    if (item === null) return true;
    const type = typeof item;
    if (type !== 'object') return type !== 'symbol' && type !== 'function';
    if (isProxy(item)) return false;
    const prototype = Object.getPrototypeOf(item) as object | null;
    if (prototype === Array.prototype) {
      for (const element of item as unknown[]) if (!walk(element)) return false;
      return true;
    }
    if (prototype === Object.prototype || prototype === null) {
      for (const key in item) if (!walk((item as Record<string, unknown>)[key])) return false;
      return true;
    }
    return item instanceof Date || ArrayBuffer.isView(item);
  };
  try {
    return walk(value);
  } catch {
    // A getter that throws would throw in the copy too.
    return false;
  }
}
