/**
 * The Store contract as tests: every backend (sqlite/, etcd/) runs this suite unchanged, so the rest
 * of Berth can rely on etcd's semantics whichever store it is given.
 *
 * `open` must give a store that holds no keys and has no other writer while a test runs; its
 * starting revision may be anything, so every revision here is relative to the store's own.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { put, StoreError, type Compare, type KeyValue, type Op, type Store, type StoreErrorKind, type Watch, type WatchEvent } from './store.js';

type Batch = readonly WatchEvent[];

/** Pulls a watch's batches one at a time; a batch expected from a watch that ended fails the test. */
class Reader {
  private readonly it: AsyncIterator<Batch>;
  constructor(readonly watch: Watch) {
    this.it = watch[Symbol.asyncIterator]();
  }
  async next(): Promise<Batch> {
    const r = await this.it.next();
    if (r.done) throw new Error('the watch ended while a batch was expected');
    return r.value;
  }
  async take(n: number): Promise<Batch[]> {
    const batches: Batch[] = [];
    for (let i = 0; i < n; i++) batches.push(await this.next());
    return batches;
  }
  /** Resolves true once the watch ends, false if it yields a batch instead. */
  async ended(): Promise<boolean> {
    return (await this.it.next()).done === true;
  }
  close(): void {
    this.watch.close();
  }
}

/** One line per event, so a failing test shows what arrived: "put /k=v @7". */
const lines = (batch: Batch): string[] => batch.map((e) => `${e.type} ${e.kv.key}=${e.kv.value} @${e.kv.modRevision}`);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (err: unknown) => err,
  );
}

async function expectStoreError(promise: Promise<unknown>, kind: StoreErrorKind): Promise<StoreError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).kind).toBe(kind);
  return err as StoreError;
}

/**
 * The error a watch fails with. watch() itself never throws: a watch fails by rejecting next(),
 * the only way etcd can report 'compacted' (only its server knows), so callers handle every
 * failure in one place.
 */
async function watchFailure(start: () => Watch): Promise<unknown> {
  const watch = start();
  try {
    const r = await watch[Symbol.asyncIterator]().next();
    return new Error(`expected the watch to fail, got ${JSON.stringify(r)}`);
  } catch (err) {
    return err;
  } finally {
    watch.close();
  }
}

async function expectWatchFailure(start: () => Watch, kind: StoreErrorKind): Promise<StoreError> {
  return expectStoreError(watchFailure(start).then((err) => Promise.reject(err as Error)), kind);
}

async function keysOf(store: Store, prefix: string): Promise<string[]> {
  return (await store.range(prefix)).kvs.map((kv) => kv.key);
}

async function mustGet(store: Store, key: string): Promise<KeyValue> {
  const kv = await store.get(key);
  if (kv === undefined) throw new Error(`expected ${key} to exist`);
  return kv;
}

const pad = (i: number): string => String(i).padStart(3, '0');

export function storeContractSuite(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('get, put, delete', () => {
      it('an absent key reads as undefined', async () => {
        expect(await store.get('/absent')).toBeUndefined();
      });

      it('a put creates the key at a new revision, version 1', async () => {
        const r0 = await store.revision();
        const r1 = await put(store, '/k', 'v1');
        expect(r1).toBe(r0 + 1);
        expect(await store.revision()).toBe(r1);
        expect(await store.get('/k')).toEqual({ key: '/k', value: 'v1', createRevision: r1, modRevision: r1, version: 1 });
      });

      it('a second put keeps createRevision, moves modRevision and counts the version', async () => {
        const r1 = await put(store, '/k', 'v1');
        const r2 = await put(store, '/k', 'v2');
        expect(r2).toBe(r1 + 1);
        expect(await store.get('/k')).toEqual({ key: '/k', value: 'v2', createRevision: r1, modRevision: r2, version: 2 });
        // As in etcd, writing the same value again is still a write.
        const r3 = await put(store, '/k', 'v2');
        expect(r3).toBe(r2 + 1);
        expect(await store.get('/k')).toMatchObject({ modRevision: r3, version: 3 });
      });

      it('a delete removes the key; a later put recreates it at version 1', async () => {
        await put(store, '/k', 'v1');
        await put(store, '/k', 'v2');
        const del = await store.txn([], [{ type: 'delete', key: '/k' }]);
        expect(del.succeeded).toBe(true);
        expect(await store.get('/k')).toBeUndefined();
        const r = await put(store, '/k', 'v3');
        expect(r).toBe(del.revision + 1);
        expect(await store.get('/k')).toEqual({ key: '/k', value: 'v3', createRevision: r, modRevision: r, version: 1 });
      });

      it('deleting an absent key writes nothing and keeps the revision', async () => {
        const r0 = await put(store, '/other', 'x');
        const res = await store.txn([], [{ type: 'delete', key: '/absent' }]);
        expect(res).toEqual({ succeeded: true, revision: r0 });
        expect(await store.revision()).toBe(r0);
      });

      it('an empty value is a value, not an absence', async () => {
        await put(store, '/empty', '');
        expect(await store.get('/empty')).toMatchObject({ value: '', version: 1 });
      });

      it('keys and values keep any Unicode text', async () => {
        const key = '/ünï/\u{1F600}/\uFF61';
        const value = JSON.stringify({ name: 'café \u{1F680}', nul: '\u0000' });
        await put(store, key, value);
        expect(await store.get(key)).toMatchObject({ key, value });
      });

      it('rejects an empty or ill-formed key or value as invalid, writing nothing', async () => {
        const r0 = await store.revision();
        await expectStoreError(store.get(''), 'invalid');
        await expectStoreError(store.txn([], [{ type: 'put', key: '', value: 'v' }]), 'invalid');
        await expectStoreError(store.txn([], [{ type: 'delete', key: '' }]), 'invalid');
        // A lone surrogate cannot be encoded as UTF-8; storing it would silently change the key.
        await expectStoreError(store.txn([], [{ type: 'put', key: '/bad\uD800', value: 'v' }]), 'invalid');
        await expectStoreError(store.txn([], [{ type: 'put', key: '/k', value: 'bad\uDC00' }]), 'invalid');
        await expectStoreError(store.get('/bad\uD800'), 'invalid');
        expect(await store.revision()).toBe(r0);
        expect((await store.range('')).count).toBe(0);
      });
    });

    describe('transactions', () => {
      it('evaluates each compare target and operator as etcd does', async () => {
        const c = await put(store, '/k', 'a');
        const m = await put(store, '/k', 'b');
        await put(store, '/hi', '\uFF61');
        const cases: Array<[Compare, boolean]> = [
          [{ key: '/k', target: 'mod', op: '=', value: m }, true],
          [{ key: '/k', target: 'mod', op: '!=', value: m }, false],
          [{ key: '/k', target: 'mod', op: '<', value: m + 1 }, true],
          [{ key: '/k', target: 'mod', op: '<', value: m }, false],
          [{ key: '/k', target: 'mod', op: '>', value: m - 1 }, true],
          [{ key: '/k', target: 'mod', op: '>', value: m }, false],
          [{ key: '/k', target: 'create', op: '=', value: c }, true],
          [{ key: '/k', target: 'create', op: '!=', value: m }, true],
          [{ key: '/k', target: 'create', op: '<', value: m }, true],
          [{ key: '/k', target: 'create', op: '>', value: c }, false],
          [{ key: '/k', target: 'version', op: '=', value: 2 }, true],
          [{ key: '/k', target: 'version', op: '!=', value: 2 }, false],
          [{ key: '/k', target: 'version', op: '<', value: 2 }, false],
          [{ key: '/k', target: 'version', op: '>', value: 1 }, true],
          [{ key: '/k', target: 'value', op: '=', value: 'b' }, true],
          [{ key: '/k', target: 'value', op: '!=', value: 'b' }, false],
          [{ key: '/k', target: 'value', op: '<', value: 'c' }, true],
          [{ key: '/k', target: 'value', op: '<', value: 'b' }, false],
          [{ key: '/k', target: 'value', op: '>', value: 'a' }, true],
          [{ key: '/k', target: 'value', op: '>', value: 'b' }, false],
          // Values compare as UTF-8 bytes: EF BD A1 < F0 9F 98 80, though UTF-16 says otherwise.
          [{ key: '/hi', target: 'value', op: '<', value: '\u{1F600}' }, true],
          // An absent key has mod, create and version 0 ...
          [{ key: '/absent', target: 'mod', op: '=', value: 0 }, true],
          [{ key: '/absent', target: 'create', op: '=', value: 0 }, true],
          [{ key: '/absent', target: 'version', op: '=', value: 0 }, true],
          [{ key: '/absent', target: 'mod', op: '>', value: 0 }, false],
          [{ key: '/absent', target: 'version', op: '<', value: 1 }, true],
          // ... and no value: every value compare on it fails, even '!='.
          [{ key: '/absent', target: 'value', op: '=', value: '' }, false],
          [{ key: '/absent', target: 'value', op: '!=', value: 'x' }, false],
          [{ key: '/absent', target: 'value', op: '>', value: '' }, false],
        ];
        const r0 = await store.revision();
        const outcomes: string[] = [];
        for (const [compare, _expected] of cases) {
          const res = await store.txn([compare], []);
          outcomes.push(`${compare.key} ${compare.target} ${compare.op} ${compare.value}: ${res.succeeded}`);
        }
        expect(outcomes).toEqual(cases.map(([compare, expected]) => `${compare.key} ${compare.target} ${compare.op} ${compare.value}: ${expected}`));
        // A transaction that writes nothing does not move the revision.
        expect(await store.revision()).toBe(r0);
      });

      it('succeeds only when every compare holds', async () => {
        const m = await put(store, '/k', 'v');
        const holds: Compare = { key: '/k', target: 'mod', op: '=', value: m };
        const fails: Compare = { key: '/k', target: 'version', op: '=', value: 9 };
        expect((await store.txn([holds, holds], [])).succeeded).toBe(true);
        expect((await store.txn([holds, fails], [])).succeeded).toBe(false);
        expect((await store.txn([fails, holds], [])).succeeded).toBe(false);
        expect((await store.txn([], [])).succeeded).toBe(true);
      });

      it('applies the success branch when the compares hold, as one revision', async () => {
        await put(store, '/m/old', 'x');
        const r0 = await store.revision();
        const res = await store.txn(
          [{ key: '/m/1', target: 'mod', op: '=', value: 0 }],
          [
            { type: 'put', key: '/m/1', value: 'one' },
            { type: 'put', key: '/m/2', value: 'two' },
            { type: 'delete', key: '/m/old' },
          ],
          [{ type: 'put', key: '/m/failed', value: 'x' }],
        );
        expect(res).toEqual({ succeeded: true, revision: r0 + 1 });
        expect(await store.get('/m/1')).toMatchObject({ value: 'one', modRevision: r0 + 1, createRevision: r0 + 1 });
        expect(await store.get('/m/2')).toMatchObject({ value: 'two', modRevision: r0 + 1 });
        expect(await keysOf(store, '/m/')).toEqual(['/m/1', '/m/2']);
      });

      it('applies the failure branch when a compare fails', async () => {
        const m = await put(store, '/k', 'v1');
        await put(store, '/k', 'v2');
        const res = await store.txn(
          [{ key: '/k', target: 'mod', op: '=', value: m }],
          [{ type: 'put', key: '/k', value: 'lost update' }],
          [{ type: 'put', key: '/conflicts', value: '1' }],
        );
        expect(res).toEqual({ succeeded: false, revision: m + 2 });
        expect(await store.get('/k')).toMatchObject({ value: 'v2' });
        expect(await store.get('/conflicts')).toMatchObject({ value: '1', modRevision: m + 2 });
      });

      it('a failed compare with no failure branch writes nothing', async () => {
        const r0 = await put(store, '/k', 'v');
        const res = await store.txn([{ key: '/k', target: 'mod', op: '=', value: 0 }], [{ type: 'put', key: '/k', value: 'x' }]);
        expect(res).toEqual({ succeeded: false, revision: r0 });
        expect(await store.get('/k')).toMatchObject({ value: 'v', version: 1 });
      });

      it('creates a key only if absent (modRevision 0)', async () => {
        const create = (value: string): Promise<{ succeeded: boolean }> =>
          store.txn([{ key: '/once', target: 'mod', op: '=', value: 0 }], [{ type: 'put', key: '/once', value }]);
        expect((await create('first')).succeeded).toBe(true);
        expect((await create('second')).succeeded).toBe(false);
        expect(await store.get('/once')).toMatchObject({ value: 'first' });
      });

      it('rejects a transaction that puts a key twice or puts and deletes it, writing nothing', async () => {
        await put(store, '/k', 'v');
        const r0 = await store.revision();
        const bad: Array<[readonly Op[], readonly Op[]]> = [
          [[{ type: 'put', key: '/a', value: '1' }, { type: 'put', key: '/a', value: '2' }], []],
          [[{ type: 'put', key: '/a', value: '1' }, { type: 'delete', key: '/a' }], []],
          [[{ type: 'delete', key: '/a' }, { type: 'put', key: '/a', value: '1' }], []],
          [[{ type: 'put', key: '/p/a', value: '1' }, { type: 'deletePrefix', prefix: '/p/' }], []],
          // Both branches are checked up front, even the one that would not run.
          [[{ type: 'put', key: '/ok', value: '1' }], [{ type: 'put', key: '/b', value: '1' }, { type: 'put', key: '/b', value: '2' }]],
        ];
        for (const [success, failure] of bad) {
          await expectStoreError(store.txn([{ key: '/k', target: 'version', op: '=', value: 1 }], success, failure), 'invalid');
        }
        await expectStoreError(store.txn([{ key: '', target: 'mod', op: '=', value: 0 }], []), 'invalid');
        expect(await store.revision()).toBe(r0);
        expect(await keysOf(store, '')).toEqual(['/k']);
      });

      it('allows deleting one key twice in a transaction; it is deleted once', async () => {
        await put(store, '/d/1', 'x');
        const r0 = await store.revision();
        const watch = new Reader(store.watch('/d/', { fromRevision: r0 + 1 }));
        const res = await store.txn([], [{ type: 'delete', key: '/d/1' }, { type: 'deletePrefix', prefix: '/d/' }]);
        expect(res.revision).toBe(r0 + 1);
        expect(lines(await watch.next())).toEqual([`delete /d/1= @${r0 + 1}`]);
        watch.close();
      });
    });

    describe('deletePrefix', () => {
      it('deletes exactly the keys under the prefix, as one revision', async () => {
        await store.txn([], ['/a', '/a/', '/a/1', '/a/2/x', '/a0', '/ab', '/b'].map((key): Op => ({ type: 'put', key, value: key })));
        const r0 = await store.revision();
        const watch = new Reader(store.watch('', { fromRevision: r0 + 1 }));
        const res = await store.txn([], [{ type: 'deletePrefix', prefix: '/a/' }]);
        expect(res).toEqual({ succeeded: true, revision: r0 + 1 });
        expect(await keysOf(store, '')).toEqual(['/a', '/a0', '/ab', '/b']);
        // One batch, in key order, each event carrying what was deleted.
        const batch = await watch.next();
        expect(lines(batch)).toEqual([`delete /a/= @${r0 + 1}`, `delete /a/1= @${r0 + 1}`, `delete /a/2/x= @${r0 + 1}`]);
        expect(batch.map((e) => e.prevKv?.value)).toEqual(['/a/', '/a/1', '/a/2/x']);
        watch.close();
      });

      it('writes nothing when no key matches', async () => {
        const r0 = await put(store, '/b', 'x');
        expect(await store.txn([], [{ type: 'deletePrefix', prefix: '/a/' }])).toEqual({ succeeded: true, revision: r0 });
      });

      it('with the empty prefix deletes every key', async () => {
        await store.txn([], [{ type: 'put', key: '/x', value: '1' }, { type: 'put', key: 'y', value: '2' }]);
        await store.txn([], [{ type: 'deletePrefix', prefix: '' }]);
        expect((await store.range('')).count).toBe(0);
      });
    });

    describe('range', () => {
      it('matches keys by prefix: "/a/" never matches "/a", "/a0" or "/ab"', async () => {
        const keys = ['/', '/a', '/a/', '/a/1', '/a/2/x', '/a/\u00e9', '/a/\u{1F600}', '/a/\uFF61', '/a0', '/ab', '/b'];
        await store.txn([], keys.map((key): Op => ({ type: 'put', key, value: 'v' })));
        // Ordered by UTF-8 bytes, as etcd orders keys: é (C3) < ｡ (EF) < 😀 (F0).
        const underA = ['/a/', '/a/1', '/a/2/x', '/a/\u00e9', '/a/\uFF61', '/a/\u{1F600}'];
        expect(await keysOf(store, '/a/')).toEqual(underA);
        expect(await keysOf(store, '/a')).toEqual(['/a', ...underA, '/a0', '/ab']);
        expect(await keysOf(store, '/a/\u00e9')).toEqual(['/a/\u00e9']);
        expect(await keysOf(store, '/c')).toEqual([]);
        expect(await keysOf(store, '')).toEqual(['/', '/a', ...underA, '/a0', '/ab', '/b']);
      });

      it('matches a prefix that ends in the last code point', async () => {
        const keys = ['/z', '/z\u{10FFFF}', '/z\u{10FFFF}x', '/z{'];
        await store.txn([], keys.map((key): Op => ({ type: 'put', key, value: 'v' })));
        expect(await keysOf(store, '/z\u{10FFFF}')).toEqual(['/z\u{10FFFF}', '/z\u{10FFFF}x']);
      });

      it('returns full key-values and the revision it was served at', async () => {
        const r1 = await put(store, '/r/1', 'one');
        const r2 = await put(store, '/r/1', 'uno');
        const res = await store.range('/r/');
        expect(res).toEqual({
          kvs: [{ key: '/r/1', value: 'uno', createRevision: r1, modRevision: r2, version: 2 }],
          more: false,
          count: 1,
          revision: r2,
        });
      });

      it('pages through many keys with limit and startAfter, ascending and descending', async () => {
        const all = Array.from({ length: 250 }, (_, i) => `/p/${pad(i)}`);
        // In transactions of 100: etcd refuses more than 128 operations in one by default.
        for (let i = 0; i < all.length; i += 100) {
          await store.txn([], all.slice(i, i + 100).map((key): Op => ({ type: 'put', key, value: key })));
        }
        await put(store, '/p0', 'outside');
        await put(store, '/o', 'outside');
        for (const descending of [false, true]) {
          const seen: string[] = [];
          let startAfter: string | undefined;
          for (let page = 0; ; page++) {
            expect(page).toBeLessThan(20);
            const res = await store.range('/p/', { limit: 17, descending, ...(startAfter === undefined ? {} : { startAfter }) });
            // count is the whole prefix, whatever the page.
            expect(res.count).toBe(250);
            seen.push(...res.kvs.map((kv) => kv.key));
            expect(res.more).toBe(seen.length < 250);
            if (!res.more) break;
            expect(res.kvs).toHaveLength(17);
            startAfter = res.kvs[res.kvs.length - 1]!.key;
          }
          expect(seen).toEqual(descending ? [...all].reverse() : all);
        }
      });

      it('limit exactly the number of keys leaves more false', async () => {
        await store.txn([], ['/l/1', '/l/2', '/l/3'].map((key): Op => ({ type: 'put', key, value: 'v' })));
        expect(await store.range('/l/', { limit: 3 })).toMatchObject({ more: false, count: 3 });
        const two = await store.range('/l/', { limit: 2 });
        expect(two).toMatchObject({ more: true, count: 3 });
        expect(two.kvs.map((kv) => kv.key)).toEqual(['/l/1', '/l/2']);
        expect((await store.range('/l/', { limit: 2, descending: true })).kvs.map((kv) => kv.key)).toEqual(['/l/3', '/l/2']);
      });

      it('startAfter skips up to and including that key, in the order asked', async () => {
        await store.txn([], ['/s/1', '/s/2', '/s/3'].map((key): Op => ({ type: 'put', key, value: 'v' })));
        const keys = async (startAfter: string, descending = false): Promise<string[]> =>
          (await store.range('/s/', { startAfter, descending })).kvs.map((kv) => kv.key);
        expect(await keys('/s/1')).toEqual(['/s/2', '/s/3']);
        expect(await keys('/s/15')).toEqual(['/s/2', '/s/3']);
        expect(await keys('/s/3')).toEqual([]);
        expect(await keys('/a')).toEqual(['/s/1', '/s/2', '/s/3']);
        expect(await keys('/s/3', true)).toEqual(['/s/2', '/s/1']);
        expect(await keys('/s/1', true)).toEqual([]);
        expect(await keys('/t', true)).toEqual(['/s/3', '/s/2', '/s/1']);
      });

      it('countOnly counts without returning key-values', async () => {
        await store.txn([], ['/c/1', '/c/2', '/cx'].map((key): Op => ({ type: 'put', key, value: 'v' })));
        const res = await store.range('/c/', { countOnly: true });
        expect(res.kvs).toEqual([]);
        expect(res.count).toBe(2);
        expect(res.revision).toBe(await store.revision());
      });

      it('counts what is there now, after each write', async () => {
        expect((await store.range('/n/', { countOnly: true })).count).toBe(0);
        await put(store, '/n/1', 'v');
        expect((await store.range('/n/', { limit: 1 })).count).toBe(1);
        await store.txn([], [{ type: 'put', key: '/n/2', value: 'v' }, { type: 'put', key: '/n/3', value: 'v' }]);
        expect((await store.range('/n/', { countOnly: true })).count).toBe(3);
        await store.txn([], [{ type: 'delete', key: '/n/1' }]);
        expect((await store.range('/n/', { limit: 1 })).count).toBe(2);
      });

      it('rejects a limit that is not a positive integer', async () => {
        for (const limit of [0, -1, 1.5, Number.NaN]) await expectStoreError(store.range('/', { limit }), 'invalid');
      });
    });

    describe('watch', () => {
      it('from an old revision: catches up, then goes live, one batch per revision, in order', async () => {
        const r1 = await put(store, '/w/1', 'a');
        const r2 = await put(store, '/w/2', 'b');
        const r3 = (await store.txn([], [{ type: 'put', key: '/w/3', value: 'c' }, { type: 'put', key: '/w/1', value: 'd' }])).revision;
        const watch = new Reader(store.watch('/w/', { fromRevision: r1 }));
        expect((await watch.take(3)).map(lines)).toEqual([
          [`put /w/1=a @${r1}`],
          [`put /w/2=b @${r2}`],
          // Within a revision, events keep the order of the transaction's ops.
          [`put /w/3=c @${r3}`, `put /w/1=d @${r3}`],
        ]);
        const r4 = await put(store, '/w/4', 'e');
        const r5 = (await store.txn([], [{ type: 'delete', key: '/w/2' }, { type: 'put', key: '/w/5', value: 'f' }])).revision;
        expect((await watch.take(2)).map(lines)).toEqual([[`put /w/4=e @${r4}`], [`delete /w/2= @${r5}`, `put /w/5=f @${r5}`]]);
        watch.close();
      });

      it('starts from the middle of the history', async () => {
        await put(store, '/w/1', 'a');
        const r2 = await put(store, '/w/2', 'b');
        const r3 = await put(store, '/w/3', 'c');
        const watch = new Reader(store.watch('/w/', { fromRevision: r2 }));
        expect((await watch.take(2)).map(lines)).toEqual([[`put /w/2=b @${r2}`], [`put /w/3=c @${r3}`]]);
        watch.close();
      });

      it('carries kv and prevKv as etcd does', async () => {
        const r0 = await store.revision();
        const watch = new Reader(store.watch('/e/', { fromRevision: r0 + 1 }));
        await put(store, '/e/k', 'v1');
        await put(store, '/e/k', 'v2');
        await store.txn([], [{ type: 'delete', key: '/e/k' }]);
        const [created, updated, deleted] = (await watch.take(3)).map((b) => b[0]!);
        const v1 = { key: '/e/k', value: 'v1', createRevision: r0 + 1, modRevision: r0 + 1, version: 1 };
        const v2 = { key: '/e/k', value: 'v2', createRevision: r0 + 1, modRevision: r0 + 2, version: 2 };
        expect(created).toEqual({ type: 'put', kv: v1 });
        expect(created!.prevKv).toBeUndefined();
        expect(updated).toEqual({ type: 'put', kv: v2, prevKv: v1 });
        // A delete's kv is the tombstone: the key, no value, the deleting revision, nothing else.
        expect(deleted).toEqual({ type: 'delete', kv: { key: '/e/k', value: '', createRevision: 0, modRevision: r0 + 3, version: 0 }, prevKv: v2 });
        watch.close();
      });

      it('by default sees only what happens after the call', async () => {
        const before = await put(store, '/f/before', 'x');
        const watch = new Reader(store.watch('/f/'));
        // A backend may register the watch a little after the call returns (etcd does, on its
        // server), so keep writing until the watch speaks; what it says must postdate the call.
        const first = watch.next();
        let delivered = false;
        void first.then(() => (delivered = true), () => (delivered = true));
        const written: number[] = [];
        for (let i = 0; !delivered && i < 1000; i++) {
          written.push(await put(store, `/f/${pad(i)}`, String(i)));
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        const batch = await first;
        expect(batch[0]!.kv.modRevision).toBeGreaterThan(before);
        const rest = await watch.take(written.length - written.indexOf(batch[0]!.kv.modRevision) - 1);
        expect([batch, ...rest].map((b) => b[0]!.kv.modRevision)).toEqual(written.slice(written.indexOf(batch[0]!.kv.modRevision)));
        watch.close();
      });

      it('delivers only keys under its prefix, and skips revisions with none', async () => {
        const r0 = await store.revision();
        const watch = new Reader(store.watch('/a/', { fromRevision: r0 + 1 }));
        await store.txn([], [{ type: 'put', key: '/a/1', value: 'x' }, { type: 'put', key: '/ab', value: 'x' }, { type: 'put', key: '/b/1', value: 'x' }]);
        await put(store, '/ab', 'y');
        await put(store, '/a', 'y');
        await store.txn([], [{ type: 'deletePrefix', prefix: '/a' }]);
        await put(store, '/a/2', 'z');
        expect((await watch.take(3)).map(lines)).toEqual([
          [`put /a/1=x @${r0 + 1}`],
          [`delete /a/1= @${r0 + 4}`],
          [`put /a/2=z @${r0 + 5}`],
        ]);
        watch.close();
      });

      it('serves several watchers at once, each its own prefix and start', async () => {
        const r0 = await store.revision();
        const all = new Reader(store.watch('', { fromRevision: r0 + 1 }));
        const a = new Reader(store.watch('/a/', { fromRevision: r0 + 1 }));
        await put(store, '/a/1', '1');
        await put(store, '/b/1', '2');
        const late = new Reader(store.watch('/a/', { fromRevision: r0 + 1 }));
        await put(store, '/a/2', '3');
        expect((await all.take(3)).map(lines)).toEqual([[`put /a/1=1 @${r0 + 1}`], [`put /b/1=2 @${r0 + 2}`], [`put /a/2=3 @${r0 + 3}`]]);
        expect((await a.take(2)).map(lines)).toEqual([[`put /a/1=1 @${r0 + 1}`], [`put /a/2=3 @${r0 + 3}`]]);
        expect((await late.take(2)).map(lines)).toEqual([[`put /a/1=1 @${r0 + 1}`], [`put /a/2=3 @${r0 + 3}`]]);
        for (const w of [all, a, late]) w.close();
      });

      it('resumes after a reconnect from the last seen revision + 1 with exactly the missed events', async () => {
        const r0 = await store.revision();
        const first = new Reader(store.watch('/r/', { fromRevision: r0 + 1 }));
        for (let i = 1; i <= 3; i++) await put(store, `/r/${i}`, String(i));
        const seen = await first.take(2);
        first.close();
        expect(await first.ended()).toBe(true);
        for (let i = 4; i <= 5; i++) await put(store, `/r/${i}`, String(i));
        const lastSeen = seen[seen.length - 1]![0]!.kv.modRevision;
        const second = new Reader(store.watch('/r/', { fromRevision: lastSeen + 1 }));
        const missed = await second.take(3);
        expect(missed.map(lines)).toEqual([[`put /r/3=3 @${r0 + 3}`], [`put /r/4=4 @${r0 + 4}`], [`put /r/5=5 @${r0 + 5}`]]);
        // Nothing else was pending: the next batch is the next write.
        const r6 = await put(store, '/r/6', '6');
        expect(lines(await second.next())).toEqual([`put /r/6=6 @${r6}`]);
        second.close();
      });

      it('keeps every event for a consumer that does not read for a while', async () => {
        const r0 = await store.revision();
        const watch = new Reader(store.watch('/slow/', { fromRevision: r0 + 1 }));
        for (let i = 0; i < 300; i++) await put(store, `/slow/${pad(i % 7)}`, String(i));
        const batches = await watch.take(300);
        expect(batches.map((b) => `${b[0]!.kv.modRevision} ${b[0]!.kv.value}`)).toEqual(Array.from({ length: 300 }, (_, i) => `${r0 + 1 + i} ${i}`));
        watch.close();
      });

      it('ends its iteration when closed, and a for-await can leave early', async () => {
        const r0 = await put(store, '/q/1', 'x');
        const watch = store.watch('/q/', { fromRevision: r0 });
        for await (const batch of watch) {
          expect(lines(batch)).toEqual([`put /q/1=x @${r0}`]);
          break;
        }
        const idle = new Reader(store.watch('/q/'));
        const pending = idle.ended();
        idle.close();
        expect(await pending).toBe(true);
      });

      it('rejects a fromRevision that is not a positive integer', async () => {
        for (const fromRevision of [0, -1, 1.5]) await expectWatchFailure(() => store.watch('/', { fromRevision }), 'invalid');
        await expectWatchFailure(() => store.watch('/bad\uD800'), 'invalid');
      });
    });

    describe('compaction', () => {
      it('fails a watch from before the compacted revision, and serves one from it', async () => {
        const r1 = await put(store, '/h/1', 'a');
        const r2 = await put(store, '/h/2', 'b');
        const r3 = await put(store, '/h/3', 'c');
        await store.compact(r2);
        const err = await expectWatchFailure(() => store.watch('/h/', { fromRevision: r1 }), 'compacted');
        expect(err.compactRevision).toBe(r2);
        const watch = new Reader(store.watch('/h/', { fromRevision: r2 }));
        expect((await watch.take(2)).map(lines)).toEqual([[`put /h/2=b @${r2}`], [`put /h/3=c @${r3}`]]);
        watch.close();
        // Compaction forgets history, never current state.
        expect(await keysOf(store, '/h/')).toEqual(['/h/1', '/h/2', '/h/3']);
      });

      it('ignores a compaction to an already compacted revision', async () => {
        await put(store, '/h/1', 'a');
        const r2 = await put(store, '/h/2', 'b');
        await store.compact(r2);
        await store.compact(r2);
        await store.compact(r2 - 1);
        const watch = new Reader(store.watch('/h/', { fromRevision: r2 }));
        expect(lines(await watch.next())).toEqual([`put /h/2=b @${r2}`]);
        watch.close();
      });

      it('rejects compacting a future or negative revision', async () => {
        const r = await put(store, '/h/1', 'a');
        await expectStoreError(store.compact(r + 1), 'invalid');
        await expectStoreError(store.compact(-1), 'invalid');
        const watch = new Reader(store.watch('/h/', { fromRevision: r }));
        expect(lines(await watch.next())).toEqual([`put /h/1=a @${r}`]);
        watch.close();
      });
    });

    describe('concurrent writers', () => {
      it('20 compare-and-swap increment loops on one key lose no update, and watchers see every revision once, in order', async () => {
        const key = '/counter';
        const loops = 20;
        const perLoop = 10;
        const total = loops * perLoop;
        const start = await put(store, key, '0');
        const early = new Reader(store.watch(key, { fromRevision: start + 1 }));
        let conflicts = 0;
        const increment = async (): Promise<void> => {
          for (let done = 0; done < perLoop; ) {
            const kv = await mustGet(store, key);
            const res = await store.txn([{ key, target: 'mod', op: '=', value: kv.modRevision }], [{ type: 'put', key, value: String(Number(kv.value) + 1) }]);
            if (res.succeeded) done++;
            else conflicts++;
          }
        };
        const work = Promise.all(Array.from({ length: loops }, increment));
        // A second watcher joins mid-way from the start, catching up while writes go on.
        const firstHalf = await early.take(total / 2);
        const late = new Reader(store.watch(key, { fromRevision: start + 1 }));
        await work;

        expect(await mustGet(store, key)).toMatchObject({ value: String(total), version: total + 1 });
        expect(await store.revision()).toBe(start + total);
        // The loops really did race: some compare-and-swaps lost and were retried.
        expect(conflicts).toBeGreaterThan(0);
        const expected = Array.from({ length: total }, (_, i) => `put ${key}=${i + 1} @${start + 1 + i}`);
        const earlySeen = [...firstHalf, ...(await early.take(total / 2))];
        expect(earlySeen.map((b) => lines(b).join(' | '))).toEqual(expected);
        expect((await late.take(total)).map((b) => lines(b).join(' | '))).toEqual(expected);
        // ... and nothing more: the next batch is the next write.
        const next = await put(store, key, 'done');
        expect(lines(await early.next())).toEqual([`put ${key}=done @${next}`]);
        early.close();
        late.close();
      });

      it('concurrent multi-key transfers keep the sum in every read and every revision', async () => {
        const accounts = 5;
        const key = (i: number): string => `/bank/${i}`;
        const start = (await store.txn([], Array.from({ length: accounts }, (_, i): Op => ({ type: 'put', key: key(i), value: '100' })))).revision;
        const watch = new Reader(store.watch('/bank/', { fromRevision: start + 1 }));
        const balances = (kvs: readonly KeyValue[]): number => kvs.reduce((sum, kv) => sum + Number(kv.value), 0);

        const transfer = async (from: number, to: number): Promise<void> => {
          for (;;) {
            const [a, b] = [await mustGet(store, key(from)), await mustGet(store, key(to))];
            const res = await store.txn(
              [
                { key: a.key, target: 'mod', op: '=', value: a.modRevision },
                { key: b.key, target: 'mod', op: '=', value: b.modRevision },
              ],
              [
                { type: 'put', key: a.key, value: String(Number(a.value) - 7) },
                { type: 'put', key: b.key, value: String(Number(b.value) + 7) },
              ],
            );
            if (res.succeeded) return;
          }
        };
        let writing = true;
        const sums: number[] = [];
        const reader = (async () => {
          while (writing) sums.push(balances((await store.range('/bank/')).kvs));
        })();
        const workers = Array.from({ length: 10 }, async (_, w) => {
          for (let i = 0; i < 5; i++) await transfer((w + i) % accounts, (w + i + 1) % accounts);
        });
        await Promise.all(workers);
        writing = false;
        await reader;

        expect(sums.length).toBeGreaterThan(0);
        expect(new Set(sums)).toEqual(new Set([100 * accounts]));
        expect(await store.revision()).toBe(start + 50);
        // Each transfer is one revision carrying both of its writes.
        const batches = await watch.take(50);
        expect(batches.map((b) => b.length)).toEqual(Array.from({ length: 50 }, () => 2));
        expect(batches.map((b) => b[0]!.kv.modRevision)).toEqual(Array.from({ length: 50 }, (_, i) => start + 1 + i));
        watch.close();
      });
    });

    describe('a closed store', () => {
      it('rejects every call with StoreError closed, ends its watches, and closes again quietly', async () => {
        const r = await put(store, '/k', 'v');
        const watch = new Reader(store.watch('/k', { fromRevision: r + 1 }));
        const pending = watch.ended();
        await store.close();
        expect(await pending).toBe(true);
        await expectStoreError(store.get('/k'), 'closed');
        await expectStoreError(store.range('/'), 'closed');
        await expectStoreError(store.txn([], [{ type: 'put', key: '/k', value: 'x' }]), 'closed');
        await expectStoreError(store.revision(), 'closed');
        await expectStoreError(store.compact(r), 'closed');
        await expectWatchFailure(() => store.watch('/k'), 'closed');
        await expect(store.close()).resolves.toBeUndefined();
      });
    });
  });
}
