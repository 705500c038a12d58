/**
 * spread(instanceId | host | attribute:<name>): the value (instance, or attribute value such as a
 * zone) holding the fewest tasks of this task group wins, so the group's tasks even out across the
 * values. Instances lacking the attribute count as one more value. Its walk visits values from the
 * fewest tasks up, so its first feasible instance is its best.
 */
import type { Random } from '../rng.js';
import type { Strategy } from '../request.js';
import type { WorkingCluster } from '../working.js';
import type { Ranker } from './ranker.js';

/** The values with `count` tasks of the group; each value sits in exactly one bucket. */
interface Bucket {
  readonly count: number;
  readonly values: number[];
}

export class SpreadRanker implements Ranker {
  readonly label: string;
  /** Value id of each instance. */
  private readonly valueOf: Int32Array;
  /** Tasks of the group per value, on every instance with that value (whether it takes tasks or not). */
  private readonly counts: Int32Array;
  /** Instances still in the plan per value. */
  private readonly live: Int32Array;
  /** Each value's instances, in the plan's random order: members[start[v] .. start[v] + size[v]). */
  private readonly start: Int32Array;
  private readonly size: Int32Array;
  private readonly members: Int32Array;
  /** Where the next walk enters each value, so that successive walks take turns among its instances. */
  private readonly cursor: Int32Array;
  private readonly deadMembers: Int32Array;
  /** Buckets of values still in the plan, by count ascending; a value's slot in its bucket. */
  private readonly buckets: Bucket[] = [];
  private readonly slot: Int32Array;

  // Walk state.
  private bucketIndex = 0;
  private valueStep = 0;
  private valueOffset = 0;
  private member = -1;
  private memberStep = 0;
  private memberBase = 0;

  constructor(
    private readonly w: WorkingCluster,
    strategy: Extract<Strategy, { type: 'spread' }>,
    private readonly random: Random,
  ) {
    const n = w.size;
    this.valueOf = new Int32Array(n);
    let values: number;
    if (strategy.field === 'instanceId') {
      this.label = 'spread(instanceId)';
      for (let i = 0; i < n; i++) this.valueOf[i] = i;
      values = n;
    } else {
      const name = strategy.attribute;
      this.label = `spread(attribute:${name})`;
      // A missing attribute and one present without a value are two more values of their own.
      const ids = new Map<string | null | undefined, number>();
      for (let i = 0; i < n; i++) {
        const attrs = w.instances[i]!.attributes;
        const v = Object.hasOwn(attrs, name) ? attrs[name] : undefined;
        let id = ids.get(v);
        if (id === undefined) ids.set(v, (id = ids.size));
        this.valueOf[i] = id;
      }
      values = ids.size;
    }
    this.counts = new Int32Array(values);
    this.live = new Int32Array(values);
    this.start = new Int32Array(values + 1);
    this.size = new Int32Array(values);
    this.cursor = new Int32Array(values);
    this.deadMembers = new Int32Array(values);
    this.slot = new Int32Array(values).fill(-1);
    this.members = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = this.valueOf[i]!;
      this.counts[v] = this.counts[v]! + w.groupTasks(i);
      if (w.out[i] === 0) this.size[v] = this.size[v]! + 1;
    }
    for (let v = 0; v < values; v++) this.start[v + 1] = this.start[v]! + this.size[v]!;
    const fill = new Int32Array(values);
    for (let k = 0; k < n; k++) {
      const i = w.shuffled[k]!;
      if (w.out[i] !== 0) continue;
      const v = this.valueOf[i]!;
      this.members[this.start[v]! + fill[v]!] = i;
      fill[v] = fill[v]! + 1;
    }
    for (let v = 0; v < values; v++) {
      this.live[v] = this.size[v]!;
      if (this.size[v]! > 0) this.enter(v);
    }
  }

  /** Minus the group's tasks on the instance's value: fewer scores higher. */
  score(i: number): number {
    return -this.counts[this.valueOf[i]!]!;
  }

  bound(): number {
    return this.buckets.length === 0 ? -Infinity : -this.buckets[0]!.count;
  }

  startWalk(): void {
    this.bucketIndex = 0;
    this.valueStep = 0;
    this.member = -1;
    this.valueOffset = this.buckets.length === 0 ? 0 : Math.floor(this.random() * this.buckets[0]!.values.length);
  }

  next(): number {
    const { w, buckets } = this;
    for (;;) {
      if (this.member >= 0) {
        const v = this.member;
        const size = this.size[v]!;
        while (this.memberStep < size) {
          const at = (this.memberBase + this.memberStep++) % size;
          const i = this.members[this.start[v]! + at]!;
          if (w.out[i] !== 0) continue;
          this.cursor[v] = (at + 1) % size;
          return i;
        }
        this.member = -1;
        this.valueStep++;
      }
      const bucket = buckets[this.bucketIndex];
      if (bucket === undefined) return -1;
      if (this.valueStep >= bucket.values.length) {
        this.bucketIndex++;
        this.valueStep = 0;
        const nextBucket = buckets[this.bucketIndex];
        this.valueOffset = nextBucket === undefined ? 0 : Math.floor(this.random() * nextBucket.values.length);
        continue;
      }
      const v = bucket.values[(this.valueOffset + this.valueStep) % bucket.values.length]!;
      this.member = v;
      this.memberStep = 0;
      this.memberBase = this.cursor[v]!;
    }
  }

  remaining(): number {
    let b = this.bucketIndex;
    const bucket = this.buckets[b];
    if (bucket === undefined) return -Infinity;
    // Past the last instance of the bucket's last value, what is left starts at the next bucket.
    const current = this.member >= 0 && this.memberStep < this.size[this.member]!;
    if (!current && this.valueStep + (this.member >= 0 ? 1 : 0) >= bucket.values.length) b++;
    const next = this.buckets[b];
    return next === undefined ? -Infinity : -next.count;
  }

  placed(i: number): void {
    const v = this.valueOf[i]!;
    const before = this.counts[v]!;
    this.counts[v] = before + 1;
    if (this.slot[v]! < 0) return;
    this.leave(v, before);
    this.enter(v);
  }

  remove(i: number): void {
    const v = this.valueOf[i]!;
    this.live[v] = this.live[v]! - 1;
    if (this.live[v] === 0) {
      this.leave(v, this.counts[v]!);
      return;
    }
    this.deadMembers[v] = this.deadMembers[v]! + 1;
    if (this.deadMembers[v] * 2 > this.size[v]!) this.compactValue(v);
  }

  /** Puts value v into the bucket for its count, creating the bucket in order if needed. */
  private enter(v: number): void {
    const count = this.counts[v]!;
    const { buckets } = this;
    let lo = 0;
    let hi = buckets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (buckets[mid]!.count < count) lo = mid + 1;
      else hi = mid;
    }
    let bucket = buckets[lo];
    if (bucket === undefined || bucket.count !== count) {
      bucket = { count, values: [] };
      buckets.splice(lo, 0, bucket);
    }
    this.slot[v] = bucket.values.length;
    bucket.values.push(v);
  }

  /** Takes value v out of the bucket for `count`, dropping the bucket when it empties. */
  private leave(v: number, count: number): void {
    const { buckets } = this;
    let lo = 0;
    let hi = buckets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (buckets[mid]!.count < count) lo = mid + 1;
      else hi = mid;
    }
    const bucket = buckets[lo]!;
    const at = this.slot[v]!;
    const last = bucket.values.pop()!;
    if (last !== v) {
      bucket.values[at] = last;
      this.slot[last] = at;
    }
    this.slot[v] = -1;
    if (bucket.values.length === 0) buckets.splice(lo, 1);
  }

  /** Drops value v's instances that are out of the plan, so walks stop stepping over them. */
  private compactValue(v: number): void {
    const from = this.start[v]!;
    let m = 0;
    for (let k = 0; k < this.size[v]!; k++) {
      const i = this.members[from + k]!;
      if (this.w.out[i] === 0) this.members[from + m++] = i;
    }
    this.size[v] = m;
    this.cursor[v] = 0;
    this.deadMembers[v] = 0;
  }
}
