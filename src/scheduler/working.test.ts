/** The working cluster: a copy of the snapshot's numbers that each reservation updates, the snapshot untouched. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, request, working } from './testing/cluster.js';

describe('WorkingCluster', () => {
  const state = clusterOf(instance('a', { cpu: 1000, memory: 2000, gpus: 2, groups: { 'service:web': 2, 'service:db': 1 } }), instance('b'));

  it("copies the free resources and counts the request's group", () => {
    const w = working(state, request({ gpus: 1 }));
    expect([w.cpu[0], w.memory[0], w.gpus[0], w.groupTasks(0), w.groupTasks(1)]).toEqual([1000, 2000, 2, 2, 0]);
    expect(w.runningTasksCount(0)).toBe(3);
  });

  it('reserve takes one copy and counts it, without touching the snapshot', () => {
    const w = working(state, request({ cpu: 100, memory: 300, gpus: 1 }));
    const before = JSON.stringify(state.instances[0], (_, v: unknown) => (v instanceof Map || v instanceof Set ? [...v] : v));
    w.reserve(0);
    w.reserve(0);
    expect([w.cpu[0], w.memory[0], w.gpus[0], w.groupTasks(0), w.placed[0], w.runningTasksCount(0)]).toEqual([800, 1400, 0, 4, 2, 5]);
    expect(JSON.stringify(state.instances[0], (_, v: unknown) => (v instanceof Map || v instanceof Set ? [...v] : v))).toBe(before);
  });

  it("counts the group's tasks the same whether first read before or after copies land", () => {
    const early = working(state);
    expect(early.groupTasks(0)).toBe(2);
    early.reserve(0);
    const late = working(state);
    late.reserve(0);
    expect([early.groupTasks(0), late.groupTasks(0)]).toEqual([3, 3]);
  });

  it('visits instances in a seeded random order, with each rank the inverse of the order', () => {
    const big = clusterOf(...Array.from({ length: 50 }, (_, n) => instance(`i${n}`)));
    const w1 = working(big, request(), 9);
    const w2 = working(big, request(), 9);
    expect([...w1.shuffled]).toEqual([...w2.shuffled]);
    for (let k = 0; k < 50; k++) expect(w1.rank[w1.shuffled[k]!]).toBe(k);
  });
});
