import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CacheStore, StoreWrite } from '../../src/cache/store/cache-store.js';

/** How the contract reaches one driver: `open` twice with the same location reopens the same data. */
export interface StoreUnderTest {
  name: string;
  /** Why the server cannot be used, or null when it answers. */
  unavailable(): Promise<string | null>;
  /** A location (file, table, key prefix) no other run uses. */
  freshLocation(): string;
  open(location: string): Promise<CacheStore>;
  /** Removes what a location holds once the suite is done with it. */
  drop(location: string): Promise<void>;
}

const NOW = 1_800_000_000_000;

function entry(account: string, key: string, overrides: Partial<StoreWrite> = {}): StoreWrite {
  return { account, key, data: Buffer.from(`${account}|${key}`), expiresAt: NOW + 60_000, usedAt: NOW, ...overrides };
}

const text = (data: Uint8Array): string => Buffer.from(data).toString();

/** The behaviour every driver owes the durable tier, run once per driver against its real server or file. */
export function storeContract(driver: StoreUnderTest): void {
  describe(`the ${driver.name} cache store`, () => {
    const opened: CacheStore[] = [];
    const locations: string[] = [];
    let location = '';
    let store: CacheStore;

    const open = async (where = location): Promise<CacheStore> => {
      const made = await driver.open(where);
      opened.push(made);
      return made;
    };

    beforeAll(async () => {
      const reason = await driver.unavailable();
      if (reason !== null) throw new Error(`the ${driver.name} contract suite needs its server: ${reason}`);
    });

    const fresh = async (): Promise<void> => {
      location = driver.freshLocation();
      locations.push(location);
      store = await open();
    };

    afterEach(async () => {
      for (const made of opened.splice(0)) await made.close();
    });

    afterAll(async () => {
      for (const where of locations) await driver.drop(where);
    });

    it('keeps the same key of two accounts apart', async () => {
      await fresh();
      await store.write([entry('+1', 'u:alice'), entry('+2', 'u:alice'), entry('+2', 'u:bob')]);
      expect((await store.getMany('+1', ['u:alice', 'u:bob'], NOW)).map((found) => text(found.data))).toEqual(['+1|u:alice']);
      expect((await store.getMany('+2', ['u:alice', 'u:bob'], NOW)).map((found) => text(found.data)).sort()).toEqual(['+2|u:alice', '+2|u:bob']);
      expect((await store.recent('+1', 10, NOW)).map((found) => found.key)).toEqual(['u:alice']);
      expect((await store.accounts(NOW)).sort()).toEqual(['+1', '+2']);
    });

    it('keeps expiry: an entry past its time is not served, and the others come back with theirs', async () => {
      await fresh();
      await store.write([entry('+1', 'p:1', { expiresAt: NOW - 1 }), entry('+1', 'p:2', { expiresAt: NOW + 5000 }), entry('+1', 'p:3', { expiresAt: null })]);
      const found = await store.getMany('+1', ['p:1', 'p:2', 'p:3'], NOW);
      expect(found.map(({ key, expiresAt }) => ({ key, expiresAt })).sort((a, b) => a.key.localeCompare(b.key))).toEqual([
        { key: 'p:2', expiresAt: NOW + 5000 },
        { key: 'p:3', expiresAt: null },
      ]);
      expect((await store.recent('+1', 10, NOW)).map((one) => one.key).sort()).toEqual(['p:2', 'p:3']);
    });

    it('forgets invalidated keys and a whole account as soon as the call returns', async () => {
      await fresh();
      await store.write([entry('+1', 'p:1'), entry('+1', 'u:one'), entry('+1', 'p:2'), entry('+2', 'p:1')]);
      await store.delete('+1', ['p:1', 'u:one']);
      expect((await store.getMany('+1', ['p:1', 'u:one', 'p:2'], NOW)).map((found) => found.key)).toEqual(['p:2']);
      await store.deleteAccount('+1');
      expect(await store.getMany('+1', ['p:2'], NOW)).toEqual([]);
      expect((await store.getMany('+2', ['p:1'], NOW)).map((found) => found.key)).toEqual(['p:1']);
    });

    it('reads many keys in one request and writes a batch in one', async () => {
      await fresh();
      const keys = Array.from({ length: 200 }, (_, i) => `u:name_${i}`);
      const before = store.requests;
      await store.write(keys.map((key) => entry('+1', key)));
      expect(store.requests - before).toBe(1);
      const reading = store.requests;
      const found = await store.getMany('+1', [...keys, 'u:absent'], NOW);
      expect(store.requests - reading).toBe(1);
      expect(found).toHaveLength(200);
    });

    it('orders recent entries by their last use, touches included', async () => {
      await fresh();
      await store.write([entry('+1', 'a', { usedAt: NOW - 3 }), entry('+1', 'b', { usedAt: NOW - 2 }), entry('+1', 'c', { usedAt: NOW - 1 })]);
      await store.write([], [{ account: '+1', keys: ['a'], usedAt: NOW }]);
      expect((await store.recent('+1', 2, NOW)).map((found) => found.key)).toEqual(['a', 'c']);
    });

    it('is bounded by age and by size, dropping the least recently used', async () => {
      await fresh();
      await store.write([
        entry('+1', 'stale', { usedAt: NOW - 10_000 }),
        entry('+1', 'gone', { expiresAt: NOW - 1 }),
        entry('+1', 'older', { usedAt: NOW - 500 }),
        entry('+2', 'newer', { usedAt: NOW - 100 }),
        entry('+2', 'newest', { usedAt: NOW }),
      ]);
      expect(await store.prune(NOW, { maxAgeMs: 5000, maxEntries: 2 })).toBe(3);
      expect((await store.getMany('+1', ['stale', 'gone', 'older'], NOW)).map((found) => found.key)).toEqual([]);
      expect((await store.getMany('+2', ['newer', 'newest'], NOW)).map((found) => found.key).sort()).toEqual(['newer', 'newest']);
    });

    it('finds what it held after it was closed and opened again', async () => {
      await fresh();
      await store.write([entry('+1', 'p:9', { data: Buffer.from([0, 255, 1, 0]) })]);
      await store.close();
      const again = await open();
      const [found] = await again.getMany('+1', ['p:9'], NOW);
      expect(found === undefined ? undefined : [...found.data]).toEqual([0, 255, 1, 0]);
    });

    it('never answers one account with another account’s entry, whatever is written, deleted and asked', async () => {
      await fresh();
      const accounts = ['+1', '+2', '+3'];
      const keys = ['u:a', 'u:b', 'p:1', 'p:2'];
      const op = fc.oneof(
        fc.record({ kind: fc.constant('write' as const), account: fc.constantFrom(...accounts), key: fc.constantFrom(...keys), n: fc.nat(9) }),
        fc.record({ kind: fc.constant('delete' as const), account: fc.constantFrom(...accounts), key: fc.constantFrom(...keys) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
          for (const account of accounts) await store.deleteAccount(account);
          const model = new Map<string, string>();
          for (const step of ops) {
            if (step.kind === 'write') {
              const value = `${step.account}|${step.key}|${step.n}`;
              await store.write([entry(step.account, step.key, { data: Buffer.from(value) })]);
              model.set(`${step.account} ${step.key}`, value);
            } else {
              await store.delete(step.account, [step.key]);
              model.delete(`${step.account} ${step.key}`);
            }
          }
          for (const account of accounts) {
            const found = await store.getMany(account, keys, NOW);
            for (const one of found) expect(text(one.data).startsWith(`${account}|${one.key}|`)).toBe(true);
            const recent = await store.recent(account, 100, NOW);
            for (const one of recent) expect(text(one.data).startsWith(`${account}|`)).toBe(true);
            const expected = keys.filter((key) => model.has(`${account} ${key}`)).map((key) => model.get(`${account} ${key}`));
            expect(found.map((one) => text(one.data)).sort()).toEqual(expected.sort());
          }
        }),
        { numRuns: 25 },
      );
    });
  });
}
