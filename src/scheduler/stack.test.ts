/**
 * The wired pipeline end to end on small clusters: exact picks for each strategy and their order
 * (seeded), constraints, what the plan's earlier copies change, and a property test against brute
 * force: the pick is the best feasible instance by the strategies in order.
 */
import { describe, expect, it } from 'vitest';
import { firstRefusal } from './feasible/chain.js';
import type { PlacementRequest, PlacementStrategy } from './request.js';
import { seededRandom } from './rng.js';
import { PlacementStack, type StackOptions } from './stack.js';
import type { ClusterState } from './state.js';
import { clusterOf, instance, request } from './testing/cluster.js';

const ZONE = 'attribute:zone';
const place = (state: ClusterState, req: PlacementRequest, count: number, options: StackOptions = { random: seededRandom(1) }): string[] => {
  const stack = new PlacementStack(state, req, options);
  for (let n = 0; n < count && stack.select() !== undefined; n++);
  return stack.placements;
};
const tally = (ids: readonly string[]) => ids.reduce<Record<string, number>>((acc, id) => ({ ...acc, [id]: (acc[id] ?? 0) + 1 }), {});

// Two instances per zone; memory differs so that binpack has a clear order.
const zones = clusterOf(
  instance('a-big', { memory: 8192, attributes: { zone: 'a' } }),
  instance('a-small', { memory: 2048, attributes: { zone: 'a' } }),
  instance('b-big', { memory: 6144, attributes: { zone: 'b' } }),
  instance('b-small', { memory: 1536, attributes: { zone: 'b' } }),
  instance('c-big', { memory: 4096, attributes: { zone: 'c' } }),
  instance('c-small', { memory: 1024, attributes: { zone: 'c' } }),
);

describe('binpack', () => {
  it('fills the instance with the least memory left before starting the next', () => {
    const ids = place(zones, request({ memory: 512, strategy: [{ type: 'binpack', field: 'memory' }] }), 7);
    expect(ids).toEqual(['c-small', 'c-small', 'b-small', 'b-small', 'b-small', 'a-small', 'a-small']);
  });
  it('on cpu, by CPU left', () => {
    const cpu = clusterOf(instance('x', { cpu: 4096 }), instance('y', { cpu: 1024 }), instance('z', { cpu: 2048 }));
    expect(place(cpu, request({ cpu: 1024, strategy: [{ type: 'binpack', field: 'cpu' }] }), 3)).toEqual(['y', 'z', 'z']);
  });
});

describe('spread', () => {
  it('evens out the zones', () => {
    const ids = place(zones, request({ strategy: [{ type: 'spread', field: ZONE }] }), 6);
    const perZone = tally(ids.map((id) => id[0]!));
    expect(perZone).toEqual({ a: 2, b: 2, c: 2 });
  });
  it("counts the group's tasks already there, not other groups'", () => {
    const busy = clusterOf(
      instance('a', { attributes: { zone: 'a' }, groups: { 'service:web': 2, 'service:db': 9 } }),
      instance('b', { attributes: { zone: 'b' }, groups: { 'service:db': 9 } }),
      instance('c', { attributes: { zone: 'c' }, groups: { 'service:web': 1 } }),
    );
    expect(place(busy, request({ strategy: [{ type: 'spread', field: ZONE }] }), 3)).toEqual(['b', 'b', 'c']);
  });
  it('on instanceId (or host) puts one on each instance before doubling up', () => {
    for (const field of ['instanceId', 'host']) {
      const ids = place(zones, request({ strategy: [{ type: 'spread', field }] }), 8);
      expect(new Set(ids.slice(0, 6)).size).toBe(6);
      expect(new Set(ids.slice(6)).size).toBe(2);
    }
  });
  it('is best effort: a full zone does not stop placement', () => {
    const full = clusterOf(instance('a', { attributes: { zone: 'a' }, memory: 0 }), instance('b', { attributes: { zone: 'b' } }));
    expect(place(full, request({ strategy: [{ type: 'spread', field: ZONE }] }), 2)).toEqual(['b', 'b']);
  });
});

describe('several strategies, in order (the first dominates, later ones break ties)', () => {
  it('spread across zones, binpack within each: the tightest instance of the emptiest zone', () => {
    const ids = place(zones, request({ memory: 512, strategy: [{ type: 'spread', field: ZONE }, { type: 'binpack', field: 'memory' }] }), 6);
    expect(tally(ids)).toEqual({ 'a-small': 2, 'b-small': 2, 'c-small': 2 });
    // Zones take turns; within a zone, the small instance (least left) wins every time.
    expect(ids.slice(0, 3).map((id) => id[0]).sort()).toEqual(['a', 'b', 'c']);
  });

  it('binpack first, spread only breaking its ties', () => {
    const tie = clusterOf(
      instance('p', { memory: 1024, groups: { 'service:web': 1 } }),
      instance('q', { memory: 1024 }),
      instance('r', { memory: 4096 }),
    );
    expect(place(tie, request({ strategy: [{ type: 'binpack', field: 'memory' }, { type: 'spread', field: 'instanceId' }] }), 1)).toEqual(['q']);
    // The other order: spread dominates, so instances without the group come first; then, all at one
    // task each, the tightest (q, with 512 MiB left) wins again.
    expect(place(tie, request({ strategy: [{ type: 'spread', field: 'instanceId' }, { type: 'binpack', field: 'memory' }] }), 3)).toEqual(['q', 'r', 'q']);
  });

  it('a strategy after random changes nothing: random has no ties', () => {
    const a = place(zones, request({ strategy: [{ type: 'random' }, { type: 'binpack', field: 'memory' }] }), 5, { random: seededRandom(9) });
    const b = place(zones, request({ strategy: [{ type: 'random' }] }), 5, { random: seededRandom(9) });
    expect(a).toEqual(b);
  });
});

describe('random', () => {
  it('is reproducible with a seed and picks among feasible instances only', () => {
    const mixed = clusterOf(instance('ok1'), instance('full', { memory: 0 }), instance('ok2'), instance('off', { status: 'DRAINING' }), instance('ok3'));
    const req = request({ strategy: [{ type: 'random' }] });
    const ids = place(mixed, req, 30, { random: seededRandom(5) });
    expect(ids).toEqual(place(mixed, req, 30, { random: seededRandom(5) }));
    expect(new Set(ids)).toEqual(new Set(['ok1', 'ok2', 'ok3']));
  });
  it('is what no strategy means, and spreads picks roughly evenly', () => {
    const many = clusterOf(...Array.from({ length: 4 }, (_, n) => instance(`i${n}`, { memory: 1_000_000, cpu: 1_000_000 })));
    const counts = Object.values(tally(place(many, request(), 4000, { random: seededRandom(3) })));
    expect(counts).toHaveLength(4);
    for (const n of counts) expect(n).toBeGreaterThan(850);
  });
});

describe('constraints and the plan so far', () => {
  it('distinctInstance: one copy per instance, then nothing', () => {
    const stack = new PlacementStack(zones, request({ constraints: [{ type: 'distinctInstance' }] }), { random: seededRandom(1) });
    for (let n = 0; n < 6; n++) expect(stack.select()).toBeDefined();
    expect(stack.select()).toBeUndefined();
    expect(new Set(stack.placements).size).toBe(6);
  });

  it('memberOf with task:group places next to another group (affinity)', () => {
    const withDb = clusterOf(instance('x'), instance('y', { groups: { 'service:db': 1 } }), instance('z'));
    expect(place(withDb, request({ constraints: [{ type: 'memberOf', expression: 'task:group == service:db' }], strategy: [{ type: 'spread', field: 'instanceId' }] }), 3)).toEqual(['y', 'y', 'y']);
  });

  it("memberOf sees the plan's own copies: runningTasksCount < 2 allows two per idle instance", () => {
    const idle = clusterOf(instance('x'), instance('y', { runningTasksCount: 1 }));
    const ids = place(idle, request({ constraints: [{ type: 'memberOf', expression: 'runningTasksCount < 2' }] }), 5);
    expect(tally(ids)).toEqual({ x: 2, y: 1 });
  });

  it('static host ports: one copy per instance', () => {
    expect(place(zones, request({ tcpPorts: [80] }), 10)).toHaveLength(6);
  });

  it('never over-commits: copies stop when memory runs out', () => {
    const one = clusterOf(instance('x', { memory: 1500 }));
    expect(place(one, request({ memory: 512 }), 5)).toEqual(['x', 'x']);
  });

  it('leaves the snapshot as it was', () => {
    const before = JSON.stringify(zones, (_, v: unknown) => (v instanceof Map || v instanceof Set ? [...v] : v));
    place(zones, request({ tcpPorts: [80], strategy: [{ type: 'spread', field: ZONE }, { type: 'binpack', field: 'memory' }] }), 10);
    expect(JSON.stringify(zones, (_, v: unknown) => (v instanceof Map || v instanceof Set ? [...v] : v))).toBe(before);
  });

  it('an empty cluster places nothing', () => {
    expect(new PlacementStack(clusterOf(), request()).select()).toBeUndefined();
  });

  it('refuses a limit below 1', () => {
    expect(() => new PlacementStack(zones, request(), { limit: 0 })).toThrow(new RangeError('limit must be at least 1 (or Infinity), not 0.'));
    expect(() => new PlacementStack(zones, request(), { limit: Number.NaN })).toThrow(RangeError);
  });

  it('refuses a bad request at construction', () => {
    expect(() => new PlacementStack(zones, request({ strategy: [{ type: 'binpack', field: 'disk' }] }))).toThrow("strategy[0].field 'disk' is not valid for binpack");
  });
});

/**
 * Brute force: before each pick, score every feasible instance and take the lexicographic maximum.
 * With limit Infinity the stack must reach that maximum; with the default limit, it must still
 * match on the walking strategy and every spread before it (see limit.ts).
 */
describe('against brute force', () => {
  const random = seededRandom(2024);
  const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const FIELDS: PlacementStrategy[] = [
    { type: 'binpack', field: 'memory' },
    { type: 'binpack', field: 'cpu' },
    { type: 'spread', field: 'instanceId' },
    { type: 'spread', field: 'attribute:zone' },
    { type: 'spread', field: 'attribute:rack' },
  ];

  const randomCluster = (n: number): ClusterState =>
    clusterOf(
      ...Array.from({ length: n }, (_, k) =>
        instance(`i${k}`, {
          status: random() < 0.05 ? 'DRAINING' : 'ACTIVE',
          cpu: 256 * Math.floor(1 + random() * 16),
          memory: 512 * Math.floor(1 + random() * 16),
          attributes: { zone: pickOf(['a', 'b', 'c']), ...(random() < 0.9 ? { rack: `r${Math.floor(random() * 5)}` } : {}) },
          groups: random() < 0.3 ? { 'service:web': Math.floor(1 + random() * 3) } : {},
        }),
      ),
    );

  const sourceOf = (strategies: PlacementStrategy[]): number => {
    const first = strategies.findIndex((s) => s.type === 'binpack');
    return first > 0 && strategies.slice(0, first).every((s) => s.type === 'spread') ? first : 0;
  };

  for (let round = 0; round < 40; round++) {
    const strategies = Array.from({ length: 1 + Math.floor(random() * 3) }, () => pickOf(FIELDS));
    const n = 20 + Math.floor(random() * 60);
    const state = randomCluster(n);
    const memberOf = random() < 0.5 ? [{ type: 'memberOf' as const, expression: pickOf(['attribute:zone != c', 'attribute:rack exists', 'runningTasksCount < 3']) }] : [];
    const req = request({ cpu: 256 * Math.floor(1 + random() * 3), memory: 512 * Math.floor(1 + random() * 3), strategy: strategies, constraints: memberOf });
    const label = `${strategies.map((s) => `${s.type}(${s.field ?? ''})`).join(', ')} ${memberOf[0]?.expression ?? ''} on ${n}`;

    for (const limit of [Infinity, undefined]) {
      it(`${label}, limit ${limit ?? 'default'}`, () => {
        const stack = new PlacementStack(state, req, { random: seededRandom(round), ...(limit === undefined ? {} : { limit }) });
        const exact = limit === Infinity ? strategies.length : sourceOf(strategies) + 1;
        for (let copy = 0; copy < 40; copy++) {
          let best: number[] | undefined;
          const scoresOf = new Map<number, number[]>();
          for (let i = 0; i < n; i++) {
            if (firstRefusal(stack.checkers, i) !== undefined) continue;
            const s = stack.rankers.map((r) => r.score(i));
            scoresOf.set(i, s);
            if (best === undefined || compare(s, best, strategies.length) > 0) best = s;
          }
          const id = stack.select();
          if (best === undefined) {
            expect(id).toBeUndefined();
            return;
          }
          const picked = scoresOf.get(Number(id!.slice(1)));
          expect(picked, `copy ${copy} went to an infeasible instance`).toBeDefined();
          expect(picked!.slice(0, exact), `copy ${copy}`).toEqual(best.slice(0, exact));
        }
      });
    }
  }
});

function compare(a: readonly number[], b: readonly number[], length: number): number {
  for (let j = 0; j < length; j++) if (a[j] !== b[j]) return a[j]! - b[j]!;
  return 0;
}

describe('the eligibility cache', () => {
  /** An instance whose attribute reads are counted: each memberOf evaluation reads `zone` once. */
  const counted = (id: string, zone: string, reads: Map<string, number>) =>
    instance(id, {
      attributes: new Proxy({ zone }, {
        getOwnPropertyDescriptor(target, key) {
          reads.set(id, (reads.get(id) ?? 0) + 1);
          return Reflect.getOwnPropertyDescriptor(target, key);
        },
      }),
    });

  it('evaluates memberOf on an instance once per plan, plus once after each copy it takes', () => {
    const reads = new Map<string, number>();
    const state = clusterOf(counted('a', 'a', reads), counted('b', 'b', reads), counted('c', 'b', reads));
    const stack = new PlacementStack(state, request({ memory: 1024, constraints: [{ type: 'memberOf', expression: 'attribute:zone == b' }], strategy: [{ type: 'spread', field: 'instanceId' }] }), { random: seededRandom(1), limit: Infinity });
    for (let n = 0; n < 6; n++) expect(stack.select()).toBeDefined();
    expect(tally(stack.placements)).toEqual({ b: 3, c: 3 });
    // a: refused once and out of the plan; b and c: checked once, then again after each of their 3 copies.
    expect(Object.fromEntries(reads)).toEqual({ a: 1, b: 4, c: 4 });
  });
});
