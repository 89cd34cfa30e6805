import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { FLEET_DATABASE_URL, fleetDatabaseProblem } from './helpers/fleet.js';

const problem = await fleetDatabaseProblem();
if (problem !== null) console.warn(`fleet benchmark smoke test skipped: ${problem}`);

const root = fileURLToPath(new URL('..', import.meta.url));
const FINAL_LINE = /^hosts (\d+), tasks (\d+), lost (\d+), completed twice (\d+), order violations (\d+), double connections (\d+), failover max ([\d.]+) s, hit rate after move (\S+)%$/m;

/** Runs the failover benchmark small (BENCH_QUICK=1), as `npm run bench:fleet` would, and returns what it printed. */
function quickFleetBench(): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'dist', 'bench', 'fleet.bench.js')], {
      cwd: root,
      env: { ...process.env, BENCH_QUICK: '1', TGFLEET_BENCH_DATABASE_URL: FLEET_DATABASE_URL },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.once('exit', (code) => resolve({ code, stdout }));
  });
}

// The invariants only: the figures of a quick run on a loaded machine say nothing.
test.skipIf(problem !== null)(
  'bench:fleet, run small, loses no task, completes none twice, keeps every order, and its data centre saw no double connection',
  async () => {
    const { code, stdout } = await quickFleetBench();
    expect(code, stdout).toBe(0);
    const final = FINAL_LINE.exec(stdout);
    expect(final, stdout).not.toBeNull();
    const [, hosts, tasks, lost, twice, order, doubles] = final!.map(Number);
    expect(hosts).toBe(4);
    expect(tasks).toBeGreaterThan(0);
    expect({ lost, twice, order, doubles }).toEqual({ lost: 0, twice: 0, order: 0, doubles: 0 });
    // Counted by the data centre the hosts dialled, which also closed the frozen host's connections for want of its pings.
    expect(stdout).toMatch(/data centre: .*, [1-9]\d* closed for want of pings/);
  },
  240_000,
);
