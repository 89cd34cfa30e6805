import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { parseConfig } from '../src/config/config.js';
import { AccountPool } from '../src/runtime/account-pool.js';
import type { FleetRuntime } from '../src/runtime/fleet-runtime.js';
import type { ClientRegistryAttackArgs, ClientRegistryAttackResult } from './fixtures/client-registry-attack.js';
import { fixturePath } from './helpers/fixtures.js';
import { startRuntime } from './helpers/runtime.js';

describe('tenants', () => {
  let runtime: FleetRuntime;
  let attacker: string;
  let peer: string;
  let victim: string;
  const whoAmI = (account: string): Promise<string> => runtime.run<string>({ account, task: fixturePath('gets-me') });
  const attack = (account: string, target: string): Promise<ClientRegistryAttackResult> =>
    runtime.run<ClientRegistryAttackResult, ClientRegistryAttackArgs>({ account, task: fixturePath('client-registry-attack'), args: { victim: target } });

  beforeAll(async () => {
    runtime = await startRuntime(
      (config) => {
        config.telegram.simulated.accounts = 3;
      },
      { tenants: { x: ['+9996610001', '+9996610002'], y: ['+9996610003'] } },
    );
    [attacker, peer, victim] = runtime.accounts as [string, string, string];
  });
  afterAll(() => runtime?.shutdown());

  it('run on workers of their own: no worker serves two tenants', async () => {
    await Promise.all([whoAmI(attacker), whoAmI(peer), whoAmI(victim)]);

    expect([attacker, peer, victim].map((account) => runtime.tenantOf(account))).toEqual(['x', 'x', 'y']);
    const workers = runtime.workerAssignments();
    expect(workers.get(attacker)).toBe(workers.get(peer));
    expect(workers.get(victim)).not.toBe(workers.get(attacker));
  });

  it('keep a task of tenant x that imports the client registry from acting as an account of tenant y', async () => {
    const [victimId, attackerId] = [await whoAmI(victim), await whoAmI(attacker)];

    const result = await attack(attacker, victim);

    // The registry of x's worker holds no client of y: the one it makes connects through the
    // attacker's own channel, which the main thread opened for the attacker's account alone.
    expect(result).not.toEqual({ actedAs: victimId });
    expect(result).toEqual({ actedAs: attackerId });
  });

  it('within one tenant, let a task reach another account’s client on its worker, as docs/ISOLATION.md says', async () => {
    const peerId = await whoAmI(peer);

    expect(await attack(attacker, peer)).toEqual({ actedAs: peerId });
  });

  it('refuse an account the runtime does not serve, or one listed under two tenants', async () => {
    await expect(startRuntime(undefined, { tenants: { x: ['+15550001111'] } })).rejects.toThrow(/tenant x lists account \+15550001111, which this runtime does not serve/);
    await expect(startRuntime(undefined, { tenants: { x: ['+9996610001'], y: ['+9996610001'] } })).rejects.toThrow(/listed under two tenants \(x and y\)/);
    await expect(startRuntime(undefined, { tenants: { 'no spaces': ['+9996610001'] } })).rejects.toThrow(/tenant name "no spaces" is not allowed: use 1 to 64 letters/);
  });
});

describe('tenants in config.yaml', () => {
  it('come from each account’s tenant key, the default tenant for an account without one', async () => {
    process.env.TGFLEET_TEST_TENANT_HASH = '0123456789abcdef0123456789abcdef';
    process.env.TGFLEET_TEST_TENANT_SESSION = 'not used: no task runs';
    const account = (phone: string, tenant?: string) => ({ phone, api_id: 1, api_hash_env: 'TGFLEET_TEST_TENANT_HASH', session_env: 'TGFLEET_TEST_TENANT_SESSION', ...(tenant && { tenant }) });
    const { config } = parseConfig({ telegram: { mode: 'live' }, runtime: { workers: 2 }, logging: { level: 'silent' }, accounts: [account('+15550001111', 'acme'), account('+15550002222')] });
    const { FleetRuntime } = await import('../src/runtime/fleet-runtime.js');
    const live = await FleetRuntime.start({ config });
    try {
      expect([live.tenantOf('+15550001111'), live.tenantOf('+15550002222')]).toEqual(['acme', 'default']);
    } finally {
      await live.shutdown();
      delete process.env.TGFLEET_TEST_TENANT_HASH;
      delete process.env.TGFLEET_TEST_TENANT_SESSION;
    }
  });

  it('refuse a tenant name that is not a plain word, naming the key', () => {
    expect(() => parseConfig({ accounts: [{ phone: '+15550001111', api_id: 1, api_hash_env: 'H', session_env: 'S', tenant: 'a b' }] })).toThrow(
      /accounts\[0\]\.tenant.*1 to 64 letters, digits, dots, dashes or underscores/,
    );
  });
});

describe('worker threads among tenants', () => {
  const tenantsOf = (count: number): Map<string, string> => new Map(Array.from({ length: count }, (_, index) => [`+99966100${index}`, `t${index}`]));
  const poolOf = (threads: number, tenants: number): AccountPool => new AccountPool({ threads, tasksPerWorker: 1, maxWorkerMemoryMb: 256, tenantOf: tenantsOf(tenants) });

  it('number runtime.workers in all, shared out among the tenants', async () => {
    const pool = poolOf(3, 2);
    try {
      expect(pool.threads).toBe(3);
    } finally {
      await pool.destroy();
    }
  });

  it('are one per core with runtime.workers 0, and at least one per tenant', async () => {
    const tenants = availableParallelism() + 1;
    const pool = poolOf(0, tenants);
    try {
      expect(pool.threads).toBe(tenants);
    } finally {
      await pool.destroy();
    }
  });

  it('refuse fewer runtime.workers than tenants, naming the setting', async () => {
    expect(() => poolOf(2, 3)).toThrow(/runtime\.workers is 2, but the accounts belong to 3 tenants \(t0, t1, t2\).*at least 3/);
    await expect(
      startRuntime(
        (config) => {
          config.telegram.simulated.accounts = 3;
        },
        { tenants: { x: ['+9996610001'], y: ['+9996610002'], z: ['+9996610003'] } },
      ),
    ).rejects.toMatchObject({ name: 'ConfigError', source: 'runtime.workers' });
  });
});
