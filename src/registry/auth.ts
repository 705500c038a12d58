/**
 * Registry auth as ECR does it: GetAuthorizationToken hands out a password valid for 12 hours,
 * and registry clients send it as HTTP Basic auth with the user name `AWS`. A token is a random
 * secret; the Store keeps only its SHA-256 (keys.ts), with the access key it was issued to, so a
 * token stops working when it expires or when that key is deleted or deactivated.
 *
 * What a valid caller may do to a repository is decided in one place, `RegistryAuthorizer`, so
 * that repository policies can plug in later.
 *
 * @example
 * const { token, expiresAt } = await issueRegistryToken(store, { accessKeyId, accountId }, new Date());
 * // client: Authorization: Basic base64('AWS:' + token)
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessKeyKey, parseAccessKey } from '../edge/credentials.js';
import type { Store } from '../store/index.js';
import { registryKeys as keys } from './keys.js';

/** ECR's authorization tokens last 12 hours. */
export const REGISTRY_TOKEN_TTL_MS = 12 * 60 * 60 * 1000;
/** The only user name ECR accepts with a token. */
export const REGISTRY_USER = 'AWS';
const TOKEN_PREFIX = 'brt_';

export interface RegistryCaller {
  readonly accessKeyId: string;
  readonly accountId: string;
}

export interface TokenRecord extends RegistryCaller {
  /** ISO 8601. */
  readonly issuedAt: string;
  readonly expiresAt: string;
}

export interface IssuedToken {
  /** The password: send `AWS:<token>` as Basic auth. */
  readonly token: string;
  readonly expiresAt: Date;
}

/**
 * Issues a registry token for the caller of GetAuthorizationToken.
 *
 * @example const { token } = await issueRegistryToken(store, ctx.caller, ctx.now);
 */
export async function issueRegistryToken(store: Store, caller: RegistryCaller, now: Date): Promise<IssuedToken> {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + REGISTRY_TOKEN_TTL_MS);
  const record: TokenRecord = { accessKeyId: caller.accessKeyId, accountId: caller.accountId, issuedAt: now.toISOString(), expiresAt: expiresAt.toISOString() };
  const key = keys.token(tokenHash(token));
  const res = await store.txn([{ key, target: 'mod', op: '=', value: 0 }], [{ type: 'put', key, value: JSON.stringify(record) }]);
  // 256 random bits do not collide; if they ever did, refusing beats overwriting someone's token.
  if (!res.succeeded) throw new Error('a freshly drawn registry token already exists');
  return { token, expiresAt };
}

/** Finds whether an access key is still active, and whose it is; the server passes its cache. */
export type AccessKeyLookup = (accessKeyId: string) => Promise<{ readonly accountId: string } | undefined>;

/** The default lookup: the Store's `/iam/access-keys/<AKID>` record, if Active. */
export function storeAccessKeyLookup(store: Store): AccessKeyLookup {
  return async (accessKeyId) => {
    const kv = await store.get(accessKeyKey(accessKeyId));
    if (kv === undefined) return undefined;
    const record = parseAccessKey(kv);
    return record.status === 'Active' ? { accountId: record.accountId } : undefined;
  };
}

export type TokenCheck =
  | { readonly ok: true; readonly caller: RegistryCaller; readonly expiresAt: Date }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' | 'key-inactive' | 'foreign-account' };

/**
 * Checks a token: it must be one we issued, unexpired, for this account, and its access key must
 * still be active. Tokens never change once issued, so validators may cache records (TokenValidator).
 */
export async function validateRegistryToken(
  store: Store,
  token: string,
  now: Date,
  options: { accountId: string; lookupAccessKey?: AccessKeyLookup },
): Promise<TokenCheck> {
  return new TokenValidator(store, options.accountId, options.lookupAccessKey ?? storeAccessKeyLookup(store)).check(token, now);
}

/**
 * Validates tokens with a bounded in-memory cache of token records (they are immutable). The
 * cache is keyed by the token itself, so a request with a known token costs no hashing; expiry,
 * account and access key are still checked on every call.
 */
export class TokenValidator {
  private readonly cache = new Map<string, TokenRecord>();

  constructor(
    private readonly store: Store,
    private readonly accountId: string,
    private readonly lookupAccessKey: AccessKeyLookup,
    private readonly maxCached = 10_000,
  ) {}

  async check(token: string, now: Date): Promise<TokenCheck> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return { ok: false, reason: 'unknown' };
    let record = this.cache.get(token);
    if (record === undefined) {
      const kv = await this.store.get(keys.token(tokenHash(token)));
      if (kv === undefined) return { ok: false, reason: 'unknown' };
      record = JSON.parse(kv.value) as TokenRecord;
      if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(token, record);
    }
    const expiresAt = new Date(record.expiresAt);
    if (!(now.getTime() < expiresAt.getTime())) {
      this.cache.delete(token);
      return { ok: false, reason: 'expired' };
    }
    if (record.accountId !== this.accountId) return { ok: false, reason: 'foreign-account' };
    const key = await this.lookupAccessKey(record.accessKeyId);
    if (key === undefined || key.accountId !== record.accountId) return { ok: false, reason: 'key-inactive' };
    return { ok: true, caller: { accessKeyId: record.accessKeyId, accountId: record.accountId }, expiresAt };
  }
}

/** Deletes expired tokens (GC); returns how many. */
export async function purgeExpiredRegistryTokens(store: Store, now: Date): Promise<number> {
  const expired: string[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const res = await store.range(keys.tokens(), { limit: 500, ...(startAfter !== undefined && { startAfter }) });
    for (const kv of res.kvs) {
      if (new Date((JSON.parse(kv.value) as TokenRecord).expiresAt).getTime() <= now.getTime()) expired.push(kv.key);
    }
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || last === undefined) break;
    startAfter = last.key;
  }
  for (let i = 0; i < expired.length; i += 100) {
    await store.txn([], expired.slice(i, i + 100).map((key) => ({ type: 'delete', key }) as const));
  }
  return expired.length;
}

/**
 * The password in an `Authorization: Basic` header whose user is `AWS`; undefined for anything
 * else (no header, another scheme, another user, bad base64).
 */
export function parseBasicAuthorization(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || decoded.slice(0, colon) !== REGISTRY_USER) return undefined;
  return decoded.slice(colon + 1);
}

/** What a request does to a repository. */
export type RegistryAction = 'pull' | 'push' | 'delete';

/**
 * Decides whether `caller` may do `action` on `repository`. The one place rights are checked;
 * repository policies will plug in here.
 */
export type RegistryAuthorizer = (request: { readonly caller: RegistryCaller; readonly action: RegistryAction; readonly repository: string }) => boolean | Promise<boolean>;

/** For now: every valid token of the registry's account may pull, push and delete everywhere. */
export const sameAccountAuthorizer =
  (accountId: string): RegistryAuthorizer =>
  ({ caller }) =>
    caller.accountId === accountId;

const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');
