/**
 * Typed JSON access to the Store for ECS objects, and the compare-and-swap update loop every
 * read-modify-write uses.
 */
import { BerthError } from '../protocols/index.js';
import { StoreError, type RangeOptions, type Store } from '../store/index.js';

export interface Stored<T> {
  readonly value: T;
  readonly modRevision: number;
}

export async function readJson<T>(store: Store, key: string): Promise<Stored<T> | undefined> {
  const kv = await store.get(key);
  return kv && { value: JSON.parse(kv.value) as T, modRevision: kv.modRevision };
}

export async function listJson<T>(store: Store, prefix: string, options?: RangeOptions): Promise<{ items: Array<Stored<T> & { key: string }>; more: boolean }> {
  const res = await store.range(prefix, options);
  return {
    items: res.kvs.map((kv) => ({ key: kv.key, value: JSON.parse(kv.value) as T, modRevision: kv.modRevision })),
    more: res.more,
  };
}

/** Creates `key` only if absent; returns false if it already exists. */
export async function createJson(store: Store, key: string, value: unknown): Promise<boolean> {
  const res = await store.txn([{ key, target: 'mod', op: '=', value: 0 }], [{ type: 'put', key, value: JSON.stringify(value) }]);
  return res.succeeded;
}

const MAX_CAS_ATTEMPTS = 20;

/**
 * Read-modify-write with compare-and-swap: `change` gets the current value (undefined if absent)
 * and returns the new value, or undefined to leave the key as it is. Retries on conflict, a
 * bounded number of times. Returns what was written (or the unchanged current value).
 */
export async function updateJson<T>(store: Store, key: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const cur = await readJson<T>(store, key);
    const next = change(cur?.value);
    if (next === undefined) return cur?.value;
    const res = await store.txn([{ key, target: 'mod', op: '=', value: cur?.modRevision ?? 0 }], [
      { type: 'put', key, value: JSON.stringify(next) },
    ]);
    if (res.succeeded) return next;
  }
  throw new BerthError('ServerException', `Too many concurrent updates to ${key}; try again.`, {
    cause: new StoreError('conflict', key),
  });
}
