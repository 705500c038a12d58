/** random: a score drawn per candidate, and a walk that goes round the plan's random order. */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../rng.js';
import { clusterOf, instance, working } from '../testing/cluster.js';
import { RandomRanker } from './random.js';

const state = clusterOf(...Array.from({ length: 10 }, (_, n) => instance(`i${n}`)));

describe('RandomRanker', () => {
  it('draws each score from the random source passed in', () => {
    const r = new RandomRanker(working(state), seededRandom(4));
    const expected = seededRandom(4);
    expect([r.score(), r.score()]).toEqual([expected(), expected()]);
    expect(r.bound()).toBe(Infinity);
    expect(r.label).toBe('random');
  });

  it('returns every live instance once per walk, and the next walk carries on where it stopped', () => {
    const w = working(state);
    const r = new RandomRanker(w, seededRandom(1));
    r.startWalk();
    const first = [r.next(), r.next(), r.next()];
    expect(r.remaining()).toBe(Infinity);
    r.startWalk();
    const all: number[] = [];
    for (let i = r.next(); i >= 0; i = r.next()) all.push(i);
    expect(all.length).toBe(10);
    expect(new Set(all).size).toBe(10);
    expect(all.slice(-3)).toEqual(first);
    expect(r.remaining()).toBe(-Infinity);
  });

  it('skips instances out of the plan, and drops them once many have left', () => {
    const w = working(clusterOf(...Array.from({ length: 200 }, (_, n) => instance(`i${n}`))));
    const r = new RandomRanker(w, seededRandom(1));
    for (let i = 0; i < 150; i++) {
      w.out[i] = 1;
      r.remove();
    }
    r.startWalk();
    const seen: number[] = [];
    for (let i = r.next(); i >= 0; i = r.next()) seen.push(i);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, k) => 150 + k));
  });
});
