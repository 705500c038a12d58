/**
 * The task manager's record of a task and its containers (what task.jsonl keeps, and what lives in
 * memory only), and the views made of it: the container definition and networking of a container,
 * and the task as the metadata endpoint shows it.
 */
import type { ContainerDefinition, NetworkMode, TaskDefinition } from '../ecs/task-definition-types.js';
import { effectiveContainer } from '../ecs/task-overrides.js';
import type { Task } from '../ecs/task-shape.js';
import type { ImageRecord } from '../image/index.js';
import type { ImageProcessConfig } from '../runtime/driver.js';
import { RuntimeError } from '../runtime/errors.js';
import { type ContainerNetworking, containerNetworking, ecsLabels } from './container-spec.js';
import type { HealthChecks, HealthState } from './health.js';
import type { MetadataContainer, MetadataTask, StatsPair } from './metadata.js';
import type { HealthStatus, NetworkBinding, StopCode, TaskStatus } from './protocol.js';
import type { JournalCursor } from './task-journal.js';
import { type ContainerPhase, containerStatusOf, type NetworkPhase } from './task-plan.js';

export interface ContainerRecord {
  readonly name: string;
  readonly runtimeId: string;
  readonly token: string;
  phase: ContainerPhase;
  since: number;
  createdAt?: number;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  reason?: string;
  signalledAt?: number;
  killedAt?: number;
  imageDigest?: string;
  imageId?: string;
  stopSignal?: NodeJS.Signals;
  bindings?: NetworkBinding[];
  ipv4Address?: string;
  health?: HealthState;
  // In memory only.
  image?: ImageRecord;
  imageConfig?: ImageProcessConfig;
  checks?: HealthChecks;
  waiting?: AbortController;
  stats?: StatsPair;
}

export interface TaskAttachment {
  readonly netnsPath: string;
  readonly ipv4Address: string;
  readonly gateway: string;
  readonly subnetCidr: string;
}

export interface TaskRecord {
  readonly task: Task;
  readonly td: TaskDefinition;
  readonly taskId: string;
  readonly networkMode: NetworkMode;
  desiredStatus: 'RUNNING' | 'STOPPED';
  stopCode?: StopCode;
  stopReason?: string;
  network: NetworkPhase;
  networkError?: string;
  attachment?: TaskAttachment;
  /** Addresses the metadata endpoint must answer on for this task's containers. */
  metadataAddresses: string[];
  metadataBase?: Record<string, string>;
  containers: ContainerRecord[];
  status: TaskStatus;
  health: HealthStatus;
  pullStartedAt?: number;
  pullStoppedAt?: number;
  startedAt?: number;
  executionStoppedAt?: number;
  stoppedAt?: number;
  // In memory only.
  lastReport?: string;
  /** The task status the server last heard (from us, or in the task it sent). */
  reportedStatus?: TaskStatus;
  /** A report that only fills in details, waiting to go with the next (TaskManagerOptions.reportCoalesceMs). */
  reportTimer?: NodeJS.Timeout;
  wake?: NodeJS.Timeout;
  cleanup?: NodeJS.Timeout;
  writing: Promise<void>;
  /** A write of the task's state is queued and has not begun: changes until then go in that write. */
  writeQueued?: boolean;
  /** Whether the task's directory was made (by this manager). */
  dirMade?: boolean;
  /** The state text last written (by this manager): the same again is not written. */
  written?: string;
  /** Where this manager's appends to task.jsonl stand. */
  journal: JournalCursor;
  onStopped: (() => void)[];
  removed?: boolean;
}

/** TaskRecord fields not kept as `state` in task.jsonl: those kept beside it, and those that live in memory only. */
export const TASK_FIELDS_NOT_IN_STATE = [
  'task', 'td', 'taskId', 'networkMode', 'containers', 'lastReport', 'reportedStatus', 'reportTimer', 'wake', 'cleanup', 'writing',
  'writeQueued', 'dirMade', 'written', 'journal', 'onStopped', 'removed',
] as const;
/** ContainerRecord fields that live in memory only. */
export const CONTAINER_FIELDS_IN_MEMORY = ['image', 'imageConfig', 'checks', 'waiting', 'stats'] as const;

/** A copy of `record` without `keys`, in the order its other fields had. */
export function without<T extends object, K extends keyof T>(record: T, keys: readonly K[]): Omit<T, K> {
  const copy: Partial<T> = { ...record };
  for (const key of keys) delete copy[key];
  return copy as Omit<T, K>;
}

/** What each line of task.jsonl holds. */
export interface PersistedTask {
  readonly version: 1;
  readonly task: Task;
  readonly taskDefinition: TaskDefinition;
  readonly state: Omit<TaskRecord, (typeof TASK_FIELDS_NOT_IN_STATE)[number]>;
  readonly containers: readonly Omit<ContainerRecord, (typeof CONTAINER_FIELDS_IN_MEMORY)[number]>[];
}

/** A container's definition in its task's definition. */
export function defOf(rec: TaskRecord, c: ContainerRecord): ContainerDefinition {
  const def = rec.td.containerDefinitions.find((d) => d.name === c.name);
  if (def === undefined) throw new RuntimeError('InvalidSpec', `no container ${c.name} in ${rec.td.taskDefinitionArn}`);
  return def;
}

/** Which namespace a container's network is: the task's, its own, the host's or none. */
export function networkingOf(rec: TaskRecord, c: ContainerRecord): ContainerNetworking {
  return containerNetworking(rec.networkMode, defOf(rec, c));
}

function limitsOf(rec: TaskRecord): { cpu?: number; memory?: number } {
  const cpu = Number(rec.task.overrides.cpu ?? rec.td.cpu ?? NaN);
  const memory = Number(rec.task.overrides.memory ?? rec.td.memory ?? NaN);
  return { ...(Number.isFinite(cpu) ? { cpu } : {}), ...(Number.isFinite(memory) ? { memory } : {}) };
}

/** The task as the metadata endpoint v4 shows it (/task), from the manager's record. */
export function metadataView(rec: TaskRecord, availabilityZone: string | undefined): MetadataTask {
  const containers = rec.containers.map((c): MetadataContainer => {
    const def = defOf(rec, c);
    const limits = effectiveContainer(def, rec.task.overrides.containerOverrides.find((o) => o.name === c.name));
    const networking = networkingOf(rec, c);
    const ip = networking === 'task' ? rec.attachment?.ipv4Address : networking === 'container' ? c.ipv4Address : undefined;
    const h = c.health;
    return {
      runtimeId: c.runtimeId, name: c.name, image: def.image,
      ...(c.imageId === undefined ? {} : { imageId: c.imageId }),
      labels: { ...def.dockerLabels, ...ecsLabels(rec.task, rec.td, c.name) },
      desiredStatus: rec.desiredStatus, knownStatus: containerStatusOf(c.phase),
      ...(c.exitCode === undefined ? {} : { exitCode: c.exitCode }),
      cpu: limits.cpu, ...(limits.memory === undefined ? {} : { memory: limits.memory }),
      ...(c.createdAt === undefined ? {} : { createdAt: new Date(c.createdAt) }),
      ...(c.startedAt === undefined ? {} : { startedAt: new Date(c.startedAt) }),
      ...(c.finishedAt === undefined ? {} : { finishedAt: new Date(c.finishedAt) }),
      ...(() => {
        const arn = rec.task.containers.find((tc) => tc.name === c.name)?.containerArn;
        return arn === undefined ? {} : { containerArn: arn };
      })(),
      networkMode: networking === 'none' ? 'none' : rec.networkMode,
      ...(ip === undefined ? {} : { ipv4Address: ip }),
      ...(networking === 'task' && rec.attachment ? { subnetCidr: rec.attachment.subnetCidr, gateway: rec.attachment.gateway } : {}),
      ...(c.bindings === undefined ? {} : { ports: c.bindings }),
      ...(h === undefined ? {} : {
        health: {
          status: h.status, ...(h.since === undefined ? {} : { since: new Date(h.since) }),
          ...(h.last === undefined ? {} : { exitCode: h.last.exitCode, output: h.last.output }),
        },
      }),
    };
  });
  const limits = limitsOf(rec);
  const az = rec.task.availabilityZone ?? availabilityZone;
  return {
    clusterArn: rec.task.clusterArn, taskArn: rec.task.taskArn, family: rec.td.family, revision: rec.td.revision,
    desiredStatus: rec.desiredStatus, knownStatus: rec.status, ...limits,
    ...(rec.pullStartedAt === undefined ? {} : { pullStartedAt: new Date(rec.pullStartedAt) }),
    ...(rec.pullStoppedAt === undefined ? {} : { pullStoppedAt: new Date(rec.pullStoppedAt) }),
    ...(rec.executionStoppedAt === undefined ? {} : { executionStoppedAt: new Date(rec.executionStoppedAt) }),
    ...(az === undefined ? {} : { availabilityZone: az }),
    ...(rec.task.launchType === undefined ? {} : { launchType: rec.task.launchType }),
    containers,
  };
}
