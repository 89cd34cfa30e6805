import { PostgresStore } from '../src/cache/store/postgres-store.js';
import { storeContract } from './helpers/store-contract.js';
import { dropPostgresTable, POSTGRES_URL, postgresUnavailable, uniqueName } from './helpers/store-servers.js';

storeContract({
  name: 'PostgreSQL',
  unavailable: () => postgresUnavailable(),
  freshLocation: () => uniqueName('tgfleet_cache_test'),
  open: (table) => PostgresStore.open(POSTGRES_URL, table),
  drop: (table) => dropPostgresTable(table),
});
