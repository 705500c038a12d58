/**
 * GroupCommit on a real (in-memory) SQLite store: concurrent blind writes share one transaction,
 * yet each caller gets the outcome its own compares decide, and one bad transaction spoils no
 * other.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../store/index.js';
import type { Compare, Store } from '../store/index.js';
import { GroupCommit } from './group-commit.js';

let store: Store;
let commits: GroupCommit;
beforeEach(() => {
  store = SqliteStore.open(':memory:');
  commits = new GroupCommit(store);
});
afterEach(async () => {
  await store.close();
});

const put = (key: string, value = 'v') => ({ type: 'put' as const, key, value });
const absent = (key: string): Compare => ({ key, target: 'mod', op: '=', value: 0 });
const valueOf = async (key: string) => (await store.get(key))?.value;

describe('GroupCommit', () => {
  it('writes submitted in one turn commit as one transaction', async () => {
    const before = await store.revision();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => commits.submit({ compares: [], success: [put(`/k/${i}`)] })));
    expect(results.every((r) => r.succeeded)).toBe(true);
    expect((await store.revision()) - before).toBe(1);
    expect((await store.range('/k/')).kvs).toHaveLength(20);
  });

  it('writes of one key go in turn, each judged by its own compare', async () => {
    const create = (value: string) => commits.submit({ compares: [absent('/repo')], success: [put('/repo', value), put(`/link/${value}`)], failure: [put(`/link/${value}`)] });
    const [first, second] = await Promise.all([create('a'), create('b')]);
    expect([first.succeeded, second.succeeded]).toEqual([true, false]);
    expect(await valueOf('/repo')).toBe('a');
    // Each wrote its link: the second through its failure branch.
    expect(await valueOf('/link/a')).toBe('v');
    expect(await valueOf('/link/b')).toBe('v');
  });

  it('when one compare of a merged batch fails, each entry is committed alone with its own outcome', async () => {
    await store.txn([], [put('/taken')]);
    const before = await store.revision();
    const [free, taken, blind] = await Promise.all([
      commits.submit({ compares: [absent('/free')], success: [put('/free', 'mine')], failure: [put('/free-lost')] }),
      commits.submit({ compares: [absent('/taken')], success: [put('/taken', 'mine')], failure: [put('/taken-lost')] }),
      commits.submit({ compares: [], success: [put('/blind')] }),
    ]);
    expect([free.succeeded, taken.succeeded, blind.succeeded]).toEqual([true, false, true]);
    expect(await valueOf('/free')).toBe('mine');
    expect(await valueOf('/taken')).toBe('v');
    expect(await valueOf('/taken-lost')).toBe('v');
    expect(await valueOf('/free-lost')).toBeUndefined();
    expect(await valueOf('/blind')).toBe('v');
    expect((await store.revision()) - before).toBe(3);
  });

  it('a transaction the store refuses fails alone', async () => {
    const results = await Promise.allSettled([
      commits.submit({ compares: [], success: [put('/ok/1')] }),
      commits.submit({ compares: [], success: [put('')] }),
      commits.submit({ compares: [], success: [put('/ok/2')] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.range('/ok/')).kvs).toHaveLength(2);
  });

  it('a delete by prefix runs alone, and nothing submitted after it passes it', async () => {
    const before = await store.revision();
    await Promise.all([
      commits.submit({ compares: [], success: [put('/p/1')] }),
      commits.submit({ compares: [], success: [put('/q/1')] }),
      commits.submit({ compares: [], success: [{ type: 'deletePrefix', prefix: '/p/' }] }),
      commits.submit({ compares: [], success: [put('/p/2')] }),
    ]);
    expect((await store.range('/p/')).kvs.map((kv) => kv.key)).toEqual(['/p/2']);
    expect(await valueOf('/q/1')).toBe('v');
    expect((await store.revision()) - before).toBe(3);
  });

  it('transactions that share a key commit in the order submitted, even when one of them has to wait', async () => {
    await Promise.all([
      commits.submit({ compares: [], success: [put('/a', '1')] }),
      commits.submit({ compares: [], success: [put('/a', '2'), put('/b', '2')] }),
      commits.submit({ compares: [], success: [put('/b', '3')] }),
    ]);
    // The second waits for the first (key a); the third, sharing b with the second, waits behind it.
    expect([await valueOf('/a'), await valueOf('/b')]).toEqual(['2', '3']);
  });
});
