/**
 * random: every feasible instance is as good as any other. Its walk goes round the plan's random
 * order from where the previous walk stopped, so successive copies look at different instances.
 */
import type { Random } from '../rng.js';
import type { WorkingCluster } from '../working.js';
import type { Ranker } from './ranker.js';

export class RandomRanker implements Ranker {
  readonly label = 'random';
  private order = new Int32Array(0);
  private length = 0;
  private dead = 0;
  private built = false;
  private cursor = 0;
  private steps = 0;

  constructor(
    private readonly w: WorkingCluster,
    private readonly random: Random,
  ) {}

  score(): number {
    return this.random();
  }

  bound(): number {
    return Infinity;
  }

  startWalk(): void {
    if (!this.built || (this.dead > 32 && this.dead * 4 > this.length)) this.rebuild();
    this.steps = 0;
  }

  next(): number {
    while (this.steps < this.length) {
      const i = this.order[this.cursor]!;
      this.cursor = this.cursor + 1 === this.length ? 0 : this.cursor + 1;
      this.steps++;
      if (this.w.out[i] === 0) return i;
    }
    return -1;
  }

  remaining(): number {
    return this.steps < this.length ? Infinity : -Infinity;
  }

  placed(): void {}

  remove(): void {
    this.dead++;
  }

  private rebuild(): void {
    const { w } = this;
    const order = new Int32Array(w.size);
    let m = 0;
    for (let k = 0; k < w.size; k++) {
      const i = w.shuffled[k]!;
      if (w.out[i] === 0) order[m++] = i;
    }
    this.order = order;
    this.length = m;
    this.dead = 0;
    this.cursor = 0;
    this.built = true;
  }
}
