import { z } from 'zod';
import { CachePolicy, TelegramCacheScope } from '../cache/telegram-cache.js';
import { LOG_LEVELS } from '../telemetry/logger.js';

/*
 * The schema of config.yaml. Keys are snake_case as operators write them; every field has a
 * default so that a partial or an empty file is a valid configuration.
 */

const positiveInt = z.number().int().min(1);
const nonNegativeInt = z.number().int().min(0);
const seconds = z.number().min(0);

const MIB = 1024 * 1024;
/** The process cache's byte budget: 128 MiB holds about 400,000 peer entries; below 1 MiB a fleet cache is pointless, above 64 GiB it is a typo. */
const DEFAULT_PROCESS_BYTES = 128 * MIB;
const MIN_PROCESS_BYTES = MIB;
const MAX_PROCESS_BYTES = 64 * 1024 * MIB;

const liveAccount = z
  .object({
    phone: z.string().regex(/^\+?[0-9]{5,15}$/, 'a phone number in international form, digits only, e.g. "+15550001111"'),
    api_id: positiveInt,
    api_hash: z.string().regex(/^[0-9a-f]{32}$/, '32 lowercase hex digits').optional(),
    api_hash_env: z.string().min(1).optional(),
    session_env: z.string().min(1).optional(),
    session_file: z.string().min(1).optional(),
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
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a lowercase SQL identifier of at most 41 letters, digits or _').default('tgfleet'),
    shards: positiveInt.max(1024).default(64),
    host_id: z.string().regex(/^[A-Za-z0-9._-]{0,64}$/, 'at most 64 letters, digits, ".", "_" or "-"').default(''),
    heartbeat_interval: z.number().min(0.05).max(10).default(0.5),
    lock_timeout: z.number().min(0.1).max(120).default(3),
    disconnect_timeout: z.number().min(0.1).max(60).default(1),
    host_timeout: z.number().min(0.5).max(600).default(6),
    takeover_grace: z.number().min(0).max(600).default(4),
    rebalance_interval: z.number().min(0.05).max(60).default(0.5),
    poll_interval: z.number().min(0.1).max(60).default(2),
    max_in_flight: positiveInt.max(10_000).default(64),
    retry_limit: nonNegativeInt.max(1000).default(10),
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
        table: z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a lowercase SQL identifier of at most 41 letters, digits or _').default('tgfleet_cache'),
      })
      .prefault({}),
    redis: z
      .object({
        url: redisUrl.default('redis://127.0.0.1:6379'),
        prefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, '1 to 64 of A-Za-z0-9 : _ . -').default('tgfleet:cache:'),
      })
      .prefault({}),
    write_interval: z.number().min(0.01).max(60).default(1),
    max_queue: positiveInt.min(100).max(10_000_000).default(100_000),
    max_age: z.number().min(60).max(3650 * DAY).default(30 * DAY),
    max_entries: positiveInt.min(1000).max(1_000_000_000).default(10_000_000),
    cleanup_interval: z.number().min(1).max(DAY).default(600),
  })
  .prefault({});

export const configSchema = z.object({
  cache: z
    .object({
      scope: z.enum([TelegramCacheScope.TASK, TelegramCacheScope.PROCESS]).default('task'),
      policy: z.enum([CachePolicy.TINYLFU, CachePolicy.LRU]).default('tinylfu'),
      task: z.object({ max_size: positiveInt.default(500) }).prefault({}),
      process: z
        .object({
          max_bytes: positiveInt.min(MIN_PROCESS_BYTES).max(MAX_PROCESS_BYTES).default(DEFAULT_PROCESS_BYTES),
          max_size: positiveInt.nullable().default(null),
          cleanup_interval: z.number().positive().default(60),
        })
        .prefault({}),
      per_account: z.object({ max_entries: positiveInt.default(400) }).prefault({}),
      ttl: z
        .object({ entity: seconds.default(86_400), username: seconds.default(8 * 3600), negative: seconds.default(300) })
        .prefault({}),
      lease_timeout: z.number().positive().default(30),
      store: storeSection,
    })
    .refine((cache) => cache.store.driver === 'none' || cache.scope === 'process', {
      message: 'a cache store lies under the process cache: set cache.scope to process, or cache.store.driver to none',
      path: ['store', 'driver'],
    })
    .prefault({}),
  runtime: z
    .object({
      workers: nonNegativeInt.default(0),
      per_account_concurrency: positiveInt.default(1),
      tasks_per_worker: positiveInt.default(8),
      max_queue: positiveInt.default(10_000),
      shutdown_grace: seconds.default(10),
      task_timeout: seconds.default(0),
      max_worker_memory_mb: positiveInt.default(512),
    })
    .prefault({}),
  flood: z
    .object({
      on_cooldown: z.enum(['wait', 'fail']).default('wait'),
      resolves_per_minute: nonNegativeInt.default(0),
      retries: nonNegativeInt.default(0),
    })
    .prefault({}),
  telegram: z
    .object({
      mode: z.enum(['simulated', 'live', 'loopback']).default('simulated'),
      call_timeout: z.number().min(1).max(600).default(30),
      dc_address: z
        .string()
        .regex(/^$|^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:8443, or "" for the data centre in the session')
        .default(''),
      loopback: z
        .object({
          port: nonNegativeInt.max(65535).default(0),
          sessions_file: z.string().default(''),
          faults: z
            .object({
              drop_after_messages: nonNegativeInt.max(1_000_000).default(0),
              drop_probability: z.number().min(0).max(1).default(0),
              reply_delay_ms: z.number().min(0).max(60_000).default(0),
            })
            .prefault({}),
        })
        .prefault({}),
      simulated: z
        .object({
          seed: z.number().int().default(42),
          accounts: positiveInt.default(8),
          users: positiveInt.default(3000),
          channels: positiveInt.default(600),
          latency_ms: seconds.default(40),
          time_scale: z.number().positive().max(1).default(0.01),
          resolve_limit_per_minute: positiveInt.default(30),
        })
        .prefault({}),
    })
    .prefault({}),
  accounts: z.array(liveAccount).default([]),
  workload: z
    .object({
      task: z.string().min(1).default('channel-digest'),
      seed: z.number().int().default(7),
      tasks_per_account: positiveInt.default(30),
      peers_per_task: positiveInt.default(8),
      zipf_exponent: z.number().min(0).default(1.1),
      public_peers: positiveInt.default(500),
      private_peers_per_account: nonNegativeInt.default(20),
      private_share: z.number().min(0).max(1).default(0.15),
      peers: z.array(z.string().regex(/^@?[a-zA-Z][a-zA-Z0-9_]{4,31}$/, 'a Telegram username (5-32 letters, digits or _, starting with a letter)')).default([]),
    })
    .prefault({}),
  fleet: fleetSection.prefault({}),
  logging: z.object({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
  metrics: z
    .object({
      sqlite: z.string().default('tgfleet-metrics.sqlite'),
      prometheus_port: nonNegativeInt.max(65535).default(0),
      prometheus_host: z.string().default('127.0.0.1'),
    })
    .prefault({}),
});

export type RawConfig = z.output<typeof configSchema>;
export type LiveAccountConfig = z.output<typeof liveAccount>;
