/**
 * A watch on SqliteStore, served in-process: live events are handed over after each commit, and a
 * watch that is behind (a catch-up from an old revision, or a consumer too slow to keep up) reads
 * the event log instead, so neither memory nor writers suffer for a slow consumer.
 */
import { StoreError, type Watch, type WatchEvent } from '../store.js';

/** What a watch needs of its store; every call is synchronous, so no commit can slip between two. */
export interface WatchSource {
  /** The store's current revision. */
  revision(): number;
  /** The oldest revision still in the event log. */
  compactedRevision(): number;
  /** Events for keys under the prefix in revisions from..to inclusive, one batch per revision. */
  readEvents(prefix: string, from: number, to: number): WatchEvent[][];
  /** The watch has ended; forget it. */
  release(watch: SqliteWatch): void;
}

type Batch = readonly WatchEvent[];

/** Revisions read from the log per step when behind, so a catch-up never holds the whole log in memory. */
const CATCH_UP_PAGE = 256;

export class SqliteWatch implements Watch, AsyncIterator<Batch> {
  private readonly queue: Batch[] = [];
  private readonly waiters: Array<{ resolve: (r: IteratorResult<Batch>) => void; reject: (e: unknown) => void }> = [];
  /**
   * The next revision this watch has not yet queued. While `live`, commits are queued as they
   * happen; while behind, the log holds everything from `cursor` on and the store keeps it.
   */
  private cursor: number;
  private live: boolean;
  private ended = false;
  private failure: StoreError | undefined;

  constructor(
    private readonly source: WatchSource,
    readonly prefix: string,
    fromRevision: number,
    private readonly bufferLimit: number,
    failure?: StoreError,
  ) {
    this.cursor = fromRevision;
    this.live = fromRevision > source.revision();
    this.failure = failure;
  }

  /** Where this watch would resume from the log; undefined when it does not need the log. */
  get resumeRevision(): number | undefined {
    return this.live || this.ended ? undefined : this.cursor;
  }

  /** Called by the store right after a commit at `revision` with all of that commit's events. */
  offer(revision: number, events: readonly WatchEvent[]): void {
    if (this.ended || !this.live || revision < this.cursor) return;
    const mine = this.prefix === '' ? events : events.filter((e) => e.kv.key.startsWith(this.prefix));
    if (mine.length === 0) {
      this.cursor = revision + 1;
      return;
    }
    if (this.queue.length >= this.bufferLimit) {
      // The consumer is far behind: stop buffering and let it read the rest from the log later.
      this.live = false;
      return;
    }
    this.cursor = revision + 1;
    this.deliver(mine);
  }

  next(): Promise<IteratorResult<Batch>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    try {
      if (this.failure) throw this.failure;
      this.catchUp();
    } catch (err) {
      this.end();
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift()!, done: false });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Leaving a `for await` early closes the watch. */
  return(): Promise<IteratorResult<Batch>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this;
  }

  close(): void {
    this.end();
  }

  /** Ends the watch: pending and later next() calls finish; undelivered events are dropped. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.length = 0;
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
    this.source.release(this);
  }

  private deliver(batch: Batch): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve({ value: batch, done: false });
    else this.queue.push(batch);
  }

  /**
   * Reads the log until a batch is queued or the watch has caught up with the store, at which
   * point it goes live — in one synchronous step, so no commit falls between the two.
   */
  private catchUp(): void {
    while (!this.live && this.queue.length === 0) {
      const current = this.source.revision();
      if (this.cursor > current) {
        this.live = true;
        return;
      }
      const compacted = this.source.compactedRevision();
      if (this.cursor < compacted) {
        throw new StoreError('compacted', `revision ${this.cursor} is compacted; the oldest watchable revision is ${compacted}`, compacted);
      }
      const to = Math.min(current, this.cursor + CATCH_UP_PAGE - 1);
      this.queue.push(...this.source.readEvents(this.prefix, this.cursor, to));
      this.cursor = to + 1;
    }
  }
}
