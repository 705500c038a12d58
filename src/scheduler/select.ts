/**
 * Selection, the last stage: the candidate with the highest score wins, comparing strategies in the
 * order given (the first dominates, later ones only break its ties, as ECS applies them). On a full
 * tie the candidate met first wins; the walks meet tied instances in a random order.
 */

/**
 * Compares two score tuples of `length` strategies: > 0 when `a` is better, < 0 when `b` is, 0 on a tie.
 *
 * @example compareScores(Float64Array.of(-1, -300), Float64Array.of(-1, -500), 2) // > 0: same spread, tighter binpack
 */
export function compareScores(a: ArrayLike<number>, b: ArrayLike<number>, length: number): number {
  for (let j = 0; j < length; j++) {
    const d = a[j]! - b[j]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Keeps the best candidate of one walk and its scores. */
export class MaxScore {
  /** The best instance so far, -1 before any. */
  best = -1;
  readonly scores: Float64Array;
  private readonly length: number;

  constructor(length: number) {
    this.length = length;
    this.scores = new Float64Array(length);
  }

  reset(): void {
    this.best = -1;
  }

  /** Offers instance i with its scores; true when it became the best. */
  offer(i: number, scores: Float64Array): boolean {
    if (this.best >= 0 && compareScores(scores, this.scores, this.length) <= 0) return false;
    this.best = i;
    this.scores.set(scores);
    return true;
  }
}
