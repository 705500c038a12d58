/**
 * The feasibility checkers for a request, in the order they run: cheapest first, and in ECS's order
 * (the instance itself, then CPU, memory and ports, then placement constraints), so the first check
 * that refuses an instance is the reason ECS would give.
 */
import type { WorkingCluster } from '../working.js';
import { attributesChecker } from './attributes.js';
import type { FeasibilityChecker } from './checker.js';
import { distinctInstanceChecker } from './distinct-instance.js';
import { launchTypeChecker } from './launch-type.js';
import { memberOfCheckers } from './member-of.js';
import { tcpPortsChecker, udpPortsChecker } from './ports.js';
import { cpuChecker, gpuChecker, memoryChecker } from './resources.js';
import { agentChecker, statusChecker } from './status.js';

/** Checks that do not apply to the request (no ports, no GPUs, no constraints) are left out. */
export function feasibilityChain(w: WorkingCluster): FeasibilityChecker[] {
  const chain: Array<FeasibilityChecker | undefined> = [
    statusChecker(w),
    agentChecker(w),
    launchTypeChecker(w),
    attributesChecker(w),
    cpuChecker(w),
    memoryChecker(w),
    gpuChecker(w),
    tcpPortsChecker(w),
    udpPortsChecker(w),
    distinctInstanceChecker(w),
    // memberOf last: it is the costliest, and ECS applies constraints after resources.
    ...memberOfCheckers(w),
  ];
  return chain.filter((c): c is FeasibilityChecker => c !== undefined);
}

/** The first checker of `chain` that refuses instance i, or undefined when i is feasible. */
export function firstRefusal(chain: readonly FeasibilityChecker[], i: number): FeasibilityChecker | undefined {
  for (const c of chain) if (!c.feasible(i)) return c;
  return undefined;
}
