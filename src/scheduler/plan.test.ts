/** planPlacement: count copies placed one after another, and when short, ECS's failures and the explanation. */
import { describe, expect, it } from 'vitest';
import { planPlacement } from './plan.js';
import { seededRandom } from './rng.js';
import { clusterOf, instance, request } from './testing/cluster.js';

describe('planPlacement', () => {
  const state = clusterOf(instance('a', { memory: 1024, attributes: { zone: 'a' } }), instance('b', { memory: 2048, attributes: { zone: 'b' } }));

  it('places every copy and reports no failures when all fit', () => {
    expect(planPlacement(state, request({ strategy: [{ type: 'binpack', field: 'memory' }] }), 4, { random: seededRandom(1) })).toEqual({
      placements: ['a', 'a', 'b', 'b'],
      failures: [],
    });
  });

  it('places what fits, then says why the rest did not', () => {
    const plan = planPlacement(state, request({ strategy: [{ type: 'binpack', field: 'memory' }] }), 9, { random: seededRandom(1) });
    expect(plan.placements).toEqual(['a', 'a', 'b', 'b', 'b', 'b']);
    expect(plan.failures).toEqual([
      { instanceId: 'a', reason: 'RESOURCE:MEMORY', detail: 'need 512 MiB, free 0 MiB' },
      { instanceId: 'b', reason: 'RESOURCE:MEMORY', detail: 'need 512 MiB, free 0 MiB' },
    ]);
    expect(plan.explanation?.message).toBe('2 of 2 instances lack memory: need 512 MiB, largest free 0 MiB');
  });

  it('count 0 places nothing and explains nothing', () => {
    expect(planPlacement(state, request(), 0)).toEqual({ placements: [], failures: [] });
  });

  it('with no instances, says so', () => {
    expect(planPlacement(clusterOf(), request(), 1)).toEqual({
      placements: [],
      failures: [],
      explanation: { message: 'The cluster has no container instances.', refusals: [] },
    });
  });
});
