import type { WorkloadConfig } from '../config/config.js';
import { seededRandom } from '../telegram/simulated/seeded-random.js';
import type { World } from '../telegram/simulated/world.js';
import type { PeerUniverse } from './workload.js';

/** Fisher–Yates with the workload's seed, so popularity does not follow creation order. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/**
 * The peers of a simulated fleet: public channels (then public users, if more are asked for) as the
 * shared universe, and for each account a disjoint slice of users as its private contacts.
 */
export function simulatedUniverse(world: World, config: WorkloadConfig, accounts: readonly string[]): PeerUniverse {
  const publicPool = [...world.channels, ...world.users].map((peer) => peer.baseUsername);
  const privateNeeded = config.privatePeersPerAccount * accounts.length;
  if (config.publicPeers + privateNeeded > publicPool.length) {
    throw new Error(
      `the simulated world has ${publicPool.length} peers but the workload wants ${config.publicPeers} public and ${privateNeeded} private ones: raise telegram.simulated.users/channels or lower workload.public_peers/private_peers_per_account`,
    );
  }
  const publicPeers = shuffled(publicPool.slice(0, config.publicPeers), config.seed);
  const privatePool = publicPool.slice(publicPool.length - privateNeeded);
  const privatePeers = new Map(accounts.map((account, index) => [account, privatePool.slice(index * config.privatePeersPerAccount, (index + 1) * config.privatePeersPerAccount)]));
  return { publicPeers, privatePeers };
}

/** The peers of a live fleet: the configured public usernames; live accounts' contacts are their own business. */
export function configuredUniverse(config: WorkloadConfig): PeerUniverse {
  if (config.peers.length === 0) {
    throw new Error('workload.peers is empty: with live accounts, list the public usernames the tasks should look up');
  }
  return { publicPeers: config.peers, privatePeers: new Map() };
}
