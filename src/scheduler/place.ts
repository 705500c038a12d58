/**
 * Task placement, minimal and pure: given container instances with their free resources and what
 * one task needs, choose an instance for each of `count` tasks, or say why each instance refused.
 *
 * The full pipeline (constraints, strategies, explanations) is planPlacement in plan.ts, which RunTask,
 * StartTask and the service controller all use now; this file stays only for its PlacementCandidate
 * type (ecs/task-reservation.ts reads a stored instance into one) until that moves. Here feasibility is status + CPU + memory +
 * static host ports, and ranking prefers the instance with the most free memory (a spread-like
 * default), ties broken by id, so results are deterministic. No I/O; callers read the instances and
 * commit the result themselves.
 *
 * @example
 * placeTasks([{ id: 'a', status: 'ACTIVE', cpu: 1024, memory: 2048, tcpPorts: [22], udpPorts: [], attributes: {} }],
 *            { cpu: 256, memory: 512, tcpPorts: [80], udpPorts: [] }, 2)
 * // → { placements: ['a'], failures: [{ instanceId: 'a', reason: 'RESOURCE:PORTS' }] }
 */

/** A container instance as placement sees it: what is still free on it. */
export interface PlacementCandidate {
  /** The container instance id (last part of its ARN). */
  readonly id: string;
  /** ECS container instance status; only ACTIVE instances take tasks. */
  readonly status: string;
  /** Free CPU units (1024 per core). */
  readonly cpu: number;
  /** Free memory in MiB. */
  readonly memory: number;
  /** Host TCP ports already taken (by the agent or by other tasks). */
  readonly tcpPorts: readonly number[];
  /** Host UDP ports already taken. */
  readonly udpPorts: readonly number[];
  /** Instance attributes by name (e.g. 'ecs.availability-zone'); for constraints and spread. */
  readonly attributes: Readonly<Record<string, string | undefined>>;
}

/** What one copy of the task reserves on the instance it lands on. */
export interface TaskNeeds {
  readonly cpu: number;
  readonly memory: number;
  /** Static host ports (bridge with a fixed hostPort, or host network mode). */
  readonly tcpPorts: readonly number[];
  readonly udpPorts: readonly number[];
}

/** ECS's `failures[].reason` vocabulary for placement (API failure reasons in the ECS guide). */
export type PlacementFailureReason = 'RESOURCE:CPU' | 'RESOURCE:MEMORY' | 'RESOURCE:PORTS' | 'RESOURCE:PORTS_UDP' | 'INACTIVE' | 'DRAINING';

export interface PlacementFailure {
  readonly instanceId: string;
  readonly reason: PlacementFailureReason;
}

export interface PlacementOutcome {
  /** One instance id per placed task, in placement order; shorter than `count` when capacity ran out. */
  readonly placements: readonly string[];
  /** When fewer than `count` were placed: why each instance could not take another copy. */
  readonly failures: readonly PlacementFailure[];
}

/** Why `candidate` (with what is still free on it) cannot take one more copy, or undefined if it can. */
export function refusal(candidate: PlacementCandidate, needs: TaskNeeds): PlacementFailureReason | undefined {
  // Cheapest checks first, as ECS reports the first resource that does not fit.
  if (candidate.status !== 'ACTIVE') return candidate.status === 'DRAINING' ? 'DRAINING' : 'INACTIVE';
  if (needs.cpu > candidate.cpu) return 'RESOURCE:CPU';
  if (needs.memory > candidate.memory) return 'RESOURCE:MEMORY';
  if (needs.tcpPorts.some((p) => candidate.tcpPorts.includes(p))) return 'RESOURCE:PORTS';
  if (needs.udpPorts.some((p) => candidate.udpPorts.includes(p))) return 'RESOURCE:PORTS_UDP';
  return undefined;
}

/** The candidate after one copy of the task has landed on it. */
export function afterPlacing(candidate: PlacementCandidate, needs: TaskNeeds): PlacementCandidate {
  return {
    ...candidate,
    cpu: candidate.cpu - needs.cpu,
    memory: candidate.memory - needs.memory,
    tcpPorts: [...candidate.tcpPorts, ...needs.tcpPorts],
    udpPorts: [...candidate.udpPorts, ...needs.udpPorts],
  };
}

/**
 * Places `count` copies of a task, one at a time, each on the feasible instance with the most free
 * memory after the copies already placed in this call. Never over-commits: every copy is checked
 * against what the previous copies left.
 */
export function placeTasks(candidates: readonly PlacementCandidate[], needs: TaskNeeds, count: number): PlacementOutcome {
  let pool = [...candidates];
  const placements: string[] = [];
  for (let n = 0; n < count; n++) {
    const feasible = pool.filter((c) => refusal(c, needs) === undefined);
    if (feasible.length === 0) break;
    const best = feasible.reduce((a, b) => (b.memory > a.memory || (b.memory === a.memory && b.id < a.id) ? b : a));
    placements.push(best.id);
    pool = pool.map((c) => (c === best ? afterPlacing(c, needs) : c));
  }
  if (placements.length === count) return { placements, failures: [] };
  const failures = pool.flatMap((c) => {
    const reason = refusal(c, needs);
    return reason === undefined ? [] : [{ instanceId: c.id, reason }];
  });
  return { placements, failures };
}
