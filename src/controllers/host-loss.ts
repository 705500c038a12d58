/**
 * Host loss, the I/O half: since when each agent has been away (nothing stored says so), and the
 * write that finishes a task on a lost host, since no agent will ever report it STOPPED.
 */
import type { ContainerInstance } from '../ecs/container-instances.js';
import { keys } from '../ecs/keys.js';
import { readJson } from '../ecs/repo.js';
import type { StoredTaskDefinition } from '../ecs/task-definition-types.js';
import { instanceIdOf, releaseOnInstance } from '../ecs/task-reservation.js';
import { epochSeconds, taskDefinitionRefOf, taskReservation, type Task } from '../ecs/task-shape.js';
import { taskIndexOps } from '../ecs/tasks.js';
import type { Compare, Op, Store } from '../store/index.js';
import type { TaskLoss } from './service-reconciler.js';
import { instanceEffect } from './task-state.js';

/**
 * When each container instance's agent was first seen disconnected (epoch seconds). A
 * ContainerInstance stores only `agentConnected`, so the moment of the flip lives in memory: an
 * instance already disconnected when the controller starts counts from that start, which can only
 * postpone a host-loss verdict, never hasten it.
 */
export class AgentDisconnections {
  private readonly since = new Map<string, number>();

  /** Notes an instance's agentConnected as seen at `now`: the first sighting of false starts its clock, true stops it. */
  observe(containerInstanceArn: string, agentConnected: boolean, now: number): void {
    if (agentConnected) this.since.delete(containerInstanceArn);
    else if (!this.since.has(containerInstanceArn)) this.since.set(containerInstanceArn, now);
  }

  /** The instance is gone (deregistered): nothing to remember. */
  forget(containerInstanceArn: string): void {
    this.since.delete(containerInstanceArn);
  }

  /** Since when the instance's agent has been disconnected, or undefined if it is connected (or unknown). */
  disconnectedSince(containerInstanceArn: string): number | undefined {
    return this.since.get(containerInstanceArn);
  }
}

/** The task once declared lost: STOPPED at once, as StopTask finishes a task no agent picked up. */
export function lostTask(task: Task, loss: Pick<TaskLoss, 'stopCode' | 'reason'>, now: Date): Task {
  const at = epochSeconds(now);
  return {
    ...task,
    desiredStatus: 'STOPPED',
    lastStatus: 'STOPPED',
    // A task already told to stop keeps why (a user's StopTask stays UserInitiated).
    stopCode: task.stopCode ?? loss.stopCode,
    stoppedReason: task.stoppedReason ?? loss.reason,
    stoppingAt: task.stoppingAt ?? at,
    stoppedAt: at,
    executionStoppedAt: task.executionStoppedAt ?? at,
    containers: task.containers.map((c) => (c.lastStatus === 'STOPPED' ? c : { ...c, lastStatus: 'STOPPED' })),
    attachments: task.attachments.map((a) => (a.status === 'DELETED' ? a : { ...a, status: 'DELETED' })),
    version: task.version + 1,
  };
}

/**
 * What writing a loss did: `stopped`; `unchanged` when the task had already stopped or moved (the
 * verdict is moot); `conflict` when the verdict no longer holds (the agent is back) or a guard
 * failed — the caller decides again from fresh state rather than retrying.
 */
export type LossOutcome = 'stopped' | 'unchanged' | 'conflict';

/**
 * Marks a task on a lost host STOPPED and returns its reservation to the instance, in one
 * transaction guarded by both revisions; the ListTasks index moves with it. The agent hub treats
 * STOPPED as final, so an agent that comes back later is told to stop the task.
 *
 * @example await stopLostTask(store, 'default', decision.lost[0], new Date())
 */
export async function stopLostTask(store: Store, cluster: string, loss: TaskLoss, now: Date): Promise<LossOutcome> {
  const taskKey = keys.task(cluster, loss.taskArn.slice(loss.taskArn.lastIndexOf('/') + 1));
  const cur = await readJson<Task>(store, taskKey);
  if (cur === undefined || cur.value.lastStatus === 'STOPPED' || cur.value.containerInstanceArn !== loss.containerInstanceArn) return 'unchanged';
  const instanceKey = keys.containerInstance(cluster, instanceIdOf(loss.containerInstanceArn));
  const ci = await readJson<ContainerInstance>(store, instanceKey);
  if (ci?.value.agentConnected === true) return 'conflict';

  const next = lostTask(cur.value, loss, now);
  const compares: Compare[] = [
    { key: taskKey, target: 'mod', op: '=', value: cur.modRevision },
    // A deregistered instance must stay deregistered; a disconnected one unchanged.
    { key: instanceKey, target: 'mod', op: '=', value: ci?.modRevision ?? 0 },
  ];
  const ops: Op[] = [{ type: 'put', key: taskKey, value: JSON.stringify(next) }, ...taskIndexOps(cluster, cur.value, next)];
  const effect = instanceEffect(cur.value, next);
  if (ci !== undefined && effect.kind === 'released') {
    const ref = taskDefinitionRefOf(cur.value);
    const td = ref === undefined ? undefined : await readJson<StoredTaskDefinition>(store, keys.taskDefinition(ref.family, ref.revision));
    const ports = td === undefined ? { tcpPorts: [], udpPorts: [] } : taskReservation(td.value, cur.value.overrides);
    const reservation = { cpu: Number(cur.value.cpu ?? 0), memory: Number(cur.value.memory ?? 0), tcpPorts: ports.tcpPorts, udpPorts: ports.udpPorts };
    ops.push({ type: 'put', key: instanceKey, value: JSON.stringify(releaseOnInstance(ci.value, reservation, effect.wasRunning)) });
  }
  return (await store.txn(compares, ops)).succeeded ? 'stopped' : 'conflict';
}
