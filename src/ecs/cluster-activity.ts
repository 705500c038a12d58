/**
 * ClusterActivity: the live task and service counts of each cluster that DescribeClusters and
 * DeleteCluster report, kept from the store's watch without reading every task on each request.
 */
import { BerthError } from '../protocols/index.js';
import { StoreError, type Store, type Watch } from '../store/index.js';

type LaunchKind = 'EC2' | 'Fargate' | 'External';
const LAUNCH_KINDS: readonly LaunchKind[] = ['EC2', 'Fargate', 'External'];

/** Task lastStatus values before RUNNING, which ECS reports as pending. */
const PENDING_STATUSES = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);
/** A task holds on to its cluster (and instance) until it has stopped. */
const isActiveTask = (lastStatus: string) => lastStatus !== 'STOPPED' && lastStatus !== 'DELETED';

interface TaskFacts {
  readonly cluster: string;
  readonly instanceId: string | undefined;
  readonly lastStatus: string;
  readonly group: string | undefined;
  readonly launch: LaunchKind;
  readonly capacityProvider: string | undefined;
}

interface ServiceFacts {
  readonly cluster: string;
  readonly status: string;
  readonly launch: LaunchKind;
  readonly capacityProviders: readonly string[];
}

function launchKind(launchType: unknown, providers: readonly string[]): LaunchKind {
  if (launchType === 'FARGATE') return 'Fargate';
  if (launchType === 'EXTERNAL') return 'External';
  if (launchType === undefined && providers.length > 0 && providers.every((p) => p.startsWith('FARGATE'))) return 'Fargate';
  return 'EC2';
}

function taskFacts(cluster: string, t: Record<string, unknown>): TaskFacts {
  const arn = typeof t.containerInstanceArn === 'string' ? t.containerInstanceArn : undefined;
  const provider = typeof t.capacityProviderName === 'string' ? t.capacityProviderName : undefined;
  return {
    cluster,
    instanceId: arn === undefined ? undefined : arn.slice(arn.lastIndexOf('/') + 1),
    lastStatus: typeof t.lastStatus === 'string' ? t.lastStatus : 'PROVISIONING',
    group: typeof t.group === 'string' ? t.group : undefined,
    launch: launchKind(t.launchType, provider === undefined ? [] : [provider]),
    capacityProvider: provider,
  };
}

function serviceFacts(cluster: string, s: Record<string, unknown>): ServiceFacts {
  const strategy = Array.isArray(s.capacityProviderStrategy) ? (s.capacityProviderStrategy as Array<{ capacityProvider?: unknown }>) : [];
  const capacityProviders = strategy.map((i) => i.capacityProvider).filter((p): p is string => typeof p === 'string');
  return { cluster, status: typeof s.status === 'string' ? s.status : 'ACTIVE', launch: launchKind(s.launchType, capacityProviders), capacityProviders };
}

const zeroByLaunch = (): Record<LaunchKind, number> => ({ EC2: 0, Fargate: 0, External: 0 });

class ClusterTotals {
  readonly running = zeroByLaunch();
  readonly pending = zeroByLaunch();
  readonly activeServices = zeroByLaunch();
  readonly drainingServices = zeroByLaunch();
  activeTasks = 0;
  /** Uses of each capacity provider by unstopped tasks and ACTIVE/DRAINING services. */
  readonly providerUses = new Map<string, number>();
}

/** What DescribeClusters and DeleteCluster need to know about a cluster's tasks and services. */
export interface ClusterCounts {
  /** Tasks with lastStatus RUNNING. */
  readonly runningTasksCount: number;
  /** Tasks with lastStatus PROVISIONING, PENDING or ACTIVATING. */
  readonly pendingTasksCount: number;
  /** Tasks that have not stopped, in any lastStatus but STOPPED (and DELETED). */
  readonly activeTasksCount: number;
  readonly activeServicesCount: number;
  readonly drainingServicesCount: number;
  /** DescribeClusters' STATISTICS, by launch type, values as strings as on the wire. */
  readonly statistics: ReadonlyArray<{ readonly name: string; readonly value: string }>;
}

interface Waiter {
  readonly revision: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** How long a request waits for the activity view to catch up with writes it may have caused. */
const CATCH_UP_LIMIT_MS = 2000;
const SCAN_PAGE = 500;

/**
 * Live counts of tasks and services per cluster (and task groups per container instance), kept in
 * memory the way an informer does: one scan of /ecs/tasks/ and /ecs/services/ when first needed,
 * then a watch. DescribeClusters is O(1) however many tasks there are, where scanning 100,000 task
 * objects on every call would cost seconds; maintained counter keys were the alternative, but
 * they would make every task write contend on one hot key per cluster.
 *
 * Consistency: `current()` waits until every write up to the store's revision at the time of the
 * call is applied, so a caller sees its own earlier writes. To know that, the watch covers all
 * keys (prefix ''): every revision then shows up, and events outside ECS tasks and services are
 * only glanced at. The wait is bounded; past the bound the counts may lag by a moment, which is
 * how ECS itself reports them.
 *
 * One instance per Store (see `clusterActivity`); it stops when the store closes.
 */
export class ClusterActivity {
  /**
   * Per task key, its revision and its facts, in two maps of their own: an entry costs no object
   * of its own, and facts are shared (see SharedFacts), so 100,000 tasks leave the garbage
   * collector a few objects to trace instead of half a million.
   */
  private readonly taskRevs = new Map<string, number>();
  private readonly taskFacts = new Map<string, TaskFacts>();
  private readonly sharedFacts = new SharedFacts<TaskFacts>(taskFactsId);
  private readonly services = new Map<string, { rev: number; facts: ServiceFacts }>();
  private readonly totals = new Map<string, ClusterTotals>();
  private readonly groups = new Map<string, Map<string, number>>();
  private readonly instanceTasks = new Map<string, number>();
  /** Every write up to this revision is reflected; 0 until the first scan is complete. */
  private applied = 0;
  private waiters: Waiter[] = [];
  private running: Promise<void> | undefined;
  private watch: Watch | undefined;
  private closed = false;

  constructor(private readonly store: Store) {}

  /** Resolves once the counts reflect every write the store had made when this was called. */
  async current(): Promise<void> {
    if (this.closed) throw new BerthError('ServerException', 'The cluster activity view is closed.');
    this.start();
    const revision = await this.store.revision();
    if (this.applied >= revision) return;
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { revision, resolve, reject };
      this.waiters.push(waiter);
      // If the loop died while we read the revision, start it again; its outcome settles the waiter.
      this.start();
      if (this.applied > 0) {
        // Caught up once already: don't hold a request hostage to a slow watch; answer a bit stale.
        const timer = setTimeout(() => this.release(waiter), CATCH_UP_LIMIT_MS);
        timer.unref();
      }
    });
  }

  counts(cluster: string): ClusterCounts {
    const t = this.totals.get(cluster) ?? new ClusterTotals();
    const sum = (r: Record<LaunchKind, number>) => r.EC2 + r.Fargate + r.External;
    const statistics: Array<{ name: string; value: string }> = [];
    for (const [label, byLaunch, noun] of [
      ['running', t.running, 'TasksCount'],
      ['pending', t.pending, 'TasksCount'],
      ['active', t.activeServices, 'ServiceCount'],
      ['draining', t.drainingServices, 'ServiceCount'],
    ] as const) {
      for (const kind of LAUNCH_KINDS) statistics.push({ name: `${label}${kind}${noun}`, value: String(byLaunch[kind]) });
    }
    return {
      runningTasksCount: sum(t.running),
      pendingTasksCount: sum(t.pending),
      activeTasksCount: t.activeTasks,
      activeServicesCount: sum(t.activeServices),
      drainingServicesCount: sum(t.drainingServices),
      statistics,
    };
  }

  /** The groups of the unstopped tasks on a container instance, for the query language's task:group. */
  taskGroups(cluster: string, instanceId: string): string[] {
    return [...(this.groups.get(`${cluster}/${instanceId}`)?.keys() ?? [])];
  }

  /** How many unstopped tasks the container instance holds. */
  tasksOn(cluster: string, instanceId: string): number {
    return this.instanceTasks.get(`${cluster}/${instanceId}`) ?? 0;
  }

  /** Whether unstopped tasks or ACTIVE/DRAINING services of the cluster use the capacity provider. */
  capacityProviderInUse(cluster: string, provider: string): boolean {
    return (this.totals.get(cluster)?.providerUses.get(provider) ?? 0) > 0;
  }

  /** How many distinct task facts are held (tests: equal ones are shared, and let go of). */
  get distinctTaskFacts(): number {
    return this.sharedFacts.size;
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
    this.fail(new BerthError('ServerException', 'The cluster activity view is closed.'));
  }

  // ---- the informer loop --------------------------------------------------------------------

  private start(): void {
    if (this.running !== undefined) return;
    this.running = this.run().then(
      () => {
        // The watch ended (the store closed): later calls start over, and find out for themselves.
        this.running = undefined;
        this.fail(new BerthError('ServerException', 'The store stopped delivering changes.'));
      },
      (err: unknown) => {
        this.running = undefined;
        this.fail(new BerthError('ServerException', 'Counting tasks and services failed.', { cause: err }));
      },
    );
  }

  private async run(): Promise<void> {
    for (;;) {
      try {
        await this.syncAndFollow();
        return;
      } catch (err) {
        // Fell behind the store's compacted history: start over from a fresh scan.
        if (err instanceof StoreError && err.kind === 'compacted' && !this.closed) continue;
        throw err;
      }
    }
  }

  private async syncAndFollow(): Promise<void> {
    this.taskRevs.clear();
    this.taskFacts.clear();
    this.sharedFacts.clear();
    this.services.clear();
    this.totals.clear();
    this.groups.clear();
    this.instanceTasks.clear();
    this.applied = 0;
    const from = await this.store.revision();
    // Watch first, then scan: a write during the scan is either in the scan or in the watch (or
    // both — the revision check in `apply` skips what the scan already has).
    const watch = this.store.watch('', { fromRevision: from + 1 });
    this.watch = watch;
    try {
      for (const prefix of ['/ecs/tasks/', '/ecs/services/']) {
        let startAfter: string | undefined;
        for (;;) {
          const page = await this.store.range(prefix, { limit: SCAN_PAGE, ...(startAfter === undefined ? {} : { startAfter }) });
          for (const kv of page.kvs) this.apply(kv.key, kv.value, kv.modRevision);
          if (!page.more || page.kvs.length === 0) break;
          startAfter = page.kvs[page.kvs.length - 1]!.key;
        }
      }
      this.advance(from);
      for await (const batch of watch) {
        let revision = this.applied;
        for (const e of batch) {
          this.apply(e.kv.key, e.type === 'put' ? e.kv.value : undefined, e.kv.modRevision);
          revision = Math.max(revision, e.kv.modRevision);
        }
        this.advance(revision);
      }
    } finally {
      watch.close();
      this.watch = undefined;
    }
  }

  /** Applies one key's new state (undefined: deleted) as of `rev`, unless already newer. */
  private apply(key: string, value: string | undefined, rev: number): void {
    const kind = key.startsWith('/ecs/tasks/') ? 'task' : key.startsWith('/ecs/services/') ? 'service' : undefined;
    if (kind === undefined) return;
    const rest = key.slice(kind === 'task' ? '/ecs/tasks/'.length : '/ecs/services/'.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return;
    const cluster = rest.slice(0, slash);
    // A state older than the one applied changes nothing: skip it before parsing it.
    const applied = kind === 'task' ? this.taskRevs.get(key) : this.services.get(key)?.rev;
    if (applied !== undefined && applied >= rev) return;
    const parsed = value === undefined ? undefined : parseObject(value);
    if (kind === 'task') {
      const prev = this.taskFacts.get(key);
      if (prev !== undefined) {
        this.countTask(prev, -1);
        this.sharedFacts.release(prev);
      }
      if (parsed === undefined) {
        this.taskRevs.delete(key);
        this.taskFacts.delete(key);
      } else {
        const facts = this.sharedFacts.share(taskFacts(cluster, parsed));
        this.taskRevs.set(key, rev);
        this.taskFacts.set(key, facts);
        this.countTask(facts, 1);
      }
    } else {
      const prev = this.services.get(key);
      if (prev) this.countService(prev.facts, -1);
      if (parsed === undefined) {
        this.services.delete(key);
      } else {
        const facts = serviceFacts(cluster, parsed);
        this.services.set(key, { rev, facts });
        this.countService(facts, 1);
      }
    }
  }

  private totalsOf(cluster: string): ClusterTotals {
    let t = this.totals.get(cluster);
    if (t === undefined) {
      t = new ClusterTotals();
      this.totals.set(cluster, t);
    }
    return t;
  }

  private countTask(f: TaskFacts, sign: 1 | -1): void {
    const t = this.totalsOf(f.cluster);
    if (f.lastStatus === 'RUNNING') t.running[f.launch] += sign;
    if (PENDING_STATUSES.has(f.lastStatus)) t.pending[f.launch] += sign;
    if (!isActiveTask(f.lastStatus)) return;
    t.activeTasks += sign;
    if (f.capacityProvider !== undefined) bump(t.providerUses, f.capacityProvider, sign);
    if (f.instanceId !== undefined) bump(this.instanceTasks, `${f.cluster}/${f.instanceId}`, sign);
    if (f.instanceId !== undefined && f.group !== undefined) {
      const instanceKey = `${f.cluster}/${f.instanceId}`;
      let groups = this.groups.get(instanceKey);
      if (groups === undefined) {
        groups = new Map();
        this.groups.set(instanceKey, groups);
      }
      bump(groups, f.group, sign);
      if (groups.size === 0) this.groups.delete(instanceKey);
    }
  }

  private countService(f: ServiceFacts, sign: 1 | -1): void {
    const t = this.totalsOf(f.cluster);
    if (f.status === 'ACTIVE') t.activeServices[f.launch] += sign;
    if (f.status === 'DRAINING') t.drainingServices[f.launch] += sign;
    if (f.status === 'ACTIVE' || f.status === 'DRAINING') for (const p of f.capacityProviders) bump(t.providerUses, p, sign);
  }

  private advance(revision: number): void {
    this.applied = Math.max(this.applied, revision);
    const ready = this.waiters.filter((w) => w.revision <= this.applied);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.revision > this.applied);
    for (const w of ready) w.resolve();
  }

  private release(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i < 0) return;
    this.waiters.splice(i, 1);
    waiter.resolve();
  }

  private fail(err: unknown): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}

/**
 * Equal facts as one object, counted: most tasks of a cluster share their cluster, status, group,
 * launch kind and instance, so a few objects stand for many tasks. An object goes when the last
 * task holding it lets go, so instances and groups that come and go leave nothing behind.
 */
class SharedFacts<T> {
  private readonly byId = new Map<string, { facts: T; holders: number }>();

  constructor(private readonly idOf: (facts: T) => string) {}

  /** The shared object equal to `facts`, now held once more. */
  share(facts: T): T {
    const id = this.idOf(facts);
    let entry = this.byId.get(id);
    if (entry === undefined) {
      entry = { facts, holders: 0 };
      this.byId.set(id, entry);
    }
    entry.holders++;
    return entry.facts;
  }

  /** One holder of `facts` (as returned by share) lets go. */
  release(facts: T): void {
    const id = this.idOf(facts);
    const entry = this.byId.get(id);
    if (entry !== undefined && --entry.holders === 0) this.byId.delete(id);
  }

  /** How many distinct facts are held (tests). */
  get size(): number {
    return this.byId.size;
  }

  clear(): void {
    this.byId.clear();
  }
}

/** Everything that tells two tasks' facts apart (JSON keeps an absent group apart from ''). */
const taskFactsId = (f: TaskFacts): string => JSON.stringify([f.cluster, f.instanceId, f.lastStatus, f.group, f.launch, f.capacityProvider]);

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n === 0) map.delete(key);
  else map.set(key, n);
}

function parseObject(value: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(value);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    // A task or service key holding something that is not JSON is not a task or service to count.
    return undefined;
  }
}

const activities = new WeakMap<Store, ClusterActivity>();

/** The one ClusterActivity of a store, created (not yet started) on first use. */
export function clusterActivity(store: Store): ClusterActivity {
  let a = activities.get(store);
  if (a === undefined) {
    a = new ClusterActivity(store);
    activities.set(store, a);
  }
  return a;
}
