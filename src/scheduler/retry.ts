/**
 * Optimistic concurrency for placement, as Nomad's plan applier does it: plan on a snapshot, submit
 * with compare-and-swap on the instances the plan touches, and when another planner got there
 * first, read a fresh snapshot and plan again, a bounded number of times. The scheduler does no I/O
 * itself: the Planner it is given reads and writes the store.
 */
import { planPlacement, type PlacementPlan } from './plan.js';
import type { PlacementRequest } from './request.js';
import type { StackOptions } from './stack.js';
import type { ClusterState } from './state.js';

/** The scheduler's two doors to the store: a snapshot to plan on, and a guarded commit. */
export interface Planner<S extends ClusterState = ClusterState> {
  /** The cluster as it is now, read at one revision. */
  snapshot(): Promise<S>;
  /**
   * Commits `plan`'s reservations only if none of the instances it places on changed since
   * `snapshot` was read (their store revisions still match); true when committed, false when stale.
   */
  submit(plan: PlacementPlan, snapshot: S): Promise<boolean>;
}

/** Every attempt found its snapshot stale: too many concurrent changes to the same instances. */
export class StalePlanError extends Error {
  readonly attempts: number;
  constructor(attempts: number) {
    super(`Placement gave up after ${attempts} attempts: the container instances kept changing under it; try again.`);
    this.name = 'StalePlanError';
    this.attempts = attempts;
  }
}

/** Nomad gives a service evaluation 5 attempts; placements here are cheap, so a few more. */
export const DEFAULT_MAX_ATTEMPTS = 10;

/**
 * Plans `count` copies and commits them, re-planning on a fresh snapshot when the commit finds the
 * snapshot stale. A plan that places nothing is returned without a commit (its explanation says why).
 *
 * @example await placeWithRetry(storePlanner, { group: 'service:web', cpu: 256, memory: 512 }, 3)
 */
export async function placeWithRetry<S extends ClusterState>(
  planner: Planner<S>,
  request: PlacementRequest,
  count: number,
  options: StackOptions & { readonly maxAttempts?: number } = {},
): Promise<PlacementPlan> {
  const attempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const snapshot = await planner.snapshot();
    const plan = planPlacement(snapshot, request, count, options);
    if (plan.placements.length === 0) return plan;
    if (await planner.submit(plan, snapshot)) return plan;
  }
  throw new StalePlanError(attempts);
}
