/**
 * The task manager's decisions, as a pure reconciler with time as an input: from a task's desired
 * status and what each of its containers is doing now, what to do next and what to report.
 * The task manager executes the actions and calls it again whenever anything changes (or at wakeAt).
 */
import type { ContainerCondition, NetworkMode } from '../ecs/task-definition-types.js';
import type { ContainerStatus, HealthStatus, StopCode, TaskStatus } from './protocol.js';

/** ECS's stopTimeout default: SIGKILL 30 s after the stop signal. */
export const DEFAULT_STOP_TIMEOUT_MS = 30_000;

export const ESSENTIAL_CONTAINER_EXITED = 'Essential container in task exited';

/**
 * Where a container is on its way, as the task manager tracks it:
 * - `waiting`: nothing done yet; `pulling`: its image is being pulled; `pulled`: ready to start
 *   once its dependencies are met;
 * - `starting`: being created and started; `running`: its process runs;
 * - `stopping`: it was sent its stop signal (`signalledAt`) and has not exited yet;
 * - `stopped`: it exited (`startedAt` and `exitCode` set), failed to pull, create or start, or was
 *   abandoned before starting (`startedAt` absent, `reason` may say why).
 */
export type ContainerPhase = 'waiting' | 'pulling' | 'pulled' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * The task's network resources (awsvpc namespace; bridge; metadata listener):
 * `pending` → `provisioning` → `ready` | `failed`, and at the end `releasing` → `released`.
 */
export type NetworkPhase = 'pending' | 'provisioning' | 'ready' | 'failed' | 'releasing' | 'released';

export interface PlanDependency {
  readonly containerName: string;
  readonly condition: ContainerCondition;
}

export interface PlanContainer {
  readonly name: string;
  readonly essential: boolean;
  readonly dependsOn: readonly PlanDependency[];
  readonly stopTimeoutMs: number;
  /** How long a container depending on this one waits for its condition (ECS's startTimeout); absent: no bound. */
  readonly startTimeoutMs?: number;
  readonly hasHealthCheck: boolean;
  readonly phase: ContainerPhase;
  /** When the current phase began (epoch ms); a `pulled` container has waited for its dependencies since then. */
  readonly since: number;
  /** Set once its process ran. */
  readonly startedAt?: number;
  readonly exitCode?: number;
  /** Why it stopped, when its exit code does not say (CannotPullContainerError: …). */
  readonly reason?: string;
  readonly health?: HealthStatus;
  readonly signalledAt?: number;
  readonly killedAt?: number;
}

export interface PlanTask {
  readonly desiredStatus: 'RUNNING' | 'STOPPED';
  readonly networkMode: NetworkMode;
  readonly network: NetworkPhase;
  /** Why provisioning failed. */
  readonly networkError?: string;
  readonly containers: readonly PlanContainer[];
}

/**
 * What to do now. Each action has an immediate effect the executor applies before it starts the
 * work (and the plan assumed when it computed the status): `provision` → network `provisioning`;
 * `pull` → `pulling`; `start` → `starting`; `signal` → `stopping` with signalledAt; `kill` →
 * killedAt; `abandon` → `stopped` with the reason; `stopTask` → desiredStatus STOPPED with the stop
 * code and reason; `release` → network `releasing`.
 */
export type PlanAction =
  | { readonly type: 'provision' }
  | { readonly type: 'pull'; readonly container: string }
  | { readonly type: 'start'; readonly container: string }
  | { readonly type: 'signal'; readonly container: string }
  | { readonly type: 'kill'; readonly container: string }
  | { readonly type: 'abandon'; readonly container: string; readonly reason?: string }
  | { readonly type: 'stopTask'; readonly stopCode: StopCode; readonly reason: string }
  | { readonly type: 'release' };

export interface Plan {
  readonly actions: readonly PlanAction[];
  /** The task's lastStatus once the actions' immediate effects are applied. */
  readonly taskStatus: TaskStatus;
  readonly healthStatus: HealthStatus;
  /** Call again at this time even if nothing changes (a kill deadline, a startTimeout). */
  readonly wakeAt?: number;
}

/** The lastStatus ECS shows for a container in a phase. */
export function containerStatusOf(phase: ContainerPhase): ContainerStatus {
  switch (phase) {
    case 'waiting':
    case 'pulling':
    case 'pulled':
    case 'starting':
      return 'PENDING';
    case 'running':
    case 'stopping':
      return 'RUNNING';
    case 'stopped':
      return 'STOPPED';
  }
}

const NOT_STARTED: ReadonlySet<ContainerPhase> = new Set(['waiting', 'pulling', 'pulled']);

/**
 * A task's health as ECS computes it: only essential containers with a health check count; any
 * UNHEALTHY makes it UNHEALTHY, all HEALTHY make it HEALTHY, anything else (or none counted) UNKNOWN.
 */
export function taskHealth(containers: readonly Pick<PlanContainer, 'essential' | 'hasHealthCheck' | 'health'>[]): HealthStatus {
  const counted = containers.filter((c) => c.essential && c.hasHealthCheck);
  if (counted.length === 0) return 'UNKNOWN';
  if (counted.some((c) => c.health === 'UNHEALTHY')) return 'UNHEALTHY';
  return counted.every((c) => c.health === 'HEALTHY') ? 'HEALTHY' : 'UNKNOWN';
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

type Verdict = { readonly met: true } | { readonly met: false; readonly never?: string; readonly deadline?: number };

/** Whether `waiter`'s dependency on `dep` holds now, can never hold (and why), or may still (until when). */
export function dependencyVerdict(
  waiter: Pick<PlanContainer, 'since'>,
  condition: ContainerCondition,
  dep: Pick<PlanContainer, 'phase' | 'startedAt' | 'exitCode' | 'health' | 'startTimeoutMs'> | undefined,
  now: number,
): Verdict {
  if (dep === undefined) return { met: false, never: 'it is not a container of the task' };
  const started = dep.startedAt !== undefined;
  const stopped = dep.phase === 'stopped';
  switch (condition) {
    case 'START':
      if (started) return { met: true };
      if (stopped) return { met: false, never: 'it stopped without starting' };
      break;
    case 'COMPLETE':
      if (stopped && started) return { met: true };
      if (stopped) return { met: false, never: 'it stopped without starting' };
      break;
    case 'SUCCESS':
      if (stopped && started && dep.exitCode === 0) return { met: true };
      if (stopped) return { met: false, never: started ? `it exited with code ${dep.exitCode ?? 'unknown'}` : 'it stopped without starting' };
      break;
    case 'HEALTHY':
      if ((dep.phase === 'running' || dep.phase === 'stopping') && dep.health === 'HEALTHY') return { met: true };
      if (stopped) return { met: false, never: 'it stopped before it was HEALTHY' };
      break;
  }
  if (dep.startTimeoutMs === undefined) return { met: false };
  const deadline = waiter.since + dep.startTimeoutMs;
  if (now >= deadline) return { met: false, never: `it did not reach ${condition} within its startTimeout (${dep.startTimeoutMs / 1000} s)` };
  return { met: false, deadline };
}

/**
 * Decides the next steps for a task at time `now` (epoch ms).
 *
 * While the task should run: provision its network, pull every image at once, start each container
 * once the network is up and its dependsOn conditions hold; stop the task when an essential
 * container exits (EssentialContainerExited), fails to start, or waits on a condition that can never
 * hold (TaskFailedToStart). While it should stop: containers not started are abandoned, running ones
 * get their stop signal in reverse dependency order (a container is signalled once everything that
 * depends on it has stopped) and SIGKILL stopTimeout later; once all are stopped the network is
 * released and the task is STOPPED.
 *
 * @example planTask({ desiredStatus: 'RUNNING', networkMode: 'host', network: 'ready', containers: [web] }, Date.now())
 *   // { actions: [{ type: 'pull', container: 'web' }], taskStatus: 'PENDING', healthStatus: 'UNKNOWN' }
 */
export function planTask(task: PlanTask, now: number): Plan {
  const actions: PlanAction[] = [];
  // Working copies: the plan applies its own actions' effects as it goes, so later steps see them.
  const byName = new Map(task.containers.map((c): [string, Mutable<PlanContainer>] => [c.name, { ...c }]));
  const all = [...byName.values()];
  let desired = task.desiredStatus;
  let network = task.network;
  let wakeAt: number | undefined;
  const wake = (at: number): void => {
    wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
  };
  const stopTask = (stopCode: StopCode, reason: string): void => {
    if (desired === 'STOPPED') return;
    desired = 'STOPPED';
    actions.push({ type: 'stopTask', stopCode, reason });
  };

  if (desired === 'RUNNING') {
    if (all.length === 0) stopTask('TaskFailedToStart', 'The task has no containers');
    if (network === 'failed') stopTask('TaskFailedToStart', `ResourceInitializationError: ${task.networkError ?? 'the task network could not be set up'}`);
    for (const c of all) {
      if (c.phase !== 'stopped' || !c.essential) continue;
      if (c.startedAt !== undefined) stopTask('EssentialContainerExited', ESSENTIAL_CONTAINER_EXITED);
      else stopTask('TaskFailedToStart', c.reason ?? `Essential container ${c.name} did not start`);
    }
  }

  if (desired === 'RUNNING') {
    if (network === 'pending') {
      actions.push({ type: 'provision' });
      network = 'provisioning';
    }
    for (const c of all) {
      if (c.phase !== 'waiting') continue;
      actions.push({ type: 'pull', container: c.name });
      c.phase = 'pulling';
    }
    // Until nothing changes: abandoning one container can make a condition on it impossible.
    for (let changed = true; changed && desired === 'RUNNING';) {
      changed = false;
      for (const c of all) {
        if (c.phase !== 'pulled' || desired !== 'RUNNING') continue;
        let ready = true;
        let never: string | undefined;
        for (const d of c.dependsOn) {
          const v = dependencyVerdict(c, d.condition, byName.get(d.containerName), now);
          if (v.met) continue;
          ready = false;
          if (v.never !== undefined) {
            never = `Container ${c.name} cannot start: its dependency on ${d.containerName} (${d.condition}) can never be met: ${v.never}`;
            break;
          }
          if (v.deadline !== undefined) wake(v.deadline);
        }
        if (never !== undefined) {
          actions.push({ type: 'abandon', container: c.name, reason: never });
          c.phase = 'stopped';
          c.reason = never;
          changed = true;
          if (c.essential) stopTask('TaskFailedToStart', never);
        } else if (ready && network === 'ready') {
          actions.push({ type: 'start', container: c.name });
          c.phase = 'starting';
        }
      }
    }
  }

  if (desired === 'STOPPED') {
    for (const c of all) {
      if (!NOT_STARTED.has(c.phase)) continue;
      actions.push({ type: 'abandon', container: c.name });
      c.phase = 'stopped';
    }
    for (const c of all) {
      if (c.phase === 'running') {
        // Reverse dependency order: whatever depends on this container stops first.
        const dependentsUp = all.some((o) => o.phase !== 'stopped' && o.dependsOn.some((d) => d.containerName === c.name));
        if (dependentsUp) continue;
        actions.push({ type: 'signal', container: c.name });
        c.phase = 'stopping';
        c.signalledAt = now;
      }
      if (c.phase === 'stopping' && c.killedAt === undefined) {
        const deadline = (c.signalledAt ?? now) + c.stopTimeoutMs;
        if (now >= deadline) {
          actions.push({ type: 'kill', container: c.name });
          c.killedAt = now;
        } else {
          wake(deadline);
        }
      }
    }
  }

  const allStopped = all.every((c) => c.phase === 'stopped');
  if (desired === 'STOPPED' && allStopped && (network === 'ready' || network === 'failed')) {
    actions.push({ type: 'release' });
    network = 'releasing';
  }

  let taskStatus: TaskStatus;
  if (allStopped && (network === 'released' || network === 'pending')) taskStatus = 'STOPPED';
  else if (allStopped) taskStatus = 'DEPROVISIONING';
  else if (desired === 'STOPPED') taskStatus = 'STOPPING';
  else if (task.networkMode === 'awsvpc' && network !== 'ready') taskStatus = 'PROVISIONING';
  else if (all.filter((c) => c.essential).every((c) => c.phase === 'running')) taskStatus = 'RUNNING';
  else taskStatus = 'PENDING';

  return { actions, taskStatus, healthStatus: taskHealth(all), ...(wakeAt === undefined ? {} : { wakeAt }) };
}
