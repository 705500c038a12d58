/**
 * Randomness for placement, passed in rather than global: the random strategy and the order in which
 * tied instances are visited draw from it, so a seeded source makes every pick reproducible in tests.
 */

/** A source of uniform numbers in [0, 1), like Math.random. */
export type Random = () => number;

/**
 * A small, fast seeded generator (mulberry32: 32 bits of state, full period). Not for secrets.
 *
 * @example const random = seededRandom(42); random() // same sequence on every run
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, random: Random): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}
