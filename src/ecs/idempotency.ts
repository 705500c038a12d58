/**
 * clientToken idempotency for creating operations (RunTask, CreateService, later CreateTaskSet):
 * the first request with a token records its result under keys.clientToken in the same transaction
 * that creates the resources, so a retry with the same token returns the same resources and a
 * concurrent duplicate loses the transaction instead of creating twice.
 *
 * @example
 * const claim = await claimClientToken<string[]>(store, 'RunTask', token, fingerprintOf(input), ctx.now);
 * if (claim.kind === 'replay') return replay(claim.record.result);  // (after checking the fingerprint)
 * await store.txn([...myGuards, claim.guard], [...myPuts, claim.put(taskArns)]);
 */
import { createHash } from 'node:crypto';
import type { Compare, Op, Store } from '../store/index.js';
import { keys } from './keys.js';
import { readJson } from './repo.js';

/** What a token stands for: which request (by fingerprint) and what it produced. */
export interface IdempotencyRecord<R> {
  readonly fingerprint: string;
  readonly result: R;
  /** Epoch seconds. */
  readonly createdAt: number;
}

export type ClientTokenClaim<R> =
  /** The token was used before (within TOKEN_TTL_SECONDS): return its result, if the request matches. */
  | { readonly kind: 'replay'; readonly record: IdempotencyRecord<R> }
  /** The token is free: add `guard` to the creating transaction's compares and `put(result)` to its ops. */
  | { readonly kind: 'fresh'; readonly guard: Compare; readonly put: (result: R) => Op };

/**
 * How long a token is remembered. ECS documents no window; this is EC2's (24 hours), after which a
 * token may be reused for a new request.
 */
export const TOKEN_TTL_SECONDS = 24 * 60 * 60;

/** JSON with object keys sorted, so that equal requests have equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A request's identity for idempotency: a hash of its members, clientToken left out. */
export function fingerprintOf(request: Record<string, unknown>): string {
  const { clientToken: _token, ...rest } = request;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/**
 * Looks the token up. A fresh claim's guard holds only while nobody else has claimed the token, so
 * of two concurrent requests with one token exactly one transaction succeeds; the loser re-reads
 * and replays.
 */
export async function claimClientToken<R>(store: Store, operation: string, token: string, fingerprint: string, now: Date): Promise<ClientTokenClaim<R>> {
  const key = keys.clientToken(operation, token);
  const cur = await readJson<IdempotencyRecord<R>>(store, key);
  const nowSeconds = now.getTime() / 1000;
  if (cur !== undefined && nowSeconds - cur.value.createdAt < TOKEN_TTL_SECONDS) return { kind: 'replay', record: cur.value };
  return {
    kind: 'fresh',
    guard: { key, target: 'mod', op: '=', value: cur?.modRevision ?? 0 },
    put: (result: R) => ({ type: 'put', key, value: JSON.stringify({ fingerprint, result, createdAt: nowSeconds } satisfies IdempotencyRecord<R>) }),
  };
}
