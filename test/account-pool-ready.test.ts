import { describe, expect, it } from 'vitest';
import { AccountPool } from '../src/runtime/account-pool.js';

describe('AccountPool.ready', () => {
  it('rejects with a clear error when the workers have not started in time, and resolves once they have', async () => {
    const pool = new AccountPool({ threads: 2, tasksPerWorker: 1, maxWorkerMemoryMb: 256 });
    try {
      // Nothing has started a moment after the pool was made: a zero wait cannot be met.
      await expect(pool.ready(0)).rejects.toThrow('only 0 of 2 worker threads had started after 0 ms');
      await expect(pool.ready()).resolves.toBeUndefined();
    } finally {
      await pool.destroy();
    }
  });
});
