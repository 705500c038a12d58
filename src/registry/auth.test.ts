/**
 * Registry tokens: issue, validate (expiry, account, access key state), purge, and the Basic
 * header ECR clients send.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { accessKeyKey, newAccessKey } from '../edge/credentials.js';
import { SqliteStore } from '../store/index.js';
import type { Store } from '../store/index.js';
import {
  REGISTRY_TOKEN_TTL_MS,
  TokenValidator,
  issueRegistryToken,
  parseBasicAuthorization,
  purgeExpiredRegistryTokens,
  storeAccessKeyLookup,
  validateRegistryToken,
} from './auth.js';
import { registryKeys } from './keys.js';

const ACCOUNT = '000000000000';
const NOW = new Date('2026-05-01T10:00:00Z');
let store: Store;

async function setup() {
  store = SqliteStore.open(':memory:');
  const key = newAccessKey(ACCOUNT, NOW);
  await store.txn([], [{ type: 'put', key: accessKeyKey(key.accessKeyId), value: JSON.stringify(key) }]);
  return key;
}

afterEach(async () => {
  await store.close();
});

describe('registry tokens', () => {
  it('issues a token valid for 12 hours, stored only as its hash', async () => {
    const key = await setup();
    const { token, expiresAt } = await issueRegistryToken(store, key, NOW);
    expect(expiresAt.getTime() - NOW.getTime()).toBe(REGISTRY_TOKEN_TTL_MS);
    expect(token).toMatch(/^brt_[A-Za-z0-9_-]{43}$/);
    const stored = await store.range(registryKeys.tokens());
    expect(stored.kvs).toHaveLength(1);
    expect(stored.kvs[0]!.key).not.toContain(token);
    expect(stored.kvs[0]!.value).not.toContain(token);

    const ok = await validateRegistryToken(store, token, NOW, { accountId: ACCOUNT });
    expect(ok).toEqual({ ok: true, caller: { accessKeyId: key.accessKeyId, accountId: ACCOUNT }, expiresAt });
    const justBefore = new Date(expiresAt.getTime() - 1);
    expect((await validateRegistryToken(store, token, justBefore, { accountId: ACCOUNT })).ok).toBe(true);
    expect(await validateRegistryToken(store, token, expiresAt, { accountId: ACCOUNT })).toEqual({ ok: false, reason: 'expired' });
  });

  it('two tokens for one key are distinct and both valid', async () => {
    const key = await setup();
    const a = await issueRegistryToken(store, key, NOW);
    const b = await issueRegistryToken(store, key, NOW);
    expect(a.token).not.toBe(b.token);
    for (const { token } of [a, b]) expect((await validateRegistryToken(store, token, NOW, { accountId: ACCOUNT })).ok).toBe(true);
  });

  it('refuses unknown tokens, tokens of another account, and tokens whose key is inactive or deleted', async () => {
    const key = await setup();
    expect(await validateRegistryToken(store, 'brt_nothing', NOW, { accountId: ACCOUNT })).toEqual({ ok: false, reason: 'unknown' });
    expect(await validateRegistryToken(store, 'not even shaped like one', NOW, { accountId: ACCOUNT })).toEqual({ ok: false, reason: 'unknown' });
    const { token } = await issueRegistryToken(store, key, NOW);
    expect(await validateRegistryToken(store, token, NOW, { accountId: '111111111111' })).toEqual({ ok: false, reason: 'foreign-account' });

    const validator = new TokenValidator(store, ACCOUNT, storeAccessKeyLookup(store));
    expect((await validator.check(token, NOW)).ok).toBe(true);
    await store.txn([], [{ type: 'put', key: accessKeyKey(key.accessKeyId), value: JSON.stringify({ ...key, status: 'Inactive' }) }]);
    // The cached token record does not outlive its key's deactivation.
    expect(await validator.check(token, NOW)).toEqual({ ok: false, reason: 'key-inactive' });
    await store.txn([], [{ type: 'delete', key: accessKeyKey(key.accessKeyId) }]);
    expect(await validator.check(token, NOW)).toEqual({ ok: false, reason: 'key-inactive' });
  });

  it('purges expired tokens only', async () => {
    const key = await setup();
    const old = await issueRegistryToken(store, key, new Date(NOW.getTime() - REGISTRY_TOKEN_TTL_MS - 1));
    const fresh = await issueRegistryToken(store, key, NOW);
    expect(await purgeExpiredRegistryTokens(store, NOW)).toBe(1);
    expect((await validateRegistryToken(store, old.token, NOW, { accountId: ACCOUNT })).ok).toBe(false);
    expect((await validateRegistryToken(store, fresh.token, NOW, { accountId: ACCOUNT })).ok).toBe(true);
    expect(await purgeExpiredRegistryTokens(store, NOW)).toBe(0);
  });
});

describe('Basic authorization', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  it('takes the password of user AWS', () => {
    expect(parseBasicAuthorization(`Basic ${b64('AWS:brt_x:y')}`)).toBe('brt_x:y');
    expect(parseBasicAuthorization(`basic   ${b64('AWS:p')}`)).toBe('p');
  });
  it.each([undefined, '', 'Basic', `Bearer ${b64('AWS:p')}`, `Basic ${b64('aws:p')}`, `Basic ${b64('AWSp')}`, 'Basic ***'])('refuses %j', (header) => {
    expect(parseBasicAuthorization(header)).toBeUndefined();
  });
});
