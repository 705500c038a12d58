/**
 * The distinctInstance placement constraint: no two tasks of the same task group on one instance,
 * counting the group's tasks already there and this plan's copies.
 */
import type { WorkingCluster } from '../working.js';
import { agree, type FeasibilityChecker } from './checker.js';

/** The checker, or undefined when the request has no distinctInstance constraint. */
export function distinctInstanceChecker(w: WorkingCluster): FeasibilityChecker | undefined {
  if (!w.request.distinctInstance) return undefined;
  const group = w.request.group;
  return {
    name: 'distinctInstance',
    cost: 'cheap',
    feasible: (i) => w.groupTasks(i) === 0,
    reason: () => 'DistinctInstance placement constraint unsatisfied.',
    detail: (i) => `${w.groupTasks(i)} ${agree(w.groupTasks(i), 'task', 'tasks')} of ${group} already there`,
    summarize: (refused) => `already ${agree(refused.length, 'runs', 'run')} a task of ${group} (distinctInstance)`,
  };
}
