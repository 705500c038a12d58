/**
 * The deployment rules the service reconciler applies, pure and small: when a task counts as
 * healthy, the percent bounds of a rolling update, the circuit breaker and its rollback, and ECS's
 * launch throttle. Everything is derived from tasks and the stored service, never remembered.
 */
import type { Deployment, DeploymentConfiguration } from '../ecs/service-shape.js';
import type { Task, TaskContainer } from '../ecs/task-shape.js';
import { isHealthCheckStop } from './service-events.js';

// ---------------------------------------------------------------------------------------------
// Tasks as deployments see them.

/** A load balancer target's health as ELB reports it, for the tasks of services behind one. */
export type TargetHealth = 'initial' | 'healthy' | 'unhealthy';

/**
 * What the reconciler reads of a task: the stored Task (a whole one will do) and, for services
 * behind a load balancer, its target's health.
 */
export interface TaskView
  extends Pick<
    Task,
    | 'taskArn'
    | 'taskDefinitionArn'
    | 'startedBy'
    | 'group'
    | 'lastStatus'
    | 'desiredStatus'
    | 'healthStatus'
    | 'containerInstanceArn'
    | 'createdAt'
    | 'startedAt'
    | 'stoppingAt'
    | 'stoppedAt'
    | 'stopCode'
    | 'stoppedReason'
  > {
  readonly containers: ReadonlyArray<Pick<TaskContainer, 'healthStatus'>>;
  /**
   * Whether an essential container has a health check (from the task definition). When absent, a
   * container with a healthStatus counts; that is wrong only when every checked container is
   * non-essential, since such a task's healthStatus stays UNKNOWN.
   */
  readonly healthChecked?: boolean;
  /** The target's health in the service's target group; absent when there is no load balancer. */
  readonly targetHealth?: TargetHealth;
  readonly targetGroupArn?: string;
}

/** A task the service still means to run: desiredStatus RUNNING and not yet STOPPED. */
export const isLive = (t: Pick<TaskView, 'desiredStatus' | 'lastStatus'>): boolean => t.desiredStatus === 'RUNNING' && t.lastStatus !== 'STOPPED';
/** A task told to stop whose agent has not yet reported it STOPPED: it still holds its place. */
export const isStopping = (t: Pick<TaskView, 'desiredStatus' | 'lastStatus'>): boolean => t.desiredStatus === 'STOPPED' && t.lastStatus !== 'STOPPED';

/** healthy: counts toward minimumHealthyPercent; unhealthy: to be replaced; starting: neither yet. */
export type TaskHealth = { readonly kind: 'healthy' } | { readonly kind: 'starting' } | { readonly kind: 'unhealthy'; readonly failed: 'container' | 'target' };

const HEALTHY: TaskHealth = { kind: 'healthy' };
const STARTING: TaskHealth = { kind: 'starting' };

const hasHealthCheck = (t: TaskView): boolean => t.healthChecked ?? t.containers.some((c) => c.healthStatus !== undefined);

/**
 * A live task's health. RUNNING is required; then the container health checks must pass (HEALTHY)
 * when the task has them, and its load balancer target must be healthy when it has one. A failing
 * check is ignored for `graceSeconds` after the task started, as ECS's healthCheckGracePeriodSeconds
 * does, so the task is merely starting then.
 */
export function taskHealth(t: TaskView, now: number, graceSeconds: number): TaskHealth {
  if (t.lastStatus !== 'RUNNING') return STARTING;
  const checked = hasHealthCheck(t);
  const inGrace = now < (t.startedAt ?? t.createdAt) + graceSeconds;
  if (checked && t.healthStatus === 'UNHEALTHY') return inGrace ? STARTING : { kind: 'unhealthy', failed: 'container' };
  if (t.targetHealth === 'unhealthy') return inGrace ? STARTING : { kind: 'unhealthy', failed: 'target' };
  const containersOk = !checked || t.healthStatus === 'HEALTHY';
  const targetOk = t.targetHealth === undefined || t.targetHealth === 'healthy';
  return containersOk && targetOk ? HEALTHY : STARTING;
}

// ---------------------------------------------------------------------------------------------
// Percent bounds.

export interface DeploymentBounds {
  /** Healthy tasks the scheduler may not go below by its own stops: ceil(D × min% / 100). */
  readonly minHealthy: number;
  /** Tasks (pending, running or still stopping) it may not go above by its own starts: floor(D × max% / 100). */
  readonly maxTotal: number;
}

/**
 * ECS's rounding: the minimum rounds up, the maximum down.
 *
 * @example deploymentBounds(3, { minimumHealthyPercent: 50, maximumPercent: 200 }) // → { minHealthy: 2, maxTotal: 6 }
 */
export function deploymentBounds(desiredCount: number, cfg: Pick<DeploymentConfiguration, 'minimumHealthyPercent' | 'maximumPercent'>): DeploymentBounds {
  // Both percentages are integers, so the product is exact and a whole quotient stays whole.
  return {
    minHealthy: Math.ceil((desiredCount * cfg.minimumHealthyPercent) / 100),
    maxTotal: Math.floor((desiredCount * cfg.maximumPercent) / 100),
  };
}

// ---------------------------------------------------------------------------------------------
// Launch outcomes: the circuit breaker and the throttle count them.

/**
 * How a task's launch went. `succeeded`: it reached RUNNING and passed its health checks (a task
 * without checks succeeds on RUNNING); `failed`: it stopped before that, failed to start, or was
 * stopped for failing health checks; `neutral`: it was stopped for a reason that says nothing about
 * its revision (scale-in, rollout, draining, a user, a lost host); `undecided`: still on its way.
 */
export type LaunchOutcome = 'succeeded' | 'failed' | 'neutral' | 'undecided';

export function launchOutcome(t: TaskView, now: number, graceSeconds: number): LaunchOutcome {
  if (isLive(t)) return taskHealth(t, now, graceSeconds).kind === 'healthy' ? 'succeeded' : 'undecided';
  if (isHealthCheckStop(t.stoppedReason)) return 'failed';
  if (t.startedAt !== undefined && (!hasHealthCheck(t) || t.healthStatus === 'HEALTHY')) return 'succeeded';
  if (t.stopCode === 'TaskFailedToStart' || t.stopCode === 'EssentialContainerExited') return 'failed';
  // STOPPED with no code: the agent gave up on the task without saying why.
  if (t.stopCode === undefined && t.lastStatus === 'STOPPED') return 'failed';
  return 'neutral';
}

const stopTimeOf = (t: TaskView): number => t.stoppingAt ?? t.stoppedAt ?? t.createdAt;

export interface LaunchFailures {
  /**
   * Failed launches since the latest task that succeeded (ECS's resetOnHealthyTask, its default):
   * the deployment's failedTasks and what the circuit breaker compares with its threshold.
   */
  readonly failed: number;
  /** Of those, launches that never reached RUNNING since any task last did: what ECS throttles on. */
  readonly neverRan: number;
  /** When the latest of the never-ran failures stopped. */
  readonly lastNeverRanAt?: number;
}

/**
 * Counts one deployment's failed launches from its tasks, stopped ones included. The count is
 * derived, not accumulated, so rerunning the reconciler on the same tasks never counts a failure
 * twice; the I/O side must keep a deployment's stopped tasks while its rollout is IN_PROGRESS.
 */
export function launchFailures(tasks: readonly TaskView[], now: number, graceSeconds: number): LaunchFailures {
  let lastSuccess = -Infinity;
  let lastRan = -Infinity;
  for (const t of tasks) {
    // A task's success is dated by when it started RUNNING; when it passed its checks is not stored.
    if (launchOutcome(t, now, graceSeconds) === 'succeeded') lastSuccess = Math.max(lastSuccess, t.startedAt ?? t.createdAt);
    if (t.startedAt !== undefined) lastRan = Math.max(lastRan, t.startedAt);
  }
  let failed = 0;
  let neverRan = 0;
  let lastNeverRanAt: number | undefined;
  for (const t of tasks) {
    if (launchOutcome(t, now, graceSeconds) !== 'failed') continue;
    const at = stopTimeOf(t);
    if (at > lastSuccess) failed++;
    if (t.startedAt === undefined && at > lastRan) {
      neverRan++;
      lastNeverRanAt = Math.max(lastNeverRanAt ?? -Infinity, at);
    }
  }
  return { failed, neverRan, ...(lastNeverRanAt === undefined ? {} : { lastNeverRanAt }) };
}

/**
 * The circuit breaker's threshold: 0.5 × desiredCount, at least 3 and at most 200 (ECS's numbers;
 * a half task rounds up, so 7 tasks trip at 4 failures).
 */
export function circuitBreakerThreshold(desiredCount: number): number {
  return Math.min(200, Math.max(3, Math.ceil(desiredCount * 0.5)));
}

/** Failures in a row, without one reaching RUNNING, before ECS starts spacing out launches. */
export const THROTTLE_AFTER = 3;
/** ECS's longest wait between launch attempts of a failing service. */
export const MAX_THROTTLE_SECONDS = 27 * 60;
const FIRST_THROTTLE_SECONDS = 15;

/**
 * When the deployment may next launch tasks, if its launches are throttled: after THROTTLE_AFTER
 * launches in a row never reached RUNNING, each further failure doubles the wait (15 s, 30 s, ...)
 * up to 27 minutes. A new deployment starts unthrottled, as in ECS, since failures are per deployment.
 */
export function throttledUntil(f: LaunchFailures): number | undefined {
  if (f.neverRan < THROTTLE_AFTER || f.lastNeverRanAt === undefined) return undefined;
  const wait = Math.min(MAX_THROTTLE_SECONDS, FIRST_THROTTLE_SECONDS * 2 ** Math.min(f.neverRan - THROTTLE_AFTER, 30));
  return f.lastNeverRanAt + wait;
}

// ---------------------------------------------------------------------------------------------
// Rollout states.

export const rolloutReason = {
  inProgress: (id: string) => `ECS deployment ${id} in progress.`,
  completed: (id: string) => `ECS deployment ${id} completed.`,
  failed: () => 'ECS deployment circuit breaker: tasks failed to start.',
  rollingBack: (id: string) => `ECS deployment circuit breaker: rolling back to deploymentId ${id}.`,
} as const;

/** The deployment a failed one rolls back to: the most recent COMPLETED one other than it. */
export function rollbackTarget(deployments: readonly Deployment[], failedId: string): Deployment | undefined {
  let best: Deployment | undefined;
  for (const d of deployments) {
    if (d.id === failedId || d.rolloutState !== 'COMPLETED') continue;
    if (best === undefined || d.createdAt > best.createdAt) best = d;
  }
  return best;
}

/**
 * The deployments after `failed` (the PRIMARY) trips the circuit breaker at `now`. It becomes
 * FAILED; with rollback and a COMPLETED deployment to return to, that deployment becomes PRIMARY
 * again and IN_PROGRESS (ECS re-opens it rather than making a new one, so its healthy tasks stay)
 * and the failed one ACTIVE, to be drained. Without either, the failed deployment stays PRIMARY
 * and launches nothing more: ECS's stalled deployment.
 */
export function tripCircuitBreaker(
  deployments: readonly Deployment[],
  failed: Deployment,
  opts: { readonly rollback: boolean; readonly desiredCount: number; readonly failedTasks: number; readonly now: number },
): { deployments: Deployment[]; rolledBackTo?: Deployment } {
  const target = opts.rollback ? rollbackTarget(deployments, failed.id) : undefined;
  const failedNext: Deployment = {
    ...failed,
    status: target === undefined ? 'PRIMARY' : 'ACTIVE',
    rolloutState: 'FAILED',
    rolloutStateReason: rolloutReason.failed(),
    failedTasks: opts.failedTasks,
    updatedAt: opts.now,
  };
  if (target === undefined) return { deployments: deployments.map((d) => (d.id === failed.id ? failedNext : d)) };
  const reopened: Deployment = {
    ...target,
    status: 'PRIMARY',
    desiredCount: opts.desiredCount,
    failedTasks: 0,
    rolloutState: 'IN_PROGRESS',
    rolloutStateReason: rolloutReason.rollingBack(target.id),
    updatedAt: opts.now,
  };
  const rest = deployments.filter((d) => d.id !== failed.id && d.id !== target.id);
  return { deployments: [reopened, failedNext, ...rest], rolledBackTo: reopened };
}
