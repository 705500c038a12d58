/**
 * Sends a byte range of a blob file on an HTTP response with reused buffers.
 *
 * Node cannot sendfile(2), so every byte of a download is read into memory and written to the
 * socket; what it can avoid is the rest of the cost. A file stream allocates a new buffer for every
 * chunk: 100 MiB in 1 MiB chunks is 100 fresh mmap'd, zero-filled buffers, and their external
 * memory drives V8 into full (mark-compact) collections of the server's whole heap, which took a
 * third of the CPU of serving a layer. Here each download reads into two buffers taken from a
 * shared pool, alternately: the next chunk is read while the previous one is on its way to the
 * socket, and a buffer is read into again only once its write has completed (the socket no longer
 * refers to it), so at most two chunks per download are in flight and a slow reader holds the
 * server to that. Each buffer goes to the socket in slices (WRITE_SLICE_BYTES, below).
 */
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { ClientAbortedError } from './errors.js';

/**
 * The bytes of one write to the socket. A buffer's bytes go to the socket a slice at a time, the
 * next once the kernel has taken the last, as Go's io.Copy writes (32 KiB). One write of a whole
 * read buffer (1-4 MiB) fills the socket's send queue far past what the client's receive window
 * lets out; the kernel then sends the rest as the client's ACKs open the window, and on loopback
 * that sending, and the delivery into the client's socket, runs on the client's reading thread.
 * Paired skopeo pulls of a 105 MB image against docker-registry, 30 pairs per run: 4 MiB writes
 * 0.96-1.01x, skopeo using 20-30 ms more CPU per pull than against docker-registry; 32 KiB slices
 * 1.02-1.06x, the same CPU as against docker-registry; the server's own CPU per pull rose ~10 ms.
 */
export const WRITE_SLICE_BYTES = 32 * 1024;

/** Reused read buffers of one size; at most `maxFree` are kept between downloads. */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly maxFree: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Only for a buffer nothing refers to any more (its writes completed). */
  give(buffer: Buffer): void {
    if (buffer.length === this.size && this.free.length < this.maxFree && !this.free.includes(buffer)) this.free.push(buffer);
  }

  /** Buffers kept for reuse (tests). */
  get idle(): number {
    return this.free.length;
  }
}

/** What sendFileRange needs of the response: a ServerResponse is one. */
export type ByteSink = Pick<Writable, 'write' | 'end' | 'once' | 'off' | 'destroyed' | 'writableFinished'>;

/**
 * Writes bytes `start`..`end` (inclusive) of `handle` to `out`, then ends it, and closes the handle
 * whatever happens (as soon as the last read is done). Throws ClientAbortedError when `out` closes
 * first (the client went away), and an Error when the file holds fewer bytes than asked for (the
 * response is then short of its Content-Length: the caller must destroy it). A range of at most
 * `smallBytes` is read into one buffer of its own size instead of the pool's. One write hands `out`
 * at most `sliceBytes`, and the next waits for it.
 */
export async function sendFileRange(
  handle: FileHandle,
  out: ByteSink,
  start: number,
  end: number,
  pool: BufferPool,
  smallBytes = 64 * 1024,
  sliceBytes = WRITE_SLICE_BYTES,
): Promise<void> {
  const length = end - start + 1;
  // A rejection that fires when the response closes before it finished: every wait races it, so
  // a write whose callback never comes (its socket gone) cannot hang the download.
  let onClose!: () => void;
  const closed = new Promise<never>((_, reject) => {
    onClose = () => {
      if (!out.writableFinished) reject(new ClientAbortedError(new Error('the response closed before the blob was sent')));
    };
  });
  closed.catch(() => undefined);
  out.once('close', onClose);
  const buffers: Buffer[] = [];
  /** Each buffer's write in flight, by index: resolved once the socket is done with it. */
  const writes: (Promise<void> | undefined)[] = [undefined, undefined];
  /** The last write started: the next one waits for it, so the slices go out in order. */
  let tail: Promise<void> = Promise.resolve();
  let handleOpen = true;
  let clean = false;
  try {
    if (out.destroyed) throw new ClientAbortedError(new Error('the response closed before the blob was sent'));
    const small = length <= smallBytes;
    buffers.push(small ? Buffer.allocUnsafe(Math.max(length, 0)) : pool.take());
    if (!small && length > pool.size) buffers.push(pool.take());
    let position = start;
    let remaining = length;
    for (let i = 0; remaining > 0; i = (i + 1) % buffers.length) {
      const buffer = buffers[i]!;
      const pending = writes[i];
      if (pending !== undefined) await Promise.race([pending, closed]);
      const want = Math.min(buffer.length, remaining);
      const read = readFully(handle, buffer, want, position);
      read.catch(() => undefined); // awaited below, unless the response closes first
      const { bytesRead } = await Promise.race([read, closed]);
      if (bytesRead < want) throw new Error(`the blob file ended at byte ${position + bytesRead}, before byte ${end + 1}`);
      position += want;
      remaining -= want;
      if (remaining === 0) {
        handleOpen = false;
        await handle.close();
      }
      const chunk = want === buffer.length ? buffer : buffer.subarray(0, want);
      const write = tail.then(() => writeSlices(out, chunk, sliceBytes));
      write.catch(() => undefined); // awaited before the buffer is reused or the response ended
      writes[i] = write;
      tail = write;
    }
    await Promise.race([Promise.all(writes.filter((w) => w !== undefined)), closed]);
    clean = true;
    out.end();
  } finally {
    out.off('close', onClose);
    if (handleOpen) await handle.close();
    // A buffer whose write never completed (an abort) may still be referenced by the socket: it is
    // left to the collector, never reused.
    if (clean && length > smallBytes) for (const buffer of buffers) pool.give(buffer);
  }
}

/** Reads `want` bytes at `position` into the start of `buffer`, in several reads if the OS gives fewer. */
async function readFully(handle: FileHandle, buffer: Buffer, want: number, position: number): Promise<{ bytesRead: number }> {
  let done = 0;
  while (done < want) {
    const { bytesRead } = await handle.read(buffer, done, want - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return { bytesRead: done };
}

/** Writes a chunk `sliceBytes` at a time, each once the one before it is done. */
async function writeSlices(out: ByteSink, chunk: Buffer, sliceBytes: number): Promise<void> {
  for (let at = 0; at < chunk.length; at += sliceBytes) await writeChunk(out, chunk.subarray(at, Math.min(at + sliceBytes, chunk.length)));
}

/** Writes a chunk; resolves when the stream is done with its bytes, rejects on a write error. */
function writeChunk(out: ByteSink, chunk: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    out.write(chunk, (err) => (err ? reject(new ClientAbortedError(err)) : resolve()));
  });
}
