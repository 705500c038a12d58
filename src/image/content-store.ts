/**
 * The agent's content store: verified blobs by digest, layers unpacked once by diffID, and a small
 * JSON index of pulled images and of leases (snapshots using layers), all under one root:
 *
 *   blobs/<alg>/<hex>       compressed blobs, manifests and configs, exactly as fetched
 *   layers/<alg>/<hex>/     one unpacked layer per diffID, in overlayfs lower-layer form
 *   ingest/, layers/tmp-*   work in progress; a crash leaves only these, swept on open
 *   index.json              { images: reference → ImageRecord, leases: key → diffIDs }
 *
 * One process owns a root (the host's agent). Writes land atomically (temp file, fsync, rename,
 * fsync of the directory), so a crash never leaves a blob under its digest that does not hash to it.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, lstatSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestVerifier, parseDigest, verifyBytes } from './digest.js';
import { ImageError } from './errors.js';
import { layerCompression, type Descriptor, type Platform } from './manifest.js';
import { unpackLayer, type UnpackResult } from './unpack.js';

export interface LayerRecord {
  /** Digest of the (compressed) blob. */
  digest: string;
  size: number;
  mediaType: string;
  /** Digest of the uncompressed tar; names the unpacked directory. */
  diffID: string;
}

/** What the store knows about one pulled image. */
export interface ImageRecord {
  /** Canonical reference it was pulled as, e.g. `127.0.0.1:5000/web:1`. */
  reference: string;
  /** Digest of the image manifest (the platform's manifest when the reference named an index). */
  digest: string;
  mediaType: string;
  /** Digest of the index the reference resolved to, when it did. */
  indexDigest?: string;
  platform: Platform;
  config: Descriptor;
  /** Bottom layer first, as in the manifest. */
  layers: LayerRecord[];
  /** ISO time of the pull that recorded it. */
  pulledAt: string;
}

export interface GcResult {
  /** Digests of blobs removed. */
  blobs: string[];
  /** diffIDs of unpacked layers removed. */
  layers: string[];
}

interface IndexFile {
  version: 1;
  images: Record<string, ImageRecord>;
  leases: Record<string, string[]>;
}

/** Counts bytes on their way to disk, for progress. */
class Counter extends Transform {
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.onBytes(chunk.byteLength);
    cb(null, chunk);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Whether two records are of the same image, whenever each was pulled. */
function sameImage(a: ImageRecord, b: ImageRecord): boolean {
  return JSON.stringify({ ...a, pulledAt: '' }) === JSON.stringify({ ...b, pulledAt: '' });
}

export class ContentStore {
  private index: IndexFile = { version: 1, images: {}, leases: {} };
  private indexWrites: Promise<void> = Promise.resolve();
  private readonly ingests = new Map<string, { done: Promise<void>; listeners: Set<(n: number) => void> }>();
  private readonly unpacks = new Map<string, Promise<UnpackResult>>();
  // Pulls share the store; gc needs it alone, or it could sweep a blob a pull has written but not yet recorded.
  private activeUses = 0;
  private idle: Array<() => void> = [];
  private gcRunning: Promise<unknown> | undefined;
  // Holds: leases kept in memory only, for users whose own files on disk are the lasting record
  // (a snapshot's snapshot.json): they cost no index write, which is on every container's start.
  private readonly holds = new Map<string, readonly string[]>();

  private constructor(readonly root: string) {}

  /**
   * Opens (creating if needed) a store and sweeps work a crash left behind.
   *
   * @example const store = await ContentStore.open('/var/lib/berth/images');
   */
  static async open(root: string): Promise<ContentStore> {
    const store = new ContentStore(root);
    for (const d of ['blobs/sha256', 'blobs/sha512', 'layers/sha256', 'layers/sha512', 'ingest']) {
      await fs.mkdir(join(root, d), { recursive: true, mode: 0o700 });
    }
    await fs.rm(join(root, 'ingest'), { recursive: true, force: true });
    await fs.mkdir(join(root, 'ingest'), { mode: 0o700 });
    for (const name of await fs.readdir(join(root, 'layers'))) {
      if (name.startsWith('tmp-')) await fs.rm(join(root, 'layers', name), { recursive: true, force: true });
    }
    try {
      const doc = JSON.parse(await fs.readFile(join(root, 'index.json'), 'utf8')) as IndexFile;
      if (doc.version !== 1) throw new ImageError('Unsupported', `${join(root, 'index.json')} has version ${String(doc.version)}; this Berth reads version 1`);
      store.index = { version: 1, images: doc.images ?? {}, leases: doc.leases ?? {} };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return store;
  }

  /** Where a blob lives (whether or not it is there yet). */
  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, hex);
  }

  /** Where a layer is unpacked (whether or not it is there yet). */
  layerPath(diffID: string): string {
    const { algorithm, hex } = parseDigest(diffID, 'diffID');
    return join(this.root, 'layers', algorithm, hex);
  }

  has(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  hasLayer(diffID: string): Promise<boolean> {
    return exists(this.layerPath(diffID));
  }

  /**
   * Stores a blob from a stream, verifying digest and size as it streams; a blob already stored is
   * not fetched again, and concurrent calls for one digest share one download (each caller's
   * `onBytes` still sees the progress). Returns whether this call's `open` was the one used.
   */
  async ingest(desc: { digest: string; size?: number }, open: () => Promise<Readable>, onBytes?: (n: number) => void): Promise<boolean> {
    const running = this.ingests.get(desc.digest);
    if (running) {
      if (onBytes) running.listeners.add(onBytes);
      await running.done;
      return false;
    }
    if (await this.has(desc.digest)) return false;
    const again = this.ingests.get(desc.digest);
    if (again) {
      // Another call started while we looked at the disk.
      if (onBytes) again.listeners.add(onBytes);
      await again.done;
      return false;
    }
    const listeners = new Set<(n: number) => void>(onBytes ? [onBytes] : []);
    const done = this.write(desc, open, (n) => listeners.forEach((l) => l(n)));
    this.ingests.set(desc.digest, { done, listeners });
    try {
      await done;
    } finally {
      this.ingests.delete(desc.digest);
    }
    return true;
  }

  /** Stores bytes already in memory (manifests, configs) after checking them against their digest. */
  async putBlob(bytes: Uint8Array, desc: { digest: string; size?: number }, what = 'blob'): Promise<void> {
    verifyBytes(bytes, desc.digest, desc.size, what);
    if (await this.has(desc.digest)) return;
    await this.ingest(desc, () => Promise.resolve(bufferStream(bytes)));
  }

  async readBlob(digest: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.blobPath(digest));
    } catch (err) {
      if (isNotFound(err)) throw new ImageError('NotFound', `blob ${digest} is not in the content store`);
      throw err;
    }
  }

  private async write(desc: { digest: string; size?: number }, open: () => Promise<Readable>, onBytes: (n: number) => void): Promise<void> {
    const final = this.blobPath(desc.digest);
    const temp = join(this.root, 'ingest', `${parseDigest(desc.digest).hex}-${randomBytes(6).toString('hex')}`);
    const fh = await fs.open(temp, 'wx', 0o644);
    let closed = false;
    try {
      const source = await open();
      // Our own sink on the handle: we keep the fd to fsync it, which an fs.WriteStream would not let us do.
      const sink = new Writable({
        write(chunk: Buffer, _e, cb) {
          fh.write(chunk).then(() => cb(), cb);
        },
      });
      await pipeline(source, new DigestVerifier(desc.digest, { size: desc.size }), new Counter(onBytes), sink);
      await fh.sync();
      await fh.close();
      closed = true;
      await fs.rename(temp, final);
      await fsyncDir(join(final, '..'));
    } catch (err) {
      if (!closed) await fh.close().catch(() => undefined);
      await fs.rm(temp, { force: true });
      throw err;
    }
  }

  /**
   * Unpacks a stored layer blob into `layers/<alg>/<hex>/` unless it is there already; concurrent
   * calls for one diffID share the work. The uncompressed digest must equal `layer.diffID`.
   * Returns the unpack result when this call did the work, undefined when it was already done.
   */
  async unpack(layer: LayerRecord): Promise<UnpackResult | undefined> {
    const running = this.unpacks.get(layer.diffID);
    if (running) {
      await running;
      return undefined;
    }
    if (await this.hasLayer(layer.diffID)) return undefined;
    if (this.unpacks.has(layer.diffID)) {
      await this.unpacks.get(layer.diffID);
      return undefined;
    }
    const work = this.unpackOnce(layer);
    this.unpacks.set(layer.diffID, work);
    try {
      return await work;
    } finally {
      this.unpacks.delete(layer.diffID);
    }
  }

  private async unpackOnce(layer: LayerRecord): Promise<UnpackResult> {
    const compression = layerCompression(layer.mediaType);
    if (!(await this.has(layer.digest))) throw new ImageError('NotFound', `layer blob ${layer.digest} is not in the content store`);
    const temp = await fs.mkdtemp(join(this.root, 'layers', 'tmp-'));
    try {
      await fs.chmod(temp, 0o755);
      const result = await unpackLayer(createReadStream(this.blobPath(layer.digest)), temp, {
        compression,
        diffID: layer.diffID,
        what: `layer ${layer.digest}`,
      });
      await fs.rename(temp, this.layerPath(layer.diffID));
      return result;
    } catch (err) {
      await fs.rm(temp, { recursive: true, force: true });
      throw err;
    }
  }

  /** The recorded image for a canonical reference. */
  getImage(reference: string): ImageRecord | undefined {
    return this.index.images[reference];
  }

  listImages(): ImageRecord[] {
    return Object.values(this.index.images).sort((a, b) => a.reference.localeCompare(b.reference));
  }

  /**
   * Records an image. The same image again (a pull of what is stored: every cached container
   * start) writes nothing, and its `pulledAt` stays that of the pull that stored it.
   */
  async putImage(record: ImageRecord): Promise<void> {
    const stored = this.index.images[record.reference];
    if (stored !== undefined && sameImage(stored, record)) return;
    await this.mutate((ix) => {
      ix.images[record.reference] = record;
    });
  }

  /** Forgets an image; its content stays until `gc()`. Returns whether it was recorded. */
  async removeImage(reference: string): Promise<boolean> {
    let had = false;
    await this.mutate((ix) => {
      had = reference in ix.images;
      delete ix.images[reference];
    });
    return had;
  }

  /** Keeps layers from gc while something (a snapshot) stacks them, even if their image is removed. */
  async lease(key: string, diffIDs: string[]): Promise<void> {
    await this.mutate((ix) => {
      ix.leases[key] = [...diffIDs];
    });
  }

  /**
   * Keeps layers from gc while this process runs, writing nothing: for a user whose own files say
   * what it uses after a restart (gc's `inUse`). Released with releaseLease.
   */
  hold(key: string, diffIDs: readonly string[]): void {
    this.holds.set(key, [...diffIDs]);
  }

  /** Ends a lease or a hold; a key that has neither is fine. */
  async releaseLease(key: string): Promise<void> {
    this.holds.delete(key);
    if (!(key in this.index.leases)) return;
    await this.mutate((ix) => {
      delete ix.leases[key];
    });
  }

  leases(): Record<string, string[]> {
    return structuredClone(this.index.leases);
  }

  private mutate(change: (ix: IndexFile) => void): Promise<void> {
    const next = this.indexWrites.then(async () => {
      const copy = structuredClone(this.index);
      change(copy);
      const path = join(this.root, 'index.json');
      const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      const fh = await fs.open(temp, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(copy, null, 1)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(temp, path);
      await fsyncDir(this.root);
      this.index = copy; // only once it is on disk
    });
    // The chain must survive a failed write; the failure still reaches this caller.
    this.indexWrites = next.catch(() => undefined);
    return next;
  }

  /**
   * Runs `work` (a pull) while holding the store shared: gc waits for it, and it waits for a gc
   * already running.
   */
  async use<T>(work: () => Promise<T>): Promise<T> {
    while (this.gcRunning) await this.gcRunning.catch(() => undefined);
    this.activeUses++;
    try {
      return await work();
    } finally {
      this.activeUses--;
      if (this.activeUses === 0) this.idle.splice(0).forEach((wake) => wake());
    }
  }

  /**
   * Removes blobs no image references and unpacked layers that no image, lease, hold or `inUse`
   * (what the caller's own records say is used) names. Waits for running pulls; pulls that start
   * meanwhile wait for it.
   */
  async gc(inUse: Iterable<string> = []): Promise<GcResult> {
    while (this.gcRunning) await this.gcRunning.catch(() => undefined);
    const run = (async () => {
      while (this.activeUses > 0) await new Promise<void>((wake) => this.idle.push(wake));
      await this.indexWrites;
      const blobs = new Set<string>();
      const layers = new Set<string>();
      for (const img of Object.values(this.index.images)) {
        blobs.add(img.digest);
        if (img.indexDigest !== undefined) blobs.add(img.indexDigest);
        blobs.add(img.config.digest);
        for (const l of img.layers) {
          blobs.add(l.digest);
          layers.add(l.diffID);
        }
      }
      for (const diffIDs of Object.values(this.index.leases)) diffIDs.forEach((d) => layers.add(d));
      for (const d of inUse) layers.add(d);
      const removed: GcResult = { blobs: [], layers: [] };
      for (const algorithm of ['sha256', 'sha512']) {
        for (const hex of await fs.readdir(join(this.root, 'blobs', algorithm))) {
          const digest = `${algorithm}:${hex}`;
          if (blobs.has(digest)) continue;
          await fs.rm(join(this.root, 'blobs', algorithm, hex), { force: true });
          removed.blobs.push(digest);
        }
        for (const hex of await fs.readdir(join(this.root, 'layers', algorithm))) {
          const diffID = `${algorithm}:${hex}`;
          // Holds are read at each layer: one taken while gc runs protects its layers too.
          if (layers.has(diffID) || [...this.holds.values()].some((held) => held.includes(diffID))) continue;
          await fs.rm(join(this.root, 'layers', algorithm, hex), { recursive: true, force: true });
          removed.layers.push(diffID);
        }
      }
      return removed;
    })();
    this.gcRunning = run;
    try {
      return await run;
    } finally {
      this.gcRunning = undefined;
    }
  }
}

/**
 * Whether a path exists. Synchronous: one lstat of a cached inode takes microseconds, where
 * fs.promises takes a thread-pool round trip; these checks are on the path of every container start
 * (a pull of a stored image, a snapshot's layers).
 */
function exists(path: string): Promise<boolean> {
  try {
    lstatSync(path);
    return Promise.resolve(true);
  } catch (err) {
    if (isNotFound(err)) return Promise.resolve(false);
    throw err; // at once, not as a rejection: every caller awaits this inside an async function, which rejects
  }
}

function bufferStream(bytes: Uint8Array): Readable {
  return Readable.from([Buffer.from(bytes)]);
}
