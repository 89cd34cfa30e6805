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
}

/** An error that happened in a worker, rebuilt on the main thread with what identified it there. */
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
 * `stack: false` for what the main thread sends a worker: its stack frames name the main
 * thread's files and code paths, which are none of a task's business.
 */
export function serializeError(error: unknown, options: { stack?: boolean } = {}): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const source = error as Error & { code?: unknown; errorMessage?: unknown; seconds?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(error.stack !== undefined && options.stack !== false && { stack: error.stack }),
    ...((typeof source.code === 'number' || typeof source.code === 'string') && { code: source.code }),
    ...(typeof source.errorMessage === 'string' && { errorMessage: source.errorMessage }),
    ...(typeof source.seconds === 'number' && { seconds: source.seconds }),
  };
}
