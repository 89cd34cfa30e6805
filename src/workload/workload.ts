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

/**
 * The workload: every account runs `tasksPerAccount` tasks, submitted round-robin across
 * accounts as a scheduler would interleave them. Each task looks up `peersPerTask` distinct peers:
 * with probability `privateShare` one of the account's own, otherwise a public one drawn by
 * popularity. The same seed gives the same workload.
 */
export function generateWorkload(config: WorkloadConfig, accounts: readonly string[], universe: PeerUniverse): WorkloadTask[] {
  const random = seededRandom(config.seed);
  const publicPeers = distinctNames(universe.publicPeers);
  if (publicPeers.length === 0) throw new Error('the workload needs at least one public peer');
  const drawPublic = zipfSampler(publicPeers.length, config.zipfExponent, random);
  const tasks: WorkloadTask[] = [];
  for (let round = 0; round < config.tasksPerAccount; round++) {
    for (const account of accounts) {
      const own = distinctNames(universe.privatePeers.get(account) ?? []);
      const candidates = distinctNames([...publicPeers, ...own]);
      const wanted = Math.min(config.peersPerTask, candidates.length);
      const peers = new Set<string>();
      // Random draws find the last few rare peers slowly (a steep Zipf tail, an exhausted private
      // list); past a bound the task is completed from the candidates in order, still deterministic.
      for (let draws = 0; peers.size < wanted && draws < wanted * 50; draws++) {
        const fromOwn = own.length > 0 && random() < config.privateShare;
        peers.add((fromOwn ? own[Math.floor(random() * own.length)] : publicPeers[drawPublic()]) as string);
      }
      for (const name of candidates) {
        if (peers.size >= wanted) break;
        peers.add(name);
      }
      tasks.push({ account, index: tasks.length, accountTaskIndex: round, peers: [...peers].map((name) => `@${name}`) });
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
