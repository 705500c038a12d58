/**
 * ECS clusters: CreateCluster, DescribeClusters, ListClusters, UpdateCluster, UpdateClusterSettings,
 * PutClusterCapacityProviders and DeleteCluster. The task and service counts DescribeClusters reports
 * come from ClusterActivity (cluster-activity.ts).
 *
 * A cluster is stored at keys.cluster(name) in its wire shape, without the counts (they are
 * computed when described). DeleteCluster keeps it, INACTIVE, as ECS does; creating the name again
 * makes it ACTIVE afresh.
 */
import { BerthError, type Operation, type RequestContext } from '../protocols/index.js';
import type { Store } from '../store/index.js';
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
import { clusterActivity } from './cluster-activity.js';
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
