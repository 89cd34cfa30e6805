/**
 * The accounts of `telegram.mode: loopback`: simulated accounts reached over the live code path.
 * Either the data centre runs in this process (on the simulated world the config describes), or
 * the process joins one that `tgfleet dc` runs, through the sessions file it wrote. Either way each
 * account gets api_id, api_hash and a StringSession, and its clients dial the data centre's address.
 */
import type { AccountCredentials } from '../channel/protocol.js';
import type { FleetConfig } from '../config/config.js';
import { LoopbackDc } from '../telegram/loopback/loopback-dc.js';
import { readSessionsFile, type IssuedSession } from '../telegram/loopback/issued-sessions.js';
import type { SimulatedTelegram } from '../telegram/simulated/simulated-telegram.js';
import { createWorld, type World } from '../telegram/simulated/world.js';
import type { DcAddress } from '../telegram/live/dc-connection.js';

/** What every loopback account signs in with: the data centre checks the auth key, not these. */
export const LOOPBACK_API_ID = 1;
export const LOOPBACK_API_HASH = '0'.repeat(32);

export interface LoopbackFleet {
  accounts: AccountCredentials[];
  dcAddress: DcAddress;
  timeScale: number;
  clock: () => number;
  /** The in-process simulated world behind the data centre; absent when joining another process's. */
  simulator: SimulatedTelegram | undefined;
  /** The world the workload draws its peers from: the data centre's, rebuilt from its seed when joined. */
  world: World;
  /** The in-process data centre (absent when joining one), with its faults and counters. */
  dc: LoopbackDc | undefined;
  close(): Promise<void>;
}

function credentials(issued: readonly IssuedSession[]): AccountCredentials[] {
  return issued.map(({ phone, session }) => ({ phone, apiId: LOOPBACK_API_ID, apiHash: LOOPBACK_API_HASH, session }));
}

export async function loopbackFleet(config: FleetConfig, makeSimulator: () => SimulatedTelegram, phones: readonly string[]): Promise<LoopbackFleet> {
  const { loopback } = config.telegram;
  if (loopback.sessionsFile !== '') {
    const file = await readSessionsFile(loopback.sessionsFile);
    const started = performance.now();
    return {
      accounts: credentials(file.accounts),
      dcAddress: { host: file.host, port: file.port },
      timeScale: file.world.timeScale,
      clock: () => (performance.now() - started) / file.world.timeScale,
      simulator: undefined,
      world: createWorld({ seed: file.world.seed, users: file.world.users, channels: file.world.channels }),
      dc: undefined,
      close: async () => {},
    };
  }
  const simulator = makeSimulator();
  const dc = await new LoopbackDc(simulator, { port: loopback.port, faults: loopback.faults }).start();
  try {
    return {
      accounts: credentials(await dc.provision(phones)),
      dcAddress: dc.address,
      timeScale: simulator.clock.timeScale,
      clock: () => simulator.clock.now(),
      simulator,
      world: simulator.world,
      dc,
      close: () => dc.stop(),
    };
  } catch (error) {
    await dc.stop();
    throw error;
  }
}
