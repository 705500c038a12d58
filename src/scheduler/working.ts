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
  /** 1 where the instance is ACTIVE, and where its agent is connected. */
  readonly active: Uint8Array;
  readonly connected: Uint8Array;
  /** Tasks of the request's group per instance, read lazily (-1 until read): see groupTasks(). */
  private readonly groupCounts: Int32Array;
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
    this.groupCounts = new Int32Array(n).fill(-1);
    this.placed = new Int32Array(n);
    this.out = new Uint8Array(n);
    this.active = new Uint8Array(n);
    this.connected = new Uint8Array(n);
    // One pass over the snapshot's objects for everything the cheap checks read: on a large cluster
    // a plan's fixed cost is mostly cache misses on those objects, so each is visited once.
    for (let i = 0; i < n; i++) {
      const inst = instances[i]!;
      const free = inst.free;
      this.cpu[i] = free.cpu;
      this.memory[i] = free.memory;
      this.gpus[i] = free.gpus;
      this.active[i] = inst.status === 'ACTIVE' ? 1 : 0;
      this.connected[i] = inst.agentConnected ? 1 : 0;
    }
    this.shuffled = permutation(n, random);
    this.rank = new Int32Array(n);
    for (let k = 0; k < n; k++) this.rank[this.shuffled[k]!] = k;
  }

  /**
   * Tasks of the request's group on instance i: the snapshot's plus this plan's. Read from the
   * snapshot on first use only: binpack and random plans without distinctInstance never need it.
   */
  groupTasks(i: number): number {
    let n = this.groupCounts[i]!;
    if (n < 0) this.groupCounts[i] = n = (this.instances[i]!.taskGroups.get(this.request.group) ?? 0) + this.placed[i]!;
    return n;
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
    const before = this.groupCounts[i]!;
    this.placed[i] = this.placed[i]! + 1;
    if (before >= 0) this.groupCounts[i] = before + 1;
  }
}
