/** The stop rule: exact on the walking strategy and the spreads before it, ties sampled up to the limit. */
import { describe, expect, it } from 'vitest';
import { defaultLimit, walkIsDone, type WalkState } from './limit.js';

const state = (over: Partial<WalkState>): WalkState => ({
  best: [0],
  leadingBounds: [],
  source: 0,
  strategies: 1,
  remaining: -1,
  scored: 1,
  limit: 16,
  ...over,
});

describe('defaultLimit', () => {
  it('is at least 16, and log2 of the instances beyond 65,536', () => {
    expect(defaultLimit(0)).toBe(16);
    expect(defaultLimit(5)).toBe(16);
    expect(defaultLimit(10_000)).toBe(16);
    expect(defaultLimit(1_000_000)).toBe(20);
  });
});

describe('walkIsDone', () => {
  it('never stops before a feasible candidate: feasibility is not sampled', () => {
    expect(walkIsDone(state({ best: undefined, scored: 0, limit: 0, remaining: -Infinity }))).toBe(false);
  });

  it('stops once nothing unvisited can match the pick on the walking strategy', () => {
    expect(walkIsDone(state({ best: [-3], remaining: -4 }))).toBe(true);
  });

  it('with no later strategy, stops on a tie too: the first met stands', () => {
    expect(walkIsDone(state({ best: [-3], remaining: -3 }))).toBe(true);
  });

  it('samples ties that later strategies would break, up to the limit', () => {
    const tie = { best: [-3, -100], strategies: 2, remaining: -3 };
    expect(walkIsDone(state({ ...tie, scored: 15 }))).toBe(false);
    expect(walkIsDone(state({ ...tie, scored: 16 }))).toBe(true);
    expect(walkIsDone(state({ ...tie, scored: 1_000_000, limit: Infinity }))).toBe(false);
  });

  it('samples a walk that cannot bound itself (random) up to the limit', () => {
    expect(walkIsDone(state({ best: [0.5], remaining: Infinity, scored: 3, limit: 4 }))).toBe(false);
    expect(walkIsDone(state({ best: [0.5], remaining: Infinity, scored: 4, limit: 4 }))).toBe(true);
  });

  it('goes on, past the limit, while a spread before the walking binpack is short of its best', () => {
    const spreadThenBinpack = { source: 1, strategies: 2, leadingBounds: [-2], remaining: -500, limit: 2, scored: 50 };
    expect(walkIsDone(state({ ...spreadThenBinpack, best: [-3, -100] }))).toBe(false);
    expect(walkIsDone(state({ ...spreadThenBinpack, best: [-2, -600] }))).toBe(false);
    expect(walkIsDone(state({ ...spreadThenBinpack, best: [-2, -100] }))).toBe(true);
  });
});
