/**
 * Group commit for the registry's hottest writes (blob links as uploads finish): transactions
 * submitted in one turn of the event loop go to the store as one transaction when their keys are
 * disjoint, because a commit costs about as much for one key as for twenty, and under concurrent
 * pushes many finish in the same turn. Each caller still resolves only once its writes are
 * committed, and sees the outcome its own compares decide.
 *
 * @example
 * const commits = new GroupCommit(store);
 * await commits.submit({ compares: [], success: [{ type: 'put', key, value }] });
 */
import type { Compare, Op, Store, TxnResult } from '../store/index.js';

export interface SubmittedTxn {
  readonly compares: readonly Compare[];
  readonly success: readonly Op[];
  readonly failure?: readonly Op[];
}

interface Entry {
  readonly txn: SubmittedTxn;
  readonly resolve: (result: TxnResult) => void;
  readonly reject: (err: unknown) => void;
}

/** A store transaction has to stay small enough to commit quickly; batches stop at this many. */
const MAX_BATCH = 64;

export class GroupCommit {
  private queue: Entry[] = [];
  private scheduled = false;
  /** Flushes run one after another (a store may be asynchronous), so none overtakes another. */
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store) {}

  /** Commits `txn` (with the next batch); resolves as store.txn would for it alone. */
  submit(txn: SubmittedTxn): Promise<TxnResult> {
    return new Promise<TxnResult>((resolve, reject) => {
      this.queue.push({ txn, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // After the poll phase: the completions of this turn have all submitted by then.
      setImmediate(() => {
        this.flushing = this.flushing.then(() => this.flush());
      });
    });
  }

  /** Commits everything queued so far; never rejects (each entry settles its own promise). */
  private async flush(): Promise<void> {
    this.scheduled = false;
    const queued = this.queue;
    this.queue = [];
    try {
      await this.flushEntries(queued);
    } catch (err) {
      // A bug here must not leave callers waiting forever, nor stop later flushes.
      for (const e of queued) e.reject(err);
    }
  }

  private async flushEntries(entries: readonly Entry[]): Promise<void> {
    let rest = entries;
    while (rest.length > 0) {
      const batch: Entry[] = [];
      const later: Entry[] = [];
      // Keys in the batch, and keys of entries left for later: an entry touching one of those
      // waits too, so any two transactions that share a key commit in the order submitted.
      const taken = new Set<string>();
      const blocked = new Set<string>();
      for (let i = 0; i < rest.length; i++) {
        const entry = rest[i]!;
        const keys = keysOf(entry.txn);
        if (keys === undefined) {
          // A delete by prefix may touch any key: it runs alone, and nothing passes it.
          if (batch.length === 0) batch.push(entry);
          later.push(...rest.slice(batch[0] === entry ? i + 1 : i));
          break;
        }
        if (batch.length < MAX_BATCH && keys.every((k) => !taken.has(k) && !blocked.has(k))) {
          batch.push(entry);
          for (const k of keys) taken.add(k);
        } else {
          later.push(entry);
          for (const k of keys) blocked.add(k);
        }
      }
      rest = later;
      await this.commit(batch);
    }
  }

  private async commit(batch: readonly Entry[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const merged = await this.store.txn(
          batch.flatMap((e) => e.txn.compares),
          batch.flatMap((e) => e.txn.success),
        );
        if (merged.succeeded) {
          for (const e of batch) e.resolve(merged);
          return;
        }
      } catch {
        // Whatever broke the merged transaction, each entry now meets it (or not) on its own.
      }
    }
    // One entry, or some compare failed: each alone, with its own failure branch.
    for (const e of batch) {
      try {
        e.resolve(await this.store.txn(e.txn.compares, e.txn.success, e.txn.failure ?? []));
      } catch (err) {
        e.reject(err);
      }
    }
  }
}

/** Every key a transaction reads or writes; undefined when it deletes by prefix (never merged). */
function keysOf(txn: SubmittedTxn): string[] | undefined {
  const keys = txn.compares.map((c) => c.key);
  for (const op of [...txn.success, ...(txn.failure ?? [])]) {
    if (op.type === 'deletePrefix') return undefined;
    keys.push(op.key);
  }
  return keys;
}
