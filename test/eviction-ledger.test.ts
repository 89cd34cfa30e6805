import { describe, expect, it } from 'vitest';
import { EvictionLedger } from '../src/runtime/eviction-ledger.js';

const counts = (capacity: number, accountCap = 0, expired = 0) => ({ capacity, accountCap, expired });

describe('EvictionLedger', () => {
  it('reports each eviction of an account once when its tasks overlap', () => {
    const ledger = new EvictionLedger();
    // t1 starts at 0, t2 at 2; 5 evictions happen while both run, then t1 ends, then 3 more before t2 ends.
    const t1 = ledger.claim('a', counts(0), counts(5, 1));
    const t2 = ledger.claim('a', counts(2), counts(8, 1, 2));

    expect(t1).toEqual(counts(5, 1));
    expect(t2).toEqual(counts(3, 0, 2));
    expect(ledger.claim('b', counts(0), counts(4))).toEqual(counts(4));
  });

  it('never reports a negative count after the counters started again', () => {
    const ledger = new EvictionLedger();
    ledger.claim('a', counts(0), counts(10));

    expect(ledger.claim('a', counts(0), counts(2))).toEqual(counts(0));
  });
});
