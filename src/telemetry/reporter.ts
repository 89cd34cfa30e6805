import { EventEmitter } from 'eventemitter3';
import type { EvictionReason, TelegramCacheScope } from '../cache/telegram-cache.js';
import type { SerializedError } from '../channel/remote-error.js';
import type { Logger } from './logger.js';

export interface TaskStartEvent {
  taskId: string;
  account: string;
  task: string;
  cacheScope: TelegramCacheScope;
  /** Whether the account's cache already held live entries when the task started. */
  warmStart: boolean;
}

export interface TaskEndEvent {
  taskId: string;
  account: string;
  task: string;
  durationMs: number;
}

export interface TaskErrorEvent extends TaskEndEvent {
  error: SerializedError;
}

/** An attempt of a task ended in a FLOOD_WAIT; the task waits out the cooldown and runs again. */
export interface TaskRetryEvent extends TaskErrorEvent {
  /** Retries the task has left after this one. */
  retriesLeft: number;
}

/** One task's use of the cache (seed §6: the cache_stats payload). */
export interface CacheStatsEvent {
  taskId: string;
  account: string;
  task: string;
  scope: TelegramCacheScope;
  warmStart: boolean;
  perAccountMaxEntries: number | null;
  wasInvalidated: boolean;
  hits: number;
  misses: number;
  sets: number;
  invalidations: number;
  /** Evictions from the account's entries while the task ran, by reason. */
  evictions: Record<EvictionReason, number>;
  /** The account's entries in the cache when the task ended. */
  size: number;
  durationMs: number;
}

export interface EvictionEvent {
  account: string;
  key: string;
  reason: EvictionReason;
}

export interface FloodCooldownEvent {
  account: string;
  /** The wait Telegram asked for, in Telegram seconds. */
  seconds: number;
  /** The method that hit the limit. */
  method: string;
  /** Real milliseconds the account's tasks are held. */
  cooldownMs: number;
}

/** An account whose tasks crashed workers again and again was moved to a worker of its own. */
export interface AccountQuarantinedEvent {
  account: string;
  /** The crashes within the window that did it (runtime.quarantine_crashes). */
  crashes: number;
  windowMs: number;
  /** How the last of those workers died. */
  reason: string;
}

export interface ListenerErrorEvent {
  event: string;
  error: unknown;
}

export interface ReporterEvents {
  'task:start': [TaskStartEvent];
  'task:end': [TaskEndEvent];
  'task:error': [TaskErrorEvent];
  'task:retry': [TaskRetryEvent];
  'cache:stats': [CacheStatsEvent];
  'cache:eviction': [EvictionEvent];
  'flood:cooldown': [FloodCooldownEvent];
  'account:quarantined': [AccountQuarantinedEvent];
  'listener:error': [ListenerErrorEvent];
}

export type ReporterEventName = keyof ReporterEvents;
type Listener<E extends ReporterEventName> = (...args: ReporterEvents[E]) => void;

/**
 * The runtime's typed events. A listener that throws is logged and reported as `listener:error`;
 * it never stops the other listeners or the runtime, since an embedder's metrics code should not
 * be able to fail a Telegram task.
 */
export class Reporter {
  private readonly emitter = new EventEmitter<ReporterEvents>();
  /** The guarded wrapper of each listener, per event: one function may listen to several events, or twice. */
  private readonly wrapped = new Map<ReporterEventName, Map<Listener<ReporterEventName>, Listener<ReporterEventName>[]>>();

  constructor(private readonly logger?: Logger) {}

  on<E extends ReporterEventName>(event: E, listener: Listener<E>): this {
    const guarded = ((...args: ReporterEvents[E]) => {
      try {
        listener(...args);
      } catch (error) {
        this.logger?.error({ err: error, event }, 'a reporter listener threw');
        if (event !== 'listener:error') this.emitter.emit('listener:error', { event, error });
      }
    }) as Listener<ReporterEventName>;
    let forEvent = this.wrapped.get(event);
    if (forEvent === undefined) {
      forEvent = new Map();
      this.wrapped.set(event, forEvent);
    }
    const key = listener as Listener<ReporterEventName>;
    forEvent.set(key, [...(forEvent.get(key) ?? []), guarded]);
    this.emitter.on(event, guarded as never);
    return this;
  }

  off<E extends ReporterEventName>(event: E, listener: Listener<E>): this {
    const forEvent = this.wrapped.get(event);
    const key = listener as Listener<ReporterEventName>;
    const guarded = forEvent?.get(key);
    const last = guarded?.pop();
    if (last !== undefined) this.emitter.off(event, last as never);
    if (guarded?.length === 0) forEvent?.delete(key);
    return this;
  }

  emit<E extends ReporterEventName>(event: E, ...args: ReporterEvents[E]): void {
    (this.emitter.emit as (name: string, ...values: unknown[]) => boolean)(event, ...args);
  }

  listenerCount(event: ReporterEventName): number {
    return this.emitter.listenerCount(event);
  }

  removeAllListeners(): void {
    this.emitter.removeAllListeners();
    this.wrapped.clear();
  }
}
