/**
 * requiresAttributes: the task definition needs capabilities the agent advertises as attributes
 * (ecs.capability.task-eni, com.amazonaws.ecs.capability.docker-remote-api.1.19, ...). ECS: ATTRIBUTE.
 */
import type { RequiredAttribute } from '../request.js';
import type { WorkingCluster } from '../working.js';
import { agree, mostCommon, type FeasibilityChecker } from './checker.js';

const text = (a: RequiredAttribute) => (a.value === undefined ? a.name : `${a.name}=${a.value}`);

/** The checker, or undefined when the task requires no attribute. */
export function attributesChecker(w: WorkingCluster): FeasibilityChecker | undefined {
  const required = w.request.requiresAttributes;
  if (required.length === 0) return undefined;
  const has = (i: number, a: RequiredAttribute) => {
    const attrs = w.instances[i]!.attributes;
    if (!Object.hasOwn(attrs, a.name)) return false;
    return a.value === undefined || attrs[a.name] === a.value;
  };
  const firstMissing = (i: number) => required.find((a) => !has(i, a))!;
  return {
    name: 'requiresAttributes',
    cost: 'cheap',
    feasible: (i) => required.every((a) => has(i, a)),
    reason: () => 'ATTRIBUTE',
    detail: (i) => `missing attribute ${text(firstMissing(i))}`,
    summarize: (refused) => `${agree(refused.length, 'lacks', 'lack')} required attribute ${mostCommon(refused.map((i) => text(firstMissing(i))))}`,
  };
}
