/**
 * applyTaskStateChange and instanceEffect, exhaustively: every pair of lifecycle statuses, every
 * container field, health, timestamps, stop codes, finality and the instance bookkeeping.
 */
import { describe, expect, it } from 'vitest';
import type { ContainerStateChange, TaskStateChange, TaskStatus } from '../agent/protocol.js';
import { eniAttachment } from '../ecs/network-configuration.js';
import { buildTask, stopTask, type Task } from '../ecs/task-shape.js';
import type { ContainerDefinition, TaskDefinition } from '../ecs/task-definition-types.js';
import {
  applyTaskStateChange,
  ESSENTIAL_CONTAINER_EXITED_REASON,
  instanceEffect,
  TASK_FAILED_TO_START_REASON,
  TASK_LIFECYCLE,
  taskHealth,
  taskStatusRank,
} from './task-state.js';

const ARN = 'arn:aws:ecs:us-east-1:000000000000:task/prod/abc';
const T0 = new Date(Date.UTC(2025, 4, 6, 7, 8, 9, 500));
const T1 = new Date(T0.getTime() + 60_000);
const T2 = new Date(T0.getTime() + 120_000);
const sec = (d: Date) => d.getTime() / 1000;

const container = (name: string, extra: Partial<ContainerDefinition> = {}): ContainerDefinition => ({
  name,
  image: `${name}:latest`,
  cpu: 128,
  memory: 128,
  essential: true,
  portMappings: [],
  environment: [],
  mountPoints: [],
  volumesFrom: [],
  systemControls: [],
  ...extra,
});

const HEALTH = { command: ['CMD', 'true'] };

/** web (essential, health check), sidecar (non-essential, health check), log (essential, no check). */
const TD: TaskDefinition = {
  taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:3',
  family: 'web',
  revision: 3,
  containerDefinitions: [
    container('web', { healthCheck: HEALTH, portMappings: [{ containerPort: 80, protocol: 'tcp' }] }),
    container('sidecar', { essential: false, healthCheck: HEALTH }),
    container('log'),
  ],
  volumes: [],
  status: 'ACTIVE',
  placementConstraints: [],
  compatibilities: ['EC2'],
  registeredAt: 0,
  registeredBy: 'arn:aws:iam::000000000000:root',
};
const ESSENTIAL = new Set(['web', 'log']);

function newTask(td: TaskDefinition = TD, attachment?: ReturnType<typeof eniAttachment>): Task {
  return buildTask({
    taskArn: ARN,
    clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/prod',
    td,
    overrides: { containerOverrides: [], inferenceAcceleratorOverrides: [] },
    launchType: 'EC2',
    containerInstanceArn: 'arn:aws:ecs:us-east-1:000000000000:container-instance/prod/i1',
    containerArns: td.containerDefinitions.map((_, i) => `arn:aws:ecs:us-east-1:000000000000:container/prod/abc/c${i}`),
    group: 'family:web',
    tags: [],
    enableExecuteCommand: false,
    now: T0,
    ...(attachment === undefined ? {} : { attachment }),
  });
}

/** A task put straight into a status, as if earlier reports (which connected it) had got it there. */
const at = (status: string, extra: Partial<Task> = {}): Task => ({ ...newTask(), lastStatus: status, connectivity: 'CONNECTED', connectivityAt: sec(T0), ...extra });

const change = (status: TaskStatus, containers: ContainerStateChange[] = [], extra: Partial<TaskStateChange> = {}): TaskStateChange => ({
  taskArn: ARN,
  status,
  containers,
  ...extra,
});
const c = (containerName: string, status: ContainerStateChange['status'], extra: Partial<ContainerStateChange> = {}): ContainerStateChange => ({
  containerName,
  status,
  ...extra,
});
const apply = (task: Task, ch: TaskStateChange, now = T1) => applyTaskStateChange(task, ch, now, ESSENTIAL);
const byName = (task: Task, name: string) => task.containers.find((x) => x.name === name)!;

describe('task lastStatus moves forward only', () => {
  const pairs = TASK_LIFECYCLE.flatMap((from) => TASK_LIFECYCLE.map((to) => [from, to] as const));
  it.each(pairs)('%s reported as %s', (from, to) => {
    const task = at(from);
    const next = apply(task, change(to));
    if (from === 'STOPPED' || taskStatusRank(to) < taskStatusRank(from)) {
      // Final or stale: the very same object, so the hub writes nothing.
      expect(next).toBe(task);
    } else {
      expect(next.lastStatus).toBe(to);
    }
  });

  it('the lifecycle is ECS order', () => {
    expect(TASK_LIFECYCLE).toEqual(['PROVISIONING', 'PENDING', 'ACTIVATING', 'RUNNING', 'DEACTIVATING', 'STOPPING', 'DEPROVISIONING', 'STOPPED']);
  });

  it('a stale report changes no container either', () => {
    const task = at('RUNNING');
    expect(apply(task, change('PENDING', [c('web', 'STOPPED', { exitCode: 3 })]))).toBe(task);
  });

  it('a stopped task is final, even for a report of containers', () => {
    const task = stopTask(newTask(), { stopCode: 'UserInitiated', reason: 'bye', now: T0 });
    expect(task.lastStatus).toBe('STOPPED');
    expect(apply(task, change('STOPPED', [c('web', 'STOPPED', { exitCode: 0 })]))).toBe(task);
    expect(apply(task, change('RUNNING', [c('web', 'RUNNING')]))).toBe(task);
  });

  it('refuses a change meant for another task', () => {
    expect(() => apply(newTask(), { ...change('RUNNING'), taskArn: `${ARN}x` })).toThrow(/cannot apply/);
  });
});

describe('version', () => {
  it('goes up by one per change that changes something', () => {
    const t0 = newTask();
    const t1 = apply(t0, change('PENDING', [c('web', 'PENDING', { runtimeId: 'r1' })]));
    expect(t1.version).toBe(t0.version + 1);
    const t2 = apply(t1, change('RUNNING', [c('web', 'RUNNING')]));
    expect(t2.version).toBe(t0.version + 2);
  });

  it('a repeated report is a no-op: same object, same version', () => {
    const t1 = apply(newTask(), change('RUNNING', [c('web', 'RUNNING', { exitCode: undefined })]));
    expect(apply(t1, change('RUNNING', [c('web', 'RUNNING')]), T2)).toBe(t1);
  });

  it('leaves the input untouched', () => {
    const t0 = newTask();
    const copy = JSON.parse(JSON.stringify(t0)) as Task;
    apply(t0, change('STOPPED', [c('web', 'STOPPED', { exitCode: 1 })]));
    expect(t0).toEqual(copy);
  });
});

describe('containers', () => {
  it('takes every reported field', () => {
    const bindings = [{ bindIP: '0.0.0.0', containerPort: 80, hostPort: 32768, protocol: 'tcp' as const }];
    const next = apply(
      at('PENDING'),
      change('RUNNING', [
        c('web', 'RUNNING', { runtimeId: 'abc123', imageDigest: 'sha256:00', networkBindings: bindings, healthStatus: 'HEALTHY', reason: 'ok' }),
      ]),
    );
    expect(byName(next, 'web')).toMatchObject({
      lastStatus: 'RUNNING',
      runtimeId: 'abc123',
      imageDigest: 'sha256:00',
      networkBindings: bindings,
      healthStatus: 'HEALTHY',
      reason: 'ok',
    });
    expect(byName(next, 'web').exitCode).toBeUndefined();
    // Unreported containers are left as they were.
    expect(byName(next, 'log')).toEqual(byName(at('PENDING'), 'log'));
  });

  it('keeps exit codes and reasons of stopped containers', () => {
    const next = apply(at('RUNNING'), change('RUNNING', [c('sidecar', 'STOPPED', { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' })]));
    expect(byName(next, 'sidecar')).toMatchObject({ lastStatus: 'STOPPED', exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' });
  });

  it('an exit code of 0 is kept (not mistaken for absent)', () => {
    const next = apply(at('RUNNING'), change('STOPPED', [c('web', 'STOPPED', { exitCode: 0 })]));
    expect(byName(next, 'web').exitCode).toBe(0);
  });

  const containerPairs = (['PENDING', 'RUNNING', 'STOPPED'] as const).flatMap((from) => (['PENDING', 'RUNNING', 'STOPPED'] as const).map((to) => [from, to] as const));
  it.each(containerPairs)('container %s reported as %s', (from, to) => {
    const base = at('RUNNING');
    const task = { ...base, containers: base.containers.map((x) => (x.name === 'sidecar' ? { ...x, lastStatus: from } : x)) };
    const next = apply(task, change('RUNNING', [c('sidecar', to, { runtimeId: 'new' })]));
    const order = ['PENDING', 'RUNNING', 'STOPPED'];
    if (order.indexOf(to) < order.indexOf(from)) {
      expect(byName(next, 'sidecar')).toEqual(byName(task, 'sidecar'));
    } else {
      expect(byName(next, 'sidecar')).toMatchObject({ lastStatus: to, runtimeId: 'new' });
    }
  });

  it('ignores containers the task does not have', () => {
    const task = at('RUNNING');
    expect(apply(task, change('RUNNING', [c('ghost', 'RUNNING')]))).toBe(task);
  });

  it('on STOPPED every container is STOPPED, reported or not', () => {
    const next = apply(at('RUNNING'), change('STOPPED', [c('web', 'STOPPED', { exitCode: 0 })]));
    expect(next.containers.map((x) => x.lastStatus)).toEqual(['STOPPED', 'STOPPED', 'STOPPED']);
    expect(byName(next, 'log').exitCode).toBeUndefined();
  });
});

describe('task health', () => {
  const health = (web?: string, sidecar?: string, extraLogCheck?: string) => {
    const base = at('RUNNING');
    const task: Task = {
      ...base,
      containers: base.containers.map((x) =>
        x.name === 'log' && extraLogCheck !== undefined ? { ...x, healthStatus: extraLogCheck as 'HEALTHY' } : x,
      ),
    };
    const reports = [...(web ? [c('web', 'RUNNING', { healthStatus: web as 'HEALTHY' })] : []), ...(sidecar ? [c('sidecar', 'RUNNING', { healthStatus: sidecar as 'HEALTHY' })] : [])];
    return apply(task, change('RUNNING', reports)).healthStatus;
  };

  it.each([
    // web essential + checked; sidecar non-essential + checked; log essential, no check unless given
    ['HEALTHY', undefined, undefined, 'HEALTHY'],
    ['UNHEALTHY', undefined, undefined, 'UNHEALTHY'],
    ['UNKNOWN', undefined, undefined, 'UNKNOWN'],
    ['HEALTHY', 'UNHEALTHY', undefined, 'HEALTHY'], // a non-essential container does not count
    ['UNKNOWN', 'HEALTHY', undefined, 'UNKNOWN'],
    ['HEALTHY', undefined, 'UNKNOWN', 'UNKNOWN'], // every checked essential must be healthy
    ['HEALTHY', undefined, 'HEALTHY', 'HEALTHY'],
    ['UNKNOWN', undefined, 'UNHEALTHY', 'UNHEALTHY'], // any unhealthy essential decides
    ['HEALTHY', 'HEALTHY', 'UNHEALTHY', 'UNHEALTHY'],
  ])('web %s, sidecar %s, log %s → %s', (web, sidecar, log, expected) => {
    expect(health(web, sidecar, log)).toBe(expected);
  });

  it('a task without health checks on essential containers stays UNKNOWN', () => {
    expect(taskHealth([], () => true)).toBe('UNKNOWN');
    const td: TaskDefinition = { ...TD, containerDefinitions: [container('app')] };
    const next = applyTaskStateChange(newTask(td), change('RUNNING', [c('app', 'RUNNING', { healthStatus: 'HEALTHY' })]), T1, new Set(['app']));
    // The agent reported health for a container without a check; it is taken and then counts.
    expect(next.healthStatus).toBe('HEALTHY');
    expect(applyTaskStateChange(newTask(td), change('RUNNING', [c('app', 'RUNNING')]), T1, new Set(['app'])).healthStatus).toBe('UNKNOWN');
  });

  it('without the essential set every container counts as essential (ECS default)', () => {
    const next = applyTaskStateChange(at('RUNNING'), change('RUNNING', [c('web', 'RUNNING', { healthStatus: 'HEALTHY' }), c('sidecar', 'RUNNING', { healthStatus: 'UNHEALTHY' })]), T1);
    expect(next.healthStatus).toBe('UNHEALTHY');
  });
});

describe('timestamps and connectivity', () => {
  it('the first report connects the task; later ones keep connectivityAt', () => {
    const t1 = apply(newTask(), change('PENDING'), T1);
    expect(t1).toMatchObject({ connectivity: 'CONNECTED', connectivityAt: sec(T1) });
    const t2 = apply(t1, change('RUNNING'), T2);
    expect(t2.connectivityAt).toBe(sec(T1));
  });

  it('agent timestamps (epoch ms) become epoch seconds, first report wins', () => {
    const ms = T0.getTime();
    const t1 = apply(newTask(), change('PENDING', [], { pullStartedAt: ms + 1000, pullStoppedAt: ms + 2500 }));
    expect(t1).toMatchObject({ pullStartedAt: sec(T0) + 1, pullStoppedAt: sec(T0) + 2.5 });
    const t2 = apply(t1, change('RUNNING', [], { pullStartedAt: ms + 9000, startedAt: ms + 3000 }));
    expect(t2).toMatchObject({ pullStartedAt: sec(T0) + 1, startedAt: sec(T0) + 3 });
  });

  it('startedAt defaults to now on reaching RUNNING (or beyond), not before', () => {
    expect(apply(newTask(), change('ACTIVATING'), T1).startedAt).toBeUndefined();
    expect(apply(newTask(), change('RUNNING'), T1).startedAt).toBe(sec(T1));
    expect(apply(newTask(), change('STOPPING'), T1).startedAt).toBe(sec(T1));
  });

  it('a task that failed to start gets no startedAt: it never ran', () => {
    const failed = apply(at('PENDING'), change('STOPPED', [c('web', 'STOPPED', { reason: 'CannotStartContainerError: nope' })], { stopCode: 'TaskFailedToStart' }), T1);
    expect(failed).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'TaskFailedToStart', stoppedAt: sec(T1) });
    expect(failed.startedAt).toBeUndefined();
    // Told first (STOPPING with the code), then STOPPED without it: still none.
    const stopping = apply(at('PENDING'), change('STOPPING', [], { stopCode: 'TaskFailedToStart' }), T1);
    expect(stopping.startedAt).toBeUndefined();
    expect(apply(stopping, change('STOPPED'), T2).startedAt).toBeUndefined();
    // A task that did start and then stopped keeps the default.
    expect(apply(at('PENDING'), change('STOPPED', [], { stopCode: 'EssentialContainerExited' }), T1).startedAt).toBe(sec(T1));
  });

  it('STOPPED sets stoppedAt and executionStoppedAt (the agent’s when given) and stoppingAt', () => {
    const t = apply(at('RUNNING'), change('STOPPED', [], { executionStoppedAt: T1.getTime() }), T2);
    expect(t).toMatchObject({ stoppedAt: sec(T2), executionStoppedAt: sec(T1), stoppingAt: sec(T2) });
    const u = apply(at('RUNNING'), change('STOPPED'), T2);
    expect(u).toMatchObject({ stoppedAt: sec(T2), executionStoppedAt: sec(T2) });
  });

  it('a user stop keeps its stoppingAt', () => {
    const stopping = stopTask(at('RUNNING'), { stopCode: 'UserInitiated', reason: 'bye', now: T0 });
    const t = apply(stopping, change('STOPPED', [c('web', 'STOPPED', { exitCode: 143 })]), T2);
    expect(t).toMatchObject({ stoppingAt: sec(T0), stoppedAt: sec(T2), stopCode: 'UserInitiated', stoppedReason: 'bye', desiredStatus: 'STOPPED' });
  });
});

describe('why a task stops', () => {
  it('an essential container exiting stops the task: EssentialContainerExited', () => {
    const t = apply(at('RUNNING'), change('RUNNING', [c('web', 'STOPPED', { exitCode: 1 })]), T1);
    expect(t).toMatchObject({
      lastStatus: 'RUNNING',
      desiredStatus: 'STOPPED',
      stopCode: 'EssentialContainerExited',
      stoppedReason: ESSENTIAL_CONTAINER_EXITED_REASON,
      stoppingAt: sec(T1),
    });
    expect(t.stoppedAt).toBeUndefined();
  });

  it('a non-essential container exiting does not', () => {
    const t = apply(at('RUNNING'), change('RUNNING', [c('sidecar', 'STOPPED', { exitCode: 1 })]));
    expect(t).toMatchObject({ desiredStatus: 'RUNNING' });
    expect(t.stopCode).toBeUndefined();
    expect(t.stoppingAt).toBeUndefined();
  });

  it('the agent’s stopCode and reason win over what the containers show', () => {
    const t = apply(at('PENDING'), change('STOPPED', [c('web', 'STOPPED', { reason: 'CannotPullContainerError: nope' })], { stopCode: 'TaskFailedToStart', reason: 'CannotPullContainerError: nope' }));
    expect(t).toMatchObject({ stopCode: 'TaskFailedToStart', stoppedReason: 'CannotPullContainerError: nope', desiredStatus: 'STOPPED', lastStatus: 'STOPPED' });
  });

  it('a stopCode without a reason gets ECS’s words', () => {
    expect(apply(at('PENDING'), change('STOPPED', [], { stopCode: 'TaskFailedToStart' })).stoppedReason).toBe(TASK_FAILED_TO_START_REASON);
  });

  it('a user stop keeps UserInitiated even when the essential container then exits', () => {
    const stopping = stopTask(at('RUNNING'), { stopCode: 'UserInitiated', reason: 'Task stopped by user', now: T0 });
    const t = apply(stopping, change('STOPPING', [c('web', 'STOPPED', { exitCode: 143 })]));
    expect(t).toMatchObject({ stopCode: 'UserInitiated', stoppedReason: 'Task stopped by user', lastStatus: 'STOPPING' });
  });

  it('reaching DEACTIVATING or later means stopping, even unasked', () => {
    const t = apply(at('RUNNING'), change('DEACTIVATING'), T1);
    expect(t).toMatchObject({ desiredStatus: 'STOPPED', stoppingAt: sec(T1) });
    expect(t.stopCode).toBeUndefined();
  });

  it('STOPPED without any code keeps the agent’s reason', () => {
    const t = apply(at('RUNNING'), change('STOPPED', [], { reason: 'host is shutting down' }));
    expect(t).toMatchObject({ desiredStatus: 'STOPPED', stoppedReason: 'host is shutting down' });
  });
});

describe('awsvpc', () => {
  it('the task address goes to its ENI (ATTACHED) and its containers; STOPPED deletes the ENI', () => {
    const task = newTask(TD, eniAttachment('eni-att-1', 'subnet-a'));
    const running = apply(task, change('RUNNING', [], { privateIPv4Address: '169.254.10.2' }));
    expect(running.attachments[0]).toMatchObject({ status: 'ATTACHED', details: [{ name: 'subnetId', value: 'subnet-a' }, { name: 'privateIPv4Address', value: '169.254.10.2' }] });
    expect(running.containers.every((x) => x.networkInterfaces[0]?.privateIpv4Address === '169.254.10.2' && x.networkInterfaces[0].attachmentId === 'eni-att-1')).toBe(true);
    const stopped = apply(running, change('STOPPED'));
    expect(stopped.attachments[0]!.status).toBe('DELETED');
  });

  it('an address for a task without an ENI changes nothing about attachments', () => {
    const t = apply(at('RUNNING'), change('RUNNING', [], { privateIPv4Address: '10.0.0.1' }));
    expect(t.attachments).toEqual([]);
    expect(t.containers[0]!.networkInterfaces).toEqual([]);
  });
});

describe('instanceEffect', () => {
  const pairs = TASK_LIFECYCLE.flatMap((from) => TASK_LIFECYCLE.map((to) => [from, to] as const));
  it.each(pairs)('%s → %s', (from, to) => {
    const effect = instanceEffect({ lastStatus: from }, { lastStatus: to });
    const [b, a, R, S] = [taskStatusRank(from), taskStatusRank(to), taskStatusRank('RUNNING'), taskStatusRank('STOPPED')];
    if (b === S || a === b) expect(effect).toEqual({ kind: 'none' });
    else if (a === S) expect(effect).toEqual({ kind: 'released', wasRunning: b >= R });
    else if (b < R && a >= R) expect(effect).toEqual({ kind: 'started' });
    else expect(effect).toEqual({ kind: 'none' });
  });

  it('any path to STOPPED balances the counts: started once, released as running', () => {
    for (const path of [
      ['PENDING', 'RUNNING', 'STOPPED'],
      ['PENDING', 'STOPPING', 'STOPPED'],
      ['PROVISIONING', 'ACTIVATING', 'RUNNING', 'DEACTIVATING', 'DEPROVISIONING', 'STOPPED'],
      ['PENDING', 'STOPPED'],
    ]) {
      let pending = 1;
      let running = 0;
      for (let i = 1; i < path.length; i++) {
        const e = instanceEffect({ lastStatus: path[i - 1]! }, { lastStatus: path[i]! });
        if (e.kind === 'started') [pending, running] = [pending - 1, running + 1];
        if (e.kind === 'released') {
          if (e.wasRunning) running--;
          else pending--;
        }
      }
      expect([pending, running], path.join('→')).toEqual([0, 0]);
    }
  });
});
