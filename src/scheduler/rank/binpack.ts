/**
 * binpack(cpu|memory): the instance left with the least of the resource after the copy wins, so
 * tasks fill instances before new ones are started and whole instances stay free for scale-in.
 * Its walk visits instances from the least free upwards, so its first feasible instance is its best.
 *
 * The order is a binary min-heap by (free, the plan's random rank), not a sorted array: building it
 * is O(n) where a sort is O(n log n), and that build is most of a plan's fixed cost on a large
 * cluster; a copy landing is a decrease-key, a removal O(log n). A walk reads the heap in order
 * through a small frontier heap of positions (the k smallest of a heap in O(k log k)).
 */
import type { WorkingCluster } from '../working.js';
import type { Ranker } from './ranker.js';

export class BinpackRanker implements Ranker {
  readonly label: string;
  private readonly free: Float64Array;
  private readonly rank: Int32Array;
  private readonly need: number;
  /** Instances still in the plan, as a min-heap; heapPos[i] is i's slot, -1 when not in it. */
  private heap: Int32Array = new Int32Array(0);
  private heapPos: Int32Array = new Int32Array(0);
  private length = 0;
  private built = false;
  /** The walk's frontier: heap slots not yet returned whose parents were, smallest first. */
  private frontier: Int32Array = new Int32Array(64);
  private frontierLength = 0;

  constructor(
    private readonly w: WorkingCluster,
    field: 'cpu' | 'memory',
  ) {
    this.label = `binpack(${field})`;
    this.free = field === 'cpu' ? w.cpu : w.memory;
    this.need = field === 'cpu' ? w.request.cpu : w.request.memory;
    this.rank = w.rank;
  }

  /** Minus what would be left after the copy: less left scores higher. */
  score(i: number): number {
    return this.need - this.free[i]!;
  }

  bound(): number {
    return Infinity;
  }

  startWalk(): void {
    // Built on the first walk only: a binpack that only breaks ties never needs the order.
    if (!this.built) this.build();
    this.frontierLength = 0;
    if (this.length > 0) this.pushFrontier(0);
  }

  next(): number {
    if (!this.settle()) return -1;
    return this.heap[this.expand()]!;
  }

  remaining(): number {
    return this.settle() ? this.need - this.free[this.heap[this.frontier[0]!]!]! : -Infinity;
  }

  /**
   * Drops from the top of the frontier what the walk would not return: instances refused during
   * this walk (removed after it) and any too full to fit; their subtrees may still hold some that fit.
   */
  private settle(): boolean {
    const { heap, w } = this;
    while (this.frontierLength > 0) {
      const i = heap[this.frontier[0]!]!;
      if (w.out[i] === 0 && this.free[i]! >= this.need) return true;
      this.expand();
    }
    return false;
  }

  /** Pops the frontier's smallest slot and puts its children in its place. */
  private expand(): number {
    const slot = this.popFrontier();
    const left = 2 * slot + 1;
    if (left < this.length) this.pushFrontier(left);
    if (left + 1 < this.length) this.pushFrontier(left + 1);
    return slot;
  }

  placed(i: number): void {
    // Its free amount went down: a decrease-key.
    const p = this.built ? this.heapPos[i]! : -1;
    if (p >= 0) this.siftUp(p);
  }

  remove(i: number): void {
    const p = this.built ? this.heapPos[i]! : -1;
    if (p < 0) return;
    this.heapPos[i] = -1;
    const last = this.heap[--this.length]!;
    if (p === this.length) return;
    this.heap[p] = last;
    this.heapPos[last] = p;
    this.siftDown(p);
    this.siftUp(this.heapPos[last]);
  }

  /** a sorts before b: less free, or as much and earlier in the plan's random order. */
  private before(a: number, b: number): boolean {
    const fa = this.free[a]!;
    const fb = this.free[b]!;
    return fa < fb || (fa === fb && this.rank[a]! < this.rank[b]!);
  }

  private build(): void {
    const { w } = this;
    this.heap = new Int32Array(w.size);
    this.heapPos = new Int32Array(w.size).fill(-1);
    let m = 0;
    for (let i = 0; i < w.size; i++) {
      if (w.out[i] !== 0) continue;
      this.heap[m] = i;
      this.heapPos[i] = m++;
    }
    this.length = m;
    for (let p = (m >>> 1) - 1; p >= 0; p--) this.siftDown(p);
    this.built = true;
  }

  private siftUp(p: number): void {
    const { heap, heapPos } = this;
    const i = heap[p]!;
    while (p > 0) {
      const parent = (p - 1) >>> 1;
      const j = heap[parent]!;
      if (!this.before(i, j)) break;
      heap[p] = j;
      heapPos[j] = p;
      p = parent;
    }
    heap[p] = i;
    heapPos[i] = p;
  }

  private siftDown(p: number): void {
    const { heap, heapPos, length } = this;
    const i = heap[p]!;
    for (;;) {
      let child = 2 * p + 1;
      if (child >= length) break;
      if (child + 1 < length && this.before(heap[child + 1]!, heap[child]!)) child++;
      const j = heap[child]!;
      if (!this.before(j, i)) break;
      heap[p] = j;
      heapPos[j] = p;
      p = child;
    }
    heap[p] = i;
    heapPos[i] = p;
  }

  /** The frontier orders heap slots by their instances' keys. */
  private pushFrontier(slot: number): void {
    if (this.frontierLength === this.frontier.length) {
      const bigger = new Int32Array(this.frontier.length * 2);
      bigger.set(this.frontier);
      this.frontier = bigger;
    }
    const { frontier, heap } = this;
    let p = this.frontierLength++;
    while (p > 0) {
      const parent = (p - 1) >>> 1;
      if (!this.before(heap[slot]!, heap[frontier[parent]!]!)) break;
      frontier[p] = frontier[parent]!;
      p = parent;
    }
    frontier[p] = slot;
  }

  private popFrontier(): number {
    const { frontier, heap } = this;
    const top = frontier[0]!;
    const last = frontier[--this.frontierLength]!;
    const n = this.frontierLength;
    let p = 0;
    for (;;) {
      let child = 2 * p + 1;
      if (child >= n) break;
      if (child + 1 < n && this.before(heap[frontier[child + 1]!]!, heap[frontier[child]!]!)) child++;
      if (!this.before(heap[frontier[child]!]!, heap[last]!)) break;
      frontier[p] = frontier[child]!;
      p = child;
    }
    if (n > 0) frontier[p] = last;
    return top;
  }
}
