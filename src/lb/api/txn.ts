/**
 * Every ELBv2 write is one store transaction guarded by compare-and-swap. Configuration writes
 * (load balancers, target groups, listeners, rules, tags) also compare and bump one serial key, so
 * invariants that span keys (unique names and ports, a target group in use, unique priorities)
 * hold under concurrent calls: a transaction whose reads went stale fails and is run again.
 * Target registrations only compare the keys they read, so the ECS service controller's
 * registrations do not contend with configuration changes.
 */
import { BerthError } from '../../protocols/index.js';
import { StoreError } from '../../store/index.js';
import type { Compare, Op, Store } from '../../store/index.js';

/**
 * Bumped by every configuration write. Outside `/elbv2/` so that watchers of the model's keys
 * (the data plane) never see it.
 */
export const CONFIG_SERIAL_KEY = '/elbv2-control/serial';

const MAX_ATTEMPTS = 50;

/** One attempt's reads and writes. Reads through `get` are compared at commit. */
export class ElbTxn {
  readonly #store: Store;
  readonly #compares = new Map<string, number>();
  readonly #ops: Op[] = [];

  constructor(store: Store) {
    this.#store = store;
  }

  /** Reads a key and guards the commit on it being unchanged (or still absent). */
  async get<T>(key: string): Promise<T | undefined> {
    const kv = await this.#store.get(key);
    if (!this.#compares.has(key)) this.#compares.set(key, kv?.modRevision ?? 0);
    return kv === undefined ? undefined : (JSON.parse(kv.value) as T);
  }

  /** Lists a prefix; guarded only by the serial (configuration) or not at all (targets, health). */
  async list<T>(prefix: string): Promise<{ key: string; value: T; modRevision: number }[]> {
    const res = await this.#store.range(prefix);
    return res.kvs.map((kv) => ({ key: kv.key, value: JSON.parse(kv.value) as T, modRevision: kv.modRevision }));
  }

  /** How many keys a prefix holds (unguarded, like `list`). */
  async count(prefix: string): Promise<number> {
    return (await this.#store.range(prefix, { countOnly: true })).count;
  }

  /** Guards the commit on `key` still having this modRevision (for keys read by `list`). */
  expect(key: string, modRevision: number): void {
    if (!this.#compares.has(key)) this.#compares.set(key, modRevision);
  }

  put(key: string, value: unknown): void {
    this.#ops.push({ type: 'put', key, value: JSON.stringify(value) });
  }

  delete(key: string): void {
    this.#ops.push({ type: 'delete', key });
  }

  deletePrefix(prefix: string): void {
    this.#ops.push({ type: 'deletePrefix', prefix });
  }

  /** The modRevision a key had when first read in this transaction (0: absent), if it was read. */
  readRevision(key: string): number | undefined {
    return this.#compares.get(key);
  }

  get writes(): boolean {
    return this.#ops.length > 0;
  }

  async commit(extra: readonly Op[]): Promise<boolean> {
    const compares: Compare[] = [...this.#compares].map(([key, value]) => ({ key, target: 'mod', op: '=', value }));
    const res = await this.#store.txn(compares, [...this.#ops, ...extra]);
    return res.succeeded;
  }
}

/**
 * Runs `decide` against fresh reads until its writes commit unopposed, then returns its result.
 * `decide` throws BerthErrors to refuse (nothing is written) and must do no I/O but the txn's.
 * `config: true` (the default) guards and bumps the configuration serial, and makes a read-only
 * `decide` see one configuration (it runs again if a configuration write landed meanwhile).
 *
 * @example await inTxn(store, async (tx) => { const tg = await tx.get(key); ...; tx.put(key, next); return next; });
 */
export async function inTxn<R>(store: Store, decide: (tx: ElbTxn) => Promise<R>, options: { readonly config?: boolean } = {}): Promise<R> {
  const config = options.config ?? true;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const tx = new ElbTxn(store);
    const serial = config ? await tx.get<number>(CONFIG_SERIAL_KEY) : undefined;
    const result = await decide(tx);
    if (!tx.writes) {
      // A read-only call is answered from one configuration: if a write landed while it read, read again.
      if (!config) return result;
      const current = (await store.get(CONFIG_SERIAL_KEY))?.modRevision ?? 0;
      if (current === tx.readRevision(CONFIG_SERIAL_KEY)) return result;
      continue;
    }
    const extra: Op[] = config ? [{ type: 'put', key: CONFIG_SERIAL_KEY, value: String((serial ?? 0) + 1) }] : [];
    if (await tx.commit(extra)) return result;
  }
  throw new BerthError('ThrottlingException', 'Too many concurrent ELBv2 changes; try again.', { cause: new StoreError('conflict', CONFIG_SERIAL_KEY) });
}
