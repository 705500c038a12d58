/**
 * The Task object (botocore ecs 2014-11-13) as Berth stores it under keys.task and returns it on the
 * wire, and the pure steps of its life this module owns: building a new task, and StopTask's state
 * change. The agent (a later issue) moves lastStatus; only these helpers change desiredStatus.
 */
import type { NetworkMode, TaskDefinition } from './task-definition-types.js';
import type { Attachment, KeyValue } from './network-configuration.js';
import type { Tag } from './tags.js';
import { effectiveNetworkMode, parseTaskCpu, parseTaskMemory } from './task-definition-rules.js';
import { effectiveContainer, type TaskOverride } from './task-overrides.js';

export const TASK_STOP_CODES = [
  'TaskFailedToStart',
  'EssentialContainerExited',
  'UserInitiated',
  'ServiceSchedulerInitiated',
  'SpotInterruption',
  'TerminationNotice',
] as const;
export type TaskStopCode = (typeof TASK_STOP_CODES)[number];

export interface NetworkBinding {
  readonly bindIP?: string;
  readonly containerPort?: number;
  readonly hostPort?: number;
  readonly protocol?: 'tcp' | 'udp';
  readonly containerPortRange?: string;
  readonly hostPortRange?: string;
}

export interface TaskNetworkInterface {
  readonly attachmentId?: string;
  readonly privateIpv4Address?: string;
  readonly ipv6Address?: string;
}

/** Task.containers[] on the wire. cpu/memory are strings, as ECS returns them. */
export interface TaskContainer {
  readonly containerArn: string;
  readonly taskArn: string;
  readonly name: string;
  readonly image: string;
  readonly imageDigest?: string;
  readonly runtimeId?: string;
  readonly lastStatus: string;
  readonly exitCode?: number;
  readonly reason?: string;
  readonly networkBindings?: readonly NetworkBinding[];
  readonly networkInterfaces: readonly TaskNetworkInterface[];
  readonly healthStatus?: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  readonly cpu: string;
  readonly memory?: string;
  readonly memoryReservation?: string;
  readonly gpuIds?: readonly string[];
}

/**
 * A task, exactly as DescribeTasks returns it (timestamps in epoch seconds). For EC2 and EXTERNAL
 * tasks `cpu` and `memory` are what the task reserves on its container instance (the task-level
 * values when the task definition sets them, else the sum over its containers), so releasing the
 * reservation needs only the task and its task definition's port mappings.
 */
export interface Task {
  readonly attachments: readonly Attachment[];
  readonly attributes: readonly KeyValue[];
  readonly availabilityZone?: string;
  readonly capacityProviderName?: string;
  readonly clusterArn: string;
  readonly connectivity?: 'CONNECTED' | 'DISCONNECTED';
  readonly connectivityAt?: number;
  readonly containerInstanceArn?: string;
  readonly containers: readonly TaskContainer[];
  readonly cpu?: string;
  readonly createdAt: number;
  readonly desiredStatus: 'RUNNING' | 'STOPPED';
  readonly enableExecuteCommand: boolean;
  readonly executionStoppedAt?: number;
  readonly group: string;
  readonly healthStatus: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  readonly lastStatus: string;
  readonly launchType?: 'EC2' | 'FARGATE' | 'EXTERNAL';
  readonly memory?: string;
  readonly overrides: TaskOverride;
  readonly platformVersion?: string;
  readonly platformFamily?: string;
  readonly pullStartedAt?: number;
  readonly pullStoppedAt?: number;
  readonly startedAt?: number;
  readonly startedBy?: string;
  readonly stopCode?: TaskStopCode;
  readonly stoppedAt?: number;
  readonly stoppedReason?: string;
  readonly stoppingAt?: number;
  readonly tags: readonly Tag[];
  readonly taskArn: string;
  readonly taskDefinitionArn: string;
  readonly version: number;
  readonly ephemeralStorage?: { readonly sizeInGiB: number };
  readonly fargateEphemeralStorage?: { readonly sizeInGiB: number; readonly kmsKeyId?: string };
}

/** ECS timestamps on the wire: epoch seconds with milliseconds. */
export const epochSeconds = (d: Date): number => d.getTime() / 1000;

/** Fargate's default ephemeral storage, in GiB. */
export const DEFAULT_FARGATE_STORAGE_GIB = 20;

/** What one task reserves on a container instance. */
export interface TaskReservation {
  readonly cpu: number;
  readonly memory: number;
  readonly tcpPorts: readonly number[];
  readonly udpPorts: readonly number[];
}

type TaskDefinitionForTask = Pick<
  TaskDefinition,
  'taskDefinitionArn' | 'family' | 'containerDefinitions' | 'networkMode' | 'cpu' | 'memory' | 'ephemeralStorage' | 'runtimePlatform'
>;

/**
 * Static host ports a task holds on its instance: in host mode every container port, in bridge
 * mode the mappings with a fixed hostPort; awsvpc tasks have their own ENI and hold none.
 */
export function staticHostPorts(td: Pick<TaskDefinition, 'containerDefinitions' | 'networkMode'>): { tcp: number[]; udp: number[] } {
  const mode: NetworkMode = effectiveNetworkMode(td);
  const tcp: number[] = [];
  const udp: number[] = [];
  if (mode !== 'bridge' && mode !== 'host') return { tcp, udp };
  for (const c of td.containerDefinitions) {
    for (const pm of c.portMappings) {
      const port = mode === 'host' ? (pm.hostPort ?? pm.containerPort) : pm.hostPort;
      if (port === undefined || port === 0) continue;
      (pm.protocol === 'udp' ? udp : tcp).push(port);
    }
  }
  return { tcp, udp };
}

/**
 * CPU units and MiB a task uses: the task-level values (override, else task definition) when set,
 * else the sum over containers of cpu and of memoryReservation (or memory), as ECS reserves them.
 */
export function taskSize(td: TaskDefinitionForTask, overrides: TaskOverride): { cpu: number; memory: number } {
  const byName = new Map(overrides.containerOverrides.map((o) => [o.name, o]));
  const containers = td.containerDefinitions.map((c) => effectiveContainer(c, byName.get(c.name)));
  const taskCpu = parseTaskCpu(overrides.cpu ?? td.cpu ?? '');
  const taskMemory = parseTaskMemory(overrides.memory ?? td.memory ?? '');
  return {
    cpu: taskCpu ?? containers.reduce((sum, c) => sum + c.cpu, 0),
    memory: taskMemory ?? containers.reduce((sum, c) => sum + (c.memoryReservation ?? c.memory ?? 0), 0),
  };
}

/** What a new task of `td` with `overrides` reserves on the instance it is placed on. */
export function taskReservation(td: TaskDefinitionForTask, overrides: TaskOverride): TaskReservation {
  const { cpu, memory } = taskSize(td, overrides);
  const ports = staticHostPorts(td);
  return { cpu, memory, tcpPorts: ports.tcp, udpPorts: ports.udp };
}

/** Where and how a new task runs, decided by the caller (placement, launch resolution). */
export interface NewTask {
  readonly taskArn: string;
  readonly clusterArn: string;
  readonly td: TaskDefinitionForTask;
  readonly overrides: TaskOverride;
  readonly launchType: 'EC2' | 'FARGATE' | 'EXTERNAL';
  readonly capacityProviderName?: string;
  /** Fargate only: the platform version the task runs on (already resolved from LATEST). */
  readonly platformVersion?: string;
  readonly containerInstanceArn?: string;
  readonly availabilityZone?: string;
  /** awsvpc only: the task's ENI attachment. */
  readonly attachment?: Attachment;
  /** One ARN per container of the task definition, in its order. */
  readonly containerArns: readonly string[];
  readonly group: string;
  readonly startedBy?: string;
  readonly tags: readonly Tag[];
  readonly enableExecuteCommand: boolean;
  readonly now: Date;
}

const platformFamilyOf = (td: TaskDefinitionForTask): string => {
  const os = td.runtimePlatform?.operatingSystemFamily;
  return os === undefined || os === 'LINUX' ? 'Linux' : os;
};

/**
 * A new task as RunTask and StartTask return it: desiredStatus RUNNING, lastStatus PROVISIONING
 * when it waits for an ENI (awsvpc, Fargate) else PENDING, containers PENDING, version 1.
 */
export function buildTask(n: NewTask): Task {
  const { td, overrides } = n;
  const size = taskSize(td, overrides);
  const byName = new Map(overrides.containerOverrides.map((o) => [o.name, o]));
  const fargate = n.launchType === 'FARGATE';
  const awsvpc = effectiveNetworkMode(td) === 'awsvpc';
  const containers: TaskContainer[] = td.containerDefinitions.map((c, i) => {
    const eff = effectiveContainer(c, byName.get(c.name));
    return {
      containerArn: n.containerArns[i]!,
      taskArn: n.taskArn,
      name: c.name,
      image: c.image,
      lastStatus: 'PENDING',
      networkInterfaces: [],
      ...(c.healthCheck === undefined ? {} : { healthStatus: 'UNKNOWN' as const }),
      cpu: String(eff.cpu),
      ...(eff.memory === undefined ? {} : { memory: String(eff.memory) }),
      ...(eff.memoryReservation === undefined ? {} : { memoryReservation: String(eff.memoryReservation) }),
    };
  });
  const storage = overrides.ephemeralStorage?.sizeInGiB ?? td.ephemeralStorage?.sizeInGiB ?? DEFAULT_FARGATE_STORAGE_GIB;
  const arch = (td.runtimePlatform?.cpuArchitecture ?? 'X86_64').toLowerCase();
  return {
    attachments: n.attachment === undefined ? [] : [n.attachment],
    attributes: fargate ? [{ name: 'ecs.cpu-architecture', value: arch }] : [],
    ...(n.availabilityZone === undefined ? {} : { availabilityZone: n.availabilityZone }),
    ...(n.capacityProviderName === undefined ? {} : { capacityProviderName: n.capacityProviderName }),
    clusterArn: n.clusterArn,
    ...(n.containerInstanceArn === undefined ? {} : { containerInstanceArn: n.containerInstanceArn }),
    containers,
    cpu: String(size.cpu),
    createdAt: epochSeconds(n.now),
    desiredStatus: 'RUNNING',
    enableExecuteCommand: n.enableExecuteCommand,
    group: n.group,
    healthStatus: 'UNKNOWN',
    lastStatus: awsvpc || fargate ? 'PROVISIONING' : 'PENDING',
    launchType: n.launchType,
    memory: String(size.memory),
    overrides,
    ...(fargate ? { platformVersion: n.platformVersion ?? '1.4.0', platformFamily: platformFamilyOf(td) } : {}),
    ...(n.startedBy === undefined ? {} : { startedBy: n.startedBy }),
    tags: [...n.tags],
    taskArn: n.taskArn,
    taskDefinitionArn: td.taskDefinitionArn,
    version: 1,
    ...(fargate ? { ephemeralStorage: { sizeInGiB: storage }, fargateEphemeralStorage: { sizeInGiB: storage } } : {}),
  };
}

/**
 * Whether an agent may already be working on the task. Until an agent reports progress (a lastStatus
 * past PENDING, or pullStartedAt), nothing runs, so a stop can finish at once. The agent session
 * (a later issue) must treat a task the control plane has marked STOPPED as final.
 */
export function hasReachedAgent(task: Pick<Task, 'lastStatus' | 'pullStartedAt'>): boolean {
  return !(task.lastStatus === 'PROVISIONING' || task.lastStatus === 'PENDING') || task.pullStartedAt !== undefined;
}

export interface StopRequest {
  readonly stopCode: TaskStopCode;
  readonly reason: string;
  readonly now: Date;
}

/**
 * The task after a stop request: desiredStatus STOPPED with stopCode, stoppedReason and stoppingAt.
 * A task no agent has picked up is finished on the spot (lastStatus STOPPED, stoppedAt,
 * executionStoppedAt; its ENI DELETED; its tags dropped, as ECS deletes a stopped task's tags);
 * otherwise lastStatus stays for the agent to move. A task already told to stop is left as it is.
 */
export function stopTask(task: Task, req: StopRequest): Task {
  if (task.desiredStatus === 'STOPPED') return task;
  const at = epochSeconds(req.now);
  const stopping: Task = {
    ...task,
    desiredStatus: 'STOPPED',
    stopCode: req.stopCode,
    stoppedReason: req.reason,
    stoppingAt: at,
    version: task.version + 1,
  };
  if (hasReachedAgent(task)) return stopping;
  return {
    ...stopping,
    lastStatus: 'STOPPED',
    stoppedAt: at,
    executionStoppedAt: at,
    containers: task.containers.map((c) => ({ ...c, lastStatus: 'STOPPED' })),
    attachments: task.attachments.map((a) => ({ ...a, status: 'DELETED' })),
    tags: [],
  };
}

/** The task's family and revision, from its task definition ARN. */
export function taskDefinitionRefOf(task: Pick<Task, 'taskDefinitionArn'>): { family: string; revision: number } | undefined {
  const m = /:task-definition\/([^:]+):(\d+)$/.exec(task.taskDefinitionArn);
  return m ? { family: m[1]!, revision: Number(m[2]) } : undefined;
}
