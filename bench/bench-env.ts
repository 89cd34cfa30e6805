import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * What every benchmark entry point needs besides timing: whether it was started directly, whether
 * it should run briefly, and where the repository is. Kept apart from the mitata harness so that
 * `tgfleet bench` runs with the package's runtime dependencies alone.
 */

export function quickFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['BENCH_QUICK'] === '1';
}

/** The repository root, found from this module's location whether it runs from bench/ or dist/bench/. */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root (no package.json above the bench harness)');
    dir = parent;
  }
  return dir;
}

/** Whether the module with this `import.meta.url` was started directly (`tsx bench/x.ts`, `node dist/bench/x.js`) rather than imported. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(resolve(entry)) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    // An entry that is not a file (`node -e`, a REPL) cannot be this module.
    return false;
  }
}
