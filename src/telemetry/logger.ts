import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type prettyFactory from 'pino-pretty';

/** pino-pretty loads only for a logger that asks for it: worker threads and JSON logs never pay for it. */
function prettyStream(): ReturnType<typeof prettyFactory> {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof prettyFactory;
  return pretty({ destination: 2, sync: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname,name' });
}

export type { Logger };

/** The slice of a logger the cache needs, so a standalone cache can take any pino child or none. */
export type CacheLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Secrets that may sit in objects handed to a log call: a session string grants full access to
 * an account, an api_hash identifies the application, a phone code completes a login. They are
 * censored under these keys at any depth, in arrays, errors and child-logger bindings too, since
 * a whole config or account list may be logged by mistake. (`code` is not among them: it is how
 * Telegram and Node name their errors.)
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['session', 'sessionString', 'session_string', 'apiHash', 'api_hash', 'phoneCode', 'phone_code', 'password']);
const CENSOR = '[redacted]';
/** Deeper than this, a value is replaced whole: a log line is no place for such a structure. */
const MAX_DEPTH = 8;

function redact(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  // An error's own properties are logged too; the standard serializer turns it into plain data first.
  if (value instanceof Error) return redact(pino.stdSerializers.err(value), depth);
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (ArrayBuffer.isView(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = SECRET_FIELDS.has(key) ? CENSOR : redact(field, depth + 1);
  return copy;
}

/** A copy of a value with every secret field censored; what the logger applies to each line and binding. */
export function redactSecrets<T>(value: T): T {
  return redact(value, 0) as T;
}

/**
 * pino's formatters never see child-logger bindings, so `child` censors them before pino does;
 * children inherit this `child` through their prototype, so a child's child is covered too.
 */
function censorChildBindings(logger: Logger): Logger {
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger['child'];
  return logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  name?: string;
  /** Where lines go; standard error by default so a command's own output stays clean. */
  destination?: pino.DestinationStream;
  /** Short coloured lines for a person at a terminal instead of JSON for a log shipper. */
  pretty?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      name: options.name ?? 'tgfleet',
      level: options.level ?? 'info',
      formatters: { log: redactSecrets },
    },
    options.destination ?? (options.pretty ? prettyStream() : pino.destination({ fd: 2, sync: false })),
  );
  return censorChildBindings(logger);
}

/** A logger that writes nothing, for embedders and tests that did not ask for logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
