/**
 * The DNS server's copy of Cloud Map: listed once from the store, then kept current by a watch on
 * `/servicediscovery/` (no polling), with a fresh answer table built after each change. Changes that
 * arrive together are applied together and the table rebuilt once, on the next turn of the event
 * loop. A watch that fails (compacted history, a store restart) is replaced by a new listing.
 */
import type { Logger } from '../../edge/logger.js';
import type { Store, WatchEvent } from '../../store/index.js';
import { PREFIX, type InstanceRecord, type NamespaceRecord, type ServiceRecord } from '../model.js';
import { DnsTable } from './table.js';

const NAMESPACES = `${PREFIX}namespaces/`;
const SERVICES = `${PREFIX}services/`;
const INSTANCES = `${PREFIX}instances/`;
/** How long to wait before listing again after a watch failed, so a broken store is not hammered. */
const RETRY_MS = 200;

export class DnsView {
  /** The answers for the state at `revision`; replaced, never mutated, on change. */
  table: DnsTable = DnsTable.build({ namespaces: new Map(), services: new Map(), instances: new Map(), revision: 0 });
  /** The store revision the table reflects. */
  revision = 0;
  private readonly namespaces = new Map<string, NamespaceRecord>();
  private readonly services = new Map<string, ServiceRecord>();
  private readonly instances = new Map<string, Map<string, InstanceRecord>>();
  private pendingRevision = 0;
  private rebuildScheduled: NodeJS.Immediate | undefined;
  private readonly waiters: Array<{ revision: number; resolve: () => void }> = [];
  private closed = false;
  private watch: { close(): void } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly loop: Promise<void>;
  private readonly reportedProblems = new Set<string>();

  private constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    ready: () => void,
  ) {
    this.loop = this.run(ready);
  }

  /** Lists the store and starts watching; resolves once the first table is built. */
  static async start(store: Store, logger: Logger): Promise<DnsView> {
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    const view = new DnsView(store, logger, ready);
    await Promise.race([isReady, view.loop]);
    return view;
  }

  /** Resolves when the table reflects the store at `revision` or later. */
  waitForRevision(revision: number): Promise<void> {
    if (this.revision >= revision) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ revision, resolve }));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watch?.close();
    if (this.rebuildScheduled !== undefined) clearImmediate(this.rebuildScheduled);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    await this.loop;
  }

  private async run(ready: () => void): Promise<void> {
    while (!this.closed) {
      try {
        const listing = await this.store.range(PREFIX);
        this.namespaces.clear();
        this.services.clear();
        this.instances.clear();
        for (const kv of listing.kvs) this.apply(kv.key, kv.value);
        this.pendingRevision = listing.revision;
        this.rebuild();
        ready();
        const watch = this.store.watch(PREFIX, { fromRevision: listing.revision + 1 });
        this.watch = watch;
        if (this.closed) watch.close();
        for await (const batch of watch) this.onBatch(batch);
        if (this.closed) return;
        throw new Error('the store ended the watch');
      } catch (err) {
        if (this.closed) return;
        this.logger.warn('dns: the service discovery watch failed; listing again', { error: err });
        await new Promise<void>((resolve) => (this.retryTimer = setTimeout(resolve, RETRY_MS)));
      }
    }
  }

  private onBatch(batch: readonly WatchEvent[]): void {
    let relevant = false;
    for (const e of batch) {
      if (this.apply(e.kv.key, e.type === 'put' ? e.kv.value : undefined)) relevant = true;
      if (e.kv.modRevision > this.pendingRevision) this.pendingRevision = e.kv.modRevision;
    }
    if (relevant) {
      this.rebuildScheduled ??= setImmediate(() => {
        this.rebuildScheduled = undefined;
        this.rebuild();
      });
    } else if (this.rebuildScheduled === undefined) {
      // Operations and request ids only: the answers stand as they are, now as of this revision.
      this.advance(this.pendingRevision);
    }
  }

  /** Applies one key's new value (undefined: deleted); false for keys the DNS does not use. */
  private apply(key: string, value: string | undefined): boolean {
    if (key.startsWith(INSTANCES)) {
      const rest = key.slice(INSTANCES.length);
      const slash = rest.indexOf('/');
      if (slash < 0) return false;
      const serviceId = rest.slice(0, slash);
      const instanceId = rest.slice(slash + 1);
      let byId = this.instances.get(serviceId);
      if (value === undefined) {
        byId?.delete(instanceId);
        if (byId?.size === 0) this.instances.delete(serviceId);
        return true;
      }
      if (byId === undefined) this.instances.set(serviceId, (byId = new Map<string, InstanceRecord>()));
      const instance = this.parse<InstanceRecord>(key, value);
      if (instance === undefined) byId.delete(instanceId);
      else byId.set(instanceId, instance);
      return true;
    }
    if (key.startsWith(SERVICES)) {
      const id = key.slice(SERVICES.length);
      const service = value === undefined ? undefined : this.parse<ServiceRecord>(key, value);
      if (service === undefined) this.services.delete(id);
      else this.services.set(id, service);
      return true;
    }
    if (key.startsWith(NAMESPACES)) {
      const id = key.slice(NAMESPACES.length);
      const ns = value === undefined ? undefined : this.parse<NamespaceRecord>(key, value);
      if (ns === undefined) this.namespaces.delete(id);
      else this.namespaces.set(id, ns);
      return true;
    }
    return false;
  }

  /** A stored record, or undefined (logged) if it is not JSON: one bad record must not stop DNS. */
  private parse<T>(key: string, value: string): T | undefined {
    try {
      return JSON.parse(value) as T;
    } catch (err) {
      this.logger.warn('dns: a service discovery record is not JSON; not served', { key, error: err });
      return undefined;
    }
  }

  private rebuild(): void {
    const table = DnsTable.build({ namespaces: this.namespaces, services: this.services, instances: this.instances, revision: this.pendingRevision });
    for (const problem of table.problems) {
      if (this.reportedProblems.has(problem)) continue;
      this.reportedProblems.add(problem);
      this.logger.warn(`dns: not served: ${problem}`);
    }
    this.table = table;
    this.advance(this.pendingRevision);
  }

  private advance(revision: number): void {
    this.revision = revision;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.revision <= this.revision) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}
