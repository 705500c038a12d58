/**
 * The service controller: the I/O side of reconcileService. It mirrors services, tasks and container
 * instances from the store, reconciles a service whenever something of it changes, and writes each
 * plan with compare-and-swap — starts through the scheduler with their reservations, stops, lost tasks.
 *
 * Level-triggered and safe to interrupt: a round reads, decides and writes; when a write finds the
 * world changed (a guard fails) the round is decided again from fresh state, never replayed, and the
 * next round waits until the mirror holds the controller's own writes, so a start is never doubled.
 * The agent hub turns the stored tasks into runTask / stopTask; this controller only writes the store.
 */
import { randomUUID } from 'node:crypto';
import type { ContainerInstance } from '../ecs/container-instances.js';
import { keys } from '../ecs/keys.js';
import { chooseCapacityProviders, FARGATE_PROVIDERS, type Launch } from '../ecs/launch-input.js';
import { listJson, readJson, type Stored } from '../ecs/repo.js';
import type { Deployment, Service } from '../ecs/service-shape.js';
import { mergeTags, type Tag } from '../ecs/tags.js';
import { taskDefinitionTags } from '../ecs/task-definitions.js';
import type { StoredTaskDefinition, TaskDefinition } from '../ecs/task-definition-types.js';
import type { TaskOverride } from '../ecs/task-overrides.js';
import { instanceIdOf, reserveOnInstance } from '../ecs/task-reservation.js';
import { epochSeconds, taskDefinitionRefOf, taskReservation, type Task, type TaskReservation } from '../ecs/task-shape.js';
import { commitNewTasks, instanceStateOfStored, newTasks, stopTaskInStore, type ReadInstance, type Slot, type TaskSpec } from '../ecs/tasks.js';
import { consoleLogger, type Logger } from '../edge/index.js';
import type { RequestContext } from '../protocols/index.js';
import { planPlacement, type PlacementPlan } from '../scheduler/plan.js';
import { InvalidPlacementRequest, type PlacementConstraint, type PlacementRequest } from '../scheduler/request.js';
import type { Random } from '../scheduler/rng.js';
import type { ClusterState } from '../scheduler/state.js';
import { StoreError, type Op, type Store, type Watch } from '../store/index.js';
import type { TargetHealth, TaskView } from './deployments.js';
import { AgentDisconnections, stopLostTask } from './host-loss.js';
import {
  reconcileService,
  recordPlacements,
  type InstanceView,
  type PlacementResult,
  type ReconcileInput,
  type ServiceDecision,
  type TaskStart,
} from './service-reconciler.js';

export interface ServiceControllerSettings {
  /** How long an agent may stay disconnected before its tasks are declared lost and replaced elsewhere. */
  readonly hostLossTimeoutSeconds: number;
  /** The health check grace period for services that set none (ECS: 0). */
  readonly healthCheckGracePeriodSeconds?: number;
  /** Changes to one service are gathered this long before it is reconciled. */
  readonly debounceMs: number;
  /** Every service is reconciled this often even when nothing is heard: the safety net. */
  readonly resyncMs: number;
  /** Pause before trying a service again after a failed or endlessly contended round. */
  readonly retryDelayMs: number;
}

export const DEFAULT_SERVICE_CONTROLLER_SETTINGS: ServiceControllerSettings = {
  hostLossTimeoutSeconds: 300,
  debounceMs: 20,
  resyncMs: 30_000,
  retryDelayMs: 1000,
};

export interface ServiceControllerOptions {
  readonly store: Store;
  readonly region: string;
  /** The account whose ARNs new tasks get. */
  readonly accountId: string;
  /** The clock for decisions and for the timestamps written to tasks and services; tests move it. */
  readonly now?: () => Date;
  readonly logger?: Logger;
  readonly settings?: Partial<ServiceControllerSettings>;
  /**
   * Whether this server may act. With one server it always is; with several, a lease will say. A
   * follower keeps its mirror warm and does nothing else, so it can take over at once.
   */
  readonly isLeader?: () => boolean;
  /** Randomness for placement ties and the random strategy (seededRandom(n) in tests). */
  readonly random?: Random;
  /**
   * The health of a task's load balancer targets (the attachment controller's view). A service
   * behind a load balancer counts a task healthy only when its targets are, as ECS does.
   */
  readonly targetHealth?: (taskArn: string) => { readonly targetGroupArn: string; readonly state: TargetHealth } | undefined;
}

export interface ServiceController {
  /**
   * Reconciles every service now, and resolves once nothing is left to do: no service waits for a
   * round and the mirror holds the controller's own writes. For tests, and for a new leader.
   */
  resync(): Promise<void>;
  /** Something the controller does not follow itself changed for a service (its targets' health). */
  serviceChanged(cluster: string, serviceName: string): void;
  close(): Promise<void>;
}

/** Rounds one service gets before it is put back for later: each is a fresh decision after a conflict. */
const MAX_ROUNDS = 5;
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_CACHED_TASK_DEFINITIONS = 1024;
const SCHEDULER_CALLER = 'berth-service-scheduler';

/**
 * Starts the controller; it runs until closed. The composition root closes it before the store.
 *
 * @example
 * const services = createServiceController({ store, region: 'us-east-1', accountId: '000000000000' });
 * // ... later
 * await services.close();
 */
export function createServiceController(options: ServiceControllerOptions): ServiceController {
  const { store } = options;
  const settings: ServiceControllerSettings = { ...DEFAULT_SERVICE_CONTROLLER_SETTINGS, ...options.settings };
  const clock = options.now ?? (() => new Date());
  const logger = options.logger ?? consoleLogger;
  const isLeader = options.isLeader ?? (() => true);
  const disconnections = new AgentDisconnections();

  /** Service key → when (Date.now ms) it is due; a burst of changes is gathered from its first. */
  const dirty = new Map<string, number>();
  /** Services whose last round could not place every task: freed capacity is news to them. */
  const waitingForCapacity = new Set<string>();
  const wakes = new Map<string, NodeJS.Timeout>();
  const taskDefinitions = new Map<string, TaskDefinition>();
  let timer: NodeJS.Timeout | undefined;
  let timerDue = Infinity;
  let working: Promise<void> | undefined;
  let closed = false;
  /** The store revision the mirror must reach before the next round: the controller's own writes. */
  let mustSee = 0;

  const mirror = new Mirror(store, logger, disconnections, () => epochSeconds(clock()), settings.retryDelayMs, {
    service: (key) => markDirty(key),
    task: (cluster, group) => {
      if (group.startsWith('service:')) markDirty(keys.service(cluster, group.slice('service:'.length)));
    },
    instance: (cluster, before, after) => {
      if (before === undefined || after === undefined || placementChanged(before, after)) {
        for (const key of mirror.serviceKeys(cluster)) markDirty(key);
      } else {
        // Only room changed: news to services that could not place everything, and to daemons
        // waiting for other tasks to leave a draining instance.
        for (const key of waitingForCapacity) if (clusterOfKey(key) === cluster) markDirty(key);
        for (const key of mirror.daemonServiceKeys(cluster)) markDirty(key);
      }
    },
    rescanned: () => {
      for (const key of mirror.serviceKeys()) markDirty(key);
    },
  });
  mirror.start();
  const resyncTimer = setInterval(() => {
    for (const key of mirror.serviceKeys()) markDirty(key);
  }, settings.resyncMs).unref();

  // ---- the work queue --------------------------------------------------------------------------

  function markDirty(key: string, delayMs = settings.debounceMs): void {
    if (closed) return;
    const due = Date.now() + delayMs;
    const current = dirty.get(key);
    if (current !== undefined && current <= due) return;
    dirty.set(key, due);
    if (working === undefined && due < timerDue) arm(due);
  }

  /** After the worker stops: wakes it again when the earliest service left is due. */
  function kick(): void {
    let next = Infinity;
    for (const due of dirty.values()) next = Math.min(next, due);
    if (next !== Infinity) arm(next);
  }

  /** Starts the worker at `due` (Date.now ms), unless it runs already: it picks up whatever is due before it stops. */
  function arm(due: number): void {
    if (closed) return;
    clearTimeout(timer);
    timerDue = due;
    timer = setTimeout(() => {
      timer = undefined;
      timerDue = Infinity;
      working = work().finally(() => {
        working = undefined;
        kick();
      });
    }, Math.max(0, due - Date.now()));
  }

  /** Reconciles due services one at a time: rounds of different services never race for the same instances. */
  async function work(): Promise<void> {
    while (!closed) {
      const t = Date.now();
      let key: string | undefined;
      for (const [k, due] of dirty) {
        if (due <= t) {
          key = k;
          break;
        }
      }
      if (key === undefined) return;
      dirty.delete(key);
      if (!isLeader()) continue;
      try {
        await reconcile(key);
      } catch (err) {
        if (closed) return;
        logger.error('reconciling a service failed; trying again later', { service: key, error: err });
        markDirty(key, settings.retryDelayMs);
      }
    }
  }

  async function reconcile(key: string): Promise<void> {
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      if ((await reconcileOnce(key)) === 'done') return;
    }
    logger.warn('the service kept changing under its rounds; trying again later', { service: key });
    markDirty(key, settings.retryDelayMs);
  }

  function wakeAt(key: string, at: number | undefined, now: number): void {
    clearTimeout(wakes.get(key));
    wakes.delete(key);
    if (at === undefined || closed) return;
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, (at - now) * 1000));
    const t = setTimeout(() => {
      wakes.delete(key);
      markDirty(key, 0);
    }, ms).unref();
    wakes.set(key, t);
  }

  // ---- one round ---------------------------------------------------------------------------------

  type Outcome = 'done' | 'conflict';

  async function reconcileOnce(key: string): Promise<Outcome> {
    await mirror.reached(mustSee);
    const stored = mirror.service(key);
    if (stored === undefined || stored.value.status === 'INACTIVE') {
      wakeAt(key, undefined, 0);
      waitingForCapacity.delete(key);
      return 'done';
    }
    const cluster = clusterOfKey(key);
    const at = clock();
    const now = epochSeconds(at);
    const snapshot = await snapshotOf(cluster, stored.value, now);
    const decision = reconcileService(snapshot.input);
    let outcome: Outcome;
    try {
      outcome = await apply(key, cluster, stored, decision, snapshot, at);
    } finally {
      // Whatever was written, the next round must see it (and, after a conflict, whatever beat us).
      mustSee = Math.max(mustSee, await store.revision());
    }
    if (outcome === 'done') wakeAt(key, decision.wakeAt, now);
    if (decision.starts.length + decision.stops.length + decision.lost.length > 0) {
      logger.debug('service round', {
        service: key,
        outcome,
        starts: decision.starts.reduce((n, s) => n + s.count, 0),
        stops: decision.stops.length,
        lost: decision.lost.length,
      });
    }
    return outcome;
  }

  interface Snapshot {
    readonly input: ReconcileInput;
    /** Each task's modRevision as the decision saw it: a stop is written only if it is unchanged. */
    readonly revisions: ReadonlyMap<string, number>;
  }

  /** The reconciler's input from the mirror, read in one go so that tasks and instances agree. */
  async function snapshotOf(cluster: string, service: Service, now: number): Promise<Snapshot> {
    const inProgress = new Set(service.deployments.filter((d) => d.rolloutState === 'IN_PROGRESS').map((d) => d.id));
    // Stopped tasks count only while their deployment rolls out (the breaker and the throttle read them).
    const entries = mirror.tasksOf(cluster, service).filter((e) => e.view.lastStatus !== 'STOPPED' || inProgress.has(e.view.startedBy ?? ''));
    const daemon = service.schedulingStrategy === 'DAEMON';
    // A daemon reads what else runs on each instance; copied, since the mirror moves on during the awaits below.
    const instances = mirror.instancesOf(cluster).map((ci) => ({ ci, groups: daemon ? new Map(mirror.groupsOn(ci.containerInstanceArn)) : EMPTY_GROUPS }));
    const daemonGroups = new Set(mirror.daemonServiceKeys(cluster).map((k) => `service:${k.slice(k.lastIndexOf('/') + 1)}`));

    const primary = service.deployments.find((d) => d.status === 'PRIMARY');
    const tds = new Map<string, TaskDefinition | undefined>();
    for (const arn of new Set([...entries.map((e) => e.view.taskDefinitionArn), ...(primary?.taskDefinition === undefined ? [] : [primary.taskDefinition])])) {
      tds.set(arn, await taskDefinition(arn));
    }
    const firstTargetGroup = service.loadBalancers.find((lb) => lb.targetGroupArn !== undefined)?.targetGroupArn;
    const tasks: TaskView[] = entries.map((e) => {
      const td = tds.get(e.view.taskDefinitionArn);
      // Behind a load balancer, a running task not yet registered is as good as a new target: initial.
      const target =
        firstTargetGroup === undefined || options.targetHealth === undefined
          ? undefined
          : (options.targetHealth(e.view.taskArn) ?? { targetGroupArn: firstTargetGroup, state: 'initial' as const });
      const view = target === undefined ? e.view : { ...e.view, targetHealth: target.state, targetGroupArn: target.targetGroupArn };
      return td === undefined ? view : { ...view, healthChecked: td.containerDefinitions.some((c) => c.essential && c.healthCheck !== undefined) };
    });

    const primaryTd = primary?.taskDefinition === undefined ? undefined : tds.get(primary.taskDefinition);
    const views: InstanceView[] = instances.map(({ ci, groups }) => {
      let replicaTaskCount = 0;
      if (daemon) for (const [group, n] of groups) if (!daemonGroups.has(group)) replicaTaskCount += n;
      return {
        containerInstanceArn: ci.containerInstanceArn,
        ec2InstanceId: ci.ec2InstanceId,
        status: ci.status,
        agentConnected: ci.agentConnected,
        disconnectedSince: disconnections.disconnectedSince(ci.containerInstanceArn),
        ...(daemon
          ? { daemonEligible: primaryTd === undefined || daemonEligible(ci, groups, service, primary!, primaryTd), replicaTaskCount }
          : {}),
      };
    });
    return {
      input: {
        service,
        tasks,
        instances: views,
        settings: {
          hostLossTimeoutSeconds: settings.hostLossTimeoutSeconds,
          ...(settings.healthCheckGracePeriodSeconds === undefined ? {} : { healthCheckGracePeriodSeconds: settings.healthCheckGracePeriodSeconds }),
        },
        now,
      },
      revisions: new Map(entries.map((e) => [e.view.taskArn, e.rev])),
    };
  }

  /** DAEMON: whether the scheduler would take the instance for the service, resources aside (a full instance still owes its daemon). */
  function daemonEligible(ci: ContainerInstance, groups: ReadonlyMap<string, number>, service: Service, deployment: Deployment, td: TaskDefinition): boolean {
    const own = `service:${service.serviceName}`;
    const others = new Map([...groups].filter(([g]) => g !== own));
    const state: ClusterState = { instances: [{ ...instanceStateOf(ci, others), status: 'ACTIVE', agentConnected: true }] };
    const request = placementRequestOf(service, td, launchOf(deployment), NO_RESERVATION);
    try {
      return planPlacement(state, request, 1, stackOptions()).placements.length === 1;
    } catch (err) {
      if (!(err instanceof InvalidPlacementRequest)) throw err;
      logger.warn('a daemon service has placement rules the scheduler refuses', { service: service.serviceArn, error: err });
      return false;
    }
  }

  /** Writes the plan: lost tasks, stops, then starts with the service (or the service alone). */
  async function apply(key: string, cluster: string, stored: Stored<Service>, decision: ServiceDecision, snapshot: Snapshot, at: Date): Promise<Outcome> {
    for (const loss of decision.lost) {
      if ((await stopLostTask(store, cluster, loss, at)) === 'conflict') return 'conflict';
    }
    for (const stop of decision.stops) {
      const id = idOfArn(stop.taskArn);
      // The stop was decided on this version of the task; a task that moved since is decided again.
      const current = await store.get(keys.task(cluster, id));
      if (current === undefined || current.modRevision !== snapshot.revisions.get(stop.taskArn)) return 'conflict';
      await stopTaskInStore(store, cluster, id, { stopCode: stop.stopCode, reason: stop.reason, now: at });
    }
    if (decision.starts.length > 0) return start(key, cluster, stored, decision, at);
    waitingForCapacity.delete(key);
    if (!decision.changed) return 'done';
    return (await putService(key, stored.modRevision, decision.service)) ? 'done' : 'conflict';
  }

  async function putService(key: string, modRevision: number, service: Service): Promise<boolean> {
    const res = await store.txn([{ key, target: 'mod', op: '=', value: modRevision }], [{ type: 'put', key, value: JSON.stringify(service) }]);
    return res.succeeded;
  }

  /**
   * Places the starts on the instances as stored now and commits the new tasks, their reservations
   * and the service (with recordPlacements' counts and events) in ONE transaction, guarded by the
   * instances' revisions and the service's: all of the round's starts land, or none do.
   */
  async function start(key: string, cluster: string, stored: Stored<Service>, decision: ServiceDecision, at: Date): Promise<Outcome> {
    const service = decision.service;
    const now = epochSeconds(at);
    // A round's starts are all for the PRIMARY deployment (one per instance for DAEMON).
    const first = decision.starts[0]!;
    const deployment = service.deployments.find((d) => d.id === first.deploymentId) ?? service.deployments.find((d) => d.status === 'PRIMARY')!;
    const td = await taskDefinition(first.taskDefinition);
    if (td === undefined) {
      const explanation = `The task definition ${first.taskDefinition} is not available.`;
      const next = recordPlacements(decision, decision.starts.map((s) => ({ start: s, taskArns: [], explanation })), now);
      waitingForCapacity.delete(key);
      return (await putService(key, stored.modRevision, next)) ? 'done' : 'conflict';
    }
    const launch = launchOf(deployment);
    const overrides = noOverrides(td);
    const reservation = taskReservation(td, overrides);

    const slots: Slot[] = [];
    const placed: Array<{ start: TaskStart; count: number; explanation?: string }> = [];
    const read = new Map<string, ReadInstance>();
    if (launch.launchType === 'FARGATE') {
      for (const s of decision.starts) {
        for (let n = 0; n < s.count; n++) slots.push({});
        placed.push({ start: s, count: s.count });
      }
    } else {
      // What this round already placed counts for the next start (DAEMON: one start per instance).
      const working = new Map<string, ContainerInstance>();
      for (const item of (await listJson<ContainerInstance>(store, keys.containerInstances(cluster))).items) {
        const id = instanceIdOf(item.value.containerInstanceArn);
        read.set(id, { key: item.key, modRevision: item.modRevision, value: item.value });
        working.set(id, item.value);
      }
      const added = new Map<string, number>();
      const request = placementRequestOf(service, td, launch, reservation);
      for (const s of decision.starts) {
        const candidates = [...working.values()].filter((ci) => s.containerInstanceArn === undefined || ci.containerInstanceArn === s.containerInstanceArn);
        const state: ClusterState = {
          instances: candidates.map((ci) => {
            const groups = new Map(mirror.groupsOn(ci.containerInstanceArn));
            const mine = added.get(ci.containerInstanceArn) ?? 0;
            if (mine > 0) groups.set(s.group, (groups.get(s.group) ?? 0) + mine);
            return instanceStateOf(ci, groups);
          }),
        };
        const plan = placeOrExplain(state, request, s.count);
        for (const id of plan.placements) {
          const ci = working.get(id)!;
          working.set(id, reserveOnInstance(ci, reservation));
          added.set(ci.containerInstanceArn, (added.get(ci.containerInstanceArn) ?? 0) + 1);
          slots.push({ instance: read.get(id)!.value });
        }
        placed.push({ start: s, count: plan.placements.length, ...(plan.explanation === undefined ? {} : { explanation: plan.explanation.message }) });
      }
    }
    if (launch.capacityProviderStrategy !== undefined && slots.length > 0) {
      const providers = chooseCapacityProviders(launch.capacityProviderStrategy, slots.length);
      slots.forEach((slot, i) => (slots[i] = { ...slot, capacityProviderName: providers[i]! }));
    }

    const spec: TaskSpec = {
      cluster: { clusterArn: service.clusterArn, clusterName: cluster, status: 'ACTIVE' },
      td,
      launch,
      ...(deployment.platformVersion === undefined ? {} : { platformVersion: deployment.platformVersion }),
      ...(deployment.networkConfiguration?.awsvpcConfiguration === undefined ? {} : { vpc: deployment.networkConfiguration.awsvpcConfiguration }),
      overrides,
      group: first.group,
      startedBy: first.startedBy,
      tags: await tagsFor(cluster, service, td),
      enableExecuteCommand: service.enableExecuteCommand,
      reservation,
    };
    const ctx: RequestContext = { requestId: randomUUID(), caller: { accessKeyId: SCHEDULER_CALLER, accountId: options.accountId }, region: options.region, now: at };
    const tasks = newTasks(spec, slots, ctx);
    let next = 0;
    const results: PlacementResult[] = placed.map((p) => {
      const taskArns = tasks.slice(next, (next += p.count)).map((t) => t.taskArn);
      return { start: p.start, taskArns, ...(p.explanation === undefined ? {} : { explanation: p.explanation }) };
    });
    const recorded = recordPlacements(decision, results, now);
    // Compared by content: an unplaced start whose event repeats leaves the service as it was.
    const ops: Op[] = JSON.stringify(recorded) === JSON.stringify(stored.value) ? [] : [{ type: 'put', key, value: JSON.stringify(recorded) }];

    let committed: boolean;
    if (tasks.length === 0) {
      committed = ops.length === 0 || (await putService(key, stored.modRevision, recorded));
    } else {
      committed = await commitNewTasks(store, cluster, tasks, slots, read, reservation, {
        compares: [{ key, target: 'mod', op: '=', value: stored.modRevision }],
        ops,
      });
    }
    if (!committed) return 'conflict';
    if (tasks.length < decision.starts.reduce((sum, s) => sum + s.count, 0)) waitingForCapacity.add(key);
    else waitingForCapacity.delete(key);
    return 'done';
  }

  function placeOrExplain(state: ClusterState, request: PlacementRequest, count: number): PlacementPlan {
    try {
      return planPlacement(state, request, count, stackOptions());
    } catch (err) {
      if (!(err instanceof InvalidPlacementRequest)) throw err;
      // CreateService checked the rules; one the scheduler still refuses is reported, not retried.
      return { placements: [], failures: [], explanation: { message: err.message, refusals: [] } };
    }
  }

  const stackOptions = () => (options.random === undefined ? {} : { random: options.random });

  /** The tags a service's task gets: propagated from the service or its task definition, and ECS's managed ones. */
  async function tagsFor(cluster: string, service: Service, td: TaskDefinition): Promise<Tag[]> {
    let tags: Tag[] = service.propagateTags === 'SERVICE' ? [...service.tags] : service.propagateTags === 'TASK_DEFINITION' ? await taskDefinitionTags(store, td) : [];
    if (service.enableECSManagedTags) {
      tags = mergeTags(tags, [
        { key: 'aws:ecs:clusterName', value: cluster },
        { key: 'aws:ecs:serviceName', value: service.serviceName },
      ]);
    }
    return tags;
  }

  /** A task definition by ARN, cached: a registered revision never changes what a task runs. */
  async function taskDefinition(arn: string): Promise<TaskDefinition | undefined> {
    const cached = taskDefinitions.get(arn);
    if (cached !== undefined) return cached;
    const ref = taskDefinitionRefOf({ taskDefinitionArn: arn });
    const stored = ref === undefined ? undefined : await readJson<StoredTaskDefinition>(store, keys.taskDefinition(ref.family, ref.revision));
    if (stored === undefined) return undefined;
    const { tags: _tags, ...td } = stored.value;
    if (taskDefinitions.size >= MAX_CACHED_TASK_DEFINITIONS) taskDefinitions.clear();
    taskDefinitions.set(arn, td);
    return td;
  }

  return {
    async resync() {
      await mirror.reached(await store.revision());
      for (const key of mirror.serviceKeys()) markDirty(key, 0);
      // Done when nothing is due and the mirror holds our own writes (whose events may dirty more).
      for (;;) {
        await mirror.reached(mustSee);
        if (closed || (dirty.size === 0 && working === undefined)) return;
        await (working ?? new Promise((resolve) => setTimeout(resolve, settings.debounceMs)));
      }
    },
    serviceChanged(cluster, serviceName) {
      markDirty(keys.service(cluster, serviceName));
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      clearInterval(resyncTimer);
      for (const t of wakes.values()) clearTimeout(t);
      wakes.clear();
      mirror.close();
      await working;
      await mirror.stopped;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Placement inputs.

const NO_RESERVATION: TaskReservation = { cpu: 0, memory: 0, tcpPorts: [], udpPorts: [] };

/** A service's task runs its task definition as it is: one empty override per container, as RunTask stores none. */
const noOverrides = (td: TaskDefinition): TaskOverride => ({ containerOverrides: td.containerDefinitions.map((c) => ({ name: c.name })), inferenceAcceleratorOverrides: [] });

/** Where a deployment's tasks run: its launch type, or what its capacity provider strategy implies. */
export function launchOf(d: Pick<Deployment, 'launchType' | 'capacityProviderStrategy'>): Launch {
  const strategy = d.capacityProviderStrategy;
  if (strategy !== undefined && strategy.length > 0) {
    const fargate = (FARGATE_PROVIDERS as readonly string[]).includes(strategy[0]!.capacityProvider);
    return { launchType: fargate ? 'FARGATE' : 'EC2', capacityProviderStrategy: strategy };
  }
  return { launchType: d.launchType === 'FARGATE' || d.launchType === 'EXTERNAL' ? d.launchType : 'EC2' };
}

/**
 * What placement asks for a service's task: its reservation, launch type, and the service's and
 * task definition's constraints with the service's strategy. requiresAttributes is left out until
 * Berth's agents advertise ECS's capability attributes (RunTask does not check them either).
 */
export function placementRequestOf(service: Service, td: TaskDefinition, launch: Launch, reservation: TaskReservation): PlacementRequest {
  const fromTd = td.placementConstraints.flatMap((c): PlacementConstraint[] =>
    c.type === undefined ? [] : [{ type: c.type, ...(c.expression === undefined ? {} : { expression: c.expression }) }],
  );
  return {
    group: `service:${service.serviceName}`,
    cpu: reservation.cpu,
    memory: reservation.memory,
    tcpPorts: reservation.tcpPorts,
    udpPorts: reservation.udpPorts,
    launchType: launch.launchType === 'EXTERNAL' ? 'EXTERNAL' : 'EC2',
    constraints: [...service.placementConstraints, ...fromTd],
    strategy: service.placementStrategy,
    // Hosts must have what the task definition needs (agents advertise ECS's capability attributes).
    requiresAttributes: (td.requiresAttributes ?? []).map((a) => ({ name: a.name, ...(a.value === undefined ? {} : { value: a.value }) })),
  };
}

/** A stored container instance as the scheduler sees it, with its unstopped tasks counted by group (as RunTask sees it). */
export const instanceStateOf = instanceStateOfStored;

/** Whether a change to an instance can change where tasks may go (not just how much is free on it). */
function placementChanged(before: ContainerInstance, after: ContainerInstance): boolean {
  return before.status !== after.status || before.agentConnected !== after.agentConnected || JSON.stringify(before.attributes) !== JSON.stringify(after.attributes);
}

const idOfArn = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

/** `/ecs/services/<cluster>/<name>` → cluster. */
const clusterOfKey = (key: string): string => key.slice(SERVICES.length, key.indexOf('/', SERVICES.length));

// ---------------------------------------------------------------------------------------------
// The mirror: services, tasks and instances in memory, the way an informer keeps them.

const SERVICES = '/ecs/services/';
const TASKS = '/ecs/tasks/';
const INSTANCES = '/ecs/instances/';
const SCAN_PAGE = 500;

/** What the mirror reports as it applies changes (never during a full scan: `rescanned` follows it). */
interface MirrorEvents {
  service(key: string): void;
  task(cluster: string, group: string): void;
  instance(cluster: string, before: ContainerInstance | undefined, after: ContainerInstance | undefined): void;
  rescanned(): void;
}

interface Entry<T> {
  readonly rev: number;
  readonly value: T;
}

interface TaskEntry {
  readonly rev: number;
  readonly cluster: string;
  readonly view: TaskView;
}

/** What the reconciler reads of a task; the rest of a stored task (tags, overrides, attachments) is not kept. */
function taskViewOf(t: Task): TaskView {
  // A task that failed to start never ran, whatever startedAt says: the hub stamps startedAt on any
  // report at or past RUNNING, STOPPED included, and the circuit breaker must count such a task as
  // failed, not as started.
  const neverRan = t.stopCode === 'TaskFailedToStart';
  return {
    taskArn: t.taskArn,
    taskDefinitionArn: t.taskDefinitionArn,
    startedBy: t.startedBy,
    group: t.group,
    lastStatus: t.lastStatus,
    desiredStatus: t.desiredStatus,
    healthStatus: t.healthStatus,
    containerInstanceArn: t.containerInstanceArn,
    createdAt: t.createdAt,
    startedAt: neverRan ? undefined : t.startedAt,
    stoppingAt: t.stoppingAt,
    stoppedAt: t.stoppedAt,
    stopCode: t.stopCode,
    stoppedReason: t.stoppedReason,
    containers: t.containers.map((c) => (c.healthStatus === undefined ? {} : { healthStatus: c.healthStatus })),
  };
}

/**
 * Keeps what the controller reads in memory, from one scan and then one watch of the whole store
 * (prefix ''): every revision shows up there, so `reached(r)` knows when everything up to r is in,
 * and a round can wait for its own writes. Stopped tasks are kept only while their deployment rolls
 * out, so memory follows the live tasks, not the history. Compacted history means a full rescan.
 */
class Mirror {
  private readonly services = new Map<string, Entry<Service>>();
  private readonly servicesByCluster = new Map<string, Set<string>>();
  private readonly instances = new Map<string, Map<string, Entry<ContainerInstance>>>();
  private readonly tasks = new Map<string, TaskEntry>();
  private readonly byGroup = new Map<string, Set<string>>();
  private readonly byStartedBy = new Map<string, Set<string>>();
  /** Unstopped tasks per instance ARN, counted by group. */
  private readonly groups = new Map<string, Map<string, number>>();
  /** Stopped tasks let go of while events may still replay their older states: key → the revision of the state let go. */
  private readonly released = new Map<string, number>();
  /** Events up to this revision may repeat what the scan read; Infinity while scanning. */
  private replayUntil = Infinity;
  private applied = 0;
  /** True until a scan is complete: nothing mirrored may be read meanwhile. */
  private scanning = true;
  private waiters: Array<{ readonly revision: number; readonly resolve: () => void; readonly reject: (err: unknown) => void }> = [];
  private watch: Watch | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  stopped: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly disconnections: AgentDisconnections,
    private readonly now: () => number,
    private readonly retryDelayMs: number,
    private readonly events: MirrorEvents,
  ) {}

  start(): void {
    this.stopped = this.run();
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
    this.wake?.();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new StoreError('closed', 'the service controller is closed'));
  }

  /** Resolves once every write up to `revision` is mirrored. */
  reached(revision: number): Promise<void> {
    if (this.closed) return Promise.reject(new StoreError('closed', 'the service controller is closed'));
    if (!this.scanning && this.applied >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ revision, resolve, reject }));
  }

  service(key: string): Stored<Service> | undefined {
    const e = this.services.get(key);
    return e === undefined ? undefined : { value: e.value, modRevision: e.rev };
  }

  serviceKeys(cluster?: string): string[] {
    return cluster === undefined ? [...this.services.keys()] : [...(this.servicesByCluster.get(cluster) ?? [])];
  }

  /** The cluster's daemon services, by key. */
  daemonServiceKeys(cluster: string): string[] {
    return this.serviceKeys(cluster).filter((key) => this.services.get(key)!.value.schedulingStrategy === 'DAEMON');
  }

  instancesOf(cluster: string): ContainerInstance[] {
    return [...(this.instances.get(cluster)?.values() ?? [])].map((e) => e.value);
  }

  groupsOn(containerInstanceArn: string): ReadonlyMap<string, number> {
    return this.groups.get(containerInstanceArn) ?? EMPTY_GROUPS;
  }

  /** The service's tasks: those started by one of its deployments, and those of its group. */
  tasksOf(cluster: string, service: Service): TaskEntry[] {
    const keys = new Set(this.byGroup.get(`${cluster}\nservice:${service.serviceName}`));
    for (const d of service.deployments) for (const k of this.byStartedBy.get(`${cluster}\n${d.id}`) ?? []) keys.add(k);
    return [...keys].map((k) => this.tasks.get(k)!);
  }

  // ---- following the store -----------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.scanAndFollow();
        if (this.closed) return;
        this.logger.warn('the store watch ended; scanning again');
      } catch (err) {
        if (this.closed || (err instanceof StoreError && err.kind === 'closed')) return;
        if (err instanceof StoreError && err.kind === 'compacted') {
          this.logger.warn('the service controller fell behind compacted history; scanning again');
          continue;
        }
        this.logger.error('following the store failed; scanning again', { error: err });
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, this.retryDelayMs).unref();
        });
      }
    }
  }

  private async scanAndFollow(): Promise<void> {
    this.scanning = true;
    this.replayUntil = Infinity;
    for (const m of [this.services, this.servicesByCluster, this.instances, this.tasks, this.byGroup, this.byStartedBy, this.groups, this.released]) m.clear();
    const from = await this.store.revision();
    // Watch first, then scan: a write during the scan is in the scan, the watch, or both (the
    // per-key revision check skips what the scan already has).
    const watch = this.store.watch('', { fromRevision: from + 1 });
    this.watch = watch;
    try {
      if (this.closed) return;
      let scanned = from;
      // Services first: whether a stopped task is worth keeping depends on its service.
      for (const prefix of [SERVICES, INSTANCES, TASKS]) {
        let startAfter: string | undefined;
        for (;;) {
          const page = await this.store.range(prefix, { limit: SCAN_PAGE, ...(startAfter === undefined ? {} : { startAfter }) });
          scanned = Math.max(scanned, page.revision);
          for (const kv of page.kvs) this.apply(kv.key, kv.value, kv.modRevision);
          if (!page.more || page.kvs.length === 0) break;
          startAfter = page.kvs[page.kvs.length - 1]!.key;
        }
      }
      this.replayUntil = scanned;
      for (const [key, e] of this.tasks) if (!this.keeps(e)) this.release(key, e);
      this.scanning = false;
      this.advance(from);
      this.events.rescanned();
      for await (const batch of watch) {
        let revision = this.applied;
        for (const e of batch) {
          this.apply(e.kv.key, e.type === 'put' ? e.kv.value : undefined, e.kv.modRevision);
          revision = Math.max(revision, e.kv.modRevision);
        }
        if (revision > this.replayUntil) this.released.clear();
        this.advance(revision);
      }
    } finally {
      watch.close();
      this.watch = undefined;
    }
  }

  private advance(revision: number): void {
    this.applied = Math.max(this.applied, revision);
    const due = this.waiters.filter((w) => w.revision <= this.applied);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.revision > this.applied);
    for (const w of due) w.resolve();
  }

  /** Applies one key's state (undefined: deleted) as of `rev`, unless the mirror has it newer. */
  private apply(key: string, value: string | undefined, rev: number): void {
    const kind = key.startsWith(TASKS) ? TASKS : key.startsWith(SERVICES) ? SERVICES : key.startsWith(INSTANCES) ? INSTANCES : undefined;
    if (kind === undefined) return;
    const slash = key.indexOf('/', kind.length);
    if (slash <= kind.length) return;
    const cluster = key.slice(kind.length, slash);
    const parsed = value === undefined ? undefined : this.parse(key, value);
    if (value !== undefined && parsed === undefined) return;
    if (kind === TASKS) this.applyTask(key, cluster, parsed as Task | undefined, rev);
    else if (kind === SERVICES) this.applyService(key, cluster, parsed as Service | undefined, rev);
    else this.applyInstance(key, cluster, parsed as ContainerInstance | undefined, rev);
  }

  private applyService(key: string, cluster: string, service: Service | undefined, rev: number): void {
    const prev = this.services.get(key);
    if (prev !== undefined && prev.rev >= rev) return;
    if (service === undefined) {
      this.services.delete(key);
      removeFrom(this.servicesByCluster, cluster, key);
    } else {
      this.services.set(key, { rev, value: service });
      addTo(this.servicesByCluster, cluster, key);
    }
    // A rollout that ended lets go of its stopped tasks.
    if (service !== undefined && !this.scanning) {
      for (const e of this.tasksOf(cluster, service)) if (!this.keeps(e)) this.release(keyOfTask(e), e);
    }
    if (!this.scanning) this.events.service(key);
  }

  private applyInstance(key: string, cluster: string, ci: ContainerInstance | undefined, rev: number): void {
    let byKey = this.instances.get(cluster);
    const prev = byKey?.get(key);
    if (prev !== undefined && prev.rev >= rev) return;
    if (ci === undefined) {
      byKey?.delete(key);
      if (prev !== undefined) this.disconnections.forget(prev.value.containerInstanceArn);
    } else {
      if (byKey === undefined) this.instances.set(cluster, (byKey = new Map<string, Entry<ContainerInstance>>()));
      byKey.set(key, { rev, value: ci });
      this.disconnections.observe(ci.containerInstanceArn, ci.agentConnected, this.now());
    }
    if (!this.scanning) this.events.instance(cluster, prev?.value, ci);
  }

  private applyTask(key: string, cluster: string, task: Task | undefined, rev: number): void {
    const prev = this.tasks.get(key);
    if (prev !== undefined && prev.rev >= rev) return;
    const releasedAt = this.released.get(key);
    if (releasedAt !== undefined && releasedAt >= rev) return;
    if (prev !== undefined) this.unindex(key, prev);
    if (task === undefined) {
      this.tasks.delete(key);
    } else {
      const entry: TaskEntry = { rev, cluster, view: taskViewOf(task) };
      if (this.scanning || this.keeps(entry)) {
        this.tasks.set(key, entry);
        this.index(key, entry);
      } else {
        this.tasks.delete(key);
        if (this.applied < this.replayUntil) this.released.set(key, rev);
      }
    }
    if (!this.scanning) this.events.task(cluster, (task ?? prev?.view)?.group ?? '');
  }

  /** A stopped task is kept only while its deployment rolls out (the circuit breaker counts it). */
  private keeps(e: TaskEntry): boolean {
    if (e.view.lastStatus !== 'STOPPED') return true;
    const group = e.view.group;
    if (!group.startsWith('service:') || e.view.startedBy === undefined) return false;
    const service = this.services.get(keys.service(e.cluster, group.slice('service:'.length)))?.value;
    return service?.deployments.some((d) => d.id === e.view.startedBy && d.rolloutState === 'IN_PROGRESS') ?? false;
  }

  /** Lets go of a task; while older events may still replay, remembers at which revision. */
  private release(key: string, e: TaskEntry): void {
    this.unindex(key, e);
    this.tasks.delete(key);
    if (this.applied < this.replayUntil) this.released.set(key, e.rev);
  }

  private index(key: string, e: TaskEntry): void {
    addTo(this.byGroup, `${e.cluster}\n${e.view.group}`, key);
    if (e.view.startedBy !== undefined) addTo(this.byStartedBy, `${e.cluster}\n${e.view.startedBy}`, key);
    const arn = e.view.containerInstanceArn;
    if (arn !== undefined && e.view.lastStatus !== 'STOPPED') {
      let g = this.groups.get(arn);
      if (g === undefined) this.groups.set(arn, (g = new Map<string, number>()));
      g.set(e.view.group, (g.get(e.view.group) ?? 0) + 1);
    }
  }

  private unindex(key: string, e: TaskEntry): void {
    removeFrom(this.byGroup, `${e.cluster}\n${e.view.group}`, key);
    if (e.view.startedBy !== undefined) removeFrom(this.byStartedBy, `${e.cluster}\n${e.view.startedBy}`, key);
    const arn = e.view.containerInstanceArn;
    if (arn !== undefined && e.view.lastStatus !== 'STOPPED') {
      const g = this.groups.get(arn);
      const n = (g?.get(e.view.group) ?? 0) - 1;
      if (n > 0) g!.set(e.view.group, n);
      else g?.delete(e.view.group);
      if (g?.size === 0) this.groups.delete(arn);
    }
  }

  private parse(key: string, value: string): unknown {
    try {
      return JSON.parse(value);
    } catch (err) {
      this.logger.error('ignoring a record that is not JSON', { key, error: err });
      return undefined;
    }
  }
}

const EMPTY_GROUPS: ReadonlyMap<string, number> = new Map();

const keyOfTask = (e: TaskEntry): string => keys.task(e.cluster, idOfArn(e.view.taskArn));

function addTo(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (s === undefined) m.set(k, (s = new Set<string>()));
  s.add(v);
}

function removeFrom(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (s === undefined) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
