/**
 * Explanations for a copy that fits nowhere: every instance is put through the feasibility chain
 * once more, and the refusals are counted per check with the numbers that matter ("3 of 5 instances
 * lack memory: need 512 MiB, largest free 256 MiB; 2 excluded by memberOf(attribute:zone == b)"),
 * plus ECS's `failures` (one reason per instance). ECS only says that no instance met all of the
 * task's requirements; Berth says which requirement, how many, and by how much.
 */
import type { FailureReason, FeasibilityChecker } from './feasible/checker.js';
import { firstRefusal } from './feasible/chain.js';
import type { WorkingCluster } from './working.js';

/** ECS's Failure for an instance that cannot take the task: reason and detail (arn is the caller's). */
export interface PlacementFailure {
  readonly instanceId: string;
  readonly reason: FailureReason;
  readonly detail: string;
}

/** The instances one check refused, and what they have in common. */
export interface RefusalGroup {
  /** The checker's name: 'status', 'memory', 'memberOf(attribute:zone == b)', ... */
  readonly check: string;
  readonly instances: number;
  /** Phrased to follow the count: "lack memory: need 512 MiB, largest free 256 MiB". */
  readonly summary: string;
}

export interface Explanation {
  /** One sentence, the groups in the order the checks run. */
  readonly message: string;
  readonly refusals: readonly RefusalGroup[];
}

/**
 * Why no instance of `w` can take one more copy, as the cluster stands after the plan's copies.
 * Instances that could take one (none, when called after a failed placement) are not mentioned.
 */
export function explainRefusals(w: WorkingCluster, chain: readonly FeasibilityChecker[]): { failures: PlacementFailure[]; explanation: Explanation } {
  const refusedBy = new Map<FeasibilityChecker, number[]>();
  const failures: PlacementFailure[] = [];
  for (let i = 0; i < w.size; i++) {
    const checker = firstRefusal(chain, i);
    if (checker === undefined) continue;
    let list = refusedBy.get(checker);
    if (list === undefined) refusedBy.set(checker, (list = []));
    list.push(i);
    failures.push({ instanceId: w.instances[i]!.id, reason: checker.reason(i), detail: checker.detail(i) });
  }
  const refusals: RefusalGroup[] = [];
  for (const checker of chain) {
    const refused = refusedBy.get(checker);
    if (refused !== undefined) refusals.push({ check: checker.name, instances: refused.length, summary: checker.summarize(refused) });
  }
  return { failures, explanation: { message: messageOf(w.size, refusals), refusals } };
}

function messageOf(total: number, refusals: readonly RefusalGroup[]): string {
  if (total === 0) return 'The cluster has no container instances.';
  if (refusals.length === 0) return total === 1 ? 'The one instance can take the task.' : `All ${total} instances can take the task.`;
  const parts = refusals.map((g, n) => (n === 0 ? `${g.instances} of ${total} ${total === 1 ? 'instance' : 'instances'} ${g.summary}` : `${g.instances} ${g.summary}`));
  return parts.join('; ');
}
