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

function compiled(relative: string): URL {
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
  if (/\.[cm]?ts$/.test(path)) {
    throw new Error(`task module ${task} is TypeScript: workers import JavaScript, so compile it first (example tasks: ${EXAMPLE_TASKS.join(', ')})`);
  }
  if (!existsSync(path)) {
    throw new Error(`task module ${task} not found: give an example task (${EXAMPLE_TASKS.join(', ')}), a path to a JavaScript module or a file: URL`);
  }
  return pathToFileURL(path).href;
}
