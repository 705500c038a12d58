/** memberOf through the query language, against the instance as the plan leaves it. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import { memberOfCheckers } from './member-of.js';

const state = clusterOf(
  instance('a', { attributes: { zone: 'a', 'ecs.instance-type': 't3.large' }, groups: { 'service:db': 1 }, ec2InstanceId: 'i-aaa' }),
  instance('b', { attributes: { zone: 'b', 'ecs.instance-type': 'm5.large' }, registeredAt: new Date('2020-01-01T00:00:00Z'), agentVersion: '1.20.0' }),
  instance('c', { attributes: { zone: 'c' }, agentConnected: false, runningTasksCount: 7 }),
);

const feasible = (expression: string, over = {}) => {
  const w = working(state, request({ constraints: [{ type: 'memberOf', expression }], ...over }));
  const [c] = memberOfCheckers(w);
  return [0, 1, 2].map((i) => c!.feasible(i));
};

describe('memberOfCheckers', () => {
  it('one checker per memberOf constraint, named by its expression', () => {
    const w = working(state, request({ constraints: [{ type: 'memberOf', expression: 'attribute:zone == b' }, { type: 'distinctInstance' }, { type: 'memberOf', expression: ' runningTasksCount == 0 ' }] }));
    const cs = memberOfCheckers(w);
    expect(cs.map((c) => c.name)).toEqual(['memberOf(attribute:zone == b)', 'memberOf(runningTasksCount == 0)']);
    expect(cs[0]!.cost).toBe('costly');
    expect(cs[0]!.reason(0)).toBe('MemberOf placement constraint unsatisfied.');
    expect(cs[0]!.summarize([0, 2])).toBe('excluded by memberOf(attribute:zone == b)');
  });

  it.each([
    ['attribute:zone == b', [false, true, false]],
    ['attribute:zone in [a, c]', [true, false, true]],
    ['attribute:ecs.instance-type =~ m5.*', [false, true, false]],
    ['attribute:ecs.instance-type exists', [true, true, false]],
    ['not (attribute:zone == a) and agentConnected == true', [false, true, false]],
    ['ec2InstanceId == i-aaa or runningTasksCount > 5', [true, false, true]],
    ['registeredAt < 2021-01-01', [false, true, false]],
    ['agentVersion >= 1.50.0', [true, false, true]],
    ['task:group == service:db', [true, false, false]],
    ['task:group != service:db', [false, true, true]],
  ])('%s', (expression, expected) => {
    expect(feasible(expression)).toEqual(expected);
  });

  it("sees this plan's copies in task:group and runningTasksCount", () => {
    const w = working(state, request({ constraints: [{ type: 'memberOf', expression: 'task:group != service:web and runningTasksCount < 2' }] }));
    const [c] = memberOfCheckers(w);
    expect(c!.feasible(1)).toBe(true);
    w.reserve(1);
    expect(c!.feasible(1)).toBe(false);
    const count = working(state, request({ constraints: [{ type: 'memberOf', expression: 'runningTasksCount < 2' }] }));
    const [d] = memberOfCheckers(count);
    count.reserve(1);
    expect(d!.feasible(1)).toBe(true);
    count.reserve(1);
    expect(d!.feasible(1)).toBe(false);
  });
});
