import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/*
 * Worker threads always run compiled JavaScript from dist/: on Node 20 no TypeScript loader
 * reaches worker threads (tsx's hooks do not, nor does vitest's). Main-thread code may run from
 * sources (tests) or from dist/; either way the worker and the example tasks come from dist/.
 */
const fromSource = import.meta.url.endsWith('.ts');
const distRoot = new URL(fromSource ? '../../dist/' : '../../', import.meta.url);

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

/** A task module that cannot run: not found, not loadable, or without a function as its default export. */
export class TaskModuleError extends Error {
  override readonly name = 'TaskModuleError';
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
  if (/\.[cm]?ts$/.test(path)) {
    throw new TaskModuleError(`task module ${task} is TypeScript: workers import JavaScript, so compile it first (example tasks: ${EXAMPLE_TASKS.join(', ')})`);
  }
  if (!existsSync(path)) {
    throw new TaskModuleError(`task module ${task} not found: give an example task (${EXAMPLE_TASKS.join(', ')}), a path to a JavaScript module or a file: URL`);
  }
  return pathToFileURL(path).href;
}

/**
 * Loads a task module the way a worker will and checks its default export, so `config check`
 * reports a module that would fail every task before any task is run.
 */
export async function checkTaskModule(task: string): Promise<string> {
  const url = resolveTaskModule(task);
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new TaskModuleError(`task module ${task} cannot be loaded: ${(error as Error).message}`);
  }
  if (typeof module.default !== 'function') throw new TaskModuleError(`task module ${task} has no function as its default export`);
  return url;
}
