import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from '../src/cache/store/sqlite-store.js';
import { storeContract } from './helpers/store-contract.js';

const folder = mkdtempSync(join(tmpdir(), 'tgfleet-store-'));
let files = 0;

storeContract({
  name: 'SQLite',
  unavailable: async () => null,
  freshLocation: () => join(folder, `cache-${++files}.sqlite`),
  open: async (file) => SqliteStore.open(file),
  drop: async (file) => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  },
});

afterAll(() => rmSync(folder, { recursive: true, force: true }));
