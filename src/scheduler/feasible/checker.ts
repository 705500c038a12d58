/**
 * The contract of a feasibility checker, the first stage of the pipeline: a yes/no answer per
 * instance for one more copy of the task, plus the words and numbers to explain a no.
 */

/** ECS's `failures[].reason` vocabulary for placement (the ECS API failure reasons and service events). */
export type FailureReason =
  | 'INACTIVE'
  | 'DRAINING'
  | 'AGENT'
  | 'ATTRIBUTE'
  | 'RESOURCE:CPU'
  | 'RESOURCE:MEMORY'
  | 'RESOURCE:GPU'
  | 'RESOURCE:PORTS'
  | 'RESOURCE:PORTS_UDP'
  | 'DistinctInstance placement constraint unsatisfied.'
  | 'MemberOf placement constraint unsatisfied.';

export interface FeasibilityChecker {
  /** The check's name in explanations and tests: 'status', 'memory', 'memberOf(attribute:zone == b)'. */
  readonly name: string;
  /**
   * 'cheap' checks run on every instance when a plan starts; 'costly' ones (memberOf) only on the
   * instances a walk reaches, once each until a copy lands there.
   */
  readonly cost: 'cheap' | 'costly';
  /** True when instance i can take one more copy as far as this check is concerned. */
  feasible(i: number): boolean;
  /** ECS's reason for an instance this check refuses. */
  reason(i: number): FailureReason;
  /** Why instance i is refused, in numbers, for failures[].detail: "need 512 MiB, free 256 MiB". */
  detail(i: number): string;
  /**
   * What the refused instances have in common, in numbers, phrased to follow a count of them:
   * "lack memory: need 512 MiB, largest free 256 MiB". `refused` is never empty.
   */
  summarize(refused: readonly number[]): string;
}

/** Picks the verb form that agrees with a count: agree(1, 'lacks', 'lack') → 'lacks'. */
export const agree = (count: number, one: string, many: string): string => (count === 1 ? one : many);

/** The largest of f over the refused instances. */
export function largest(refused: readonly number[], f: (i: number) => number): number {
  let max = -Infinity;
  for (const i of refused) max = Math.max(max, f(i));
  return max;
}

/** "a, b and c": a short list for messages, the most frequent first, at most `max` items. */
export function mostCommon(values: Iterable<string>, max = 3): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([v, n]) => (counts.size > 1 ? `${v} (${n})` : v));
  const shown = sorted.slice(0, max);
  const rest = sorted.length - shown.length;
  return rest > 0 ? `${shown.join(', ')} and ${rest} more` : shown.join(', ');
}
