/** Selection: lexicographic over the strategies in order, the first candidate met winning full ties. */
import { describe, expect, it } from 'vitest';
import { compareScores, MaxScore } from './select.js';

describe('compareScores', () => {
  it('lets the first strategy dominate and later ones break its ties', () => {
    expect(compareScores([-1, -900], [-2, -1], 2)).toBeGreaterThan(0);
    expect(compareScores([-1, -900], [-1, -100], 2)).toBeLessThan(0);
    expect(compareScores([-1, -100], [-1, -100], 2)).toBe(0);
  });
  it('looks only at the first `length` entries', () => {
    expect(compareScores([-1, 5], [-1, 9], 1)).toBe(0);
  });
});

describe('MaxScore', () => {
  it('keeps the best, and the earlier one on a tie', () => {
    const m = new MaxScore(2);
    expect(m.best).toBe(-1);
    expect(m.offer(7, Float64Array.of(-2, 0))).toBe(true);
    expect(m.offer(8, Float64Array.of(-1, -5))).toBe(true);
    expect(m.offer(9, Float64Array.of(-1, -5))).toBe(false);
    expect(m.offer(10, Float64Array.of(-1, -6))).toBe(false);
    expect(m.best).toBe(8);
    expect([...m.scores]).toEqual([-1, -5]);
    m.reset();
    expect(m.best).toBe(-1);
    expect(m.offer(3, Float64Array.of(-9, -9))).toBe(true);
  });
  it('copies the scores it keeps', () => {
    const m = new MaxScore(1);
    const scratch = Float64Array.of(4);
    m.offer(1, scratch);
    scratch[0] = 100;
    expect(m.scores[0]).toBe(4);
  });
});
