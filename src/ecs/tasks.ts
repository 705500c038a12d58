/**
 * The ECS task API: RunTask, StartTask, StopTask, DescribeTasks, ListTasks. Tasks are created in the
 * store with the fields and states ECS gives them; running them is the agent's job (a later issue).
 *
 * Consistency: a new task, its reservation on its container instance (remainingResources,
 * pendingTasksCount) and its clientToken record are written in ONE store transaction, guarded by
 * the instance's modRevision; a stale placement is redone (Nomad's "plan rejected, refresh and
 * retry"), so concurrent RunTasks never over-commit an instance.
 *
 * StopTask sets desiredStatus STOPPED (stopCode UserInitiated). A task no agent has picked up yet
 * (still PROVISIONING / PENDING, nothing pulled; see task-shape's hasReachedAgent) has nothing to
 * stop, so it goes to STOPPED at once and its reservation is returned in the same transaction; any
 * other task keeps its lastStatus until its agent reports the containers stopped.
 *
 * Placement: EC2 and EXTERNAL tasks go on the cluster's container instances through the scheduler's
 * full pipeline (src/scheduler: status, agent, launch type, requiresAttributes, CPU, memory, ports,
 * distinctInstance, memberOf; binpack / spread / random in order), planned on a snapshot and
 * committed with placeWithRetry. When a copy fits nowhere, `failures` carries ECS's reason per
 * instance and Berth's explanation in `detail`. Fargate tasks need no instance.
 *
 * ListTasks at scale: besides the task itself (keys.task), every task has a small index entry under
 * `/ecs/task-index/<cluster>/<desiredStatus>/<id>` holding the fields ListTasks filters on. A listing
 * scans only the entries of the desired status asked for, never the (large) task objects. Whoever
 * changes a task's desiredStatus, or deletes a task, must write taskIndexOps(...) in the same
 * transaction; stopTaskInStore does this for StopTask and is the helper for the agent and the service
 * controller.
 */
import type { Operation, RequestContext } from '../protocols/index.js';
import { BerthError } from '../protocols/index.js';
import type { Explanation, PlacementFailure } from '../scheduler/explain.js';
import { planPlacement, type PlacementPlan } from '../scheduler/plan.js';
import { InvalidPlacementRequest, type PlacementConstraint, type PlacementRequest, type PlacementStrategy } from '../scheduler/request.js';
import { placeWithRetry, StalePlanError, type Planner } from '../scheduler/retry.js';
import { NO_PORTS, type ClusterState, type InstanceState } from '../scheduler/state.js';
import type { Compare, Op, Store } from '../store/index.js';
import { containerArn, containerInstanceArn, idOf, newId, newUuid, parseEcsArn, taskArn as taskArnOf, type Partition } from './arn.js';
import { requireActiveCluster } from './clusters.js';
import type { ContainerInstance } from './container-instances.js';
import { claimClientToken, fingerprintOf, type ClientTokenClaim, type IdempotencyRecord } from './idempotency.js';
import type { EcsDeps } from './index.js';
import {
  decodeNextToken,
  encodeNextToken,
  invalid,
  optionalBool,
  optionalEnum,
  optionalInt,
  optionalString,
  optionalStringArray,
  requiredString,
} from './input.js';
import { keys } from './keys.js';
import {
  checkTaskDefinitionRunnable,
  chooseCapacityProviders,
  LAUNCH_TYPES,
  PROPAGATE_TAGS,
  readClientToken,
  readLaunchRequest,
  readPlatformVersion,
  readStartedBy,
  resolveLaunch,
  resolvePlatformVersion,
  type ClusterLaunchView,
  type Launch,
} from './launch-input.js';
import { availabilityZoneFor, checkNetworkConfiguration, eniAttachment, readNetworkConfiguration, subnetFor, type AwsVpcConfiguration } from './network-configuration.js';
import { checkPlacementForLaunchType, readPlacementConstraints, readPlacementStrategy } from './placement-input.js';
import { listJson, readJson } from './repo.js';
import { mergeTags, readTags, type Tag } from './tags.js';
import { resolveTaskDefinition, taskDefinitionTags } from './task-definitions.js';
import { effectiveNetworkMode } from './task-definition-validation.js';
import type { TaskDefinition } from './task-definition-types.js';
import { readTaskOverride, type TaskOverride } from './task-overrides.js';
import { instanceIdOf, placementCandidate, releaseOnInstance, reserveOnInstance, type InstanceResources } from './task-reservation.js';
import { buildTask, stopTask, taskDefinitionRefOf, taskReservation, type StopRequest, type Task, type TaskReservation } from './task-shape.js';

// ---------------------------------------------------------------------------------------------
// Shared reads.

/** The parts of a Cluster wire object task and service operations read. */
export interface ClusterView extends ClusterLaunchView {
  readonly clusterArn: string;
  readonly clusterName: string;
  readonly status: string;
}

export const partitionOf = (ctx: RequestContext): Partition => ({ region: ctx.region, accountId: ctx.caller.accountId });

/** The ACTIVE cluster a request names (default: 'default'), as clusters.ts checks it. */
export async function requireCluster(store: Store, input: Record<string, unknown>): Promise<ClusterView> {
  return (await requireActiveCluster(store, optionalString(input, 'cluster'))).cluster.value;
}

/** ECS's Failure shape. */
export interface Failure {
  readonly arn?: string;
  readonly reason?: string;
  readonly detail?: string;
}

/** The stored ContainerInstance as far as tasks are concerned. */
export type StoredInstance = InstanceResources & { readonly ec2InstanceId?: string };

// ---------------------------------------------------------------------------------------------
// The ListTasks index.

export const taskIndexPrefix = (cluster: string, desiredStatus: string): string => `/ecs/task-index/${cluster}/${desiredStatus}/`;
export const taskIndexKey = (cluster: string, desiredStatus: string, id: string): string => `${taskIndexPrefix(cluster, desiredStatus)}${id}`;

/** What ListTasks filters on; none of it changes during a task's life. */
export interface TaskIndexEntry {
  readonly family: string;
  readonly group: string;
  readonly startedBy?: string;
  readonly containerInstanceId?: string;
  readonly launchType?: string;
}

const taskIdOf = (task: Pick<Task, 'taskArn'>): string => task.taskArn.slice(task.taskArn.lastIndexOf('/') + 1);

function indexEntryOf(task: Task): TaskIndexEntry {
  return {
    family: taskDefinitionRefOf(task)?.family ?? '',
    group: task.group,
    ...(task.startedBy === undefined ? {} : { startedBy: task.startedBy }),
    ...(task.containerInstanceArn === undefined ? {} : { containerInstanceId: instanceIdOf(task.containerInstanceArn) }),
    ...(task.launchType === undefined ? {} : { launchType: task.launchType }),
  };
}

/**
 * The index writes that go with writing `after` over `before` (undefined: created / deleted):
 * nothing unless the task appears, disappears or changes desiredStatus.
 */
export function taskIndexOps(cluster: string, before: Task | undefined, after: Task | undefined): Op[] {
  if (before?.desiredStatus === after?.desiredStatus) return [];
  const ops: Op[] = [];
  if (before !== undefined) ops.push({ type: 'delete', key: taskIndexKey(cluster, before.desiredStatus, taskIdOf(before)) });
  if (after !== undefined) {
    ops.push({ type: 'put', key: taskIndexKey(cluster, after.desiredStatus, taskIdOf(after)), value: JSON.stringify(indexEntryOf(after)) });
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Reading a RunTask / StartTask request.

/** Everything about a new task that does not depend on where it is placed (RunTask's, or a service deployment's). */
export interface TaskSpec {
  readonly cluster: ClusterView;
  readonly td: TaskDefinition;
  readonly launch: Launch;
  readonly platformVersion?: string;
  readonly vpc?: AwsVpcConfiguration;
  readonly overrides: TaskOverride;
  readonly group: string;
  readonly startedBy?: string;
  readonly tags: readonly Tag[];
  readonly enableExecuteCommand: boolean;
  readonly reservation: TaskReservation;
}

async function readTaskSpec(
  store: Store,
  input: Record<string, unknown>,
  ctx: RequestContext,
  cluster: ClusterView,
  launch: Launch,
  startedByMax: number,
): Promise<TaskSpec> {
  const partition = partitionOf(ctx);
  const td = await resolveTaskDefinition(store, requiredString(input, 'taskDefinition'), partition);
  checkTaskDefinitionRunnable(td, launch.launchType);
  const platformVersion = readPlatformVersion(input, launch.launchType);
  const vpc = checkNetworkConfiguration(effectiveNetworkMode(td), readNetworkConfiguration(input), launch.launchType);
  const overrides = readTaskOverride(input, td, launch.launchType);
  const group = optionalString(input, 'group', { maxLength: 255 }) || `family:${td.family}`;
  const startedBy = readStartedBy(input, startedByMax);
  optionalString(input, 'referenceId', { maxLength: 64 }); // ECS-internal; read for its type only
  const enableExecuteCommand = optionalBool(input, 'enableExecuteCommand') ?? false;
  if (enableExecuteCommand && (overrides.taskRoleArn ?? td.taskRoleArn) === undefined) {
    throw invalid('The task definition must have a task role (taskRoleArn), or one must be given in overrides, to enable execute command.');
  }
  const volumes = input['volumeConfigurations'];
  if (Array.isArray(volumes) && volumes.length > 0) {
    throw new BerthError('UnsupportedFeatureException', 'volumeConfigurations (Amazon EBS volumes configured at launch) are not supported.');
  }

  const own = readTags(input);
  const propagate = optionalEnum(input, 'propagateTags', PROPAGATE_TAGS);
  if (propagate === 'SERVICE') throw invalid('propagateTags SERVICE is only valid for tasks started by a service.');
  let tags = propagate === 'TASK_DEFINITION' ? mergeTags(await taskDefinitionTags(store, td), own) : own;
  if (optionalBool(input, 'enableECSManagedTags') === true) {
    tags = mergeTags(tags, [{ key: 'aws:ecs:clusterName', value: cluster.clusterName }]);
  }

  return {
    cluster,
    td,
    launch,
    ...(platformVersion === undefined ? {} : { platformVersion }),
    ...(vpc === undefined ? {} : { vpc }),
    overrides,
    group,
    ...(startedBy === undefined ? {} : { startedBy }),
    tags,
    enableExecuteCommand,
    reservation: taskReservation(td, overrides),
  };
}

// ---------------------------------------------------------------------------------------------
// Building and committing new tasks.

/** One task to create, with the instance it lands on (none for Fargate). */
export interface Slot {
  readonly instance?: StoredInstance;
  readonly capacityProviderName?: string;
}

/** The tasks for `slots`, built but not stored (their ARNs are known before the commit). */
export function newTasks(spec: TaskSpec, slots: readonly Slot[], ctx: RequestContext): Task[] {
  const p = partitionOf(ctx);
  const name = spec.cluster.clusterName;
  return slots.map((slot, i) => {
    const id = newId();
    const arn = taskArnOf(p, name, id);
    const subnet = spec.vpc === undefined ? undefined : subnetFor(spec.vpc, i);
    const az =
      spec.vpc !== undefined && subnet !== undefined
        ? availabilityZoneFor(ctx.region, spec.vpc, subnet)
        : slot.instance?.attributes?.find((a) => a.name === 'ecs.availability-zone')?.value;
    return buildTask({
      taskArn: arn,
      clusterArn: spec.cluster.clusterArn,
      td: spec.td,
      overrides: spec.overrides,
      launchType: spec.launch.launchType,
      ...(slot.capacityProviderName === undefined ? {} : { capacityProviderName: slot.capacityProviderName }),
      ...(spec.launch.launchType === 'FARGATE' ? { platformVersion: resolvePlatformVersion(spec.platformVersion) } : {}),
      ...(slot.instance === undefined ? {} : { containerInstanceArn: slot.instance.containerInstanceArn }),
      ...(az === undefined ? {} : { availabilityZone: az }),
      ...(subnet === undefined ? {} : { attachment: eniAttachment(newUuid(), subnet) }),
      containerArns: spec.td.containerDefinitions.map(() => containerArn(p, name, id, newUuid())),
      group: spec.group,
      ...(spec.startedBy === undefined ? {} : { startedBy: spec.startedBy }),
      tags: spec.tags,
      enableExecuteCommand: spec.enableExecuteCommand,
      now: ctx.now,
    });
  });
}

/** A container instance read for placement, with the revision the commit is guarded by. */
export interface ReadInstance {
  readonly key: string;
  readonly modRevision: number;
  readonly value: StoredInstance;
}

/**
 * Writes new tasks, their index entries and the reservations on their instances in one
 * transaction, guarded by each instance's revision (and by `extra`, e.g. a clientToken guard).
 * Returns false when a guard no longer holds: the caller re-reads and places again. The service
 * controller commits its starts here too, with the service's own write in `extra`.
 *
 * When an instance changed only in ways that cannot undo the placement (an agent's report moved a
 * task from pending to running, another plan took room that still leaves enough), the commit is
 * rebased on the instance as it is now, as Nomad's plan applier re-checks a plan against the latest
 * state instead of rejecting it whole: on a busy cluster some instance of a large plan always changed.
 */
export async function commitNewTasks(
  store: Store,
  clusterName: string,
  tasks: readonly Task[],
  slots: readonly Slot[],
  read: ReadonlyMap<string, ReadInstance>,
  reservation: TaskReservation,
  extra: { compares: readonly Compare[]; ops: readonly Op[] },
): Promise<boolean> {
  const copies = new Map<string, number>();
  for (const slot of slots) {
    if (slot.instance === undefined) continue;
    const id = instanceIdOf(slot.instance.containerInstanceArn);
    copies.set(id, (copies.get(id) ?? 0) + 1);
  }
  const taskOps: Op[] = [];
  const taskCompares: Compare[] = [];
  for (const task of tasks) {
    const key = keys.task(clusterName, taskIdOf(task));
    taskCompares.push({ key, target: 'mod', op: '=', value: 0 });
    taskOps.push({ type: 'put', key, value: JSON.stringify(task) }, ...taskIndexOps(clusterName, undefined, task));
  }
  let base = read;
  for (let attempt = 0; attempt < MAX_REBASES; attempt++) {
    const compares: Compare[] = [...extra.compares, ...taskCompares];
    const ops: Op[] = [...extra.ops, ...taskOps];
    for (const [id, n] of copies) {
      const r = base.get(id)!;
      let value: StoredInstance = r.value;
      for (let k = 0; k < n; k++) value = reserveOnInstance(value, reservation);
      compares.push({ key: r.key, target: 'mod', op: '=', value: r.modRevision });
      ops.push({ type: 'put', key: r.key, value: JSON.stringify(value) });
    }
    if ((await store.txn(compares, ops)).succeeded) return true;
    const rebased = await rebase(store, base, copies, reservation);
    if (rebased === undefined) return false;
    base = rebased;
  }
  return false;
}

/** How many times one commit is rebased on changed instances before the caller plans again. */
const MAX_REBASES = 5;

/**
 * The instances the plan places on, read again, if every one that changed can still take its
 * copies exactly as planned; undefined when one cannot (or none changed: another guard failed).
 */
async function rebase(
  store: Store,
  base: ReadonlyMap<string, ReadInstance>,
  copies: ReadonlyMap<string, number>,
  reservation: TaskReservation,
): Promise<Map<string, ReadInstance> | undefined> {
  const out = new Map(base);
  let changed = false;
  for (const id of copies.keys()) {
    const before = base.get(id)!;
    const now = await readJson<StoredInstance>(store, before.key);
    if (now === undefined) return undefined;
    if (now.modRevision === before.modRevision) continue;
    if (!stillTakes(before.value, now.value, copies.get(id)!, reservation)) return undefined;
    out.set(id, { key: before.key, modRevision: now.modRevision, value: now.value });
    changed = true;
  }
  return changed ? out : undefined;
}

/** Whether `now` (the instance as it changed since `before`) can still take `n` copies as placed on `before`. */
function stillTakes(before: StoredInstance, now: StoredInstance, n: number, res: TaskReservation): boolean {
  // What placement decided on besides resources must be as it was: status, agent, attributes.
  if (now.status !== 'ACTIVE' || now.status !== before.status) return false;
  const agent = (i: StoredInstance) => (i as { agentConnected?: boolean }).agentConnected;
  if (agent(now) !== agent(before)) return false;
  if (JSON.stringify(now.attributes ?? []) !== JSON.stringify(before.attributes ?? [])) return false;
  const free = placementCandidate(now);
  if (free.cpu < n * res.cpu || free.memory < n * res.memory) return false;
  const tcp = new Set(free.tcpPorts);
  const udp = new Set(free.udpPorts);
  return res.tcpPorts.every((p) => !tcp.has(p)) && res.udpPorts.every((p) => !udp.has(p));
}

const MAX_PLACEMENT_ATTEMPTS = 20;

const tooManyConflicts = (): BerthError =>
  new BerthError('ServerException', 'Too many concurrent changes to the container instances of this cluster; try again.');

// ---------------------------------------------------------------------------------------------
// RunTask.

interface RunTaskResult {
  readonly taskArns: readonly string[];
  readonly failures: readonly Failure[];
}

async function readInstances(store: Store, cluster: string): Promise<ReadInstance[]> {
  const { items } = await listJson<ContainerInstance>(store, keys.containerInstances(cluster));
  return items.map((i) => ({ key: i.key, modRevision: i.modRevision, value: i.value }));
}

/**
 * What placement asks for one copy of a RunTask / StartTask task: its reservation, launch type and
 * compatibilities, the attributes its task definition requires, the request's constraints with the
 * task definition's memberOf ones, and the request's strategies.
 */
export function taskPlacementRequest(spec: TaskSpec, constraints: readonly PlacementConstraint[] = [], strategy: readonly PlacementStrategy[] = []): PlacementRequest {
  const fromTd = spec.td.placementConstraints.flatMap((c): PlacementConstraint[] =>
    c.type === undefined ? [] : [{ type: c.type, ...(c.expression === undefined ? {} : { expression: c.expression }) }],
  );
  return {
    group: spec.group,
    cpu: spec.reservation.cpu,
    memory: spec.reservation.memory,
    tcpPorts: spec.reservation.tcpPorts,
    udpPorts: spec.reservation.udpPorts,
    launchType: spec.launch.launchType === 'EXTERNAL' ? 'EXTERNAL' : 'EC2',
    requiresCompatibilities: (spec.td.requiresCompatibilities ?? []).filter((c) => c === 'EC2' || c === 'EXTERNAL'),
    requiresAttributes: (spec.td.requiresAttributes ?? []).map((a) => ({ name: a.name, ...(a.value === undefined ? {} : { value: a.value }) })),
    constraints: [...constraints, ...fromTd],
    strategy,
  };
}

/** Whether placement reads task groups: only distinctInstance, spread and memberOf on task:group do. */
const needsTaskGroups = (request: PlacementRequest): boolean =>
  (request.strategy ?? []).some((s) => s.type === 'spread') ||
  (request.constraints ?? []).some((c) => c.type === 'distinctInstance' || (c.expression ?? '').includes('task:group'));

/**
 * The cluster's tasks that are meant to run, counted by task group per instance id, from the small
 * ListTasks index entries (never the task objects). A task told to stop drops out here at once, even
 * while its agent still stops it: ECS counts it the same way for spread and distinctInstance.
 */
async function taskGroupsByInstance(store: Store, cluster: string): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  const { items } = await listJson<TaskIndexEntry>(store, taskIndexPrefix(cluster, 'RUNNING'));
  for (const { value } of items) {
    if (value.containerInstanceId === undefined) continue;
    let groups = out.get(value.containerInstanceId);
    if (groups === undefined) out.set(value.containerInstanceId, (groups = new Map<string, number>()));
    groups.set(value.group, (groups.get(value.group) ?? 0) + 1);
  }
  return out;
}

const NO_GROUPS: ReadonlyMap<string, number> = new Map();

/** A stored container instance as the scheduler sees it. */
export function instanceStateOfStored(ci: ContainerInstance, taskGroups: ReadonlyMap<string, number>): InstanceState {
  const free = placementCandidate(ci);
  const gpus = ci.remainingResources.find((r) => r.name === 'GPU')?.stringSetValue?.length ?? 0;
  return {
    id: free.id,
    status: ci.status,
    agentConnected: ci.agentConnected,
    registeredAt: new Date(ci.registeredAt * 1000),
    ec2InstanceId: ci.ec2InstanceId,
    agentVersion: ci.versionInfo.agentVersion,
    // ECS Anywhere hosts carry managed-instance ids (mi-…); they take EXTERNAL tasks.
    launchType: ci.ec2InstanceId.startsWith('mi-') ? 'EXTERNAL' : 'EC2',
    attributes: Object.fromEntries(ci.attributes.map((a) => [a.name, a.value ?? null])),
    free: { cpu: free.cpu, memory: free.memory, gpus },
    reservedPorts: {
      tcp: free.tcpPorts.length === 0 ? NO_PORTS : new Set(free.tcpPorts),
      udp: free.udpPorts.length === 0 ? NO_PORTS : new Set(free.udpPorts),
    },
    taskGroups,
    runningTasksCount: ci.runningTasksCount,
  };
}

/** ECS's Failure for an instance placement refused: its reason, and Berth's numbers and explanation in detail. */
function failureOf(p: Partition, cluster: string, f: PlacementFailure, explanation: Explanation | undefined): Failure {
  const detail = explanation === undefined || explanation.message === '' ? f.detail : `${f.detail}. ${explanation.message}`;
  return { arn: containerInstanceArn(p, cluster, f.instanceId), reason: f.reason, detail };
}

/** A RunTask snapshot: the instances as read (with revisions) and the clientToken claim made with them. */
interface RunTaskSnapshot extends ClusterState {
  readonly read: ReadonlyMap<string, ReadInstance>;
  readonly claim: ClientTokenClaim<RunTaskResult> | undefined;
}

/** The token was claimed by an identical request meanwhile: its result is the answer. */
class Replayed extends Error {
  constructor(readonly record: IdempotencyRecord<RunTaskResult>) {
    super('replayed');
  }
}

function placementError(err: unknown): never {
  // RunTask's input readers check the rules first; one the scheduler still refuses is the caller's.
  if (err instanceof InvalidPlacementRequest) throw invalid(err.message);
  throw err;
}

async function runTask(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const count = optionalInt(input, 'count', { min: 1, max: 10 }) ?? 1;
  const launch = resolveLaunch(readLaunchRequest(input), cluster);
  const spec = await readTaskSpec(store, input, ctx, cluster, launch, 128);
  const constraints = readPlacementConstraints(input, spec.td.placementConstraints.length);
  const strategy = readPlacementStrategy(input);
  checkPlacementForLaunchType(launch.launchType, constraints, strategy);
  const token = readClientToken(input, 64);
  const fingerprint = fingerprintOf(input);
  const p = partitionOf(ctx);
  const name = cluster.clusterName;

  const claimToken = async (): Promise<ClientTokenClaim<RunTaskResult> | undefined> => {
    const claim = token === undefined ? undefined : await claimClientToken<RunTaskResult>(store, 'RunTask', token, fingerprint, ctx.now);
    if (claim?.kind === 'replay') throw new Replayed(claim.record);
    return claim;
  };
  const providers = launch.capacityProviderStrategy === undefined ? undefined : chooseCapacityProviders(launch.capacityProviderStrategy, count);
  const withProvider = (slot: Slot, i: number): Slot => (providers === undefined ? slot : { ...slot, capacityProviderName: providers[i]! });

  try {
    if (launch.launchType === 'FARGATE') {
      // No instance to place on: the commit is guarded by the token alone.
      for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS; attempt++) {
        const claim = await claimToken();
        const slots = Array.from({ length: count }, (_, i) => withProvider({}, i));
        const tasks = newTasks(spec, slots, ctx);
        const result: RunTaskResult = { taskArns: tasks.map((t) => t.taskArn), failures: [] };
        const extra = claim?.kind === 'fresh' ? { compares: [claim.guard], ops: [claim.put(result)] } : { compares: [], ops: [] };
        if (await commitNewTasks(store, name, tasks, slots, new Map(), spec.reservation, extra)) return { tasks, failures: [] };
      }
      throw tooManyConflicts();
    }

    const request = taskPlacementRequest(spec, constraints, strategy);
    const groups = needsTaskGroups(request);
    let committed: { tasks: Task[]; failures: Failure[] } | undefined;
    const planner: Planner<RunTaskSnapshot> = {
      async snapshot() {
        const claim = await claimToken();
        const [instances, byInstance] = await Promise.all([readInstances(store, name), groups ? taskGroupsByInstance(store, name) : undefined]);
        if (!instances.some((i) => i.value.status !== 'INACTIVE')) throw invalid('No Container Instances were found in your cluster.');
        const read = new Map<string, ReadInstance>();
        const states: InstanceState[] = [];
        for (const i of instances) {
          const id = instanceIdOf(i.value.containerInstanceArn);
          read.set(id, i);
          states.push(instanceStateOfStored(i.value as ContainerInstance, byInstance?.get(id) ?? NO_GROUPS));
        }
        return { instances: states, read, claim };
      },
      async submit(plan, snapshot) {
        const slots = plan.placements.map((id, i) => withProvider({ instance: snapshot.read.get(id)!.value }, i));
        const failures = plan.failures.map((f) => failureOf(p, name, f, plan.explanation));
        const tasks = newTasks(spec, slots, ctx);
        const result: RunTaskResult = { taskArns: tasks.map((t) => t.taskArn), failures };
        const claim = snapshot.claim;
        const extra = claim?.kind === 'fresh' ? { compares: [claim.guard], ops: [claim.put(result)] } : { compares: [], ops: [] };
        if (!(await commitNewTasks(store, name, tasks, slots, snapshot.read, spec.reservation, extra))) return false;
        committed = { tasks, failures };
        return true;
      },
    };
    const plan = await placeWithRetry(planner, request, count, { maxAttempts: MAX_PLACEMENT_ATTEMPTS }).catch((err: unknown) => {
      if (err instanceof StalePlanError) throw tooManyConflicts();
      return placementError(err);
    });
    // Nothing placed: nothing written, and the token stays free for a retry once there is room.
    if (committed === undefined) return { tasks: [], failures: plan.failures.map((f) => failureOf(p, name, f, plan.explanation)) };
    return committed;
  } catch (err) {
    if (!(err instanceof Replayed)) throw err;
    if (err.record.fingerprint !== fingerprint) {
      throw new BerthError('ConflictException', 'The clientToken is already in use with a different RunTask request.', {
        fields: { resourceIds: err.record.result.taskArns },
      });
    }
    return { tasks: await readTasksByArn(store, name, err.record.result.taskArns), failures: err.record.result.failures };
  }
}

/** Tasks as DescribeTasks shows them, in the order of `arns`; those gone are skipped. */
async function readTasksByArn(store: Store, cluster: string, arns: readonly string[]): Promise<Task[]> {
  const found = await Promise.all(arns.map((arn) => readJson<Task>(store, keys.task(cluster, arn.slice(arn.lastIndexOf('/') + 1)))));
  return found.flatMap((t) => (t === undefined ? [] : [t.value]));
}

// ---------------------------------------------------------------------------------------------
// StartTask.

/**
 * StartTask places on the instances named, one task per entry, in order: no strategy chooses, but
 * each instance must still be able to take the task (status, agent, launch type, requiresAttributes,
 * CPU, memory, ports), each entry seeing the tasks the earlier entries put there.
 */
async function startTask(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const named = optionalStringArray(input, 'containerInstances', { maxItems: 10 });
  if (named === undefined || named.length === 0) throw invalid('Container Instances cannot be empty.');
  const ids = named.map((ref) => idOf(ref, 'container-instance', cluster.clusterName, 'containerInstances'));
  const spec = await readTaskSpec(store, input, ctx, cluster, { launchType: 'EC2' }, 36);
  const p = partitionOf(ctx);
  const request: PlacementRequest = { ...taskPlacementRequest(spec), constraints: [] };

  for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS; attempt++) {
    const read = new Map<string, ReadInstance>();
    for (const id of new Set(ids)) {
      const key = keys.containerInstance(cluster.clusterName, id);
      const cur = await readJson<ContainerInstance>(store, key);
      if (cur !== undefined) read.set(id, { key, modRevision: cur.modRevision, value: cur.value });
    }
    // What the earlier entries reserved counts for the later ones.
    const working = new Map<string, ContainerInstance>([...read].map(([id, r]) => [id, r.value as ContainerInstance]));
    const slots: Slot[] = [];
    const failures: Failure[] = [];
    for (const id of ids) {
      const ci = working.get(id);
      if (ci === undefined) {
        failures.push({ arn: containerInstanceArn(p, cluster.clusterName, id), reason: 'MISSING' });
        continue;
      }
      let plan: PlacementPlan;
      try {
        plan = planPlacement({ instances: [instanceStateOfStored(ci, NO_GROUPS)] }, request, 1);
      } catch (err) {
        placementError(err);
      }
      if (plan.placements.length === 0) {
        failures.push(...plan.failures.map((f) => failureOf(p, cluster.clusterName, f, undefined)));
        continue;
      }
      working.set(id, reserveOnInstance(ci, spec.reservation));
      slots.push({ instance: read.get(id)!.value });
    }
    if (slots.length === 0) return { tasks: [], failures };
    const tasks = newTasks(spec, slots, ctx);
    if (await commitNewTasks(store, cluster.clusterName, tasks, slots, read, spec.reservation, { compares: [], ops: [] })) return { tasks, failures };
  }
  throw tooManyConflicts();
}

// ---------------------------------------------------------------------------------------------
// StopTask.

export const DEFAULT_STOPPED_REASON = 'Task stopped by user';

/**
 * Asks a stored task to stop (see task-shape's stopTask for what changes) and, when that finishes
 * it at once, returns its reservation to its container instance, all in one transaction. Returns
 * the task as stored afterwards, or undefined if there is no such task. For StopTask here, and for
 * the service controller (ServiceSchedulerInitiated) later.
 */
export async function stopTaskInStore(store: Store, cluster: string, id: string, req: StopRequest): Promise<Task | undefined> {
  const taskKey = keys.task(cluster, id);
  for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS; attempt++) {
    const cur = await readJson<Task>(store, taskKey);
    if (cur === undefined) return undefined;
    const next = stopTask(cur.value, req);
    if (next === cur.value) return cur.value;
    const compares: Compare[] = [{ key: taskKey, target: 'mod', op: '=', value: cur.modRevision }];
    const ops: Op[] = [{ type: 'put', key: taskKey, value: JSON.stringify(next) }, ...taskIndexOps(cluster, cur.value, next)];
    const release = next.lastStatus === 'STOPPED' && cur.value.lastStatus !== 'STOPPED' ? await releaseFor(store, cluster, cur.value) : undefined;
    if (release !== undefined) {
      compares.push({ key: release.key, target: 'mod', op: '=', value: release.modRevision });
      ops.push({ type: 'put', key: release.key, value: JSON.stringify(release.value) });
    }
    if ((await store.txn(compares, ops)).succeeded) return next;
  }
  throw tooManyConflicts();
}

/** The task's instance with the task's reservation given back, or undefined if it has none. */
async function releaseFor(store: Store, cluster: string, task: Task): Promise<ReadInstance | undefined> {
  if (task.containerInstanceArn === undefined) return undefined;
  const key = keys.containerInstance(cluster, instanceIdOf(task.containerInstanceArn));
  const instance = await readJson<StoredInstance>(store, key);
  if (instance === undefined) return undefined;
  const ref = taskDefinitionRefOf(task);
  const td = ref === undefined ? undefined : await readJson<TaskDefinition>(store, keys.taskDefinition(ref.family, ref.revision));
  const ports = td === undefined ? { tcpPorts: [], udpPorts: [] } : taskReservation(td.value, task.overrides);
  const reservation: TaskReservation = { cpu: Number(task.cpu ?? 0), memory: Number(task.memory ?? 0), tcpPorts: ports.tcpPorts, udpPorts: ports.udpPorts };
  const wasRunning = task.lastStatus === 'RUNNING' || task.lastStatus === 'DEACTIVATING' || task.lastStatus === 'STOPPING';
  return { key, modRevision: instance.modRevision, value: releaseOnInstance(instance.value, reservation, wasRunning) };
}

async function stopTaskOp(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const ref = requiredString(input, 'task');
  const reason = optionalString(input, 'reason', { maxLength: 255 });
  const id = idOf(ref, 'task', cluster.clusterName, 'task');
  const task = await stopTaskInStore(store, cluster.clusterName, id, {
    stopCode: 'UserInitiated',
    reason: reason === undefined || reason === '' ? DEFAULT_STOPPED_REASON : reason,
    now: ctx.now,
  });
  if (task === undefined) throw invalid('The referenced task was not found.');
  return { task };
}

// ---------------------------------------------------------------------------------------------
// DescribeTasks.

const withoutTags = (task: Task): Omit<Task, 'tags'> => {
  const { tags: _tags, ...rest } = task;
  return rest;
};

async function describeTasks(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const refs = optionalStringArray(input, 'tasks', { maxItems: 100 });
  if (refs === undefined || refs.length === 0) throw invalid('Tasks cannot be empty.');
  const include = optionalStringArray(input, 'include') ?? [];
  include.forEach((f, i) => {
    if (f !== 'TAGS') throw invalid(`include[${i}] must be one of TAGS; got '${f}'.`);
  });
  const p = partitionOf(ctx);
  const unique = [...new Set(refs)];
  // Direct key reads only: cost grows with the request, not with how many tasks the cluster holds.
  const found = await Promise.all(
    unique.map(async (ref) => {
      const id = taskIdFromRef(ref, cluster.clusterName);
      const task = id === undefined ? undefined : await readJson<Task>(store, keys.task(cluster.clusterName, id));
      return { ref, id, task: task?.value };
    }),
  );
  const tasks = found.flatMap((f) => (f.task === undefined ? [] : [include.includes('TAGS') ? f.task : withoutTags(f.task)]));
  const failures: Failure[] = found
    .filter((f) => f.task === undefined)
    .map((f) => ({ arn: f.ref.startsWith('arn:') || f.id === undefined ? f.ref : taskArnOf(p, cluster.clusterName, f.id), reason: 'MISSING' }));
  return { tasks, failures };
}

/** A task id from an id or ARN; undefined when the ARN cannot name a task of this cluster (reported MISSING). */
function taskIdFromRef(ref: string, cluster: string): string | undefined {
  if (!ref.startsWith('arn:')) return ref === '' || ref.includes('/') ? undefined : ref;
  const arn = parseEcsArn(ref);
  if (arn?.resourceType !== 'task') return undefined;
  const parts = arn.resource.split('/');
  if (parts.length === 2 && parts[0] !== cluster) return undefined;
  return parts.length <= 2 ? parts[parts.length - 1] : undefined;
}

// ---------------------------------------------------------------------------------------------
// ListTasks.

/** How many index entries one ListTasks call reads at most; past that it returns a nextToken early. */
const MAX_SCANNED_PER_PAGE = 10_000;
const SCAN_BATCH = 1_000;

export interface TaskIndexFilter {
  readonly family?: string;
  readonly group?: string;
  readonly startedBy?: string;
  readonly containerInstanceId?: string;
  readonly launchType?: string;
}

const matches = (e: TaskIndexEntry, f: TaskIndexFilter): boolean =>
  (f.family === undefined || e.family === f.family) &&
  (f.group === undefined || e.group === f.group) &&
  (f.startedBy === undefined || e.startedBy === f.startedBy) &&
  (f.containerInstanceId === undefined || e.containerInstanceId === f.containerInstanceId) &&
  (f.launchType === undefined || e.launchType === f.launchType);

/**
 * Ids of a cluster's tasks with the given desiredStatus that match `filter`, a page at a time:
 * at most `limit` ids, and at most MAX_SCANNED_PER_PAGE index entries read. `after` / `next` are
 * index keys to continue from.
 */
export async function scanTaskIndex(
  store: Store,
  cluster: string,
  desiredStatus: 'RUNNING' | 'STOPPED',
  filter: TaskIndexFilter,
  limit: number,
  after?: string,
): Promise<{ ids: string[]; next?: string }> {
  const prefix = taskIndexPrefix(cluster, desiredStatus);
  const ids: string[] = [];
  let cursor = after;
  let scanned = 0;
  for (;;) {
    const page = await listJson<TaskIndexEntry>(store, prefix, { limit: SCAN_BATCH, ...(cursor === undefined ? {} : { startAfter: cursor }) });
    for (const [i, item] of page.items.entries()) {
      cursor = item.key;
      scanned++;
      if (matches(item.value, filter)) ids.push(item.key.slice(prefix.length));
      const moreAfterThis = i < page.items.length - 1 || page.more;
      if ((ids.length === limit || scanned >= MAX_SCANNED_PER_PAGE) && moreAfterThis) return { ids, next: cursor };
    }
    if (!page.more) return { ids };
  }
}

async function listTasks(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const name = cluster.clusterName;
  const instanceRef = optionalString(input, 'containerInstance');
  const family = optionalString(input, 'family');
  const startedBy = optionalString(input, 'startedBy');
  const serviceName = optionalString(input, 'serviceName');
  const desiredStatus = optionalEnum(input, 'desiredStatus', ['RUNNING', 'PENDING', 'STOPPED'] as const) ?? 'RUNNING';
  const launchType = optionalEnum(input, 'launchType', LAUNCH_TYPES);
  const daemonName = optionalString(input, 'daemonName');
  const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 100 }) ?? 100;
  const after = decodeNextToken(optionalString(input, 'nextToken'));

  let service: string | undefined;
  if (serviceName !== undefined && serviceName !== '') {
    service = idOf(serviceName, 'service', name, 'serviceName');
    if ((await store.get(keys.service(name, service))) === undefined) throw new BerthError('ServiceNotFoundException', 'Service not found.');
  }
  // ECS never sets desiredStatus PENDING, and Berth runs no daemons yet: both list nothing.
  if (desiredStatus === 'PENDING' || (daemonName !== undefined && daemonName !== '')) return { taskArns: [] };
  const prefix = taskIndexPrefix(name, desiredStatus);
  if (after !== undefined && !after.startsWith(prefix)) throw invalid('The nextToken is not valid.');

  const filter: TaskIndexFilter = {
    ...(family ? { family } : {}),
    ...(startedBy ? { startedBy } : {}),
    ...(service === undefined ? {} : { group: `service:${service}` }),
    ...(instanceRef ? { containerInstanceId: idOf(instanceRef, 'container-instance', name, 'containerInstance') } : {}),
    ...(launchType === undefined ? {} : { launchType }),
  };
  const { ids, next } = await scanTaskIndex(store, name, desiredStatus, filter, maxResults, after);
  const p = partitionOf(ctx);
  return { taskArns: ids.map((id) => taskArnOf(p, name, id)), ...(next === undefined ? {} : { nextToken: encodeNextToken(next) }) };
}

// ---------------------------------------------------------------------------------------------

/** The task operations, by ECS operation name. */
export function taskOperations(deps: EcsDeps): Record<string, Operation> {
  const { store } = deps;
  return {
    RunTask: (input, ctx) => runTask(store, input, ctx),
    StartTask: (input, ctx) => startTask(store, input, ctx),
    StopTask: (input, ctx) => stopTaskOp(store, input, ctx),
    DescribeTasks: (input, ctx) => describeTasks(store, input, ctx),
    ListTasks: (input, ctx) => listTasks(store, input, ctx),
  };
}
