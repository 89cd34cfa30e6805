import { knownClass, knownKind } from './error-registry.js';

/**
 * Errors cross threads as plain data: structured clone keeps only an Error's message and (for
 * built-in types) its name, but a caller needs a Telegram error's name, code and wait time.
 */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** Telegram's numeric error code (400, 420, …) or a Node error code. */
  code?: number | string;
  /** Telegram's error text, such as CHANNEL_PRIVATE or FLOOD_WAIT_X. */
  errorMessage?: string;
  /** The wait of a FLOOD_WAIT, in seconds. */
  seconds?: number;
  /** The registered class to rebuild it as (src/channel/error-registry.ts); absent for any other error. */
  kind?: string;
  /** The error's own plain fields (collateral, account, method, timeoutMs…), which its class rebuilds with. */
  fields?: Record<string, string | number | boolean>;
}

/** Fields an error carries at most: what identifies it, not whatever a task hung on it. */
const MAX_FIELDS = 16;

/** Absolute file paths and file: URLs: where the main thread's files are is none of a worker's business. */
const PATH = /(?:file:\/\/)?(?<![\w.])(?:\/[\w.@+-]+){2,}|\b[A-Za-z]:\\[^\s'"]+/g;

function withoutPaths(text: string): string {
  return text.replace(PATH, '<path>');
}

/**
 * An error of a class the other thread does not share (a task's own, a DOMException), rebuilt with
 * what identified it there: its name, message and Telegram fields.
 */
export class RemoteTaskError extends Error {
  declare code?: number | string;
  declare errorMessage?: string;
  declare seconds?: number;

  constructor(serialized: SerializedError) {
    super(serialized.message);
    this.name = serialized.name;
    if (serialized.stack !== undefined) this.stack = serialized.stack;
    if (serialized.code !== undefined) this.code = serialized.code;
    if (serialized.errorMessage !== undefined) this.errorMessage = serialized.errorMessage;
    if (serialized.seconds !== undefined) this.seconds = serialized.seconds;
  }
}

/**
 * `stack: false` for what the main thread sends a worker: its stack frames and the file paths in
 * its messages name the main thread's files and code paths, which are none of a task's business.
 */
export function serializeError(error: unknown, options: { stack?: boolean } = {}): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const toWorker = options.stack === false;
  const text = (value: string): string => (toWorker ? withoutPaths(value) : value);
  const source = error as Error & { code?: unknown; errorMessage?: unknown; seconds?: unknown };
  const kind = knownKind(error);
  const fields: Record<string, string | number | boolean> = {};
  if (kind !== undefined) {
    for (const [field, value] of Object.entries(error).slice(0, MAX_FIELDS)) {
      if (field === 'name' || field === 'message' || field === 'stack') continue;
      if (typeof value === 'number' || typeof value === 'boolean') fields[field] = value;
      else if (typeof value === 'string') fields[field] = text(value);
    }
  }
  return {
    name: error.name,
    message: text(error.message),
    ...(error.stack !== undefined && !toWorker && { stack: error.stack }),
    ...((typeof source.code === 'number' || typeof source.code === 'string') && { code: source.code }),
    ...(typeof source.errorMessage === 'string' && { errorMessage: source.errorMessage }),
    ...(typeof source.seconds === 'number' && { seconds: source.seconds }),
    ...(kind !== undefined && { kind, fields }),
  };
}

/**
 * The error as the other thread threw it: an instance of its registered class, with its fields,
 * built without its constructor (whose arguments, such as a GramJS request, did not cross); a
 * {@link RemoteTaskError} for any other class. Its stack is the thrower's when it came along, else
 * only its first line.
 */
export function reviveError(serialized: SerializedError): Error {
  const known = serialized.kind === undefined ? undefined : knownClass(serialized.kind);
  if (known === undefined) return new RemoteTaskError(serialized);
  const error = Object.create(known.prototype as object) as Error;
  const own = (field: string, value: unknown): void => {
    Object.defineProperty(error, field, { value, writable: true, configurable: true, enumerable: field !== 'message' && field !== 'stack' });
  };
  own('name', serialized.name);
  own('message', serialized.message);
  own('stack', serialized.stack ?? `${serialized.name}: ${serialized.message}`);
  if (serialized.code !== undefined) own('code', serialized.code);
  if (serialized.errorMessage !== undefined) own('errorMessage', serialized.errorMessage);
  if (serialized.seconds !== undefined) own('seconds', serialized.seconds);
  for (const [field, value] of Object.entries(serialized.fields ?? {})) own(field, value);
  return error;
}
