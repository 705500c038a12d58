/**
 * The Store on SQLite: Berth's embedded default, where one server process owns one database file.
 * Each transaction is one SQLite transaction and one revision; watches are served in-process.
 */
import Database from 'better-sqlite3';
import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import {
  checkCompactRevision,
  checkFromRevision,
  checkKey,
  checkPrefix,
  checkRangeOptions,
  checkTxn,
  compareHolds,
  prefixEnd,
} from '../rules.js';
import {
  StoreError,
  type Compare,
  type KeyValue,
  type Op,
  type RangeOptions,
  type RangeResult,
  type Store,
  type TxnResult,
  type Watch,
  type WatchEvent,
  type WatchOptions,
} from '../store.js';
import { countSql, deletePrefixSql, eventsSql, prefixRowsSql, rangeSql, SCHEMA, SCHEMA_VERSION, SQL, type EventRow, type KvRow } from './sql.js';
import { SqliteWatch, type WatchSource } from './watch.js';

export interface SqliteStoreOptions {
  /** How many of the latest revisions the event log keeps for watches (default 100,000). */
  readonly historyLimit?: number;
  /** How long open() waits for another process to let go of the database file (default 2,000 ms). */
  readonly lockTimeoutMs?: number;
  /**
   * Batches a watch holds in memory for a consumer that is not keeping up (default 1,024); past
   * that it reads from the event log instead when the consumer comes back.
   */
  readonly watchBufferLimit?: number;
  /**
   * How the WAL file is fsynced (default: fs.fsync, in the libuv thread pool). Tests pass a slow
   * or failing one to see that nothing is acknowledged or observed before it is durable.
   */
  readonly syncWal?: (fd: number, done: (err: Error | null) => void) => void;
}

interface DurableWaiter {
  /** Resolves once every commit up to `seq` is on disk. */
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

interface Applied {
  readonly succeeded: boolean;
  readonly events: readonly WatchEvent[];
  /** The new compacted revision when this transaction also trimmed the log. */
  readonly compactedTo: number | undefined;
}

const toKv = (row: KvRow): KeyValue => ({
  key: row.key,
  value: row.value,
  createRevision: row.create_revision,
  modRevision: row.mod_revision,
  version: row.version,
});

// A delete's kv is etcd's tombstone: the key, an empty value and the deleting revision.
const tombstone = (prevKv: KeyValue, revision: number): WatchEvent => ({
  type: 'delete',
  kv: { key: prevKv.key, value: '', createRevision: 0, modRevision: revision, version: 0 },
  prevKv,
});

function toEvent(row: EventRow): WatchEvent {
  const kv: KeyValue = { key: row.key, value: row.value, createRevision: row.create_revision, modRevision: row.revision, version: row.version };
  const type = row.deleted === 1 ? 'delete' : 'put';
  if (row.prev_value === null) return { type, kv };
  const prevKv: KeyValue = {
    key: row.key,
    value: row.prev_value,
    createRevision: row.prev_create_revision ?? 0,
    modRevision: row.prev_mod_revision ?? 0,
    version: row.prev_version ?? 0,
  };
  return { type, kv, prevKv };
}

function positiveInteger(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new StoreError('invalid', `${field} must be a positive integer`);
  return value;
}

function isBusy(err: unknown): boolean {
  return err instanceof Database.SqliteError && (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED');
}

/**
 * @example
 * const store = SqliteStore.open(join(home, 'store.db'));
 * await put(store, '/ecs/clusters/default', JSON.stringify(cluster));
 */
export class SqliteStore implements Store {
  /**
   * Opens (creating if needed) the database at `path`, or a private in-memory one for ':memory:'.
   *
   * A file is opened in WAL mode, and a transaction is on disk once txn() resolves: SQLite writes
   * the commit to the WAL (synchronous=NORMAL: no fsync inside the commit, which would stop the
   * event loop for as long as the disk takes), then the WAL file is fsynced in the thread pool,
   * one fsync for every commit made while the one before ran (group commit). Until that fsync
   * ends, nothing can observe the commit: txn() has not resolved, watches have not heard of it,
   * and a read that could reflect it waits for it too. An fsync that fails stops the store (the
   * kernel may have dropped the pages it could not write; only a reopen, which reads the WAL
   * back, knows what is on disk). Checkpoints, which SQLite runs inside a commit now and then,
   * still fsync the WAL and the database file themselves. The file is opened with
   * `locking_mode=EXCLUSIVE`: the connection takes the file lock on first
   * access and holds it until close, so a second process (or a second open in this one) fails
   * here with StoreError('conflict') instead of forking the revision counter. The OS drops the
   * lock when a process dies, even by kill -9, so no stale lock file is ever left to clean up.
   * The price: no other process can read the file (e.g. the sqlite3 shell) while it is open.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const historyLimit = positiveInteger(options.historyLimit, 100_000, 'historyLimit');
    const watchBufferLimit = positiveInteger(options.watchBufferLimit, 1024, 'watchBufferLimit');
    const lockTimeoutMs = options.lockTimeoutMs ?? 2000;
    if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0) throw new StoreError('invalid', 'lockTimeoutMs must be a non-negative integer');

    const db = new Database(path, { timeout: lockTimeoutMs });
    try {
      if (path !== ':memory:') {
        // Must precede the first access: in WAL mode it also keeps the WAL index in heap memory.
        db.pragma('locking_mode = EXCLUSIVE');
        const mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal') throw new Error(`${path}: SQLite refused WAL mode (journal_mode is ${String(mode)})`);
      }
      // A file's durability is the WAL fsync below, outside the commit; NORMAL still fsyncs around checkpoints.
      db.pragma(path === ':memory:' ? 'synchronous = FULL' : 'synchronous = NORMAL');
      db.transaction(() => db.exec(SCHEMA))();
      const schema = db.prepare(SQL.getMeta).pluck().get('schema');
      if (schema !== SCHEMA_VERSION) throw new StoreError('invalid', `${path} has store schema ${String(schema)}; this Berth reads schema ${SCHEMA_VERSION}`);
      let wal: number | undefined;
      if (path !== ':memory:') {
        // In exclusive WAL mode SQLite keeps this file (rewinding it after checkpoints) until close.
        wal = openSync(`${path}-wal`, 'r');
        // The schema transaction above may have written: make it durable before anything is served.
        fsyncSync(wal);
      }
      return new SqliteStore(db, historyLimit, watchBufferLimit, wal, options.syncWal ?? fsync);
    } catch (err) {
      db.close();
      if (isBusy(err)) throw new StoreError('conflict', `${path} is in use by another store (SQLite: ${(err as Error).message})`);
      throw err;
    }
  }

  private readonly statements = new Map<string, Database.Statement>();
  private readonly watches = new Set<SqliteWatch>();
  private readonly counts = new Map<string, number>();
  private countsAt = -1;
  /** The store revision and the oldest watchable revision, mirrored from meta after each commit. */
  private rev: number;
  private compacted: number;
  private closed = false;
  /** Why the store stopped, when an fsync failed: every later call fails with it. */
  private broken: StoreError | undefined;
  /**
   * Commits made (`committed`) and known on disk (`durable`), counted apart from revisions since
   * compact() writes too. Everything observable waits until `durable` covers what it reflects.
   */
  private committed = 0;
  private durable = 0;
  private syncing: Promise<void> | undefined;
  private readonly durableWaiters: DurableWaiter[] = [];
  /** Commits not yet durable, in order, with the events watches will hear of once they are. */
  private readonly undelivered: Array<{ seq: number; revision: number; events: readonly WatchEvent[] }> = [];
  /** Keys written by commits not yet durable, with the last such commit: reads of them wait. */
  private readonly pendingKeys = new Map<string, number>();
  /** The revision that is on disk, which is all that watches may see. */
  private durableRev: number;
  private writesSinceCompaction = 0;
  /** Trimming the log every write would cost a delete per commit; every few writes is as good. */
  private readonly compactEvery: number;
  private readonly apply: (compares: readonly Compare[], success: readonly Op[], failure: readonly Op[]) => Applied;
  private readonly compactTo: (revision: number) => void;
  private readonly source: WatchSource = {
    revision: () => this.durableRev,
    compactedRevision: () => this.compacted,
    readEvents: (prefix, from, to) => this.readEvents(prefix, from, to),
    release: (watch) => void this.watches.delete(watch),
  };

  private constructor(
    private readonly db: Database.Database,
    private readonly historyLimit: number,
    private readonly watchBufferLimit: number,
    /** The WAL file's descriptor (undefined in memory, where there is nothing to sync). */
    private readonly wal: number | undefined,
    private readonly syncWal: (fd: number, done: (err: Error | null) => void) => void,
  ) {
    this.rev = this.meta('revision');
    this.durableRev = this.rev;
    this.compacted = this.meta('compacted');
    this.compactEvery = Math.min(1000, Math.ceil(historyLimit / 10));
    this.apply = db.transaction((compares: readonly Compare[], success: readonly Op[], failure: readonly Op[]) =>
      this.applyTxn(compares, success, failure),
    );
    this.compactTo = db.transaction((revision: number) => {
      this.stmt(SQL.compactEvents).run(revision);
      this.stmt(SQL.setMeta).run(revision, 'compacted');
    });
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.run(
      () => {
        checkKey(key);
        return this.readKv(key);
      },
      () => this.pendingKeys.get(key) ?? 0,
    );
  }

  range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    return this.run(() => {
      checkPrefix(prefix);
      checkRangeOptions(options);
      const upper = prefixEnd(prefix);
      const bounds = upper === undefined ? { lower: prefix } : { lower: prefix, upper };
      const count = this.countKeys(prefix, upper);
      if (options.countOnly) return { kvs: [], more: false, count, revision: this.rev };

      const { limit, startAfter } = options;
      const shape = { upper: upper !== undefined, after: startAfter !== undefined, descending: options.descending === true };
      // One row past the limit tells whether there are more.
      const params = { ...bounds, ...(startAfter === undefined ? {} : { after: startAfter }), limit: limit === undefined ? -1 : limit + 1 };
      const rows = this.stmt(rangeSql(shape)).all(params) as KvRow[];
      const more = limit !== undefined && rows.length > limit;
      if (more) rows.length = limit;
      return { kvs: rows.map(toKv), more, count, revision: this.rev };
    }, () => this.pendingUnder(prefix));
  }

  txn(compares: readonly Compare[], success: readonly Op[], failure: readonly Op[] = []): Promise<TxnResult> {
    return this.run(() => {
      checkTxn(compares, success, failure);
      const applied = this.apply(compares, success, failure);
      // Committed: now the in-memory mirror moves; watches hear of it once it is durable.
      if (applied.events.length > 0) {
        this.rev += 1;
        if (applied.compactedTo !== undefined) this.compacted = applied.compactedTo;
        this.committed += 1;
        this.undelivered.push({ seq: this.committed, revision: this.rev, events: applied.events });
        for (const e of applied.events) this.pendingKeys.set(e.kv.key, this.committed);
      }
      return { succeeded: applied.succeeded, revision: this.rev };
    });
  }

  watch(prefix: string, options: WatchOptions = {}): Watch {
    let failure: StoreError | undefined;
    try {
      this.checkOpen();
      checkPrefix(prefix);
      checkFromRevision(options.fromRevision);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      failure = err;
    }
    // Errors arrive through iteration, as they must for etcd, so callers handle them in one place.
    // By default from the next revision a reader could have seen: commits not yet durable are
    // still to come to this watch, as they were never observable.
    const watch = new SqliteWatch(this.source, prefix, options.fromRevision ?? this.durableRev + 1, this.watchBufferLimit, failure);
    if (failure === undefined) this.watches.add(watch);
    return watch;
  }

  /** The durable revision: the latest any reader or watch can have seen. */
  revision(): Promise<number> {
    return this.run(
      () => this.durableRev,
      () => 0,
    );
  }

  compact(revision: number): Promise<void> {
    return this.run(() => {
      checkCompactRevision(revision);
      if (revision > this.rev) throw new StoreError('invalid', `cannot compact to revision ${revision}: the store is at revision ${this.rev}`);
      if (revision <= this.compacted) return;
      this.compactTo(revision);
      this.compacted = revision;
      this.committed += 1;
      this.undelivered.push({ seq: this.committed, revision: this.rev, events: [] });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watch of [...this.watches]) watch.end();
    // The fsync in flight uses the WAL's descriptor; what it and any later commit cover is then
    // made durable here, so that callers still waiting get the answer they would have had.
    while (this.syncing !== undefined) await this.syncing;
    if (this.broken === undefined && this.durable < this.committed) {
      try {
        if (this.wal !== undefined) fsyncSync(this.wal);
        this.markDurable(this.committed);
      } catch (err) {
        this.fail(err);
      }
    }
    for (const w of this.durableWaiters.splice(0)) w.reject(new StoreError('closed', 'the store is closed'));
    if (this.wal !== undefined) closeSync(this.wal);
    this.db.close();
  }

  /** Runs inside one SQLite transaction: all or nothing, and exactly one revision if it writes. */
  private applyTxn(compares: readonly Compare[], success: readonly Op[], failure: readonly Op[]): Applied {
    const succeeded = compares.every((c) => compareHolds(c, this.readKv(c.key)));
    const revision = this.rev + 1;
    const events: WatchEvent[] = [];
    for (const op of succeeded ? success : failure) {
      switch (op.type) {
        case 'put': {
          const prevKv = this.readKv(op.key);
          const kv: KeyValue = {
            key: op.key,
            value: op.value,
            createRevision: prevKv?.createRevision ?? revision,
            modRevision: revision,
            version: (prevKv?.version ?? 0) + 1,
          };
          this.stmt(SQL.put).run(kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version);
          events.push(prevKv ? { type: 'put', kv, prevKv } : { type: 'put', kv });
          break;
        }
        case 'delete': {
          const prevKv = this.readKv(op.key);
          if (prevKv) {
            this.stmt(SQL.delete).run(op.key);
            events.push(tombstone(prevKv, revision));
          }
          break;
        }
        case 'deletePrefix': {
          const upper = prefixEnd(op.prefix);
          const bounds = upper === undefined ? { lower: op.prefix } : { lower: op.prefix, upper };
          const shape = { upper: upper !== undefined };
          const rows = this.stmt(prefixRowsSql(shape)).all(bounds) as KvRow[];
          if (rows.length > 0) this.stmt(deletePrefixSql(shape)).run(bounds);
          for (const row of rows) events.push(tombstone(toKv(row), revision));
          break;
        }
      }
    }
    if (events.length === 0) return { succeeded, events, compactedTo: undefined };

    const insert = this.stmt(SQL.insertEvent);
    events.forEach((e, seq) => {
      const p = e.prevKv;
      insert.run(revision, seq, e.type === 'delete' ? 1 : 0, e.kv.key, e.kv.value, e.kv.createRevision, e.kv.version,
        p?.value ?? null, p?.createRevision ?? null, p?.modRevision ?? null, p?.version ?? null);
    });
    this.stmt(SQL.setMeta).run(revision, 'revision');
    // Trimming in the same transaction means a failure here fails the write too, so txn() never
    // reports an error for a write that in fact committed.
    const compactedTo = this.trimHistory(revision);
    return { succeeded, events, compactedTo };
  }

  /**
   * Keeps the last `historyLimit` revisions, but never drops what an open watch has yet to read:
   * a slow watcher costs disk, not lost events.
   */
  private trimHistory(revision: number): number | undefined {
    if (++this.writesSinceCompaction < this.compactEvery) return undefined;
    this.writesSinceCompaction = 0;
    let floor = revision - this.historyLimit + 1;
    for (const watch of this.watches) {
      const resume = watch.resumeRevision;
      // A watch already behind an explicit compact() has lost its history; it must not pin the log.
      if (resume !== undefined && resume >= this.compacted && resume < floor) floor = resume;
    }
    if (floor <= this.compacted) return undefined;
    this.stmt(SQL.compactEvents).run(floor);
    this.stmt(SQL.setMeta).run(floor, 'compacted');
    return floor;
  }

  /**
   * Counting a prefix walks all of its keys; paging through a large prefix would do it once per
   * page. Counts are remembered until the next write, which is all a paging reader needs.
   */
  private countKeys(prefix: string, upper: string | undefined): number {
    if (this.countsAt !== this.rev || this.counts.size >= 256) {
      this.counts.clear();
      this.countsAt = this.rev;
    }
    let count = this.counts.get(prefix);
    if (count === undefined) {
      const bounds = upper === undefined ? { lower: prefix } : { lower: prefix, upper };
      count = this.stmt(countSql({ upper: upper !== undefined })).pluck().get(bounds) as number;
      this.counts.set(prefix, count);
    }
    return count;
  }

  private readEvents(prefix: string, from: number, to: number): WatchEvent[][] {
    const upper = prefixEnd(prefix);
    const params = upper === undefined ? { from, to, lower: prefix } : { from, to, lower: prefix, upper };
    const rows = this.stmt(eventsSql({ upper: upper !== undefined })).all(params) as EventRow[];
    const batches: WatchEvent[][] = [];
    let revision = -1;
    for (const row of rows) {
      if (row.revision !== revision) {
        batches.push([]);
        revision = row.revision;
      }
      batches[batches.length - 1]!.push(toEvent(row));
    }
    return batches;
  }

  private readKv(key: string): KeyValue | undefined {
    const row = this.stmt(SQL.get).get(key) as KvRow | undefined;
    return row && toKv(row);
  }

  private meta(name: string): number {
    return this.stmt(SQL.getMeta).pluck().get(name) as number;
  }

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private checkOpen(): void {
    if (this.broken !== undefined) throw this.broken;
    if (this.closed) throw new StoreError('closed', 'the store is closed');
  }

  /**
   * Every call checks the store is open, and a throw becomes a rejection as callers of a Promise
   * expect. The answer is computed now, and given once every commit it could reflect is durable:
   * `reflects` says the last commit that matters (by default every commit so far, as for a txn;
   * a read needs only the commits that wrote the keys it read, so reads of other keys never wait
   * for an fsync).
   */
  private run<T>(fn: () => T, reflects: () => number = () => this.committed): Promise<T> {
    let value: T;
    try {
      this.checkOpen();
      value = fn();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const seq = reflects();
    if (this.durable >= seq) return Promise.resolve(value);
    return this.whenDurable(seq).then(() => value);
  }

  /** The last commit not yet durable that wrote a key under `prefix`, or 0. */
  private pendingUnder(prefix: string): number {
    let last = 0;
    for (const [key, seq] of this.pendingKeys) if (seq > last && key.startsWith(prefix)) last = seq;
    return last;
  }

  /** Resolves once commit `seq` is on disk, starting an fsync if none is running. */
  private whenDurable(seq: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.durableWaiters.push({ seq, resolve, reject });
      this.startSync();
    });
  }

  /**
   * One fsync of the WAL at a time. It covers every commit made before it started; commits made
   * while it runs wait for the next one, which starts as soon as it ends.
   */
  private startSync(): void {
    if (this.syncing !== undefined || this.broken !== undefined) return;
    const upTo = this.committed;
    if (this.wal === undefined) {
      this.markDurable(upTo);
      return;
    }
    const wal = this.wal;
    this.syncing = new Promise<void>((resolve) => {
      this.syncWal(wal, (err) => {
        this.syncing = undefined;
        if (err) this.fail(err);
        else this.markDurable(upTo);
        resolve();
        // Once closing, close() makes the rest durable itself, before the descriptor goes.
        if (!this.closed && (this.durableWaiters.length > 0 || this.undelivered.length > 0)) this.startSync();
      });
    });
  }

  /** Commits up to `seq` are on disk: their watch events go out, then their callers hear. */
  private markDurable(seq: number): void {
    if (seq <= this.durable) return;
    this.durable = seq;
    let delivered = 0;
    for (const commit of this.undelivered) {
      if (commit.seq > seq) break;
      this.durableRev = commit.revision;
      if (commit.events.length > 0) for (const watch of this.watches) watch.offer(commit.revision, commit.events);
      delivered++;
    }
    this.undelivered.splice(0, delivered);
    for (const [key, written] of this.pendingKeys) if (written <= seq) this.pendingKeys.delete(key);
    let released = 0;
    for (const w of this.durableWaiters) {
      if (w.seq > seq) break;
      w.resolve();
      released++;
    }
    this.durableWaiters.splice(0, released);
  }

  /** An fsync failed: fail everything waiting, and every call from now on. */
  private fail(err: unknown): void {
    this.broken = new StoreError('closed', `the store stopped: writing its log to disk failed (${err instanceof Error ? err.message : String(err)}); reopen it to see what is on disk`);
    for (const w of this.durableWaiters.splice(0)) w.reject(this.broken);
    this.undelivered.length = 0;
    this.pendingKeys.clear();
    for (const watch of [...this.watches]) watch.end();
  }
}
