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
  it('has no record, yet answers status, counts toward the limit, can be cancelled, and expires with its temp file', async () => {
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

    now = new Date(now.getTime() + DEFAULT_UPLOAD_TTL_MS - 1);
    expect(await reg.registry.gc()).toMatchObject({ uploadsExpired: 0, strayFilesRemoved: 0 });
    expect(await reg.uploadFiles()).toHaveLength(1);
    now = new Date(now.getTime() + 2);
    const { issueRegistryToken } = await import('./auth.js');
    const { token } = await issueRegistryToken(reg.store, reg.key, now);
    expect(await reg.registry.gc()).toMatchObject({ uploadsExpired: 1, strayFilesRemoved: 0 });
    expect(await reg.uploadFiles()).toEqual([]);
    expect((await reg.request(a, { headers: { authorization: `Basic ${Buffer.from(`AWS:${token}`).toString('base64')}` } })).status).toBe(404);
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
