import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** The slice of a logger the cache needs, so a standalone cache can take any pino child or none. */
export type CacheLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Secrets that may sit in objects handed to a log call: a session string grants full access to
 * an account, an api_hash identifies the application, a phone code completes a login. They are
 * censored wherever they appear, at the top level or one or two levels down.
 */
const SECRET_FIELDS = ['session', 'sessionString', 'session_string', 'apiHash', 'api_hash', 'phoneCode', 'phone_code', 'code', 'password'];
export const REDACTED_PATHS = SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);

export interface LoggerOptions {
  level?: LogLevel;
  name?: string;
  /** Where lines go; standard error by default so a command's own output stays clean. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: options.name ?? 'tgfleet',
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that writes nothing, for embedders and tests that did not ask for logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
