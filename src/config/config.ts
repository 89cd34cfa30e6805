import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { CacheStoreConfig } from '../cache/store/store-config.js';
import type { CachePolicy, TelegramCacheScope } from '../cache/telegram-cache.js';
import { redactSecrets, SECRET_FIELDS, type LogLevel } from '../telemetry/logger.js';
import { configSchema, describeRange, rangeOf, type LiveAccountConfig, type RawConfig } from './schema.js';

/** The environment variable that names the config file when no path is given. */
export const CONFIG_ENV = 'TGFLEET_CONFIG';
export const DEFAULT_CONFIG_PATH = 'config.yaml';

export interface CacheConfig {
  scope: TelegramCacheScope;
  policy: CachePolicy;
  taskMaxSize: number;
  /** The process cache's byte budget (keys, values and bookkeeping). */
  processMaxBytes: number;
  /** An optional entry bound on the process cache besides the byte budget; null for none. */
  processMaxSize: number | null;
  cleanupIntervalMs: number;
  perAccountMaxEntries: number;
  entityTtlMs: number;
  usernameTtlMs: number;
  negativeTtlMs: number;
  leaseTimeoutMs: number;
  store: CacheStoreConfig;
}

export interface RuntimeConfig {
  /** Worker threads in the pool; 0 means one per core. */
  workers: number;
  perAccountConcurrency: number;
  /** Tasks one worker interleaves; account tasks mostly wait on Telegram. */
  tasksPerWorker: number;
  maxQueue: number;
  shutdownGraceMs: number;
  /** 0 means no limit. */
  taskTimeoutMs: number;
  /** How long an aborted task may go on before the runtime gives up on it, frees its account and revokes it. */
  abortGraceMs: number;
  maxWorkerMemoryMb: number;
  /** Worker crashes of one account's tasks within `quarantineWindowMs` that put it on a worker of its own; 0 never does. */
  quarantineCrashes: number;
  quarantineWindowMs: number;
  /** Accounts on workers of their own at most: each costs a thread. */
  maxQuarantined: number;
  /** A worker disconnects an account's client unused for this long; 0 never does. */
  clientIdleTimeoutMs: number;
  /** Connected clients a worker holds at most; past it, the least recently used idle one is disconnected. */
  maxClientsPerWorker: number;
}

export interface FloodConfig {
  onCooldown: 'wait' | 'fail';
  /** 0 means no limit of the runtime's own; Telegram's limits still apply. */
  resolvesPerMinute: number;
  /**
   * Times a task that ended in a FLOOD_WAIT is run again once the cooldown has passed. 0 by
   * default: only tasks that are safe to repeat (reads) should be retried.
   */
  retries: number;
}

export interface SimulatedTelegramConfig {
  seed: number;
  accounts: number;
  users: number;
  channels: number;
  latencyMs: number;
  /** Real seconds per simulated second: 0.01 runs the simulated world a hundred times faster. */
  timeScale: number;
  resolveLimitPerMinute: number;
}

export interface LoopbackTelegramConfig {
  /** Port of the in-process data centre; 0 picks a free one. */
  port: number;
  /** A `tgfleet dc` sessions file to join instead of running a data centre in this process; '' for none. */
  sessionsFile: string;
  faults: LoopbackFaultsConfig;
}

/** `telegram.loopback.faults`: what the loopback data centre does wrong from its start. */
export interface LoopbackFaultsConfig {
  dropAfterMessages: number;
  dropProbability: number;
  replyDelayMs: number;
  /** Accounts whose requests are read and never answered. */
  stalledAccounts: string[];
  /** Accounts answered SESSION_REVOKED or AUTH_KEY_UNREGISTERED. */
  revokedAccounts: Record<string, 'SESSION_REVOKED' | 'AUTH_KEY_UNREGISTERED'>;
  /** Between restarts of the data centre (every connection dropped, a new salt); 0 never. */
  restartEveryMs: number;
}

export interface TelegramConfig {
  mode: 'simulated' | 'live' | 'loopback';
  /** Longest wait for a connection or one call's answer on a live (or loopback) connection. */
  callTimeoutMs: number;
  /** host:port that live clients connect to instead of the session's data centre; '' for none. */
  dcAddress: string;
  simulated: SimulatedTelegramConfig;
  loopback: LoopbackTelegramConfig;
}

export interface AccountConfig {
  phone: string;
  apiId: number;
  apiHash?: string;
  apiHashEnv?: string;
  sessionEnv?: string;
  sessionFile?: string;
  /** The tenant the account belongs to; absent for the one default tenant. */
  tenant?: string;
}

export interface WorkloadConfig {
  task: string;
  seed: number;
  tasksPerAccount: number;
  peersPerTask: number;
  zipfExponent: number;
  publicPeers: number;
  privatePeersPerAccount: number;
  privateShare: number;
  /** Public usernames to draw from instead of the simulated world's (required for live accounts). */
  peers: string[];
}

export interface MetricsConfig {
  /** Path of the SQLite metrics file; empty turns the store off. */
  sqlite: string;
  /** 0 leaves the Prometheus endpoint off. */
  prometheusPort: number;
  prometheusHost: string;
}

/** Hosts sharing accounts through PostgreSQL (src/fleet/, docs/FLEET.md); durations in ms. */
export interface FleetHostsConfig {
  databaseUrl: string;
  /** Schema of the fleet's tables and its job queue; also the namespace of its advisory locks. */
  schema: string;
  shards: number;
  /** Empty: the host names itself from its hostname and pid. */
  hostId: string;
  heartbeatIntervalMs: number;
  /** X: a host that cannot confirm its lock for this long disconnects its accounts. */
  lockTimeoutMs: number;
  /** D: how long a host's accounts take at most to disconnect. */
  disconnectTimeoutMs: number;
  /** Y: a host whose heartbeat is older than this is declared dead and its session ended. */
  hostTimeoutMs: number;
  /** G: a new owner waits this long after taking a shard before it connects its accounts. */
  takeoverGraceMs: number;
  rebalanceIntervalMs: number;
  pollIntervalMs: number;
  maxInFlight: number;
  retryLimit: number;
}

export interface FleetConfig {
  cache: CacheConfig;
  runtime: RuntimeConfig;
  flood: FloodConfig;
  telegram: TelegramConfig;
  accounts: AccountConfig[];
  workload: WorkloadConfig;
  logging: { level: LogLevel };
  metrics: MetricsConfig;
  fleet: FleetHostsConfig;
}

/** A config file that could not be used; the message names every offending key, its value and what is allowed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(message);
  }
}

export interface LoadedConfig {
  config: FleetConfig;
  /** Keys the schema does not know (probably typos, so reported rather than ignored silently) and secrets written inline. */
  warnings: string[];
  source: string;
}

const ms = (secondsValue: number): number => secondsValue * 1000;
/** A phone as the data centre names its accounts: with the leading +, which the config may leave out. */
const internationalPhone = (phone: string): string => (phone.startsWith('+') ? phone : `+${phone}`);

function toAccount(account: LiveAccountConfig): AccountConfig {
  return {
    phone: account.phone,
    apiId: account.api_id,
    ...(account.api_hash !== undefined && { apiHash: account.api_hash }),
    ...(account.api_hash_env !== undefined && { apiHashEnv: account.api_hash_env }),
    ...(account.session_env !== undefined && { sessionEnv: account.session_env }),
    ...(account.session_file !== undefined && { sessionFile: account.session_file }),
    ...(account.tenant !== undefined && { tenant: account.tenant }),
  };
}

function toFleetConfig(raw: RawConfig): FleetConfig {
  const { cache, runtime, flood, telegram, workload, metrics, fleet } = raw;
  const sim = telegram.simulated;
  return {
    cache: {
      scope: cache.scope,
      policy: cache.policy,
      taskMaxSize: cache.task.max_size,
      processMaxBytes: cache.process.max_bytes,
      processMaxSize: cache.process.max_size,
      cleanupIntervalMs: ms(cache.process.cleanup_interval),
      perAccountMaxEntries: cache.per_account.max_entries,
      entityTtlMs: ms(cache.ttl.entity),
      usernameTtlMs: ms(cache.ttl.username),
      negativeTtlMs: ms(cache.ttl.negative),
      leaseTimeoutMs: ms(cache.lease_timeout),
      store: {
        driver: cache.store.driver,
        sqlitePath: cache.store.sqlite.path,
        postgresUrl: cache.store.postgres.url,
        postgresTable: cache.store.postgres.table,
        redisUrl: cache.store.redis.url,
        redisPrefix: cache.store.redis.prefix,
        writeIntervalMs: ms(cache.store.write_interval),
        maxQueue: cache.store.max_queue,
        maxAgeMs: ms(cache.store.max_age),
        maxEntries: cache.store.max_entries,
        cleanupIntervalMs: ms(cache.store.cleanup_interval),
      },
    },
    runtime: {
      workers: runtime.workers,
      perAccountConcurrency: runtime.per_account_concurrency,
      tasksPerWorker: runtime.tasks_per_worker,
      maxQueue: runtime.max_queue,
      shutdownGraceMs: ms(runtime.shutdown_grace),
      taskTimeoutMs: ms(runtime.task_timeout),
      abortGraceMs: ms(runtime.abort_grace),
      maxWorkerMemoryMb: runtime.max_worker_memory_mb,
      quarantineCrashes: runtime.quarantine_crashes,
      quarantineWindowMs: ms(runtime.quarantine_window),
      maxQuarantined: runtime.max_quarantined,
      clientIdleTimeoutMs: ms(runtime.client_idle_timeout),
      maxClientsPerWorker: runtime.max_clients_per_worker,
    },
    flood: { onCooldown: flood.on_cooldown, resolvesPerMinute: flood.resolves_per_minute, retries: flood.retries },
    telegram: {
      mode: telegram.mode,
      callTimeoutMs: ms(telegram.call_timeout),
      dcAddress: telegram.dc_address,
      loopback: {
        port: telegram.loopback.port,
        sessionsFile: telegram.loopback.sessions_file,
        faults: {
          dropAfterMessages: telegram.loopback.faults.drop_after_messages,
          dropProbability: telegram.loopback.faults.drop_probability,
          replyDelayMs: telegram.loopback.faults.reply_delay_ms,
          stalledAccounts: telegram.loopback.faults.stalled_accounts.map(internationalPhone),
          revokedAccounts: Object.fromEntries([
            ...telegram.loopback.faults.revoked_accounts.map((phone) => [internationalPhone(phone), 'SESSION_REVOKED'] as const),
            ...telegram.loopback.faults.unregistered_accounts.map((phone) => [internationalPhone(phone), 'AUTH_KEY_UNREGISTERED'] as const),
          ]),
          restartEveryMs: ms(telegram.loopback.faults.restart_every),
        },
      },
      simulated: {
        seed: sim.seed,
        accounts: sim.accounts,
        users: sim.users,
        channels: sim.channels,
        latencyMs: sim.latency_ms,
        timeScale: sim.time_scale,
        resolveLimitPerMinute: sim.resolve_limit_per_minute,
      },
    },
    accounts: raw.accounts.map(toAccount),
    workload: {
      task: workload.task,
      seed: workload.seed,
      tasksPerAccount: workload.tasks_per_account,
      peersPerTask: workload.peers_per_task,
      zipfExponent: workload.zipf_exponent,
      publicPeers: workload.public_peers,
      privatePeersPerAccount: workload.private_peers_per_account,
      privateShare: workload.private_share,
      peers: workload.peers.map((peer) => peer.replace(/^@/, '')),
    },
    logging: { level: raw.logging.level },
    metrics: { sqlite: metrics.sqlite, prometheusPort: metrics.prometheus_port, prometheusHost: metrics.prometheus_host },
    fleet: {
      databaseUrl: fleet.database_url,
      schema: fleet.schema,
      shards: fleet.shards,
      hostId: fleet.host_id,
      heartbeatIntervalMs: ms(fleet.heartbeat_interval),
      lockTimeoutMs: ms(fleet.lock_timeout),
      disconnectTimeoutMs: ms(fleet.disconnect_timeout),
      hostTimeoutMs: ms(fleet.host_timeout),
      takeoverGraceMs: ms(fleet.takeover_grace),
      rebalanceIntervalMs: ms(fleet.rebalance_interval),
      pollIntervalMs: ms(fleet.poll_interval),
      maxInFlight: fleet.max_in_flight,
      retryLimit: fleet.retry_limit,
    },
  };
}

function keyPath(path: readonly PropertyKey[]): string {
  return path.length === 0
    ? '(top level)'
    : path
        .map((part) => (typeof part === 'number' ? `[${part}]` : String(part)))
        .join('.')
        .replace(/\.\[/g, '[');
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

/** The object schema inside defaults, optionals and refinements, if there is one. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | null {
  let current: z.ZodType = schema;
  for (;;) {
    if (current instanceof z.ZodObject) return current.shape as Record<string, z.ZodType>;
    if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      return null;
    }
  }
}

function elementSchema(schema: z.ZodType): z.ZodType | null {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
    current = current.unwrap() as z.ZodType;
  }
  return current instanceof z.ZodArray ? (current.element as z.ZodType) : null;
}

/** Edit distance, to suggest the key a typo meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** Keys the schema does not know, each with the known key it most likely meant, if one is close. */
function unknownKeys(schema: z.ZodType, data: unknown, path: PropertyKey[] = []): string[] {
  if (data === null || typeof data !== 'object') return [];
  const element = elementSchema(schema);
  if (element !== null && Array.isArray(data)) {
    return data.flatMap((item, index) => unknownKeys(element, item, [...path, index]));
  }
  const shape = objectShape(schema);
  if (shape === null) return [];
  return Object.entries(data).flatMap(([key, value]) => {
    const child = shape[key];
    if (child !== undefined) return unknownKeys(child, value, [...path, key]);
    const closest = Object.keys(shape)
      .map((known) => ({ known, apart: distance(key, known) }))
      .sort((x, y) => x.apart - y.apart)[0];
    const hint = closest !== undefined && closest.apart <= 2 ? ` (did you mean ${keyPath([...path, closest.known])}?)` : '';
    return [`${keyPath([...path, key])}${hint}`];
  });
}

/**
 * YAML reads a section whose keys are all commented out (`cache:` followed only by comments) as
 * null. The operator gave nothing there, so the section takes its defaults like a missing one;
 * null for a single value stays an error, since that is more likely a value forgotten.
 */
function dropEmptySections(schema: z.ZodType, data: unknown): unknown {
  const shape = objectShape(schema);
  if (shape === null || data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  return Object.fromEntries(
    Object.entries(data).flatMap(([key, value]) => {
      const child = shape[key];
      if (child === undefined) return [[key, value]];
      if (value === null && (objectShape(child) !== null || elementSchema(child) !== null)) return [];
      return [[key, dropEmptySections(child, value)]];
    }),
  );
}

/** The value an error quotes back, with secrets (an inline api_hash) censored like in the logs. */
function shownValue(path: readonly PropertyKey[], given: unknown): string {
  if (given === undefined) return 'nothing';
  const last = path[path.length - 1];
  if (typeof last === 'string' && SECRET_FIELDS.has(last)) return '[redacted]';
  // A password written into a URL (fleet.database_url) is refused, and not quoted back either.
  const shown = JSON.stringify(redactSecrets(given));
  return shown.replace(/(:\/\/[^/@:"]*:)[^/@"]*@/g, '$1[redacted]@');
}

/** The schema of the key at a path, if the path leads to one. */
function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | null {
  let current: z.ZodType | null = schema;
  for (const part of path) {
    if (current === null) return null;
    current = typeof part === 'number' ? elementSchema(current) : (objectShape(current)?.[String(part)] ?? null);
  }
  return current;
}

function describeIssue(issue: z.core.$ZodIssue, data: unknown): string {
  const schema = schemaAt(configSchema, issue.path);
  const range = schema === null ? undefined : rangeOf(schema);
  const allowed = range === undefined ? '' : `; allowed: ${describeRange(range)}`;
  return `${keyPath(issue.path)}: ${issue.message}${allowed} (given: ${shownValue(issue.path, valueAt(data, issue.path))})`;
}

/**
 * An api_hash written into the file is readable by anyone who can read the file (and its
 * backups, and the repository it may be committed to); the warning names the key, never the value.
 */
function inlineSecretWarnings(raw: RawConfig, source: string): string[] {
  return raw.accounts.flatMap((account, index) =>
    account.api_hash === undefined ? [] : [`accounts[${index}].api_hash is written inline in ${source}: anyone who can read the file can use the application; prefer api_hash_env`],
  );
}

/**
 * Validates already-parsed YAML (or any plain object) against the schema.
 * `source` names where the data came from, for the error message.
 */
export function parseConfig(data: unknown, source = '(inline)'): LoadedConfig {
  const input = dropEmptySections(configSchema, data ?? {});
  const result = configSchema.safeParse(input);
  const unknown = unknownKeys(configSchema, input);
  if (!result.success) {
    // Unknown keys are listed too: a typo often explains a value that seems to be missing.
    const lines = [...result.error.issues.map((issue) => describeIssue(issue, input)), ...unknown.map((key) => `unknown key ${key}`)];
    throw new ConfigError(`invalid configuration in ${source}:\n${lines.map((line) => `  - ${line}`).join('\n')}`, source);
  }
  const warnings = [...unknown.map((key) => `unknown key ${key} in ${source} is ignored`), ...inlineSecretWarnings(result.data, source)];
  return { config: toFleetConfig(result.data), warnings, source };
}

/** The `cache:` section as config.yaml holds it: snake_case keys, any of them left out. */
export type CacheSection = NonNullable<z.input<typeof configSchema>['cache']>;

/**
 * Validates a `cache:` section on its own: keys left out take the loader's defaults, a bad value
 * gets the loader's message. An unknown key is an error here rather than a warning, since in code
 * it is a typo that would leave a default in place unnoticed.
 */
export function parseCacheSection(section: unknown, source = '(inline)'): CacheConfig {
  const data = { cache: section ?? {} };
  const { config } = parseConfig(data, source);
  const unknown = unknownKeys(configSchema, dropEmptySections(configSchema, data));
  if (unknown.length > 0) throw new ConfigError(`invalid configuration in ${source}:\n${unknown.map((key) => `  - unknown key ${key}`).join('\n')}`, source);
  return config.cache;
}

/** Which file to read: the given path, else the environment variable, else ./config.yaml. */
export function configPath(path?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(path ?? env[CONFIG_ENV] ?? DEFAULT_CONFIG_PATH);
}

/**
 * Reads and validates a config file. A missing file is an error only when a path was asked for
 * explicitly (argument or environment); otherwise the defaults apply.
 */
export function loadConfig(path?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const explicit = path !== undefined || env[CONFIG_ENV] !== undefined;
  const file = configPath(path, env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (!explicit && (error as NodeJS.ErrnoException).code === 'ENOENT') return parseConfig({}, '(defaults)');
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`, file);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`, file);
  }
  if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data))) {
    throw new ConfigError(`config file ${file} must hold a mapping of keys (cache:, runtime:, …), got ${Array.isArray(data) ? 'a list' : typeof data}`, file);
  }
  return parseConfig(data, file);
}

/** The defaults, as an empty config file would give them. */
export function defaultConfig(): FleetConfig {
  return parseConfig({}).config;
}
