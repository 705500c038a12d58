/**
 * A task's reservation on its container instance, in the ContainerInstance wire object's own terms:
 * remainingResources (CPU, MEMORY, PORTS, PORTS_UDP) and pendingTasksCount / runningTasksCount.
 * Pure; tasks.ts commits the results in the same transaction as the tasks they belong to.
 */
import type { PlacementCandidate } from '../scheduler/place.js';
import type { TaskReservation } from './task-shape.js';

/** ContainerInstance.remainingResources[] / registeredResources[] on the wire. */
export interface Resource {
  readonly name: string;
  readonly type: string;
  readonly doubleValue?: number;
  readonly longValue?: number;
  readonly integerValue?: number;
  readonly stringSetValue?: readonly string[];
}

/** The parts of a ContainerInstance wire object placement reads and reservation changes. */
export interface InstanceResources {
  readonly containerInstanceArn: string;
  readonly status: string;
  readonly remainingResources?: readonly Resource[];
  readonly pendingTasksCount?: number;
  readonly runningTasksCount?: number;
  readonly attributes?: ReadonlyArray<{ readonly name: string; readonly value?: string }>;
  readonly version?: number;
}

/** A numeric resource's value, read from the member its type names (ECS fills in all three). */
const numberOf = (r: Resource | undefined): number =>
  (r?.type === 'LONG' ? r.longValue : r?.type === 'DOUBLE' ? r.doubleValue : r?.integerValue) ?? 0;
const portsOf = (r: Resource | undefined): number[] => (r?.stringSetValue ?? []).map(Number).filter((p) => Number.isInteger(p));
const find = (resources: readonly Resource[] | undefined, name: string) => resources?.find((r) => r.name === name);

/** The instance id: the last part of its ARN. */
export const instanceIdOf = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

/** The instance as placement sees it: its remaining resources and attributes. */
export function placementCandidate(instance: InstanceResources): PlacementCandidate {
  const rr = instance.remainingResources;
  return {
    id: instanceIdOf(instance.containerInstanceArn),
    status: instance.status,
    cpu: numberOf(find(rr, 'CPU')),
    memory: numberOf(find(rr, 'MEMORY')),
    tcpPorts: portsOf(find(rr, 'PORTS')),
    udpPorts: portsOf(find(rr, 'PORTS_UDP')),
    attributes: Object.fromEntries((instance.attributes ?? []).map((a) => [a.name, a.value ?? ''])),
  };
}

function withNumber(r: Resource, value: number): Resource {
  return r.type === 'LONG' ? { ...r, longValue: value } : r.type === 'DOUBLE' ? { ...r, doubleValue: value } : { ...r, integerValue: value };
}

/** remainingResources with `sign` × the reservation applied (−1 reserves, +1 releases). */
function adjust(resources: readonly Resource[], res: TaskReservation, sign: 1 | -1): Resource[] {
  const out = resources.map((r) => {
    switch (r.name) {
      case 'CPU':
        return withNumber(r, numberOf(r) + sign * res.cpu);
      case 'MEMORY':
        return withNumber(r, numberOf(r) + sign * res.memory);
      case 'PORTS':
      case 'PORTS_UDP': {
        const ports = r.name === 'PORTS' ? res.tcpPorts : res.udpPorts;
        if (ports.length === 0) return r;
        const set = r.stringSetValue ?? [];
        const next = sign < 0 ? [...set, ...ports.map(String)] : removeEach(set, ports.map(String));
        return { ...r, stringSetValue: next };
      }
      default:
        return r;
    }
  });
  // An instance registered without a PORTS_UDP entry still needs one to remember UDP host ports.
  if (sign < 0 && res.udpPorts.length > 0 && !out.some((r) => r.name === 'PORTS_UDP')) {
    out.push({ name: 'PORTS_UDP', type: 'STRINGSET', doubleValue: 0, longValue: 0, integerValue: 0, stringSetValue: res.udpPorts.map(String) });
  }
  return out;
}

/** Removes one occurrence of each item (a port reserved twice is freed once per release). */
function removeEach(from: readonly string[], items: readonly string[]): string[] {
  const out = [...from];
  for (const item of items) {
    const i = out.indexOf(item);
    if (i >= 0) out.splice(i, 1);
  }
  return out;
}

/** The instance after a new task's reservation: resources taken, pendingTasksCount + 1, version + 1. */
export function reserveOnInstance<T extends InstanceResources>(instance: T, res: TaskReservation): T {
  return {
    ...instance,
    remainingResources: adjust(instance.remainingResources ?? [], res, -1),
    pendingTasksCount: (instance.pendingTasksCount ?? 0) + 1,
    version: (instance.version ?? 0) + 1,
  };
}

/**
 * The instance after a task left it: resources returned, and the task no longer counted as pending
 * (or running, when `wasRunning`). Counts never go below zero.
 */
export function releaseOnInstance<T extends InstanceResources>(instance: T, res: TaskReservation, wasRunning: boolean): T {
  const counts = wasRunning
    ? { runningTasksCount: Math.max(0, (instance.runningTasksCount ?? 0) - 1) }
    : { pendingTasksCount: Math.max(0, (instance.pendingTasksCount ?? 0) - 1) };
  return {
    ...instance,
    remainingResources: adjust(instance.remainingResources ?? [], res, 1),
    ...counts,
    version: (instance.version ?? 0) + 1,
  };
}
