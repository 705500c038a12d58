/**
 * reconcileService: precise decisions on hand-built rounds, then whole scenarios in the simulated
 * world (reconciler-harness.ts), which checks the percent bounds at every round.
 */
import { describe, expect, it } from 'vitest';
import { instanceArn, SimWorld, taskDefinitionArn } from './reconciler-harness.js';
import { reconcileService, recordPlacements, type InstanceView, type ReconcileInput } from './service-reconciler.js';
import { EVENT_REPEAT_SECONDS, taskIdOf } from './service-events.js';
import type { TaskView } from './deployments.js';

const REV1 = taskDefinitionArn('web', 1);
const REV2 = taskDefinitionArn('web', 2);
const ECS_PLACE = 'was unable to place a task because no container instance met all of its requirements.';

/** A settled world: 3 healthy tasks of revision 1, one on each of a, b, c. */
function settled(opts: ConstructorParameters<typeof SimWorld>[0] = {}): SimWorld {
  const w = new SimWorld(opts);
  w.settle();
  return w;
}

const input = (w: SimWorld, over: Partial<ReconcileInput> = {}): ReconcileInput => ({
  service: w.service,
  tasks: [...w.tasks.values()],
  instances: [...w.instances].map(([arn, i]): InstanceView => ({ containerInstanceArn: arn, status: i.status, agentConnected: i.agentConnected, ...(i.disconnectedSince === undefined ? {} : { disconnectedSince: i.disconnectedSince }) })),
  settings: w.settings,
  now: w.now,
  ...over,
});

describe('a new service', () => {
  it('starts desiredCount tasks of its PRIMARY deployment, tagged as ECS tags them', () => {
    const w = new SimWorld();
    const r = w.reconcile();
    expect(r.decision.starts).toEqual([{ deploymentId: w.primary().id, taskDefinition: REV1, count: 3, startedBy: w.primary().id, group: 'service:web' }]);
    expect(r.placed.map((arn) => w.task(arn).containerInstanceArn).sort()).toEqual(['a', 'b', 'c'].map(instanceArn));
    expect(r.events).toEqual([`has started 3 tasks: ${r.placed.map((a) => `(task ${taskIdOf(a)})`).join(' ')}.`]);
    expect(w.service.pendingCount).toBe(3);
    expect(w.primary()).toMatchObject({ pendingCount: 3, runningCount: 0, desiredCount: 3, rolloutState: 'IN_PROGRESS' });
  });

  it('completes its deployment and reaches a steady state once every task is healthy', () => {
    const w = new SimWorld();
    w.settle();
    const id = w.primary().id;
    expect(w.primary()).toMatchObject({ rolloutState: 'COMPLETED', rolloutStateReason: `ECS deployment ${id} completed.`, runningCount: 3, pendingCount: 0 });
    expect(w.service).toMatchObject({ runningCount: 3, pendingCount: 0 });
    expect(w.eventLog().slice(-2)).toEqual([`(deployment ${id}) deployment completed.`, 'has reached a steady state.']);
  });

  it('does not count a task with a health check as healthy until it is HEALTHY', () => {
    const w = new SimWorld({ desiredCount: 1 });
    w.step(); // started
    w.step(); // RUNNING, health UNKNOWN
    expect(w.running()).toHaveLength(1);
    expect(w.primary().rolloutState).toBe('IN_PROGRESS');
    w.step(); // HEALTHY
    expect(w.primary().rolloutState).toBe('COMPLETED');
  });
});

describe('REPLICA: keeping desiredCount', () => {
  it('replaces a killed container, on the instance left short (spread)', () => {
    const w = settled();
    const victim = w.on('b')[0]!;
    w.kill(victim.taskArn);
    const r = w.step();
    expect(r.decision.starts).toMatchObject([{ count: 1, taskDefinition: REV1 }]);
    expect(w.task(r.placed[0]!).containerInstanceArn).toBe(instanceArn('b'));
    w.settle();
    expect(['a', 'b', 'c'].map((i) => w.on(i).length)).toEqual([1, 1, 1]);
    expect(w.eventLog().slice(-2)).toEqual([`has started 1 tasks: (task ${taskIdOf(r.placed[0]!)}).`, 'has reached a steady state.']);
  });

  it('stops a task whose container health checks fail and replaces it', () => {
    const w = settled();
    const sick = w.on('a')[0]!.taskArn;
    w.setHealth(sick, 'UNHEALTHY');
    const r = w.reconcile();
    expect(r.decision.stops).toEqual([{ taskArn: sick, stopCode: 'ServiceSchedulerInitiated', reason: 'Task failed container health checks', cause: 'unhealthy' }]);
    expect(r.events.slice(0, 2)).toEqual([`(task ${taskIdOf(sick)}) failed container health checks.`, `has stopped 1 running tasks: (task ${taskIdOf(sick)}).`]);
    w.settle();
    expect(w.running(REV1)).toHaveLength(3);
    expect(w.task(sick).lastStatus).toBe('STOPPED');
  });

  it('scales in by stopping pending tasks first, then from crowded instances', () => {
    const w = settled({ desiredCount: 4 });
    expect(w.on('a').length + w.on('b').length + w.on('c').length).toBe(4);
    const crowded = ['a', 'b', 'c'].find((i) => w.on(i).length === 2)!;
    w.updateService({ desiredCount: 3 });
    const r = w.reconcile();
    expect(r.decision.stops).toHaveLength(1);
    expect(w.task(r.decision.stops[0]!.taskArn).containerInstanceArn).toBe(instanceArn(crowded));
    expect(r.decision.stops[0]!.reason).toBe(`Scaling activity initiated by (deployment ${w.primary().id})`);
    w.settle();
    expect(['a', 'b', 'c'].map((i) => w.on(i).length)).toEqual([1, 1, 1]);
  });

  it('stops every task when desiredCount becomes 0', () => {
    const w = settled();
    w.updateService({ desiredCount: 0 });
    const r = w.reconcile();
    expect(r.decision.stops).toHaveLength(3);
    w.settle();
    expect(w.live()).toHaveLength(0);
    expect(w.service).toMatchObject({ runningCount: 0, desiredCount: 0 });
    expect(w.eventLog().at(-1)).toBe('has reached a steady state.');
  });

  it('says why it cannot place, once, with the scheduler\'s explanation', () => {
    const w = new SimWorld({ desiredCount: 4 });
    for (const i of w.instances.values()) i.capacity = 1;
    const r = w.reconcile();
    expect(r.placed).toHaveLength(3);
    expect(r.events[1]).toBe(`${ECS_PLACE} Berth: no instance accepted the task (full: 3).`);
    for (let i = 0; i < 5; i++) w.step();
    expect(w.eventLog().filter((e) => e.startsWith(ECS_PLACE))).toHaveLength(1);
    expect(w.plans.at(-1)!.decision.starts).toMatchObject([{ count: 1 }]);
    w.addInstance('d');
    w.settle();
    expect(w.on('d')).toHaveLength(1);
  });
});

describe('host loss', () => {
  it('declares the tasks of an agent disconnected past the timeout lost, and replaces them elsewhere', () => {
    const w = settled();
    const onB = w.on('b')[0]!.taskArn;
    w.disconnect('b');
    const since = w.now;
    const waiting = w.step();
    expect(waiting.decision.lost).toEqual([]);
    expect(waiting.decision.starts).toEqual([]);
    expect(waiting.decision.wakeAt).toBe(since + 300);

    w.runUntil((x) => x.plans.at(-1)!.decision.lost.length > 0);
    const r = w.plans.at(-1)!;
    expect(r.now).toBeGreaterThanOrEqual(since + 300);
    expect(r.decision.lost).toEqual([
      { taskArn: onB, containerInstanceArn: instanceArn('b'), stopCode: 'ServiceSchedulerInitiated', reason: 'Host lost: container instance b has had no connected agent for more than 300 seconds' },
    ]);
    expect(r.events[0]).toBe(`(container-instance b) has had no connected agent for more than 300 seconds; its tasks were declared lost: (task ${taskIdOf(onB)}).`);
    expect(r.decision.starts).toMatchObject([{ count: 1 }]);
    expect(w.task(r.placed[0]!).containerInstanceArn).not.toBe(instanceArn('b'));
    w.settle();
    expect(w.running(REV1)).toHaveLength(3);
  });

  it('waits while the agent is back in time, and cannot judge an agent disconnected since an unknown time', () => {
    const w = settled();
    w.disconnect('b');
    w.tick(200);
    w.reconnect('b');
    w.tick(200);
    expect(w.reconcile().decision.lost).toEqual([]);
    const unknownSince = reconcileService(input(w, { instances: input(w).instances.map((i) => (i.containerInstanceArn === instanceArn('b') ? { ...i, agentConnected: false } : i)), now: w.now + 10_000 }));
    expect(unknownSince.lost).toEqual([]);
  });

  it('declares tasks on an instance that is no longer registered lost at once', () => {
    const w = settled();
    const onC = w.on('c')[0]!.taskArn;
    w.removeInstance('c');
    const r = w.reconcile();
    expect(r.decision.lost).toMatchObject([{ taskArn: onC, reason: 'Host lost: container instance c is no longer registered' }]);
    expect(r.decision.starts).toMatchObject([{ count: 1 }]);
  });

  it('also finishes tasks that were being stopped on the lost host', () => {
    const w = settled();
    const onB = w.on('b')[0]!;
    w.disconnect('b');
    onB.desiredStatus = 'STOPPED';
    const d = reconcileService(input(w, { now: w.now + 300 }));
    expect(d.lost.map((l) => l.taskArn)).toEqual([onB.taskArn]);
  });
});

describe('DRAINING instances', () => {
  it('with minimumHealthyPercent 100: starts the replacement first, stops the drained task once it is healthy', () => {
    const w = settled();
    const drained = w.on('a')[0]!.taskArn;
    w.drain('a');
    const first = w.reconcile();
    expect(first.decision.stops).toEqual([]);
    expect(first.decision.starts).toMatchObject([{ count: 1 }]);
    w.runUntil((x) => x.plans.at(-1)!.decision.stops.length > 0);
    const stop = w.plans.at(-1)!.decision.stops;
    expect(stop).toMatchObject([{ taskArn: drained, cause: 'draining', reason: 'Container instance a is DRAINING: task moved by the service scheduler' }]);
    w.settle();
    expect(w.on('a')).toEqual([]);
    expect(w.running(REV1)).toHaveLength(3);
  });

  it('with minimumHealthyPercent 50 and maximumPercent 100: stops first, down to the minimum', () => {
    const w = settled({ desiredCount: 4, instances: ['a', 'b', 'c', 'd'], deploymentConfiguration: { minimumHealthyPercent: 50, maximumPercent: 100 } });
    w.drain('a');
    w.drain('b');
    const r = w.reconcile();
    expect(r.decision.starts).toEqual([]);
    expect(r.decision.stops.map((s) => s.cause)).toEqual(['draining', 'draining']);
    w.settle();
    expect(w.on('a').length + w.on('b').length).toBe(0);
    expect(w.running(REV1)).toHaveLength(4);
  });

  it('stops PENDING tasks on a draining instance at once', () => {
    const w = new SimWorld();
    w.reconcile(); // 3 PENDING
    const pendingOnA = w.on('a')[0]!.taskArn;
    w.drain('a');
    expect(w.reconcile().decision.stops).toMatchObject([{ taskArn: pendingOnA, cause: 'draining' }]);
  });

  it('says when the bounds allow no move (100 % minimum, 100 % maximum)', () => {
    const w = settled({ deploymentConfiguration: { minimumHealthyPercent: 100, maximumPercent: 100 } });
    w.drain('a');
    const r = w.reconcile();
    expect(r.decision.starts).toEqual([]);
    expect(r.decision.stops).toEqual([]);
    expect(r.events).toEqual([
      'was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.',
    ]);
    w.step();
    expect(w.plans.at(-1)!.events).toEqual([]);
  });
});

describe('rolling deployments', () => {
  it('rolls revision 2 out within the bounds, and drops the old deployment once drained', () => {
    const w = settled();
    const old = w.primary().id;
    w.updateService({ taskDefinition: REV2 });
    const first = w.reconcile();
    expect(first.decision.starts).toMatchObject([{ count: 3, taskDefinition: REV2 }]);
    expect(first.decision.stops).toEqual([]);
    expect(first.decision.service.deployments.map((d) => [d.status, d.taskDefinition])).toEqual([['PRIMARY', REV2], ['ACTIVE', REV1]]);
    w.settle();
    expect(w.running().map((t) => t.taskDefinitionArn)).toEqual([REV2, REV2, REV2]);
    expect(w.service.deployments).toHaveLength(1);
    expect(w.primary()).toMatchObject({ taskDefinition: REV2, rolloutState: 'COMPLETED' });
    const log = w.eventLog();
    expect(log).toContain(`(deployment ${w.primary().id}) deployment completed.`);
    expect(log.some((e) => e.startsWith('has stopped 3 running tasks'))).toBe(true);
    expect([...w.tasks.values()].filter((t) => t.startedBy === old).every((t) => t.stoppedReason === `Scaling activity initiated by (deployment ${w.primary().id})`)).toBe(true);
  });

  // Every pair converges, and the harness checks both bounds at every round.
  it.each([
    [100, 200, 3],
    [50, 200, 4],
    [50, 100, 4],
    [0, 100, 3],
    [75, 125, 4],
    [100, 150, 4],
    [100, 110, 10],
    [0, 200, 5],
  ])('with minimumHealthyPercent %i and maximumPercent %i (desired %i)', (min, max, desired) => {
    const w = settled({ desiredCount: desired, deploymentConfiguration: { minimumHealthyPercent: min, maximumPercent: max } });
    w.updateService({ taskDefinition: REV2 });
    w.settle();
    expect(w.running(REV2)).toHaveLength(desired);
    expect(w.running(REV1)).toHaveLength(0);
    // The bounds were not just held but used: some round ran old and new tasks side by side, unless the maximum left no room.
    const peak = Math.max(...w.plans.map((p) => p.decision.service.runningCount + p.decision.service.pendingCount));
    expect(peak).toBeLessThanOrEqual(Math.floor((desired * max) / 100));
  });

  it('never stops old tasks below the minimum while the new ones are not yet healthy', () => {
    const w = settled({ desiredCount: 4, deploymentConfiguration: { minimumHealthyPercent: 50, maximumPercent: 200 } });
    w.updateService({ taskDefinition: REV2 });
    const first = w.reconcile();
    expect(first.decision.stops).toHaveLength(2);
    expect(first.decision.starts).toMatchObject([{ count: 4 }]);
    w.step();
    expect(w.plans.at(-1)!.decision.stops).toEqual([]);
  });

  it('replaces the old deployment even when its tasks are still starting', () => {
    const w = new SimWorld();
    w.reconcile(); // 3 PENDING of revision 1
    w.updateService({ taskDefinition: REV2 });
    const r = w.reconcile();
    expect(r.decision.stops).toHaveLength(3);
    w.settle();
    expect(w.running(REV2)).toHaveLength(3);
  });
});

describe('the circuit breaker', () => {
  const breaker = (rollback: boolean) => ({ deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback } } });

  it('fails a broken revision after 3 failed launches and rolls back to the last COMPLETED deployment, keeping its tasks', () => {
    const w = settled(breaker(true));
    const good = w.primary().id;
    const goodTasks = w.running().map((t) => t.taskArn).sort();
    w.setBehaviour(REV2, 'fails-to-start');
    w.updateService({ taskDefinition: REV2 });
    const bad = w.primary().id;
    w.runUntil((x) => x.primary().id === good);
    const trip = w.plans.at(-1)!;
    expect(trip.events.slice(0, 2)).toEqual([`(deployment ${bad}) deployment failed: tasks failed to start.`, `rolling back to deployment ${good}.`]);
    expect(trip.decision.service.deployments.map((d) => [d.id, d.status, d.rolloutState, d.rolloutStateReason])).toEqual([
      [good, 'PRIMARY', 'IN_PROGRESS', `ECS deployment circuit breaker: rolling back to deploymentId ${good}.`],
      [bad, 'ACTIVE', 'FAILED', 'ECS deployment circuit breaker: tasks failed to start.'],
    ]);
    expect(trip.decision.service.deployments[1]!.failedTasks).toBe(3);
    expect(w.service.taskDefinition).toBe(REV1);
    w.settle();
    expect(w.running().map((t) => t.taskArn).sort()).toEqual(goodTasks);
    expect(w.service.deployments).toEqual([expect.objectContaining({ id: good, rolloutState: 'COMPLETED' })]);
  });

  it('counts the failures on the deployment as they happen', () => {
    const w = settled(breaker(true));
    w.setBehaviour(REV2, 'fails-to-start');
    w.updateService({ desiredCount: 8, taskDefinition: REV2 });
    const seen = new Set<number>();
    w.runUntil((x) => {
      const d = x.service.deployments.find((dep) => dep.taskDefinition === REV2)!;
      seen.add(d.failedTasks);
      return d.rolloutState === 'FAILED';
    });
    // 8 tasks trip at 4 failures; all 8 launched at once fail together, so the count jumps.
    expect(Math.max(...seen)).toBeGreaterThanOrEqual(4);
  });

  it('trips on tasks that start but fail their health checks', () => {
    const w = settled(breaker(true));
    w.setBehaviour(REV2, 'unhealthy');
    w.updateService({ taskDefinition: REV2 });
    w.runUntil((x) => x.primary().taskDefinition === REV1);
    expect(w.eventLog()).toContain(`rolling back to deployment ${w.primary().id}.`);
    expect(w.eventLog().some((e) => e.endsWith('failed container health checks.'))).toBe(true);
  });

  it('without rollback: the deployment fails and launches nothing more, the old tasks stay', () => {
    const w = settled(breaker(false));
    const oldTasks = w.running().map((t) => t.taskArn).sort();
    w.setBehaviour(REV2, 'fails-to-start');
    w.updateService({ taskDefinition: REV2 });
    w.runUntil((x) => x.primary().rolloutState === 'FAILED');
    for (let i = 0; i < 10; i++) expect(w.step().decision.starts).toEqual([]);
    expect(w.running().map((t) => t.taskArn).sort()).toEqual(oldTasks);
    expect(w.primary()).toMatchObject({ taskDefinition: REV2, rolloutState: 'FAILED' });
    // A new revision starts over.
    w.setBehaviour(taskDefinitionArn('web', 3), 'healthy');
    w.updateService({ taskDefinition: taskDefinitionArn('web', 3) });
    w.settle();
    expect(w.running(taskDefinitionArn('web', 3))).toHaveLength(3);
  });

  it('stalls when there is no COMPLETED deployment to return to', () => {
    const w = new SimWorld({ behaviour: 'fails-to-start', ...breaker(true) });
    w.runUntil((x) => x.primary().rolloutState === 'FAILED');
    expect(w.eventLog().some((e) => e.startsWith('rolling back'))).toBe(false);
    expect(w.step().decision.starts).toEqual([]);
  });

  it('without the breaker: retries forever, spacing out launches (ECS throttle)', () => {
    const w = new SimWorld({ desiredCount: 1, behaviour: 'fails-to-start' });
    w.runUntil((x) => x.eventLog().includes('is unable to consistently start tasks successfully.'));
    const throttled = w.plans.at(-1)!;
    expect(throttled.decision.starts).toEqual([]);
    expect(throttled.decision.wakeAt).toBeGreaterThan(throttled.now);
    const launchesAt = () => w.plans.filter((p) => p.placed.length > 0).map((p) => p.now);
    for (let i = 0; i < 60; i++) w.step();
    const gaps = launchesAt().slice(1).map((t, i) => t - launchesAt()[i]!);
    expect(gaps.at(-1)!).toBeGreaterThan(gaps[0]!);
    expect(w.primary().rolloutState).toBe('IN_PROGRESS');
  });
});

describe('steady state', () => {
  it('is not repeated until six hours have passed', () => {
    const w = settled();
    for (let i = 0; i < 20; i++) w.step();
    expect(w.eventLog().filter((e) => e === 'has reached a steady state.')).toHaveLength(1);
    expect(w.plans.at(-1)!.decision.wakeAt).toBe(w.service.events[0]!.createdAt + EVENT_REPEAT_SECONDS);
    w.tick(EVENT_REPEAT_SECONDS);
    w.reconcile();
    expect(w.eventLog().filter((e) => e === 'has reached a steady state.')).toHaveLength(2);
  });

  it('is what services-stable waits for: one deployment, runningCount = desiredCount', () => {
    const w = new SimWorld();
    expect(w.stable()).toBe(false);
    w.settle();
    expect(w.stable()).toBe(true);
    w.updateService({ taskDefinition: REV2 });
    w.step();
    expect(w.stable()).toBe(false);
  });
});

describe('DeleteService', () => {
  it('stops every task of a DRAINING service and makes it INACTIVE when none remains', () => {
    const w = settled();
    w.deleteService();
    const r = w.reconcile();
    expect(r.decision.stops).toHaveLength(3);
    expect(w.service.status).toBe('DRAINING');
    w.runUntil((x) => x.service.status === 'INACTIVE');
    expect(w.live()).toEqual([]);
    expect([...w.tasks.values()].every((t) => t.lastStatus === 'STOPPED')).toBe(true);
    expect(w.reconcile().decision).toMatchObject({ changed: false, starts: [], stops: [] });
  });

  it('makes a DRAINING service with no tasks INACTIVE at once', () => {
    const w = new SimWorld();
    w.deleteService();
    expect(w.reconcile().decision.service.status).toBe('INACTIVE');
  });
});

describe('DAEMON', () => {
  const daemon = (instances = ['a', 'b', 'c']) => new SimWorld({ schedulingStrategy: 'DAEMON', instances });

  it('runs one task on each ACTIVE instance, each start naming its instance', () => {
    const w = daemon();
    const r = w.reconcile();
    expect(r.decision.starts.map((s) => [s.count, s.containerInstanceArn])).toEqual(['a', 'b', 'c'].map((i) => [1, instanceArn(i)]));
    w.settle();
    expect(['a', 'b', 'c'].map((i) => w.on(i).length)).toEqual([1, 1, 1]);
    expect(w.service.desiredCount).toBe(3);
  });

  it('follows instances: a new one gets a task, a DRAINING one loses it after its other tasks', () => {
    const w = daemon();
    w.settle();
    w.addInstance('d');
    expect(w.reconcile().decision.starts).toMatchObject([{ containerInstanceArn: instanceArn('d') }]);
    w.settle();
    w.instance('b').replicaTaskCount = 2;
    w.drain('b');
    expect(w.reconcile().decision.stops).toEqual([]);
    expect(w.service.desiredCount).toBe(3);
    w.instance('b').replicaTaskCount = 0;
    expect(w.reconcile().decision.stops).toMatchObject([{ cause: 'draining' }]);
    w.settle();
    expect(w.on('b')).toEqual([]);
  });

  it('skips instances its placement constraints exclude, and leaves ones that become excluded', () => {
    const w = daemon();
    w.instance('c').daemonEligible = false;
    w.settle();
    expect(w.on('c')).toEqual([]);
    w.instance('b').daemonEligible = false;
    expect(w.reconcile().decision.stops).toMatchObject([{ cause: 'ineligible' }]);
  });

  it('rolls a new revision instance by instance: the old task goes before the new one starts', () => {
    const w = daemon();
    w.settle();
    w.updateService({ taskDefinition: REV2 });
    const r = w.reconcile();
    expect(r.decision.starts).toEqual([]);
    expect(r.decision.stops).toHaveLength(3);
    w.settle();
    expect(w.running(REV2)).toHaveLength(3);
    expect(w.service.deployments).toHaveLength(1);
  });

  it('replaces an unhealthy daemon task on its own instance', () => {
    const w = daemon();
    w.settle();
    w.setHealth(w.on('a')[0]!.taskArn, 'UNHEALTHY');
    w.settle();
    expect(w.on('a')).toHaveLength(1);
    expect(w.on('a')[0]!.healthStatus).toBe('HEALTHY');
  });

  it('waits for an instance whose agent is away instead of placing there', () => {
    const w = daemon();
    w.instance('c').agentConnected = false;
    expect(w.reconcile().decision.starts.map((s) => s.containerInstanceArn)).toEqual([instanceArn('a'), instanceArn('b')]);
  });
});

describe('a single round', () => {
  it('does nothing for services whose tasks it does not run', () => {
    const w = new SimWorld();
    for (const service of [{ ...w.service, deploymentController: { type: 'EXTERNAL' as const } }, { ...w.service, status: 'INACTIVE' as const }, { ...w.service, deployments: [] }]) {
      expect(reconcileService(input(w, { service }))).toEqual({ service, changed: false, starts: [], stops: [], lost: [] });
    }
  });

  it('gives the same decision for the same input', () => {
    const w = settled();
    w.updateService({ taskDefinition: REV2 });
    w.step();
    expect(reconcileService(input(w))).toEqual(reconcileService(input(w)));
  });

  it('makes no new moves when rerun on its own applied plan (no task doubled)', () => {
    const w = settled({ desiredCount: 4, deploymentConfiguration: { minimumHealthyPercent: 50, maximumPercent: 150 } });
    w.updateService({ taskDefinition: REV2 });
    w.reconcile();
    const again = w.reconcile();
    expect(again.decision.starts).toEqual([]);
    expect(again.decision.stops).toEqual([]);
  });

  it('counts tasks per deployment and for the service', () => {
    const w = settled();
    w.updateService({ taskDefinition: REV2 });
    w.reconcile();
    w.tick();
    const d = reconcileService(input(w));
    const [primary, old] = d.service.deployments;
    expect(primary).toMatchObject({ runningCount: 3, pendingCount: 0, desiredCount: 3 });
    expect(old).toMatchObject({ runningCount: 3, pendingCount: 0, desiredCount: 3 });
    expect(d.service).toMatchObject({ runningCount: 6, pendingCount: 0 });
  });

  it('ignores failing health checks during the grace period, and wakes when it ends', () => {
    const w = settled();
    const t = w.on('a')[0]!;
    const lb: TaskView[] = [...w.tasks.values()].map((x) => ({ ...x, targetHealth: x === t ? 'unhealthy' : 'healthy', targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1' }));
    const service = { ...w.service, healthCheckGracePeriodSeconds: 600 };
    const early = reconcileService(input(w, { service, tasks: lb, now: t.startedAt! + 100 }));
    expect(early.stops).toEqual([]);
    expect(early.wakeAt).toBe(t.startedAt! + 600);
    const late = reconcileService(input(w, { service, tasks: lb, now: t.startedAt! + 600 }));
    expect(late.stops).toEqual([
      { taskArn: t.taskArn, stopCode: 'ServiceSchedulerInitiated', reason: 'Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1)', cause: 'unhealthy' },
    ]);
    expect(late.service.events[1]!.message).toBe(
      `(service web) (task ${taskIdOf(t.taskArn)}) is unhealthy in (target-group arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1) due to (reason Health checks failed).`,
    );
  });

  it('stops tasks that belong to no deployment of the service', () => {
    const w = settled({ desiredCount: 2 });
    const stray = { ...w.live()[0]!, taskArn: 'arn:aws:ecs:us-east-1:000000000000:task/sim/stray', startedBy: 'someone' };
    const d = reconcileService(input(w, { tasks: [...w.tasks.values(), stray] }));
    expect(d.stops).toMatchObject([{ taskArn: stray.taskArn, cause: 'rollout' }]);
  });
});

describe('recordPlacements', () => {
  it('counts the placed tasks as pending and says what happened', () => {
    const w = new SimWorld();
    const d = reconcileService(input(w));
    const start = d.starts[0]!;
    const s = recordPlacements(d, [{ start, taskArns: ['arn:aws:ecs:us-east-1:000000000000:task/sim/1'], explanation: 'two lack memory.' }], w.now);
    expect(s.pendingCount).toBe(1);
    expect(s.deployments[0]!.pendingCount).toBe(1);
    expect(s.events.map((e) => e.message)).toEqual([`(service web) ${ECS_PLACE} two lack memory.`, '(service web) has started 1 tasks: (task 1).']);
  });

  it('leaves the service alone when nothing was to be placed', () => {
    const w = settled();
    const d = reconcileService(input(w));
    expect(recordPlacements(d, [], w.now)).toBe(d.service);
  });
});
