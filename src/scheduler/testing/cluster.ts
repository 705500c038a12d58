/**
 * Small clusters for the scheduler's tests: instances with sensible defaults written in a line, and
 * a WorkingCluster for a request, so each stage can be tested alone.
 */
import { compileRequest, type PlacementRequest } from '../request.js';
import { seededRandom } from '../rng.js';
import type { ClusterState, InstanceState } from '../state.js';
import { WorkingCluster } from '../working.js';

export interface InstanceSpec {
  status?: string;
  agentConnected?: boolean;
  launchType?: 'EC2' | 'EXTERNAL';
  cpu?: number;
  memory?: number;
  gpus?: number;
  tcp?: number[];
  udp?: number[];
  attributes?: Record<string, string | null>;
  /** Tasks already there, by group. */
  groups?: Record<string, number>;
  runningTasksCount?: number;
  registeredAt?: Date;
  ec2InstanceId?: string;
  agentVersion?: string;
}

/** An ACTIVE, connected EC2 instance with 4096 CPU units and 8192 MiB free, unless told otherwise. */
export function instance(id: string, spec: InstanceSpec = {}): InstanceState {
  const groups = new Map(Object.entries(spec.groups ?? {}));
  let tasks = 0;
  for (const n of groups.values()) tasks += n;
  return {
    id,
    status: spec.status ?? 'ACTIVE',
    agentConnected: spec.agentConnected ?? true,
    launchType: spec.launchType ?? 'EC2',
    registeredAt: spec.registeredAt ?? new Date('2024-01-01T00:00:00Z'),
    ec2InstanceId: spec.ec2InstanceId ?? `i-${id}`,
    agentVersion: spec.agentVersion ?? '1.80.0',
    attributes: spec.attributes ?? {},
    free: { cpu: spec.cpu ?? 4096, memory: spec.memory ?? 8192, gpus: spec.gpus ?? 0 },
    reservedPorts: { tcp: new Set(spec.tcp ?? []), udp: new Set(spec.udp ?? []) },
    taskGroups: groups,
    runningTasksCount: spec.runningTasksCount ?? tasks,
  };
}

export const clusterOf = (...instances: InstanceState[]): ClusterState => ({ instances });

/** A task of group service:web needing 256 CPU units and 512 MiB, unless told otherwise. */
export const request = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({ group: 'service:web', cpu: 256, memory: 512, ...over });

/** The working cluster a stack would build, for testing one checker or ranker alone. */
export function working(state: ClusterState, req: PlacementRequest = request(), seed = 1): WorkingCluster {
  return new WorkingCluster(state, compileRequest(req), seededRandom(seed));
}
