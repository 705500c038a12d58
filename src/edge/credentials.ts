/**
 * The access keys the server knows: stored in the Store under `/iam/access-keys/<AKID>`, the admin
 * key bootstrapped on first start into `$BERTH_HOME/credentials`, and an in-memory view that the
 * SigV4 verifier looks keys up in.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../store/index.js';
import type { KeyValue, Store, Watch } from '../store/index.js';
import { consoleLogger } from './logger.js';
import type { Logger } from './logger.js';
import type { CredentialLookup, SigningCredential } from './sigv4.js';

export const ACCESS_KEY_PREFIX = '/iam/access-keys/';
/** Which access key is the admin's: its value is the AKID. Lets every replica agree on one key. */
export const ADMIN_KEY_POINTER = '/iam/admin-access-key-id';
export const CREDENTIALS_FILE = 'credentials';

export type AccessKeyStatus = 'Active' | 'Inactive';

/** An access key as stored (IAM's words and casing). */
export interface AccessKeyRecord {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly accountId: string;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly status: AccessKeyStatus;
}

export const accessKeyKey = (accessKeyId: string) => `${ACCESS_KEY_PREFIX}${accessKeyId}`;

const AKID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * Makes a fresh key: an id like AWS's long-term ones (AKIA + 16 upper-case alphanumerics) and a
 * 40-character secret from 30 random bytes.
 *
 * @example newAccessKey('000000000000', new Date()) // { accessKeyId: 'AKIA…', status: 'Active', … }
 */
export function newAccessKey(accountId: string, now: Date): AccessKeyRecord {
  let id = 'AKIA';
  while (id.length < 20) {
    for (const byte of randomBytes(32)) {
      // 252 = 7 × 36: dropping the top bytes keeps every character equally likely.
      if (byte < 252 && id.length < 20) id += AKID_ALPHABET[byte % 36];
    }
  }
  return { accessKeyId: id, secretAccessKey: randomBytes(30).toString('base64'), accountId, createdAt: now.toISOString(), status: 'Active' };
}

/** Parses a stored record; throws naming the key when the JSON is not an access key. */
export function parseAccessKey(kv: KeyValue): AccessKeyRecord {
  let value: unknown;
  try {
    value = JSON.parse(kv.value);
  } catch (err) {
    throw new Error(`${kv.key} does not hold JSON`, { cause: err });
  }
  const r = value as Partial<Record<keyof AccessKeyRecord, unknown>> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    typeof r.accessKeyId !== 'string' ||
    typeof r.secretAccessKey !== 'string' ||
    typeof r.accountId !== 'string' ||
    typeof r.createdAt !== 'string' ||
    (r.status !== 'Active' && r.status !== 'Inactive') ||
    kv.key !== accessKeyKey(r.accessKeyId)
  ) {
    throw new Error(`${kv.key} is not an access key record {accessKeyId, secretAccessKey, accountId, createdAt, status}`);
  }
  return r as AccessKeyRecord;
}

export interface EnsureAdminKeyOptions {
  readonly now?: () => Date;
}

/**
 * Returns the admin access key, creating it on first start, and makes sure
 * `$homeDir/credentials` holds it (profile `default`, mode 0600) so the AWS CLI works at once.
 * Later starts reuse the stored key. If the admin key was deleted or deactivated, or belongs to
 * another account (the account id setting changed), a new one is made: whoever holds the home
 * directory is the machine's owner, and that is how they rotate it.
 * Replicas sharing a store race safely: the pointer is written compare-and-swap, and a loser
 * reads the winner's key.
 *
 * @example const admin = await ensureAdminKey(store, '/var/lib/berth', '000000000000');
 */
export async function ensureAdminKey(store: Store, homeDir: string, accountId: string, options: EnsureAdminKeyOptions = {}): Promise<AccessKeyRecord> {
  const now = options.now ?? (() => new Date());
  for (let attempt = 0; attempt < 5; attempt++) {
    const pointer = await store.get(ADMIN_KEY_POINTER);
    if (pointer !== undefined) {
      const kv = await store.get(accessKeyKey(pointer.value));
      const record = kv === undefined ? undefined : parseAccessKey(kv);
      if (record?.status === 'Active' && record.accountId === accountId) {
        await writeCredentialsFile(homeDir, record);
        return record;
      }
    }
    const record = newAccessKey(accountId, now());
    const res = await store.txn(
      [
        { key: ADMIN_KEY_POINTER, target: 'mod', op: '=', value: pointer?.modRevision ?? 0 },
        { key: accessKeyKey(record.accessKeyId), target: 'mod', op: '=', value: 0 },
      ],
      [
        { type: 'put', key: accessKeyKey(record.accessKeyId), value: JSON.stringify(record) },
        { type: 'put', key: ADMIN_KEY_POINTER, value: record.accessKeyId },
      ],
    );
    if (res.succeeded) {
      await writeCredentialsFile(homeDir, record);
      return record;
    }
    // Another replica created or rotated the admin key meanwhile: go round and read theirs.
  }
  throw new StoreError('conflict', `${ADMIN_KEY_POINTER} kept changing while creating the admin access key`);
}

/** The shared-credentials text for a key, as `aws configure` would write it. */
export function credentialsFileText(record: Pick<AccessKeyRecord, 'accessKeyId' | 'secretAccessKey'>): string {
  return `[default]\naws_access_key_id = ${record.accessKeyId}\naws_secret_access_key = ${record.secretAccessKey}\n`;
}

/**
 * Writes `$homeDir/credentials` unless it already holds this key. It goes through a 0600 temp
 * file and a rename, so the secret is never readable by others, not even for a moment, and a
 * crash never leaves half a file.
 */
async function writeCredentialsFile(homeDir: string, record: AccessKeyRecord): Promise<void> {
  const path = join(homeDir, CREDENTIALS_FILE);
  const text = credentialsFileText(record);
  const current = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (current === text) return;
  await mkdir(homeDir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600); // the mode above is filtered by umask; be exact
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined); // best effort: the write error below is what matters
    throw err;
  }
}

/**
 * Every access key in memory, kept current by a Store watch on `/iam/access-keys/`.
 *
 * Why a watch and not a TTL: a TTL either lets a deleted or deactivated key keep working until it
 * runs out, or sends most requests to the store; a watch applies a revocation as soon as the
 * store commits it, on every replica, and answers unknown keys from memory (so a flood of bad
 * keys never reaches the store). The cost is a long-lived watch, which the Store contract exists
 * to provide; when the watch fails (compacted history, a store hiccup) the cache re-lists and
 * watches again.
 *
 * @example
 * const keys = await AccessKeyCache.open(store);
 * createEdge({ ..., credentials: keys.lookup });
 */
export class AccessKeyCache {
  private readonly keys = new Map<string, AccessKeyRecord>();
  /** The store revision the map reflects. */
  private revision = 0;
  private watch: Watch | undefined;
  private closed = false;
  private following: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<{ revision: number; resolve: () => void }>();

  private constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly retryDelayMs: number,
  ) {}

  static async open(store: Store, options: { logger?: Logger; retryDelayMs?: number } = {}): Promise<AccessKeyCache> {
    const cache = new AccessKeyCache(store, options.logger ?? consoleLogger, options.retryDelayMs ?? 1000);
    await cache.relist();
    cache.following = cache.follow();
    return cache;
  }

  /** The verifier's view: active keys only. */
  readonly lookup: CredentialLookup = (accessKeyId) => {
    const record = this.keys.get(accessKeyId);
    if (record === undefined || record.status !== 'Active') return Promise.resolve(undefined);
    const credential: SigningCredential = {
      accessKeyId: record.accessKeyId,
      secretAccessKey: record.secretAccessKey,
      accountId: record.accountId,
    };
    return Promise.resolve(credential);
  };

  /**
   * Resolves once the cache has applied every access-key write up to `revision`: pass the
   * revision that a write under /iam/access-keys/ returned, and the next lookup sees it.
   */
  caughtUp(revision: number): Promise<void> {
    if (this.revision >= revision || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add({ revision, resolve }));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watch?.close();
    await this.following;
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
  }

  private async relist(): Promise<void> {
    const res = await this.store.range(ACCESS_KEY_PREFIX);
    this.keys.clear();
    for (const kv of res.kvs) this.apply(kv);
    this.advance(res.revision);
  }

  private apply(kv: KeyValue): void {
    try {
      const record = parseAccessKey(kv);
      this.keys.set(record.accessKeyId, record);
    } catch (err) {
      // A record nobody can parse must not authenticate anyone; say so loudly and move on.
      this.keys.delete(kv.key.slice(ACCESS_KEY_PREFIX.length));
      this.logger.error('ignoring a malformed access key record', { key: kv.key, error: err });
    }
  }

  private advance(revision: number): void {
    if (revision <= this.revision) return;
    this.revision = revision;
    for (const w of this.waiters) {
      if (w.revision <= revision) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  private async follow(): Promise<void> {
    while (!this.closed) {
      try {
        this.watch = this.store.watch(ACCESS_KEY_PREFIX, { fromRevision: this.revision + 1 });
        if (this.closed) this.watch.close();
        for await (const batch of this.watch) {
          for (const event of batch) {
            if (event.type === 'put') this.apply(event.kv);
            else this.keys.delete(event.kv.key.slice(ACCESS_KEY_PREFIX.length));
          }
          const last = batch[batch.length - 1];
          if (last !== undefined) this.advance(last.kv.modRevision);
        }
        if (this.closed) return;
        this.logger.warn('access key watch ended; re-listing');
        await this.relist();
      } catch (err) {
        if (this.closed || (err instanceof StoreError && err.kind === 'closed')) return;
        if (err instanceof StoreError && err.kind === 'compacted') {
          this.logger.warn('access key watch fell behind compaction; re-listing', { error: err });
        } else {
          this.logger.error('access key watch failed; re-listing', { error: err });
          await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs).unref());
        }
        try {
          await this.relist();
        } catch (relistErr) {
          this.logger.error('re-listing access keys failed; keeping the last known keys', { error: relistErr });
          await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs).unref());
        }
      }
    }
  }
}
