/**
 * Pulling from a real registry (Debian's docker-registry, distribution 2.8) the busybox image built
 * by shared/fixtures and pushed with skopeo: digests, progress, reuse, platform selection from an
 * index, Docker Hub names, a container's overlay view, and gc.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, ImageStore, MediaType, type PullProgress } from './index.js';
import { hostPlatform } from './platform.js';
import { taggedDescriptor, writeImage, writeIndex } from './testing/oci.js';
import { buildBusybox, push, startRegistry, type RegistryProcess } from './testing/registry.js';

let tmp: string;
let layout: string;
let registry: RegistryProcess;
let busyboxDigest: string;
const stores: ImageStore[] = [];

async function openStore(name: string, options: Parameters<typeof ImageStore.open>[1] = {}): Promise<ImageStore> {
  const s = await ImageStore.open(join(tmp, name), options);
  stores.push(s);
  return s;
}

function sha256File(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(join(tmpdir(), 'berth-pull-'));
  layout = join(tmp, 'layout');
  await buildBusybox(layout, 'v1');
  busyboxDigest = (await taggedDescriptor(layout, 'v1')).digest;
  // A second image for two platforms, to push as one index.
  const arch = hostPlatform().architecture;
  const other = arch === 'arm64' ? 'amd64' : 'arm64';
  const here = await writeImage(layout, undefined, [[{ name: 'arch', content: arch }]], { platform: { os: 'linux', architecture: arch } });
  const there = await writeImage(layout, undefined, [[{ name: 'arch', content: other }]], { platform: { os: 'linux', architecture: other } });
  await writeIndex(layout, 'multi', [
    { image: there, platform: { os: 'linux', architecture: other } },
    { image: here, platform: { os: 'linux', architecture: arch } },
  ]);
  await writeImage(layout, 'small', [[{ name: 'small.txt', content: 'small' }]]);
  registry = await startRegistry(join(tmp, 'registry'));
  await push(layout, 'v1', `${registry.host}/busybox:v1`);
  await push(layout, 'v1', `${registry.host}/library/busybox:latest`);
  await push(layout, 'small', `${registry.host}/small:1`);
  await push(layout, 'multi', `${registry.host}/multi:1`, { all: true });
  await push(layout, 'v1', `${registry.host}/busybox:docker`, { docker: true });
  await push(layout, 'multi', `${registry.host}/multi:docker`, { all: true, docker: true });
}, 120_000);

afterAll(async () => {
  for (const s of stores) {
    for (const snap of await s.snapshots.list()) await s.snapshots.remove(snap.key);
    s.close();
  }
  await registry?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('pull from docker-registry', () => {
  it('pulls the busybox image, verified, with sane progress, and records it', async () => {
    const images = await openStore('first');
    const events: PullProgress[] = [];
    const image = await images.pull(`${registry.host}/busybox:v1`, { onProgress: (e) => events.push(e) });

    expect(image.reference).toBe(`${registry.host}/busybox:v1`);
    expect(image.digest).toBe(busyboxDigest); // skopeo pushed the OCI manifest unchanged
    expect(image.platform.os).toBe('linux');
    expect(image.layers.length).toBeGreaterThan(0);
    // Everything stored hashes to its name.
    for (const d of [image.digest, image.config.digest, ...image.layers.map((l) => l.digest)]) {
      expect(sha256File(images.content.blobPath(d))).toBe(d);
    }
    expect(images.get(`${registry.host}/busybox:v1`)).toEqual(image);

    expect(events[0]).toMatchObject({ type: 'resolved', digest: image.digest, layers: image.layers.map((l) => ({ digest: l.digest, size: l.size })) });
    expect(events.at(-1)).toEqual({ type: 'done', image });
    for (const layer of image.layers) {
      const mine = events.filter((e) => 'digest' in e && e.digest === layer.digest && e.type !== 'resolved');
      expect(mine.map((e) => e.type).filter((t, i, a) => a.indexOf(t) === i)).toEqual(['downloading', 'downloaded', 'extracting', 'extracted']);
      const dones = mine.flatMap((e) => (e.type === 'downloading' ? [e.done] : []));
      expect(dones).toEqual([...dones].sort((a, b) => a - b));
      expect(mine.every((e) => e.type !== 'downloading' || (e.total === layer.size && e.done <= layer.size))).toBe(true);
      expect(mine.find((e) => e.type === 'downloaded')).toEqual({ type: 'downloaded', digest: layer.digest, size: layer.size });
    }
    // A 1 MB layer reports progress along the way, not only at the ends.
    expect(events.filter((e) => e.type === 'downloading').length).toBeGreaterThan(2);

    const config = await images.config(image);
    expect(config.config?.Entrypoint).toEqual(['/bin/httpd']);
    expect(config.config?.Cmd).toEqual(['-f', '-p', '8080', '-h', '/www']);
  });

  it('reuses stored content: a second pull downloads and extracts nothing', async () => {
    const images = await openStore('again');
    const first = await images.pull(`${registry.host}/busybox:v1`);
    const index = await fs.stat(join(tmp, 'again', 'index.json'));
    const events: PullProgress[] = [];
    const second = await images.pull(`${registry.host}/busybox:v1`, { onProgress: (e) => events.push(e) });
    expect(events.map((e) => e.type)).toEqual(['resolved', ...events.filter((e) => e.type === 'exists').map(() => 'exists'), 'done']);
    expect(events.filter((e) => e.type === 'exists').length).toBeGreaterThan(0);
    // The same image: its record (and the store's index file) is not written again.
    expect((await fs.stat(join(tmp, 'again', 'index.json'))).ino).toBe(index.ino);
    expect(images.get(`${registry.host}/busybox:v1`)?.pulledAt).toBe(first.pulledAt);
    expect(second.digest).toBe(first.digest);
  });

  it('asks the registry only which manifest a stored reference names (one HEAD), and pulls again when that changed or a layer is gone', async () => {
    // A proxy in front of the registry that notes each request.
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const upstream = request(`http://${registry.host}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const images = await openStore('head', { endpoints: { [registry.host]: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` } });
      const ref = `${registry.host}/moving:1`;
      await push(layout, 'v1', ref);
      const first = await images.pull(ref);
      seen.length = 0;
      expect(await images.pull(ref)).toEqual(first);
      expect(seen).toEqual(['HEAD /v2/moving/manifests/1']);

      // The tag moves: the HEAD tells, and the new image is fetched.
      await push(layout, 'small', ref);
      seen.length = 0;
      const moved = await images.pull(ref);
      expect(moved.digest).toBe((await taggedDescriptor(layout, 'small')).digest);
      expect(seen.slice(0, 2)).toEqual(['HEAD /v2/moving/manifests/1', 'GET /v2/moving/manifests/1']);

      // A stored layer that went missing is not trusted: the pull unpacks it again.
      await fs.rm(images.content.layerPath(moved.layers[0]!.diffID), { recursive: true });
      const events: PullProgress[] = [];
      await images.pull(ref, { onProgress: (e) => events.push(e) });
      expect(events.map((e) => e.type)).toContain('extracted');
      expect(await images.content.hasLayer(moved.layers[0]!.diffID)).toBe(true);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('picks this host\'s platform from an index, or the one asked for, and names the choices when none fits', async () => {
    const images = await openStore('multi');
    const arch = hostPlatform().architecture;
    const other = arch === 'arm64' ? 'amd64' : 'arm64';
    const mine = await images.pull(`${registry.host}/multi:1`);
    expect(mine.platform.architecture).toBe(arch);
    expect(mine.indexDigest).toBe((await taggedDescriptor(layout, 'multi')).digest);
    const rootfs = await images.snapshots.prepare('multi-mine', mine);
    expect(await fs.readFile(join(rootfs, 'arch'), 'utf8')).toBe(arch);

    const theirs = await images.pull(`${registry.host}/multi:1`, { platform: { os: 'linux', architecture: other } });
    expect(theirs.platform.architecture).toBe(other);
    expect(theirs.digest).not.toBe(mine.digest);

    const err = await images.pull(`${registry.host}/multi:1`, { platform: { os: 'linux', architecture: 's390x' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).code).toBe('NoMatchingPlatform');
    expect((err as ImageError).message).toMatch(new RegExp(`no manifest for linux/s390x in the index \\(it offers linux/${other}.*, linux/${arch}`));
  });

  it('reads Docker v2 schema 2 manifests and manifest lists as well as OCI ones', async () => {
    const images = await openStore('docker-types');
    const image = await images.pull(`${registry.host}/busybox:docker`);
    expect(image.mediaType).toBe(MediaType.dockerManifest);
    expect(image.config.mediaType).toBe(MediaType.dockerConfig);
    expect(image.layers.map((l) => l.mediaType)).toEqual(image.layers.map(() => MediaType.dockerLayerGzip));
    const rootfs = await images.snapshots.prepare('docker-types', image);
    expect(await fs.readFile(join(rootfs, 'www/index.html'), 'utf8')).toBe('hello from busybox\n');

    const listed = await images.pull(`${registry.host}/multi:docker`);
    const list = JSON.parse((await images.content.readBlob(listed.indexDigest!)).toString()) as { mediaType: string };
    expect(list.mediaType).toBe(MediaType.dockerManifestList);
    expect(listed.platform.architecture).toBe(hostPlatform().architecture);
  });

  it('refuses a single-platform image built for another architecture', async () => {
    const images = await openStore('wrong-arch');
    const err = await images.pull(`${registry.host}/busybox:v1`, { platform: { os: 'linux', architecture: 's390x' } }).catch((e: unknown) => e);
    expect((err as ImageError).code).toBe('NoMatchingPlatform');
    expect((err as ImageError).message).toMatch(/is built for linux\/.* this host runs linux\/s390x/);
  });

  it('resolves a Docker Hub name but refuses to contact Docker Hub, unless a mirror is configured', async () => {
    const offline = await openStore('hub');
    const err = await offline.pull('busybox').catch((e: unknown) => e);
    expect((err as ImageError).code).toBe('Unreachable');
    expect((err as ImageError).message).toMatch(/docker\.io\/library\/busybox:latest is a Docker Hub image .* does not contact Docker Hub/);
    expect(offline.list()).toEqual([]);

    const mirrored = await openStore('mirror', { endpoints: { 'docker.io': `http://${registry.host}` } });
    const image = await mirrored.pull('busybox');
    expect(image.reference).toBe('docker.io/library/busybox:latest');
    expect(image.digest).toBe(busyboxDigest);
    expect(mirrored.get('docker.io/busybox')).toEqual(image);
  });

  it('pulls by digest, and says which tag or digest the registry does not have', async () => {
    const images = await openStore('by-digest');
    const image = await images.pull(`${registry.host}/busybox@${busyboxDigest}`);
    expect(image.reference).toBe(`${registry.host}/busybox@${busyboxDigest}`);
    const missing = await images.pull(`${registry.host}/busybox:nope`).catch((e: unknown) => e);
    expect((missing as ImageError).code).toBe('NotFound');
    expect((missing as ImageError).message).toMatch(/manifest .*busybox:nope not found \(404: MANIFEST_UNKNOWN/);
  });
});

describe('a container on the pulled image', () => {
  it('sees /bin/busybox and /www/index.html through overlay, and its writes stay in its upper dir', async () => {
    const images = await openStore('snap');
    const image = await images.pull(`${registry.host}/busybox:v1`);
    const rootfs = await images.snapshots.prepare('web-1', image);
    expect(readFileSync(join(rootfs, 'bin/busybox')).equals(readFileSync('/bin/busybox'))).toBe(true);
    expect(await fs.readFile(join(rootfs, 'www/index.html'), 'utf8')).toBe('hello from busybox\n');
    // The image really runs in it.
    expect(execFileSync('chroot', [rootfs, '/bin/cat', '/www/index.html'], { encoding: 'utf8' })).toBe('hello from busybox\n');

    await fs.writeFile(join(rootfs, 'www/index.html'), 'changed by the container\n');
    await fs.writeFile(join(rootfs, 'www/new.txt'), 'new');
    await fs.rm(join(rootfs, 'bin/busybox'));
    const top = images.content.layerPath(image.layers.at(-1)!.diffID);
    expect(await fs.readFile(join(top, 'www/index.html'), 'utf8')).toBe('hello from busybox\n');
    expect(await fs.readdir(join(top, 'www'))).toEqual(['index.html']);
    expect(readFileSync(join(top, 'bin/busybox')).length).toBeGreaterThan(0);
    expect(await fs.readFile(join(tmp, 'snap/snapshots/web-1/upper/www/new.txt'), 'utf8')).toBe('new');

    // A second container on the same image sees the image, not the first one's writes.
    const other = await images.snapshots.prepare('web-2', image);
    expect(await fs.readFile(join(other, 'www/index.html'), 'utf8')).toBe('hello from busybox\n');

    await images.snapshots.remove('web-1');
    await expect(fs.stat(join(tmp, 'snap/snapshots/web-1'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('/snapshots/web-1/');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain('/snapshots/web-2/rootfs');
    await images.snapshots.remove('web-2');
  });
});

describe('gc', () => {
  it('removes only what no image and no snapshot uses', async () => {
    const images = await openStore('gc');
    const busybox = await images.pull(`${registry.host}/busybox:v1`);
    const small = await images.pull(`${registry.host}/small:1`);
    expect(await images.gc()).toEqual({ blobs: [], layers: [] });

    // A snapshot keeps small's layers after the image is removed; its blobs go.
    await images.snapshots.prepare('small-1', small);
    expect(await images.remove(`${registry.host}/small:1`)).toBe(true);
    expect(await images.remove(`${registry.host}/small:1`)).toBe(false);
    const first = await images.gc();
    expect(first.blobs.sort()).toEqual([small.digest, small.config.digest, ...small.layers.map((l) => l.digest)].sort());
    expect(first.layers).toEqual([]);
    expect(await images.content.hasLayer(small.layers[0]!.diffID)).toBe(true);

    await images.snapshots.remove('small-1');
    expect(await images.gc()).toEqual({ blobs: [], layers: small.layers.map((l) => l.diffID) });
    expect(await images.content.hasLayer(small.layers[0]!.diffID)).toBe(false);

    // busybox is whole and usable.
    for (const d of [busybox.digest, busybox.config.digest, ...busybox.layers.map((l) => l.digest)]) expect(await images.content.has(d)).toBe(true);
    const rootfs = await images.snapshots.prepare('bb', busybox);
    expect(await fs.readFile(join(rootfs, 'www/index.html'), 'utf8')).toBe('hello from busybox\n');
    await images.snapshots.remove('bb');

    // Reopened from disk, the store still knows busybox.
    const reopened = await openStore('gc');
    expect(reopened.list().map((i) => i.reference)).toEqual([`${registry.host}/busybox:v1`]);
  });
});
