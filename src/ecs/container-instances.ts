/**
 * ECS container instances: RegisterContainerInstance (as the agent calls it),
 * DeregisterContainerInstance, DescribeContainerInstances, ListContainerInstances (with cluster
 * query language filters) and UpdateContainerInstancesState.
 *
 * An instance is stored at keys.containerInstance(cluster, id) in its wire shape. Task placement
 * (tasks.ts) keeps remainingResources, runningTasksCount and pendingTasksCount up to date in the
 * same transactions as the tasks; the agent session sets agentConnected. Every change bumps
 * `version`, as ECS's version counter does. Deregistration deletes the key.
 */
import { randomBytes } from 'node:crypto';
import { BerthError, type Operation, type RequestContext } from '../protocols/index.js';
import { evaluateQuery, parseQuery, QuerySyntaxError, type QueryExpr, type QuerySubject } from '../scheduler/query/index.js';
import type { Store } from '../store/index.js';
import { clusterArn, clusterNameOf, containerInstanceArn, idOf, newId, type Partition } from './arn.js';
import { checkAttributeName, checkAttributeValue, customAttributeCount, isBuiltInAttribute, MAX_CUSTOM_ATTRIBUTES, readAttributes, type Attribute } from './attributes.js';
import { clusterActivity } from './cluster-activity.js';
import { clusterNotFound, requireActiveCluster, type Cluster } from './clusters.js';
import {
  clientError,
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
import { mergeTags, readTags, type Tag } from './tags.js';

export const CONTAINER_INSTANCE_STATUSES = ['ACTIVE', 'DRAINING', 'REGISTERING', 'DEREGISTERING', 'REGISTRATION_FAILED'] as const;
export type ContainerInstanceStatus = (typeof CONTAINER_INSTANCE_STATUSES)[number];
export const CONTAINER_INSTANCE_FIELDS = ['TAGS', 'CONTAINER_INSTANCE_HEALTH'] as const;
export const RESOURCE_TYPES = ['INTEGER', 'LONG', 'DOUBLE', 'STRINGSET'] as const;

/** A registered or remaining resource, with every numeric member present as ECS returns it. */
export interface Resource {
  readonly name: string;
  readonly type: (typeof RESOURCE_TYPES)[number];
  readonly doubleValue: number;
  readonly longValue: number;
  readonly integerValue: number;
  readonly stringSetValue?: readonly string[];
}

export interface VersionInfo {
  readonly agentVersion?: string;
  readonly agentHash?: string;
  readonly dockerVersion?: string;
}

export interface ContainerInstanceHealthStatus {
  readonly overallStatus: 'OK' | 'IMPAIRED' | 'INSUFFICIENT_DATA' | 'INITIALIZING';
  readonly details: ReadonlyArray<Record<string, unknown>>;
}

/** A container instance exactly as DescribeContainerInstances returns it (registeredAt in epoch seconds). */
export interface ContainerInstance {
  readonly containerInstanceArn: string;
  readonly ec2InstanceId: string;
  readonly capacityProviderName?: string;
  readonly version: number;
  readonly versionInfo: VersionInfo;
  readonly remainingResources: readonly Resource[];
  readonly registeredResources: readonly Resource[];
  /** INACTIVE only in DeregisterContainerInstance's answer: a deregistered instance is not stored. */
  readonly status: ContainerInstanceStatus | 'INACTIVE';
  readonly statusReason?: string;
  readonly agentConnected: boolean;
  readonly runningTasksCount: number;
  readonly pendingTasksCount: number;
  readonly agentUpdateStatus?: string;
  readonly attributes: readonly Attribute[];
  readonly registeredAt: number;
  readonly attachments: ReadonlyArray<Record<string, unknown>>;
  readonly tags: readonly Tag[];
  readonly healthStatus?: ContainerInstanceHealthStatus;
}

const partitionOf = (ctx: RequestContext): Partition => ({ region: ctx.region, accountId: ctx.caller.accountId });
const epochSeconds = (d: Date) => d.getTime() / 1000;

/** An EC2-style instance id for a host that has no EC2 identity document: i- and 17 hex digits. */
export const newEc2InstanceId = (): string => `i-${randomBytes(9).toString('hex').slice(0, 17)}`;

/**
 * Read-modify-write of one stored instance with compare-and-swap; `change` returns the new
 * instance (or undefined to leave it) and `version` is bumped for it. For the agent session
 * (agentConnected) and anything else that changes an instance outside this file.
 *
 * @example await updateContainerInstance(store, 'default', id, (ci) => ({ ...ci, agentConnected: true }))
 */
export async function updateContainerInstance(
  store: Store,
  cluster: string,
  id: string,
  change: (current: ContainerInstance) => ContainerInstance | undefined,
): Promise<ContainerInstance | undefined> {
  return updateJson<ContainerInstance>(store, keys.containerInstance(cluster, id), (current) => {
    if (current === undefined) return undefined;
    const next = change(current);
    return next === undefined || next === current ? undefined : { ...next, version: current.version + 1 };
  });
}

/** Marks the agent of an instance connected or not; a no-op for an unknown instance. */
export function setAgentConnected(store: Store, cluster: string, id: string, connected: boolean): Promise<ContainerInstance | undefined> {
  return updateContainerInstance(store, cluster, id, (ci) => (ci.agentConnected === connected ? undefined : { ...ci, agentConnected: connected }));
}

/**
 * How the cluster query language sees a stored instance; `taskGroups` are the groups of its
 * unstopped tasks (ClusterActivity.taskGroups).
 */
export function querySubjectOf(ci: ContainerInstance, taskGroups: Iterable<string>): QuerySubject {
  return {
    attribute: (name) => {
      const a = ci.attributes.find((x) => x.name === name);
      return a === undefined ? undefined : (a.value ?? null);
    },
    ec2InstanceId: ci.ec2InstanceId,
    registeredAt: new Date(ci.registeredAt * 1000),
    runningTasksCount: ci.runningTasksCount,
    agentConnected: ci.agentConnected,
    agentVersion: ci.versionInfo.agentVersion,
    taskGroups,
  };
}

// ---- registration input -----------------------------------------------------------------------

const numberOf = (r: Pick<Resource, 'type' | 'integerValue' | 'longValue' | 'doubleValue'>): number =>
  r.type === 'LONG' ? r.longValue : r.type === 'DOUBLE' ? r.doubleValue : r.integerValue;

function withNumber(r: Resource, n: number): Resource {
  return r.type === 'LONG' ? { ...r, longValue: n } : r.type === 'DOUBLE' ? { ...r, doubleValue: n } : { ...r, integerValue: n };
}

function readResources(input: Record<string, unknown>): Resource[] {
  const list = optionalArray(input, 'totalResources') ?? [];
  const out = objectsOf(list, 'totalResources').map(({ item, path }): Resource => {
    const name = optionalString(item, 'name', { path: `${path}.name` });
    if (name === undefined || name === '') throw invalid(`${path}.name is required.`);
    const stringSetValue = optionalStringArray(item, 'stringSetValue', { path: `${path}.stringSetValue` });
    const numbers = { doubleValue: 0, longValue: 0, integerValue: 0 };
    for (const field of ['doubleValue', 'longValue', 'integerValue'] as const) {
      const v = item[field];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (field !== 'doubleValue' && !Number.isInteger(v))) {
        throw invalid(`${path}.${field} must be a non-negative ${field === 'doubleValue' ? 'number' : 'integer'}.`);
      }
      numbers[field] = v;
    }
    const inferred =
      stringSetValue !== undefined ? 'STRINGSET' : item.longValue != null ? 'LONG' : item.doubleValue != null ? 'DOUBLE' : 'INTEGER';
    const type = optionalEnum(item, 'type', RESOURCE_TYPES, `${path}.type`) ?? inferred;
    if (type === 'STRINGSET') return { name, type, ...numbers, stringSetValue: stringSetValue ?? [] };
    return { name, type, ...numbers };
  });
  const names = out.map((r) => r.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw invalid(`totalResources names the resource '${dup}' more than once.`);
  return out;
}

/** The agent's totalResources, with what ECS always reports filled in (CPU, MEMORY, PORTS, PORTS_UDP, GPU). */
function registeredResourcesOf(resources: readonly Resource[], gpuIds: readonly string[]): Resource[] {
  const out = [...resources];
  const zero = { doubleValue: 0, longValue: 0, integerValue: 0 };
  for (const name of ['CPU', 'MEMORY'] as const) if (!out.some((r) => r.name === name)) out.push({ name, type: 'INTEGER', ...zero });
  for (const name of ['PORTS', 'PORTS_UDP'] as const) if (!out.some((r) => r.name === name)) out.push({ name, type: 'STRINGSET', ...zero, stringSetValue: [] });
  if (gpuIds.length > 0 && !out.some((r) => r.name === 'GPU')) out.push({ name: 'GPU', type: 'STRINGSET', ...zero, stringSetValue: [...gpuIds] });
  return out;
}

/**
 * remainingResources after a re-registration: what tasks hold (old registered − old remaining for
 * amounts; old remaining − old registered for reserved ports) is taken from the new totals.
 */
export function rebaseRemaining(oldRegistered: readonly Resource[], oldRemaining: readonly Resource[], registered: readonly Resource[]): Resource[] {
  return registered.map((r) => {
    const before = oldRegistered.find((x) => x.name === r.name);
    const left = oldRemaining.find((x) => x.name === r.name);
    if (before === undefined || left === undefined) return r;
    if (r.type === 'STRINGSET') {
      const held = [...(left.stringSetValue ?? [])];
      for (const p of before.stringSetValue ?? []) {
        const i = held.indexOf(p);
        if (i >= 0) held.splice(i, 1);
      }
      return { ...r, stringSetValue: [...(r.stringSetValue ?? []), ...held] };
    }
    return withNumber(r, numberOf(r) - (numberOf(before) - numberOf(left)));
  });
}

function readVersionInfo(input: Record<string, unknown>): VersionInfo {
  const v = optionalObject(input, 'versionInfo');
  if (v === undefined) return {};
  const out: { -readonly [K in keyof VersionInfo]: VersionInfo[K] } = {};
  for (const field of ['agentVersion', 'agentHash', 'dockerVersion'] as const) {
    const s = optionalString(v, field, { path: `versionInfo.${field}` });
    if (s !== undefined) out[field] = s;
  }
  return out;
}

function readGpuIds(input: Record<string, unknown>): string[] {
  const list = optionalArray(input, 'platformDevices') ?? [];
  return objectsOf(list, 'platformDevices').map(({ item, path }) => {
    const id = optionalString(item, 'id', { path: `${path}.id` });
    if (id === undefined || id === '') throw invalid(`${path}.id is required.`);
    const type = optionalEnum(item, 'type', ['GPU'] as const, `${path}.type`);
    if (type === undefined) throw invalid(`${path}.type is required.`);
    return id;
  });
}

interface IdentityDocument {
  readonly instanceId?: string;
  readonly availabilityZone?: string;
  readonly instanceType?: string;
  readonly imageId?: string;
}

/** The EC2 instance identity document, when the agent sends one (its signature is not checked). */
function readIdentityDocument(input: Record<string, unknown>): IdentityDocument {
  const text = optionalString(input, 'instanceIdentityDocument');
  if (text === undefined || text === '') return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalid('instanceIdentityDocument is not a JSON instance identity document.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('instanceIdentityDocument is not a JSON instance identity document.');
  const d = doc as Record<string, unknown>;
  const pick = (k: string) => (typeof d[k] === 'string' && d[k] !== '' ? (d[k]) : undefined);
  return defined({ instanceId: pick('instanceId'), availabilityZone: pick('availabilityZone'), instanceType: pick('instanceType'), imageId: pick('imageId') });
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The agent's attributes plus those ECS derives from the identity document, unless the agent sent them. */
function registrationAttributes(input: Record<string, unknown>, doc: IdentityDocument): Attribute[] {
  const given = (readAttributes(input, 'attributes') ?? []).map((a) => ({ name: a.name, ...(a.value === undefined ? {} : { value: a.value }) }));
  const names = given.map((a) => a.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw invalid(`attributes names '${dup}' more than once.`);
  const derived: Attribute[] = [];
  const add = (name: string, value: string | undefined) => {
    if (value === undefined || names.includes(name)) return;
    checkAttributeName(name, 'instanceIdentityDocument');
    checkAttributeValue(value, `instanceIdentityDocument (${name})`);
    derived.push({ name, value });
  };
  add('ecs.availability-zone', doc.availabilityZone);
  add('ecs.instance-type', doc.instanceType);
  add('ecs.ami-id', doc.imageId);
  return [...given, ...derived];
}

function checkCustomLimit(attributes: readonly Attribute[]): void {
  const n = customAttributeCount(attributes);
  if (n > MAX_CUSTOM_ATTRIBUTES) {
    throw new BerthError('AttributeLimitExceededException', `The registration carries ${n} custom attributes; you can apply up to ${MAX_CUSTOM_ATTRIBUTES} custom attributes for each resource.`);
  }
}

/** Finds the stored instance the agent is re-registering, if any. */
async function findExisting(
  store: Store,
  cluster: string,
  arnParam: string | undefined,
  ec2InstanceId: string | undefined,
): Promise<(Stored<ContainerInstance> & { id: string }) | undefined> {
  if (arnParam !== undefined && arnParam !== '') {
    const id = idOf(arnParam, 'container-instance', cluster, 'containerInstanceArn');
    const existing = await readJson<ContainerInstance>(store, keys.containerInstance(cluster, id));
    if (!existing) throw clientError(`Container instance ${arnParam} is not registered in cluster ${cluster}; register it without containerInstanceArn.`);
    return { ...existing, id };
  }
  if (ec2InstanceId === undefined) return undefined;
  // The same EC2 instance registering again (its agent lost its state) gets its old registration back.
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.range(keys.containerInstances(cluster), { limit: 200, ...(startAfter === undefined ? {} : { startAfter }) });
    for (const kv of page.kvs) {
      const ci = JSON.parse(kv.value) as ContainerInstance;
      if (ci.ec2InstanceId === ec2InstanceId) return { value: ci, modRevision: kv.modRevision, id: kv.key.slice(kv.key.lastIndexOf('/') + 1) };
    }
    if (!page.more || page.kvs.length === 0) return undefined;
    startAfter = page.kvs[page.kvs.length - 1]!.key;
  }
}

/**
 * The cluster an instance registers into, and its revision. ECS creates the `default` cluster for
 * the first instance that registers into it; any other cluster must exist and be ACTIVE.
 */
async function registrationCluster(store: Store, ctx: RequestContext, name: string): Promise<number> {
  const key = keys.cluster(name);
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const current = await readJson<Cluster>(store, key);
    if (current?.value.status === 'ACTIVE') return current.modRevision;
    if (current !== undefined) throw new BerthError('ClusterNotFoundException', 'The referenced cluster was inactive.');
    if (name !== 'default') throw clusterNotFound();
    const cluster: Cluster = {
      clusterArn: clusterArn(partitionOf(ctx), 'default'),
      clusterName: 'default',
      status: 'ACTIVE',
      settings: [],
      capacityProviders: [],
      defaultCapacityProviderStrategy: [],
      tags: [],
    };
    await createJson(store, key, cluster); // false only if another request created it meanwhile: read it again
  }
  throw new BerthError('ServerException', `Too many concurrent changes to cluster ${name}; try again.`);
}

// ---- output -----------------------------------------------------------------------------------

type Include = ReadonlySet<(typeof CONTAINER_INSTANCE_FIELDS)[number]>;
const ALL_FIELDS: Include = new Set(['TAGS']);

/** An instance on the wire: tags and health only when asked for, as ECS does. */
function view(ci: ContainerInstance, include: Include): Record<string, unknown> {
  const { tags, healthStatus, ...rest } = ci;
  return {
    ...rest,
    ...(include.has('TAGS') ? { tags } : {}),
    ...(include.has('CONTAINER_INSTANCE_HEALTH')
      ? { healthStatus: healthStatus ?? { overallStatus: ci.agentConnected ? 'OK' : 'INSUFFICIENT_DATA', details: [] } }
      : {}),
  };
}

function readInclude(input: Record<string, unknown>): Include {
  const list = optionalStringArray(input, 'include') ?? [];
  list.forEach((f, i) => {
    if (!(CONTAINER_INSTANCE_FIELDS as readonly string[]).includes(f)) {
      throw invalid(`include[${i}] must be one of ${CONTAINER_INSTANCE_FIELDS.join(', ')}; got '${f}'.`);
    }
  });
  return new Set(list as Array<(typeof CONTAINER_INSTANCE_FIELDS)[number]>);
}

function readFilter(input: Record<string, unknown>): QueryExpr | undefined {
  const filter = optionalString(input, 'filter', { maxLength: 2000 });
  // An empty filter selects everything, like no filter.
  if (filter === undefined || filter.trim() === '') return undefined;
  try {
    return parseQuery(filter, { label: 'filter' });
  } catch (err) {
    if (err instanceof QuerySyntaxError) throw invalid(err.message);
    throw err;
  }
}

// ---- operations -------------------------------------------------------------------------------

const MAX_DESCRIBE = 100;
const MAX_UPDATE_STATE = 10;
const MAX_CAS_ATTEMPTS = 20;

export function containerInstanceOperations(deps: { readonly store: Store }): Record<string, Operation> {
  const { store } = deps;

  return {
    async RegisterContainerInstance(input, ctx) {
      const cluster = clusterNameOf(optionalString(input, 'cluster'));
      const doc = readIdentityDocument(input);
      const registered = registeredResourcesOf(readResources(input), readGpuIds(input));
      const versionInfo = readVersionInfo(input);
      const agentAttributes = registrationAttributes(input, doc);
      checkCustomLimit(agentAttributes);
      const tags = readTags(input);
      const arnParam = optionalString(input, 'containerInstanceArn');
      optionalString(input, 'instanceIdentityDocumentSignature');

      await registrationCluster(store, ctx, cluster);

      const existing = await findExisting(store, cluster, arnParam, doc.instanceId);
      if (existing !== undefined) {
        const next = await updateJson<ContainerInstance>(store, keys.containerInstance(cluster, existing.id), (current) => {
          if (current === undefined) throw clientError(`Container instance ${existing.value.containerInstanceArn} was deregistered during its re-registration.`);
          // The agent's report replaces its own attributes; custom ones put with PutAttributes stay.
          const agentNames = new Set(agentAttributes.map((a) => a.name));
          const kept = current.attributes.filter((a) => !isBuiltInAttribute(a.name) && !agentNames.has(a.name));
          const attributes = [...agentAttributes, ...kept];
          checkCustomLimit(attributes);
          return {
            ...current,
            versionInfo,
            registeredResources: registered,
            remainingResources: rebaseRemaining(current.registeredResources, current.remainingResources, registered),
            attributes,
            tags: mergeTags(current.tags, tags),
            version: current.version + 1,
          };
        });
        return { containerInstance: view(next!, ALL_FIELDS) };
      }

      const id = newId();
      const key = keys.containerInstance(cluster, id);
      const instance: ContainerInstance = {
        containerInstanceArn: containerInstanceArn(partitionOf(ctx), cluster, id),
        ec2InstanceId: doc.instanceId ?? newEc2InstanceId(),
        version: 1,
        versionInfo,
        remainingResources: registered,
        registeredResources: registered,
        status: 'ACTIVE',
        agentConnected: false,
        runningTasksCount: 0,
        pendingTasksCount: 0,
        attributes: agentAttributes,
        registeredAt: epochSeconds(ctx.now),
        attachments: [],
        tags,
      };
      // Guarded by the cluster's revision, so an instance never lands in a cluster deleted meanwhile.
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        const clusterRevision = await registrationCluster(store, ctx, cluster);
        const res = await store.txn(
          [
            { key: keys.cluster(cluster), target: 'mod', op: '=', value: clusterRevision },
            { key, target: 'mod', op: '=', value: 0 },
          ],
          [{ type: 'put', key, value: JSON.stringify(instance) }],
        );
        if (res.succeeded) return { containerInstance: view(instance, ALL_FIELDS) };
      }
      throw new BerthError('ServerException', `Too many concurrent changes to cluster ${cluster}; register again.`);
    },

    async DeregisterContainerInstance(input) {
      const { name: cluster } = await requireActiveCluster(store, optionalString(input, 'cluster'));
      const given = requiredString(input, 'containerInstance');
      const id = idOf(given, 'container-instance', cluster, 'containerInstance');
      const force = optionalBool(input, 'force') ?? false;
      const key = keys.containerInstance(cluster, id);
      const activity = clusterActivity(store);
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        const current = await readJson<ContainerInstance>(store, key);
        if (!current) throw invalid(`The container instance '${given}' was not found in cluster '${cluster}'.`);
        if (!force) {
          await activity.current();
          const onInstance = activity.tasksOn(cluster, id);
          const counted = current.value.runningTasksCount + current.value.pendingTasksCount;
          const tasks = Math.max(onInstance, counted);
          if (tasks > 0) {
            const [noun, verb, them] = tasks === 1 ? ['task', 'has', 'it'] : ['tasks', 'have', 'them'];
            throw invalid(`The container instance has ${tasks} ${noun} that ${verb} not stopped. Stop ${them} first, or deregister with force.`);
          }
        }
        // Tasks still on a forced-out instance are orphaned, as in ECS; the service scheduler replaces its own.
        const res = await store.txn([{ key, target: 'mod', op: '=', value: current.modRevision }], [{ type: 'delete', key }]);
        if (res.succeeded) {
          const gone: ContainerInstance = { ...current.value, status: 'INACTIVE', agentConnected: false, version: current.value.version + 1 };
          return { containerInstance: view(gone, ALL_FIELDS) };
        }
      }
      throw new BerthError('ServerException', `Too many concurrent updates to container instance ${given}; try again.`);
    },

    async DescribeContainerInstances(input, ctx) {
      const { name: cluster } = await requireActiveCluster(store, optionalString(input, 'cluster'));
      const ids = optionalStringArray(input, 'containerInstances', { maxItems: MAX_DESCRIBE });
      if (ids === undefined || ids.length === 0) throw invalid('containerInstances is required and must not be empty.');
      const include = readInclude(input);
      const resolved = ids.map((v, i) => idOf(v, 'container-instance', cluster, `containerInstances[${i}]`));
      const containerInstances: Array<Record<string, unknown>> = [];
      const failures: Array<{ arn: string; reason: string }> = [];
      for (const id of resolved) {
        const ci = await readJson<ContainerInstance>(store, keys.containerInstance(cluster, id));
        if (ci) containerInstances.push(view(ci.value, include));
        else failures.push({ arn: containerInstanceArn(partitionOf(ctx), cluster, id), reason: 'MISSING' });
      }
      return { containerInstances, failures };
    },

    async ListContainerInstances(input) {
      const { name: cluster } = await requireActiveCluster(store, optionalString(input, 'cluster'));
      const query = readFilter(input);
      const status = optionalEnum(input, 'status', CONTAINER_INSTANCE_STATUSES);
      const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 100 }) ?? 100;
      let startAfter = decodeNextToken(optionalString(input, 'nextToken'));
      const activity = clusterActivity(store);
      if (query !== undefined) await activity.current();

      const containerInstanceArns: string[] = [];
      let lastKey: string | undefined;
      for (;;) {
        const page = await store.range(keys.containerInstances(cluster), { limit: 100, ...(startAfter === undefined ? {} : { startAfter }) });
        for (const kv of page.kvs) {
          const ci = JSON.parse(kv.value) as ContainerInstance;
          if (status !== undefined && ci.status !== status) continue;
          const id = kv.key.slice(kv.key.lastIndexOf('/') + 1);
          if (query !== undefined && !evaluateQuery(query, querySubjectOf(ci, activity.taskGroups(cluster, id)))) continue;
          if (containerInstanceArns.length === maxResults) return { containerInstanceArns, nextToken: encodeNextToken(lastKey!) };
          containerInstanceArns.push(ci.containerInstanceArn);
          lastKey = kv.key;
        }
        if (!page.more || page.kvs.length === 0) return { containerInstanceArns };
        startAfter = page.kvs[page.kvs.length - 1]!.key;
      }
    },

    async UpdateContainerInstancesState(input, ctx) {
      const { name: cluster } = await requireActiveCluster(store, optionalString(input, 'cluster'));
      const ids = optionalStringArray(input, 'containerInstances', { maxItems: MAX_UPDATE_STATE });
      if (ids === undefined || ids.length === 0) throw invalid('containerInstances is required and must not be empty.');
      const status = optionalEnum(input, 'status', CONTAINER_INSTANCE_STATUSES);
      if (status === undefined) throw invalid('status is required.');
      if (status !== 'ACTIVE' && status !== 'DRAINING') {
        throw invalid(`Container instances can only be set to ACTIVE or DRAINING; ${status} is a status ECS sets itself.`);
      }
      const resolved = ids.map((v, i) => idOf(v, 'container-instance', cluster, `containerInstances[${i}]`));
      const containerInstances: Array<Record<string, unknown>> = [];
      const failures: Array<{ arn: string; reason: string; detail?: string }> = [];
      for (const id of resolved) {
        const arn = containerInstanceArn(partitionOf(ctx), cluster, id);
        let refused: string | undefined;
        const next = await updateJson<ContainerInstance>(store, keys.containerInstance(cluster, id), (current) => {
          refused = undefined;
          if (current === undefined || current.status === status) return undefined;
          if (current.status !== 'ACTIVE' && current.status !== 'DRAINING') {
            refused = `The container instance is ${current.status}; only ACTIVE and DRAINING instances can change status.`;
            return undefined;
          }
          return { ...current, status, version: current.version + 1 };
        });
        if (next === undefined) failures.push({ arn, reason: 'MISSING' });
        else if (refused !== undefined) failures.push({ arn, reason: 'INVALID_STATUS', detail: refused });
        else containerInstances.push(view(next, ALL_FIELDS));
      }
      return { containerInstances, failures };
    },
  };
}
