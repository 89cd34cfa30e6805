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
} from './cache/registry.js';
export {
  loadConfig,
  parseConfig,
  defaultConfig,
  configPath,
  ConfigError,
  CONFIG_ENV,
  type FleetConfig,
  type CacheConfig,
  type RuntimeConfig,
  type FloodConfig,
  type TelegramConfig,
  type SimulatedTelegramConfig,
  type AccountConfig,
  type WorkloadConfig,
  type MetricsConfig,
  type LoadedConfig,
} from './config/config.js';
export { createLogger, silentLogger, REDACTED_PATHS, type Logger, type CacheLogger, type LogLevel } from './telemetry/logger.js';
