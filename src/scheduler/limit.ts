/**
 * The limit stage: when a walk may stop. Scoring every instance for every copy costs O(instances)
 * per placement, which at 10,000 hosts is what makes schedulers slow. The walks are best-first, so
 * the pipeline stops as soon as nothing unvisited can beat its pick; only ties on the walking
 * strategy, which the later strategies would break, are sampled, up to `limit` candidates.
 *
 * Trade-offs (see README):
 * - Feasibility is never sampled: the walk goes on until it finds a feasible instance, or has
 *   looked at them all (then the explanation covers every instance).
 * - The walking strategy (and any spread before a walking binpack) is exact: ECS's answer.
 * - Strategies after it see at most `limit` of the instances tied on it. Nomad samples
 *   max(2, log2 n) nodes in total; Berth samples ties only, and at least 16 of them.
 */

/** How many tied candidates the later strategies choose among: max(16, ⌈log2 n⌉). */
export function defaultLimit(instances: number): number {
  return Math.max(16, Math.ceil(Math.log2(Math.max(2, instances))));
}

/** Where a walk stands, for the stop rule. */
export interface WalkState {
  /** Scores of the best candidate so far, or undefined before a feasible one. */
  readonly best: ArrayLike<number> | undefined;
  /** Upper bounds of the strategies before the walking one (spreads), index by index. */
  readonly leadingBounds: ArrayLike<number>;
  /** Index of the walking strategy in the score tuple; the tuple has `strategies` entries. */
  readonly source: number;
  readonly strategies: number;
  /** No unvisited instance scores above this on the walking strategy. */
  readonly remaining: number;
  /** Feasible candidates scored in this walk. */
  readonly scored: number;
  readonly limit: number;
}

/**
 * True when the walk may stop with its best candidate.
 *
 * @example walkIsDone({ best: [-3], leadingBounds: [], source: 0, strategies: 1, remaining: -4, scored: 1, limit: 16 }) // → true
 */
export function walkIsDone(s: WalkState): boolean {
  const best = s.best;
  if (best === undefined) return false;
  // A spread before the walking binpack can still be improved on by an unvisited instance.
  for (let j = 0; j < s.source; j++) if (best[j]! < s.leadingBounds[j]!) return false;
  const mine = best[s.source]!;
  if (mine > s.remaining) return true;
  // Tied with what is left: with no later strategy to break the tie, the first met stands.
  if (s.source === s.strategies - 1 && mine >= s.remaining) return true;
  // Something better may lie ahead of a walk that knows its bound (not in a best-first walk, but
  // the rule does not rely on that).
  if (mine < s.remaining && s.remaining !== Infinity) return false;
  // Ties a later strategy would break, or a walk that cannot bound itself (random): sample.
  return s.scored >= s.limit;
}
