/** launchType / capacityProviderStrategy, compatibility, platform version, clientToken, startedBy. */
import { describe, expect, it } from 'vitest';
import {
  checkCompatibility,
  checkTaskDefinitionRunnable,
  chooseCapacityProviders,
  MSG_BOTH_LAUNCH,
  MSG_PROVIDER_MIX,
  MSG_PROVIDER_NOT_IN_CLUSTER,
  MSG_TASK_DEFINITION_INACTIVE,
  readClientToken,
  readLaunchRequest,
  readPlatformVersion,
  readStartedBy,
  resolveLaunch,
  resolvePlatformVersion,
} from './launch-input.js';
import { fails } from './testing/ecs-harness.suite.js';

describe('readLaunchRequest', () => {
  it('reads a launch type or a strategy', () => {
    expect(readLaunchRequest({})).toEqual({});
    expect(readLaunchRequest({ launchType: 'FARGATE' })).toEqual({ launchType: 'FARGATE' });
    expect(readLaunchRequest({ capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] })).toEqual({
      capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
    });
  });
  it('an empty strategy is no strategy', () => {
    expect(readLaunchRequest({ launchType: 'EC2', capacityProviderStrategy: [] })).toEqual({ launchType: 'EC2' });
  });
  it('refuses both (ECS message)', () => {
    fails(() => readLaunchRequest({ launchType: 'EC2', capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] }), 'InvalidParameterException', MSG_BOTH_LAUNCH);
  });
  it('refuses unknown launch types, and MANAGED_INSTANCES as a launch type', () => {
    fails(() => readLaunchRequest({ launchType: 'LAMBDA' }), 'InvalidParameterException', /launchType must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES/);
    fails(() => readLaunchRequest({ launchType: 'MANAGED_INSTANCES' }), 'InvalidParameterException', /specify a capacityProviderStrategy and omit launchType/);
  });
  it('checks each strategy item', () => {
    const s = (items: unknown[]) => () => readLaunchRequest({ capacityProviderStrategy: items });
    fails(s([{ weight: 1 }]), 'InvalidParameterException', 'capacityProviderStrategy[0].capacityProvider is required.');
    fails(s([{ capacityProvider: 'FARGATE', weight: 1001 }]), 'InvalidParameterException', /weight must be at most 1000/);
    fails(s([{ capacityProvider: 'FARGATE', weight: 1, base: 100001 }]), 'InvalidParameterException', /base must be at most 100000/);
    fails(s([{ capacityProvider: 'FARGATE', weight: 1 }, { capacityProvider: 'FARGATE', weight: 1 }]), 'InvalidParameterException', /FARGATE appears more than once/);
    fails(s([{ capacityProvider: 'FARGATE', base: 1, weight: 1 }, { capacityProvider: 'FARGATE_SPOT', base: 1 }]), 'InvalidParameterException', /Only one capacity provider .* base/);
    fails(s([{ capacityProvider: 'FARGATE', weight: 0 }]), 'InvalidParameterException', /weight greater than zero/);
    fails(s([{ capacityProvider: 'FARGATE', weight: 1 }, { capacityProvider: 'my-asg', weight: 1 }]), 'InvalidParameterException', MSG_PROVIDER_MIX);
    fails(s(Array.from({ length: 21 }, (_, i) => ({ capacityProvider: `p${i}`, weight: 1 }))), 'InvalidParameterException', /at most 20 items/);
  });
  it('a base alone is enough to place tasks', () => {
    expect(readLaunchRequest({ capacityProviderStrategy: [{ capacityProvider: 'FARGATE', base: 2 }] }).capacityProviderStrategy).toHaveLength(1);
  });
});

describe('resolveLaunch', () => {
  const cluster = { capacityProviders: ['my-asg'], defaultCapacityProviderStrategy: [] };
  it('a launch type is used as is', () => {
    expect(resolveLaunch({ launchType: 'EXTERNAL' }, cluster)).toEqual({ launchType: 'EXTERNAL' });
  });
  it('nothing given and no cluster default: EC2', () => {
    expect(resolveLaunch({}, cluster)).toEqual({ launchType: 'EC2' });
  });
  it('nothing given: the cluster default strategy', () => {
    const strategy = [{ capacityProvider: 'FARGATE', weight: 1, base: 0 }];
    expect(resolveLaunch({}, { capacityProviders: [], defaultCapacityProviderStrategy: strategy })).toEqual({ launchType: 'FARGATE', capacityProviderStrategy: strategy });
  });
  it('Fargate providers run FARGATE; others EC2 when associated with the cluster', () => {
    expect(resolveLaunch({ capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] }, cluster).launchType).toBe('FARGATE');
    expect(resolveLaunch({ capacityProviderStrategy: [{ capacityProvider: 'my-asg', weight: 1 }] }, cluster).launchType).toBe('EC2');
    fails(() => resolveLaunch({ capacityProviderStrategy: [{ capacityProvider: 'other', weight: 1 }] }, cluster), 'InvalidParameterException', MSG_PROVIDER_NOT_IN_CLUSTER);
  });
});

describe('chooseCapacityProviders', () => {
  it('fills the base first, then goes by weight', () => {
    const out = chooseCapacityProviders([{ capacityProvider: 'FARGATE', base: 2, weight: 1 }, { capacityProvider: 'FARGATE_SPOT', weight: 3 }], 6);
    expect(out.slice(0, 2)).toEqual(['FARGATE', 'FARGATE']);
    expect(out.filter((p) => p === 'FARGATE_SPOT')).toHaveLength(3);
    expect(out).toHaveLength(6);
  });
  it('keeps the weighted ratio', () => {
    const out = chooseCapacityProviders([{ capacityProvider: 'A', weight: 1 }, { capacityProvider: 'B', weight: 1 }], 4);
    expect(out.filter((p) => p === 'A')).toHaveLength(2);
  });
  it('a provider with weight 0 gets only its base', () => {
    const out = chooseCapacityProviders([{ capacityProvider: 'A', base: 1, weight: 0 }, { capacityProvider: 'B', weight: 1 }], 3);
    expect(out).toEqual(['A', 'B', 'B']);
  });
});

describe('task definition runnable', () => {
  const td = (status: 'ACTIVE' | 'INACTIVE', compatibilities: Array<'EC2' | 'FARGATE' | 'EXTERNAL'>) => ({ status, compatibilities });
  it('must be ACTIVE (ECS message)', () => {
    fails(() => checkTaskDefinitionRunnable(td('INACTIVE', ['EC2']), 'EC2'), 'InvalidParameterException', MSG_TASK_DEFINITION_INACTIVE);
  });
  it('must be compatible with the launch type (ECS message)', () => {
    expect(() => checkTaskDefinitionRunnable(td('ACTIVE', ['EC2', 'FARGATE']), 'FARGATE')).not.toThrow();
    fails(() => checkCompatibility(td('ACTIVE', ['EC2']), 'FARGATE'), 'InvalidParameterException', 'Task definition does not support launch_type FARGATE.');
    fails(() => checkCompatibility(td('ACTIVE', ['EC2']), 'EXTERNAL'), 'InvalidParameterException', 'Task definition does not support launch_type EXTERNAL.');
  });
});

describe('platform version', () => {
  it('only for Fargate, and known', () => {
    expect(readPlatformVersion({}, 'EC2')).toBeUndefined();
    expect(readPlatformVersion({ platformVersion: 'LATEST' }, 'FARGATE')).toBe('LATEST');
    expect(readPlatformVersion({ platformVersion: '1.4.0' }, 'FARGATE')).toBe('1.4.0');
    fails(() => readPlatformVersion({ platformVersion: '1.4.0' }, 'EC2'), 'InvalidParameterException', /only supported for tasks using the FARGATE launch type/);
    fails(() => readPlatformVersion({ platformVersion: '9.9.9' }, 'FARGATE'), 'InvalidParameterException', /platform version 9.9.9 does not exist/);
  });
  it('LATEST resolves to the newest', () => {
    expect(resolvePlatformVersion(undefined)).toBe('1.4.0');
    expect(resolvePlatformVersion('LATEST')).toBe('1.4.0');
    expect(resolvePlatformVersion('1.3.0')).toBe('1.3.0');
  });
});

describe('clientToken', () => {
  it('up to the operation limit of printable ASCII', () => {
    expect(readClientToken({}, 64)).toBeUndefined();
    expect(readClientToken({ clientToken: 'a'.repeat(64) }, 64)).toHaveLength(64);
    fails(() => readClientToken({ clientToken: 'a'.repeat(37) }, 36), 'InvalidParameterException', 'clientToken must be at most 36 characters long.');
    fails(() => readClientToken({ clientToken: 'has space' }, 64), 'InvalidParameterException', /ASCII characters 33-126/);
    fails(() => readClientToken({ clientToken: 'é' }, 64), 'InvalidParameterException', /ASCII characters 33-126/);
    fails(() => readClientToken({ clientToken: '' }, 64), 'InvalidParameterException', 'clientToken must not be empty.');
  });
});

describe('startedBy', () => {
  it('letters, digits, - / _ up to the limit', () => {
    expect(readStartedBy({ startedBy: 'ecs-svc/123_abc' }, 36)).toBe('ecs-svc/123_abc');
    expect(readStartedBy({}, 36)).toBeUndefined();
    fails(() => readStartedBy({ startedBy: 'x'.repeat(37) }, 36), 'InvalidParameterException', 'startedBy must be at most 36 characters long.');
    fails(() => readStartedBy({ startedBy: 'a b' }, 128), 'InvalidParameterException', /startedBy may contain only/);
  });
});
