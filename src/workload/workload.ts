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
  const publicCount = universe.publicPeers.length;
  if (publicCount === 0) throw new Error('the workload needs at least one public peer');
  const drawPublic = zipfSampler(publicCount, config.zipfExponent, random);
  const tasks: WorkloadTask[] = [];
  for (let round = 0; round < config.tasksPerAccount; round++) {
    for (const account of accounts) {
      const own = universe.privatePeers.get(account) ?? [];
      const wanted = Math.min(config.peersPerTask, publicCount + own.length);
      const peers = new Set<string>();
      while (peers.size < wanted) {
        const fromOwn = own.length > 0 && random() < config.privateShare;
        const name = fromOwn ? own[Math.floor(random() * own.length)] : universe.publicPeers[drawPublic()];
        peers.add(`@${name as string}`);
      }
      tasks.push({ account, index: tasks.length, accountTaskIndex: round, peers: [...peers] });
    }
  }
  return tasks;
}

/** The distinct (account, peer) pairs a workload touches: its working set. */
export function workingSetSize(tasks: readonly WorkloadTask[]): number {
  const pairs = new Set<string>();
  for (const task of tasks) for (const peer of task.peers) pairs.add(`${task.account}\u0000${peer.toLowerCase()}`);
  return pairs.size;
}
