/**
 * What the hot push paths cost in Store commits and disk writes: each commit is an fsync that
 * stalls the event loop (bench/registry measures the effect), so these counts are kept on purpose.
 * Also the lifecycle of an upload session that never received a byte (it has no record), and
 * directory fsyncs shared by concurrent commits.
 */
import { link, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GroupedDirSync } from './blob-store.js';
import { DEFAULT_UPLOAD_TTL_MS } from './index.js';
import { MEDIA_TYPE } from './manifest.js';
import { bytesOf, digestText, startRegistry } from './harness.suite.js';
import type { Harness } from './harness.suite.js';

/** How many store revisions `fn` made. */
async function commitsOf(reg: Harness, fn: () => Promise<unknown>): Promise<number> {
  const before = await reg.store.revision();
  await fn();
  return (await reg.store.revision()) - before;
}

async function post(reg: Harness, name: string): Promise<string> {
  const res = await reg.request(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
  expect(res.status).toBe(202);
  return res.headers.get('location')!;
}

const withDigest = (location: string, digest: string) => `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;

describe('store commits per push', () => {
  it('POST then PUT with the whole blob: one commit, also when the push creates the repository', async () => {
    await using reg = await startRegistry();
    for (const name of ['fresh-repo', 'fresh-repo']) {
      const body = bytesOf(1024, name.length + (await reg.store.revision()));
      const commits = await commitsOf(reg, async () => {
        const location = await post(reg, name);
        expect((await reg.request(withDigest(location, digestText(body)), { method: 'PUT', body })).status).toBe(201);
      });
      expect(commits).toBe(1);
    }
    expect(await reg.registry.metadata.getRepository('fresh-repo')).toBeDefined();
    expect(await reg.registry.metadata.countUploads()).toBe(0);
  });

  it('a manifest as the first push creates the repository in its own commit, and a second push keeps that record', async () => {
    await using reg = await startRegistry();
    const index = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [] });
    const put = () => reg.request('/v2/first-manifest/manifests/v1', { method: 'PUT', body: index, headers: { 'content-type': MEDIA_TYPE.ociIndex } });
    expect(await commitsOf(reg, async () => expect((await put()).status).toBe(201))).toBe(1);
    const created = await reg.registry.metadata.getRepository('first-manifest');
    expect(created).toMatchObject({ name: 'first-manifest', createdBy: 'push', imageTagMutability: 'MUTABLE' });
    expect((await put()).status).toBe(201);
    expect(await reg.registry.metadata.getRepository('first-manifest')).toEqual(created);
  });

  it('POST, PATCH, PUT: two commits (the session is recorded once bytes arrive, so it can resume)', async () => {
    await using reg = await startRegistry();
    const body = bytesOf(3000, 2);
    const commits = await commitsOf(reg, async () => {
      const location = await post(reg, 'chunked');
      const patched = await reg.request(location, { method: 'PATCH', body, headers: { 'content-range': '0-2999' } });
      expect(patched.status).toBe(202);
      expect(await reg.registry.metadata.countUploads()).toBe(1);
      expect((await reg.request(withDigest(patched.headers.get('location')!, digestText(body)), { method: 'PUT' })).status).toBe(201);
    });
    expect(commits).toBe(2);
    expect(await reg.registry.metadata.countUploads()).toBe(0);
  });

  it('a manifest PUT: one commit; a blob pushed again is linked without rewriting its file', async () => {
    await using reg = await startRegistry();
    const config = await reg.pushBlob('app', Buffer.from('{}'));
    const file = join(reg.root, 'blobs', 'sha256', config.slice(7));
    // A second name for the first file: it keeps that inode from being reused, so a rewrite shows.
    const witness = join(reg.root, 'witness');
    await link(file, witness);
    const doc = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] });
    expect(await commitsOf(reg, () => reg.request('/v2/app/manifests/v1', { method: 'PUT', body: doc, headers: { 'content-type': MEDIA_TYPE.ociManifest } }))).toBe(1);

    for (const name of ['app', 'other']) {
      expect(await commitsOf(reg, () => reg.pushBlob(name, Buffer.from('{}')))).toBe(1);
      const location = await post(reg, name);
      expect((await reg.request(withDigest(location, config), { method: 'PUT', body: '{}' })).status).toBe(201);
    }
    // Still the first file: the later pushes only claimed it.
    expect((await stat(file)).ino).toBe((await stat(witness)).ino);
    expect(await reg.registry.metadata.getBlobLink('other', config)).toBeDefined();
  });
});

describe('an upload session without bytes', () => {
  it('has neither record nor file, yet answers status, counts toward the limit, can be cancelled, and expires', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    await using reg = await startRegistry({ now: () => now, maxUploadSessions: 2 });
    const a = await post(reg, 'quiet');
    const b = await post(reg, 'quiet');
    expect(await reg.registry.metadata.countUploads()).toBe(0);
    expect((await reg.request(a)).headers.get('range')).toBe('0-0');
    expect((await reg.request('/v2/quiet/blobs/uploads/', { method: 'POST' })).status).toBe(429);
    expect((await reg.request(b, { method: 'DELETE' })).status).toBe(204);
    expect((await reg.request(b)).status).toBe(404);
    // Another repository's path does not reach it.
    expect((await reg.request(a.replace('/quiet/', '/other/'))).status).toBe(404);

    // Nor has it a temp file: that comes with the first bytes.
    expect(await reg.uploadFiles()).toEqual([]);

    now = new Date(now.getTime() + DEFAULT_UPLOAD_TTL_MS - 1);
    expect(await reg.registry.gc()).toMatchObject({ uploadsExpired: 0, strayFilesRemoved: 0 });
    now = new Date(now.getTime() + 2);
    const { issueRegistryToken } = await import('./auth.js');
    const { token } = await issueRegistryToken(reg.store, reg.key, now);
    expect(await reg.registry.gc()).toMatchObject({ uploadsExpired: 1, strayFilesRemoved: 0 });
    expect((await reg.request(a, { headers: { authorization: `Basic ${Buffer.from(`AWS:${token}`).toString('base64')}` } })).status).toBe(404);
  });
});

describe('pushing a blob that is already stored', () => {
  it('checks the body without writing it: a wrong body is DIGEST_INVALID, a short one SIZE_INVALID, and the blob stays', async () => {
    await using reg = await startRegistry();
    const body = bytesOf(2048, 9);
    const digest = await reg.pushBlob('a', body);
    const file = join(reg.root, 'blobs', 'sha256', digest.slice(7));
    const witness = join(reg.root, 'witness');
    await link(file, witness);

    // One request (POST ?digest=) and two (POST, PUT ?digest=), into another repository.
    const single = await reg.request(`/v2/b/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytesOf(2048, 10) });
    expect(single.status).toBe(400);
    expect(((await single.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DIGEST_INVALID');
    const location = await post(reg, 'b');
    const wrong = await reg.request(withDigest(location, digest), { method: 'PUT', body: bytesOf(2048, 10) });
    expect(((await wrong.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DIGEST_INVALID');
    // A mismatch ends the session, as it does for a new blob.
    expect((await reg.request(location)).status).toBe(404);
    expect(await reg.registry.metadata.getBlobLink('b', digest)).toBeUndefined();

    const again = await post(reg, 'b');
    const short = await reg.request(withDigest(again, digest), { method: 'PUT', body: body.subarray(0, 100), headers: { 'content-range': '0-2047' } });
    expect(short.status).toBe(400);
    expect(((await short.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('SIZE_INVALID');
    // A refused chunk changes nothing: the session is still there, empty, and takes the right body.
    expect((await reg.request(again)).headers.get('range')).toBe('0-0');
    expect((await reg.request(withDigest(again, digest), { method: 'PUT', body })).status).toBe(201);
    expect((await reg.request(`/v2/b/blobs/uploads/?digest=${digest}`, { method: 'POST', body })).status).toBe(201);

    expect(await reg.registry.metadata.getBlobLink('b', digest)).toMatchObject({ size: 2048 });
    expect((await stat(file)).ino).toBe((await stat(witness)).ino);
    expect(await reg.uploadFiles()).toEqual([]);
    const got = await reg.request(`/v2/b/blobs/${digest}`);
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);
  });
});

describe('GroupedDirSync', () => {
  /** A fake fsync that completes (or fails) when the test says. */
  function fakeSyncs() {
    const calls: { resolve: () => void; reject: (err: Error) => void }[] = [];
    const syncOnce = () => new Promise<void>((resolve, reject) => calls.push({ resolve, reject }));
    return { calls, grouped: new GroupedDirSync(syncOnce) };
  }
  const settled = async (p: Promise<unknown>) => {
    let done = false;
    void p.then(() => (done = true), () => (done = true));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    return done;
  };

  it('callers arriving while a sync runs wait for the next one, and share it', async () => {
    const { calls, grouped } = fakeSyncs();
    const first = grouped.sync();
    const second = grouped.sync();
    const third = grouped.sync();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve();
    await first;
    // The running sync may have started before their renames: it does not serve them.
    expect(await settled(second)).toBe(false);
    await Promise.resolve();
    expect(calls).toHaveLength(2);
    calls[1]!.resolve();
    await Promise.all([second, third]);
    expect(calls).toHaveLength(2);
    // Idle again: the next caller starts a sync of its own at once.
    const fourth = grouped.sync();
    expect(calls).toHaveLength(3);
    calls[2]!.resolve();
    await fourth;
  });

  it("a failed sync fails its own callers only; the ones waiting get a fresh attempt", async () => {
    const { calls, grouped } = fakeSyncs();
    const first = grouped.sync();
    const second = grouped.sync();
    calls[0]!.reject(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    for (let i = 0; i < 5 && calls.length < 2; i++) await Promise.resolve();
    expect(calls).toHaveLength(2);
    calls[1]!.resolve();
    await expect(second).resolves.toBeUndefined();
  });
});
