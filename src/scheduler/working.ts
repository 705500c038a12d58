/**
 * The in-memory plan for one request: the snapshot's numbers copied into flat arrays that the copies
 * placed so far in this plan are subtracted from, so that each later copy (and spread, binpack and
 * distinctInstance) sees the earlier picks. The snapshot itself is never written.
 */
import type { CompiledRequest } from './request.js';
import { permutation, type Random } from './rng.js';
import type { ClusterState, InstanceState } from './state.js';

export class WorkingCluster {
  readonly size: number;
  readonly instances: readonly InstanceState[];
  readonly request: CompiledRequest;
  /** Free CPU units, MiB and GPUs after this plan's copies. */
  readonly cpu: Float64Array;
  readonly memory: Float64Array;
  readonly gpus: Float64Array;
  /** Tasks of the request's group on each instance: the snapshot's plus this plan's. */
  readonly groupTasks: Int32Array;
  /** Copies this plan has placed on each instance. */
  readonly placed: Int32Array;
  /**
   * Instances out of this plan: refused once, they stay refused (see README, "why a refusal is
   * final"), so the walks skip them. Set by the stack, read by the rankers' walks.
   */
  readonly out: Uint8Array;
  /** A random order of all instances, and each instance's position in it: how ties are visited. */
  readonly shuffled: Int32Array;
  readonly rank: Int32Array;

  constructor(state: ClusterState, request: CompiledRequest, random: Random) {
    const instances = state.instances;
    const n = instances.length;
    this.size = n;
    this.instances = instances;
    this.request = request;
    this.cpu = new Float64Array(n);
    this.memory = new Float64Array(n);
    this.gpus = new Float64Array(n);
    this.groupTasks = new Int32Array(n);
    this.placed = new Int32Array(n);
    this.out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const inst = instances[i]!;
      this.cpu[i] = inst.free.cpu;
      this.memory[i] = inst.free.memory;
      this.gpus[i] = inst.free.gpus;
      this.groupTasks[i] = inst.taskGroups.get(request.group) ?? 0;
    }
    this.shuffled = permutation(n, random);
    this.rank = new Int32Array(n);
    for (let k = 0; k < n; k++) this.rank[this.shuffled[k]!] = k;
  }

  /** ContainerInstance.runningTasksCount as it will be once this plan's copies run. */
  runningTasksCount(i: number): number {
    return this.instances[i]!.runningTasksCount + this.placed[i]!;
  }

  /** Takes one copy's resources on instance i. */
  reserve(i: number): void {
    const r = this.request;
    this.cpu[i] = this.cpu[i]! - r.cpu;
    this.memory[i] = this.memory[i]! - r.memory;
    this.gpus[i] = this.gpus[i]! - r.gpus;
    this.placed[i] = this.placed[i]! + 1;
    this.groupTasks[i] = this.groupTasks[i]! + 1;
  }
}
