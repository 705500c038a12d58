/**
 * The service reconciler: from a service, its tasks, the cluster's container instances and the time,
 * decide what to start, stop and declare lost, and how the service then reads (counts, deployments,
 * rollout states, events). Pure, after Nomad's reconciler: time is an input, the result is plain
 * data, and the decision depends on nothing but the input, so rerunning it after a crash is safe.
 *
 * The I/O side (a leader-only controller) reads the input from the store, places the starts with the
 * scheduler, writes tasks and the service with compare-and-swap, then calls recordPlacements.
 */
import type { ContainerInstance } from '../ecs/container-instances.js';
import type { Deployment, Service } from '../ecs/service-shape.js';
import {
  circuitBreakerThreshold,
  deploymentBounds,
  isLive,
  isStopping,
  launchFailures,
  rollbackTarget,
  rolloutReason,
  taskHealth,
  throttledUntil,
  tripCircuitBreaker,
  type DeploymentBounds,
  type TaskHealth,
  type TaskView,
} from './deployments.js';
import { appendEvents, EVENT_REPEAT_SECONDS, eventText, isRepeat, stopReason } from './service-events.js';

/** A container instance as the reconciler reads it. */
export interface InstanceView {
  readonly containerInstanceArn: string;
  readonly ec2InstanceId?: string;
  readonly status: ContainerInstance['status'];
  readonly agentConnected: boolean;
  /** Since when (epoch seconds) the agent has been disconnected; needed to declare its tasks lost. */
  readonly disconnectedSince?: number;
  /** DAEMON: whether the service's placement constraints admit the instance (the scheduler's judgement); default true. */
  readonly daemonEligible?: boolean;
  /** DAEMON: live tasks on the instance that belong to no daemon service; daemon tasks leave a DRAINING instance after them. */
  readonly replicaTaskCount?: number;
}

export interface ReconcileSettings {
  /** How long an agent may stay disconnected before its tasks are declared lost and replaced. */
  readonly hostLossTimeoutSeconds: number;
  /** The grace period for services that set none (ECS: 0). */
  readonly healthCheckGracePeriodSeconds?: number;
}

export interface ReconcileInput {
  readonly service: Service;
  /**
   * The service's tasks: every task whose startedBy is one of its deployments or whose group is
   * `service:NAME`, stopped ones included for deployments still IN_PROGRESS (the circuit breaker and
   * the launch throttle count them).
   */
  readonly tasks: readonly TaskView[];
  /** Every container instance of the cluster (a task on an instance not listed is lost). */
  readonly instances: readonly InstanceView[];
  readonly settings: ReconcileSettings;
  /** Epoch seconds, as every stored timestamp. */
  readonly now: number;
}

/** Start `count` tasks of a deployment; DAEMON starts name their instance, one task each. */
export interface TaskStart {
  readonly deploymentId: string;
  readonly taskDefinition: string;
  readonly count: number;
  /** ECS tags a service's tasks with the deployment id... */
  readonly startedBy: string;
  /** ...and the group `service:NAME`. */
  readonly group: string;
  readonly containerInstanceArn?: string;
}

export const SERVICE_SCHEDULER_INITIATED = 'ServiceSchedulerInitiated' as const;

/** Why the scheduler stops a task (the stoppedReason says it in ECS's words). */
export type StopCause = 'unhealthy' | 'scale-in' | 'rollout' | 'draining' | 'ineligible';

export interface TaskStop {
  readonly taskArn: string;
  readonly stopCode: typeof SERVICE_SCHEDULER_INITIATED;
  readonly reason: string;
  readonly cause: StopCause;
}

/** A task on a host that is gone: the I/O side marks it STOPPED at once (no agent will). */
export interface TaskLoss {
  readonly taskArn: string;
  readonly containerInstanceArn: string;
  readonly stopCode: typeof SERVICE_SCHEDULER_INITIATED;
  readonly reason: string;
}

export interface ServiceDecision {
  /** The service as it should be stored (before placement results; see recordPlacements). */
  readonly service: Service;
  /** Whether `service` differs from the input's. */
  readonly changed: boolean;
  readonly starts: readonly TaskStart[];
  readonly stops: readonly TaskStop[];
  readonly lost: readonly TaskLoss[];
  /** When to reconcile again even if nothing changes (a grace period or host-loss timeout ending, a throttle lifting, an event due to repeat). */
  readonly wakeAt?: number;
}

/**
 * Decides one round for one service.
 *
 * - REPLICA keeps desiredCount tasks of the PRIMARY deployment; DAEMON one on each ACTIVE eligible
 *   instance. Unhealthy tasks are stopped and replaced; tasks on lost hosts declared lost.
 * - Old-deployment tasks and tasks on DRAINING instances are replaced within the bounds: the
 *   scheduler's stops never take healthy tasks below ceil(D × minimumHealthyPercent / 100), its
 *   starts never take tasks (pending, running, stopping) above floor(D × maximumPercent / 100).
 * - The circuit breaker fails the PRIMARY after 0.5 × D failed launches (3..200) and, with
 *   rollback, re-opens the last COMPLETED deployment.
 *
 * @example reconcileService({ service, tasks, instances, settings: { hostLossTimeoutSeconds: 300 }, now: Date.now() / 1000 })
 */
export function reconcileService(input: ReconcileInput): ServiceDecision {
  const { service, now, settings } = input;
  const primaryIn = service.deployments.find((d) => d.status === 'PRIMARY');
  // Task sets of CODE_DEPLOY and EXTERNAL services are someone else's to run.
  if (service.status === 'INACTIVE' || service.deploymentController.type !== 'ECS' || primaryIn === undefined) {
    return { service, changed: false, starts: [], stops: [], lost: [] };
  }
  const grace = service.healthCheckGracePeriodSeconds ?? settings.healthCheckGracePeriodSeconds ?? 0;
  const instances = new Map(input.instances.map((i) => [i.containerInstanceArn, i]));
  const wake = new Wake(now);

  const loss = declareLost(input.tasks, instances, settings.hostLossTimeoutSeconds, now, wake);
  const lostArns = new Set(loss.lost.map((l) => l.taskArn));
  const tasks = input.tasks.filter((t) => !lostArns.has(t.taskArn));

  const daemon = service.schedulingStrategy === 'DAEMON';
  const homes = daemon ? input.instances.filter((i) => i.status === 'ACTIVE' && i.daemonEligible !== false) : [];
  const desired = service.status !== 'ACTIVE' ? 0 : daemon ? homes.length : service.desiredCount;

  // The circuit breaker first: a rollback changes which deployment this round works for.
  const texts: string[] = [...loss.texts];
  const deploymentTexts: string[] = [];
  let deployments: readonly Deployment[] = service.deployments;
  let primary = primaryIn;
  const tasksOf = (id: string) => tasks.filter((t) => t.startedBy === id);
  let failures = launchFailures(tasksOf(primary.id), now, grace);
  const breaker = service.deploymentConfiguration.deploymentCircuitBreaker;
  if (breaker?.enable === true && primary.rolloutState === 'IN_PROGRESS' && desired > 0 && failures.failed >= circuitBreakerThreshold(desired)) {
    const tripped = tripCircuitBreaker(deployments, primary, { rollback: breaker.rollback, desiredCount: desired, failedTasks: failures.failed, now });
    deployments = tripped.deployments;
    deploymentTexts.push(eventText.deploymentFailed(primary.id));
    if (tripped.rolledBackTo !== undefined) {
      primary = tripped.rolledBackTo;
      deploymentTexts.push(eventText.rollingBack(primary.id));
      failures = launchFailures(tasksOf(primary.id), now, grace);
    } else {
      primary = deployments.find((d) => d.id === primary.id)!;
    }
  }
  // ECS's stalled deployment: a FAILED primary launches nothing and holds what still runs.
  const frozen = primary.rolloutState === 'FAILED' && desired > 0;
  const throttleEnd = throttledUntil(failures);
  const throttled = throttleEnd !== undefined && now < throttleEnd;
  if (throttled) wake.at(throttleEnd);
  const launches = !frozen && !throttled && primary.taskDefinition !== undefined;

  const view = new View(service, tasks, instances, primary, now, grace, wake);
  const bounds = deploymentBounds(desired, service.deploymentConfiguration);
  const plan = daemon
    ? planDaemon(view, homes, desired, bounds, launches, frozen)
    : planReplica(view, desired, bounds, launches, frozen);

  texts.push(...deploymentTexts);
  texts.push(...plan.stops.flatMap((s) => view.healthEvent(s)));
  if (plan.stops.length > 0) texts.push(eventText.stopped(plan.stops.map((s) => s.taskArn)));
  if (throttled && plan.wanted > 0) texts.push(eventText.throttled());
  if (plan.blocked) texts.push(eventText.deploymentBlocked());

  // Counts and desired counts per deployment, as DescribeServices shows them after this round.
  const stopped = new Set(plan.stops.map((s) => s.taskArn));
  const remaining = tasks.filter((t) => isLive(t) || isStopping(t));
  deployments = deployments.map((d) => {
    const mine = remaining.filter((t) => t.startedBy === d.id);
    const next: Deployment = {
      ...d,
      desiredCount: d.id === primary.id ? desired : mine.filter((t) => isLive(t) && !stopped.has(t.taskArn)).length,
      runningCount: mine.filter((t) => t.lastStatus === 'RUNNING').length,
      pendingCount: mine.filter(isPendingTask).length,
      failedTasks: d.id === primary.id && d.rolloutState === 'IN_PROGRESS' ? failures.failed : d.failedTasks,
    };
    return touched(d, next, now);
  });

  // Settled: exactly the desired tasks, all the primary's, all healthy where they belong, nothing moving.
  const live = remaining.filter(isLive);
  const settled =
    plan.starts.length === 0 &&
    plan.stops.length === 0 &&
    loss.lost.length === 0 &&
    remaining.every(isLive) &&
    live.length === desired &&
    live.every((t) => t.startedBy === primary.id && !view.mustMove(t) && view.health(t).kind === 'healthy');
  // A rollback is announced IN_PROGRESS for at least one round, even when nothing is left to move.
  if (service.status === 'ACTIVE' && settled && primary.rolloutState === 'IN_PROGRESS' && deploymentTexts.length === 0) {
    deployments = deployments.map((d) =>
      d.id === primary.id ? { ...d, rolloutState: 'COMPLETED' as const, rolloutStateReason: rolloutReason.completed(d.id), updatedAt: now } : d,
    );
    primary = deployments.find((d) => d.id === primary.id)!;
    texts.push(eventText.deploymentCompleted(primary.id));
  }

  // Drained deployments leave the list, except, while the primary rolls out, the one a rollback
  // would return to and a FAILED one (what DescribeServices shows of the failure).
  const rollingOut = primary.rolloutState === 'IN_PROGRESS';
  const anchor = rollingOut && breaker?.enable === true && breaker.rollback ? rollbackTarget(deployments, primary.id) : undefined;
  deployments = deployments.filter(
    (d) => d.status === 'PRIMARY' || d.id === anchor?.id || (rollingOut && d.rolloutState === 'FAILED') || remaining.some((t) => t.startedBy === d.id),
  );

  const steady = service.status === 'ACTIVE' && settled && deployments.length === 1 && primary.rolloutState !== 'IN_PROGRESS' && primary.rolloutState !== 'FAILED';
  if (steady) {
    const message = `(service ${service.serviceName}) ${eventText.steadyState()}`;
    const newest = service.events[0];
    if (texts.length === 0 && newest !== undefined && isRepeat(service.events, message, now)) wake.at(newest.createdAt + EVENT_REPEAT_SECONDS);
    texts.push(eventText.steadyState());
  }

  const next: Service = {
    ...service,
    status: service.status === 'DRAINING' && remaining.length === 0 ? 'INACTIVE' : service.status,
    desiredCount: daemon && service.status === 'ACTIVE' ? desired : service.desiredCount,
    runningCount: remaining.filter((t) => t.lastStatus === 'RUNNING').length,
    pendingCount: remaining.filter(isPendingTask).length,
    ...(primary.id !== primaryIn.id && primary.taskDefinition !== undefined ? { taskDefinition: primary.taskDefinition } : {}),
    deployments,
    events: appendEvents(service, texts, now),
  };
  return {
    service: next,
    changed: JSON.stringify(next) !== JSON.stringify(service),
    starts: plan.starts,
    stops: plan.stops,
    lost: loss.lost,
    ...(wake.time === undefined ? {} : { wakeAt: wake.time }),
  };
}

// ---------------------------------------------------------------------------------------------
// After placement.

/** What placing one TaskStart gave: the tasks created, and why the rest found no instance. */
export interface PlacementResult {
  readonly start: TaskStart;
  readonly taskArns: readonly string[];
  /** The scheduler's account of the refusals, appended to ECS's sentence. */
  readonly explanation?: string;
}

/**
 * The decided service after its starts were placed: the new tasks counted as pending and ECS's
 * "has started" / "was unable to place" events. Pure, like the decision; the I/O side stores the
 * result in the same write as the decision's service.
 *
 * @example recordPlacements(decision, [{ start: decision.starts[0], taskArns: ['arn:...:task/c/1'] }], now)
 */
export function recordPlacements(decision: ServiceDecision, results: readonly PlacementResult[], now: number): Service {
  const service = decision.service;
  const placed = results.flatMap((r) => r.taskArns);
  const unplaced = results.filter((r) => r.taskArns.length < r.start.count);
  if (placed.length === 0 && unplaced.length === 0) return service;
  const added = new Map<string, number>();
  for (const r of results) added.set(r.start.deploymentId, (added.get(r.start.deploymentId) ?? 0) + r.taskArns.length);
  const deployments = service.deployments.map((d) => {
    const n = added.get(d.id) ?? 0;
    return n === 0 ? d : { ...d, pendingCount: d.pendingCount + n, updatedAt: now };
  });
  const texts: string[] = [];
  if (placed.length > 0) texts.push(eventText.started(placed));
  if (unplaced.length > 0) {
    const explanations = [...new Set(unplaced.flatMap((r) => (r.explanation ? [r.explanation] : [])))];
    texts.push(eventText.unableToPlace(explanations.join(' ') || undefined));
  }
  return { ...service, pendingCount: service.pendingCount + placed.length, deployments, events: appendEvents(service, texts, now) };
}

// ---------------------------------------------------------------------------------------------
// Plans.

interface Plan {
  readonly starts: TaskStart[];
  readonly stops: TaskStop[];
  /** Tasks the primary lacks (what it would start, bounds and throttle aside). */
  readonly wanted: number;
  /** Work remains, nothing is in flight, and the percent bounds allow no step: ECS's event says so. */
  readonly blocked: boolean;
}

function planReplica(v: View, desired: number, bounds: DeploymentBounds, launches: boolean, frozen: boolean): Plan {
  const s = new Stops(v, bounds.minHealthy);
  for (const t of v.live) if (v.health(t).kind === 'unhealthy') s.force(t, 'unhealthy');

  // Scale-in: tasks not yet healthy go first, then those on the most crowded instances.
  const keepers = v.live.filter((t) => !s.has(t) && v.isPrimary(t) && !v.mustMove(t));
  let excess = keepers.length - desired;
  for (const t of v.scaleInOrder(keepers)) {
    if (excess <= 0 || !s.stop(t, 'scale-in')) break;
    excess--;
  }

  // Old deployments' tasks and tasks on DRAINING instances: those not healthy cost nothing to
  // stop; healthy ones go while the minimum allows (ECS stops down to it before replacements are
  // healthy). A stalled deployment keeps them, since nothing would replace them.
  const movers = v.live.filter((t) => !s.has(t) && (!v.isPrimary(t) || v.mustMove(t)));
  for (const t of movers) if (v.health(t).kind !== 'healthy') s.force(t, v.moveCause(t));
  if (!frozen) {
    for (const t of v.moveOrder(movers.filter((m) => !s.has(m)))) if (!s.stop(t, v.moveCause(t))) break;
  }

  const kept = keepers.filter((t) => !s.has(t)).length;
  const wanted = Math.max(0, desired - kept);
  // Stopping tasks still hold their place (ports, memory) until their agent says STOPPED.
  const occupancy = v.live.length + v.stopping.length;
  const count = launches ? Math.max(0, Math.min(wanted, bounds.maxTotal - occupancy)) : 0;
  const starts = count > 0 ? [v.start(count)] : [];
  const work = wanted > 0 || movers.some((t) => !s.has(t));
  return { starts, stops: s.list, wanted, blocked: launches && work && count === 0 && s.list.length === 0 && !v.inFlight(s) };
}

function planDaemon(v: View, homes: readonly InstanceView[], desired: number, bounds: DeploymentBounds, launches: boolean, frozen: boolean): Plan {
  const s = new Stops(v, bounds.minHealthy);
  for (const t of v.live) if (v.health(t).kind === 'unhealthy') s.force(t, 'unhealthy');

  const homeArns = new Set(homes.map((i) => i.containerInstanceArn));
  for (const t of v.live) {
    if (s.has(t)) continue;
    const inst = v.instanceOf(t);
    if (desired === 0) s.force(t, 'scale-in');
    else if (inst === undefined) continue;
    else if (inst.status === 'DRAINING' || inst.status === 'DEREGISTERING') {
      // Daemon tasks leave a draining instance last, after the tasks that may depend on them.
      if ((inst.replicaTaskCount ?? 0) === 0) s.force(t, 'draining');
    } else if (inst.status === 'ACTIVE' && !homeArns.has(inst.containerInstanceArn)) s.force(t, 'ineligible');
  }

  const starts: TaskStart[] = [];
  let wanted = 0;
  let stuck = false;
  for (const inst of homes) {
    const here = v.liveOn(inst.containerInstanceArn).filter((t) => !s.has(t));
    const mine = v.keepOrder(here.filter((t) => v.isPrimary(t)));
    // One daemon task per instance: the best one stays.
    for (const extra of mine.slice(1)) s.stop(extra, 'scale-in');
    for (const old of here.filter((t) => !v.isPrimary(t))) {
      if (v.health(old).kind !== 'healthy') s.force(old, 'rollout');
      else if (!frozen) s.stop(old, 'rollout');
    }
    if (mine.length > 0) continue;
    wanted++;
    // DAEMON's maximumPercent is 100: the old task must be gone before the new one starts.
    const occupied = v.liveOn(inst.containerInstanceArn).length > 0 || v.stoppingOn(inst.containerInstanceArn).length > 0;
    if (occupied) {
      if (!here.some((t) => s.has(t))) stuck = true;
    } else if (launches && inst.agentConnected) {
      starts.push(v.start(1, inst.containerInstanceArn));
    }
  }
  return { starts, stops: s.list, wanted, blocked: launches && stuck && starts.length === 0 && s.list.length === 0 && !v.inFlight(s) };
}

// ---------------------------------------------------------------------------------------------
// The round's view of the tasks.

const PENDING_STATUSES = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);
const isPendingTask = (t: TaskView): boolean => isLive(t) && PENDING_STATUSES.has(t.lastStatus);

/** The earliest future moment the decision could change by itself. */
class Wake {
  time: number | undefined;
  constructor(private readonly now: number) {}
  at(t: number): void {
    if (t > this.now && (this.time === undefined || t < this.time)) this.time = t;
  }
}

/** Records a deployment's changes with updatedAt, leaving it untouched (same object) when none. */
function touched(before: Deployment, after: Deployment, now: number): Deployment {
  return JSON.stringify(before) === JSON.stringify(after) ? before : { ...after, updatedAt: now };
}

class View {
  readonly live: readonly TaskView[];
  readonly stopping: readonly TaskView[];
  private readonly healthOf = new Map<string, TaskHealth>();
  private readonly liveByInstance = new Map<string, TaskView[]>();
  private readonly stoppingByInstance = new Map<string, TaskView[]>();
  private readonly byArn = new Map<string, TaskView>();
  private readonly deploymentAge: Map<string, number>;

  constructor(
    private readonly service: Service,
    tasks: readonly TaskView[],
    private readonly instances: ReadonlyMap<string, InstanceView>,
    private readonly primary: Deployment,
    now: number,
    grace: number,
    wake: Wake,
  ) {
    this.live = [...tasks.filter(isLive)].sort(byArn);
    this.stopping = tasks.filter(isStopping);
    this.deploymentAge = new Map(service.deployments.map((d) => [d.id, d.createdAt]));
    for (const t of this.live) {
      this.healthOf.set(t.taskArn, taskHealth(t, now, grace));
      this.byArn.set(t.taskArn, t);
      if (t.lastStatus === 'RUNNING' && grace > 0) wake.at((t.startedAt ?? t.createdAt) + grace);
      if (t.containerInstanceArn !== undefined) push(this.liveByInstance, t.containerInstanceArn, t);
    }
    for (const t of this.stopping) if (t.containerInstanceArn !== undefined) push(this.stoppingByInstance, t.containerInstanceArn, t);
  }

  liveOn(containerInstanceArn: string): readonly TaskView[] {
    return this.liveByInstance.get(containerInstanceArn) ?? [];
  }
  stoppingOn(containerInstanceArn: string): readonly TaskView[] {
    return this.stoppingByInstance.get(containerInstanceArn) ?? [];
  }

  health(t: TaskView): TaskHealth {
    return this.healthOf.get(t.taskArn) ?? { kind: 'starting' };
  }
  get healthyCount(): number {
    return this.live.filter((t) => this.health(t).kind === 'healthy').length;
  }
  isPrimary(t: TaskView): boolean {
    return t.startedBy === this.primary.id;
  }
  instanceOf(t: TaskView): InstanceView | undefined {
    return t.containerInstanceArn === undefined ? undefined : this.instances.get(t.containerInstanceArn);
  }
  /** On an instance that is being emptied: its tasks move elsewhere. */
  mustMove(t: TaskView): boolean {
    const s = this.instanceOf(t)?.status;
    return s === 'DRAINING' || s === 'DEREGISTERING';
  }
  moveCause(t: TaskView): StopCause {
    return this.mustMove(t) ? 'draining' : 'rollout';
  }
  /** Something will change without us: a task on its way up or down. */
  inFlight(s: Stops): boolean {
    return this.stopping.length > 0 || this.live.some((t) => !s.has(t) && this.health(t).kind === 'starting');
  }

  reason(t: TaskView, cause: StopCause): string {
    switch (cause) {
      case 'unhealthy': {
        const h = this.health(t);
        return h.kind === 'unhealthy' && h.failed === 'target' ? stopReason.targetHealth(t.targetGroupArn) : stopReason.containerHealth();
      }
      case 'draining':
        return stopReason.draining(instanceLabel(t.containerInstanceArn ?? ''));
      case 'scale-in':
      case 'rollout':
      case 'ineligible':
        return stopReason.scaling(this.primary.id);
    }
  }
  /** ECS's per-task event for a health-check stop. */
  healthEvent(stop: TaskStop): string[] {
    if (stop.cause !== 'unhealthy') return [];
    const t = this.byArn.get(stop.taskArn)!;
    const h = this.health(t);
    return [h.kind === 'unhealthy' && h.failed === 'target' ? eventText.targetUnhealthy(t.taskArn, t.targetGroupArn) : eventText.containerHealthFailed(t.taskArn)];
  }

  start(count: number, containerInstanceArn?: string): TaskStart {
    return {
      deploymentId: this.primary.id,
      taskDefinition: this.primary.taskDefinition!,
      count,
      startedBy: this.primary.id,
      group: `service:${this.service.serviceName}`,
      ...(containerInstanceArn === undefined ? {} : { containerInstanceArn }),
    };
  }

  private rank(t: TaskView): number {
    const h = this.health(t).kind;
    return h === 'healthy' ? 2 : t.lastStatus === 'RUNNING' ? 1 : 0;
  }
  /** Live tasks of this service on the task's instance: scale-in empties the most crowded first. */
  private crowd(t: TaskView): number {
    return t.containerInstanceArn === undefined ? 0 : this.liveOn(t.containerInstanceArn).length;
  }
  /** Which excess tasks go first: least far along, then most crowded instance, then newest. */
  scaleInOrder(ts: readonly TaskView[]): TaskView[] {
    return [...ts].sort((a, b) => this.rank(a) - this.rank(b) || this.crowd(b) - this.crowd(a) || b.createdAt - a.createdAt || byArn(a, b));
  }
  /** Which healthy movers go first: the oldest deployment's (tasks of none first), then crowded instances. */
  moveOrder(ts: readonly TaskView[]): TaskView[] {
    const age = (t: TaskView) => (this.mustMove(t) ? Infinity : (this.deploymentAge.get(t.startedBy ?? '') ?? -Infinity));
    return [...ts].sort((a, b) => age(a) - age(b) || this.crowd(b) - this.crowd(a) || a.createdAt - b.createdAt || byArn(a, b));
  }
  /** Which of several tasks to keep first: furthest along, then oldest. */
  keepOrder(ts: readonly TaskView[]): TaskView[] {
    return [...ts].sort((a, b) => this.rank(b) - this.rank(a) || a.createdAt - b.createdAt || byArn(a, b));
  }
}

/** The round's stops, keeping count of healthy tasks so that no stop goes below the minimum. */
class Stops {
  readonly list: TaskStop[] = [];
  private readonly ids = new Set<string>();
  private healthy: number;

  constructor(
    private readonly v: View,
    private readonly minHealthy: number,
  ) {
    this.healthy = v.healthyCount;
  }
  has(t: TaskView): boolean {
    return this.ids.has(t.taskArn);
  }
  /** Stops `t` whatever the minimum says: it is not healthy, or it has no place to stay. */
  force(t: TaskView, cause: StopCause): void {
    if (this.has(t)) return;
    if (this.v.health(t).kind === 'healthy') this.healthy--;
    this.ids.add(t.taskArn);
    this.list.push({ taskArn: t.taskArn, stopCode: SERVICE_SCHEDULER_INITIATED, reason: this.v.reason(t, cause), cause });
  }
  /** Stops `t` if the healthy tasks left stay at or above the minimum; says whether it did. */
  stop(t: TaskView, cause: StopCause): boolean {
    if (this.v.health(t).kind === 'healthy' && this.healthy - 1 < this.minHealthy) return false;
    this.force(t, cause);
    return true;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

const byArn = (a: TaskView, b: TaskView): number => (a.taskArn < b.taskArn ? -1 : a.taskArn > b.taskArn ? 1 : 0);
const instanceLabel = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

// ---------------------------------------------------------------------------------------------
// Host loss.

function declareLost(
  tasks: readonly TaskView[],
  instances: ReadonlyMap<string, InstanceView>,
  timeout: number,
  now: number,
  wake: Wake,
): { lost: TaskLoss[]; texts: string[] } {
  const byInstance = new Map<string, { reason: string; text: (arns: string[]) => string; arns: string[] }>();
  for (const t of [...tasks].sort(byArn)) {
    if (!(isLive(t) || isStopping(t)) || t.containerInstanceArn === undefined) continue;
    const arn = t.containerInstanceArn;
    const inst = instances.get(arn);
    const label = instanceLabel(arn);
    let entry = byInstance.get(arn);
    if (inst === undefined) {
      entry ??= { reason: stopReason.deregistered(label), text: (arns) => eventText.deregistered(label, arns), arns: [] };
    } else if (!inst.agentConnected && inst.disconnectedSince !== undefined) {
      const deadline = inst.disconnectedSince + timeout;
      if (now < deadline) {
        wake.at(deadline);
        continue;
      }
      entry ??= { reason: stopReason.hostLost(label, timeout), text: (arns) => eventText.hostLost(label, timeout, arns), arns: [] };
    } else {
      // Connected, or disconnected since an unknown time: nothing to judge it by.
      continue;
    }
    entry.arns.push(t.taskArn);
    byInstance.set(arn, entry);
  }
  const lost: TaskLoss[] = [];
  const texts: string[] = [];
  for (const [arn, e] of [...byInstance].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const taskArn of e.arns) lost.push({ taskArn, containerInstanceArn: arn, stopCode: SERVICE_SCHEDULER_INITIATED, reason: e.reason });
    texts.push(e.text(e.arns));
  }
  return { lost, texts };
}

