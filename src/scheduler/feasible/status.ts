/**
 * The cheapest checks, first in the chain: the instance is ACTIVE and its agent is connected. ECS
 * places nothing on a DRAINING or registering instance, nor where no agent would start the task.
 */
import type { WorkingCluster } from '../working.js';
import { agree, mostCommon, type FailureReason, type FeasibilityChecker } from './checker.js';

/** Only ACTIVE instances take tasks. */
export function statusChecker(w: WorkingCluster): FeasibilityChecker {
  const status = (i: number) => w.instances[i]!.status;
  return {
    name: 'status',
    cost: 'cheap',
    feasible: (i) => w.active[i] === 1,
    reason: (i): FailureReason => (status(i) === 'DRAINING' ? 'DRAINING' : 'INACTIVE'),
    detail: (i) => `status ${status(i)}`,
    summarize: (refused) => `${agree(refused.length, 'is', 'are')} not ACTIVE: ${mostCommon(refused.map(status))}`,
  };
}

/** Only instances whose agent is connected take tasks (ECS's AGENT failure). */
export function agentChecker(w: WorkingCluster): FeasibilityChecker {
  return {
    name: 'agent',
    cost: 'cheap',
    feasible: (i) => w.connected[i] === 1,
    reason: () => 'AGENT',
    detail: () => 'agent disconnected',
    summarize: (refused) => `${agree(refused.length, 'has its', 'have their')} agent disconnected`,
  };
}
