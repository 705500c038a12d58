/** placementConstraints / placementStrategy: every rule and its message. */
import { describe, expect, it } from 'vitest';
import { checkPlacementForLaunchType, readPlacementConstraints, readPlacementStrategy } from './placement-input.js';
import { fails } from './testing/ecs-harness.suite.js';

const constraints = (list: unknown, fromTd = 0) => readPlacementConstraints({ placementConstraints: list }, fromTd);
const strategy = (list: unknown) => readPlacementStrategy({ placementStrategy: list });

describe('placementConstraints', () => {
  it('absent is undefined, empty is empty', () => {
    expect(readPlacementConstraints({}, 0)).toBeUndefined();
    expect(constraints([])).toEqual([]);
  });
  it('reads distinctInstance and memberOf', () => {
    expect(
      constraints([{ type: 'distinctInstance' }, { type: 'memberOf', expression: 'attribute:ecs.instance-type =~ t2.*' }]),
    ).toEqual([{ type: 'distinctInstance' }, { type: 'memberOf', expression: 'attribute:ecs.instance-type =~ t2.*' }]);
  });
  it('distinctInstance takes no expression', () => {
    fails(() => constraints([{ type: 'distinctInstance', expression: 'x == y' }]), 'InvalidParameterException', /distinctInstance constraint takes no expression/);
  });
  it('memberOf needs a valid expression of at most 2000 characters', () => {
    fails(() => constraints([{ type: 'memberOf' }]), 'InvalidParameterException', /memberOf constraint requires an expression/);
    fails(() => constraints([{ type: 'memberOf', expression: 'attribute:x ==' }]), 'InvalidParameterException', /placementConstraints\[0\]\.expression: /);
    const long = `attribute:a == ${'x'.repeat(2000)}`;
    fails(() => constraints([{ type: 'memberOf', expression: long }]), 'InvalidParameterException', /at most 2000 characters/);
  });
  it('type is required and one of the two', () => {
    fails(() => constraints([{}]), 'InvalidParameterException', 'placementConstraints[0].type is required.');
    fails(() => constraints([{ type: 'sameInstance' }]), 'InvalidParameterException', /must be one of distinctInstance, memberOf/);
  });
  it('counts the task definition\'s constraints against the limit of 10', () => {
    const ten = Array.from({ length: 10 }, () => ({ type: 'distinctInstance' }));
    expect(constraints(ten)).toHaveLength(10);
    fails(() => constraints(ten.slice(0, 8), 3), 'InvalidParameterException', /Too many placement constraints: 8 given and 3 in the task definition/);
  });
  it('checks types', () => {
    fails(() => constraints('distinctInstance'), 'SerializationException', /placementConstraints/);
    fails(() => constraints(['distinctInstance']), 'SerializationException', /placementConstraints\[0\]/);
  });
});

describe('placementStrategy', () => {
  it('reads random, spread and binpack', () => {
    expect(
      strategy([{ type: 'random' }, { type: 'spread', field: 'attribute:ecs.availability-zone' }, { type: 'spread', field: 'instanceId' }, { type: 'binpack', field: 'memory' }]),
    ).toEqual([
      { type: 'random' },
      { type: 'spread', field: 'attribute:ecs.availability-zone' },
      { type: 'spread', field: 'instanceId' },
      { type: 'binpack', field: 'memory' },
    ]);
    expect(strategy([{ type: 'spread', field: 'host' }, { type: 'binpack', field: 'cpu' }])).toHaveLength(2);
  });
  it('spread needs instanceId, host or attribute:<name>', () => {
    fails(() => strategy([{ type: 'spread' }]), 'InvalidParameterException', /spread strategy requires a field/);
    fails(() => strategy([{ type: 'spread', field: 'zone' }]), 'InvalidParameterException', /field 'zone' is not valid for spread/);
    fails(() => strategy([{ type: 'spread', field: 'attribute:' }]), 'InvalidParameterException', /not valid for spread/);
  });
  it('binpack needs cpu or memory', () => {
    fails(() => strategy([{ type: 'binpack' }]), 'InvalidParameterException', /binpack strategy requires a field/);
    fails(() => strategy([{ type: 'binpack', field: 'disk' }]), 'InvalidParameterException', /field 'disk' is not valid for binpack/);
  });
  it('at most 5 rules', () => {
    fails(() => strategy(Array.from({ length: 6 }, () => ({ type: 'random' }))), 'InvalidParameterException', /at most 5 items/);
  });
  it('type is required and known', () => {
    fails(() => strategy([{ field: 'cpu' }]), 'InvalidParameterException', 'placementStrategy[0].type is required.');
    fails(() => strategy([{ type: 'pack' }]), 'InvalidParameterException', /must be one of random, spread, binpack/);
  });
});

describe('checkPlacementForLaunchType', () => {
  it('Fargate takes neither constraints nor strategies', () => {
    fails(() => checkPlacementForLaunchType('FARGATE', [{ type: 'distinctInstance' }], undefined), 'InvalidParameterException', /constraints are not supported .* FARGATE/);
    fails(() => checkPlacementForLaunchType('FARGATE', [], [{ type: 'random' }]), 'InvalidParameterException', /strategies are not supported .* FARGATE/);
    expect(() => checkPlacementForLaunchType('FARGATE', [], [])).not.toThrow();
  });
  it('EC2 and EXTERNAL take both', () => {
    expect(() => checkPlacementForLaunchType('EC2', [{ type: 'distinctInstance' }], [{ type: 'random' }])).not.toThrow();
    expect(() => checkPlacementForLaunchType('EXTERNAL', [{ type: 'distinctInstance' }], [{ type: 'random' }])).not.toThrow();
  });
});
