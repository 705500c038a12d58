/**
 * The contract of a ranker, one per placement strategy: a score for each feasible instance (higher
 * is better), and a best-first walk over the instances still in the plan, so that the pipeline can
 * stop as soon as nothing unvisited could beat its pick instead of scoring every instance.
 */

export interface Ranker {
  /** The strategy as ECS writes it: 'binpack(memory)', 'spread(attribute:zone)', 'random'. */
  readonly label: string;
  /** Instance i's score for the next copy; higher is better. */
  score(i: number): number;
  /** The best score any instance still in the plan can get, or +Infinity when it cannot be known cheaply. */
  bound(): number;
  /** Starts a walk over the instances still in the plan, best score first; ties in random order. */
  startWalk(): void;
  /** The walk's next instance, or -1 when it has returned them all. */
  next(): number;
  /** No instance the walk has not yet returned scores above this (+Infinity when unknown). */
  remaining(): number;
  /** A copy was just placed on instance i (its free resources and its group count changed). */
  placed(i: number): void;
  /** Instance i is out of the plan for good; called between walks, never during one. */
  remove(i: number): void;
}
