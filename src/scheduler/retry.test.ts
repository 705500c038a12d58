/**
 * Optimistic placement: bounded re-planning on a stale snapshot, and concurrent planners that commit
 * with compare-and-swap never over-commit an instance (while the same planners without it do).
 */
import { describe, expect, it } from 'vitest';
import type { PlacementPlan } from './plan.js';
import { placeWithRetry, StalePlanError, type Planner } from './retry.js';
import { seededRandom, type Random } from './rng.js';
import type { ClusterState } from './state.js';
import { clusterOf, instance, request } from './testing/cluster.js';

/** A store of container instances with a revision each, as src/store keeps them. */
class FakeStore {
  readonly rows = new Map<string, { revision: number; memory: number; groups: Map<string, number> }>();
  constructor(ids: readonly string[], readonly capacity: number) {
    for (const id of ids) this.rows.set(id, { revision: 1, memory: capacity, groups: new Map() });
  }
  read(): Snapshot {
    const revisions = new Map<string, number>();
    const instances = [...this.rows].map(([id, row]) => {
      revisions.set(id, row.revision);
      return instance(id, { memory: row.memory, groups: Object.fromEntries(row.groups) });
    });
    return { ...clusterOf(...instances), revisions };
  }
  /** One transaction: with `cas`, only if every instance the plan uses is at the snapshot's revision. */
  commit(plan: PlacementPlan, snapshot: Snapshot, memory: number, group: string, cas: boolean): boolean {
    const used = new Set(plan.placements);
    if (cas && [...used].some((id) => this.rows.get(id)!.revision !== snapshot.revisions.get(id))) return false;
    for (const id of plan.placements) {
      const row = this.rows.get(id)!;
      row.memory -= memory;
      row.groups.set(group, (row.groups.get(group) ?? 0) + 1);
      row.revision++;
    }
    return true;
  }
}

type Snapshot = ClusterState & { readonly revisions: ReadonlyMap<string, number> };

/** Lets other planners run: a seeded number of turns of the event loop. */
const yieldSome = async (random: Random) => {
  for (let n = Math.floor(random() * 4); n >= 0; n--) await new Promise((r) => setImmediate(r));
};

function storePlanner(store: FakeStore, memory: number, group: string, random: Random, cas = true): Planner<Snapshot> & { attempts: number } {
  return {
    attempts: 0,
    async snapshot() {
      this.attempts++;
      await yieldSome(random);
      return store.read();
    },
    async submit(plan, snapshot) {
      await yieldSome(random);
      return store.commit(plan, snapshot, memory, group, cas);
    },
  };
}

describe('placeWithRetry', () => {
  it('commits on the first attempt when nothing changed', async () => {
    const store = new FakeStore(['a', 'b'], 2048);
    const planner = storePlanner(store, 512, 'service:web', seededRandom(1));
    const plan = await placeWithRetry(planner, request(), 3, { random: seededRandom(1) });
    expect(plan.placements).toHaveLength(3);
    expect(planner.attempts).toBe(1);
    expect([...store.rows.values()].reduce((a, r) => a + r.memory, 0)).toBe(4096 - 3 * 512);
  });

  it('re-plans on a fresh snapshot when the commit finds it stale', async () => {
    const store = new FakeStore(['a'], 1024);
    let stale = 2;
    const planner: Planner<Snapshot> = {
      snapshot: () => Promise.resolve(store.read()),
      submit: (plan, snap) => Promise.resolve(stale-- > 0 ? false : store.commit(plan, snap, 512, 'service:web', true)),
    };
    const plan = await placeWithRetry(planner, request(), 1);
    expect(plan.placements).toEqual(['a']);
    expect(stale).toBe(-1);
  });

  it('gives up after maxAttempts with StalePlanError', async () => {
    const store = new FakeStore(['a'], 1024);
    let snapshots = 0;
    const planner: Planner<Snapshot> = {
      snapshot: () => Promise.resolve((snapshots++, store.read())),
      submit: () => Promise.resolve(false),
    };
    await expect(placeWithRetry(planner, request(), 1, { maxAttempts: 3 })).rejects.toThrow(new StalePlanError(3));
    expect(snapshots).toBe(3);
  });

  it('returns a plan that places nothing without committing it', async () => {
    const store = new FakeStore(['a'], 100);
    let submits = 0;
    const planner: Planner<Snapshot> = {
      snapshot: () => Promise.resolve(store.read()),
      submit: () => Promise.resolve((submits++, true)),
    };
    const plan = await placeWithRetry(planner, request(), 2);
    expect(plan.placements).toEqual([]);
    expect(plan.explanation?.message).toBe('1 of 1 instance lacks memory: need 512 MiB, largest free 100 MiB');
    expect(submits).toBe(0);
  });

  it('does not swallow a planner error', async () => {
    const planner: Planner = { snapshot: () => Promise.reject(new Error('store down')), submit: () => Promise.resolve(true) };
    await expect(placeWithRetry(planner, request(), 1)).rejects.toThrow('store down');
  });
});

describe('concurrent planners', () => {
  // 5 instances × 2048 MiB hold 20 copies of 512 MiB; 12 planners want 3 each, all at once.
  const run = async (cas: boolean, seed: number) => {
    const store = new FakeStore(['a', 'b', 'c', 'd', 'e'], 2048);
    const random = seededRandom(seed);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, n) => {
        const req = request({ group: `service:s${n}`, strategy: [{ type: 'binpack', field: 'memory' }] });
        return placeWithRetry(storePlanner(store, 512, req.group, random, cas), req, 3, { random: seededRandom(seed * 100 + n), maxAttempts: 100 });
      }),
    );
    return { store, results };
  };

  it('with compare-and-swap never over-commit an instance, and fill the cluster', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { store, results } = await run(true, seed);
      for (const r of results) expect(r.status).toBe('fulfilled');
      for (const row of store.rows.values()) expect(row.memory).toBeGreaterThanOrEqual(0);
      const placed = results.reduce((a, r) => a + (r.status === 'fulfilled' ? r.value.placements.length : 0), 0);
      expect(placed).toBe(20);
      const committed = [...store.rows.values()].reduce((a, row) => a + [...row.groups.values()].reduce((x, y) => x + y, 0), 0);
      expect(committed).toBe(20);
    }
  });

  it('without it, the same planners over-commit (so the test above can fail)', async () => {
    let overCommitted = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { store } = await run(false, seed);
      if ([...store.rows.values()].some((row) => row.memory < 0)) overCommitted++;
    }
    expect(overCommitted).toBeGreaterThan(0);
  });
});
