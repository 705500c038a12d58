/**
 * The registry's bytes on disk: content-addressed blobs at `<root>/blobs/<alg>/<hex>`, shared by
 * every repository, and upload temp files at `<root>/uploads/`. Which repository may see which
 * blob is metadata (metadata.ts); this file only guarantees that a blob file, once there, holds
 * exactly the bytes its name is the digest of.
 *
 * A blob is written to a temp file, hashed as the bytes stream in, fsynced, then renamed into
 * place (and its directory fsynced), so a reader or a crash never sees half a blob, a mismatch
 * never reaches `blobs/`, and concurrent writers of one blob each rename a complete, identical
 * file over the other. Each blob's mtime says when it was last written or claimed (touch): the
 * garbage collector's grace period is measured from it.
 *
 * A small push claims the same blobs again and again (the empty config of every artifact, a layer
 * checked by the manifest that follows it), and each claim was a syscall on the thread pool. A
 * claim this process made less than `reclaimAfterMs` ago stands for a new one (see touch), and a
 * file written just now needs no stamp when the clock is the system's (see commit).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { closeSync, constants, existsSync, fsync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DIGEST_ALGORITHMS, parseDigest } from './digest.js';
import type { Digest, DigestAlgorithm } from './digest.js';
import { ClientAbortedError, RegistryError } from './errors.js';
import { KeyedMutex } from './mutex.js';
import { BufferPool } from './blob-send.js';

/** Writes are gathered into buffers of this size: fewer syscalls than one per socket read. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/**
 * Batch buffers, reused across uploads: room for a full batch and the socket chunk that passed
 * the mark (at most two per upload are in use: one being written, one filling).
 */
const batchBuffers = new BufferPool(WRITE_BATCH_BYTES + 256 * 1024, 4);
/** Smaller batches (the end of a body, small pushes) are copied into a buffer of their own size. */
const POOLED_BATCH_MIN_BYTES = 64 * 1024;
/**
 * A blob of at most this many bytes (a manifest, a config, a small artifact) is held in memory
 * and written to its temp file with synchronous calls; only the fsyncs go to the thread pool.
 * Each trip to the pool wakes a worker thread and then the event loop again, and under 16
 * concurrent 1 KiB artifact pushes those context switches (about 14 trips per push) took more CPU
 * than the work itself; opening, writing and closing a small new file takes microseconds.
 */
export const SMALL_BLOB_BYTES = 64 * 1024;
/**
 * An upload starts flushing its file to disk (fdatasync, in the thread pool) each time this many
 * bytes have been written since the last flush began, while the body keeps coming. The fsync that
 * must end an upload before its 201 then finds little left to write: for skopeo pushes of a
 * 100 MiB layer it took 31-35 ms, all of it after the last byte arrived; with these, ~2 ms.
 */
export const WRITEBACK_BYTES = 8 * 1024 * 1024;

export interface BlobInfo {
  readonly size: number;
  readonly mtimeMs: number;
}

export interface StoredBlob extends BlobInfo {
  readonly digest: Digest;
}

export interface BlobStoreOptions {
  /**
   * Stamps claims (mtimes), so that the GC's grace period and the registry's clock agree. Without
   * it the system clock, whose time the kernel also stamps on written files.
   */
  readonly now?: () => Date;
  /**
   * A claim this process made of a blob less than this long ago answers a new claim without
   * touching the file (default 0: every claim touches). It shortens the protection a claim gives
   * against GC by up to this much, so keep it a small fraction of the GC's grace period.
   */
  readonly reclaimAfterMs?: number;
}

/** How far a file's kernel timestamp may lag Date.now() (a coarse clock, one tick of it). */
const KERNEL_CLOCK_SLACK_MS = 20;
/** The recent claims remembered (reclaimAfterMs); past this many the oldest are forgotten. */
const MAX_REMEMBERED_CLAIMS = 50_000;

export class BlobStore {
  /** Per-digest critical sections, so a sweep and a claim of one blob never interleave. */
  private readonly locks = new KeyedMutex();
  /** One per blobs/<alg> directory: concurrent commits share its fsyncs. */
  private readonly dirSyncs = new Map<string, DirectorySync>();
  /**
   * Digest -> the time (ms, this.now()) of this process's last claim of it, oldest first. The
   * blob's mtime is never older than that time, so the GC keeps the blob while it is recent.
   */
  private readonly claims = new Map<string, number>();

  private constructor(
    readonly root: string,
    private readonly now: () => Date,
    /** True when `now` is the system clock: the kernel's mtime of a fresh write is then a claim. */
    private readonly systemClock: boolean,
    private readonly reclaimAfterMs: number,
  ) {}

  /** Opens (creating) the layout under `root`. */
  static async open(root: string, options: BlobStoreOptions = {}): Promise<BlobStore> {
    for (const alg of DIGEST_ALGORITHMS) await mkdir(join(root, 'blobs', alg), { recursive: true });
    await mkdir(join(root, 'uploads'), { recursive: true });
    return new BlobStore(root, options.now ?? (() => new Date()), options.now === undefined, Math.max(0, options.reclaimAfterMs ?? 0));
  }

  path(digest: Digest): string {
    return join(this.root, 'blobs', digest.algorithm, digest.hex);
  }

  get uploadsDir(): string {
    return join(this.root, 'uploads');
  }

  /** A fresh temp file path, on the blobs' filesystem so that rename is atomic. */
  tempPath(name: string = `${randomUUID()}.tmp`): string {
    return join(this.uploadsDir, name);
  }

  async stat(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.path(digest));
      return { size: s.size, mtimeMs: s.mtimeMs };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Opens a blob for reading; the handle keeps the bytes readable even if GC unlinks the name. */
  async openRead(digest: Digest): Promise<{ handle: FileHandle; size: number } | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.path(digest), constants.O_RDONLY);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      return { handle, size: (await handle.stat()).size };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** A small blob's bytes (manifests), or undefined when absent. */
  async read(digest: Digest): Promise<Buffer | undefined> {
    const opened = await this.openRead(digest);
    if (opened === undefined) return undefined;
    try {
      return await opened.handle.readFile();
    } finally {
      await opened.handle.close();
    }
  }

  /**
   * Streams `source` into the blob `expected`, hashing as it goes; refuses (DIGEST_INVALID) a body
   * whose digest differs, and (SIZE_INVALID) one longer than `maxBytes` or of another length than
   * `expectedLength`. On any failure nothing is left behind.
   */
  async write(expected: Digest, source: AsyncIterable<Uint8Array>, limits: { maxBytes: number; expectedLength?: number }): Promise<{ digest: Digest; size: number }> {
    if (limits.expectedLength !== undefined && limits.expectedLength <= SMALL_BLOB_BYTES) {
      const bytes = await readVerified(expected, source, { maxBytes: limits.maxBytes, expectedLength: limits.expectedLength });
      await this.writeBytes(expected, bytes);
      return { digest: expected, size: bytes.byteLength };
    }
    if (await this.touch(expected)) {
      // Already stored (and now claimed): checking the body is all there is to do, and creating a
      // file is the dearest step of a small push.
      return { digest: expected, size: await verifyStream(expected, source, limits) };
    }
    const temp = this.tempPath();
    const writtenAt = this.now();
    const handle = await open(temp, 'wx', 0o644);
    let committed = false;
    try {
      const hash = createHash(expected.algorithm);
      const { written } = await appendStream(handle, 0, source, hash, limits.maxBytes);
      if (limits.expectedLength !== undefined && written !== limits.expectedLength) {
        throw new RegistryError('SIZE_INVALID', `the body was ${written} bytes; Content-Length said ${limits.expectedLength}`);
      }
      const actual = hash.digest('hex');
      if (actual !== expected.hex) {
        throw new RegistryError('DIGEST_INVALID', `the content's digest is ${expected.algorithm}:${actual}, not ${expected.text}`, { detail: { digest: expected.text } });
      }
      // Checked absent above: sync on this handle and commit (a racing writer of the same blob
      // renames identical bytes over it, which is harmless).
      await handle.sync();
      await handle.close();
      await this.commit(temp, expected, { writtenAt });
      committed = true;
      return { digest: expected, size: written };
    } finally {
      if (!committed) {
        await handle.close().catch(() => undefined); // already closed on the commit path
        await removeFile(temp);
      }
    }
  }

  /** Writes bytes already in memory and verified by the caller (manifests); a stored blob is only claimed. */
  async writeBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    if (await this.touch(digest)) return;
    if (bytes.byteLength <= SMALL_BLOB_BYTES) return this.writeSmall(digest, bytes);
    const temp = this.tempPath();
    const writtenAt = this.now();
    const handle = await open(temp, 'wx', 0o644);
    let committed = false;
    try {
      await writeAll(handle, bytes, 0);
      await handle.sync();
      await handle.close();
      await this.commit(temp, digest, { writtenAt });
      committed = true;
    } finally {
      if (!committed) {
        await handle.close().catch(() => undefined);
        await removeFile(temp);
      }
    }
  }

  /** writeBytes for a small blob: the same steps (temp file, fsync, rename, directory fsync), only the fsyncs off the event loop. */
  private async writeSmall(digest: Digest, bytes: Uint8Array): Promise<void> {
    const temp = this.tempPath();
    const writtenAt = this.now();
    const fd = openSync(temp, 'wx', 0o644);
    let open = true;
    try {
      for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done, done);
      await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
      open = false;
      closeSync(fd);
      await this.commit(temp, digest, { writtenAt });
    } catch (err) {
      // Nothing is left behind: the temp file goes (commit has renamed it away unless it failed first).
      if (open) closeSync(fd);
      removeFileSync(temp);
      throw err;
    }
  }

  /**
   * Moves a complete, verified, fsynced temp file into place as `digest`. Its mtime is set to now
   * first: a temp file that sat idle is as new as the blob it becomes, for the GC's grace period.
   * With `writtenAt` (bytes were written to it at or after that time), and the system clock, the
   * kernel has stamped it already and the mtime is left as it is.
   */
  async commit(tempPath: string, digest: Digest, options: { writtenAt?: Date } = {}): Promise<void> {
    await this.locks.run(digest.text, async () => {
      let claimedAt: Date;
      if (this.systemClock && options.writtenAt !== undefined) {
        // The kernel stamps files from a clock that may lag the system's by a tick.
        claimedAt = new Date(options.writtenAt.getTime() - KERNEL_CLOCK_SLACK_MS);
      } else {
        claimedAt = this.now();
        await utimes(tempPath, claimedAt, claimedAt);
      }
      // Synchronous: a rename within one filesystem changes two directory entries, and a trip to
      // the thread pool cost more than that.
      renameSync(tempPath, this.path(digest));
      this.remember(digest.text, claimedAt.getTime());
    });
    const dir = join(this.root, 'blobs', digest.algorithm);
    let dirSync = this.dirSyncs.get(dir);
    if (dirSync === undefined) this.dirSyncs.set(dir, (dirSync = new DirectorySync(dir)));
    await dirSync.sync();
  }

  /** Closes the directories kept open for their fsyncs; the store stays usable (they reopen). */
  async close(): Promise<void> {
    const syncs = [...this.dirSyncs.values()];
    this.dirSyncs.clear();
    await Promise.all(syncs.map((s) => s.close()));
  }

  /**
   * Makes a complete, verified temp file the blob `digest`: fsyncs it and commits it, unless the
   * blob is already on disk. Then a touch claims it (a name that is a digest holds those bytes,
   * so there is nothing to write) and the temp file goes: a layer pushed again costs no fsync.
   */
  async adopt(tempPath: string, digest: Digest): Promise<void> {
    if (await this.touch(digest)) {
      await removeFile(tempPath);
      return;
    }
    const handle = await open(tempPath, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.commit(tempPath, digest);
  }

  /**
   * Claims an existing blob for a new reference (a mount, a manifest): refreshes its mtime so a
   * concurrent GC leaves it alone. False when the blob is not (or no longer) on disk.
   *
   * When this process claimed it less than `reclaimAfterMs` ago, that claim answers: its mtime is
   * that recent, so no GC with a longer grace period can have removed it (a sweep needs an mtime
   * older than its grace period), and none will for the grace period less that age.
   */
  async touch(digest: Digest): Promise<boolean> {
    if (this.claimedRecently(digest.text)) return true;
    // A name that is not there is answered from the directory cache, far cheaper than the claim's
    // trip to the thread pool (which would then fail): most writes are of new blobs.
    if (!existsSync(this.path(digest))) return false;
    return this.locks.run(digest.text, async () => {
      const now = this.now();
      try {
        await utimes(this.path(digest), now, now);
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
      this.remember(digest.text, now.getTime());
      return true;
    });
  }

  /** Removes a blob if its mtime is still before `cutoffMs` (nobody claimed it meanwhile). */
  async sweep(digest: Digest, cutoffMs: number): Promise<number | undefined> {
    return this.locks.run(digest.text, async () => {
      const info = await this.stat(digest);
      if (info === undefined || info.mtimeMs >= cutoffMs) return undefined;
      this.claims.delete(digest.text);
      await removeFile(this.path(digest));
      return info.size;
    });
  }

  private claimedRecently(digest: string): boolean {
    if (this.reclaimAfterMs === 0) return false;
    const at = this.claims.get(digest);
    if (at === undefined) return false;
    const age = this.now().getTime() - at;
    return age >= 0 && age < this.reclaimAfterMs;
  }

  private remember(digest: string, atMs: number): void {
    if (this.reclaimAfterMs === 0) return;
    this.claims.delete(digest); // re-inserted last: the map stays oldest first
    this.claims.set(digest, atMs);
    if (this.claims.size > MAX_REMEMBERED_CLAIMS) this.claims.delete(this.claims.keys().next().value!);
  }

  /** Every blob on disk (names that are not digests, such as strays, are skipped). */
  async *list(): AsyncIterable<StoredBlob> {
    for (const algorithm of DIGEST_ALGORITHMS) {
      const dir = join(this.root, 'blobs', algorithm);
      for (const name of await readdir(dir)) {
        let digest: Digest;
        try {
          digest = parseDigest(`${algorithm}:${name}`);
        } catch {
          continue;
        }
        const info = await this.stat(digest);
        if (info !== undefined) yield { digest, ...info };
      }
    }
  }
}

/**
 * Appends `source` to `handle` from `position`, feeding `hash` exactly the bytes that reach the
 * file, so on return (or AbortedAppend) the hash state matches the file. Stops with SIZE_INVALID
 * (413) past `maxBytes`. When the client goes away mid-body, what arrived is still written (a
 * resumed upload continues from there) and ClientAbortedError carries how much that was. On any
 * other error the caller rolls back (truncates the file, restores the hash).
 *
 * One batch is written while the next one is received: waiting for each write before reading on
 * would leave the network idle during every disk write (and the disk idle during every read).
 */
export async function appendStream(
  handle: FileHandle,
  position: number,
  source: AsyncIterable<Uint8Array>,
  hash: Hash,
  maxBytes: number,
): Promise<{ written: number }> {
  let written = 0;
  let queued = 0;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  /** The write in flight; writes stay in order, each starting when the one before has ended. */
  let inFlight: Promise<void> = Promise.resolve();
  /** Bytes written since the last early flush began; that flush, while it runs; the first flush error. */
  let unflushed = 0;
  let flushing: Promise<void> | undefined;
  let flushError: unknown;
  const flushEarly = () => {
    unflushed = 0;
    // A write-back error is reported once per open file: this flush may be the only one to see
    // it, so it fails the append (the final fsync on this handle could succeed).
    flushing = handle.datasync().then(
      () => { flushing = undefined; },
      (err: unknown) => {
        flushError ??= err;
        flushing = undefined;
      },
    );
  };
  const flushed = async () => {
    await flushing;
    if (flushError !== undefined) throw flushError;
  };
  const flush = () => {
    if (pendingBytes === 0) return inFlight;
    // A batch of socket chunks is gathered into a pooled buffer rather than a new one: a push's
    // fresh batches doubled the external memory it allocated, and with it V8's full collections.
    const pooled = pending.length > 1 && pendingBytes >= POOLED_BATCH_MIN_BYTES && pendingBytes <= batchBuffers.size ? batchBuffers.take() : undefined;
    const buf = pooled !== undefined ? gather(pending, pooled) : pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const at = position + queued;
    queued += buf.byteLength;
    hash.update(buf);
    inFlight = inFlight.then(async () => {
      await writeAll(handle, buf, at);
      written += buf.byteLength;
      // Only once written: until then the write refers to it.
      if (pooled !== undefined) batchBuffers.give(pooled);
      unflushed += buf.byteLength;
      if (unflushed >= WRITEBACK_BYTES && flushing === undefined) flushEarly();
    });
    return inFlight;
  };
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (err) {
        await flush();
        throw new AbortedAppend(written, err);
      }
      if (next.done) break;
      const chunk = next.value;
      if (queued + pendingBytes + chunk.byteLength > maxBytes) {
        throw new RegistryError('SIZE_INVALID', `the blob would exceed the registry's limit of ${maxBytes} bytes`, { status: 413 });
      }
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      if (pendingBytes >= WRITE_BATCH_BYTES) {
        // Wait for the write before last: at most one batch is in flight while the next fills.
        const previous = inFlight;
        void flush().catch(() => undefined); // its failure is seen below or at the last await
        await previous;
      }
    }
    await flush();
    await flushed();
  } catch (err) {
    // Never leave a write or a flush running behind a failure: the caller truncates the file next.
    await inFlight.catch(() => undefined);
    await flushing;
    // Bytes kept for a resumed upload must not hide that the disk failed to take earlier ones.
    if (err instanceof AbortedAppend && flushError !== undefined) throw flushError;
    throw err;
  }
  return { written };
}

/**
 * Reads `source` to its end without storing it and checks it is the blob `expected` (DIGEST_INVALID
 * otherwise), no longer than `maxBytes` and exactly `expectedLength` long when that is given
 * (SIZE_INVALID); returns its length. A client gone mid-body is ClientAbortedError.
 */
export async function verifyStream(expected: Digest, source: AsyncIterable<Uint8Array>, limits: { maxBytes: number; expectedLength?: number }): Promise<number> {
  return checkStream(expected, source, limits);
}

/**
 * verifyStream, keeping the bytes: for a body of a declared length of at most SMALL_BLOB_BYTES
 * (one longer than it declared is refused before more than that much is held).
 */
export async function readVerified(expected: Digest, source: AsyncIterable<Uint8Array>, limits: { maxBytes: number; expectedLength: number }): Promise<Buffer> {
  if (limits.expectedLength > SMALL_BLOB_BYTES) throw new Error(`readVerified holds at most ${SMALL_BLOB_BYTES} bytes, not ${limits.expectedLength}`);
  const chunks: Uint8Array[] = [];
  const size = await checkStream(expected, source, limits, chunks);
  return chunks.length === 1 ? Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength) : Buffer.concat(chunks, size);
}

async function checkStream(expected: Digest, source: AsyncIterable<Uint8Array>, limits: { maxBytes: number; expectedLength?: number }, keep?: Uint8Array[]): Promise<number> {
  const hash = createHash(expected.algorithm);
  let size = 0;
  try {
    for await (const chunk of source) {
      size += chunk.byteLength;
      if (size > limits.maxBytes) throw new RegistryError('SIZE_INVALID', `the blob would exceed the registry's limit of ${limits.maxBytes} bytes`, { status: 413 });
      if (keep !== undefined && limits.expectedLength !== undefined && size > limits.expectedLength) {
        throw new RegistryError('SIZE_INVALID', `the body was more than ${limits.expectedLength} bytes, the length its headers said`);
      }
      hash.update(chunk);
      keep?.push(chunk);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new ClientAbortedError(err);
  }
  if (limits.expectedLength !== undefined && size !== limits.expectedLength) {
    throw new RegistryError('SIZE_INVALID', `the body was ${size} bytes; its headers said ${limits.expectedLength}`);
  }
  const actual = hash.digest('hex');
  if (actual !== expected.hex) {
    throw new RegistryError('DIGEST_INVALID', `the content's digest is ${expected.algorithm}:${actual}, not ${expected.text}`, { detail: { digest: expected.text } });
  }
  return size;
}

/** Copies `chunks` into the start of `into`; returns the part filled. */
function gather(chunks: readonly Uint8Array[], into: Buffer): Buffer {
  let at = 0;
  for (const chunk of chunks) {
    into.set(chunk, at);
    at += chunk.byteLength;
  }
  return into.subarray(0, at);
}

/** The client went away mid-body after `written` bytes reached the file. */
export class AbortedAppend extends ClientAbortedError {
  constructor(readonly written: number, cause: unknown) {
    super(cause);
  }
}

export async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/** Hashes a file from its start (re-hashing an upload whose in-memory state was lost). */
export async function hashFile(path: string, algorithm: DigestAlgorithm, length: number): Promise<Hash> {
  const hash = createHash(algorithm);
  if (length === 0) return hash;
  const handle = await open(path, constants.O_RDONLY);
  try {
    const buf = Buffer.allocUnsafe(Math.min(WRITE_BATCH_BYTES, length));
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, length - done), done);
      if (bytesRead === 0) throw new Error(`${path} ended at ${done} bytes, before ${length}`);
      hash.update(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
    return hash;
  } finally {
    await handle.close();
  }
}

/** removeFile on the event loop, for a file that is usually not there (a lookup that fails is cheap). */
export function removeFileSync(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * A directory's fsync, shared: a caller whose rename is done needs one fsync that starts after
 * it. One already running may have started earlier, so callers arriving meanwhile all wait for
 * the next one, which then serves them together (under 16 concurrent pushes, a fraction of the
 * fsyncs, and of their contention with the store's own).
 */
export class GroupedDirSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly syncOnce: () => Promise<void>) {}

  sync(): Promise<void> {
    if (this.running === undefined) {
      const run = this.syncOnce().finally(() => {
        this.running = undefined;
      });
      this.running = run;
      return run;
    }
    this.next ??= this.running
      .catch(() => undefined) // that sync's failure is its own callers'; ours is a new attempt
      .then(() => {
        this.next = undefined;
        return this.sync();
      });
    return this.next;
  }
}

/**
 * A blobs/<alg> directory's grouped fsyncs, on a handle kept open: opening and closing the
 * directory for each fsync were two more trips to the thread pool per commit.
 */
class DirectorySync {
  private handle: Promise<FileHandle> | undefined;
  private readonly grouped = new GroupedDirSync(() => this.syncOnce());

  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    return this.grouped.sync();
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) await (await handle).close();
  }

  private async syncOnce(): Promise<void> {
    this.handle ??= open(this.dir, constants.O_RDONLY);
    const opening = this.handle;
    try {
      await (await opening).sync();
    } catch (err) {
      // A failed open or fsync: the next sync starts from a fresh handle.
      if (this.handle === opening) this.handle = undefined;
      await (await opening.catch(() => undefined))?.close().catch(() => undefined);
      throw err;
    }
  }
}

export const isNotFound = (err: unknown): boolean => (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
