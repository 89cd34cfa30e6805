/*
 * The loopback data centre's costs: what one open client connection costs the data centre in
 * memory and file descriptors, with 1000 accounts connected at once to one `tgfleet dc` process;
 * and what a call through GramJS's real network stack (TCP, MTProto 2.0 encryption, acks) costs
 * against the same call through the sender seam the simulated mode uses.
 *
 *   npm run build && node dist/bench/loopback-dc.bench.js        (BENCH_QUICK=1: fewer of each)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MessageChannel } from 'node:worker_threads';
import { Api, type TelegramClient } from 'telegram';
import type { DcStarted } from '../src/cli/dc-command.js';
import { LOOPBACK_API_HASH, LOOPBACK_API_ID } from '../src/runtime/loopback-accounts.js';
import { connectLiveClient } from '../src/telegram/live/live-client.js';
import { readSessionsFile } from '../src/telegram/loopback/issued-sessions.js';
import { LoopbackDc } from '../src/telegram/loopback/loopback-dc.js';
import { createSimulatedClient } from '../src/telegram/simulated/simulated-sender.js';
import { SimulatedTelegram } from '../src/telegram/simulated/simulated-telegram.js';
import { portTransport } from '../src/telegram/simulated/transport.js';
import { createWorld } from '../src/telegram/simulated/world.js';
import { isMain, quickFromEnv, repositoryRoot } from './bench-env.js';

const quick = quickFromEnv();
const CONNECTIONS = quick ? 100 : 1000;
const CONNECT_BATCH = 100;
const REPETITIONS = 3;
const CALLS = quick ? 200 : 2000;
const CALL_RUNS = quick ? 3 : 5;
const CALL_TIMEOUT_MS = 60_000;

interface Spread {
  min: number;
  median: number;
  max: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]!, max: sorted[sorted.length - 1]! };
}

function format({ min, median, max }: Spread, digits = 1): string {
  return `${min.toFixed(digits)} / ${median.toFixed(digits)} / ${max.toFixed(digits)}`;
}

/** Resident memory (bytes) and open file descriptors of another process, from /proc. */
function processFootprint(pid: number): { rss: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return { rss: rssKb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function openConnections(statusUrl: string): Promise<number> {
  return ((await (await fetch(statusUrl)).json()) as { openConnections: number }).openConnections;
}

interface ConnectionRun {
  rssPerConnection: number;
  fdsPerConnection: number;
  clientHeapPerClient: number;
  connectSeconds: number;
}

/** 1000 accounts connected at once to one data-centre process: its memory and descriptors per connection. */
async function connectionFootprint(): Promise<ConnectionRun[]> {
  const sessions = join(mkdtempSync(join(tmpdir(), 'tgfleet-bench-dc-')), 'sessions.json');
  const child = spawn(process.execPath, [join(repositoryRoot(), 'dist', 'src', 'cli', 'main.js'), 'dc', '--port', '0', '--accounts', String(CONNECTIONS), '--sessions', sessions], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const started = await new Promise<DcStarted>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as DcStarted));
      child.once('exit', (code) => reject(new Error(`tgfleet dc exited with ${code}`)));
    });
    const file = await readSessionsFile(sessions);
    const runs: ConnectionRun[] = [];
    for (let repetition = 0; repetition < REPETITIONS; repetition++) {
      const before = processFootprint(child.pid!);
      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      const connectStart = performance.now();
      const clients: TelegramClient[] = [];
      for (let index = 0; index < file.accounts.length; index += CONNECT_BATCH) {
        const batch = file.accounts.slice(index, index + CONNECT_BATCH);
        clients.push(
          ...(await Promise.all(
            batch.map(({ phone, session }) =>
              connectLiveClient(
                { phone, apiId: LOOPBACK_API_ID, apiHash: LOOPBACK_API_HASH, session },
                { dcAddress: { host: file.host, port: file.port }, callTimeoutMs: CALL_TIMEOUT_MS, onBroken: () => {} },
              ),
            ),
          )),
        );
      }
      const connectSeconds = (performance.now() - connectStart) / 1000;
      const open = await openConnections(started.status);
      if (open !== CONNECTIONS) throw new Error(`the data centre sees ${open} open connections, not ${CONNECTIONS}`);
      const after = processFootprint(child.pid!);
      global.gc?.();
      const heapAfter = process.memoryUsage().heapUsed;
      runs.push({
        rssPerConnection: (after.rss - before.rss) / CONNECTIONS,
        fdsPerConnection: (after.fds - before.fds) / CONNECTIONS,
        clientHeapPerClient: (heapAfter - heapBefore) / CONNECTIONS,
        connectSeconds,
      });
      await Promise.all(clients.map((client) => client.destroy()));
      while ((await openConnections(started.status)) > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return runs;
  } finally {
    child.kill('SIGTERM');
  }
}

async function timeCalls(client: TelegramClient, calls: number): Promise<number> {
  const start = performance.now();
  for (let call = 0; call < calls; call++) await client.invoke(new Api.updates.GetState());
  return ((performance.now() - start) * 1000) / calls;
}

/** µs per sequential call: GramJS through the sender seam, and through its network stack to the data centre, same world, no latency. */
async function callCost(): Promise<{ seam: number[]; network: number[] }> {
  const simulator = new SimulatedTelegram(createWorld({ seed: 42 }), { latencyMs: 0 });
  const account = '+15550000001';
  const { port1, port2 } = new MessageChannel();
  simulator.serve(account, port1);
  const seam = await createSimulatedClient(portTransport(port2));
  const dc = await new LoopbackDc(simulator).start();
  const [issued] = await dc.provision([account]);
  const network = await connectLiveClient(
    { phone: account, apiId: LOOPBACK_API_ID, apiHash: LOOPBACK_API_HASH, session: issued!.session },
    { dcAddress: dc.address, callTimeoutMs: CALL_TIMEOUT_MS, onBroken: () => {} },
  );
  try {
    await timeCalls(seam, CALLS / 10);
    await timeCalls(network, CALLS / 10);
    const result = { seam: [] as number[], network: [] as number[] };
    for (let run = 0; run < CALL_RUNS; run++) {
      result.seam.push(await timeCalls(seam, CALLS));
      result.network.push(await timeCalls(network, CALLS));
    }
    if (dc.counters.duplicateAuthKeys !== 0) throw new Error('AUTH_KEY_DUPLICATED in a normal run');
    return result;
  } finally {
    await network.destroy();
    await seam.destroy();
    await dc.stop();
    simulator.close();
  }
}

export async function runLoopbackBenchmark(): Promise<string> {
  const connections = await connectionFootprint();
  const calls = await callCost();
  const seam = spread(calls.seam);
  const network = spread(calls.network);
  return [
    `${CONNECTIONS} accounts connected at once to one \`tgfleet dc\` process (GramJS clients, TCP full, in the benchmark's process), ${REPETITIONS} repetitions, min / median / max:`,
    '',
    '| per connection | figure |',
    '|---|---|',
    `| data centre RSS | ${format(spread(connections.map((run) => run.rssPerConnection / 1024)))} KiB |`,
    `| data centre file descriptors | ${format(spread(connections.map((run) => run.fdsPerConnection)), 2)} |`,
    `| client heap (one GramJS client) | ${format(spread(connections.map((run) => run.clientHeapPerClient / 1024)))} KiB |`,
    `| time to connect all ${CONNECTIONS}, ${CONNECT_BATCH} at a time | ${format(spread(connections.map((run) => run.connectSeconds)), 2)} s |`,
    '',
    `GramJS \`invoke(updates.GetState)\`, ${CALLS} sequential calls per run, ${CALL_RUNS} runs, µs per call, min / median / max (client and data centre share one process and event loop):`,
    '',
    '| path | µs per call |',
    '|---|---|',
    `| sender seam (simulated mode) | ${format(seam)} |`,
    `| real network stack to the loopback data centre | ${format(network)} |`,
    `| ratio of medians | ${(network.median / seam.median).toFixed(2)}x |`,
  ].join('\n');
}

if (isMain(import.meta.url)) {
  process.stdout.write(`${await runLoopbackBenchmark()}\n`);
}
