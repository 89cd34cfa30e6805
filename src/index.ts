import './runtime/quiet-web-storage.js';
export {
  TelegramCache,
  TelegramCacheScope,
  type TelegramCacheOptions,
  type TelegramCacheStats,
  type AccountCacheStats,
  type CacheCounters,
  type EvictionCounts,
  type EvictionReason,
  type Clock,
} from './cache/telegram-cache.js';
export {
  TelegramCacheRegistry,
  getCacheRegistry,
  resetCacheRegistry,
  type TelegramCacheRegistryOptions,
  type TelegramCacheRegistryConfig,
} from './cache/registry.js';
export {
  loadConfig,
  parseConfig,
  parseCacheSection,
  defaultConfig,
  configPath,
  ConfigError,
  CONFIG_ENV,
  type FleetConfig,
  type CacheConfig,
  type CacheSection,
  type RuntimeConfig,
  type FloodConfig,
  type TelegramConfig,
  type SimulatedTelegramConfig,
  type AccountConfig,
  type WorkloadConfig,
  type MetricsConfig,
  type FleetHostsConfig,
  type LoadedConfig,
} from './config/config.js';
export { createLogger, silentLogger, redactSecrets, SECRET_FIELDS, type Logger, type CacheLogger, type LogLevel } from './telemetry/logger.js';
export { FleetRuntime, type FleetRuntimeOptions, type RunOptions } from './runtime/fleet-runtime.js';
export { Scheduler } from './runtime/scheduler.js';
export { FloodCooldownError, QueueFullError, RuntimeClosedError, TaskModuleError, TaskRevokedError, WorkerCrashedError } from './task-errors.js';
export {
  Reporter,
  type ReporterEvents,
  type ReporterEventName,
  type TaskStartEvent,
  type TaskEndEvent,
  type TaskErrorEvent,
  type CacheStatsEvent,
  type EvictionEvent,
  type FloodCooldownEvent,
  type ListenerErrorEvent,
} from './telemetry/reporter.js';
export { RemoteTaskError, type SerializedError } from './channel/remote-error.js';
export type { AccountCacheApi, CacheWrite, LookupResult } from './channel/protocol.js';
export type { AccountCache } from './channel/channel-client.js';
export { defineTask, type TaskContext, type TaskFunction } from './worker/task-context.js';
export { SimulatedTelegram, type SimulatedTelegramOptions } from './telegram/simulated/simulated-telegram.js';
export { createWorld, type World, type WorldOptions } from './telegram/simulated/world.js';
export { createSimulatedClient, installSimulatedSender } from './telegram/simulated/simulated-sender.js';
export { generateWorkload, zipfSampler, workingSetSize, type WorkloadTask, type PeerUniverse } from './workload/workload.js';
export { runWorkload, type JobResult, type JobProgress } from './workload/fleet-job.js';
export { CachedTelegramClient, type TaskClient, type EntityTtls } from './telegram/cached-client.js';
export { initStandaloneCache } from './runtime/standalone-cache.js';
