/**
 * The candidate source: which strategy's best-first walk feeds the pipeline. Nomad visits nodes in
 * a random order and scores a sample; Berth walks in the order of the strategy that decides the
 * most, so that the first feasible instances it meets are already the best ones by that strategy.
 */
import type { Strategy } from './request.js';

/**
 * The index of the strategy whose walk drives placement.
 *
 * - The first strategy dominates, so normally its walk is used.
 * - Except when it and every strategy up to the first binpack are spreads (ECS's "spread across
 *   zones, binpack within each zone"): then the binpack walk is used and the spreads before it are
 *   met by stopping only once the pick reaches their best possible scores (see limit.ts). Walking
 *   by the spread instead would leave the binpack to a sample of the zone's instances, and binpack
 *   on a sample packs badly: a few random instances rarely include the fullest one.
 *
 * With no strategy at all the caller passes [random]; see stack.ts.
 *
 * @example sourceIndex([{ type: 'spread', field: 'attribute', attribute: 'zone' }, { type: 'binpack', field: 'memory' }]) // → 1
 */
export function sourceIndex(strategies: readonly Strategy[]): number {
  for (let j = 0; j < strategies.length; j++) {
    const s = strategies[j]!;
    if (s.type === 'binpack') return j;
    if (s.type !== 'spread') return 0;
  }
  return 0;
}
