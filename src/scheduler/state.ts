/**
 * The world as the placement pipeline sees it: a read-only snapshot of a cluster's container
 * instances, read by the caller at one store revision. The pipeline never writes to it.
 */

/**
 * One container instance at the snapshot's revision.
 *
 * Terms: `free` is what is left for new tasks (ECS's remainingResources); `reservedPorts` are host
 * ports already taken (by the agent or by tasks); `taskGroups` counts the instance's tasks that have
 * not stopped, by task group (`service:web`, `family:batch`), which spread, distinctInstance and the
 * query language's `task:group` all read.
 */
export interface InstanceState {
  /** The container instance id (the last part of its ARN). */
  readonly id: string;
  /** ECS container instance status: only ACTIVE instances take tasks. */
  readonly status: string;
  /** Only instances whose agent is connected take tasks (ECS's AGENT failure otherwise). */
  readonly agentConnected: boolean;
  readonly registeredAt?: Date | undefined;
  readonly ec2InstanceId?: string | undefined;
  readonly agentVersion?: string | undefined;
  /** Which launch type's tasks the instance runs: EC2, or EXTERNAL for ECS Anywhere hosts. */
  readonly launchType: 'EC2' | 'EXTERNAL';
  /** Attributes by name; null for an attribute present without a value (ecs.capability.*). */
  readonly attributes: Readonly<Record<string, string | null>>;
  /** CPU units (1024 a core), memory in MiB and whole GPUs still free for new tasks. */
  readonly free: { readonly cpu: number; readonly memory: number; readonly gpus: number };
  /** Host ports already taken, per protocol. */
  readonly reservedPorts: { readonly tcp: ReadonlySet<number>; readonly udp: ReadonlySet<number> };
  /** Tasks on the instance that have not stopped, counted by task group. */
  readonly taskGroups: ReadonlyMap<string, number>;
  /** Tasks on the instance with desiredStatus RUNNING (ContainerInstance.runningTasksCount). */
  readonly runningTasksCount: number;
}

/** A cluster at one revision: the instances placement may choose from, in any order. */
export interface ClusterState {
  readonly instances: readonly InstanceState[];
}

/** An empty port set to share between instances that have none reserved. */
export const NO_PORTS: ReadonlySet<number> = new Set<number>();
