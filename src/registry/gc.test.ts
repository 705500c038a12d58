/**
 * Garbage collection through the real API: what no manifest references goes once it is older than
 * the grace period; what is referenced, fresh or being uploaded stays; links, idle uploads and
 * expired tokens are cleaned up.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GC_GRACE_MS, DEFAULT_UPLOAD_TTL_MS } from './index.js';
import { MEDIA_TYPE } from './manifest.js';
import { bytesOf, digestText, startRegistry } from './harness.suite.js';
import type { Harness } from './harness.suite.js';
import { REGISTRY_TOKEN_TTL_MS, issueRegistryToken } from './auth.js';

const HOUR = 3600_000;

async function pushImage(reg: Harness, name: string, tag: string, seed: number) {
  const config = Buffer.from(`{"seed":${seed}}`);
  const layer = bytesOf(500, seed);
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await reg.pushBlob(name, config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await reg.pushBlob(name, layer), size: layer.length }],
  };
  const body = JSON.stringify(doc);
  const res = await reg.request(`/v2/${name}/manifests/${tag}`, { method: 'PUT', body, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
  expect(res.status).toBe(201);
  return { manifest: digestText(body), config: doc.config.digest, layer: doc.layers[0]!.digest };
}

describe('registry.gc()', () => {
  it('removes unreferenced blobs past the grace period, with their links, and keeps everything referenced', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    await using reg = await startRegistry({ now: () => now });
    const kept = await pushImage(reg, 'app', 'v1', 1);
    const orphan = await reg.pushBlob('app', bytesOf(100, 99));
    const dropped = await pushImage(reg, 'app', 'old', 2);
    expect((await reg.request(`/v2/app/manifests/${dropped.manifest}`, { method: 'DELETE' })).status).toBe(202);

    // Within the grace period nothing goes: the orphan's manifest may be on its way.
    expect(await reg.registry.gc()).toMatchObject({ blobsRemoved: 0, linksRemoved: 0 });
    expect((await reg.request(`/v2/app/blobs/${orphan}`, { method: 'HEAD' })).status).toBe(200);

    now = new Date(now.getTime() + DEFAULT_GC_GRACE_MS + 1);
    const report = await reg.registry.gc();
    expect(report).toMatchObject({ blobsRemoved: 4, linksRemoved: 3 });
    expect(report.bytesFreed).toBeGreaterThan(600);
    const left = (await reg.blobFiles()).map((hex) => `sha256:${hex}`).sort();
    expect(left).toEqual([kept.manifest, kept.config, kept.layer].sort());
    expect((await reg.request(`/v2/app/blobs/${orphan}`, { method: 'HEAD' })).status).toBe(404);
    expect((await reg.request(`/v2/app/blobs/${dropped.layer}`, { method: 'HEAD' })).status).toBe(404);
    const pulled = await reg.request('/v2/app/manifests/v1');
    expect(pulled.status).toBe(200);
    expect((await reg.request(`/v2/app/blobs/${kept.layer}`)).status).toBe(200);
    // A second run finds nothing more.
    expect(await reg.registry.gc()).toMatchObject({ blobsRemoved: 0, linksRemoved: 0 });
  });

  it('a blob shared by two repositories stays while either references it', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    await using reg = await startRegistry({ now: () => now });
    const a = await pushImage(reg, 'a', 'v1', 5);
    await pushImage(reg, 'b', 'v1', 5); // the same blobs
    await reg.request(`/v2/a/manifests/${a.manifest}`, { method: 'DELETE' });
    now = new Date(now.getTime() + 2 * HOUR);
    expect((await reg.registry.gc()).blobsRemoved).toBe(0);
  });

  it('a blob claimed again (mounted) after it went stale is kept', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    await using reg = await startRegistry({ now: () => now });
    const blob = await reg.pushBlob('src', bytesOf(64, 7));
    now = new Date(now.getTime() + 2 * HOUR);
    expect((await reg.request(`/v2/dst/blobs/uploads/?mount=${blob}&from=src`, { method: 'POST' })).status).toBe(201);
    expect((await reg.registry.gc()).blobsRemoved).toBe(0);
    // Still unreferenced: once the mount itself is older than the grace period, it goes.
    now = new Date(now.getTime() + 2 * HOUR);
    expect(await reg.registry.gc()).toMatchObject({ blobsRemoved: 1, linksRemoved: 2 });
  });

  it('uploads in progress survive GC until they have been idle past the upload TTL', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    await using reg = await startRegistry({ now: () => now });
    const body = bytesOf(5000, 8);
    const location = (await reg.request('/v2/up/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
    await reg.request(location, { method: 'PATCH', body: body.subarray(0, 3000), headers: { 'content-range': '0-2999' } });
    now = new Date(now.getTime() + 2 * HOUR);
    expect(await reg.registry.gc()).toMatchObject({ uploadsExpired: 0, strayFilesRemoved: 0 });
    const done = await reg.request(`${location}?digest=${digestText(body)}`, { method: 'PUT', body: body.subarray(3000), headers: { 'content-range': '3000-4999' } });
    expect(done.status).toBe(201);

    const idle = (await reg.request('/v2/up/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
    await reg.request(idle, { method: 'PATCH', body: 'abc' });
    now = new Date(now.getTime() + DEFAULT_UPLOAD_TTL_MS + 1);
    const { token } = await issueRegistryToken(reg.store, reg.key, now);
    const report = await reg.registry.gc();
    expect(report.uploadsExpired).toBe(1);
    expect(await readdir(join(reg.root, 'uploads'))).toEqual([]);
    const gone = await reg.request(idle, { headers: { authorization: `Basic ${Buffer.from(`AWS:${token}`).toString('base64')}` } });
    expect(gone.status).toBe(404);
    // The harness's own token had expired by then: GC purged it, the fresh one stays.
    expect(report.tokensPurged).toBe(1);
  });

  it('a link whose bytes are not on disk stays while it is younger than the grace period (its bytes may be on their way)', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    await using reg = await startRegistry({ now: () => now });
    // What an upload's last PUT leaves for a moment: the link committed, the rename still to come.
    const missing = `sha256:${'ab'.repeat(32)}`;
    await reg.registry.metadata.linkBlob('app', missing, 10, now, { name: 'app', createdAt: now.toISOString(), imageTagMutability: 'MUTABLE', scanOnPush: false, createdBy: 'push' });
    expect((await reg.registry.gc()).linksRemoved).toBe(0);
    expect(await reg.registry.metadata.getBlobLink('app', missing)).toBeDefined();
    now = new Date(now.getTime() + DEFAULT_GC_GRACE_MS + 1);
    expect((await reg.registry.gc()).linksRemoved).toBe(1);
    expect(await reg.registry.metadata.getBlobLink('app', missing)).toBeUndefined();
  });

  it('expired tokens are purged', async () => {
    let now = new Date('2026-06-01T00:00:00Z');
    await using reg = await startRegistry({ now: () => now });
    now = new Date(now.getTime() + REGISTRY_TOKEN_TTL_MS);
    expect((await reg.registry.gc()).tokensPurged).toBe(1);
    expect((await reg.request('/v2/')).status).toBe(401);
  });
});
