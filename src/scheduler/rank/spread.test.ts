/** spread: scores by the group's tasks per value, walks values from the fewest tasks up, and bounds what is reachable. */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../rng.js';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import { SpreadRanker } from './spread.js';

const zone = { type: 'spread', field: 'attribute', attribute: 'zone' } as const;
const perInstance = { type: 'spread', field: 'instanceId' } as const;

const walk = (r: SpreadRanker): number[] => {
  r.startWalk();
  const out: number[] = [];
  for (let i = r.next(); i >= 0; i = r.next()) out.push(i);
  return out;
};

// Zone a holds 3 web tasks (on two instances), zone b 1, zone c none; one instance has no zone.
const state = clusterOf(
  instance('a1', { attributes: { zone: 'a' }, groups: { 'service:web': 2, 'service:db': 5 } }),
  instance('a2', { attributes: { zone: 'a' }, groups: { 'service:web': 1 } }),
  instance('b1', { attributes: { zone: 'b' }, groups: { 'service:web': 1 } }),
  instance('c1', { attributes: { zone: 'c' } }),
  instance('c2', { attributes: { zone: 'c' } }),
  instance('x', {}),
);

describe('SpreadRanker on an attribute', () => {
  it("scores minus the group's tasks in the instance's zone (other groups do not count)", () => {
    const r = new SpreadRanker(working(state), zone, seededRandom(1));
    expect(r.label).toBe('spread(attribute:zone)');
    expect([0, 1, 2, 3, 4, 5].map((i) => r.score(i))).toEqual([-3, -3, -1, -0, -0, -0]);
    expect(r.bound()).toBe(-0);
  });

  it('walks the emptiest values first (missing attribute is a value of its own), remaining() following', () => {
    const r = new SpreadRanker(working(state), zone, seededRandom(1));
    r.startWalk();
    const seen: Array<[number, number]> = [];
    for (let i = r.next(); i >= 0; i = r.next()) seen.push([i, r.remaining()]);
    expect(new Set(seen.slice(0, 3).map(([i]) => i))).toEqual(new Set([3, 4, 5]));
    expect(seen[3]![0]).toBe(2);
    expect(new Set(seen.slice(4).map(([i]) => i))).toEqual(new Set([0, 1]));
    // After the last instance of a bucket, remaining() already bounds by the next bucket.
    expect(seen.map(([, rem]) => rem)).toEqual([-0, -0, -1, -3, -3, -Infinity]);
  });

  it('moves a value up when a copy lands in it', () => {
    const w = working(state);
    const r = new SpreadRanker(w, zone, seededRandom(1));
    for (const i of [3, 4, 5]) {
      w.reserve(i);
      r.placed(i);
    }
    // a: 3, b: 1, c: 2, none: 1.
    expect([0, 2, 3, 5].map((i) => r.score(i))).toEqual([-3, -1, -2, -1]);
    expect(r.bound()).toBe(-1);
    expect(walk(r).map((i) => r.score(i))).toEqual([-1, -1, -2, -2, -3, -3]);
  });

  it('bounds only values that still have an instance in the plan', () => {
    const w = working(state);
    const r = new SpreadRanker(w, zone, seededRandom(1));
    for (const i of [3, 4, 5]) {
      w.out[i] = 1;
      r.remove(i);
    }
    expect(r.bound()).toBe(-1);
    expect(walk(r)).toEqual([2, ...walk(r).slice(1)]);
    w.out[2] = 1;
    r.remove(2);
    expect(r.bound()).toBe(-3);
    w.out[0] = 1;
    r.remove(0);
    w.out[1] = 1;
    r.remove(1);
    expect(r.bound()).toBe(-Infinity);
    expect(walk(r)).toEqual([]);
  });

  it('leaves instances out of the plan out of its index from the start', () => {
    const w = working(state);
    w.out[3] = 1;
    w.out[4] = 1;
    const r = new SpreadRanker(w, zone, seededRandom(1));
    expect(walk(r)[0]).toBe(5);
    expect(walk(r)).not.toContain(3);
  });
});

describe('SpreadRanker on instanceId', () => {
  it("scores minus the group's tasks on the instance itself", () => {
    const r = new SpreadRanker(working(state), perInstance, seededRandom(1));
    expect(r.label).toBe('spread(instanceId)');
    expect([0, 1, 2, 3].map((i) => r.score(i))).toEqual([-2, -1, -1, -0]);
  });

  it('takes turns among tied instances across walks', () => {
    const even = clusterOf(...Array.from({ length: 8 }, (_, n) => instance(`i${n}`)));
    const r = new SpreadRanker(working(even), perInstance, seededRandom(2));
    const firsts = new Set<number>();
    for (let k = 0; k < 8; k++) {
      r.startWalk();
      firsts.add(r.next());
    }
    expect(firsts.size).toBeGreaterThan(1);
  });

  /** Through random copies and removals, a walk returns every live instance once, fewest tasks first. */
  it('keeps its buckets right through random changes', () => {
    const random = seededRandom(5);
    const big = clusterOf(...Array.from({ length: 200 }, (_, n) => instance(`i${n}`, { attributes: { rack: `r${n % 7}` }, groups: { 'service:web': Math.floor(random() * 4) } })));
    for (const s of [perInstance, { type: 'spread', field: 'attribute', attribute: 'rack' } as const]) {
      const w = working(big, request(), 3);
      const r = new SpreadRanker(w, s, random);
      for (let step = 0; step < 1500; step++) {
        const i = Math.floor(random() * w.size);
        if (w.out[i] !== 0) continue;
        if (random() < 0.15) {
          w.out[i] = 1;
          r.remove(i);
        } else {
          w.reserve(i);
          r.placed(i);
        }
        if (step % 50 === 0) {
          const order = walk(r);
          const live = Array.from({ length: w.size }, (_, k) => k).filter((k) => w.out[k] === 0);
          expect([...order].sort((a, b) => a - b)).toEqual(live);
          const scores = order.map((k) => r.score(k));
          for (let k = 1; k < scores.length; k++) expect(scores[k]!).toBeLessThanOrEqual(scores[k - 1]!);
          expect(r.bound()).toBe(live.length === 0 ? -Infinity : Math.max(...scores));
        }
      }
    }
  });
});
