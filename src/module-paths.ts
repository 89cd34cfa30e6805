import { TaskModuleError } from './task-errors.js';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/*
 * The worker and the example tasks always run compiled, from dist/: on Node 20 no TypeScript
 * loader reaches worker threads on its own (tsx's hooks do not, nor does vitest's). Main-thread
 * code may run from sources (tests) or from dist/. A host's own task module may be TypeScript:
 * importTaskModule gives each thread the loader it needs.
 */
const fromSource = import.meta.url.endsWith('.ts');
const distRoot = new URL(fromSource ? '../dist/' : '../', import.meta.url);

/** A module of dist/, by its path there: what a worker thread is started from. */
export function compiled(relative: string): URL {
  const url = new URL(relative, distRoot);
  if (!existsSync(url)) {
    throw new Error(`${fileURLToPath(url)} is missing: run \`npm run build\` first (workers run the compiled code)`);
  }
  return url;
}

export function workerEntry(): { filename: string } {
  return { filename: fileURLToPath(compiled('workers/account-worker.js')) };
}

/** The names of the example tasks shipped in tasks/. */
export const EXAMPLE_TASKS = ['channel-digest', 'join-and-react', 'resolve-contacts', 'noop'] as const;

/** Resolved once each: `run` is called per task and the files do not move. */
const exampleTaskUrls = new Map<string, string>();

/**
 * Where a task module is: an example task's name, a file: URL, or a path (relative to the
 * working directory). The answer is a file: URL a worker can import.
 */
export function resolveTaskModule(task: string): string {
  if ((EXAMPLE_TASKS as readonly string[]).includes(task)) {
    let url = exampleTaskUrls.get(task);
    if (url === undefined) {
      url = compiled(`tasks/${task}.js`).href;
      exampleTaskUrls.set(task, url);
    }
    return url;
  }
  const path = task.startsWith('file:') ? fileURLToPath(task) : isAbsolute(task) ? task : resolve(task);
  if (!existsSync(path)) {
    throw new TaskModuleError(`task module ${task} not found: give an example task (${EXAMPLE_TASKS.join(', ')}), a path to a JavaScript or TypeScript module or a file: URL`);
  }
  if (TYPESCRIPT.test(path) && !nodeStripsTypes() && !tsxInstalled()) throw noTypeScriptLoader(task);
  return pathToFileURL(path).href;
}

const TYPESCRIPT = /\.[cm]?ts$/;

/** Node strips types itself from 22.18 and 23.6 on, and from 22.6 under --experimental-strip-types; its worker threads do too. */
function nodeStripsTypes(): boolean {
  return Boolean((process.features as { typescript?: string | false }).typescript);
}

const requireHere = createRequire(import.meta.url);

/** tsx is an optional peer: a host on a Node that strips types needs nothing more, so it is not a dependency. */
function tsxInstalled(): boolean {
  try {
    requireHere.resolve('tsx/esm/api');
    return true;
  } catch {
    return false;
  }
}

function noTypeScriptLoader(task: string): TaskModuleError {
  return new TaskModuleError(
    `task module ${task} is TypeScript, which Node ${process.version} does not run by itself: install tsx beside tgfleet (npm install tsx), run Node 22.18+ or 23.6+, or compile the task to JavaScript`,
  );
}

let tsxRegistered: Promise<void> | undefined;

/**
 * Imports a task module in this thread. Where Node cannot strip types, tsx's hooks are registered
 * first, once per thread: hooks registered on the main thread do not reach worker threads.
 */
export async function importTaskModule(url: string): Promise<{ default?: unknown }> {
  if (TYPESCRIPT.test(url) && !nodeStripsTypes()) {
    tsxRegistered ??= import('tsx/esm/api').then(
      ({ register }) => void register(),
      () => {
        tsxRegistered = undefined;
        throw noTypeScriptLoader(url);
      },
    );
    await tsxRegistered;
  }
  return (await import(url)) as { default?: unknown };
}

/**
 * Loads a task module the way a worker will and checks its default export, so `config check`
 * reports a module that would fail every task before any task is run.
 */
export async function checkTaskModule(task: string): Promise<string> {
  const url = resolveTaskModule(task);
  let module: { default?: unknown };
  try {
    module = await importTaskModule(url);
  } catch (error) {
    if (error instanceof TaskModuleError) throw error;
    throw new TaskModuleError(`task module ${task} cannot be loaded: ${(error as Error).message}`);
  }
  if (typeof module.default !== 'function') throw new TaskModuleError(`task module ${task} has no function as its default export`);
  return url;
}
