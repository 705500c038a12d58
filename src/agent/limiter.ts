/**
 * Bounded parallelism for the agent's work on containers, and single-flight sharing of work asked
 * for again while it is under way (one image pulled once for the hundred tasks that need it at once).
 */

export interface Limiter {
  /** Runs `work` once fewer than `concurrency` runs are under way; runs start in the order asked. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Runs under way now. */
  readonly active: number;
  /** Runs waiting for a slot. */
  readonly queued: number;
}

/**
 * @example
 *   const starts = createLimiter(4);
 *   await Promise.all(containers.map((c) => starts.run(() => driver.start(c.id)))); // at most 4 at once
 */
export function createLimiter(concurrency: number): Limiter {
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) active--;
    else next(); // The slot passes straight to the next in line.
  };
  return {
    async run<T>(work: () => Promise<T>): Promise<T> {
      if (active < concurrency) active++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await work();
      } finally {
        release();
      }
    },
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
  };
}

/**
 * Work keyed by `key`: a call while the same key's work is under way gets that work's outcome
 * instead of starting it again. Once it settles, the next call starts afresh (nothing is cached).
 *
 * @example
 *   const pulls = singleFlight<ImageRecord>();
 *   const image = await pulls('busybox:1.36', () => store.pull('busybox:1.36'));
 */
export function singleFlight<T>(): (key: string, work: () => Promise<T>) => Promise<T> {
  const inFlight = new Map<string, Promise<T>>();
  return (key, work) => {
    const current = inFlight.get(key);
    if (current !== undefined) return current;
    const started = Promise.resolve()
      .then(work)
      .finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  };
}
