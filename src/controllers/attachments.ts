/**
 * What a service task should be attached to, as ECS decides it: a load balancer target per entry
 * of the service's `loadBalancers`, and a Cloud Map instance per entry of `serviceRegistries`.
 * Pure: the attachment controller (attachment-controller.ts) reads the task, its service and its
 * container instance, asks this module, and registers or deregisters what differs from what it
 * registered before.
 *
 * ECS's rules followed here:
 * - A task is attached once it is RUNNING and wanted (desiredStatus RUNNING) and, for Cloud Map,
 *   once its container health checks pass when it has any; it is detached as soon as it is told
 *   to stop, so traffic and DNS leave it before its containers get SIGTERM.
 * - awsvpc tasks are `ip` targets at their own address and the container port; bridge and host
 *   tasks are `instance` targets: the container instance's id and the host port bound to the
 *   container port.
 */
import type { LoadBalancer, ServiceRegistry } from '../ecs/service-shape.js';
import type { Task, TaskContainer } from '../ecs/task-shape.js';

/** A load balancer target a task should be registered as. */
export interface DesiredTarget {
  readonly targetGroupArn: string;
  readonly id: string;
  readonly port: number;
}

/** A Cloud Map instance a task should be registered as. */
export interface DesiredInstance {
  readonly serviceArn: string;
  readonly instanceId: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface TaskAttachments {
  readonly targets: readonly DesiredTarget[];
  readonly instances: readonly DesiredInstance[];
}

export const NO_ATTACHMENTS: TaskAttachments = { targets: [], instances: [] };

/** What the planner needs of a task's world beyond the task itself. */
export interface AttachmentContext {
  readonly serviceName: string;
  readonly clusterName: string;
  readonly region: string;
  readonly loadBalancers: readonly LoadBalancer[];
  readonly serviceRegistries: readonly ServiceRegistry[];
  /** The ec2InstanceId of the task's container instance (bridge/host targets), if it has one. */
  readonly ec2InstanceId?: string;
  /** The address of the task's host, for Cloud Map records of bridge/host tasks. */
  readonly hostAddress?: string;
  /** The task definition family (the ECS_TASK_DEFINITION_FAMILY attribute). */
  readonly family?: string;
  /** True when an essential container has a health check: Cloud Map then waits for HEALTHY. */
  readonly healthChecked: boolean;
}

/**
 * The attachments a task should have right now.
 *
 * @example desiredAttachments(task, { serviceName: 'web', clusterName: 'default', region: 'us-east-1',
 *   loadBalancers: [{ targetGroupArn, containerName: 'web', containerPort: 80 }], serviceRegistries: [], healthChecked: false })
 */
export function desiredAttachments(task: Task, ctx: AttachmentContext): TaskAttachments {
  if (task.desiredStatus !== 'RUNNING' || task.lastStatus !== 'RUNNING') return NO_ATTACHMENTS;
  const address = taskAddress(task);
  const targets: DesiredTarget[] = [];
  for (const lb of ctx.loadBalancers) {
    if (lb.targetGroupArn === undefined || lb.containerName === undefined || lb.containerPort === undefined) continue;
    const endpoint = endpointOf(task, address, ctx, lb.containerName, lb.containerPort);
    if (endpoint === undefined) continue;
    targets.push({ targetGroupArn: lb.targetGroupArn, ...endpoint });
  }
  const dnsReady = !ctx.healthChecked || task.healthStatus === 'HEALTHY';
  const instances: DesiredInstance[] = [];
  for (const registry of dnsReady ? ctx.serviceRegistries : []) {
    if (registry.registryArn === undefined) continue;
    const ip = address ?? ctx.hostAddress;
    if (ip === undefined) continue;
    const port = registryPort(task, address, ctx, registry);
    instances.push({
      serviceArn: registry.registryArn,
      instanceId: taskIdOf(task.taskArn),
      attributes: {
        AWS_INSTANCE_IPV4: ip,
        ...(port === undefined ? {} : { AWS_INSTANCE_PORT: String(port) }),
        AWS_INIT_HEALTH_STATUS: 'HEALTHY',
        ...(task.availabilityZone === undefined ? {} : { AVAILABILITY_ZONE: task.availabilityZone }),
        ECS_CLUSTER_NAME: ctx.clusterName,
        ECS_SERVICE_NAME: ctx.serviceName,
        ...(ctx.family === undefined ? {} : { ECS_TASK_DEFINITION_FAMILY: ctx.family }),
        REGION: ctx.region,
      },
    });
  }
  return { targets, instances };
}

/** What to undo and what to do to go from the attachments a task has to those it should have. */
export interface AttachmentDiff {
  readonly register: TaskAttachments;
  readonly deregister: TaskAttachments;
}

/**
 * The difference between two sets of attachments. A Cloud Map instance whose attributes changed
 * is registered again (RegisterInstance replaces), not removed first, so its name never vanishes.
 */
export function diffAttachments(current: TaskAttachments, desired: TaskAttachments): AttachmentDiff {
  const targetKey = (t: DesiredTarget) => `${t.targetGroupArn} ${t.id} ${t.port}`;
  const instanceKey = (i: DesiredInstance) => `${i.serviceArn} ${i.instanceId}`;
  const sameAttributes = (a: DesiredInstance, b: DesiredInstance) => JSON.stringify(sortedEntries(a.attributes)) === JSON.stringify(sortedEntries(b.attributes));
  const currentTargets = new Set(current.targets.map(targetKey));
  const desiredTargets = new Set(desired.targets.map(targetKey));
  const currentInstances = new Map(current.instances.map((i) => [instanceKey(i), i]));
  const desiredInstances = new Set(desired.instances.map(instanceKey));
  return {
    register: {
      targets: desired.targets.filter((t) => !currentTargets.has(targetKey(t))),
      instances: desired.instances.filter((i) => {
        const had = currentInstances.get(instanceKey(i));
        return had === undefined || !sameAttributes(had, i);
      }),
    },
    deregister: {
      targets: current.targets.filter((t) => !desiredTargets.has(targetKey(t))),
      instances: current.instances.filter((i) => !desiredInstances.has(instanceKey(i))),
    },
  };
}

export const isEmptyDiff = (d: AttachmentDiff): boolean =>
  d.register.targets.length + d.register.instances.length + d.deregister.targets.length + d.deregister.instances.length === 0;

/** The task's own address: set for awsvpc tasks (their ENI), absent for bridge and host tasks. */
export function taskAddress(task: Pick<Task, 'attachments' | 'containers'>): string | undefined {
  for (const a of task.attachments) {
    if (a.type !== 'ElasticNetworkInterface') continue;
    const ip = a.details.find((d) => d.name === 'privateIPv4Address')?.value;
    if (ip !== undefined && ip !== '') return ip;
  }
  return task.containers.flatMap((c) => c.networkInterfaces).find((n) => n.privateIpv4Address !== undefined)?.privateIpv4Address;
}

/** The service name of a task started by a service (`group: service:NAME`), else undefined. */
export function serviceNameOf(task: Pick<Task, 'group'>): string | undefined {
  return task.group.startsWith('service:') ? task.group.slice('service:'.length) : undefined;
}

export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf('/') + 1);
}

function endpointOf(task: Task, address: string | undefined, ctx: AttachmentContext, containerName: string, containerPort: number): { id: string; port: number } | undefined {
  if (address !== undefined) return { id: address, port: containerPort };
  if (ctx.ec2InstanceId === undefined) return undefined;
  const hostPort = hostPortOf(task.containers.find((c) => c.name === containerName), containerPort);
  return hostPort === undefined ? undefined : { id: ctx.ec2InstanceId, port: hostPort };
}

function registryPort(task: Task, address: string | undefined, ctx: AttachmentContext, registry: ServiceRegistry): number | undefined {
  if (registry.containerName !== undefined && registry.containerPort !== undefined) {
    if (address !== undefined) return registry.containerPort;
    return hostPortOf(task.containers.find((c) => c.name === registry.containerName), registry.containerPort);
  }
  return registry.port;
}

function hostPortOf(container: TaskContainer | undefined, containerPort: number): number | undefined {
  const binding = container?.networkBindings?.find((b) => b.containerPort === containerPort && (b.protocol ?? 'tcp') === 'tcp');
  return binding?.hostPort;
}

function sortedEntries(o: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
