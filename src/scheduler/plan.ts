/**
 * planPlacement: where `count` copies of a task go, decided on a snapshot without touching it. The
 * caller commits the plan with compare-and-swap (see retry.ts) and redoes it if the snapshot was stale.
 */
import type { Explanation, PlacementFailure } from './explain.js';
import type { PlacementRequest } from './request.js';
import { PlacementStack, type StackOptions } from './stack.js';
import type { ClusterState } from './state.js';

/** The result of planning, Nomad's Plan in ECS's words. */
export interface PlacementPlan {
  /** An instance id per placed copy, in placement order (an instance may repeat). */
  readonly placements: readonly string[];
  /** When fewer than `count` were placed: ECS's failures, one per instance that cannot take another copy. */
  readonly failures: readonly PlacementFailure[];
  /** When fewer than `count` were placed: why, in numbers. */
  readonly explanation?: Explanation;
}

/**
 * Places `count` copies one after the other, each seeing the ones before it.
 *
 * @example planPlacement(state, { group: 'service:web', cpu: 256, memory: 512,
 *   strategy: [{ type: 'spread', field: 'attribute:ecs.availability-zone' }, { type: 'binpack', field: 'memory' }] }, 3)
 * // → { placements: ['a1', 'b7', 'c2'], failures: [] }
 */
export function planPlacement(state: ClusterState, request: PlacementRequest, count: number, options?: StackOptions): PlacementPlan {
  const stack = new PlacementStack(state, request, options);
  for (let n = 0; n < count; n++) {
    if (stack.select() === undefined) {
      const { failures, explanation } = stack.explain();
      return { placements: stack.placements, failures, explanation };
    }
  }
  return { placements: stack.placements, failures: [] };
}
