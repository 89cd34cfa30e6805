import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: where `tgfleet` finds its default config.yaml and the built package. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export interface CliOutcome {
  /** The exit code, or -1 when the process ended by a signal (its own or the kill after `timeoutMs`). */
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Where the command runs; a folder without config.yaml shows what it does with no default file. */
  cwd?: string;
  /**
   * A backstop against a command that never ends, which a test's own timeout cannot kill. Far
   * above what any command takes, so that a loaded machine never reaches it.
   */
  timeoutMs?: number;
}

/**
 * The built `tgfleet` command, run as a shell user would: a process of its own, no terminal. Each
 * call of the returned function is one command line.
 */
export function tgfleetCommand(options: CliOptions = {}): (...args: string[]) => Promise<CliOutcome> {
  return (...args) =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { cwd: options.cwd ?? ROOT, timeout: options.timeoutMs ?? 120_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      });
    });
}
