/**
 * CPU, memory and GPUs: what is still free on the instance after this plan's earlier copies must
 * hold one more. One checker per resource, so an explanation names the one that ran out.
 */
import type { WorkingCluster } from '../working.js';
import { agree, largest, type FailureReason, type FeasibilityChecker } from './checker.js';

function resourceChecker(
  name: string,
  free: Float64Array,
  need: number,
  reason: FailureReason,
  words: { what: string; unit: (n: number) => string },
): FeasibilityChecker {
  return {
    name,
    cost: 'cheap',
    feasible: (i) => free[i]! >= need,
    reason: () => reason,
    detail: (i) => `need ${words.unit(need)}, free ${words.unit(free[i]!)}`,
    summarize: (refused) =>
      `${agree(refused.length, 'lacks', 'lack')} ${words.what}: need ${words.unit(need)}, largest free ${words.unit(largest(refused, (i) => free[i]!))}`,
  };
}

const mib = (n: number) => `${n} MiB`;
const cpuUnits = (n: number) => `${n} CPU units`;
const gpuCount = (n: number) => `${n} ${n === 1 ? 'GPU' : 'GPUs'}`;

export const cpuChecker = (w: WorkingCluster): FeasibilityChecker =>
  resourceChecker('cpu', w.cpu, w.request.cpu, 'RESOURCE:CPU', { what: 'CPU', unit: cpuUnits });

export const memoryChecker = (w: WorkingCluster): FeasibilityChecker =>
  resourceChecker('memory', w.memory, w.request.memory, 'RESOURCE:MEMORY', { what: 'memory', unit: mib });

/** The GPU checker, or undefined when the task needs no GPU. */
export const gpuChecker = (w: WorkingCluster): FeasibilityChecker | undefined =>
  w.request.gpus === 0 ? undefined : resourceChecker('gpu', w.gpus, w.request.gpus, 'RESOURCE:GPU', { what: 'GPUs', unit: gpuCount });
