/**
 * Access keys on the real SqliteStore: the admin key's first and later starts, its credentials
 * file, and the watch-fed cache the verifier reads — proven by signing with what the file says.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { put, SqliteStore } from '../store/index.js';
import type { Store } from '../store/index.js';
import { ACCESS_KEY_PREFIX, ADMIN_KEY_POINTER, AccessKeyCache, accessKeyKey, ensureAdminKey, newAccessKey } from './credentials.js';
import type { AccessKeyRecord } from './credentials.js';
import { createEdge } from './edge.js';
import type { Logger } from './logger.js';

const ACCOUNT = '000000000000';
const NOW = new Date('2026-01-01T00:00:00Z');

let home: string;
let store: Store;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'berth-credentials-'));
  store = SqliteStore.open(':memory:');
  closers.push(() => store.close());
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await rm(home, { recursive: true, force: true });
});

/** Reads the [default] profile the way the AWS CLI would need it. */
async function profileFromFile(): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const text = await readFile(join(home, 'credentials'), 'utf8');
  const value = (name: string) => new RegExp(`^${name}\\s*=\\s*(\\S+)$`, 'm').exec(text)?.[1];
  expect(text.startsWith('[default]\n')).toBe(true);
  return { accessKeyId: value('aws_access_key_id')!, secretAccessKey: value('aws_secret_access_key')! };
}

async function storedKeys(): Promise<AccessKeyRecord[]> {
  return (await store.range(ACCESS_KEY_PREFIX)).kvs.map((kv) => JSON.parse(kv.value) as AccessKeyRecord);
}

function recordingLogger() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const logger: Logger = {
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    debug: (message, fields) => lines.push({ level: 'debug', message, fields }),
  };
  return { logger, lines };
}

async function openCache(logger?: Logger): Promise<AccessKeyCache> {
  const cache = await AccessKeyCache.open(store, logger === undefined ? {} : { logger });
  closers.push(() => cache.close());
  return cache;
}

describe('newAccessKey', () => {
  it('makes AWS-shaped ids and 40-character secrets, never the same twice', () => {
    const keys = Array.from({ length: 200 }, () => newAccessKey(ACCOUNT, NOW));
    for (const k of keys) {
      expect(k.accessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
      expect(k.secretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/);
      expect(k).toMatchObject({ accountId: ACCOUNT, createdAt: '2026-01-01T00:00:00.000Z', status: 'Active' });
    }
    expect(new Set(keys.map((k) => k.accessKeyId)).size).toBe(keys.length);
    expect(new Set(keys.map((k) => k.secretAccessKey)).size).toBe(keys.length);
  });
});

describe('ensureAdminKey', () => {
  it('first start: stores a key, points to it, and writes the credentials file with mode 0600', async () => {
    const admin = await ensureAdminKey(store, home, ACCOUNT, { now: () => NOW });
    expect(await storedKeys()).toEqual([admin]);
    expect(admin).toMatchObject({ accountId: ACCOUNT, createdAt: NOW.toISOString(), status: 'Active' });
    expect((await store.get(ADMIN_KEY_POINTER))?.value).toBe(admin.accessKeyId);
    expect(await profileFromFile()).toEqual({ accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey });
    expect((await stat(join(home, 'credentials'))).mode & 0o777).toBe(0o600);
  });

  it('creates the home directory when it does not exist yet', async () => {
    const nested = join(home, 'a', 'b');
    const admin = await ensureAdminKey(store, nested, ACCOUNT);
    expect(await readFile(join(nested, 'credentials'), 'utf8')).toContain(admin.accessKeyId);
  });

  it('the key in the file works: a request signed with it passes the edge', async () => {
    await ensureAdminKey(store, home, ACCOUNT);
    const cache = await openCache();
    const edge = createEdge({
      services: [{ signingName: 'ecs', targetPrefix: 'AmazonEC2ContainerServiceV20141113', operations: { ListClusters: () => Promise.resolve({ clusterArns: [] }) } }],
      region: 'us-east-1',
      accountId: ACCOUNT,
      credentials: cache.lookup,
      now: () => NOW,
    });
    const signer = new SignatureV4({ credentials: await profileFromFile(), region: 'us-east-1', service: 'ecs', sha256: Sha256 });
    const req = (await signer.sign(
      new HttpRequest({
        method: 'POST',
        hostname: 'localhost',
        path: '/',
        headers: { host: 'localhost', 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerServiceV20141113.ListClusters' },
        body: '{}',
      }),
      { signingDate: NOW },
    )) as HttpRequest;
    const res = await edge.request('/', { method: 'POST', headers: req.headers, body: '{}' });
    expect([res.status, res.json()]).toEqual([200, { clusterArns: [] }]);
  });

  it('a later start reuses the key, and leaves a current file alone', async () => {
    const first = await ensureAdminKey(store, home, ACCOUNT);
    const before = await stat(join(home, 'credentials'));
    const second = await ensureAdminKey(store, home, ACCOUNT);
    expect(second).toEqual(first);
    expect(await storedKeys()).toHaveLength(1);
    expect((await stat(join(home, 'credentials'))).ino).toBe(before.ino);
  });

  it('a later start rewrites a missing or stale file with the stored key', async () => {
    const admin = await ensureAdminKey(store, home, ACCOUNT);
    await unlink(join(home, 'credentials'));
    await ensureAdminKey(store, home, ACCOUNT);
    expect((await profileFromFile()).accessKeyId).toBe(admin.accessKeyId);
    await writeFile(join(home, 'credentials'), '[default]\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\n', { mode: 0o644 });
    await ensureAdminKey(store, home, ACCOUNT);
    expect(await profileFromFile()).toEqual({ accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey });
    expect((await stat(join(home, 'credentials'))).mode & 0o777).toBe(0o600);
  });

  it('survives a real restart: the store reopened from disk gives the same key', async () => {
    const path = join(home, 'state.db');
    const disk = SqliteStore.open(path);
    const first = await ensureAdminKey(disk, home, ACCOUNT);
    await disk.close();
    const reopened = SqliteStore.open(path);
    try {
      expect(await ensureAdminKey(reopened, home, ACCOUNT)).toEqual(first);
    } finally {
      await reopened.close();
    }
  });

  it('rotates a deactivated or deleted admin key on the next start', async () => {
    const first = await ensureAdminKey(store, home, ACCOUNT);
    await put(store, accessKeyKey(first.accessKeyId), JSON.stringify({ ...first, status: 'Inactive' }));
    const second = await ensureAdminKey(store, home, ACCOUNT);
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect((await profileFromFile()).accessKeyId).toBe(second.accessKeyId);

    await store.txn([], [{ type: 'delete', key: accessKeyKey(second.accessKeyId) }]);
    const third = await ensureAdminKey(store, home, ACCOUNT);
    expect([first.accessKeyId, second.accessKeyId]).not.toContain(third.accessKeyId);
    expect((await store.get(ADMIN_KEY_POINTER))?.value).toBe(third.accessKeyId);
  });

  it('issues a new key when the server now runs as another account', async () => {
    const first = await ensureAdminKey(store, home, ACCOUNT);
    const other = await ensureAdminKey(store, home, '111111111111');
    expect(other.accessKeyId).not.toBe(first.accessKeyId);
    expect(other.accountId).toBe('111111111111');
  });

  it('replicas starting together agree on one key', async () => {
    const [a, b, c] = await Promise.all([ensureAdminKey(store, home, ACCOUNT), ensureAdminKey(store, home, ACCOUNT), ensureAdminKey(store, home, ACCOUNT)]);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(await storedKeys()).toHaveLength(1);
  });

  it('refuses to guess when the admin record is corrupt', async () => {
    const admin = await ensureAdminKey(store, home, ACCOUNT);
    await put(store, accessKeyKey(admin.accessKeyId), '{not json');
    await expect(ensureAdminKey(store, home, ACCOUNT)).rejects.toThrow(`${accessKeyKey(admin.accessKeyId)} does not hold JSON`);
  });
});

describe('AccessKeyCache', () => {
  it('finds active keys and nothing else', async () => {
    const active = newAccessKey(ACCOUNT, NOW);
    const inactive = { ...newAccessKey(ACCOUNT, NOW), status: 'Inactive' as const };
    await put(store, accessKeyKey(active.accessKeyId), JSON.stringify(active));
    await put(store, accessKeyKey(inactive.accessKeyId), JSON.stringify(inactive));
    const cache = await openCache();
    expect(await cache.lookup(active.accessKeyId)).toEqual({ accessKeyId: active.accessKeyId, secretAccessKey: active.secretAccessKey, accountId: ACCOUNT });
    expect(await cache.lookup(inactive.accessKeyId)).toBeUndefined();
    expect(await cache.lookup('AKIANOBODY0000000000')).toBeUndefined();
  });

  it('follows the store: new keys appear, deactivated and deleted keys stop working', async () => {
    const cache = await openCache();
    const key = newAccessKey(ACCOUNT, NOW);
    await cache.caughtUp(await put(store, accessKeyKey(key.accessKeyId), JSON.stringify(key)));
    expect((await cache.lookup(key.accessKeyId))?.secretAccessKey).toBe(key.secretAccessKey);

    await cache.caughtUp(await put(store, accessKeyKey(key.accessKeyId), JSON.stringify({ ...key, status: 'Inactive' })));
    expect(await cache.lookup(key.accessKeyId)).toBeUndefined();

    await cache.caughtUp(await put(store, accessKeyKey(key.accessKeyId), JSON.stringify(key)));
    expect(await cache.lookup(key.accessKeyId)).toBeDefined();
    const { revision } = await store.txn([], [{ type: 'delete', key: accessKeyKey(key.accessKeyId) }]);
    await cache.caughtUp(revision);
    expect(await cache.lookup(key.accessKeyId)).toBeUndefined();
  });

  it('a malformed record authenticates nobody and is logged', async () => {
    const { logger, lines } = recordingLogger();
    const cache = await openCache(logger);
    const key = newAccessKey(ACCOUNT, NOW);
    await cache.caughtUp(await put(store, accessKeyKey(key.accessKeyId), JSON.stringify(key)));
    await cache.caughtUp(await put(store, accessKeyKey(key.accessKeyId), JSON.stringify({ ...key, status: 'Maybe' })));
    expect(await cache.lookup(key.accessKeyId)).toBeUndefined();
    expect(lines).toEqual([expect.objectContaining({ level: 'error', message: 'ignoring a malformed access key record' })]);
    expect(lines[0]!.fields!['key']).toBe(accessKeyKey(key.accessKeyId));
  });

  it('a record filed under another id is refused', async () => {
    const { logger, lines } = recordingLogger();
    const key = newAccessKey(ACCOUNT, NOW);
    await put(store, accessKeyKey('AKIASOMEONEELSE00000'), JSON.stringify(key));
    const cache = await openCache(logger);
    expect(await cache.lookup(key.accessKeyId)).toBeUndefined();
    expect(await cache.lookup('AKIASOMEONEELSE00000')).toBeUndefined();
    expect(lines.map((l) => l.level)).toEqual(['error']);
  });

  it('stops quietly when the store closes, and close() returns', async () => {
    const { logger, lines } = recordingLogger();
    const cache = await openCache(logger);
    await store.close();
    await cache.close();
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
