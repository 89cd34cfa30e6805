import { LinkedQueue } from './linked-queue.js';

interface Fanout {
  callbacks: LinkedQueue<() => void>;
  listener: () => void;
}

const fanouts = new WeakMap<AbortSignal, Fanout>();

/**
 * Calls `callback` once when `signal` aborts; the returned function stops listening. One signal
 * often covers many tasks (a host cancelling a whole job), and an `AbortSignal` scans all its
 * listeners on every add and remove, so each signal gets one listener of its own here and the
 * callbacks wait in a list that adds and removes in O(1).
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let fanout = fanouts.get(signal);
  if (fanout === undefined) {
    const created: Fanout = {
      callbacks: new LinkedQueue(),
      listener: () => {
        fanouts.delete(signal);
        for (const run of created.callbacks.drain()) run();
      },
    };
    fanout = created;
    fanouts.set(signal, created);
    signal.addEventListener('abort', created.listener, { once: true });
  }
  const node = fanout.callbacks.push(callback);
  const owner = fanout;
  return () => {
    if (!owner.callbacks.remove(node) || owner.callbacks.length > 0) return;
    signal.removeEventListener('abort', owner.listener);
    if (fanouts.get(signal) === owner) fanouts.delete(signal);
  };
}
