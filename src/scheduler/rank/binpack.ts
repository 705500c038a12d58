/**
 * binpack(cpu|memory): the instance left with the least of the resource after the copy wins, so
 * tasks fill instances before new ones are started and whole instances stay free for scale-in.
 * Its walk visits instances from the least free upwards, so its first feasible instance is its best.
 */
import type { WorkingCluster } from '../working.js';
import type { Ranker } from './ranker.js';

// Sort keys pack (free, random rank) into one double: free * 2^24 + rank, exact below 2^53.
const RANK_BITS = 2 ** 24;
const MAX_FAST_FREE = 2 ** 28;

export class BinpackRanker implements Ranker {
  readonly label: string;
  private readonly free: Float64Array;
  private readonly need: number;
  /** Instances by (free, random rank) ascending; entries out of the plan stay until compacted. */
  private sorted: Int32Array = new Int32Array(0);
  /** Position of each instance in `sorted`, -1 when it is not there. */
  private pos: Int32Array = new Int32Array(0);
  private length = 0;
  private dead = 0;
  private built = false;
  private cursor = 0;

  constructor(
    private readonly w: WorkingCluster,
    field: 'cpu' | 'memory',
  ) {
    this.label = `binpack(${field})`;
    this.free = field === 'cpu' ? w.cpu : w.memory;
    this.need = field === 'cpu' ? w.request.cpu : w.request.memory;
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
    else if (this.dead > 32 && this.dead * 4 > this.length) this.compact();
    this.cursor = this.lowerBound(this.need);
  }

  next(): number {
    const { sorted, w } = this;
    while (this.cursor < this.length) {
      const i = sorted[this.cursor++]!;
      if (w.out[i] === 0) return i;
    }
    return -1;
  }

  remaining(): number {
    const { sorted, w } = this;
    while (this.cursor < this.length && w.out[sorted[this.cursor]!] !== 0) this.cursor++;
    return this.cursor < this.length ? this.need - this.free[sorted[this.cursor]!]! : -Infinity;
  }

  placed(i: number): void {
    if (!this.built) return;
    // Its free amount went down: move it left to keep the order, shifting the entries it passes.
    const p = this.pos[i]!;
    if (p < 0) return;
    let lo = 0;
    let hi = p;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.before(this.sorted[mid]!, i)) lo = mid + 1;
      else hi = mid;
    }
    if (lo === p) return;
    this.sorted.copyWithin(lo + 1, lo, p);
    this.sorted[lo] = i;
    for (let k = lo; k <= p; k++) this.pos[this.sorted[k]!] = k;
  }

  remove(i: number): void {
    if (this.built && this.pos[i]! >= 0) this.dead++;
  }

  /** a sorts before b: less free, or as much and earlier in the plan's random order. */
  private before(a: number, b: number): boolean {
    const fa = this.free[a]!;
    const fb = this.free[b]!;
    return fa < fb || (fa === fb && this.w.rank[a]! < this.w.rank[b]!);
  }

  /** The first position whose instance has at least `amount` free. */
  private lowerBound(amount: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.free[this.sorted[mid]!]! < amount) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private build(): void {
    const { w, free } = this;
    const live = new Int32Array(w.size);
    let m = 0;
    for (let k = 0; k < w.size; k++) {
      const i = w.shuffled[k]!;
      if (w.out[i] === 0) live[m++] = i;
    }
    let fast = w.size < RANK_BITS;
    const keys = new Float64Array(m);
    for (let j = 0; j < m && fast; j++) {
      const i = live[j]!;
      const f = free[i]!;
      if (!Number.isInteger(f) || f < 0 || f >= MAX_FAST_FREE) fast = false;
      keys[j] = f * RANK_BITS + w.rank[i]!;
    }
    let sorted: Int32Array;
    if (fast) {
      // A numeric sort of packed keys is several times faster than a comparator sort.
      keys.sort();
      sorted = new Int32Array(m);
      for (let j = 0; j < m; j++) sorted[j] = w.shuffled[keys[j]! % RANK_BITS]!;
    } else {
      sorted = new Int32Array(live.subarray(0, m)).sort((a, b) => free[a]! - free[b]! || w.rank[a]! - w.rank[b]!);
    }
    this.sorted = sorted;
    this.length = m;
    this.pos = new Int32Array(w.size).fill(-1);
    for (let j = 0; j < m; j++) this.pos[sorted[j]!] = j;
    this.built = true;
  }

  private compact(): void {
    let m = 0;
    for (let j = 0; j < this.length; j++) {
      const i = this.sorted[j]!;
      if (this.w.out[i] === 0) {
        this.sorted[m] = i;
        this.pos[i] = m++;
      } else {
        this.pos[i] = -1;
      }
    }
    this.length = m;
    this.dead = 0;
  }
}
