/**
 * The blob store on a real temp directory: verified streaming writes that leave nothing behind on
 * any failure, concurrent writers of one blob, claims (touch) against sweeps.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedAppend, BlobStore, SMALL_BLOB_BYTES, WRITEBACK_BYTES, appendStream } from './blob-store.js';
import { digestOf, parseDigest } from './digest.js';
import { ClientAbortedError, RegistryError } from './errors.js';
import { bytesOf } from './harness.suite.js';

let root: string;
let now: Date;
let blobs: BlobStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-blobs-'));
  now = new Date('2026-01-01T00:00:00Z');
  blobs = await BlobStore.open(root, { now: () => now });
});
afterEach(async () => {
  await blobs.close();
  await rm(root, { recursive: true, force: true });
});

/** A body arriving in pieces, each after a turn of the event loop (as from a socket). */
async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const part of parts) {
    await new Promise((resolve) => setImmediate(resolve));
    yield part;
  }
}

async function* failingAfter(part: Uint8Array): AsyncIterable<Uint8Array> {
  yield* chunks(part);
  throw new Error('socket hang up');
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RegistryError) return `${err.code} ${err.status}`;
    if (err instanceof ClientAbortedError) return 'aborted';
    throw err;
  }
  return 'ok';
}

const nothingLeft = async () => ({ uploads: await readdir(join(root, 'uploads')), sha256: await readdir(join(root, 'blobs', 'sha256')) });

describe('BlobStore', () => {
  it('bodies of many socket-sized chunks, written side by side, are stored exactly (batch buffers are shared, never mixed)', async () => {
    const pieces = (body: Buffer, size: number) => Array.from({ length: Math.ceil(body.length / size) }, (_, i) => body.subarray(i * size, (i + 1) * size));
    const bodies = [bytesOf(3 * 1024 * 1024 + 333, 41), bytesOf(2 * 1024 * 1024 + 7, 42), bytesOf(5 * 1024 * 1024 + 1, 43)];
    const sizes = [65_536, 70_001, 200_003];
    // Twice: the second round writes with the buffers the first gave back.
    for (let round = 0; round < 2; round++) {
      const stored = await Promise.all(
        bodies.map((body, i) => {
          const b = Buffer.concat([body, Buffer.from([round])]);
          return blobs.write(digestOf(b), chunks(...pieces(b, sizes[i]!)), { maxBytes: b.length, expectedLength: b.length }).then(() => b);
        }),
      );
      for (const b of stored) expect((await readFile(blobs.path(digestOf(b)))).equals(b)).toBe(true);
    }
  });

  it('lays blobs out as <root>/blobs/<alg>/<hex>, written from a stream', async () => {
    const body = bytesOf(3 * 1024 * 1024 + 5);
    const digest = digestOf(body);
    const stored = await blobs.write(digest, chunks(body.subarray(0, 100), body.subarray(100)), { maxBytes: body.length, expectedLength: body.length });
    expect(stored.size).toBe(body.length);
    expect((await readFile(join(root, 'blobs', 'sha256', digest.hex))).equals(body)).toBe(true);
    expect(await blobs.stat(digest)).toMatchObject({ size: body.length, mtimeMs: now.getTime() });
    expect((await blobs.read(digest))!.equals(body)).toBe(true);
    expect(await readdir(join(root, 'uploads'))).toEqual([]);
    const sha512 = digestOf(body, 'sha512');
    await blobs.write(sha512, chunks(body), { maxBytes: body.length });
    expect(await readdir(join(root, 'blobs', 'sha512'))).toEqual([sha512.hex]);
  });

  it('refuses a wrong digest, a wrong length, an oversized body and a broken stream, leaving nothing', async () => {
    const body = bytesOf(2000);
    const other = digestOf(Buffer.from('other'));
    expect(await codeOf(blobs.write(other, chunks(body), { maxBytes: 10_000 }))).toBe('DIGEST_INVALID 400');
    expect(await codeOf(blobs.write(digestOf(body), chunks(body), { maxBytes: 10_000, expectedLength: 2001 }))).toBe('SIZE_INVALID 400');
    expect(await codeOf(blobs.write(digestOf(body), chunks(body), { maxBytes: 1999 }))).toBe('SIZE_INVALID 413');
    expect(await codeOf(blobs.write(digestOf(body), failingAfter(body.subarray(0, 10)), { maxBytes: 10_000 }))).toBe('aborted');
    expect(await nothingLeft()).toEqual({ uploads: [], sha256: [] });
  });

  it('a body of a declared length up to SMALL_BLOB_BYTES is held in memory: stored exactly, and every refusal leaves nothing', async () => {
    const body = bytesOf(SMALL_BLOB_BYTES, 7);
    const digest = digestOf(body);
    expect(await codeOf(blobs.write(digestOf(Buffer.from('other')), chunks(body), { maxBytes: 1 << 20, expectedLength: body.length }))).toBe('DIGEST_INVALID 400');
    // Longer than declared: refused at the byte past the declared length.
    expect(await codeOf(blobs.write(digest, chunks(body.subarray(0, 100), body.subarray(100)), { maxBytes: 1 << 20, expectedLength: 100 }))).toBe('SIZE_INVALID 400');
    expect(await codeOf(blobs.write(digest, chunks(body.subarray(0, 100)), { maxBytes: 1 << 20, expectedLength: body.length }))).toBe('SIZE_INVALID 400');
    expect(await codeOf(blobs.write(digest, chunks(body), { maxBytes: 100, expectedLength: body.length }))).toBe('SIZE_INVALID 413');
    expect(await codeOf(blobs.write(digest, failingAfter(body.subarray(0, 10)), { maxBytes: 1 << 20, expectedLength: body.length }))).toBe('aborted');
    expect(await nothingLeft()).toEqual({ uploads: [], sha256: [] });

    const pieces = Array.from({ length: 8 }, (_, i) => body.subarray(i * 8192, (i + 1) * 8192));
    expect(await blobs.write(digest, chunks(...pieces), { maxBytes: 1 << 20, expectedLength: body.length })).toEqual({ digest, size: body.length });
    expect((await readFile(blobs.path(digest))).equals(body)).toBe(true);
    expect(await nothingLeft()).toEqual({ uploads: [], sha256: [digest.hex] });
    // Stored already: the body is checked, the file stays as it is.
    const before = await stat(blobs.path(digest));
    await blobs.write(digest, chunks(body), { maxBytes: 1 << 20, expectedLength: body.length });
    await blobs.writeBytes(digest, body);
    expect((await stat(blobs.path(digest))).ino).toBe(before.ino);
  });

  it('writeBytes of a small blob whose rename fails leaves no temp file behind', async () => {
    const body = Buffer.from('{"small":true}');
    const digest = digestOf(body);
    // No blobs/sha256 directory to rename into: the temp file is written and fsynced, then the rename fails.
    await rm(join(root, 'blobs', 'sha256'), { recursive: true });
    await expect(blobs.writeBytes(digest, body)).rejects.toThrow();
    expect(await readdir(join(root, 'uploads'))).toEqual([]);
  });

  it('concurrent writers of one blob leave one complete file', async () => {
    const body = bytesOf(2 * 1024 * 1024, 3);
    const digest = digestOf(body);
    // Each writer yields in small pieces, so their writes interleave.
    const pieces = Array.from({ length: 32 }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
    await Promise.all(Array.from({ length: 8 }, () => blobs.write(digest, chunks(...pieces), { maxBytes: body.length })));
    const { uploads, sha256 } = await nothingLeft();
    expect(uploads).toEqual([]);
    expect(sha256).toEqual([digest.hex]);
    expect(createHash('sha256').update(await readFile(join(root, 'blobs', 'sha256', digest.hex))).digest('hex')).toBe(digest.hex);
  });

  it('a sweep removes only blobs not claimed since the cutoff', async () => {
    const a = digestOf(Buffer.from('a'));
    const b = digestOf(Buffer.from('b'));
    await blobs.writeBytes(a, Buffer.from('a'));
    await blobs.writeBytes(b, Buffer.from('b'));
    now = new Date(now.getTime() + 60_000);
    expect(await blobs.touch(b)).toBe(true); // b is claimed again (a mount, a manifest)
    const cutoff = now.getTime();
    expect(await blobs.sweep(a, cutoff)).toBe(1);
    expect(await blobs.sweep(b, cutoff)).toBeUndefined();
    expect(await blobs.stat(a)).toBeUndefined();
    expect(await blobs.touch(a)).toBe(false);
    expect(await blobs.sweep(a, cutoff)).toBeUndefined();
  });

  it('commit stamps the blob with the clock, however long the temp file sat', async () => {
    const temp = blobs.tempPath();
    await writeFile(temp, 'x');
    now = new Date('2027-01-01T00:00:00Z');
    const digest = digestOf(Buffer.from('x'));
    await blobs.commit(temp, digest);
    expect((await stat(blobs.path(digest))).mtimeMs).toBe(now.getTime());
  });

  it('lists blobs and skips files that are not digests', async () => {
    const a = digestOf(Buffer.from('a'));
    await blobs.writeBytes(a, Buffer.from('a'));
    await writeFile(join(root, 'blobs', 'sha256', 'stray'), 'x');
    const listed = [];
    for await (const blob of blobs.list()) listed.push(blob.digest.text);
    expect(listed).toEqual([a.text]);
    expect(await blobs.openRead(parseDigest(`sha256:${'0'.repeat(64)}`))).toBeUndefined();
  });
});

describe('BlobStore claims remembered (reclaimAfterMs)', () => {
  const MINUTE = 60_000;

  it('a claim within the window answers without touching the file; past it, the file is touched again', async () => {
    let clock = new Date('2026-01-01T00:00:00Z');
    const store = await BlobStore.open(root, { now: () => clock, reclaimAfterMs: MINUTE });
    const digest = digestOf(Buffer.from('a'));
    await store.writeBytes(digest, Buffer.from('a'));
    const written = clock.getTime();
    clock = new Date(written + MINUTE - 1);
    expect(await store.touch(digest)).toBe(true);
    expect((await stat(store.path(digest))).mtimeMs).toBe(written); // answered from memory
    clock = new Date(written + MINUTE);
    expect(await store.touch(digest)).toBe(true);
    expect((await stat(store.path(digest))).mtimeMs).toBe(clock.getTime());
    await store.close();
  });

  it('a blob swept is no longer claimed from memory, and a clock that went back is not trusted', async () => {
    let clock = new Date('2026-01-01T00:00:00Z');
    const store = await BlobStore.open(root, { now: () => clock, reclaimAfterMs: MINUTE });
    const digest = digestOf(Buffer.from('b'));
    await store.writeBytes(digest, Buffer.from('b'));
    // A sweep with a cutoff past the claim (only a GC with a grace period under the window can
    // have one) removes the blob; the remembered claim goes with it.
    expect(await store.sweep(digest, clock.getTime() + 1)).toBe(1);
    expect(await store.touch(digest)).toBe(false);
    await store.writeBytes(digest, Buffer.from('b'));
    clock = new Date(clock.getTime() - 1000);
    expect(await store.touch(digest)).toBe(true);
    expect((await stat(store.path(digest))).mtimeMs).toBe(clock.getTime());
    await store.close();
  });

  it('without a window (the default) every claim touches the file', async () => {
    const digest = digestOf(Buffer.from('c'));
    await blobs.writeBytes(digest, Buffer.from('c'));
    now = new Date(now.getTime() + 1000);
    expect(await blobs.touch(digest)).toBe(true);
    expect((await stat(blobs.path(digest))).mtimeMs).toBe(now.getTime());
  });

  it('on the system clock a blob written just now keeps the mtime the kernel gave it; an idle temp file is stamped at commit', async () => {
    const store = await BlobStore.open(root);
    const before = Date.now();
    const digest = digestOf(Buffer.from('fresh'));
    await store.writeBytes(digest, Buffer.from('fresh'));
    const { mtimeMs } = await stat(store.path(digest));
    expect(mtimeMs).toBeGreaterThanOrEqual(before - 1000);
    // The kernel's timestamp has nanoseconds and Date.now() whole milliseconds: a file stamped
    // at 1795377057012.0107 was seen against a later Date.now() of 1795377057012.
    expect(Math.floor(mtimeMs)).toBeLessThanOrEqual(Date.now());

    const temp = store.tempPath();
    await writeFile(temp, 'idle');
    const longAgo = new Date('2020-01-01T00:00:00Z');
    await utimes(temp, longAgo, longAgo);
    const idle = digestOf(Buffer.from('idle'));
    const committing = Date.now();
    await store.commit(temp, idle);
    expect((await stat(store.path(idle))).mtimeMs).toBeGreaterThanOrEqual(committing - 1000);
    await store.close();
  });

  it('keeps a directory open for its fsyncs, and commits again after close', async () => {
    const a = digestOf(Buffer.from('a'));
    await blobs.writeBytes(a, Buffer.from('a'));
    await blobs.close();
    const b = digestOf(Buffer.from('b'));
    await blobs.writeBytes(b, Buffer.from('b'));
    expect((await blobs.read(b))?.toString()).toBe('b');
  });
});

describe('appendStream flushes a long body to disk while it arrives', () => {
  const CHUNK = 256 * 1024;
  /** A body of `count` chunks; `yielded` says how many have been handed out so far. */
  function body(count: number, fail = false) {
    const bytes = bytesOf(count * CHUNK, 44);
    const state = { yielded: 0 };
    async function* source(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < count; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        state.yielded++;
        yield bytes.subarray(i * CHUNK, (i + 1) * CHUNK);
      }
      if (fail) throw new Error('socket hang up');
    }
    return { bytes, state, source };
  }

  /** A real file handle whose fdatasyncs log how many chunks had been received, and may fail. */
  async function loggingHandle(path: string, yielded: () => number, failure?: Error) {
    const real = await open(path, 'w+');
    const syncs: number[] = [];
    const handle = new Proxy(real, {
      get(target, prop) {
        if (prop === 'datasync') {
          return async () => {
            syncs.push(yielded());
            if (failure !== undefined) throw failure;
            return target.datasync();
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    return { handle, syncs, close: () => real.close() };
  }

  it('starts a flush each WRITEBACK_BYTES written, before the body ends, and has them all done on return', async () => {
    const count = Math.ceil((2.5 * WRITEBACK_BYTES) / CHUNK);
    const { bytes, state, source } = body(count);
    const path = join(root, 'long');
    const { handle, syncs, close } = await loggingHandle(path, () => state.yielded);
    const hash = createHash('sha256');
    try {
      expect(await appendStream(handle, 0, source(), hash, bytes.length)).toEqual({ written: bytes.length });
    } finally {
      await close();
    }
    expect(syncs.length).toBeGreaterThanOrEqual(2);
    expect(syncs[0]).toBeGreaterThanOrEqual(WRITEBACK_BYTES / CHUNK);
    expect(syncs[0]).toBeLessThan(count);
    expect((await readFile(path)).equals(bytes)).toBe(true);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('a body shorter than WRITEBACK_BYTES is not flushed early (the caller fsyncs it once)', async () => {
    const { bytes, state, source } = body(Math.floor(WRITEBACK_BYTES / CHUNK) - 1);
    const { handle, syncs, close } = await loggingHandle(join(root, 'short'), () => state.yielded);
    try {
      await appendStream(handle, 0, source(), createHash('sha256'), bytes.length);
    } finally {
      await close();
    }
    expect(syncs).toEqual([]);
  });

  it('a flush that fails fails the append, even when the client also went away (the disk lost bytes)', async () => {
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    for (const fail of [false, true]) {
      const { bytes, state, source } = body(Math.ceil((1.5 * WRITEBACK_BYTES) / CHUNK), fail);
      const { handle, syncs, close } = await loggingHandle(join(root, `eio-${fail}`), () => state.yielded, eio);
      try {
        await expect(appendStream(handle, 0, source(), createHash('sha256'), bytes.length)).rejects.toBe(eio);
      } finally {
        await close();
      }
      expect(syncs).toHaveLength(1);
    }
    // Without the failing flush, the broken body is an AbortedAppend that keeps what arrived.
    const { bytes, state, source } = body(Math.ceil((1.5 * WRITEBACK_BYTES) / CHUNK), true);
    const { handle, close } = await loggingHandle(join(root, 'aborted'), () => state.yielded);
    try {
      const err = await appendStream(handle, 0, source(), createHash('sha256'), bytes.length).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbortedAppend);
      expect((err as AbortedAppend).written).toBe(bytes.length);
    } finally {
      await close();
    }
  });
});
