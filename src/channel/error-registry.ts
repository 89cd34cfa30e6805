/**
 * The error classes both ends of a worker's link know, so an error that crosses threads is rebuilt
 * as its own class: a host's `instanceof errors.FloodWaitError` (or `WorkerCrashedError`) works
 * on what a task threw, and a task's on what the main thread refused it with. Structured clone
 * alone would turn them all into plain Errors.
 */
import { errors } from 'telegram';
import { TaskModuleError } from '../task-errors.js';
import { FloodCooldownError, QueueFullError, RuntimeClosedError } from '../task-errors.js';
import { AuthKeyDuplicatedError, SessionRevokedError, TelegramCallTimeoutError, TelegramUnreachableError } from '../telegram/live/session-errors.js';
import { TransportClosedError } from '../telegram/simulated/transport.js';
import { TaskRevokedError, WorkerCrashedError } from '../task-errors.js';

type ErrorClass = abstract new (...args: never[]) => Error;

function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === 'function' && value.prototype instanceof Error;
}

/** GramJS's RPCError and its subclasses (FloodWaitError, …) and its transport errors, as GramJS exports them. */
const gramjs = (Object.entries(errors) as [string, unknown][]).filter((entry): entry is [string, ErrorClass] => isErrorClass(entry[1]));

const tgfleet = Object.entries<ErrorClass>({
  TaskRevokedError,
  WorkerCrashedError,
  RuntimeClosedError,
  QueueFullError,
  FloodCooldownError,
  TaskModuleError,
  SessionRevokedError,
  AuthKeyDuplicatedError,
  TelegramCallTimeoutError,
  TelegramUnreachableError,
  TransportClosedError,
});

const classes = new Map<string, ErrorClass>([...gramjs, ...tgfleet]);
const kinds = new Map<object, string>([...classes].map(([kind, known]) => [known.prototype, kind]));

/**
 * The registered class an error is, or derives from (a task's own subclass of RPCError is rebuilt
 * as an RPCError that keeps its name); undefined for any other error.
 */
export function knownKind(error: Error): string | undefined {
  for (let prototype = Object.getPrototypeOf(error) as object | null; prototype !== null && prototype !== Error.prototype; prototype = Object.getPrototypeOf(prototype) as object | null) {
    const kind = kinds.get(prototype);
    if (kind !== undefined) return kind;
  }
  return undefined;
}

export function knownClass(kind: string): ErrorClass | undefined {
  return classes.get(kind);
}
