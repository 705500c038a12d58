/** The content store on its own: atomic verified writes, shared downloads, persistence, sweeping, gc ordering. */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore, type ImageRecord } from './content-store.js';
import { digestOf } from './digest.js';
import { ImageError } from './errors.js';

let tmp: string;
let store: ContentStore;
const data = Buffer.alloc(100_000, 3);
const digest = digestOf(data);

beforeEach(async () => {
  tmp = await fs.mkdtemp(join(tmpdir(), 'berth-cs-'));
  store = await ContentStore.open(join(tmp, 'store'));
});

afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const chunks = (buf: Buffer, size = 10_000): Buffer[] => Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => buf.subarray(i * size, (i + 1) * size));

function record(ref: string, blobs: { manifest: string; config: string; layer: string; diffID: string }): ImageRecord {
  return {
    reference: ref,
    digest: blobs.manifest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    platform: { os: 'linux', architecture: 'amd64' },
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blobs.config, size: 1 },
    layers: [{ digest: blobs.layer, size: 1, mediaType: 'application/vnd.oci.image.layer.v1.tar', diffID: blobs.diffID }],
    pulledAt: new Date(0).toISOString(),
  };
}

describe('ingest', () => {
  it('stores a verified blob under its digest', async () => {
    const seen: number[] = [];
    expect(await store.ingest({ digest, size: data.length }, () => Promise.resolve(Readable.from(chunks(data))), (n) => seen.push(n))).toBe(true);
    expect(await fs.readFile(store.blobPath(digest))).toEqual(data);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect(await store.ingest({ digest }, () => Promise.reject(new Error('must not be opened')))).toBe(false);
  });

  it('keeps nothing when the stream fails midway or hashes wrong', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(store.ingest({ digest, size: data.length }, () => Promise.resolve(failing))).rejects.toThrow(/connection reset/);
    const wrong = Buffer.from(data).fill(4, 0, 1);
    await expect(store.ingest({ digest }, () => Promise.resolve(Readable.from([wrong])))).rejects.toMatchObject({ code: 'DigestMismatch' });
    expect(await store.has(digest)).toBe(false);
    expect(await fs.readdir(join(store.root, 'ingest'))).toEqual([]);
  });

  it('shares one download among concurrent callers, each seeing the bytes', async () => {
    let opens = 0;
    const open = (): Promise<Readable> => {
      opens++;
      return Promise.resolve(Readable.from(chunks(data)));
    };
    const totals = [0, 0, 0];
    const results = await Promise.all(totals.map((_, i) => store.ingest({ digest, size: data.length }, open, (n) => (totals[i]! += n))));
    expect(opens).toBe(1);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(totals[0]).toBe(data.length);
  });

  it('putBlob refuses bytes that do not match', async () => {
    await expect(store.putBlob(Buffer.from('x'), { digest }, 'manifest')).rejects.toMatchObject({ code: 'DigestMismatch' });
    await expect(store.readBlob(digest)).rejects.toMatchObject({ code: 'NotFound' });
  });
});

describe('index and recovery', () => {
  it('persists images and leases across reopen, and sweeps crash leftovers', async () => {
    const img = record('r/a:1', { manifest: digest, config: digest, layer: digest, diffID: digest });
    await store.putImage(img);
    await store.lease('snapshot/k', [digest]);
    await fs.writeFile(join(store.root, 'ingest', 'half-written'), 'x');
    await fs.mkdir(join(store.root, 'layers', 'tmp-abc'));
    const again = await ContentStore.open(store.root);
    expect(again.getImage('r/a:1')).toEqual(img);
    expect(again.leases()).toEqual({ 'snapshot/k': [digest] });
    expect(await fs.readdir(join(store.root, 'ingest'))).toEqual([]);
    expect((await fs.readdir(join(store.root, 'layers'))).sort()).toEqual(['sha256', 'sha512']);
  });

  it('refuses an index from a future version rather than misreading it', async () => {
    await fs.writeFile(join(store.root, 'index.json'), JSON.stringify({ version: 2 }));
    const err = await ContentStore.open(store.root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).message).toMatch(/has version 2; this Berth reads version 1/);
  });
});

describe('gc', () => {
  it('waits for a running pull, so it cannot sweep a blob written but not yet recorded', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let ingested!: () => void;
    const wrote = new Promise<void>((r) => (ingested = r));
    const pull = store.use(async () => {
      await store.ingest({ digest }, () => Promise.resolve(Readable.from([data])));
      ingested();
      await gate;
      await store.putImage(record('r/a:1', { manifest: digest, config: digest, layer: digest, diffID: digest }));
    });
    await wrote;
    let gcDone = false;
    const gc = store.gc().then((r) => {
      gcDone = true;
      return r;
    });
    // Give a gc that did not wait every chance to run to the end.
    for (let i = 0; i < 50; i++) await fs.stat(store.root);
    expect(gcDone).toBe(false);
    open();
    await pull;
    expect(await gc).toEqual({ blobs: [], layers: [] });
    expect(await store.has(digest)).toBe(true);
  });

  it('removes unreferenced blobs and layers, keeping leased layers', async () => {
    const other = digestOf(Buffer.from('other'));
    await store.putBlob(data, { digest });
    await store.putBlob(Buffer.from('other'), { digest: other });
    await fs.mkdir(store.layerPath(digest));
    await fs.mkdir(store.layerPath(other));
    await store.lease('snapshot/k', [other]);
    expect(await store.gc()).toEqual({ blobs: [digest, other].sort(), layers: [digest] });
    expect(await store.hasLayer(other)).toBe(true);
  });

  it('keeps held layers and those the caller says are in use, writing no index for a hold', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => digestOf(Buffer.from(`layer-${x}`)));
    for (const d of [a!, b!, c!]) await fs.mkdir(store.layerPath(d), { recursive: true });
    const before = await fs.readFile(join(store.root, 'index.json'), 'utf8').catch(() => '');
    store.hold('snapshot/h', [a!]);
    expect(await fs.readFile(join(store.root, 'index.json'), 'utf8').catch(() => '')).toBe(before);
    expect(store.leases()['snapshot/h']).toBeUndefined(); // not a lasting lease
    expect((await store.gc([b!])).layers).toEqual([c]);
    await store.releaseLease('snapshot/h');
    expect((await store.gc()).layers.sort()).toEqual([a, b].sort());
  });
});
