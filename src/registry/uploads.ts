/**
 * Blob upload sessions (POST, PATCH..., PUT): the bytes go to a temp file `<root>/uploads/<id>`,
 * the session's record to the Store, and the running hash stays in memory.
 *
 * A session's record and temp file are made when its first bytes arrive, not when it opens: a
 * session that ends with the PUT that brings all of its bytes (the usual monolithic push) never
 * needs a record, and costs one commit (the blob link) instead of three; if that blob is already
 * stored, the body is only checked, and no file is created (on this disk the dearest syscall of a
 * small push). Until then a session is pending, known to this process only; a restart forgets it,
 * which loses no data, as it has none.
 *
 * Node cannot serialize a hash, so the in-memory state is a cache: whenever it is missing (another
 * process, a restart) or does not describe the temp file exactly, the file is re-hashed from disk.
 * The temp file's length is the truth for the offset: a PATCH cut off by a dropped connection
 * keeps what arrived, and the client resumes from the Range that GET reports. A chunk refused for
 * its length or size is rolled back (file truncated, hash restored from a copy), so a refusal
 * changes nothing. Requests on one session run one at a time, so a status GET never reports a
 * half-written chunk.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import { AbortedAppend, SMALL_BLOB_BYTES, appendStream, hashFile, isNotFound, readVerified, removeFile, removeFileSync, verifyStream } from './blob-store.js';
import type { BlobStore } from './blob-store.js';
import type { Digest, DigestAlgorithm } from './digest.js';
import { RegistryError } from './errors.js';
import type { RegistryMetadata, RepositoryRecord, UploadRecord } from './metadata.js';
import { KeyedMutex } from './mutex.js';

/** A chunk's place in the blob, from Content-Range (inclusive, as the spec writes it). */
export interface ChunkRange {
  readonly start: number;
  readonly end: number;
}

export interface ChunkInput {
  readonly body?: AsyncIterable<Uint8Array>;
  readonly range?: ChunkRange;
  /** The declared Content-Length, when there was one. */
  readonly contentLength?: number;
}

export interface UploadLimits {
  readonly maxBlobBytes: number;
  /** Open sessions across the registry; a new one beyond this is TOOMANYREQUESTS. */
  readonly maxSessions: number;
}

interface LiveState {
  /** The hash of exactly the temp file's first `offset` bytes, or undefined: re-hash from disk. */
  hash: Hash | undefined;
  algorithm: DigestAlgorithm;
  offset: number;
}

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Session ids are UUIDs; anything else from a URL is unknown before it is used anywhere. */
export const isUploadId = (id: string): boolean => SESSION_ID.test(id);

/** The Range header an upload reports: inclusive, and "0-0" when empty, as distribution sends it. */
export const uploadRange = (offset: number): string => `0-${Math.max(0, offset - 1)}`;

export class UploadSessions {
  private readonly live = new Map<string, LiveState>();
  /** Sessions opened here whose record is not written yet (no bytes received). */
  private readonly pending = new Map<string, UploadRecord>();
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: RegistryMetadata,
    private readonly limits: UploadLimits,
    private readonly now: () => Date,
  ) {}

  /** Opens a session in `repository`. */
  async start(repository: string): Promise<UploadRecord> {
    if ((await this.meta.countUploads()) + this.pending.size >= this.limits.maxSessions) {
      throw new RegistryError('TOOMANYREQUESTS', `${this.limits.maxSessions} uploads are in progress; finish or cancel some, or try again later`);
    }
    const id = randomUUID();
    const at = this.now().toISOString();
    const record: UploadRecord = { id, repository, startedAt: at, updatedAt: at, offset: 0 };
    this.pending.set(id, record);
    this.live.set(id, { hash: createHash('sha256'), algorithm: 'sha256', offset: 0 });
    return record;
  }

  /** How many bytes the session holds, once requests already in flight on it are done. */
  async status(repository: string, id: string): Promise<number> {
    return this.mutex.run(id, async () => (await this.open(repository, id)).offset);
  }

  /** PATCH: appends a chunk; returns the new offset. */
  async append(repository: string, id: string, chunk: ChunkInput): Promise<number> {
    return this.mutex.run(id, async () => {
      const state = await this.open(repository, id);
      await this.appendLocked(repository, id, state, chunk, state.algorithm);
      return state.offset;
    });
  }

  /**
   * PUT ?digest=: appends the optional last chunk, verifies the whole blob against `digest`, moves
   * it into the blob store, and ends the session and links the blob into the repository in one
   * commit (creating the repository with `createRepository`, as a push may), the move and the
   * commit side by side. A mismatch (DIGEST_INVALID) ends the session and stores nothing.
   */
  async complete(repository: string, id: string, digest: Digest, chunk: ChunkInput, createRepository?: RepositoryRecord): Promise<{ size: number }> {
    return this.mutex.run(id, async () => {
      const state = await this.open(repository, id);
      if (state.offset === 0 && chunk.body !== undefined) {
        const expectedLength = this.checkChunk(state, chunk);
        if (expectedLength !== undefined && expectedLength <= SMALL_BLOB_BYTES) {
          // The whole of a small blob in this PUT: held in memory and verified, then written as a
          // blob (or claimed, if stored already) while the link commits; no upload file at all.
          const bytes = await this.endOnMismatch(id, readVerified(digest, chunk.body, { maxBytes: this.limits.maxBlobBytes, expectedLength }));
          // An empty temp file a refused chunk left (the session has no bytes) goes with the session.
          removeFileSync(this.blobs.tempPath(id));
          await allOrFirstError([this.blobs.writeBytes(digest, bytes), this.finish(repository, id, digest, bytes.byteLength, createRepository)]);
          return { size: bytes.byteLength };
        }
        if (await this.blobs.touch(digest)) {
          // The whole blob in this PUT, and it is stored already (now claimed): check the body only.
          const limits = { maxBytes: this.limits.maxBlobBytes, ...(expectedLength !== undefined && { expectedLength }) };
          const size = await this.endOnMismatch(id, verifyStream(digest, chunk.body, limits));
          await this.finish(repository, id, digest, size, createRepository);
          return { size };
        }
      }
      // No progress record for the last chunk: the session ends below either way. Its bytes are
      // fsynced on the handle that wrote them, so commit need not open the file again.
      const writtenAt = this.now();
      const synced = await this.appendLocked(repository, id, state, chunk, digest.algorithm, { saveProgress: false, sync: true });
      const hash = await this.hashOf(id, state, digest.algorithm);
      state.hash = undefined; // digest() consumes it
      const actual = hash.digest('hex');
      if (actual !== digest.hex) {
        await this.end(id);
        throw new RegistryError('DIGEST_INVALID', `the uploaded content's digest is ${digest.algorithm}:${actual}, not ${digest.text}`, { detail: { digest: digest.text } });
      }
      const temp = this.blobs.tempPath(id);
      // The bytes written just now stamped the file; a PUT of no bytes commits an idle one, and
      // one that ends an upload of PATCHes may find its blob stored already.
      const place = synced === 'wrote' ? this.blobs.commit(temp, digest, { writtenAt }) : synced === 'synced' ? this.blobs.commit(temp, digest) : this.blobs.adopt(temp, digest);
      // The verified bytes go into place (rename, directory fsync) while the link commits: two
      // waits for the disk side by side instead of one after the other. The 201 waits for both.
      // Should a crash come between them, a link whose bytes did not make it is a state every
      // reader handles already (the blob is unknown; a manifest naming it is refused; GC drops
      // the link), and the client, never answered, pushes again.
      await allOrFirstError([place, this.finish(repository, id, digest, state.offset, createRepository)]);
      return { size: state.offset };
    });
  }

  /** `work`'s result; a DIGEST_INVALID from it ends the session first, so nothing of it is kept. */
  private async endOnMismatch<T>(id: string, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'DIGEST_INVALID') await this.end(id);
      throw err;
    }
  }

  /** Ends a verified session: forgets it, and drops its record while linking the blob into the repository, in one commit. */
  private finish(repository: string, id: string, digest: Digest, size: number, createRepository: RepositoryRecord | undefined): Promise<void> {
    this.live.delete(id);
    const recorded = !this.pending.delete(id);
    return this.meta.finishUpload({ id, recorded }, repository, digest.text, size, this.now(), createRepository);
  }

  /** DELETE: drops the session and its bytes. */
  async cancel(repository: string, id: string): Promise<void> {
    await this.mutex.run(id, async () => {
      await this.open(repository, id);
      await this.end(id);
    });
  }

  /**
   * Ends sessions idle since before `cutoff` and removes temp files nobody owns that are older
   * than it (a crashed process's). Returns how many sessions and stray files went.
   */
  async expire(cutoff: Date): Promise<{ sessions: number; strays: number }> {
    let sessions = 0;
    const known = new Set<string>(this.pending.keys());
    for (const record of [...this.pending.values()]) {
      if (new Date(record.startedAt).getTime() >= cutoff.getTime() || this.mutex.busy(record.id)) continue;
      await this.mutex.run(record.id, async () => {
        if (!this.pending.has(record.id)) return;
        await this.end(record.id);
        sessions++;
      });
    }
    for await (const record of this.meta.allUploads()) {
      known.add(record.id);
      if (new Date(record.updatedAt).getTime() >= cutoff.getTime() || this.mutex.busy(record.id)) continue;
      await this.mutex.run(record.id, async () => {
        const current = await this.meta.getUpload(record.id);
        if (current === undefined || new Date(current.updatedAt).getTime() >= cutoff.getTime()) return;
        await this.end(record.id);
        sessions++;
      });
    }
    let strays = 0;
    for (const name of await readdir(this.blobs.uploadsDir)) {
      if (known.has(name) || this.mutex.busy(name)) continue;
      const path = this.blobs.tempPath(name);
      try {
        if ((await stat(path)).mtimeMs >= cutoff.getTime()) continue;
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      // A session started after the listing above has a fresh file, so it is never old here.
      await removeFile(path);
      strays++;
    }
    return { sessions, strays };
  }

  /** The session's state, reconciled with its temp file; BLOB_UPLOAD_UNKNOWN if there is none. */
  private async open(repository: string, id: string): Promise<LiveState> {
    const record = SESSION_ID.test(id) ? (this.pending.get(id) ?? (await this.meta.getUpload(id))) : undefined;
    if (record === undefined || record.repository !== repository) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload '${id}' is unknown in repository '${repository}' (finished, cancelled or expired)`, { detail: { uuid: id } });
    }
    // A pending session holds no bytes: its file, if a refused chunk left one, is empty.
    if (this.pending.has(id)) return this.liveState(id, 0);
    let size: number;
    try {
      size = (await stat(this.blobs.tempPath(id))).size;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.end(id);
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload '${id}' lost its data; start again`, { detail: { uuid: id } });
    }
    return this.liveState(id, size);
  }

  /** The cached state if it describes a file of `size` bytes, else a fresh one (re-hash on use). */
  private liveState(id: string, size: number): LiveState {
    let state = this.live.get(id);
    if (state === undefined || state.offset !== size) {
      state = { hash: undefined, algorithm: state?.algorithm ?? 'sha256', offset: size };
      this.live.set(id, state);
    }
    return state;
  }

  /** The running hash in `algorithm`, re-hashing the temp file when the cached one cannot serve. */
  private async hashOf(id: string, state: LiveState, algorithm: DigestAlgorithm): Promise<Hash> {
    if (state.hash !== undefined && state.algorithm === algorithm) return state.hash;
    state.hash = state.offset === 0 ? createHash(algorithm) : await hashFile(this.blobs.tempPath(id), algorithm, state.offset);
    state.algorithm = algorithm;
    return state.hash;
  }

  /**
   * Appends a chunk. With `sync`, says how the whole file was fsynced: 'wrote' (bytes were written
   * to it just now), 'synced' (none were), or false when there was no body to open it for.
   */
  private async appendLocked(
    repository: string,
    id: string,
    state: LiveState,
    chunk: ChunkInput,
    algorithm: DigestAlgorithm,
    options = { saveProgress: true, sync: false },
  ): Promise<'wrote' | 'synced' | false> {
    const expected = this.checkChunk(state, chunk);
    if (chunk.body === undefined) {
      if (expected !== undefined && expected !== 0) throw new RegistryError('SIZE_INVALID', `the chunk declared ${expected} bytes but had no body`);
      return false;
    }
    const hash = await this.hashOf(id, state, algorithm);
    const before = hash.copy();
    const start = state.offset;
    // The first bytes create the file ('w' on an empty session truncates nothing).
    const handle = await open(this.blobs.tempPath(id), start === 0 ? 'w' : 'r+', 0o644);
    let written: number;
    try {
      written = (await appendStream(handle, start, chunk.body, hash, this.limits.maxBlobBytes - start)).written;
      if (expected !== undefined && written !== expected) {
        throw new RegistryError('SIZE_INVALID', `the chunk was ${written} bytes; its headers said ${expected}`);
      }
      if (options.sync) await handle.sync();
    } catch (err) {
      if (err instanceof AbortedAppend) {
        // Keep what arrived: the client asks for the status and resumes from there.
        state.offset = start + err.written;
        await this.save(repository, id, state.offset);
      } else {
        await handle.truncate(start);
        state.hash = before;
        state.offset = start;
      }
      throw err;
    } finally {
      await handle.close();
    }
    state.offset = start + written;
    if (options.saveProgress) await this.save(repository, id, state.offset);
    if (!options.sync) return false;
    return written > 0 ? 'wrote' : 'synced';
  }

  /** Checks a chunk's place and declared length against the session; returns that length, if declared. */
  private checkChunk(state: LiveState, chunk: ChunkInput): number | undefined {
    const { range, contentLength } = chunk;
    if (range !== undefined && range.start !== state.offset) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', `the chunk starts at byte ${range.start}, but the upload holds ${state.offset} bytes: send from ${state.offset}`, {
        status: 416,
        headers: { Range: uploadRange(state.offset) },
      });
    }
    const expected = range === undefined ? contentLength : range.end - range.start + 1;
    if (range !== undefined && contentLength !== undefined && contentLength !== expected) {
      throw new RegistryError('SIZE_INVALID', `Content-Length ${contentLength} does not match Content-Range ${range.start}-${range.end} (${expected} bytes)`);
    }
    if (state.offset + (expected ?? 0) > this.limits.maxBlobBytes) {
      throw new RegistryError('SIZE_INVALID', `the blob would exceed the registry's limit of ${this.limits.maxBlobBytes} bytes`, { status: 413 });
    }
    return expected;
  }

  private async save(repository: string, id: string, offset: number): Promise<void> {
    const pending = this.pending.get(id);
    if (pending !== undefined) {
      // The first bytes: from now on the session outlives this process.
      await this.meta.createUpload({ ...pending, repository, offset, updatedAt: this.now().toISOString() });
      this.pending.delete(id);
      return;
    }
    const current = await this.meta.getUpload(id);
    if (current === undefined) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload '${id}' was cancelled meanwhile`, { detail: { uuid: id } });
    await this.meta.saveUpload({ ...current, repository, offset, updatedAt: this.now().toISOString() });
  }

  private async end(id: string): Promise<void> {
    this.live.delete(id);
    const recorded = !this.pending.delete(id);
    await removeFile(this.blobs.tempPath(id));
    if (recorded) await this.meta.deleteUpload(id);
  }
}

/** Waits for every promise to settle (none is left running behind an error), then throws the first error, if any. */
async function allOrFirstError(promises: readonly Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(promises);
  for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
}
