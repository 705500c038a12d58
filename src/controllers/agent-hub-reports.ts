/**
 * Agent reports → the store, in group commits. Reports that arrive while a commit is under way (or
 * in the same event-loop turn) are written together in ONE transaction: each task with
 * compare-and-swap on its revision, its ListTasks index entry, and each container instance's counts
 * and reservation once for all of its reports. A report's outcome is given only once the commit
 * holding it is durable (the store resolves txn() then), so an agent never forgets a change that
 * could still be lost.
 *
 * Reports about one task are applied in the order they were written; one the store cannot take
 * (its task is gone or on another instance) is refused alone and the rest of its batch commits.
 * When a batch keeps losing its compare-and-swap to other writers (the service controller stopping
 * tasks, placements reserving on the same instances), its reports are written one by one instead.
 *
 * Tasks are read from a bounded cache of what the hub's task feed and this writer's own commits
 * last showed, with their revisions; the compare-and-swap proves an entry current, and a batch
 * that finds one stale is decided again from the store.
 */
import type { TaskStateChange } from '../agent/protocol.js';
import type { ContainerInstance } from '../ecs/container-instances.js';
import { keys } from '../ecs/keys.js';
import { readJson, type Stored } from '../ecs/repo.js';
import type { TaskDefinition } from '../ecs/task-definition-types.js';
import { releaseOnInstance } from '../ecs/task-reservation.js';
import { taskReservation, type Task, type TaskReservation } from '../ecs/task-shape.js';
import { taskIndexOps } from '../ecs/tasks.js';
import { BerthError } from '../protocols/index.js';
import type { Compare, Op, Store } from '../store/index.js';
import { applyTaskStateChange, instanceEffect } from './task-state.js';

/** Which container instance a report speaks for. */
export interface ReportingInstance {
  readonly cluster: string;
  /** The instance id (the last part of its ARN). */
  readonly id: string;
  readonly arn: string;
}

export type ReportOutcome = { readonly task: Task } | { readonly refused: { readonly code: string; readonly message: string } };

export interface ReportWriterOptions {
  readonly store: Store;
  readonly now: () => Date;
  /** The task's task definition (for its essential containers and reservation), cached by the caller. */
  readonly taskDefinitionOf: (task: Task) => Promise<TaskDefinition | undefined>;
  /** At most this many reports in one transaction (default 128). */
  readonly maxBatch?: number;
  /** At most this many operations in one transaction (default 128, etcd's default --max-txn-ops). */
  readonly maxOps?: number;
  /** How many tasks the read cache keeps (default 10,000; 0: none). */
  readonly cacheSize?: number;
}

export interface ReportWriter {
  /**
   * Queues a report of `instance` about the task `taskId` of its cluster. Resolves with the task as
   * stored (or as it was, when the report changed nothing) once durable, or with why it was refused;
   * rejects when the store failed (nothing of it can be taken as stored).
   */
  write(instance: ReportingInstance, taskId: string, change: TaskStateChange): Promise<ReportOutcome>;
  /**
   * What the store holds for a task key at `modRevision` (its JSON text), as a watch showed it;
   * `undefined` when it was deleted. Only ever a hint: a stale one costs a failed compare.
   */
  observe(key: string, value: string | undefined, modRevision: number): void;
  /** Resolves once every report queued so far has its outcome. */
  drain(): Promise<void>;
  /** Reports written and without an outcome yet (the hub stops reading agents while it is large). */
  readonly backlog: number;
}

/** Fresh decisions a batch gets when its compare-and-swap fails, before its reports go one by one. */
const BATCH_ATTEMPTS = 3;
/** Compare-and-swap attempts of one report written alone. */
const SINGLE_ATTEMPTS = 20;
const DEFAULT_MAX_BATCH = 128;
const DEFAULT_MAX_OPS = 128;
const DEFAULT_CACHE_SIZE = 10_000;

interface Queued {
  readonly instance: ReportingInstance;
  readonly taskId: string;
  readonly change: TaskStateChange;
  /** How often it was put back for a later batch because a key it touches moved. */
  putBack: number;
  readonly resolve: (outcome: ReportOutcome) => void;
  readonly reject: (err: unknown) => void;
}

/** One task as the batch reads and changes it. */
interface TaskSlot {
  readonly key: string;
  readonly cluster: string;
  readonly stored: Stored<Task> | undefined;
  current: Task | undefined;
}

interface InstanceSlot {
  readonly key: string;
  readonly stored: Stored<ContainerInstance> | undefined;
  current: ContainerInstance | undefined;
}

/** A batch decided: what each report gets, and the transaction that stores them all. */
interface Plan {
  readonly outcomes: (ReportOutcome | { readonly error: unknown })[];
  readonly compares: Compare[];
  readonly ops: Op[];
  /** The task keys the plan read (its puts of them go to the cache once durable). */
  readonly tasks: ReadonlySet<string>;
}

/**
 * @example
 *   const reports = createReportWriter({ store, now: () => new Date(), taskDefinitionOf });
 *   const outcome = await reports.write(instance, taskId, change); // durable once it resolves
 */
export function createReportWriter(options: ReportWriterOptions): ReportWriter {
  const { store } = options;
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const maxOps = options.maxOps ?? DEFAULT_MAX_OPS;
  const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  const queue: Queued[] = [];
  /** Reports written and not yet settled (counted down before their outcome is handed over). */
  let unsettled = 0;
  let flushing: Promise<void> | undefined;
  /** Task key → its JSON text and revision, oldest entry first (Map order), at most cacheSize. */
  const cache = new Map<string, { readonly value: string; readonly modRevision: number }>();

  function remember(key: string, value: string, modRevision: number): void {
    if (cacheSize === 0) return;
    const known = cache.get(key);
    if (known !== undefined && known.modRevision >= modRevision) return;
    cache.delete(key);
    cache.set(key, { value, modRevision });
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
  }

  /** The task at `key`: from the cache unless `fresh`, else (and on a miss) from the store. */
  async function readTask(key: string, fresh: boolean): Promise<Stored<Task> | undefined> {
    const cached = fresh ? undefined : cache.get(key);
    if (cached !== undefined) return { value: JSON.parse(cached.value) as Task, modRevision: cached.modRevision };
    const kv = await store.get(key);
    if (kv === undefined) {
      cache.delete(key);
      return undefined;
    }
    remember(key, kv.value, kv.modRevision);
    return { value: JSON.parse(kv.value) as Task, modRevision: kv.modRevision };
  }

  function schedule(): void {
    if (flushing !== undefined) return; // The running flush takes what arrived meanwhile as its next batch.
    flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(flush)
      .finally(() => {
        flushing = undefined;
        if (queue.length > 0) schedule();
      });
  }

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        await commit(batch);
      } catch (err) {
        for (const item of batch) item.reject(err);
      }
    }
  }

  /** Commits a batch, smaller if its transaction would hold too many operations; settles every item. */
  async function commit(batch: Queued[]): Promise<void> {
    for (let attempt = 0; attempt < BATCH_ATTEMPTS; attempt++) {
      // After a failed compare the cache is not to be trusted for this batch.
      const plan = await decide(batch, attempt > 0);
      if (plan.ops.length > maxOps && batch.length > 1) {
        // Too big for one transaction: the second half goes back to the front of the queue, in order.
        queue.unshift(...batch.splice(Math.ceil(batch.length / 2)));
        attempt--;
        continue;
      }
      if (await stored(plan)) {
        plan.outcomes.forEach((outcome, i) => {
          if ('error' in outcome) batch[i]!.reject(outcome.error);
          else batch[i]!.resolve(outcome);
        });
        return;
      }
      // Another writer moved some of the keys (a placement reserving on one of the instances): the
      // reports that touch none of them go on at once; the others wait for a later batch, decided afresh.
      const revisions = await Promise.all(plan.compares.map(async (c) => (await store.get(c.key))?.modRevision ?? 0));
      const moved = new Set(plan.compares.filter((c, i) => revisions[i] !== c.value).map((c) => c.key));
      const touchesMoved = (item: Queued) =>
        moved.has(keys.task(item.instance.cluster, item.taskId)) || moved.has(keys.containerInstance(item.instance.cluster, item.instance.id));
      const later = batch.filter((item) => touchesMoved(item) && item.putBack < BATCH_ATTEMPTS);
      if (later.length > 0 && later.length < batch.length) {
        for (const item of later) item.putBack++;
        queue.unshift(...later);
        const keep = batch.filter((item) => !later.includes(item));
        batch.splice(0, batch.length, ...keep);
      }
    }
    // Contended: each report alone with its own compare-and-swap, in order per instance (a task's
    // reports all come from its instance), instances side by side as if each had its own session.
    const byInstance = new Map<string, Queued[]>();
    for (const item of batch) {
      const key = `${item.instance.cluster}/${item.instance.id}`;
      const items = byInstance.get(key);
      if (items === undefined) byInstance.set(key, [item]);
      else items.push(item);
    }
    await Promise.all(
      [...byInstance.values()].map(async (items) => {
        for (const item of items) {
          try {
            item.resolve(await writeOne(item));
          } catch (err) {
            item.reject(err);
          }
        }
      }),
    );
  }

  /** Commits a plan; true when it is durable (or had nothing to write), false when a compare failed. */
  async function stored(plan: Plan): Promise<boolean> {
    if (plan.ops.length === 0) return true;
    const res = await store.txn(plan.compares, plan.ops);
    if (!res.succeeded) {
      for (const c of plan.compares) cache.delete(c.key);
      return false;
    }
    for (const op of plan.ops) if (op.type === 'put' && plan.tasks.has(op.key)) remember(op.key, op.value, res.revision);
    return true;
  }

  /** Reads what the batch touches and applies its reports in order, in memory. */
  async function decide(batch: readonly Queued[], fresh: boolean): Promise<Plan> {
    const tasks = new Map<string, TaskSlot>();
    const instances = new Map<string, InstanceSlot>();
    const at = options.now();
    const outcomes: Plan['outcomes'] = [];
    for (const item of batch) {
      const key = keys.task(item.instance.cluster, item.taskId);
      let slot = tasks.get(key);
      if (slot === undefined) {
        const stored = await readTask(key, fresh);
        slot = { key, cluster: item.instance.cluster, stored, current: stored?.value };
        tasks.set(key, slot);
      }
      const current = slot.current;
      if (current === undefined) {
        outcomes.push({ refused: { code: 'TaskNotFound', message: `There is no task ${item.change.taskArn}.` } });
        continue;
      }
      if (current.containerInstanceArn !== item.instance.arn) {
        outcomes.push({ refused: { code: 'TaskNotOnInstance', message: `The task ${item.change.taskArn} is not placed on ${item.instance.arn}.` } });
        continue;
      }
      try {
        const td = await options.taskDefinitionOf(current);
        const essential = td === undefined ? undefined : new Set(td.containerDefinitions.filter((c) => c.essential).map((c) => c.name));
        const next = applyTaskStateChange(current, item.change, at, essential);
        if (next !== current) {
          const effect = instanceEffect(current, next);
          if (effect.kind !== 'none') {
            const instanceKey = keys.containerInstance(item.instance.cluster, item.instance.id);
            let inst = instances.get(instanceKey);
            if (inst === undefined) {
              const stored = await readJson<ContainerInstance>(store, instanceKey);
              inst = { key: instanceKey, stored, current: stored?.value };
              instances.set(instanceKey, inst);
            }
            // A force-deregistered instance has no counts left to keep.
            if (inst.current !== undefined) {
              const ci = inst.current;
              inst.current =
                effect.kind === 'started'
                  ? { ...ci, pendingTasksCount: Math.max(0, ci.pendingTasksCount - 1), runningTasksCount: ci.runningTasksCount + 1, version: ci.version + 1 }
                  : releaseOnInstance(ci, reservationOf(current, td), effect.wasRunning);
            }
          }
          slot.current = next;
        }
        outcomes.push({ task: next });
      } catch (err) {
        // This report alone cannot be applied; the others of the batch go on.
        outcomes.push({ error: err });
      }
    }
    const compares: Compare[] = [];
    const ops: Op[] = [];
    for (const slot of tasks.values()) {
      if (slot.stored === undefined || slot.current === slot.stored.value) continue;
      compares.push({ key: slot.key, target: 'mod', op: '=', value: slot.stored.modRevision });
      ops.push({ type: 'put', key: slot.key, value: JSON.stringify(slot.current) }, ...taskIndexOps(slot.cluster, slot.stored.value, slot.current));
    }
    for (const inst of instances.values()) {
      if (inst.stored === undefined || inst.current === inst.stored.value) continue;
      compares.push({ key: inst.key, target: 'mod', op: '=', value: inst.stored.modRevision });
      ops.push({ type: 'put', key: inst.key, value: JSON.stringify(inst.current) });
    }
    return { outcomes, compares, ops, tasks: new Set(tasks.keys()) };
  }

  /** One report in its own transaction, retried on compare-and-swap failures. */
  async function writeOne(item: Queued): Promise<ReportOutcome> {
    for (let attempt = 0; attempt < SINGLE_ATTEMPTS; attempt++) {
      const plan = await decide([item], true);
      const outcome = plan.outcomes[0]!;
      if ('error' in outcome) throw outcome.error;
      if (await stored(plan)) return outcome;
    }
    throw new BerthError('ServerException', `Too many concurrent changes to ${item.change.taskArn} and its container instance.`);
  }

  return {
    write(instance, taskId, change) {
      return new Promise<ReportOutcome>((resolve, reject) => {
        let settled = false;
        const settle = (): boolean => {
          if (settled) return false;
          settled = true;
          unsettled--;
          return true;
        };
        unsettled++;
        queue.push({
          instance,
          taskId,
          change,
          putBack: 0,
          resolve: (outcome) => settle() && resolve(outcome),
          reject: (err) => settle() && reject(err instanceof Error ? err : new Error(String(err))),
        });
        schedule();
      });
    },
    observe(key, value, modRevision) {
      if (value === undefined) cache.delete(key);
      else remember(key, value, modRevision);
    },
    async drain() {
      while (flushing !== undefined) await flushing;
    },
    get backlog() {
      return unsettled;
    },
  };
}

/** What a task holds on its instance: its cpu and memory as stored, static host ports from its task definition. */
function reservationOf(task: Task, td: TaskDefinition | undefined): TaskReservation {
  const ports = td === undefined ? { tcpPorts: [], udpPorts: [] } : taskReservation(td, task.overrides);
  return { cpu: Number(task.cpu ?? 0), memory: Number(task.memory ?? 0), tcpPorts: ports.tcpPorts, udpPorts: ports.udpPorts };
}
