/**
 * Pulls from a registry that misbehaves on purpose (an in-test server over an OCI layout): tampered
 * or oversized content, lying headers, hostile layers, endless 401s, redirects; and concurrent pulls
 * that must share one download. Whatever fails, nothing of it may be kept.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, ImageStore, type PullProgress } from './index.js';
import { hostPlatform } from './platform.js';
import { serveLayout, type LayoutServer } from './testing/layout-server.js';
import { writeImage, writeIndex, type BuiltImage } from './testing/oci.js';

let tmp: string;
let layout: string;
let base: BuiltImage; // two layers
let derived: BuiltImage; // shares base's first layer
let hostile: BuiltImage;
let plain: BuiltImage;
let indexed: BuiltImage;
const stores: ImageStore[] = [];
const servers: LayoutServer[] = [];
let n = 0;

async function openStore(options: Parameters<typeof ImageStore.open>[1] = {}): Promise<ImageStore> {
  const s = await ImageStore.open(join(tmp, `store-${n++}`), options);
  stores.push(s);
  return s;
}

async function serve(options: Parameters<typeof serveLayout>[1] = {}): Promise<LayoutServer> {
  const s = await serveLayout(layout, options);
  servers.push(s);
  return s;
}

async function failure(p: Promise<unknown>): Promise<ImageError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ImageError);
  return err as ImageError;
}

/** Asserts the store kept nothing but `allowed` verified content: no image, no half-written file. */
async function expectNothingKept(images: ImageStore, allowed: string[] = [], allowedLayers: string[] = []): Promise<void> {
  const root = images.content.root;
  expect(images.list()).toEqual([]);
  expect(await fs.readdir(join(root, 'ingest'))).toEqual([]);
  expect((await fs.readdir(join(root, 'layers'))).sort()).toEqual(['sha256', 'sha512']);
  expect((await fs.readdir(join(root, 'layers', 'sha256'))).map((h) => `sha256:${h}`)).toEqual(allowedLayers);
  const blobs = (await fs.readdir(join(root, 'blobs', 'sha256'))).map((h) => `sha256:${h}`);
  expect(blobs.filter((b) => !allowed.includes(b))).toEqual([]);
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(join(tmpdir(), 'berth-integrity-'));
  layout = join(tmp, 'layout');
  const shared = [{ name: 'shared/', type: 'directory' as const }, { name: 'shared/big', content: Buffer.alloc(300_000, 7) }];
  base = await writeImage(layout, 'base', [shared, [{ name: 'base.txt', content: 'base' }]]);
  derived = await writeImage(layout, 'derived', [shared, [{ name: 'derived.txt', content: 'derived' }]]);
  hostile = await writeImage(layout, 'hostile', [[{ name: 'ok.txt', content: 'fine' }], [{ name: '../../escaped', content: 'owned' }]]);
  plain = await writeImage(layout, 'plain', [[{ name: 'plain.txt', content: 'uncompressed' }]], { gzip: false });
  const arch = hostPlatform().architecture;
  indexed = await writeImage(layout, undefined, [[{ name: 'x', content: 'x' }]], { platform: { os: 'linux', architecture: arch } });
  await writeIndex(layout, 'indexed', [{ image: indexed, platform: { os: 'linux', architecture: arch } }]);
});

afterAll(async () => {
  stores.forEach((s) => s.close());
  for (const s of servers) await s.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('content that does not match its digest or size', () => {
  it('refuses a tampered layer (same size, other bytes) and keeps none of it', async () => {
    const layer = base.layers[1]!.digest;
    const srv = await serve({ tamper: (d, b) => (d === layer ? Buffer.from(b).fill(0, 20, 40) : b) });
    const images = await openStore();
    const err = await failure(images.pull(`${srv.host}/app:base`));
    expect(err.code).toBe('DigestMismatch');
    expect(err.message).toMatch(new RegExp(`blob ${layer} hashed to sha256:[0-9a-f]{64}; refused`));
    expect(await images.content.has(layer)).toBe(false);
    // The manifest, config and the good layer verified (and that layer may be unpacked) and stay until gc; nothing else.
    const goodLayer = (await images.content.hasLayer(base.diffIDs[0]!)) ? [base.diffIDs[0]!] : [];
    await expectNothingKept(images, [base.manifest.digest, base.config.digest, base.layers[0]!.digest], goodLayer);
    await images.gc();
    await expectNothingKept(images);
  });

  it('refuses a blob whose Content-Length differs from its descriptor before reading it', async () => {
    const layer = base.layers[0]!.digest;
    const srv = await serve({ tamper: (d, b) => (d === layer ? Buffer.concat([b, Buffer.alloc(10)]) : b) });
    const images = await openStore();
    const err = await failure(images.pull(`${srv.host}/app:base`));
    expect(err.code).toBe('SizeMismatch');
    expect(err.message).toMatch(/is served as \d+ bytes, its descriptor says \d+; refused/);
    expect(await images.content.has(layer)).toBe(false);
  });

  it('stops reading a chunked blob as soon as it passes its descriptor size', async () => {
    const layer = base.layers[0]!;
    const srv = await serve({
      intercept: (req, res) => {
        if (!req.url?.endsWith(layer.digest)) return false;
        res.writeHead(200); // no Content-Length: chunked, endless
        const spew = (): void => {
          if (res.destroyed) return;
          if (res.write(Buffer.alloc(64 << 10))) setImmediate(spew);
          else res.once('drain', spew);
        };
        spew();
        return true;
      },
    });
    const images = await openStore();
    const err = await failure(images.pull(`${srv.host}/app:base`));
    expect(err.code).toBe('SizeMismatch');
    expect(err.message).toMatch(new RegExp(`larger than its descriptor's ${layer.size} bytes`));
    expect(await images.content.has(layer.digest)).toBe(false);
    expect(await fs.readdir(join(images.content.root, 'ingest'))).toEqual([]);
  });

  it('refuses a platform manifest that does not match its digest in the index', async () => {
    const srv = await serve({ tamper: (d, b) => (d === indexed.manifest.digest ? Buffer.from(b.toString().replace('{', '{ ')).subarray(0, b.length) : b) });
    const images = await openStore();
    const err = await failure(images.pull(`${srv.host}/app:indexed`));
    expect(err.code).toBe('DigestMismatch');
    expect(err.message).toMatch(new RegExp(`manifest .*app@${indexed.manifest.digest} ${indexed.manifest.digest} hashed to`));
    expect(await images.content.has(indexed.manifest.digest)).toBe(false);
  });

  it('refuses a tag whose manifest does not match the Docker-Content-Digest the registry claims', async () => {
    const srv = await serve({ headers: (p): Record<string, string> => (p.endsWith('/manifests/base') ? { 'Docker-Content-Digest': derived.manifest.digest } : {}) });
    const images = await openStore();
    const err = await failure(images.pull(`${srv.host}/app:base`));
    expect(err.code).toBe('DigestMismatch');
    await expectNothingKept(images);
  });

  it('refuses a manifest above the size bound without buffering it', async () => {
    const srv = await serve({ tamper: (d, b) => (d === base.manifest.digest ? Buffer.concat([b, Buffer.alloc(5 << 20, 32)]) : b) });
    const images = await openStore();
    const err = await failure(images.pull(`${srv.host}/app:base`));
    expect(err.code).toBe('TooLarge');
    expect(err.message).toMatch(/above the 4194304-byte bound/);
    const small = await openStore({ maxManifestBytes: 100 });
    expect((await failure(small.pull(`${srv.host}/app:derived`))).code).toBe('TooLarge');
  });

  it('refuses Docker schema 1 manifests as unsupported', async () => {
    const srv = await serve({
      intercept: (req, res) => {
        if (!req.url?.includes('/manifests/')) return false;
        res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end(JSON.stringify({ schemaVersion: 1, name: 'app' }));
        return true;
      },
    });
    const err = await failure((await openStore()).pull(`${srv.host}/app:old`));
    expect(err.code).toBe('Unsupported');
    expect(err.message).toMatch(/Docker schema 1/);
  });
});

describe('layers', () => {
  it('refuses a hostile layer through pull, leaving no layer directory behind', async () => {
    const srv = await serve();
    const images = await openStore();
    const err = await failure(images.pull(`${srv.host}/app:hostile`));
    expect(err.code).toBe('UnsafeLayer');
    expect(err.message).toMatch(/"\.\.\/\.\.\/escaped" climbs out of the layer root/);
    await expect(fs.stat(join(images.content.root, 'escaped'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await fs.readdir(join(images.content.root, 'layers'))).filter((d) => d.startsWith('tmp-'))).toEqual([]);
    expect(images.list()).toEqual([]);
    expect(await images.content.hasLayer(hostile.diffIDs[1]!)).toBe(false);
  });

  it('unpacks an uncompressed layer', async () => {
    const srv = await serve();
    const images = await openStore();
    const image = await images.pull(`${srv.host}/app:plain`);
    expect(await fs.readFile(join(images.content.layerPath(image.layers[0]!.diffID), 'plain.txt'), 'utf8')).toBe('uncompressed');
    expect(image.layers[0]!.diffID).toBe(plain.layers[0]!.digest);
  });
});

describe('concurrent pulls', () => {
  it('download each blob once, even while the first download is still in flight', async () => {
    const shared = base.layers[0]!.digest;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let firstAsked!: () => void;
    const asked = new Promise<void>((r) => (firstAsked = r));
    const srv = await serve({
      intercept: (req, res) => {
        if (!req.url?.endsWith(shared)) return false;
        firstAsked();
        // Hold the shared layer until the second pull is waiting for it too.
        void released.then(async () => {
          const bytes = await fs.readFile(join(layout, 'blobs', 'sha256', shared.slice(7)));
          res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes);
        });
        return true;
      },
    });
    const images = await openStore();
    const events: PullProgress[] = [];
    const first = images.pull(`${srv.host}/app:base`);
    await asked;
    const second = images.pull(`${srv.host}/app:derived`, { onProgress: (e) => events.push(e) });
    while (!events.some((e) => e.type === 'downloading' && e.digest === shared)) await new Promise((r) => setImmediate(r));
    release();
    const [a, b] = await Promise.all([first, second]);
    const third = await images.pull(`${srv.host}/app:base`);

    const blobGets = srv.requests.filter((p) => p.includes('/blobs/'));
    const counts = new Map<string, number>();
    for (const p of blobGets) counts.set(p.slice(p.lastIndexOf('/') + 1), (counts.get(p.slice(p.lastIndexOf('/') + 1)) ?? 0) + 1);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect(counts.get(shared)).toBe(1);
    expect(counts.size).toBe(new Set([a, b, third].flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.digest)])).size);
    // The second pull saw the shared download's bytes arrive.
    expect(events.find((e) => e.type === 'downloaded' && e.digest === shared)).toBeDefined();
  });
});

describe('authentication and redirects', () => {
  it('retries a 401 once after authenticating, then gives up', async () => {
    const srv = await serve({
      intercept: (_req, res) => {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"', 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'nope' }] }));
        return true;
      },
    });
    const images = await openStore();
    const err = await failure(images.pull(`${srv.host}/app:base`, { credentials: { username: 'u', password: 'p' } }));
    expect(err.code).toBe('Unauthorized');
    expect(err.message).toMatch(/still unauthorized after authenticating \(401: UNAUTHORIZED nope\)/);
    expect(srv.requests).toEqual(['/v2/app/manifests/base', '/v2/app/manifests/base']);
  });

  it('follows a blob redirect to another origin without sending the registry credentials there', async () => {
    const seen: Array<string | undefined> = [];
    const blobs = await serve({
      intercept: (req) => {
        seen.push(req.headers.authorization);
        return false;
      },
    });
    const expected = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const front = await serve({
      intercept: (req, res) => {
        if (req.headers.authorization !== expected) {
          res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' }).end();
          return true;
        }
        if (req.url?.includes('/blobs/')) {
          res.writeHead(307, { Location: `http://${blobs.host}${req.url}` }).end();
          return true;
        }
        return false;
      },
    });
    const images = await openStore();
    const image = await images.pull(`${front.host}/app:derived`, { credentials: { username: 'u', password: 'p' } });
    expect(image.digest).toBe(derived.manifest.digest);
    expect(seen.length).toBe(1 + derived.layers.length);
    expect(seen.every((a) => a === undefined)).toBe(true);
  });
});
