/**
 * SqliteStore against the shared Store contract (in memory and on disk), and what only SQLite
 * promises: state and history survive a reopen or a kill -9, one process owns a file, ranges are
 * index scans, history is trimmed without losing what an open watch still needs.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { fstatSync, fsync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { storeContractSuite } from '../contract.suite.js';
import { put, StoreError, type Store, type WatchEvent } from '../store.js';
import { countSql, deletePrefixSql, eventsSql, prefixRowsSql, rangeSql, SCHEMA } from './sql.js';
import { SqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-sqlite-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshFile = (): string => join(dir, `store-${++files}.db`);

storeContractSuite('sqlite in memory', () => Promise.resolve(SqliteStore.open(':memory:')));
storeContractSuite('sqlite file', () => Promise.resolve(SqliteStore.open(freshFile())));

async function storeError(promise: Promise<unknown>): Promise<StoreError> {
  const err = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

/** The first thing a watch does: yield a batch, or fail. */
async function firstOf(store: Store, prefix: string, fromRevision: number): Promise<readonly WatchEvent[]> {
  const watch = store.watch(prefix, { fromRevision });
  try {
    const r = await watch[Symbol.asyncIterator]().next();
    if (r.done) throw new Error('the watch ended');
    return r.value;
  } finally {
    watch.close();
  }
}

async function takeAll(store: Store, prefix: string, fromRevision: number, n: number): Promise<string[]> {
  const watch = store.watch(prefix, { fromRevision });
  const it = watch[Symbol.asyncIterator]();
  const seen: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) throw new Error('the watch ended');
    seen.push(...r.value.map((e) => `${e.kv.modRevision} ${e.kv.key}=${e.kv.value}`));
  }
  watch.close();
  return seen;
}

describe('SqliteStore on a file', () => {
  it('keeps data, revision, history and compaction across a reopen', async () => {
    const path = freshFile();
    const first = SqliteStore.open(path);
    const r1 = await put(first, '/k/1', 'a');
    const r2 = await put(first, '/k/2', 'b');
    const r3 = (await first.txn([], [{ type: 'delete', key: '/k/1' }, { type: 'put', key: '/k/2', value: 'c' }])).revision;
    await first.compact(r2);
    // Transactions that write nothing leave the stored revision where it was, too.
    await first.txn([], [{ type: 'delete', key: '/absent' }]);
    await first.txn([{ key: '/k/2', target: 'version', op: '=', value: 9 }], [{ type: 'put', key: '/k/2', value: 'x' }]);
    await first.close();

    const again = SqliteStore.open(path);
    expect(await again.revision()).toBe(r3);
    expect((await again.range('/k/')).kvs).toEqual([{ key: '/k/2', value: 'c', createRevision: r2, modRevision: r3, version: 2 }]);
    expect(await takeAll(again, '/k/', r2, 2)).toEqual([`${r2} /k/2=b`, `${r3} /k/1=`, `${r3} /k/2=c`]);
    expect((await storeError(firstOf(again, '/k/', r1))).compactRevision).toBe(r2);
    // The revision counter goes on from where it was.
    expect(await put(again, '/k/3', 'd')).toBe(r3 + 1);
    await again.close();
  });

  it('lets one store at a time open a file; the next open fails with conflict until it is closed', async () => {
    const path = freshFile();
    const owner = SqliteStore.open(path);
    await put(owner, '/k', 'v');
    const err = (() => {
      try {
        SqliteStore.open(path, { lockTimeoutMs: 0 });
        return new Error('a second open succeeded');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).kind).toBe('conflict');
    await owner.close();
    const next = SqliteStore.open(path, { lockTimeoutMs: 0 });
    expect(await next.get('/k')).toMatchObject({ value: 'v' });
    await next.close();
  });

  it('refuses a database written by a different store schema', () => {
    const path = freshFile();
    const db = new Database(path);
    db.exec(SCHEMA);
    db.prepare("UPDATE meta SET value = 99 WHERE name = 'schema'").run();
    db.close();
    expect(() => SqliteStore.open(path)).toThrow(/schema 99/);
  });

  it('keeps every acknowledged write when its process is killed with SIGKILL, and frees the file', async () => {
    const path = freshFile();
    const script = join(import.meta.dirname, 'testdata', 'write-acked.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, path], {
      cwd: join(import.meta.dirname, '..', '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));

    const acked = new Map<number, number>();
    let killedWhileWriting = false;
    const lines = createInterface({ input: child.stdout });
    for await (const line of lines) {
      const [i, revision] = line.split(' ').map(Number);
      acked.set(i!, revision!);
      if (acked.size === 200 && !killedWhileWriting) {
        // While the child writes, the file is its alone.
        expect((await storeError(Promise.resolve().then(() => SqliteStore.open(path, { lockTimeoutMs: 0 })))).kind).toBe('conflict');
        killedWhileWriting = child.kill('SIGKILL');
      }
    }
    expect(await exited, stderr).toBe('SIGKILL');
    expect(killedWhileWriting).toBe(true);

    const store = SqliteStore.open(path, { lockTimeoutMs: 0 });
    expect(acked.size).toBeGreaterThanOrEqual(200);
    for (const [i, revision] of acked) expect(await store.get(`/acked/${i}`)).toMatchObject({ value: String(i), modRevision: revision });
    expect(await store.revision()).toBeGreaterThanOrEqual(Math.max(...acked.values()));
    await store.close();
  });
});

/**
 * A store whose WAL fsyncs wait until the test lets them run (or fail), to see what may be
 * observed while a commit is written but not yet durable.
 */
function heldSyncs(path: string) {
  const held: Array<{ fd: number; done: (err: Error | null) => void }> = [];
  const store = SqliteStore.open(path, { syncWal: (fd, done) => void held.push({ fd, done }) });
  return {
    store,
    held,
    /** Runs the fsync that is waiting (there is one at a time), for real. */
    release: (): void => {
      const next = held.shift();
      if (next === undefined) throw new Error('no fsync is waiting');
      fsync(next.fd, next.done);
    },
    fail: (): void => {
      held.shift()!.done(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    },
  };
}

/** Whether a promise has settled, after letting pending callbacks run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('SqliteStore durability', () => {
  it('acknowledges a commit, and lets it be read or watched, only once the WAL is fsynced', async () => {
    const { store, held, release } = heldSyncs(freshFile());
    const r0 = await store.revision();
    const watch = store.watch('/k/');
    const next = watch[Symbol.asyncIterator]().next();
    const write = put(store, '/k/a', '1');
    expect(held).toHaveLength(1);
    // Written to the WAL but not durable: nobody hears of it yet.
    const read = store.get('/k/a');
    const listed = store.range('/k/');
    expect(await settled(write)).toBe(false);
    expect(await settled(read)).toBe(false);
    expect(await settled(listed)).toBe(false);
    expect(await settled(next)).toBe(false);
    // Reads of other keys, and the revision, answer at once with what is durable.
    expect(await store.revision()).toBe(r0);
    expect(await settled(store.get('/other'))).toBe(true);
    expect(await settled(store.range('/other/'))).toBe(true);
    release();
    expect(await write).toBe(r0 + 1);
    expect(await read).toMatchObject({ value: '1', modRevision: r0 + 1 });
    expect((await listed).kvs.map((kv) => kv.value)).toEqual(['1']);
    expect(await store.revision()).toBe(r0 + 1);
    const r = await next;
    expect(r.done ? [] : r.value.map((e) => e.kv.value)).toEqual(['1']);
    watch.close();
    // With nothing left to sync, a read answers at once.
    expect(await settled(store.get('/k/a'))).toBe(true);
    await store.close();
  });

  it('shares one fsync among the commits made while the one before ran, in order', async () => {
    const { store, held, release } = heldSyncs(freshFile());
    const r0 = await store.revision();
    const first = put(store, '/k/1', 'a');
    const later = [put(store, '/k/2', 'b'), put(store, '/k/3', 'c'), put(store, '/k/4', 'd')];
    expect(held).toHaveLength(1);
    release();
    expect(await first).toBe(r0 + 1);
    // One fsync (started after the first ended) covers the three commits made meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    expect(held).toHaveLength(1);
    expect(await settled(Promise.all(later))).toBe(false);
    release();
    expect(await Promise.all(later)).toEqual([r0 + 2, r0 + 3, r0 + 4]);
    expect(held).toHaveLength(0);
    expect(await takeAll(store, '/k/', r0 + 1, 4)).toEqual([`${r0 + 1} /k/1=a`, `${r0 + 2} /k/2=b`, `${r0 + 3} /k/3=c`, `${r0 + 4} /k/4=d`]);
    await store.close();
  });

  it('stops the store when an fsync fails: waiting callers and later calls get closed, watches end', async () => {
    const path = freshFile();
    const { store, fail } = heldSyncs(path);
    const watch = store.watch('/k/');
    const next = watch[Symbol.asyncIterator]().next();
    const write = put(store, '/k/a', '1');
    fail();
    const err = await storeError(write);
    expect(err.kind).toBe('closed');
    expect(err.message).toMatch(/writing its log to disk failed \(EIO/);
    expect((await storeError(store.get('/k/a'))).kind).toBe('closed');
    expect((await storeError(put(store, '/k/b', '2'))).kind).toBe('closed');
    expect(await next).toEqual({ value: undefined, done: true });
    await store.close();
    // What is on disk is whatever the WAL holds: a reopen reads it back and goes on.
    const again = SqliteStore.open(path);
    expect(await put(again, '/k/c', '3')).toBeGreaterThan(0);
    await again.close();
  });

  it('on close, waits for the fsync in flight and makes the commits after it durable, then answers them', async () => {
    const path = freshFile();
    const { store, held, release } = heldSyncs(path);
    const r0 = await store.revision();
    const first = put(store, '/k/1', 'a');
    const second = put(store, '/k/2', 'b');
    const closing = store.close();
    expect(await settled(closing)).toBe(false);
    expect((await storeError(store.get('/k/1'))).kind).toBe('closed');
    release();
    await closing;
    expect(held).toHaveLength(0);
    expect(await Promise.all([first, second])).toEqual([r0 + 1, r0 + 2]);
    const again = SqliteStore.open(path);
    expect((await again.range('/k/')).kvs.map((kv) => kv.value)).toEqual(['a', 'b']);
    await again.close();
  });

  it('syncs the WAL file SQLite writes, across checkpoints that rewind it', async () => {
    const path = freshFile();
    const fds = new Set<number>();
    const store = SqliteStore.open(path, {
      syncWal: (fd, done) => {
        fds.add(fd);
        fsync(fd, done);
      },
    });
    // Enough to pass SQLite's automatic checkpoint (1,000 pages) a few times over.
    const big = 'x'.repeat(8000);
    for (let i = 0; i < 600; i++) await put(store, `/big/${i % 50}`, big + String(i));
    expect(fds.size).toBe(1);
    const [fd] = [...fds];
    expect(fstatSync(fd!).ino).toBe(statSync(`${path}-wal`).ino);
    await store.close();
  });
});

describe('SqliteStore history', () => {
  it('keeps the last historyLimit revisions for watches, compacting as it writes', async () => {
    const store = SqliteStore.open(':memory:', { historyLimit: 10 });
    for (let i = 1; i <= 50; i++) await put(store, '/k', String(i));
    const current = await store.revision();
    const err = await storeError(firstOf(store, '/k', 1));
    expect(err.kind).toBe('compacted');
    expect(err.compactRevision).toBeGreaterThan(1);
    expect(err.compactRevision).toBeLessThanOrEqual(current - 9);
    expect(await takeAll(store, '/k', current - 9, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `${current - 9 + i} /k=${41 + i}`));
    await store.close();
  });

  it('never compacts what an open watch has yet to read, even past its memory buffer', async () => {
    const store = SqliteStore.open(':memory:', { historyLimit: 10, watchBufferLimit: 4 });
    const r0 = await store.revision();
    const slow = store.watch('/k', { fromRevision: r0 + 1 });
    const live = store.watch('/k');
    for (let i = 1; i <= 100; i++) await put(store, '/k', String(i));
    const expected = Array.from({ length: 100 }, (_, i) => `${r0 + 1 + i} /k=${i + 1}`);
    for (const watch of [slow, live]) {
      const it = watch[Symbol.asyncIterator]();
      const seen: string[] = [];
      for (let i = 0; i < 100; i++) {
        const r = await it.next();
        if (r.done) throw new Error('the watch ended');
        seen.push(...r.value.map((e) => `${e.kv.modRevision} ${e.kv.key}=${e.kv.value}`));
      }
      expect(seen).toEqual(expected);
      watch.close();
    }
    // With the watches gone the log is trimmed again.
    for (let i = 0; i < 20; i++) await put(store, '/k', 'later');
    expect((await storeError(firstOf(store, '/k', r0 + 1))).kind).toBe('compacted');
    await store.close();
  });

  it('lets a watch that an explicit compact() overtook fail, without holding history back', async () => {
    const store = SqliteStore.open(':memory:', { historyLimit: 10 });
    const r0 = await store.revision();
    await put(store, '/k', 'first');
    // Watching from the past, so it reads from the log, which it pins until compact() below.
    const stale = store.watch('/k', { fromRevision: r0 + 1 });
    for (let i = 0; i < 30; i++) await put(store, '/k', String(i));
    expect((await firstOf(store, '/k', r0 + 1)).map((e) => e.kv.value)).toEqual(['first']);
    const compactedAt = await store.revision();
    await store.compact(compactedAt);
    for (let i = 0; i < 30; i++) await put(store, '/k', String(i));
    expect((await storeError(firstOf(store, '/k', compactedAt))).kind).toBe('compacted');
    const err = await storeError(stale[Symbol.asyncIterator]().next());
    expect(err.kind).toBe('compacted');
    await store.close();
  });

  it('rejects options that are not positive integers', () => {
    for (const options of [{ historyLimit: 0 }, { historyLimit: 1.5 }, { watchBufferLimit: -1 }, { lockTimeoutMs: -1 }]) {
      expect(() => SqliteStore.open(':memory:', options)).toThrow(StoreError);
    }
  });
});

describe('SqliteStore statements', () => {
  // A prefix range over 100,000 keys must seek to the prefix, not read the table: SEARCH, never
  // SCAN, and never a sort of its own (the index gives the order, both ways).
  const db = new Database(':memory:');
  db.exec(SCHEMA);
  const plan = (sql: string, params: Record<string, unknown>): string =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  const bounds = { lower: '/a/', upper: '/a0' };

  it.each([
    ['range', rangeSql({ upper: true, after: false, descending: false }), { ...bounds, limit: 10 }],
    ['range after', rangeSql({ upper: true, after: true, descending: false }), { ...bounds, after: '/a/5', limit: 10 }],
    ['range descending', rangeSql({ upper: true, after: true, descending: true }), { ...bounds, after: '/a/5', limit: 10 }],
    ['range open-ended', rangeSql({ upper: false, after: false, descending: false }), { lower: '/', limit: 10 }],
    ['count', countSql({ upper: true }), bounds],
    ['deletePrefix rows', prefixRowsSql({ upper: true }), bounds],
    ['deletePrefix', deletePrefixSql({ upper: true }), bounds],
    ['watch catch-up', eventsSql({ upper: true }), { ...bounds, from: 5, to: 10 }],
  ])('%s is an index search', (_name, sql, params) => {
    const detail = plan(sql, params);
    expect(detail).toMatch(/SEARCH/);
    expect(detail).not.toMatch(/SCAN|TEMP B-TREE/);
  });
});
