/** RunTask / StartTask overrides: kept whole, checked against the task definition; Fargate sizes. */
import { describe, expect, it } from 'vitest';
import type { ContainerDefinition } from './task-definition-types.js';
import { checkFargateSize, effectiveContainer, readTaskOverride } from './task-overrides.js';
import { containerDefinition, fails } from './testing/ecs-harness.suite.js';

const container = (name: string, extra: Partial<ContainerDefinition> = {}) => containerDefinition(name, { image: 'busybox', ...extra });
const td = { containerDefinitions: [container('web', { memory: 256 }), container('sidecar', { memoryReservation: 64 })] };
const fargateTd = { ...td, cpu: '256', memory: '512' };
const read = (overrides: unknown, launchType = 'EC2', def: Parameters<typeof readTaskOverride>[1] = td) => readTaskOverride({ overrides }, def, launchType);

describe('readTaskOverride', () => {
  it('without overrides: one entry per container, in task definition order, as ECS returns it', () => {
    expect(readTaskOverride({}, td, 'EC2')).toEqual({
      containerOverrides: [{ name: 'web' }, { name: 'sidecar' }],
      inferenceAcceleratorOverrides: [],
    });
  });

  it('keeps every override given (command, environment, files, cpu, memory, reservation, GPUs)', () => {
    const web = {
      name: 'web',
      command: ['sh', '-c', 'echo hi'],
      environment: [{ name: 'A', value: '1' }, { name: 'B' }],
      environmentFiles: [{ value: 'arn:aws:s3:::bucket/app.env', type: 's3' }],
      cpu: 128,
      memory: 300,
      memoryReservation: 200,
      resourceRequirements: [{ value: '1', type: 'GPU' }],
    };
    const out = read({ containerOverrides: [web], taskRoleArn: 'arn:aws:iam::000000000000:role/app', executionRoleArn: 'arn:aws:iam::000000000000:role/exec' });
    expect(out.containerOverrides).toEqual([{ ...web, environment: [{ name: 'A', value: '1' }, { name: 'B', value: '' }] }, { name: 'sidecar' }]);
    expect(out.taskRoleArn).toBe('arn:aws:iam::000000000000:role/app');
    expect(out.executionRoleArn).toBe('arn:aws:iam::000000000000:role/exec');
  });

  it('a container the task definition does not have (ECS message)', () => {
    fails(() => read({ containerOverrides: [{ name: 'db' }] }), 'InvalidParameterException', 'Override for container named db is not a container in the TaskDefinition');
  });

  it('names are required and given once', () => {
    fails(() => read({ containerOverrides: [{ command: ['x'] }] }), 'InvalidParameterException', 'overrides.containerOverrides[0].name is required.');
    fails(() => read({ containerOverrides: [{ name: 'web' }, { name: 'web' }] }), 'InvalidParameterException', /named web is given more than once/);
  });

  it('checks member types', () => {
    fails(() => read({ containerOverrides: [{ name: 'web', command: 'echo hi' }] }), 'SerializationException', /command/);
    fails(() => read({ containerOverrides: [{ name: 'web', cpu: '1' }] }), 'SerializationException', /cpu/);
    fails(() => read({ containerOverrides: [{ name: 'web', environment: [{ value: 'x' }] }] }), 'InvalidParameterException', /environment\[0\]\.name is required/);
    fails(() => read({ containerOverrides: [{ name: 'web', environmentFiles: [{ value: 'x', type: 'http' }] }] }), 'InvalidParameterException', /type must be one of s3/);
    fails(() => read({ containerOverrides: [{ name: 'web', resourceRequirements: [{ type: 'GPU' }] }] }), 'InvalidParameterException', /requires a value and a type/);
  });

  it('container memory: at least 6 MiB, and the reservation within the hard limit', () => {
    fails(() => read({ containerOverrides: [{ name: 'web', memory: 4 }] }), 'InvalidParameterException', /memory must be at least 6/);
    fails(() => read({ containerOverrides: [{ name: 'web', memoryReservation: 300 }] }), 'InvalidParameterException', /Invalid setting for container 'web'/);
    expect(read({ containerOverrides: [{ name: 'web', memory: 512, memoryReservation: 300 }] }).containerOverrides[0]).toMatchObject({ memory: 512 });
  });

  it('task cpu and memory are normalized to units and MiB', () => {
    const out = read({ cpu: '1 vCPU', memory: '2 GB' });
    expect(out.cpu).toBe('1024');
    expect(out.memory).toBe('2048');
    fails(() => read({ cpu: 'lots' }), 'InvalidParameterException', "Invalid 'cpu' override for task: lots.");
  });

  it('on Fargate the overridden size must be a Fargate size', () => {
    expect(read({ cpu: '512', memory: '1024' }, 'FARGATE', fargateTd).cpu).toBe('512');
    expect(read({ memory: '1024' }, 'FARGATE', fargateTd).memory).toBe('1024');
    fails(() => read({ memory: '4096' }, 'FARGATE', fargateTd), 'ClientException', /No Fargate configuration exists for given values: 256 CPU, 4096 memory/);
    fails(() => read({ cpu: '300' }, 'FARGATE', fargateTd), 'ClientException', "Invalid 'cpu' setting for task.");
  });

  it('ephemeral storage: Fargate only, 21 to 200 GiB', () => {
    expect(read({ ephemeralStorage: { sizeInGiB: 50 } }, 'FARGATE', fargateTd).ephemeralStorage).toEqual({ sizeInGiB: 50 });
    fails(() => read({ ephemeralStorage: { sizeInGiB: 50 } }, 'EC2'), 'InvalidParameterException', /only supported for tasks using the FARGATE launch type/);
    fails(() => read({ ephemeralStorage: { sizeInGiB: 20 } }, 'FARGATE', fargateTd), 'InvalidParameterException', /sizeInGiB must be at least 21/);
    fails(() => read({ ephemeralStorage: {} }, 'FARGATE', fargateTd), 'InvalidParameterException', /sizeInGiB is required/);
  });

  it('at most 8192 characters of JSON (ECS message)', () => {
    const big = { containerOverrides: [{ name: 'web', command: ['x'.repeat(8200)] }] };
    fails(() => read(big), 'InvalidParameterException', 'Container Overrides length must be at most 8192');
  });

  it('Elastic Inference is gone', () => {
    fails(() => read({ inferenceAcceleratorOverrides: [{ deviceName: 'd', deviceType: 'eia2.medium' }] }), 'UnsupportedFeatureException', /no longer available/);
  });
});

describe('checkFargateSize', () => {
  it('accepts each documented size and refuses others', () => {
    expect(() => checkFargateSize(256, 512)).not.toThrow();
    expect(() => checkFargateSize(4096, 30720)).not.toThrow();
    expect(() => checkFargateSize(16384, 122880)).not.toThrow();
    fails(() => checkFargateSize(256, 4096), 'ClientException', /256 CPU, 4096 memory/);
    expect(() => checkFargateSize(8192, 20480)).not.toThrow();
    fails(() => checkFargateSize(8192, 18432), 'ClientException', /8192 CPU, 18432 memory/);
    fails(() => checkFargateSize(undefined, 512), 'ClientException', "Invalid 'cpu' setting for task.");
  });
});

describe('effectiveContainer', () => {
  it('override wins over the task definition, member by member', () => {
    expect(effectiveContainer(container('web', { cpu: 10, memory: 256 }), { name: 'web', memoryReservation: 100 })).toEqual({ cpu: 10, memory: 256, memoryReservation: 100 });
    expect(effectiveContainer(container('web', { cpu: 10 }), { name: 'web', cpu: 20 })).toEqual({ cpu: 20 });
    expect(effectiveContainer(container('web'), undefined)).toEqual({ cpu: 0 });
  });
});
