/**
 * Launch type: EC2 tasks go on EC2 instances and EXTERNAL tasks on ECS Anywhere hosts, and the task
 * definition's requiresCompatibilities must name the instance's kind. ECS reports it as ATTRIBUTE.
 */
import type { WorkingCluster } from '../working.js';
import { agree, mostCommon, type FeasibilityChecker } from './checker.js';

/** The checker, or undefined when the request names no launch type and no compatibilities. */
export function launchTypeChecker(w: WorkingCluster): FeasibilityChecker | undefined {
  const { launchType, requiresCompatibilities } = w.request;
  if (launchType === undefined && requiresCompatibilities.length === 0) return undefined;
  const kind = (i: number) => w.instances[i]!.launchType;
  const fits = (i: number) => {
    const k = kind(i);
    return (launchType === undefined || k === launchType) && (requiresCompatibilities.length === 0 || requiresCompatibilities.includes(k));
  };
  // When both are given and disagree, no instance fits; say which rule refuses.
  const why = (i: number) => (launchType !== undefined && kind(i) !== launchType ? `launch type ${launchType}` : `requiresCompatibilities [${requiresCompatibilities.join(', ')}]`);
  return {
    name: 'launchType',
    cost: 'cheap',
    feasible: fits,
    reason: () => 'ATTRIBUTE',
    detail: (i) => `${kind(i)} instance; the task needs ${why(i)}`,
    summarize: (refused) => `${agree(refused.length, 'is', 'are')} ${mostCommon(refused.map(kind))}; the task needs ${mostCommon(refused.map(why))}`,
  };
}
