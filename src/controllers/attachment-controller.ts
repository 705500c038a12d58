/**
 * The attachment controller: the I/O side of attachments.ts. It follows service tasks in the store
 * and registers each with the load balancer target groups and Cloud Map services its service names,
 * deregistering as soon as the task is told to stop, as ECS does. What it registered for a task is
 * kept in the store (`/ecs/attachments/…`), so a restarted server undoes exactly its own work and
 * never touches targets someone registered by hand.
 *
 * It also follows the load balancer's target health, so the service controller can count a task
 * healthy only when its targets are (ECS's rule for services behind a load balancer).
 */
import { keys } from '../ecs/keys.js';
import type { ContainerInstance } from '../ecs/container-instances.js';
import type { Service } from '../ecs/service-shape.js';
import type { StoredTaskDefinition } from '../ecs/task-definition-types.js';
import type { Task } from '../ecs/task-shape.js';
import { consoleLogger, type Logger } from '../edge/index.js';
import { lbIdOf, lbKeys, type TargetGroupRecord, type TargetHealthRecord } from '../lb/model.js';
import { StoreError, type Store, type Watch, type WatchEvent } from '../store/index.js';
import {
  desiredAttachments,
  diffAttachments,
  isEmptyDiff,
  NO_ATTACHMENTS,
  serviceNameOf,
  taskIdOf,
  type DesiredInstance,
  type DesiredTarget,
  type TaskAttachments,
} from './attachments.js';
import type { TargetHealth } from './deployments.js';
import { taskStatusRank } from './task-state.js';

/** How the controller reaches the load balancer and Cloud Map: their own API functions. */
export interface AttachmentPorts {
  registerTargets(targetGroupArn: string, targets: readonly { readonly id: string; readonly port: number }[]): Promise<void>;
  deregisterTargets(targetGroupArn: string, targets: readonly { readonly id: string; readonly port: number }[]): Promise<void>;
  registerInstance(serviceArn: string, instanceId: string, attributes: Readonly<Record<string, string>>): Promise<void>;
  deregisterInstance(serviceArn: string, instanceId: string): Promise<void>;
}

export interface AttachmentControllerOptions {
  readonly store: Store;
  readonly region: string;
  readonly ports: AttachmentPorts;
  readonly logger?: Logger;
  /** Called when a target of one of the service's tasks changes health: the service's news. */
  readonly onTargetHealthChange?: (cluster: string, serviceName: string) => void;
  /** The address of a container instance's host, for Cloud Map records of bridge and host tasks. */
  readonly hostAddressOf?: (instance: ContainerInstance) => string | undefined;
  /** Pause before retrying a task whose attachments could not be applied. */
  readonly retryDelayMs?: number;
}

export interface AttachmentController {
  /** The health of a task's load balancer targets: the worst of them, or undefined without any. */
  targetHealth(taskArn: string): { readonly targetGroupArn: string; readonly state: TargetHealth } | undefined;
  /** Resolves once every task change seen so far has been applied (for tests and shutdown). */
  settled(): Promise<void>;
  /**
   * Whether the agent may be told to stop a task now: not while its targets are still registered
   * or draining. Once they are done the controller writes the task (STOPPING), which says so.
   */
  readyToStop(taskArn: string): boolean;
  close(): Promise<void>;
}

/** What the controller registered for one task, as kept in the store. */
interface AttachmentRecord {
  readonly taskArn: string;
  readonly cluster: string;
  readonly serviceName: string;
  readonly targets: readonly DesiredTarget[];
  readonly instances: readonly DesiredInstance[];
  /** While the task's targets drain before its containers stop: until when (epoch ms). */
  readonly drainUntil?: number;
}

const isEmptyRecord = (r: AttachmentRecord): boolean => r.targets.length === 0 && r.instances.length === 0 && r.drainUntil === undefined;

interface ServiceAttachments {
  readonly loadBalancers: Service['loadBalancers'];
  readonly serviceRegistries: Service['serviceRegistries'];
}

export const attachmentKeys = {
  record: (cluster: string, taskId: string) => `/ecs/attachments/${cluster}/${taskId}`,
  records: () => '/ecs/attachments/',
} as const;

/** '/ecs/tasks/' and '/ecs/services/': every cluster's. */
const TASKS = keys.tasks('').slice(0, -1);
const SERVICES = keys.services('').slice(0, -1);
const HEALTH = lbKeys.healths();
const SCAN_PAGE = 500;
const HEALTH_RANK: Readonly<Record<TargetHealth, number>> = { healthy: 0, initial: 1, unhealthy: 2 };

/**
 * Starts the controller; it runs until closed.
 *
 * @example
 * const attachments = createAttachmentController({ store, region, ports: { registerTargets, ... } });
 */
export function createAttachmentController(options: AttachmentControllerOptions): AttachmentController {
  const { store, ports } = options;
  const logger = options.logger ?? consoleLogger;
  const retryDelayMs = options.retryDelayMs ?? 1000;

  /** `${cluster}/${serviceName}` → what the service attaches its tasks to (only services that do). */
  const services = new Map<string, ServiceAttachments>();
  /** Task key → what is registered for it. */
  const records = new Map<string, AttachmentRecord>();
  const recordByArn = new Map<string, string>();
  /** Health key (lbKeys.health) → state, for targets the controller registered. */
  const health = new Map<string, TargetHealth>();
  /** Health key → task key, to tell a service its task's target changed. */
  const taskOfHealthKey = new Map<string, string>();
  /** Tasks whose attachments may be out of date; each is read afresh when its turn comes. */
  const queue = new Set<string>();
  const healthChecked = new Map<string, boolean>();
  const drainTimers = new Map<string, NodeJS.Timeout>();
  let closed = false;
  let draining: Promise<void> | undefined;
  let idleWaiters: (() => void)[] = [];
  const watches: Watch[] = [];

  const healthKeyOf = (t: DesiredTarget) => lbKeys.health(lbIdOf(t.targetGroupArn), t.id, t.port);

  function setRecord(taskKey: string, record: AttachmentRecord | undefined): void {
    const old = records.get(taskKey);
    for (const t of old?.targets ?? []) taskOfHealthKey.delete(healthKeyOf(t));
    if (record === undefined || isEmptyRecord(record)) {
      records.delete(taskKey);
      if (old !== undefined) recordByArn.delete(old.taskArn);
      return;
    }
    records.set(taskKey, record);
    recordByArn.set(record.taskArn, taskKey);
    for (const t of record.targets) taskOfHealthKey.set(healthKeyOf(t), taskKey);
  }

  function enqueue(taskKey: string): void {
    queue.add(taskKey);
    draining ??= drain().finally(() => {
      draining = undefined;
      if (queue.size > 0 && !closed) enqueue(queue.values().next().value as string);
      else for (const w of idleWaiters.splice(0)) w();
    });
  }

  async function drain(): Promise<void> {
    while (queue.size > 0 && !closed) {
      const taskKey = queue.values().next().value as string;
      queue.delete(taskKey);
      try {
        const kv = await store.get(taskKey);
        await applyTask(taskKey, kv === undefined ? undefined : (JSON.parse(kv.value) as Task));
      } catch (err) {
        if (closed || (err instanceof StoreError && err.kind === 'closed')) return;
        logger.error('could not apply a task’s load balancer and Cloud Map registrations; retrying', { task: taskKey, error: err });
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs).unref());
        queue.add(taskKey);
      }
    }
  }

  async function applyTask(taskKey: string, task: Task | undefined): Promise<void> {
    const before = records.get(taskKey);
    const current: TaskAttachments = before ?? NO_ATTACHMENTS;
    const cluster = clusterOfTaskKey(taskKey);
    const serviceName = task === undefined ? before?.serviceName : serviceNameOf(task);
    if (serviceName === undefined) return;
    const attached = services.get(`${cluster}/${serviceName}`);
    const desired = task === undefined || attached === undefined ? NO_ATTACHMENTS : await desiredFor(task, cluster, serviceName, attached);
    const diff = diffAttachments(current, desired);
    const stopping = task !== undefined && task.desiredStatus === 'STOPPED' && task.lastStatus !== 'STOPPED';
    if (isEmptyDiff(diff) && !(stopping && before?.drainUntil !== undefined)) return;

    // Deregister first: a task told to stop must leave traffic and DNS before anything else.
    for (const [tg, targets] of groupBy(diff.deregister.targets, (t) => t.targetGroupArn)) await tolerateGone(() => ports.deregisterTargets(tg, targets.map(endpoint)));
    for (const i of diff.deregister.instances) await tolerateGone(() => ports.deregisterInstance(i.serviceArn, i.instanceId));
    for (const [tg, targets] of groupBy(diff.register.targets, (t) => t.targetGroupArn)) await tolerateGone(() => ports.registerTargets(tg, targets.map(endpoint)));
    for (const i of diff.register.instances) await tolerateGone(() => ports.registerInstance(i.serviceArn, i.instanceId, i.attributes));

    // A task told to stop keeps its containers while its targets drain (ECS's DEACTIVATING), so
    // requests in flight finish; the agent hub holds its stop until readyToStop says so.
    const now = Date.now();
    let drainUntil = stopping ? before?.drainUntil : undefined;
    if (stopping && diff.deregister.targets.length > 0) drainUntil = now + 1000 * (await deregistrationDelaySeconds(diff.deregister.targets));
    const draining = drainUntil !== undefined && drainUntil > now;
    const taskArn = task?.taskArn ?? before!.taskArn;
    const record: AttachmentRecord = {
      taskArn,
      cluster,
      serviceName,
      targets: desired.targets,
      instances: desired.instances,
      ...(draining ? { drainUntil } : {}),
    };
    const key = attachmentKeys.record(cluster, taskIdOf(taskArn));
    if (isEmptyRecord(record)) await store.txn([], [{ type: 'delete', key }]);
    else await store.txn([], [{ type: 'put', key, value: JSON.stringify(record) }]);
    setRecord(taskKey, record);
    options.onTargetHealthChange?.(cluster, serviceName);

    if (!stopping) return;
    if (draining) {
      await advanceStoppingTask(taskKey, 'DEACTIVATING');
      const timer = setTimeout(() => {
        drainTimers.delete(taskKey);
        enqueue(taskKey);
      }, drainUntil! - now + 5);
      clearTimeout(drainTimers.get(taskKey));
      drainTimers.set(taskKey, timer.unref());
    } else if ((before?.targets.length ?? 0) > 0 || before?.drainUntil !== undefined) {
      // Drained (or nothing to wait for): the write wakes the hub, which now sends the stop.
      await advanceStoppingTask(taskKey, 'STOPPING');
    }
  }

  /** The longest deregistration delay of the groups the targets leave (ELBv2's default: 300 s). */
  async function deregistrationDelaySeconds(targets: readonly DesiredTarget[]): Promise<number> {
    let longest = 0;
    for (const arn of new Set(targets.map((t) => t.targetGroupArn))) {
      const kv = await store.get(lbKeys.targetGroup(lbIdOf(arn)));
      if (kv === undefined) continue;
      const delay = Number((JSON.parse(kv.value) as TargetGroupRecord).Attributes['deregistration_delay.timeout_seconds'] ?? 300);
      if (Number.isFinite(delay)) longest = Math.max(longest, delay);
    }
    return longest;
  }

  /** Moves a task that is being stopped on to `status`, unless it is already there or beyond. */
  async function advanceStoppingTask(taskKey: string, status: 'DEACTIVATING' | 'STOPPING'): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const kv = await store.get(taskKey);
      if (kv === undefined) return;
      const task = JSON.parse(kv.value) as Task;
      if (task.desiredStatus !== 'STOPPED' || taskStatusRank(task.lastStatus) >= taskStatusRank(status)) return;
      const next: Task = { ...task, lastStatus: status, version: task.version + 1 };
      const res = await store.txn([{ key: taskKey, target: 'mod', op: '=', value: kv.modRevision }], [{ type: 'put', key: taskKey, value: JSON.stringify(next) }]);
      if (res.succeeded) return;
    }
    throw new StoreError('conflict', `task ${taskKey} kept changing while it was moved to ${status}`);
  }

  async function desiredFor(task: Task, cluster: string, serviceName: string, attached: ServiceAttachments): Promise<TaskAttachments> {
    if (task.desiredStatus !== 'RUNNING' || task.lastStatus !== 'RUNNING') return NO_ATTACHMENTS;
    const instance = task.containerInstanceArn === undefined ? undefined : await readInstance(cluster, task.containerInstanceArn);
    const hostAddress = instance === undefined ? undefined : options.hostAddressOf?.(instance);
    const { family } = parseTaskDefinitionArn(task.taskDefinitionArn);
    return desiredAttachments(task, {
      serviceName,
      clusterName: cluster,
      region: options.region,
      loadBalancers: attached.loadBalancers,
      serviceRegistries: attached.serviceRegistries,
      ...(instance === undefined ? {} : { ec2InstanceId: instance.ec2InstanceId }),
      ...(hostAddress === undefined ? {} : { hostAddress }),
      ...(family === undefined ? {} : { family }),
      healthChecked: await isHealthChecked(task.taskDefinitionArn),
    });
  }

  async function readInstance(cluster: string, arn: string): Promise<ContainerInstance | undefined> {
    const kv = await store.get(keys.containerInstance(cluster, arn.slice(arn.lastIndexOf('/') + 1)));
    return kv === undefined ? undefined : (JSON.parse(kv.value) as ContainerInstance);
  }

  async function isHealthChecked(taskDefinitionArn: string): Promise<boolean> {
    const cached = healthChecked.get(taskDefinitionArn);
    if (cached !== undefined) return cached;
    const { family, revision } = parseTaskDefinitionArn(taskDefinitionArn);
    if (family === undefined || revision === undefined) return false;
    const kv = await store.get(keys.taskDefinition(family, revision));
    if (kv === undefined) return false;
    const td = JSON.parse(kv.value) as StoredTaskDefinition;
    const checked = td.containerDefinitions.some((c) => (c.essential ?? true) && c.healthCheck !== undefined);
    if (healthChecked.size > 1024) healthChecked.clear();
    healthChecked.set(taskDefinitionArn, checked);
    return checked;
  }

  async function tolerateGone(call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (err) {
      // A target group or Cloud Map service deleted under a service: nothing left to undo or do there.
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && /NotFound/.test(code)) {
        logger.warn('a load balancer or Cloud Map resource named by a service is gone', { error: err });
        return;
      }
      throw err;
    }
  }

  // ---- following the store -------------------------------------------------------------------

  function onService(key: string, value: string | undefined): void {
    const rest = key.slice(SERVICES.length);
    const cluster = rest.slice(0, rest.indexOf('/'));
    const name = rest.slice(rest.indexOf('/') + 1);
    const id = `${cluster}/${name}`;
    const before = services.get(id);
    const service = value === undefined ? undefined : (JSON.parse(value) as Service);
    const attached = service !== undefined && service.status !== 'INACTIVE' && (service.loadBalancers.length > 0 || service.serviceRegistries.length > 0);
    if (attached) services.set(id, { loadBalancers: service.loadBalancers, serviceRegistries: service.serviceRegistries });
    else services.delete(id);
    if (JSON.stringify(before) === JSON.stringify(services.get(id))) return;
    if (!attached) {
      for (const [taskKey, r] of records) if (r.cluster === cluster && r.serviceName === name) enqueue(taskKey);
      return;
    }
    void rescanCluster(cluster, name).catch((err: unknown) => {
      if (!closed) logger.error('could not read a service’s tasks', { service: id, error: err });
    });
  }

  async function rescanCluster(cluster: string, serviceName: string): Promise<void> {
    await eachKv(keys.tasks(cluster), (key, value) => {
      const task = JSON.parse(value) as Task;
      if (serviceNameOf(task) === serviceName) enqueue(key);
    });
  }

  function onTask(key: string, value: string | undefined): void {
    if (value === undefined) {
      if (records.has(key)) enqueue(key);
      return;
    }
    const cluster = clusterOfTaskKey(key);
    // Cheap test first: most tasks in a big cluster belong to services without attachments.
    if (!records.has(key) && !hasAttachedServiceIn(cluster)) return;
    const task = JSON.parse(value) as Task;
    const name = serviceNameOf(task);
    if (records.has(key) || (name !== undefined && services.has(`${cluster}/${name}`))) enqueue(key);
  }

  function hasAttachedServiceIn(cluster: string): boolean {
    for (const id of services.keys()) if (id.startsWith(`${cluster}/`)) return true;
    return false;
  }

  function onHealth(key: string, value: string | undefined): void {
    const taskKey = taskOfHealthKey.get(key);
    const state = value === undefined ? undefined : (JSON.parse(value) as TargetHealthRecord).State;
    if (state === undefined) health.delete(key);
    else health.set(key, state);
    if (taskKey === undefined) return;
    const r = records.get(taskKey);
    if (r !== undefined) options.onTargetHealthChange?.(r.cluster, r.serviceName);
  }

  async function eachKv(prefix: string, fn: (key: string, value: string) => void): Promise<number> {
    let startAfter: string | undefined;
    let revision = 0;
    for (;;) {
      const page = await store.range(prefix, { limit: SCAN_PAGE, ...(startAfter === undefined ? {} : { startAfter }) });
      revision = Math.max(revision, page.revision);
      for (const kv of page.kvs) fn(kv.key, kv.value);
      if (!page.more || page.kvs.length === 0) return revision;
      startAfter = page.kvs[page.kvs.length - 1]!.key;
    }
  }

  async function follow(prefix: string, from: number, fn: (e: WatchEvent) => void): Promise<void> {
    const watch = store.watch(prefix, { fromRevision: from + 1 });
    watches.push(watch);
    for await (const batch of watch) for (const e of batch) fn(e);
  }

  async function run(): Promise<void> {
    const from = await store.revision();
    await eachKv(attachmentKeys.records(), (_key, value) => {
      const r = JSON.parse(value) as AttachmentRecord;
      setRecord(keys.task(r.cluster, taskIdOf(r.taskArn)), r);
    });
    await eachKv(HEALTH, (key, value) => health.set(key, (JSON.parse(value) as TargetHealthRecord).State));
    await eachKv(SERVICES, (key, value) => onService(key, value));
    // Tasks of attached services, and tasks with records (a task deleted while the server was down).
    const seen = new Set<string>();
    await eachKv(TASKS, (key, value) => {
      seen.add(key);
      onTask(key, value);
    });
    for (const key of records.keys()) if (!seen.has(key)) enqueue(key);
    const onEvent = (handler: (key: string, value: string | undefined) => void) => (e: WatchEvent) => handler(e.kv.key, e.type === 'put' ? e.kv.value : undefined);
    await Promise.all([follow(SERVICES, from, onEvent(onService)), follow(TASKS, from, onEvent(onTask)), follow(HEALTH, from, onEvent(onHealth))]);
  }

  const running = run().catch((err: unknown) => {
    if (!closed && !(err instanceof StoreError && err.kind === 'closed')) logger.error('the attachment controller stopped', { error: err });
  });

  return {
    targetHealth(taskArn) {
      const taskKey = recordByArn.get(taskArn);
      const r = taskKey === undefined ? undefined : records.get(taskKey);
      if (r === undefined || r.targets.length === 0) return undefined;
      let worst: { targetGroupArn: string; state: TargetHealth } | undefined;
      for (const t of r.targets) {
        const state = health.get(healthKeyOf(t)) ?? 'initial';
        if (worst === undefined || HEALTH_RANK[state] > HEALTH_RANK[worst.state]) worst = { targetGroupArn: t.targetGroupArn, state };
      }
      return worst;
    },
    readyToStop(taskArn) {
      const taskKey = recordByArn.get(taskArn);
      const r = taskKey === undefined ? undefined : records.get(taskKey);
      return r === undefined || (r.targets.length === 0 && (r.drainUntil === undefined || r.drainUntil <= Date.now()));
    },
    async settled() {
      if (draining === undefined && queue.size === 0) return;
      await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    async close() {
      closed = true;
      for (const t of drainTimers.values()) clearTimeout(t);
      drainTimers.clear();
      for (const w of watches) w.close();
      await running;
      await draining;
      idleWaiters = [];
    },
  };
}

function clusterOfTaskKey(taskKey: string): string {
  const rest = taskKey.slice(TASKS.length);
  return rest.slice(0, rest.indexOf('/'));
}

function parseTaskDefinitionArn(arn: string): { family?: string; revision?: number } {
  const m = /task-definition\/([^:]+):(\d+)$/.exec(arn);
  return m === null ? {} : { family: m[1]!, revision: Number(m[2]) };
}

const endpoint = (t: DesiredTarget) => ({ id: t.id, port: t.port });

function groupBy<T>(items: readonly T[], keyOf: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    const list = out.get(k);
    if (list === undefined) out.set(k, [item]);
    else list.push(item);
  }
  return out;
}
