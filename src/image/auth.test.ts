/** Challenge parsing and the token cache's expiry rules, with time passed in. */
import { describe, expect, it } from 'vitest';
import { basicAuthorization, parseChallenges, parseTokenResponse, TokenCache } from './auth.js';

describe('parseChallenges', () => {
  it('reads a distribution bearer challenge', () => {
    expect(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' } },
    ]);
  });

  it('reads Basic, unquoted values, escapes, and several challenges', () => {
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseChallenges('Bearer realm=http://127.0.0.1:1/t, service=s, Basic realm="a \\"q\\""')).toEqual([
      { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/t', service: 's' } },
      { scheme: 'basic', params: { realm: 'a "q"' } },
    ]);
  });

  it('survives garbage without looping', () => {
    // Whatever it makes of garbage, it must end and must not invent a bearer realm.
    expect(parseChallenges('=,="x" "').some((c) => c.params.realm !== undefined)).toBe(false);
    expect(parseChallenges('')).toEqual([]);
  });
});

describe('basicAuthorization', () => {
  it('encodes user:password', () => {
    expect(basicAuthorization({ username: 'AWS', password: 'p:w' })).toBe(`Basic ${Buffer.from('AWS:p:w').toString('base64')}`);
  });
});

describe('parseTokenResponse and TokenCache', () => {
  it('reads token or access_token, defaulting to 60 s', () => {
    expect(parseTokenResponse({ token: 't' }, 1000)).toEqual({ token: 't', expiresAt: 61_000 });
    expect(parseTokenResponse({ access_token: 'a', expires_in: 300 }, 0)).toEqual({ token: 'a', expiresAt: 300_000 });
    expect(parseTokenResponse({ token: 't', expires_in: 10, issued_at: new Date(500).toISOString() }, 1000)).toEqual({ token: 't', expiresAt: 10_500 });
    // An issued_at in our future (clock skew) is not trusted.
    expect(parseTokenResponse({ token: 't', expires_in: 10, issued_at: new Date(9e12).toISOString() }, 1000)).toEqual({ token: 't', expiresAt: 11_000 });
    expect(parseTokenResponse({}, 0)).toBeUndefined();
    expect(parseTokenResponse('x', 0)).toBeUndefined();
  });

  it('keeps a token per key until shortly before it expires', () => {
    let now = 0;
    const cache = new TokenCache(() => now, 5_000);
    const k1 = TokenCache.key('realm', 'svc', 'repository:a:pull', 'u');
    const k2 = TokenCache.key('realm', 'svc', 'repository:b:pull', 'u');
    cache.set(k1, { token: 'one', expiresAt: 60_000 });
    expect(cache.get(k1)).toBe('one');
    expect(cache.get(k2)).toBeUndefined();
    now = 54_999;
    expect(cache.get(k1)).toBe('one');
    now = 55_000;
    expect(cache.get(k1)).toBeUndefined();
  });
});
