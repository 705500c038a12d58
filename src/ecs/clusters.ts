/**
 * ECS clusters: CreateCluster, DescribeClusters, ListClusters, UpdateCluster, UpdateClusterSettings,
 * PutClusterCapacityProviders and DeleteCluster, plus ClusterActivity — the live task and service
 * counts DescribeClusters reports, kept without reading every task on each request.
 *
 * A cluster is stored at keys.cluster(name) in its wire shape, without the counts (they are
 * computed when described). DeleteCluster keeps it, INACTIVE, as ECS does; creating the name again
 * makes it ACTIVE afresh.
 */
import { BerthError, type Operation, type RequestContext } from '../protocols/index.js';
import { StoreError, type Store, type Watch } from '../store/index.js';
import { explicitAccountSetting } from './account-settings.js';
import { clusterArn, clusterNameOf, type Partition } from './arn.js';
import {
  decodeNextToken,
  encodeNextToken,
  invalid,
  objectsOf,
  optionalArray,
  optionalBool,
  optionalEnum,
  optionalInt,
  optionalObject,
  optionalString,
  optionalStringArray,
  requiredString,
} from './input.js';
import { keys } from './keys.js';
import { createJson, readJson, updateJson, type Stored } from './repo.js';
import { readTags, type Tag } from './tags.js';

// ---- the stored object ------------------------------------------------------------------------

export const CLUSTER_SETTING_NAMES = ['containerInsights'] as const;
export const CONTAINER_INSIGHTS_VALUES = ['enabled', 'disabled', 'enhanced'] as const;
export const CLUSTER_FIELDS = ['ATTACHMENTS', 'CONFIGURATIONS', 'SETTINGS', 'STATISTICS', 'TAGS'] as const;
export type ClusterField = (typeof CLUSTER_FIELDS)[number];
/** The capacity providers every account has; Berth has no Auto Scaling group providers yet. */
export const FARGATE_CAPACITY_PROVIDERS = ['FARGATE', 'FARGATE_SPOT'] as const;

export interface ClusterSetting {
  readonly name: (typeof CLUSTER_SETTING_NAMES)[number];
  readonly value: string;
}

export interface CapacityProviderStrategyItem {
  readonly capacityProvider: string;
  readonly weight: number;
  readonly base: number;
}

export interface ExecuteCommandLogConfiguration {
  readonly cloudWatchLogGroupName?: string;
  readonly cloudWatchEncryptionEnabled?: boolean;
  readonly s3BucketName?: string;
  readonly s3EncryptionEnabled?: boolean;
  readonly s3KeyPrefix?: string;
}

export interface ClusterConfiguration {
  readonly executeCommandConfiguration?: {
    readonly kmsKeyId?: string;
    readonly logging?: 'NONE' | 'DEFAULT' | 'OVERRIDE';
    readonly logConfiguration?: ExecuteCommandLogConfiguration;
  };
  readonly managedStorageConfiguration?: { readonly kmsKeyId?: string; readonly fargateEphemeralStorageKmsKeyId?: string };
}

/** A cluster as stored; DescribeClusters adds the counts and statistics. */
export interface Cluster {
  readonly clusterArn: string;
  readonly clusterName: string;
  readonly status: 'ACTIVE' | 'INACTIVE';
  readonly settings: readonly ClusterSetting[];
  readonly configuration?: ClusterConfiguration;
  readonly capacityProviders: readonly string[];
  readonly defaultCapacityProviderStrategy: readonly CapacityProviderStrategyItem[];
  readonly serviceConnectDefaults?: { readonly namespace: string };
  readonly tags: readonly Tag[];
}

const partitionOf = (ctx: RequestContext): Partition => ({ region: ctx.region, accountId: ctx.caller.accountId });

export const clusterNotFound = () => new BerthError('ClusterNotFoundException', 'Cluster not found.');

/**
 * The ACTIVE cluster a request names (name, ARN or absent for 'default'), for every operation that
 * acts inside a cluster. A missing cluster and an INACTIVE one are both ClusterNotFoundException.
 *
 * @example const { name, cluster } = await requireActiveCluster(store, optionalString(input, 'cluster'));
 */
export async function requireActiveCluster(store: Store, clusterParam: string | undefined): Promise<{ name: string; cluster: Stored<Cluster> }> {
  const name = clusterNameOf(clusterParam);
  const cluster = await readJson<Cluster>(store, keys.cluster(name));
  if (!cluster) throw clusterNotFound();
  if (cluster.value.status !== 'ACTIVE') throw new BerthError('ClusterNotFoundException', 'The referenced cluster was inactive.');
  return { name, cluster };
}

// ---- request members --------------------------------------------------------------------------

const CLUSTER_NAME_RE = /^[A-Za-z0-9_-]{1,255}$/;

function readClusterName(input: Record<string, unknown>): string {
  const name = optionalString(input, 'clusterName');
  if (name === undefined || name === '') return 'default';
  if (!CLUSTER_NAME_RE.test(name)) {
    throw invalid(`Cluster name '${name}' is not valid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.`);
  }
  return name;
}

function readSettings(input: Record<string, unknown>, field = 'settings'): ClusterSetting[] | undefined {
  const list = optionalArray(input, field);
  if (list === undefined) return undefined;
  return objectsOf(list, field).map(({ item, path }) => {
    const name = optionalEnum(item, 'name', CLUSTER_SETTING_NAMES, `${path}.name`);
    if (name === undefined) throw invalid(`${path}.name is required.`);
    const value = optionalEnum(item, 'value', CONTAINER_INSIGHTS_VALUES, `${path}.value`);
    if (value === undefined) throw invalid(`${path}.value is required.`);
    return { name, value };
  });
}

/** Settings with `changes` applied by name, in first-seen order. */
function mergeSettings(current: readonly ClusterSetting[], changes: readonly ClusterSetting[]): ClusterSetting[] {
  const byName = new Map(current.map((s) => [s.name, s]));
  for (const s of changes) byName.set(s.name, s);
  return [...byName.values()];
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function readConfiguration(input: Record<string, unknown>): ClusterConfiguration | undefined {
  const conf = optionalObject(input, 'configuration');
  if (conf === undefined) return undefined;
  const exec = optionalObject(conf, 'executeCommandConfiguration', 'configuration.executeCommandConfiguration');
  const storage = optionalObject(conf, 'managedStorageConfiguration', 'configuration.managedStorageConfiguration');
  let executeCommandConfiguration: ClusterConfiguration['executeCommandConfiguration'];
  if (exec !== undefined) {
    const p = 'configuration.executeCommandConfiguration';
    const logging = optionalEnum(exec, 'logging', ['NONE', 'DEFAULT', 'OVERRIDE'] as const, `${p}.logging`);
    const log = optionalObject(exec, 'logConfiguration', `${p}.logConfiguration`);
    if (logging === 'OVERRIDE' && log === undefined) {
      throw invalid(`${p}.logConfiguration is required when ${p}.logging is OVERRIDE.`);
    }
    const lp = `${p}.logConfiguration`;
    executeCommandConfiguration = defined({
      kmsKeyId: optionalString(exec, 'kmsKeyId', { path: `${p}.kmsKeyId` }),
      logging,
      logConfiguration:
        log === undefined
          ? undefined
          : defined({
              cloudWatchLogGroupName: optionalString(log, 'cloudWatchLogGroupName', { path: `${lp}.cloudWatchLogGroupName` }),
              cloudWatchEncryptionEnabled: optionalBool(log, 'cloudWatchEncryptionEnabled', `${lp}.cloudWatchEncryptionEnabled`),
              s3BucketName: optionalString(log, 's3BucketName', { path: `${lp}.s3BucketName` }),
              s3EncryptionEnabled: optionalBool(log, 's3EncryptionEnabled', `${lp}.s3EncryptionEnabled`),
              s3KeyPrefix: optionalString(log, 's3KeyPrefix', { path: `${lp}.s3KeyPrefix` }),
            }),
    });
  }
  const managedStorageConfiguration =
    storage === undefined
      ? undefined
      : defined({
          kmsKeyId: optionalString(storage, 'kmsKeyId', { path: 'configuration.managedStorageConfiguration.kmsKeyId' }),
          fargateEphemeralStorageKmsKeyId: optionalString(storage, 'fargateEphemeralStorageKmsKeyId', {
            path: 'configuration.managedStorageConfiguration.fargateEphemeralStorageKmsKeyId',
          }),
        });
  return defined({ executeCommandConfiguration, managedStorageConfiguration });
}

/** `{namespace}`; an empty namespace (UpdateCluster) means "remove the default", returned as null. */
function readServiceConnectDefaults(input: Record<string, unknown>): { namespace: string } | null | undefined {
  const scd = optionalObject(input, 'serviceConnectDefaults');
  if (scd === undefined) return undefined;
  const namespace = optionalString(scd, 'namespace', { path: 'serviceConnectDefaults.namespace' });
  if (namespace === undefined) throw invalid('serviceConnectDefaults.namespace is required.');
  if (namespace === '') return null;
  if (!namespace.startsWith('arn:') && (namespace.length > 1024 || /[<>"/]/.test(namespace))) {
    throw invalid(`serviceConnectDefaults.namespace '${namespace}' is not valid: up to 1024 characters, without >, <, " or /.`);
  }
  return { namespace };
}

function readCapacityProviders(input: Record<string, unknown>, required: boolean): string[] | undefined {
  const list = optionalStringArray(input, 'capacityProviders');
  if (list === undefined) {
    if (required) throw invalid('capacityProviders is required; send an empty list to remove every capacity provider.');
    return undefined;
  }
  const seen = new Set<string>();
  for (const name of list) {
    if (!(FARGATE_CAPACITY_PROVIDERS as readonly string[]).includes(name)) {
      throw invalid(`The capacity provider '${name}' does not exist. Specify FARGATE, FARGATE_SPOT or an existing capacity provider.`);
    }
    if (seen.has(name)) throw invalid(`The capacity provider '${name}' appears more than once in capacityProviders.`);
    seen.add(name);
  }
  return list;
}

const MAX_STRATEGY_ITEMS = 20;

function readStrategy(input: Record<string, unknown>, providers: readonly string[], required: boolean): CapacityProviderStrategyItem[] | undefined {
  const field = 'defaultCapacityProviderStrategy';
  const list = optionalArray(input, field);
  if (list === undefined) {
    if (required) throw invalid(`${field} is required; send an empty list for no default strategy.`);
    return undefined;
  }
  if (list.length > MAX_STRATEGY_ITEMS) throw invalid(`${field} can contain at most ${MAX_STRATEGY_ITEMS} capacity providers; got ${list.length}.`);
  const items = objectsOf(list, field).map(({ item, path }): CapacityProviderStrategyItem => {
    const capacityProvider = optionalString(item, 'capacityProvider', { path: `${path}.capacityProvider` });
    if (capacityProvider === undefined || capacityProvider === '') throw invalid(`${path}.capacityProvider is required.`);
    const weight = optionalInt(item, 'weight', { min: 0, max: 1000, path: `${path}.weight` }) ?? 0;
    const base = optionalInt(item, 'base', { min: 0, max: 100_000, path: `${path}.base` }) ?? 0;
    return { capacityProvider, weight, base };
  });
  const seen = new Set<string>();
  for (const { capacityProvider } of items) {
    if (!providers.includes(capacityProvider)) {
      throw invalid(
        `The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster ('${capacityProvider}'). ` +
          'Associate the capacity provider with the cluster or specify a valid capacity provider and try again.',
      );
    }
    if (seen.has(capacityProvider)) throw invalid(`The capacity provider '${capacityProvider}' appears more than once in ${field}.`);
    seen.add(capacityProvider);
  }
  if (items.filter((i) => i.base > 0).length > 1) throw invalid(`Only one capacity provider in ${field} can have a base defined.`);
  if (items.length > 0 && !items.some((i) => i.weight > 0)) {
    throw invalid(`At least one capacity provider in ${field} must have a weight greater than zero.`);
  }
  return items;
}

function readInclude(input: Record<string, unknown>): Set<ClusterField> {
  const list = optionalStringArray(input, 'include') ?? [];
  list.forEach((f, i) => {
    if (!(CLUSTER_FIELDS as readonly string[]).includes(f)) throw invalid(`include[${i}] must be one of ${CLUSTER_FIELDS.join(', ')}; got '${f}'.`);
  });
  return new Set(list as ClusterField[]);
}

// ---- ClusterActivity: task and service counts -------------------------------------------------

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

// ---- wire output ------------------------------------------------------------------------------

/** Everything about a cluster, as CreateCluster, UpdateCluster and DeleteCluster return it. */
async function fullView(store: Store, c: Cluster): Promise<Record<string, unknown>> {
  await clusterActivity(store).current();
  return describeView(store, c, new Set(['CONFIGURATIONS', 'SETTINGS', 'TAGS']), false);
}

/**
 * A cluster as DescribeClusters shows it: counts always, other parts when `include` asks. The
 * caller has brought the store's ClusterActivity up to date.
 */
async function describeView(store: Store, c: Cluster, include: ReadonlySet<ClusterField>, withStatistics = include.has('STATISTICS')): Promise<Record<string, unknown>> {
  const counts = clusterActivity(store).counts(c.clusterName);
  const instances = await store.range(keys.containerInstances(c.clusterName), { countOnly: true });
  return {
    clusterArn: c.clusterArn,
    clusterName: c.clusterName,
    status: c.status,
    registeredContainerInstancesCount: c.status === 'ACTIVE' ? instances.count : 0,
    runningTasksCount: counts.runningTasksCount,
    pendingTasksCount: counts.pendingTasksCount,
    activeServicesCount: counts.activeServicesCount,
    statistics: withStatistics ? counts.statistics : [],
    tags: include.has('TAGS') ? c.tags : [],
    settings: include.has('SETTINGS') ? c.settings : [],
    ...(include.has('CONFIGURATIONS') && c.configuration !== undefined ? { configuration: c.configuration } : {}),
    capacityProviders: c.capacityProviders,
    defaultCapacityProviderStrategy: c.defaultCapacityProviderStrategy,
    ...(include.has('ATTACHMENTS') ? { attachments: [] } : {}),
    ...(c.serviceConnectDefaults !== undefined ? { serviceConnectDefaults: c.serviceConnectDefaults } : {}),
  };
}

// ---- operations -------------------------------------------------------------------------------

const DESCRIBE_LIMIT = 100;
const MAX_CAS_ATTEMPTS = 20;

export function clusterOperations(deps: { readonly store: Store }): Record<string, Operation> {
  const { store } = deps;

  /** Applies `change` to an ACTIVE cluster with compare-and-swap, and returns the full view. */
  async function changeCluster(clusterParam: string | undefined, change: (c: Cluster) => Cluster): Promise<Record<string, unknown>> {
    const { name } = await requireActiveCluster(store, clusterParam);
    const next = await updateJson<Cluster>(store, keys.cluster(name), (current) => {
      if (current === undefined) throw clusterNotFound();
      if (current.status !== 'ACTIVE') throw new BerthError('ClusterNotFoundException', 'The referenced cluster was inactive.');
      return change(current);
    });
    return { cluster: await fullView(store, next!) };
  }

  return {
    async CreateCluster(input, ctx) {
      const name = readClusterName(input);
      const tags = readTags(input);
      const settings = readSettings(input);
      const configuration = readConfiguration(input);
      const scd = readServiceConnectDefaults(input);
      if (scd === null) throw invalid('serviceConnectDefaults.namespace must not be empty.');
      const capacityProviders = readCapacityProviders(input, false) ?? [];
      const defaultCapacityProviderStrategy = readStrategy(input, capacityProviders, false) ?? [];

      // Without settings, a new cluster takes the account's containerInsights setting, if one was made.
      let effectiveSettings = settings;
      if (effectiveSettings === undefined) {
        const account = await explicitAccountSetting(store, ctx.caller.accountId, 'containerInsights');
        effectiveSettings = account === undefined ? [] : [{ name: 'containerInsights', value: account.value }];
      }
      const cluster: Cluster = {
        clusterArn: clusterArn(partitionOf(ctx), name),
        clusterName: name,
        status: 'ACTIVE',
        settings: mergeSettings([], effectiveSettings),
        ...(configuration === undefined ? {} : { configuration }),
        capacityProviders,
        defaultCapacityProviderStrategy,
        ...(scd === undefined ? {} : { serviceConnectDefaults: scd }),
        tags,
      };
      const key = keys.cluster(name);
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        if (await createJson(store, key, cluster)) return { cluster: await fullView(store, cluster) };
        const existing = await readJson<Cluster>(store, key);
        if (existing === undefined) continue;
        // ECS answers a create of an existing ACTIVE cluster with that cluster, unchanged.
        if (existing.value.status === 'ACTIVE') return { cluster: await fullView(store, existing.value) };
        const res = await store.txn([{ key, target: 'mod', op: '=', value: existing.modRevision }], [
          { type: 'put', key, value: JSON.stringify(cluster) },
        ]);
        if (res.succeeded) return { cluster: await fullView(store, cluster) };
      }
      throw new BerthError('ServerException', `Too many concurrent changes to cluster ${name}; try again.`);
    },

    async DescribeClusters(input, ctx) {
      const names = optionalStringArray(input, 'clusters', { maxItems: DESCRIBE_LIMIT }) ?? [];
      const include = readInclude(input);
      const wanted = (names.length === 0 ? ['default'] : names).map((c) => clusterNameOf(c));
      const clusters: Array<Record<string, unknown>> = [];
      const failures: Array<{ arn: string; reason: string }> = [];
      await clusterActivity(store).current();
      for (const name of wanted) {
        const c = await readJson<Cluster>(store, keys.cluster(name));
        if (c === undefined) failures.push({ arn: clusterArn(partitionOf(ctx), name), reason: 'MISSING' });
        else clusters.push(await describeView(store, c.value, include));
      }
      return { clusters, failures };
    },

    async ListClusters(input) {
      const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 100 }) ?? 100;
      let startAfter = decodeNextToken(optionalString(input, 'nextToken'));
      const clusterArns: string[] = [];
      let lastKey: string | undefined;
      // INACTIVE clusters are kept for DescribeClusters but, as in ECS, not listed.
      for (;;) {
        const page = await store.range(keys.clusters(), { limit: maxResults, ...(startAfter === undefined ? {} : { startAfter }) });
        for (const kv of page.kvs) {
          if (clusterArns.length === maxResults) return { clusterArns, nextToken: encodeNextToken(lastKey!) };
          const c = JSON.parse(kv.value) as Cluster;
          if (c.status === 'ACTIVE') clusterArns.push(c.clusterArn);
          lastKey = kv.key;
        }
        if (!page.more || page.kvs.length === 0) return { clusterArns };
        startAfter = page.kvs[page.kvs.length - 1]!.key;
      }
    },

    async UpdateCluster(input) {
      const clusterParam = requiredString(input, 'cluster');
      const settings = readSettings(input);
      const configuration = readConfiguration(input);
      const scd = readServiceConnectDefaults(input);
      return changeCluster(clusterParam, (c) => {
        const { serviceConnectDefaults: _old, ...rest } = c;
        const keepScd = scd === undefined ? c.serviceConnectDefaults : scd === null ? undefined : scd;
        return {
          ...rest,
          settings: settings === undefined ? c.settings : mergeSettings(c.settings, settings),
          ...(configuration === undefined ? {} : { configuration }),
          ...(keepScd === undefined ? {} : { serviceConnectDefaults: keepScd }),
        };
      });
    },

    async UpdateClusterSettings(input) {
      const clusterParam = requiredString(input, 'cluster');
      const settings = readSettings(input);
      if (settings === undefined) throw invalid('settings is required.');
      return changeCluster(clusterParam, (c) => ({ ...c, settings: mergeSettings(c.settings, settings) }));
    },

    async PutClusterCapacityProviders(input) {
      const clusterParam = requiredString(input, 'cluster');
      const capacityProviders = readCapacityProviders(input, true)!;
      const defaultCapacityProviderStrategy = readStrategy(input, capacityProviders, true)!;
      const { name, cluster } = await requireActiveCluster(store, clusterParam);
      const removed = cluster.value.capacityProviders.filter((p) => !capacityProviders.includes(p));
      if (removed.length > 0) {
        const activity = clusterActivity(store);
        await activity.current();
        const inUse = removed.find((p) => activity.capacityProviderInUse(name, p));
        if (inUse !== undefined) {
          throw new BerthError(
            'ResourceInUseException',
            `The capacity provider '${inUse}' is in use by tasks or services of the cluster and cannot be removed from it.`,
          );
        }
      }
      return changeCluster(clusterParam, (c) => {
        // Only the state checked above may be changed: a concurrent change gets a retry from the caller.
        if (c.capacityProviders.join('\n') !== cluster.value.capacityProviders.join('\n')) {
          throw new BerthError('UpdateInProgressException', 'The capacity providers of the cluster changed during the update; try again.');
        }
        return { ...c, capacityProviders, defaultCapacityProviderStrategy };
      });
    },

    async DeleteCluster(input) {
      const name = clusterNameOf(requiredString(input, 'cluster'));
      const key = keys.cluster(name);
      const existing = await readJson<Cluster>(store, key);
      if (existing === undefined) throw clusterNotFound();
      // Deleting an INACTIVE cluster again answers with it, as ECS does.
      if (existing.value.status !== 'ACTIVE') return { cluster: await fullView(store, existing.value) };

      // Checked in the order the ECS model lists these errors: instances, services, tasks.
      const instances = await store.range(keys.containerInstances(name), { countOnly: true });
      if (instances.count > 0) {
        throw new BerthError('ClusterContainsContainerInstancesException', 'The Cluster cannot be deleted while Container Instances are active or draining.');
      }
      const activity = clusterActivity(store);
      await activity.current();
      const counts = activity.counts(name);
      if (counts.activeServicesCount + counts.drainingServicesCount > 0) {
        throw new BerthError('ClusterContainsServicesException', 'The Cluster cannot be deleted while Services are active.');
      }
      if (counts.activeTasksCount > 0) {
        throw new BerthError('ClusterContainsTasksException', 'The Cluster cannot be deleted while Tasks are active.');
      }
      // Guarded by the cluster's revision. A registration that commits between the checks above and
      // this write can still slip in (it does not touch the cluster key); one that comes after is
      // refused, because RegisterContainerInstance is guarded by the cluster's revision in turn.
      const deleted: Cluster = { ...existing.value, status: 'INACTIVE' };
      const res = await store.txn([{ key, target: 'mod', op: '=', value: existing.modRevision }], [
        { type: 'put', key, value: JSON.stringify(deleted) },
      ]);
      if (!res.succeeded) throw new BerthError('UpdateInProgressException', `Cluster ${name} changed while it was being deleted; try again.`);
      return { cluster: await fullView(store, deleted) };
    },
  };
}
