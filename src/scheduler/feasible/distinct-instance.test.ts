/** distinctInstance: one task of the group per instance, counting those there and this plan's copies. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import { distinctInstanceChecker } from './distinct-instance.js';

const state = clusterOf(instance('a', { groups: { 'service:web': 1 } }), instance('b', { groups: { 'service:db': 3 } }));

describe('distinctInstanceChecker', () => {
  it('does not apply without the constraint', () => {
    expect(distinctInstanceChecker(working(state))).toBeUndefined();
  });
  it("refuses instances already running a task of the request's group, and only of that group", () => {
    const w = working(state, request({ constraints: [{ type: 'distinctInstance' }] }));
    const c = distinctInstanceChecker(w)!;
    expect([c.feasible(0), c.feasible(1)]).toEqual([false, true]);
    expect(c.reason(0)).toBe('DistinctInstance placement constraint unsatisfied.');
    expect(c.detail(0)).toBe('1 task of service:web already there');
    w.reserve(1);
    expect(c.feasible(1)).toBe(false);
    expect(c.summarize([0, 1])).toBe('already run a task of service:web (distinctInstance)');
  });
});
