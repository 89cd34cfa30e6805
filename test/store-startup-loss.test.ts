import { expect, it } from 'vitest';
import { encodeValue } from '../src/cache/store/entry-codec.js';
import { memoryLogger } from './helpers/runtime.js';
import { durableCacheOn, eachStoreServer } from './helpers/store-servers.js';
import { until } from './helpers/until.js';

const ACCOUNT = '+15550000001';

eachStoreServer(
  (server) => `a ${server.name} store that is down when the runtime starts`,
  (server, defer) => {
    it('runs from memory with a warning, then attaches to the store once it answers', async () => {
      const { config, direct, proxy } = await server.place(defer);
      proxy.cut();
      const { logger, lines } = memoryLogger();
      const cache = durableCacheOn(config, logger);
      defer(() => cache.close());
      await cache.ready;
      expect(lines.some((line) => line.level === 40 && String(line.msg).includes('runs from memory only, and attaches to the store once it answers'))).toBe(true);

      cache.set(ACCOUNT, 'p:mine', 'secret-value-mine');
      expect(cache.get(ACCOUNT, 'p:mine')).toBe('secret-value-mine');
      await until(() => cache.storeStats().failedFlushes >= 1);
      expect(cache.storeStats()).toMatchObject({ written: 0, queued: 1, dropped: 0 });

      proxy.restore();
      await until(async () => (await direct.getMany(ACCOUNT, ['p:mine'], Date.now())).length === 1);
      expect(lines.some((line) => String(line.msg).includes('the cache store answers now'))).toBe(true);

      // Reads go to the store too: what another host wrote there is found and promoted.
      await direct.write([{ account: ACCOUNT, key: 'p:elsewhere', data: encodeValue('from another host'), expiresAt: null, usedAt: Date.now() }]);
      await until(async () => {
        await cache.readThrough(ACCOUNT, ['p:elsewhere']);
        return cache.get(ACCOUNT, 'p:elsewhere') === 'from another host';
      });
      expect(JSON.stringify(lines)).not.toContain('secret-value-mine');
    });
  },
);
