import { z } from 'zod';
import { CachePolicy, TelegramCacheScope } from '../cache/telegram-cache.js';
import { LOG_LEVELS } from '../telemetry/logger.js';

/*
 * The schema of config.yaml. Keys are snake_case as operators write them; every field has a
 * default so that a partial or an empty file is a valid configuration.
 */

/*
 * Every number has a range: a value outside it is refused with the range in the message, never
 * clamped, so what runs is what the file says. `rangeOf` gives the range back for that message
 * and for the check that docs/CONFIGURATION.md documents each one.
 */
export interface NumberRange {
  min: number;
  max: number;
  /** The minimum itself is not allowed (`more than 0`). */
  exclusiveMin: boolean;
  whole: boolean;
  unit: string;
}

const ranges = new WeakMap<z.ZodType, NumberRange>();

function ranged<T extends z.ZodNumber>(schema: T, range: NumberRange): T {
  ranges.set(schema, range);
  return schema;
}

/** A whole number from min to max. */
function whole(min: number, max: number, unit = ''): z.ZodNumber {
  return ranged(z.number().int().min(min).max(max), { min, max, exclusiveMin: false, whole: true, unit });
}

/** A number from min (or more than min, when exclusive) to max. */
function between(min: number, max: number, unit = '', exclusiveMin = false): z.ZodNumber {
  const base = exclusiveMin ? z.number().gt(min) : z.number().min(min);
  return ranged(base.max(max), { min, max, exclusiveMin, whole: false, unit });
}

/**
 * Node's timers hold a signed 32-bit count of milliseconds: a longer delay fires after 1 ms. A
 * duration that becomes a timer is therefore at most 2147483 s (24.8 days).
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
const timerSeconds = (min: number, exclusiveMin = false): z.ZodNumber => between(min, MAX_TIMER_SECONDS, 's', exclusiveMin);
/** TTLs are compared with timestamps, not timers; a year is longer than any Telegram peer stays valid. */
const MAX_TTL_SECONDS = 365 * 86_400;
const ttlSeconds = (): z.ZodNumber => between(0, MAX_TTL_SECONDS, 's');

/** The range of a number schema, looking through defaults, optionals and nullables. */
export function rangeOf(schema: z.ZodType): NumberRange | undefined {
  let current: z.ZodType = schema;
  for (;;) {
    const range = ranges.get(current);
    if (range !== undefined) return range;
    if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
      current = current.unwrap() as z.ZodType;
    } else {
      return undefined;
    }
  }
}

/** How a range reads in an error: "a whole number from 0 to 256". */
export function describeRange(range: NumberRange): string {
  const kind = range.whole ? 'a whole number' : 'a number';
  const unit = range.unit === '' ? '' : ` ${range.unit}`;
  return range.exclusiveMin ? `${kind} more than ${range.min} and at most ${range.max}${unit}` : `${kind} from ${range.min} to ${range.max}${unit}`;
}

/** Above this a fleet of threads costs more in memory and scheduling than it returns; 2 cores run 2, a large host 64 or so. */
export const MAX_WORKERS = 256;
/** A worker thread with GramJS loaded needs about 20 MiB of heap; below 32 MiB it cannot start and Piscina fails the pool. */
export const MIN_WORKER_MEMORY_MB = 32;
const MAX_WORKER_MEMORY_MB = 65_536;
/** Seeds feed a 32-bit generator. */
const seed = (): z.ZodNumber => whole(0, 2 ** 32 - 1);

const MIB = 1024 * 1024;
/** The process cache's byte budget: 128 MiB holds about 400,000 peer entries; below 1 MiB a fleet cache is pointless, above 64 GiB it is a typo. */
const DEFAULT_PROCESS_BYTES = 128 * MIB;
const MIN_PROCESS_BYTES = MIB;
const MAX_PROCESS_BYTES = 64 * 1024 * MIB;

/** A tenant's name: what logs and metrics label its accounts with. */
export const TENANT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const TENANT_NAME_RULE = '1 to 64 letters, digits, dots, dashes or underscores';

const phoneNumber = z.string().regex(/^\+?[0-9]{5,15}$/, 'a phone number in international form, digits only, e.g. "+15550001111"');

const liveAccount = z
  .object({
    phone: phoneNumber,
    api_id: whole(1, 2 ** 31 - 1),
    api_hash: z
      .string()
      .regex(/^[0-9a-f]{32}$/, '32 lowercase hex digits')
      .optional(),
    api_hash_env: z.string().min(1).optional(),
    session_env: z.string().min(1).optional(),
    session_file: z.string().min(1).optional(),
    tenant: z.string().regex(TENANT_NAME, TENANT_NAME_RULE).optional(),
  })
  .refine((a) => (a.api_hash === undefined) !== (a.api_hash_env === undefined), {
    message: 'give exactly one of api_hash and api_hash_env',
  })
  .refine((a) => (a.session_env === undefined) !== (a.session_file === undefined), {
    message: 'give exactly one of session_env and session_file',
  });

/** A PostgreSQL URL without a password: one belongs in PGPASSWORD or ~/.pgpass, never in config.yaml or the logs. */
const databaseUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/[^\s]+$/, 'a postgres:// URL, e.g. "postgres://127.0.0.1:5432/test"')
  .refine((url) => !/^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(url), 'no password in the URL: give it in PGPASSWORD or ~/.pgpass');

/*
 * The fleet's timings depend on each other (docs/FLEET.md): a host must give its accounts up
 * (lock_timeout + disconnect_timeout) before the others may declare it dead (host_timeout) or
 * connect them after a lock came free (takeover_grace).
 */
const fleetSection = z
  .object({
    database_url: databaseUrl.default('postgres://127.0.0.1:5432/test'),
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a lowercase SQL identifier of at most 41 letters, digits or _')
      .default('tgfleet'),
    shards: whole(1, 1024).default(64),
    host_id: z
      .string()
      .regex(/^[A-Za-z0-9._-]{0,64}$/, 'at most 64 letters, digits, ".", "_" or "-"')
      .default(''),
    heartbeat_interval: between(0.05, 10, 's').default(0.5),
    lock_timeout: between(0.1, 120, 's').default(3),
    disconnect_timeout: between(0.1, 60, 's').default(1),
    host_timeout: between(0.5, 600, 's').default(6),
    takeover_grace: between(0, 600, 's').default(4),
    rebalance_interval: between(0.05, 60, 's').default(0.5),
    poll_interval: between(0.1, 60, 's').default(2),
    max_in_flight: whole(1, 10_000).default(64),
    retry_limit: whole(0, 1000).default(10),
  })
  .refine((f) => f.heartbeat_interval < f.lock_timeout, { message: 'heartbeat_interval must be shorter than lock_timeout, or the lock is never confirmed in time', path: ['heartbeat_interval'] })
  .refine((f) => f.host_timeout > f.lock_timeout + f.disconnect_timeout, {
    message: 'host_timeout must exceed lock_timeout + disconnect_timeout, so a host has given its accounts up before the others declare it dead',
    path: ['host_timeout'],
  })
  .refine((f) => f.takeover_grace >= f.lock_timeout + f.disconnect_timeout, {
    message: 'takeover_grace must be at least lock_timeout + disconnect_timeout, so a host whose lock vanished has disconnected before the new owner connects',
    path: ['takeover_grace'],
  });

/** A Redis URL without a password: one belongs in REDIS_PASSWORD, never in config.yaml or the logs. */
const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// URL, e.g. "redis://127.0.0.1:6379"')
  .refine((url) => !/^rediss?:\/\/[^/@]*:[^/@]*@/.test(url), 'no password in the URL: give it in REDIS_PASSWORD');

const DAY = 86_400;

/** `cache.store`: the durable tier under the process cache (docs/CONFIGURATION.md). */
const storeSection = z
  .object({
    driver: z.enum(['none', 'sqlite', 'postgres', 'redis']).default('none'),
    sqlite: z.object({ path: z.string().min(1).default('tgfleet-cache.sqlite') }).prefault({}),
    postgres: z
      .object({
        url: databaseUrl.default('postgres://127.0.0.1:5432/test'),
        table: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a lowercase SQL identifier of at most 41 letters, digits or _')
          .default('tgfleet_cache'),
      })
      .prefault({}),
    redis: z
      .object({
        url: redisUrl.default('redis://127.0.0.1:6379'),
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9:_.-]{1,64}$/, '1 to 64 of A-Za-z0-9 : _ . -')
          .default('tgfleet:cache:'),
      })
      .prefault({}),
    write_interval: between(0.01, 60, 's').default(1),
    max_queue: whole(100, 10_000_000).default(100_000),
    max_age: between(60, 3650 * DAY, 's').default(30 * DAY),
    max_entries: whole(1000, 1_000_000_000).default(10_000_000),
    cleanup_interval: between(1, DAY, 's').default(600),
  })
  .prefault({});

export const configSchema = z.object({
  cache: z
    .object({
      scope: z.enum([TelegramCacheScope.TASK, TelegramCacheScope.PROCESS]).default('task'),
      policy: z.enum([CachePolicy.TINYLFU, CachePolicy.LRU]).default('tinylfu'),
      task: z.object({ max_size: whole(1, 10_000_000).default(500) }).prefault({}),
      process: z
        .object({
          max_bytes: whole(MIN_PROCESS_BYTES, MAX_PROCESS_BYTES).default(DEFAULT_PROCESS_BYTES),
          max_size: whole(1, 100_000_000).nullable().default(null),
          cleanup_interval: timerSeconds(0, true).default(60),
        })
        .prefault({}),
      per_account: z.object({ max_entries: whole(1, 10_000_000).default(400) }).prefault({}),
      ttl: z.object({ entity: ttlSeconds().default(86_400), username: ttlSeconds().default(8 * 3600), negative: ttlSeconds().default(300) }).prefault({}),
      lease_timeout: timerSeconds(0, true).default(30),
      store: storeSection,
    })
    .refine((cache) => cache.store.driver === 'none' || cache.scope === 'process', {
      message: 'a cache store lies under the process cache: set cache.scope to process, or cache.store.driver to none',
      path: ['store', 'driver'],
    })
    .prefault({}),
  runtime: z
    .object({
      workers: whole(0, MAX_WORKERS).default(0),
      per_account_concurrency: whole(1, 1000).default(1),
      tasks_per_worker: whole(1, 1000).default(8),
      max_queue: whole(1, 10_000_000).default(10_000),
      shutdown_grace: timerSeconds(0).default(10),
      task_timeout: timerSeconds(0).default(0),
      abort_grace: between(0.05, 60, 's').default(1),
      max_worker_memory_mb: whole(MIN_WORKER_MEMORY_MB, MAX_WORKER_MEMORY_MB, 'MiB').default(512),
      quarantine_crashes: whole(0, 1000).default(3),
      quarantine_window: between(1, 7 * 86_400, 's').default(600),
      max_quarantined: whole(0, 64).default(4),
      client_idle_timeout: timerSeconds(0).default(300),
      max_clients_per_worker: whole(1, 1_000_000).default(1000),
    })
    .refine((runtime) => runtime.max_clients_per_worker >= runtime.tasks_per_worker, {
      message: 'max_clients_per_worker must be at least tasks_per_worker: every task a worker runs at once holds its account’s client',
      path: ['max_clients_per_worker'],
    })
    .prefault({}),
  flood: z
    .object({
      on_cooldown: z.enum(['wait', 'fail']).default('wait'),
      resolves_per_minute: whole(0, 100_000).default(0),
      retries: whole(0, 100).default(0),
    })
    .prefault({}),
  telegram: z
    .object({
      mode: z.enum(['simulated', 'live', 'loopback']).default('simulated'),
      call_timeout: between(1, 600, 's').default(30),
      dc_address: z
        .string()
        .regex(/^$|^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:8443, or "" for the data centre in the session')
        .default(''),
      loopback: z
        .object({
          port: whole(0, 65535).default(0),
          sessions_file: z.string().default(''),
          faults: z
            .object({
              drop_after_messages: whole(0, 1_000_000).default(0),
              drop_probability: between(0, 1).default(0),
              reply_delay_ms: between(0, 60_000, 'ms').default(0),
              stalled_accounts: z.array(phoneNumber).max(100_000).default([]),
              revoked_accounts: z.array(phoneNumber).max(100_000).default([]),
              unregistered_accounts: z.array(phoneNumber).max(100_000).default([]),
              restart_every: between(0, 86_400, 's').default(0),
            })
            .refine((faults) => !faults.revoked_accounts.some((phone) => faults.unregistered_accounts.includes(phone)), {
              message: 'an account is either revoked (SESSION_REVOKED) or unregistered (AUTH_KEY_UNREGISTERED), not both',
              path: ['unregistered_accounts'],
            })
            .prefault({}),
        })
        .prefault({}),
      simulated: z
        .object({
          seed: seed().default(42),
          accounts: whole(1, 100_000).default(8),
          users: whole(1, 10_000_000).default(3000),
          channels: whole(1, 10_000_000).default(600),
          latency_ms: between(0, 60_000, 'ms').default(40),
          time_scale: between(0, 1, '', true).default(0.01),
          resolve_limit_per_minute: whole(1, 100_000).default(30),
        })
        .prefault({}),
    })
    .prefault({}),
  accounts: z.array(liveAccount).default([]),
  workload: z
    .object({
      task: z.string().min(1).default('channel-digest'),
      seed: seed().default(7),
      tasks_per_account: whole(1, 10_000_000).default(30),
      peers_per_task: whole(1, 10_000).default(8),
      zipf_exponent: between(0, 10).default(1.1),
      public_peers: whole(1, 10_000_000).default(500),
      private_peers_per_account: whole(0, 1_000_000).default(20),
      private_share: between(0, 1).default(0.15),
      peers: z.array(z.string().regex(/^@?[a-zA-Z][a-zA-Z0-9_]{4,31}$/, 'a Telegram username (5-32 letters, digits or _, starting with a letter)')).default([]),
    })
    .prefault({}),
  fleet: fleetSection.prefault({}),
  logging: z.object({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
  metrics: z
    .object({
      sqlite: z.string().default('tgfleet-metrics.sqlite'),
      prometheus_port: whole(0, 65535).default(0),
      prometheus_host: z.string().default('127.0.0.1'),
    })
    .prefault({}),
});

export type RawConfig = z.output<typeof configSchema>;
export type LiveAccountConfig = z.output<typeof liveAccount>;
