/** The instance checks: ACTIVE status and a connected agent, with ECS's reasons. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, working } from '../testing/cluster.js';
import { agentChecker, statusChecker } from './status.js';

describe('statusChecker', () => {
  const w = working(clusterOf(instance('a'), instance('b', { status: 'DRAINING' }), instance('c', { status: 'REGISTERING' }), instance('d', { status: 'DRAINING' })));
  const c = statusChecker(w);

  it('accepts ACTIVE only', () => {
    expect([0, 1, 2, 3].map((i) => c.feasible(i))).toEqual([true, false, false, false]);
  });
  it('gives DRAINING for a draining instance and INACTIVE for any other status', () => {
    expect(c.reason(1)).toBe('DRAINING');
    expect(c.reason(2)).toBe('INACTIVE');
    expect(c.detail(2)).toBe('status REGISTERING');
  });
  it('summarizes the statuses found, most frequent first', () => {
    expect(c.summarize([1, 2, 3])).toBe('are not ACTIVE: DRAINING (2), REGISTERING (1)');
    expect(c.summarize([2])).toBe('is not ACTIVE: REGISTERING');
  });
});

describe('agentChecker', () => {
  const w = working(clusterOf(instance('a'), instance('b', { agentConnected: false })));
  const c = agentChecker(w);
  it('refuses an instance whose agent is disconnected, as AGENT', () => {
    expect(c.feasible(0)).toBe(true);
    expect(c.feasible(1)).toBe(false);
    expect(c.reason(1)).toBe('AGENT');
    expect(c.summarize([1])).toBe('has its agent disconnected');
    expect(c.summarize([0, 1])).toBe('have their agent disconnected');
  });
});
