/** The seeded source and permutations: reproducible, in range, and permutations hold each index once. */
import { describe, expect, it } from 'vitest';
import { permutation, seededRandom } from './rng.js';

describe('seededRandom', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const xs = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(xs);
    expect(Array.from({ length: 5 }, c)).not.toEqual(xs);
  });
  it('stays in [0, 1) and covers it roughly evenly', () => {
    const r = seededRandom(7);
    const buckets = new Array<number>(10).fill(0);
    for (let k = 0; k < 10_000; k++) {
      const x = r();
      expect(x >= 0 && x < 1).toBe(true);
      buckets[Math.floor(x * 10)]!++;
    }
    for (const n of buckets) expect(n).toBeGreaterThan(800);
  });
});

describe('permutation', () => {
  it('holds every index exactly once', () => {
    const p = permutation(1000, seededRandom(1));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
  it('handles 0 and 1', () => {
    expect([...permutation(0, seededRandom(1))]).toEqual([]);
    expect([...permutation(1, seededRandom(1))]).toEqual([0]);
  });
});
