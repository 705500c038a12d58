/**
 * The agent session protocol: JSON messages over one WebSocket between `berth agent` (one per host)
 * and the server (`/agent` on the API port). The agent talks to the server only through these
 * messages; the server keeps the truth in the Store. Shapes reuse ECS's wire words
 * (SubmitTaskStateChange, ContainerStateChange, NetworkBinding) so the mapping stays obvious.
 */
import type { Task } from '../ecs/task-shape.js';
import type { TaskDefinition } from '../ecs/task-definition-types.js';

export const AGENT_SESSION_PATH = '/agent';
export const PROTOCOL_VERSION = 1;

export interface ResourceSpec {
  readonly name: 'CPU' | 'MEMORY' | 'PORTS' | 'PORTS_UDP';
  readonly type: 'INTEGER' | 'STRINGSET';
  readonly integerValue?: number;
  readonly stringSetValue?: readonly string[];
}

export interface NetworkBinding {
  readonly bindIP: string;
  readonly containerPort: number;
  readonly hostPort: number;
  readonly protocol: 'tcp' | 'udp';
}

/** ECS container lastStatus values. */
export type ContainerStatus = 'PENDING' | 'RUNNING' | 'STOPPED';
/** The task lastStatus values an agent reports (ECS's lifecycle). */
export type TaskStatus = 'PROVISIONING' | 'PENDING' | 'ACTIVATING' | 'RUNNING' | 'DEACTIVATING' | 'STOPPING' | 'DEPROVISIONING' | 'STOPPED';
export type HealthStatus = 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
export type StopCode = 'TaskFailedToStart' | 'EssentialContainerExited' | 'UserInitiated' | 'ServiceSchedulerInitiated';

export interface ContainerStateChange {
  readonly containerName: string;
  /** The runtime's id for the container (ECS's runtimeId / DockerId). */
  readonly runtimeId?: string;
  readonly imageDigest?: string;
  readonly status: ContainerStatus;
  readonly exitCode?: number;
  readonly reason?: string;
  readonly networkBindings?: readonly NetworkBinding[];
  readonly healthStatus?: HealthStatus;
}

export interface TaskStateChange {
  readonly taskArn: string;
  readonly status: TaskStatus;
  readonly reason?: string;
  readonly stopCode?: StopCode;
  readonly containers: readonly ContainerStateChange[];
  /** Informational: the server derives the task's health from its essential containers' health. */
  readonly healthStatus?: HealthStatus;
  /** The task's address in awsvpc mode. */
  readonly privateIPv4Address?: string;
  /** Epoch milliseconds, as measured on the agent. */
  readonly pullStartedAt?: number;
  readonly pullStoppedAt?: number;
  readonly startedAt?: number;
  readonly executionStoppedAt?: number;
}

export interface ContainerUsage {
  readonly containerName: string;
  /** Cumulative CPU time in nanoseconds. */
  readonly cpuNanos: number;
  readonly memoryBytes: number;
  readonly memoryLimitBytes?: number;
}

/** Agent → server. */
export type AgentMessage =
  | {
      readonly type: 'hello';
      readonly protocolVersion: number;
      readonly cluster: string;
      /** Set when re-connecting as an already registered instance. */
      readonly containerInstanceArn?: string;
      readonly totalResources: readonly ResourceSpec[];
      readonly attributes: readonly { readonly name: string; readonly value?: string }[];
      readonly agentVersion: string;
      readonly hostname: string;
      /** Tasks the agent is running now (after a restart it re-adopted them). */
      readonly runningTaskArns: readonly string[];
    }
  /**
   * `seq` (set by the session client, increasing over the agent's life) lets the server ack the
   * change once it is stored; the client resends unacked changes after a reconnect, and the server
   * applies a change twice harmlessly (statuses only move forward).
   */
  | { readonly type: 'taskStateChange'; readonly change: TaskStateChange; readonly seq?: number }
  | { readonly type: 'stats'; readonly at: number; readonly tasks: readonly { readonly taskArn: string; readonly containers: readonly ContainerUsage[] }[] }
  | { readonly type: 'heartbeat'; readonly at: number };

/** Server → agent. */
export type ServerMessage =
  | { readonly type: 'welcome'; readonly containerInstanceArn: string; readonly heartbeatMs: number }
  /** Start this task (idempotent: a task the agent already runs is ignored). */
  | { readonly type: 'runTask'; readonly task: Task; readonly taskDefinition: TaskDefinition }
  /**
   * Stop this task (idempotent). A task the agent does not run is answered with a STOPPED
   * taskStateChange, so the control plane can finish a task whose host lost it.
   */
  | { readonly type: 'stopTask'; readonly taskArn: string; readonly reason?: string; readonly stopCode?: StopCode }
  /** The taskStateChange with this seq (and every earlier one) is stored or refused for good: forget it. */
  | { readonly type: 'ack'; readonly seq: number }
  | { readonly type: 'heartbeat'; readonly at: number }
  /** The server refuses the session (bad hello, unknown cluster…); the agent logs it and retries later. */
  | { readonly type: 'error'; readonly code: string; readonly message: string };
