/**
 * What the hot push paths cost in Store commits and disk writes: each commit is an fsync that
 * stalls the event loop (bench/registry measures the effect), so these counts are kept on purpose.
 * Also the lifecycle of an upload session that never received a byte (it has no record).
 */
import { link, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
