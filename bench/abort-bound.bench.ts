/*
 * `npm run build && node dist/bench/abort-bound.bench.js [runs]`: how long a task that ignores its
 * abort holds its caller, and how long a CPU-bound task holds another account's task on its
 * worker, with runtime.abort_grace at its default (1 s) and timeoutMs 1000. Both should stay near
 * 1 s + the grace. Prints min/median/max over the runs (3 by default) and the load average.
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../src/config/config.js';
import { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import type { CpuLoopArgs } from './abort-tasks/cpu-loop.js';

const task = (name: string): string => fileURLToPath(new URL(`./abort-tasks/${name}.js`, import.meta.url));
const runs = Number(process.argv[2] ?? 3);

function summary(label: string, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  return `${label}: min ${Math.round(sorted[0] as number)} ms, median ${Math.round(median)} ms, max ${Math.round(sorted.at(-1) as number)} ms (${values.length} runs)`;
}

const config = defaultConfig();
config.logging.level = 'silent';
config.runtime.workers = 2;
config.telegram.simulated.accounts = 3 * runs + 3;
const runtime = await FleetRuntime.start({ config });
const accounts = [...runtime.accounts];
const hung: number[] = [];
const held: number[] = [];
try {
  for (let run = 0; run < runs; run++) {
    const account = accounts.shift() as string;
    const started = performance.now();
    await runtime.run({ account, task: task('hangs'), timeoutMs: 1000 }).catch(() => undefined);
    hung.push(performance.now() - started);
    await runtime.run({ account, task: task('which-thread') });
  }
  for (let run = 0; run < runs; run++) {
    // Three fresh accounts over two workers: two of them share one.
    const trio = accounts.splice(0, 3);
    const threads = await Promise.all(trio.map((account) => runtime.run<number>({ account, task: task('which-thread') })));
    const shared = threads.find((thread, index) => threads.indexOf(thread) !== index);
    const [spinner, bystander] = trio.filter((_, index) => threads[index] === shared) as [string, string];
    const announce = `cpu-loop-${spinner}`;
    const channel = new BroadcastChannel(announce);
    const spinning = new Promise<void>((resolve) => {
      channel.onmessage = () => resolve();
    });
    const spin = runtime.run<number, CpuLoopArgs>({ account: spinner, task: task('cpu-loop'), args: { announce }, timeoutMs: 1000 }).catch(() => undefined);
    await spinning;
    channel.close();
    const submitted = performance.now();
    await runtime.run({ account: bystander, task: task('which-thread') });
    held.push(performance.now() - submitted);
    await spin;
  }
} finally {
  await runtime.shutdown();
}
console.log(summary('hung task, timeoutMs 1000: caller settled after', hung));
console.log(summary('30 s CPU loop, timeoutMs 1000: another account’s task on its worker done after', held));
console.log(
  `load average ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')}`,
);
