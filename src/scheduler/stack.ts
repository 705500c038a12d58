/**
 * The placement stack, Nomad's word for the wired pipeline: feasibility checkers → rankers (one per
 * strategy) → limit → select, over a WorkingCluster that each pick is reserved in, so that every
 * later copy sees the earlier ones. Pure: no I/O, no clock; randomness is passed in.
 */
import { firstRefusal, feasibilityChain } from './feasible/chain.js';
import type { FeasibilityChecker } from './feasible/checker.js';
import { explainRefusals, type Explanation, type PlacementFailure } from './explain.js';
import { defaultLimit, walkIsDone, type WalkState } from './limit.js';
import { BinpackRanker } from './rank/binpack.js';
import { RandomRanker } from './rank/random.js';
import type { Ranker } from './rank/ranker.js';
import { SpreadRanker } from './rank/spread.js';
import { compileRequest, type PlacementRequest, type Strategy } from './request.js';
import type { Random } from './rng.js';
import { MaxScore } from './select.js';
import { sourceIndex } from './source.js';
import type { ClusterState } from './state.js';
import { WorkingCluster } from './working.js';

export interface StackOptions {
  /** Randomness for ties and the random strategy (default Math.random); seededRandom(n) in tests. */
  readonly random?: Random;
  /**
   * How many candidates tied on the walking strategy the later strategies choose among
   * (default defaultLimit(instances)); Infinity gives the full view: ECS's exact answer, slowly.
   */
  readonly limit?: number;
}

function rankerFor(w: WorkingCluster, s: Strategy, random: Random): Ranker {
  switch (s.type) {
    case 'binpack':
      return new BinpackRanker(w, s.field);
    case 'spread':
      return new SpreadRanker(w, s, random);
    case 'random':
      return new RandomRanker(w, random);
  }
}

export class PlacementStack {
  readonly cluster: WorkingCluster;
  /** The feasibility chain in the order it runs (and explains). */
  readonly checkers: readonly FeasibilityChecker[];
  /** One ranker per strategy, in the order the strategies were given. */
  readonly rankers: readonly Ranker[];
  /** Instance ids of the copies placed so far, in order. */
  readonly placements: string[] = [];
  private readonly costly: readonly FeasibilityChecker[];
  /** 1 when an instance passed every check since a copy last landed on it (Nomad's eligibility cache). */
  private readonly known: Uint8Array;
  private readonly source: number;
  private readonly scores: Float64Array;
  private readonly max: MaxScore;
  private readonly walk: WalkState & { best: Float64Array | undefined; remaining: number; scored: number };
  private readonly leadingBounds: Float64Array;
  private readonly refused: number[] = [];

  /**
   * Builds the stack for `request` on `state`; throws InvalidPlacementRequest for a bad request.
   *
   * @example const stack = new PlacementStack(state, { group: 'service:web', cpu: 256, memory: 512 }, { random: seededRandom(1) });
   * stack.select(); // → an instance id, or undefined when nothing fits (then stack.explain())
   */
  constructor(state: ClusterState, request: PlacementRequest, options: StackOptions = {}) {
    const random = options.random ?? Math.random;
    if (options.limit !== undefined && !(options.limit >= 1)) throw new RangeError(`limit must be at least 1 (or Infinity), not ${options.limit}.`);
    const compiled = compileRequest(request);
    const w = new WorkingCluster(state, compiled, random);
    this.cluster = w;
    this.checkers = feasibilityChain(w);
    const cheap = this.checkers.filter((c) => c.cost === 'cheap');
    this.costly = this.checkers.filter((c) => c.cost === 'costly');
    this.known = new Uint8Array(w.size);
    // Cheap checks on every instance up front: what fails them is out before any ranker indexes it,
    // so walks never step over it and spread bounds only count values that can still take tasks.
    for (let i = 0; i < w.size; i++) {
      if (firstRefusal(cheap, i) !== undefined) w.out[i] = 1;
      else if (this.costly.length === 0) this.known[i] = 1;
    }
    // ECS places a task with no strategy anywhere it fits: random, which is also the cheapest walk.
    const strategies: readonly Strategy[] = compiled.strategy.length > 0 ? compiled.strategy : [{ type: 'random' }];
    this.rankers = strategies.map((s) => rankerFor(w, s, random));
    this.source = sourceIndex(strategies);
    this.scores = new Float64Array(strategies.length);
    this.max = new MaxScore(strategies.length);
    this.leadingBounds = new Float64Array(this.source);
    this.walk = {
      best: undefined,
      leadingBounds: this.leadingBounds,
      source: this.source,
      strategies: strategies.length,
      remaining: Infinity,
      scored: 0,
      limit: options.limit ?? defaultLimit(w.size),
    };
  }

  /** Picks an instance for one more copy and reserves it in the working cluster; undefined when none fits. */
  select(): string | undefined {
    const { cluster: w, rankers, scores, max, walk, known, costly } = this;
    const src = rankers[this.source]!;
    // Bounds change only when instances leave or copies land, never during a walk.
    for (let j = 0; j < this.source; j++) this.leadingBounds[j] = rankers[j]!.bound();
    src.startWalk();
    max.reset();
    walk.best = undefined;
    walk.scored = 0;
    for (;;) {
      const i = src.next();
      if (i < 0) break;
      if (known[i] === 0) {
        if (firstRefusal(costly, i) !== undefined) {
          // Refused once, refused for the rest of the plan (README: why a refusal is final).
          w.out[i] = 1;
          this.refused.push(i);
          continue;
        }
        known[i] = 1;
      }
      for (let j = 0; j < rankers.length; j++) scores[j] = rankers[j]!.score(i);
      max.offer(i, scores);
      walk.best = max.scores;
      walk.scored++;
      walk.remaining = src.remaining();
      if (walkIsDone(walk)) break;
    }
    for (const i of this.refused) for (const r of rankers) r.remove(i);
    this.refused.length = 0;
    if (max.best < 0) return undefined;
    this.place(max.best);
    return w.instances[max.best]!.id;
  }

  /** Why the next copy fits nowhere: ECS failures per instance and Berth's explanation in numbers. */
  explain(): { failures: PlacementFailure[]; explanation: Explanation } {
    return explainRefusals(this.cluster, this.checkers);
  }

  private place(i: number): void {
    const { cluster: w, rankers } = this;
    w.reserve(i);
    for (const r of rankers) r.placed(i);
    this.placements.push(w.instances[i]!.id);
    // Check it again now rather than on its next visit: if it is full, it leaves the plan at once,
    // and the spread bounds stop counting values whose instances cannot take another copy.
    if (firstRefusal(this.checkers, i) === undefined) {
      this.known[i] = 1;
    } else {
      this.known[i] = 0;
      w.out[i] = 1;
      for (const r of rankers) r.remove(i);
    }
  }
}
