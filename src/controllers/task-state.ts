/**
 * What an agent's taskStateChange does to a stored Task: the one pure decision behind the agent
 * hub's writes. Statuses only move forward, a STOPPED task is final, and what a change means for the
 * task's container instance (pending → running, reservation released) is decided here too.
 */
import type { ContainerStateChange, TaskStateChange, TaskStatus } from '../agent/protocol.js';
import type { Attachment } from '../ecs/network-configuration.js';
import { epochSeconds, type Task, type TaskContainer, type TaskStopCode } from '../ecs/task-shape.js';

/** ECS's task lifecycle, in order; a task's lastStatus only ever moves right. */
export const TASK_LIFECYCLE: readonly TaskStatus[] = ['PROVISIONING', 'PENDING', 'ACTIVATING', 'RUNNING', 'DEACTIVATING', 'STOPPING', 'DEPROVISIONING', 'STOPPED'];
const CONTAINER_LIFECYCLE: readonly string[] = ['PENDING', 'RUNNING', 'STOPPED'];

/** Where a status sits in the lifecycle; -1 for anything else (a status Berth never writes). */
export const taskStatusRank = (status: string): number => TASK_LIFECYCLE.indexOf(status as TaskStatus);
const containerRank = (status: string): number => CONTAINER_LIFECYCLE.indexOf(status);
const RUNNING = taskStatusRank('RUNNING');
const STOPPED = taskStatusRank('STOPPED');

export const ESSENTIAL_CONTAINER_EXITED_REASON = 'Essential container in task exited';
export const TASK_FAILED_TO_START_REASON = 'Task failed to start';

/**
 * The task after an agent's report. `essential` names the task's essential containers (ECS's
 * default when unknown: every container is essential).
 *
 * - A STOPPED task is final (the control plane may have finished it already): nothing changes.
 * - A report older than the task (its status earlier in the lifecycle) is stale: nothing changes.
 * - Containers are matched by name; a container's status only moves forward and a stale container
 *   entry is skipped; given details (exitCode, reason, networkBindings, healthStatus, runtimeId,
 *   imageDigest) replace the stored ones.
 * - The task's healthStatus is derived from its essential containers that have a health check
 *   (those with a container healthStatus): UNHEALTHY if any is, HEALTHY if all are, else UNKNOWN.
 * - The first report marks the task CONNECTED. Agent timestamps (epoch ms) are kept when first
 *   given; startedAt defaults to `now` on reaching RUNNING (not for a task that failed to start:
 *   it never ran), stoppedAt and executionStoppedAt on
 *   reaching STOPPED.
 * - An exited essential container, a stopCode in the report, or reaching STOPPED makes the task
 *   stop: desiredStatus STOPPED, stoppingAt, and stopCode / stoppedReason unless it has them (a
 *   user's StopTask keeps its UserInitiated).
 * - On STOPPED every container is STOPPED and the ENI attachment DELETED, as StopTask does.
 *
 * Returns `task` itself when nothing changed, else a new Task with version + 1.
 *
 * @example applyTaskStateChange(task, { taskArn, status: 'RUNNING', containers: [{ containerName: 'web', status: 'RUNNING' }] }, new Date())
 */
export function applyTaskStateChange(task: Task, change: TaskStateChange, now: Date, essential?: ReadonlySet<string>): Task {
  if (change.taskArn !== task.taskArn) throw new Error(`a state change for ${change.taskArn} cannot apply to ${task.taskArn}`);
  const before = taskStatusRank(task.lastStatus);
  const reported = taskStatusRank(change.status);
  if (before === STOPPED || reported < before) return task;

  const at = epochSeconds(now);
  const isEssential = (name: string) => essential === undefined || essential.has(name);
  const reports = new Map(change.containers.map((c) => [c.containerName, c]));
  let containers = task.containers.map((c) => applyContainerChange(c, reports.get(c.name)));

  let next: Task = { ...task, lastStatus: change.status, containers };
  const set = <K extends keyof Task>(key: K, value: Task[K] | undefined) => {
    if (value !== undefined && next[key] === undefined) next = { ...next, [key]: value };
  };

  if (next.connectivity !== 'CONNECTED') next = { ...next, connectivity: 'CONNECTED', connectivityAt: at };
  set('pullStartedAt', seconds(change.pullStartedAt));
  set('pullStoppedAt', seconds(change.pullStoppedAt));
  set('startedAt', seconds(change.startedAt));
  set('executionStoppedAt', seconds(change.executionStoppedAt));
  // A task that failed to start never ran: ECS leaves its startedAt unset.
  const failedToStart = (change.stopCode ?? task.stopCode) === 'TaskFailedToStart';
  if (reported >= RUNNING && before < RUNNING && !failedToStart) set('startedAt', at);

  if (change.privateIPv4Address !== undefined) next = withAddress(next, change.privateIPv4Address);

  // Why the task stops, in order of authority: what it was told (StopTask), what the agent says,
  // what its containers show.
  const essentialExited = containers.some((c) => isEssential(c.name) && c.lastStatus === 'STOPPED');
  const stop: { code: TaskStopCode; reason: string } | undefined =
    change.stopCode !== undefined
      ? { code: change.stopCode, reason: change.reason ?? defaultReason(change.stopCode) }
      : essentialExited
        ? { code: 'EssentialContainerExited', reason: ESSENTIAL_CONTAINER_EXITED_REASON }
        : undefined;
  if (stop !== undefined && next.stopCode === undefined) next = { ...next, stopCode: stop.code, stoppedReason: next.stoppedReason ?? stop.reason };
  if (reported === STOPPED && next.stoppedReason === undefined && change.reason !== undefined) next = { ...next, stoppedReason: change.reason };
  if (stop !== undefined || reported >= taskStatusRank('DEACTIVATING')) {
    if (next.desiredStatus !== 'STOPPED') next = { ...next, desiredStatus: 'STOPPED' };
    set('stoppingAt', at);
  }

  if (reported === STOPPED) {
    containers = next.containers.map((c) => (c.lastStatus === 'STOPPED' ? c : { ...c, lastStatus: 'STOPPED' }));
    next = {
      ...next,
      containers,
      attachments: next.attachments.map((a) => (a.status === 'DELETED' ? a : { ...a, status: 'DELETED' })),
    };
    set('executionStoppedAt', at);
    set('stoppedAt', at);
  }

  next = { ...next, healthStatus: taskHealth(next.containers, isEssential) };
  return sameJson(next, task) ? task : { ...next, version: task.version + 1 };
}

/** One container after its entry in a report; a stale entry (status behind) changes nothing. */
function applyContainerChange(container: TaskContainer, report: ContainerStateChange | undefined): TaskContainer {
  if (report === undefined || containerRank(report.status) < containerRank(container.lastStatus)) return container;
  return {
    ...container,
    lastStatus: report.status,
    ...(report.runtimeId === undefined ? {} : { runtimeId: report.runtimeId }),
    ...(report.imageDigest === undefined ? {} : { imageDigest: report.imageDigest }),
    ...(report.exitCode === undefined ? {} : { exitCode: report.exitCode }),
    ...(report.reason === undefined ? {} : { reason: report.reason }),
    ...(report.networkBindings === undefined ? {} : { networkBindings: report.networkBindings.map((b) => ({ ...b })) }),
    ...(report.healthStatus === undefined ? {} : { healthStatus: report.healthStatus }),
  };
}

/**
 * ECS's task health: only essential containers with a health check count. A task with none of
 * them stays UNKNOWN.
 */
export function taskHealth(containers: readonly TaskContainer[], isEssential: (name: string) => boolean): Task['healthStatus'] {
  const checked = containers.filter((c) => isEssential(c.name) && c.healthStatus !== undefined);
  if (checked.some((c) => c.healthStatus === 'UNHEALTHY')) return 'UNHEALTHY';
  if (checked.length > 0 && checked.every((c) => c.healthStatus === 'HEALTHY')) return 'HEALTHY';
  return 'UNKNOWN';
}

/** The awsvpc address the agent gave the task: on its ENI attachment and its containers' interfaces. */
function withAddress(task: Task, address: string): Task {
  const eni = task.attachments.find((a) => a.type === 'ElasticNetworkInterface');
  if (eni === undefined) return task;
  const attached: Attachment = {
    ...eni,
    status: eni.status === 'PRECREATED' ? 'ATTACHED' : eni.status,
    details: [...eni.details.filter((d) => d.name !== 'privateIPv4Address'), { name: 'privateIPv4Address', value: address }],
  };
  return {
    ...task,
    attachments: task.attachments.map((a) => (a === eni ? attached : a)),
    containers: task.containers.map((c) => ({ ...c, networkInterfaces: [{ attachmentId: eni.id, privateIpv4Address: address }] })),
  };
}

function defaultReason(code: TaskStopCode): string {
  switch (code) {
    case 'EssentialContainerExited':
      return ESSENTIAL_CONTAINER_EXITED_REASON;
    case 'TaskFailedToStart':
      return TASK_FAILED_TO_START_REASON;
    case 'UserInitiated':
      return 'Task stopped by user';
    case 'ServiceSchedulerInitiated':
      return 'Task stopped by the service scheduler';
    case 'SpotInterruption':
      return 'Spot interruption';
    case 'TerminationNotice':
      return 'Termination notice';
  }
}

const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

// Tasks are plain JSON (they live in the store as JSON), so JSON equality is value equality; the
// key order is the same because every change above spreads over the original.
const sameJson = (a: Task, b: Task): boolean => JSON.stringify(a) === JSON.stringify(b);

/** What a task's move means for the instance it runs on. */
export type InstanceEffect =
  | { readonly kind: 'none' }
  /** The task is now counted as running: pendingTasksCount − 1, runningTasksCount + 1. */
  | { readonly kind: 'started' }
  /** The task is gone from the instance: its reservation is returned and it is no longer counted. */
  | { readonly kind: 'released'; readonly wasRunning: boolean };

/**
 * The instance bookkeeping a task's move from `before` to `after` needs. A task counts as running
 * from the moment it reaches RUNNING or anything after it (a report may skip RUNNING), so the
 * counts stay balanced whatever path the task takes to STOPPED.
 */
export function instanceEffect(before: Pick<Task, 'lastStatus'>, after: Pick<Task, 'lastStatus'>): InstanceEffect {
  const b = taskStatusRank(before.lastStatus);
  const a = taskStatusRank(after.lastStatus);
  if (b === STOPPED || a === b) return { kind: 'none' };
  if (a === STOPPED) return { kind: 'released', wasRunning: b >= RUNNING };
  if (b < RUNNING && a >= RUNNING) return { kind: 'started' };
  return { kind: 'none' };
}
