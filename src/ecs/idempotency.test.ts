/** clientToken records: fingerprints, claims, replays, expiry, and one winner under a race. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/index.js';
import { canonicalJson, claimClientToken, fingerprintOf, TOKEN_TTL_SECONDS } from './idempotency.js';
import { keys } from './keys.js';
import { ecsHarness } from './testing/ecs-harness.suite.js';

let store: Store;
beforeEach(() => {
  ({ store } = ecsHarness());
});

const T0 = new Date(Date.UTC(2025, 0, 1));

describe('fingerprints', () => {
  it('canonical JSON sorts keys at every depth and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  });
  it('equal requests have equal fingerprints whatever the key order or the token', () => {
    expect(fingerprintOf({ cluster: 'c', count: 2, clientToken: 'a' })).toBe(fingerprintOf({ clientToken: 'b', count: 2, cluster: 'c' }));
  });
  it('different requests differ', () => {
    expect(fingerprintOf({ count: 2 })).not.toBe(fingerprintOf({ count: 3 }));
    expect(fingerprintOf({ tags: ['a', 'b'] })).not.toBe(fingerprintOf({ tags: ['b', 'a'] }));
  });
});

describe('claimClientToken', () => {
  it('a new token is fresh; committing its record makes the next claim a replay', async () => {
    const claim = await claimClientToken<string[]>(store, 'RunTask', 'tok', 'fp', T0);
    expect(claim.kind).toBe('fresh');
    if (claim.kind !== 'fresh') return;
    const res = await store.txn([claim.guard], [claim.put(['arn:1'])]);
    expect(res.succeeded).toBe(true);
    const again = await claimClientToken<string[]>(store, 'RunTask', 'tok', 'other', T0);
    expect(again).toEqual({ kind: 'replay', record: { fingerprint: 'fp', result: ['arn:1'], createdAt: T0.getTime() / 1000 } });
  });

  it('tokens are per operation', async () => {
    const a = await claimClientToken(store, 'RunTask', 'tok', 'fp', T0);
    if (a.kind === 'fresh') await store.txn([a.guard], [a.put('x')]);
    expect((await claimClientToken(store, 'CreateService', 'tok', 'fp', T0)).kind).toBe('fresh');
  });

  it('of two racing claims of one token only one transaction succeeds', async () => {
    const [a, b] = await Promise.all([claimClientToken<string>(store, 'RunTask', 't', 'fp', T0), claimClientToken<string>(store, 'RunTask', 't', 'fp', T0)]);
    if (a.kind !== 'fresh' || b.kind !== 'fresh') throw new Error('both claims should start fresh');
    const results = await Promise.all([store.txn([a.guard], [a.put('first')]), store.txn([b.guard], [b.put('second')])]);
    expect(results.filter((r) => r.succeeded)).toHaveLength(1);
  });

  it('a token older than the TTL is free again, and can be claimed over the old record', async () => {
    const first = await claimClientToken<string>(store, 'RunTask', 'old', 'fp1', T0);
    if (first.kind === 'fresh') await store.txn([first.guard], [first.put('r1')]);
    const later = new Date(T0.getTime() + TOKEN_TTL_SECONDS * 1000);
    const second = await claimClientToken<string>(store, 'RunTask', 'old', 'fp2', later);
    expect(second.kind).toBe('fresh');
    if (second.kind !== 'fresh') return;
    expect((await store.txn([second.guard], [second.put('r2')])).succeeded).toBe(true);
    const stored = JSON.parse((await store.get(keys.clientToken('RunTask', 'old')))!.value) as { result: string };
    expect(stored.result).toBe('r2');
  });

  it('just inside the TTL it is still a replay', async () => {
    const first = await claimClientToken<string>(store, 'RunTask', 'tok', 'fp', T0);
    if (first.kind === 'fresh') await store.txn([first.guard], [first.put('r')]);
    const almost = new Date(T0.getTime() + TOKEN_TTL_SECONDS * 1000 - 1);
    expect((await claimClientToken(store, 'RunTask', 'tok', 'fp', almost)).kind).toBe('replay');
  });
});
