/**
 * The Store contract: a revisioned key-value store with compare-and-swap transactions and ordered
 * watches — etcd's contract, so that SQLite (one machine) and etcd (many) are interchangeable.
 *
 * Terms, as etcd defines them:
 * - revision: a store-wide counter; every transaction that writes bumps it by exactly one, and all
 *   of that transaction's events carry the new revision.
 * - createRevision / modRevision: the revisions at which a key was created and last modified.
 *   A key that does not exist has modRevision 0 (so `{ target: 'mod', op: '=', value: 0 }` means
 *   "absent").
 * - version: how many times a key was written since it was (re)created; 0 when absent.
 * - watch from revision R: every event with revision >= R, in revision order, none skipped. If R
 *   is older than the compacted history, the watch fails with a `compacted` StoreError and the
 *   caller must re-list.
 *
 * Keys are non-empty strings (conventionally '/'-separated paths), ordered by their UTF-8 bytes as
 * etcd orders them; values are strings (JSON by convention). Bad arguments fail with
 * StoreError('invalid') and change nothing. contract.suite.ts holds every backend to all of this.
 */

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export type CompareTarget = 'mod' | 'create' | 'version' | 'value';
export type CompareOp = '=' | '!=' | '<' | '>';

/**
 * A guard in a transaction. Numeric targets compare numbers; 'value' compares strings by UTF-8
 * bytes, and (as in etcd) every value compare on an absent key fails, even '!='.
 */
export type Compare =
  | { readonly key: string; readonly target: 'mod' | 'create' | 'version'; readonly op: CompareOp; readonly value: number }
  | { readonly key: string; readonly target: 'value'; readonly op: CompareOp; readonly value: string };

export type Op =
  | { readonly type: 'put'; readonly key: string; readonly value: string }
  | { readonly type: 'delete'; readonly key: string }
  /** Deletes every key that starts with prefix. */
  | { readonly type: 'deletePrefix'; readonly prefix: string };

export interface TxnResult {
  readonly succeeded: boolean;
  /** The store's revision after the transaction (unchanged if nothing was written). */
  readonly revision: number;
}

export interface RangeOptions {
  /** At most this many keys, a positive integer (default: all). */
  readonly limit?: number;
  /** Start strictly after this key in the order asked (for paging; descending: keys before it). */
  readonly startAfter?: string;
  /** Return keys in descending order. */
  readonly descending?: boolean;
  /** Only count, do not return values. */
  readonly countOnly?: boolean;
}

export interface RangeResult {
  readonly kvs: readonly KeyValue[];
  /** True when more keys match beyond `limit`. */
  readonly more: boolean;
  /** How many keys match the prefix in all (ignoring limit and startAfter). */
  readonly count: number;
  /** The store revision the read was served at. */
  readonly revision: number;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /**
   * For a delete: etcd's tombstone — the key, an empty value, modRevision = the deleting
   * revision, createRevision and version 0.
   */
  readonly kv: KeyValue;
  /** The key's previous state, when it existed. */
  readonly prevKv?: KeyValue;
}

/**
 * A live watch. Each batch is one revision's events under the prefix, in the transaction's op
 * order (a deletePrefix's in key order); batches come in revision order, none skipped. A watch
 * fails (compacted, invalid, closed) by rejecting next(); leaving a `for await` closes it.
 */
export interface Watch extends AsyncIterable<readonly WatchEvent[]> {
  close(): void;
}

export interface WatchOptions {
  /**
   * Deliver events from this revision on (inclusive), a positive integer. Default: future only —
   * events after the call, though a backend may start a little later (etcd, once its server has
   * registered the watch); to miss nothing after a read, pass that read's revision + 1.
   */
  readonly fromRevision?: number;
}

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  /**
   * If every compare holds, applies `success`, else `failure`; atomically, as one revision (none if
   * nothing changed). As in etcd, a branch may put a key only once and not also delete it.
   */
  txn(compares: readonly Compare[], success: readonly Op[], failure?: readonly Op[]): Promise<TxnResult>;
  watch(prefix: string, options?: WatchOptions): Watch;
  /** The current revision. */
  revision(): Promise<number>;
  /**
   * Forgets history before `revision`; watches from earlier revisions then fail as compacted.
   * A revision already compacted is a no-op; one beyond the current revision is invalid.
   */
  compact(revision: number): Promise<void>;
  /** Ends open watches (their iteration finishes); later calls fail with StoreError('closed'). */
  close(): Promise<void>;
}

export type StoreErrorKind = 'conflict' | 'compacted' | 'closed' | 'invalid';

export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  /** For 'compacted': the oldest revision still watchable. */
  readonly compactRevision?: number;
  constructor(kind: StoreErrorKind, message: string, compactRevision?: number) {
    super(message);
    this.name = 'StoreError';
    this.kind = kind;
    if (compactRevision !== undefined) this.compactRevision = compactRevision;
  }
}

/**
 * Writes `value` at `key` only if the key's modRevision is still `expectedModRevision`
 * (0 = must not exist). Returns the new revision; throws StoreError('conflict') otherwise.
 *
 * @example await putIfUnchanged(store, '/ecs/clusters/default', json, 0) // create-if-absent
 */
export async function putIfUnchanged(store: Store, key: string, value: string, expectedModRevision: number): Promise<number> {
  const res = await store.txn([{ key, target: 'mod', op: '=', value: expectedModRevision }], [{ type: 'put', key, value }]);
  if (!res.succeeded) throw new StoreError('conflict', `key ${key} changed (expected modRevision ${expectedModRevision})`);
  return res.revision;
}

/** Unconditional put; returns the new revision. */
export async function put(store: Store, key: string, value: string): Promise<number> {
  return (await store.txn([], [{ type: 'put', key, value }])).revision;
}
