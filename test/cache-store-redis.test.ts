import { RedisStore } from '../src/cache/store/redis-store.js';
import { storeContract } from './helpers/store-contract.js';
import { dropRedisPrefix, REDIS_URL, redisUnavailable, uniqueName } from './helpers/store-servers.js';

storeContract({
  name: 'Redis',
  unavailable: () => redisUnavailable(),
  freshLocation: () => `${uniqueName('tgfleet:cache-test')}:`,
  open: (prefix) => RedisStore.open(REDIS_URL, prefix),
  drop: (prefix) => dropRedisPrefix(prefix),
});
