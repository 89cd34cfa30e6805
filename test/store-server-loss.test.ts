import { expect, it } from 'vitest';
import { encodeValue } from '../src/cache/store/entry-codec.js';
import { memoryLogger } from './helpers/runtime.js';
import { durableCacheOn, eachStoreServer } from './helpers/store-servers.js';
import { until } from './helpers/until.js';

const ACCOUNT = '+15550000001';

eachStoreServer(
  (server) => `a ${server.name} store that goes away mid-run`,
  (server, defer) => {
    it('serves from memory meanwhile, retries and bounds the writes, and reads again once it is back', async () => {
      const { config, direct, proxy } = await server.place(defer, { maxQueue: 100 });
      const { logger, lines } = memoryLogger();
      const cache = durableCacheOn(config, logger);
      defer(() => cache.close());
      await cache.ready;
      cache.set(ACCOUNT, 'p:kept', 'secret-value-kept');
      await until(() => cache.storeStats().written === 1);

      proxy.cut();
      // Tasks go on: memory answers, and a miss the store cannot answer is only a miss.
      expect(cache.get(ACCOUNT, 'p:kept')).toBe('secret-value-kept');
      await cache.readThrough(ACCOUNT, ['p:elsewhere']);
      expect(cache.has(ACCOUNT, 'p:elsewhere')).toBe(false);
      expect(cache.storeStats().failedReads).toBe(1);
      for (let i = 0; i < 150; i++) cache.set(ACCOUNT, `p:${i}`, `secret-value-${i}`);
      await until(() => cache.storeStats().failedFlushes >= 2);
      const away = cache.storeStats();
      expect(away.dropped).toBe(50);
      expect(away.queued).toBe(100);

      await direct.write([{ account: ACCOUNT, key: 'p:elsewhere', data: encodeValue('secret-value-elsewhere'), expiresAt: null, usedAt: Date.now() }]);
      proxy.restore();
      await until(() => cache.storeStats().queued === 0 && cache.storeStats().written === 101);
      const newest = await direct.getMany(ACCOUNT, ['p:49', 'p:50', 'p:149'], Date.now());
      expect(newest.map((entry) => entry.key).sort()).toEqual(['p:149', 'p:50']);
      await until(async () => {
        await cache.readThrough(ACCOUNT, ['p:elsewhere']);
        return cache.has(ACCOUNT, 'p:elsewhere');
      });
      expect(cache.get(ACCOUNT, 'p:elsewhere')).toBe('secret-value-elsewhere');
      expect(lines.some((line) => line.level === 40 && String(line.msg).includes('refused a batch'))).toBe(true);
      expect(JSON.stringify(lines)).not.toContain('secret-value');
    });
  },
);
