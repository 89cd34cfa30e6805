import type { WorkloadConfig } from '../config/config.js';
import { seededRandom, type Random } from '../telegram/simulated/seeded-random.js';

/** One task of the generated workload: an account looks up a list of peers. */
export interface WorkloadTask {
  account: string;
  /** Position in the interleaved submission order. */
  index: number;
  /** Position among this account's tasks. */
  accountTaskIndex: number;
  /** Usernames, each prefixed with '@'. */
  peers: string[];
}

export interface PeerUniverse {
  /** Public usernames every account may look up, most popular first. */
  publicPeers: readonly string[];
  /** Usernames only one account looks up (its own contacts), by account. */
  privatePeers: ReadonlyMap<string, readonly string[]>;
}

/**
 * Draws ranks 0..n-1 with probability proportional to 1 / (rank + 1)^exponent: a few popular
 * channels are touched by everyone, a long tail by few, as in real account work.
 */
export function zipfSampler(n: number, exponent: number, random: Random): () => number {
  if (n < 1) throw new RangeError('a Zipf distribution needs at least one item');
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let rank = 0; rank < n; rank++) {
    total += 1 / (rank + 1) ** exponent;
    cumulative[rank] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cumulative[middle] as number) < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

/** What drawing a task's peers needs: the seeded random source and the public peers by popularity. */
export interface PeerDrawer {
  random: Random;
  publicPeers: readonly string[];
  drawPublic: () => number;
}

export function peerDrawer(config: Pick<WorkloadConfig, 'seed' | 'zipfExponent'>, universe: PeerUniverse): PeerDrawer {
  const random = seededRandom(config.seed);
  const publicPeers = distinctNames(universe.publicPeers);
  if (publicPeers.length === 0) throw new Error('the workload needs at least one public peer');
  return { random, publicPeers, drawPublic: zipfSampler(publicPeers.length, config.zipfExponent, random) };
}

/**
 * One task's `peersPerTask` distinct peers, as '@name': with probability `privateShare` one of the
 * account's own (`own`), otherwise a public one drawn by popularity.
 */
export function drawTaskPeers(drawer: PeerDrawer, own: readonly string[], config: Pick<WorkloadConfig, 'peersPerTask' | 'privateShare'>): string[] {
  const ownNames = distinctNames(own);
  const candidates = distinctNames([...drawer.publicPeers, ...ownNames]);
  const wanted = Math.min(config.peersPerTask, candidates.length);
  const peers = new Set<string>();
  // Random draws find the last few rare peers slowly (a steep Zipf tail, an exhausted private
  // list); past a bound the task is completed from the candidates in order, still deterministic.
  for (let draws = 0; peers.size < wanted && draws < wanted * 50; draws++) {
    const fromOwn = ownNames.length > 0 && drawer.random() < config.privateShare;
    peers.add((fromOwn ? ownNames[Math.floor(drawer.random() * ownNames.length)] : drawer.publicPeers[drawer.drawPublic()]) as string);
  }
  for (const name of candidates) {
    if (peers.size >= wanted) break;
    peers.add(name);
  }
  return [...peers].map((name) => `@${name}`);
}

/**
 * The workload: every account runs `tasksPerAccount` tasks, submitted round-robin across
 * accounts as a scheduler would interleave them. The same seed gives the same workload.
 */
export function generateWorkload(config: WorkloadConfig, accounts: readonly string[], universe: PeerUniverse): WorkloadTask[] {
  const drawer = peerDrawer(config, universe);
  const tasks: WorkloadTask[] = [];
  for (let round = 0; round < config.tasksPerAccount; round++) {
    for (const account of accounts) {
      const peers = drawTaskPeers(drawer, universe.privatePeers.get(account) ?? [], config);
      tasks.push({ account, index: tasks.length, accountTaskIndex: round, peers });
    }
  }
  return tasks;
}

/** Usernames as Telegram compares them (no '@', any case), each once, in first-seen order. */
function distinctNames(names: readonly string[]): string[] {
  return [...new Set(names.map((name) => name.replace(/^@/, '').toLowerCase()))];
}

/** The distinct (account, peer) pairs a workload touches: its working set. */
export function workingSetSize(tasks: readonly WorkloadTask[]): number {
  const pairs = new Set<string>();
  for (const task of tasks) for (const peer of task.peers) pairs.add(`${task.account}\u0000${peer.toLowerCase()}`);
  return pairs.size;
}
