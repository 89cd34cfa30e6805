import { describe, expect, it } from 'vitest';
import { defaultConfig, type WorkloadConfig } from '../src/config/config.js';
import { seededRandom } from '../src/telegram/simulated/seeded-random.js';
import { generateWorkload, workingSetSize, zipfSampler, type PeerUniverse } from '../src/workload/workload.js';

const ACCOUNTS = ['+1', '+2', '+3'];
const universe: PeerUniverse = {
  publicPeers: Array.from({ length: 50 }, (_, i) => `channel_${i}`),
  privatePeers: new Map(ACCOUNTS.map((account, a) => [account, Array.from({ length: 5 }, (_, i) => `contact_${a}_${i}`)])),
};

function config(edit: Partial<WorkloadConfig> = {}): WorkloadConfig {
  return { ...defaultConfig().workload, tasksPerAccount: 10, peersPerTask: 6, ...edit };
}

describe('the workload generator', () => {
  it('gives the same workload for the same seed, and another for another seed', () => {
    expect(generateWorkload(config(), ACCOUNTS, universe)).toEqual(generateWorkload(config(), ACCOUNTS, universe));
    expect(generateWorkload(config({ seed: 8 }), ACCOUNTS, universe)).not.toEqual(generateWorkload(config(), ACCOUNTS, universe));
  });

  it('interleaves accounts round-robin, each task with distinct peers, private ones only for their owner', () => {
    const tasks = generateWorkload(config(), ACCOUNTS, universe);

    expect(tasks).toHaveLength(30);
    expect(tasks.slice(0, 6).map((task) => [task.account, task.accountTaskIndex])).toEqual([
      ['+1', 0],
      ['+2', 0],
      ['+3', 0],
      ['+1', 1],
      ['+2', 1],
      ['+3', 1],
    ]);
    for (const task of tasks) {
      expect(new Set(task.peers).size).toBe(6);
      const owner = ACCOUNTS.indexOf(task.account);
      for (const peer of task.peers.filter((name) => name.startsWith('@contact_'))) expect(peer).toMatch(new RegExp(`^@contact_${owner}_`));
    }
  });

  it('draws popular peers far more often than the tail', () => {
    const draw = zipfSampler(100, 1.1, seededRandom(1));
    const counts = new Array<number>(100).fill(0);
    for (let i = 0; i < 20_000; i++) counts[draw()]! += 1;

    expect(counts[0]).toBeGreaterThan(5 * (counts[49] ?? 0));
    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(20_000);
  });

  it('finishes with configs that leave few distinct candidates: duplicates, only private peers, a steep tail', () => {
    const duplicates: PeerUniverse = { publicPeers: ['durov', '@durov', 'DUROV', 'telegram'], privatePeers: new Map() };
    expect(generateWorkload(config({ peersPerTask: 8 }), ['+1'], duplicates).every((task) => task.peers.length === 2)).toBe(true);

    const privateOnly = generateWorkload(config({ privateShare: 1, peersPerTask: 8 }), ACCOUNTS, universe);
    expect(privateOnly.every((task) => task.peers.length === 8)).toBe(true);

    const steep = generateWorkload(config({ zipfExponent: 6, peersPerTask: 40 }), ['+1'], universe);
    expect(steep.every((task) => new Set(task.peers).size === 40)).toBe(true);
  });

  it('counts its working set as distinct (account, peer) pairs', () => {
    const tasks = [
      { account: '+1', index: 0, accountTaskIndex: 0, peers: ['@a', '@b'] },
      { account: '+1', index: 1, accountTaskIndex: 1, peers: ['@A', '@c'] },
      { account: '+2', index: 2, accountTaskIndex: 0, peers: ['@a'] },
    ];
    expect(workingSetSize(tasks)).toBe(4);
  });
});
