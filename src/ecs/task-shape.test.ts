/** The Task object: what a new task looks like, what it reserves, and what StopTask does to it. */
import { describe, expect, it } from 'vitest';
import type { TaskDefinition } from './task-definition-types.js';
import { eniAttachment } from './network-configuration.js';
import { buildTask, hasReachedAgent, staticHostPorts, stopTask, taskDefinitionRefOf, taskReservation, taskSize, type NewTask, type Task } from './task-shape.js';
import type { TaskOverride } from './task-overrides.js';
import { containerDefinition as container } from './testing/ecs-harness.suite.js';

const td = (extra: Partial<TaskDefinition> = {}): TaskDefinition => ({
  taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:3',
  family: 'web',
  revision: 3,
  containerDefinitions: [
    container('web', { cpu: 256, memory: 512, portMappings: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }] }),
    container('log', { cpu: 128, memoryReservation: 64, portMappings: [{ containerPort: 514, hostPort: 514, protocol: 'udp' }, { containerPort: 9000 }] }),
  ],
  volumes: [],
  status: 'ACTIVE',
  placementConstraints: [],
  compatibilities: ['EC2'],
  registeredAt: 0,
  registeredBy: 'arn:aws:iam::000000000000:root',
  ...extra,
});

const noOverrides = (d: TaskDefinition): TaskOverride => ({ containerOverrides: d.containerDefinitions.map((c) => ({ name: c.name })), inferenceAcceleratorOverrides: [] });
const NOW = new Date(Date.UTC(2025, 4, 6, 7, 8, 9, 500));

const newTask = (d: TaskDefinition, extra: Partial<NewTask> = {}): Task =>
  buildTask({
    taskArn: 'arn:aws:ecs:us-east-1:000000000000:task/prod/abc',
    clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/prod',
    td: d,
    overrides: noOverrides(d),
    launchType: 'EC2',
    containerArns: d.containerDefinitions.map((_, i) => `arn:aws:ecs:us-east-1:000000000000:container/prod/abc/c${i}`),
    group: 'family:web',
    tags: [],
    enableExecuteCommand: false,
    now: NOW,
    ...extra,
  });

describe('what a task reserves', () => {
  it('bridge: fixed host ports, by protocol; dynamic ones (no hostPort) hold nothing', () => {
    expect(staticHostPorts(td())).toEqual({ tcp: [8080], udp: [514] });
  });
  it('host: every container port', () => {
    expect(staticHostPorts(td({ networkMode: 'host' }))).toEqual({ tcp: [8080, 9000], udp: [514] });
  });
  it('awsvpc and none: no host ports', () => {
    expect(staticHostPorts(td({ networkMode: 'awsvpc' }))).toEqual({ tcp: [], udp: [] });
    expect(staticHostPorts(td({ networkMode: 'none' }))).toEqual({ tcp: [], udp: [] });
  });
  it('size: the sum over containers (memoryReservation before memory) without task-level values', () => {
    expect(taskSize(td(), noOverrides(td()))).toEqual({ cpu: 384, memory: 576 });
  });
  it('size: task-level values win, and overrides win over them', () => {
    const d = td({ cpu: '1024', memory: '2048' });
    expect(taskSize(d, noOverrides(d))).toEqual({ cpu: 1024, memory: 2048 });
    expect(taskSize(d, { ...noOverrides(d), cpu: '512' })).toEqual({ cpu: 512, memory: 2048 });
  });
  it('size: container overrides count', () => {
    const o: TaskOverride = { containerOverrides: [{ name: 'web', memory: 1000, cpu: 100 }, { name: 'log' }], inferenceAcceleratorOverrides: [] };
    expect(taskSize(td(), o)).toEqual({ cpu: 228, memory: 1064 });
  });
  it('reservation puts it together', () => {
    expect(taskReservation(td(), noOverrides(td()))).toEqual({ cpu: 384, memory: 576, tcpPorts: [8080], udpPorts: [514] });
  });
});

describe('buildTask', () => {
  it('an EC2 bridge task: PENDING, desired RUNNING, version 1, containers PENDING with their limits as strings', () => {
    const t = newTask(td(), { containerInstanceArn: 'arn:aws:ecs:us-east-1:000000000000:container-instance/prod/i1', availabilityZone: 'us-east-1a' });
    expect(t).toMatchObject({
      taskArn: 'arn:aws:ecs:us-east-1:000000000000:task/prod/abc',
      clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/prod',
      taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:3',
      containerInstanceArn: 'arn:aws:ecs:us-east-1:000000000000:container-instance/prod/i1',
      availabilityZone: 'us-east-1a',
      lastStatus: 'PENDING',
      desiredStatus: 'RUNNING',
      healthStatus: 'UNKNOWN',
      launchType: 'EC2',
      cpu: '384',
      memory: '576',
      createdAt: NOW.getTime() / 1000,
      version: 1,
      group: 'family:web',
      attachments: [],
      attributes: [],
      tags: [],
      enableExecuteCommand: false,
      overrides: { containerOverrides: [{ name: 'web' }, { name: 'log' }], inferenceAcceleratorOverrides: [] },
    });
    expect(t.containers).toEqual([
      {
        containerArn: 'arn:aws:ecs:us-east-1:000000000000:container/prod/abc/c0',
        taskArn: t.taskArn,
        name: 'web',
        image: 'web:latest',
        lastStatus: 'PENDING',
        networkInterfaces: [],
        cpu: '256',
        memory: '512',
      },
      {
        containerArn: 'arn:aws:ecs:us-east-1:000000000000:container/prod/abc/c1',
        taskArn: t.taskArn,
        name: 'log',
        image: 'log:latest',
        lastStatus: 'PENDING',
        networkInterfaces: [],
        cpu: '128',
        memoryReservation: '64',
      },
    ]);
    expect(t.platformVersion).toBeUndefined();
    expect(t.ephemeralStorage).toBeUndefined();
  });

  it('a Fargate task: PROVISIONING, platform version and family, ENI attachment, ephemeral storage, architecture', () => {
    const d = td({ networkMode: 'awsvpc', cpu: '256', memory: '512', compatibilities: ['EC2', 'FARGATE'], runtimePlatform: { cpuArchitecture: 'ARM64' } });
    const t = newTask(d, { launchType: 'FARGATE', platformVersion: '1.4.0', attachment: eniAttachment('att', 'subnet-1'), capacityProviderName: 'FARGATE_SPOT' });
    expect(t).toMatchObject({
      lastStatus: 'PROVISIONING',
      launchType: 'FARGATE',
      capacityProviderName: 'FARGATE_SPOT',
      platformVersion: '1.4.0',
      platformFamily: 'Linux',
      cpu: '256',
      memory: '512',
      attachments: [{ id: 'att', type: 'ElasticNetworkInterface', status: 'PRECREATED', details: [{ name: 'subnetId', value: 'subnet-1' }] }],
      attributes: [{ name: 'ecs.cpu-architecture', value: 'arm64' }],
      ephemeralStorage: { sizeInGiB: 20 },
      fargateEphemeralStorage: { sizeInGiB: 20 },
    });
    expect(t.containerInstanceArn).toBeUndefined();
  });

  it('an EC2 awsvpc task waits for its ENI too (PROVISIONING)', () => {
    expect(newTask(td({ networkMode: 'awsvpc' })).lastStatus).toBe('PROVISIONING');
  });

  it('keeps overrides, and shows overridden limits on the containers', () => {
    const o: TaskOverride = { containerOverrides: [{ name: 'web', command: ['run'], memory: 1000 }, { name: 'log' }], inferenceAcceleratorOverrides: [], ephemeralStorage: { sizeInGiB: 40 } };
    const d = td({ networkMode: 'awsvpc', cpu: '256', memory: '2048', compatibilities: ['FARGATE'] });
    const t = newTask(d, { overrides: o, launchType: 'FARGATE' });
    expect(t.overrides).toEqual(o);
    expect(t.containers[0]!.memory).toBe('1000');
    expect(t.ephemeralStorage).toEqual({ sizeInGiB: 40 });
  });

  it('a container with a health check reports UNKNOWN health', () => {
    const d = td({ containerDefinitions: [container('web', { healthCheck: { command: ['CMD', 'true'] } })] });
    expect(newTask(d).containers[0]!.healthStatus).toBe('UNKNOWN');
  });

  it('startedBy and tags when given', () => {
    const t = newTask(td(), { startedBy: 'ci', tags: [{ key: 'team', value: 'a' }], enableExecuteCommand: true });
    expect(t).toMatchObject({ startedBy: 'ci', tags: [{ key: 'team', value: 'a' }], enableExecuteCommand: true });
  });
});

describe('stopTask', () => {
  const later = new Date(NOW.getTime() + 60_000);
  const req = { stopCode: 'UserInitiated' as const, reason: 'done', now: later };

  it('a task no agent has picked up stops on the spot', () => {
    const t = newTask(td({ networkMode: 'awsvpc' }), { attachment: eniAttachment('att', 's'), tags: [{ key: 'k', value: 'v' }] });
    const s = stopTask(t, req);
    const at = later.getTime() / 1000;
    expect(s).toMatchObject({
      desiredStatus: 'STOPPED',
      lastStatus: 'STOPPED',
      stopCode: 'UserInitiated',
      stoppedReason: 'done',
      stoppingAt: at,
      stoppedAt: at,
      executionStoppedAt: at,
      version: 2,
      tags: [],
    });
    expect(s.containers.every((c) => c.lastStatus === 'STOPPED')).toBe(true);
    expect(s.attachments[0]!.status).toBe('DELETED');
  });

  it('a task an agent is working on keeps its lastStatus for the agent to move', () => {
    const running: Task = { ...newTask(td()), lastStatus: 'RUNNING' };
    const s = stopTask(running, req);
    expect(s).toMatchObject({ desiredStatus: 'STOPPED', lastStatus: 'RUNNING', stopCode: 'UserInitiated', stoppedReason: 'done', version: 2 });
    expect(s.stoppedAt).toBeUndefined();
    const pulling: Task = { ...newTask(td()), pullStartedAt: 1 };
    expect(stopTask(pulling, req).lastStatus).toBe('PENDING');
  });

  it('a task already told to stop is left as it is', () => {
    const once = stopTask(newTask(td()), req);
    expect(stopTask(once, { ...req, reason: 'again', now: new Date(later.getTime() + 1000) })).toBe(once);
  });

  it('hasReachedAgent', () => {
    expect(hasReachedAgent({ lastStatus: 'PROVISIONING' })).toBe(false);
    expect(hasReachedAgent({ lastStatus: 'PENDING' })).toBe(false);
    expect(hasReachedAgent({ lastStatus: 'PENDING', pullStartedAt: 5 })).toBe(true);
    expect(hasReachedAgent({ lastStatus: 'ACTIVATING' })).toBe(true);
  });
});

describe('taskDefinitionRefOf', () => {
  it('reads family and revision from the ARN', () => {
    expect(taskDefinitionRefOf({ taskDefinitionArn: 'arn:aws:ecs:us-east-1:1:task-definition/my-app_2:17' })).toEqual({ family: 'my-app_2', revision: 17 });
    expect(taskDefinitionRefOf({ taskDefinitionArn: 'nonsense' })).toBeUndefined();
  });
});
