/** binpack: scores by what would be left, and walks from the least free upwards, kept in order as copies land. */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../rng.js';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import type { WorkingCluster } from '../working.js';
import { BinpackRanker } from './binpack.js';

const walk = (r: BinpackRanker): number[] => {
  r.startWalk();
  const out: number[] = [];
  for (let i = r.next(); i >= 0; i = r.next()) out.push(i);
  return out;
};

describe('BinpackRanker', () => {
  const state = clusterOf(instance('a', { memory: 4096, cpu: 100 }), instance('b', { memory: 1024, cpu: 300 }), instance('c', { memory: 2048, cpu: 200 }), instance('d', { memory: 256 }));

  it('scores minus what would be left after the copy', () => {
    const w = working(state, request({ memory: 512, cpu: 50 }));
    const memory = new BinpackRanker(w, 'memory');
    expect(memory.label).toBe('binpack(memory)');
    expect([0, 1, 2].map((i) => memory.score(i))).toEqual([-3584, -512, -1536]);
    const cpu = new BinpackRanker(w, 'cpu');
    expect([0, 1, 2].map((i) => cpu.score(i))).toEqual([-50, -250, -150]);
  });

  it('walks from the least free that still fits, upwards; bound() is unknown', () => {
    const r = new BinpackRanker(working(state, request({ memory: 512 })), 'memory');
    expect(walk(r)).toEqual([1, 2, 0]);
    expect(r.bound()).toBe(Infinity);
  });

  it('remaining() is the score of the next instance the walk would return', () => {
    const r = new BinpackRanker(working(state, request({ memory: 512 })), 'memory');
    r.startWalk();
    expect(r.remaining()).toBe(-512);
    expect(r.next()).toBe(1);
    expect(r.remaining()).toBe(-1536);
    r.next();
    r.next();
    expect(r.remaining()).toBe(-Infinity);
    expect(r.next()).toBe(-1);
  });

  it('moves an instance down the order when a copy lands on it', () => {
    const w = working(state, request({ memory: 1024 }));
    const r = new BinpackRanker(w, 'memory');
    expect(walk(r)).toEqual([1, 2, 0]);
    for (const i of [0, 0, 0]) {
      w.reserve(i);
      r.placed(i);
    }
    // a: 4096 → 1024 free, level with b; ties go by the plan's random order.
    const order = walk(r);
    expect(order.slice(2)).toEqual([2]);
    expect(new Set(order.slice(0, 2))).toEqual(new Set([0, 1]));
  });

  it('visits tied instances in the seeded random order', () => {
    const same = clusterOf(...Array.from({ length: 20 }, (_, n) => instance(`i${n}`, { memory: 1000 })));
    const orderFor = (seed: number) => walk(new BinpackRanker(working(same, request(), seed), 'memory'));
    expect(orderFor(3)).toEqual(orderFor(3));
    expect(orderFor(3)).not.toEqual(orderFor(4));
    expect([...orderFor(3)].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('orders fractional and huge amounts too', () => {
    const odd = clusterOf(instance('a', { memory: 2 ** 40 }), instance('b', { memory: 1000.5 }), instance('c', { memory: 999 }));
    expect(walk(new BinpackRanker(working(odd, request({ memory: 1 })), 'memory'))).toEqual([2, 1, 0]);
  });

  /** Whatever the sequence of copies and removals, a walk returns exactly the live instances, least free first. */
  it('keeps its order through random reservations and removals', () => {
    const random = seededRandom(11);
    const big = clusterOf(...Array.from({ length: 300 }, (_, n) => instance(`i${n}`, { memory: 512 * (1 + Math.floor(random() * 16)) })));
    const w: WorkingCluster = working(big, request({ memory: 512 }), 5);
    const r = new BinpackRanker(w, 'memory');
    walk(r);
    for (let step = 0; step < 2000; step++) {
      const i = Math.floor(random() * w.size);
      if (w.out[i] !== 0) continue;
      if (random() < 0.2 || w.memory[i]! < 512) {
        w.out[i] = 1;
        r.remove(i);
      } else {
        w.reserve(i);
        r.placed(i);
      }
      if (step % 100 === 0) {
        const order = walk(r);
        const live = Array.from({ length: w.size }, (_, k) => k).filter((k) => w.out[k] === 0 && w.memory[k]! >= 512);
        expect([...order].sort((a, b) => a - b)).toEqual(live);
        for (let k = 1; k < order.length; k++) expect(w.memory[order[k]!]!).toBeGreaterThanOrEqual(w.memory[order[k - 1]!]!);
      }
    }
  });
});
