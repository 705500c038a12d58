/**
 * sendFileRange: whole files and ranges across buffer boundaries over a real HTTP socket, buffer
 * reuse (never before the socket is done with a chunk), writes a slice at a time, clients that
 * vanish, files shorter than asked for; the file handle is closed on every path.
 */
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { createServer, get } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferPool, sendFileRange } from './blob-send.js';
import { ClientAbortedError } from './errors.js';
import { bytesOf } from './harness.suite.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-blob-send-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let files = 0;
async function fileOf(bytes: Buffer): Promise<string> {
  const path = join(dir, `f${++files}`);
  await writeFile(path, bytes);
  return path;
}

/** What the server side of one request did: the handle it used and how sendFileRange ended. */
interface Served {
  readonly res: ServerResponse;
  readonly handle: FileHandle;
  readonly outcome: Promise<unknown>;
}

/** An HTTP server that answers every GET with bytes start..end of `path` through sendFileRange. */
async function serveFile(path: string, start: number, end: number, pool: BufferPool, smallBytes: number) {
  const served: Served[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const handle = await open(path, 'r');
      res.writeHead(200, { 'Content-Length': String(end - start + 1) });
      const outcome = sendFileRange(handle, res, start, end, pool, smallBytes).then(
        () => 'sent',
        (err: unknown) => {
          res.destroy();
          return err;
        },
      );
      served.push({ res, handle, outcome });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    served,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Re-checks a condition at every turn of the event loop (the test's timeout bounds it). */
async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

function download(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * A sink that completes each write later (as a slow socket does) and only then looks at the
 * chunk's bytes: a buffer read into again before its write completed shows up as wrong bytes.
 */
class SlowSink extends Writable {
  readonly received: Buffer[] = [];
  constructor(private readonly failAfter = Infinity) {
    super({ highWaterMark: 1 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    setTimeout(() => {
      if (this.received.length >= this.failAfter) {
        this.destroy();
        return;
      }
      this.received.push(Buffer.from(chunk));
      callback();
    }, 1);
  }
}

describe('sendFileRange', () => {
  it('sends a file many buffers long whole, over a socket, and puts its buffers back in the pool', async () => {
    const body = bytesOf(10_007, 1);
    const pool = new BufferPool(1000, 4);
    const server = await serveFile(await fileOf(body), 0, body.length - 1, pool, 100);
    try {
      expect((await download(server.port)).equals(body)).toBe(true);
      expect(await server.served[0]!.outcome).toBe('sent');
      expect(server.served[0]!.handle.fd).toBe(-1);
      expect(pool.idle).toBe(2);
      // The next download reuses them rather than allocating.
      const kept = [pool.take(), pool.take()];
      pool.give(kept[0]!);
      pool.give(kept[1]!);
      expect((await download(server.port)).equals(body)).toBe(true);
      expect(pool.idle).toBe(2);
      expect([pool.take(), pool.take()].every((b) => kept.includes(b))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('sends ranges that start and end mid-buffer, span buffer boundaries, or fit in one', async () => {
    const body = bytesOf(5000, 2);
    const path = await fileOf(body);
    const pool = new BufferPool(1024, 4);
    for (const [start, end] of [
      [1, 4998],
      [1000, 3071],
      [1023, 1024],
      [4999, 4999],
      [300, 1500],
      [0, 1023],
    ] as const) {
      const sink = new SlowSink();
      const handle = await open(path, 'r');
      await sendFileRange(handle, sink, start, end, pool, 0);
      expect({ start, end, ok: Buffer.concat(sink.received).equals(body.subarray(start, end + 1)) }).toEqual({ start, end, ok: true });
      expect(sink.received.every((c) => c.length <= 1024)).toBe(true);
      expect(handle.fd).toBe(-1);
    }
  });

  it('never reads into a buffer whose write has not completed (a slow reader gets the right bytes)', async () => {
    const body = bytesOf(64 * 1024 + 17, 3);
    const sink = new SlowSink();
    const handle = await open(await fileOf(body), 'r');
    await sendFileRange(handle, sink, 0, body.length - 1, new BufferPool(4096, 2), 0);
    expect(sink.received.length).toBe(17);
    expect(Buffer.concat(sink.received).equals(body)).toBe(true);
    expect(sink.writableEnded).toBe(true);
  });

  it('writes each buffer a slice at a time, one write handed to the socket at once, in order', async () => {
    const body = bytesOf(3 * 4096 + 1500, 8);
    const sink = new SlowSink();
    let inFlight = 0;
    let most = 0;
    const write = sink.write.bind(sink) as (chunk: Buffer, callback: (err?: Error | null) => void) => boolean;
    sink.write = ((chunk: Buffer, callback: (err?: Error | null) => void) => {
      most = Math.max(most, ++inFlight);
      return write(chunk, (err) => {
        inFlight--;
        callback(err);
      });
    }) as typeof sink.write;
    const handle = await open(await fileOf(body), 'r');
    await sendFileRange(handle, sink, 0, body.length - 1, new BufferPool(4096, 2), 0, 1000);
    expect(Buffer.concat(sink.received).equals(body)).toBe(true);
    // 4096 = 1000 x 4 + 96 per buffer, and the last buffer's 1500 = 1000 + 500.
    expect(sink.received.map((c) => c.length)).toEqual([...Array<number[]>(3).fill([1000, 1000, 1000, 1000, 96]).flat(), 1000, 500]);
    expect(most).toBe(1);
    expect(handle.fd).toBe(-1);
  });

  it('a small range is read into a buffer of its own: the pool is neither used nor grown', async () => {
    const body = bytesOf(300, 4);
    const pool = new BufferPool(4096, 2);
    const sink = new SlowSink();
    const handle = await open(await fileOf(body), 'r');
    await sendFileRange(handle, sink, 10, 209, pool, 1024);
    expect(Buffer.concat(sink.received).equals(body.subarray(10, 210))).toBe(true);
    expect(pool.idle).toBe(0);
    expect(handle.fd).toBe(-1);
  });

  it('a sink that goes away mid-file is ClientAbortedError; the handle is closed and its buffers are not reused', async () => {
    const body = bytesOf(20_000, 5);
    const pool = new BufferPool(1000, 4);
    const sink = new SlowSink(3);
    const handle = await open(await fileOf(body), 'r');
    await expect(sendFileRange(handle, sink, 0, body.length - 1, pool, 0)).rejects.toBeInstanceOf(ClientAbortedError);
    expect(handle.fd).toBe(-1);
    expect(pool.idle).toBe(0);
  });

  it('a response already closed is ClientAbortedError before anything is read', async () => {
    const sink = new SlowSink();
    sink.destroy();
    const handle = await open(await fileOf(bytesOf(10, 6)), 'r');
    await expect(sendFileRange(handle, sink, 0, 9, new BufferPool(1000, 1), 0)).rejects.toBeInstanceOf(ClientAbortedError);
    expect(handle.fd).toBe(-1);
  });

  it('a client that disconnects mid-download over a real socket: ClientAbortedError, handle closed', async () => {
    const body = bytesOf(24 * 1024 * 1024, 7);
    const server = await serveFile(await fileOf(body), 0, body.length - 1, new BufferPool(64 * 1024, 2), 0);
    try {
      const socket = connect(server.port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      // Never read: the server fills the socket's buffers and waits, a few MiB into the file.
      socket.pause();
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitUntil(() => server.served[0] !== undefined && server.served[0].res.socket !== null && server.served[0].res.socket.writableLength > 0);
      const served = server.served[0]!;
      expect(served.handle.fd).not.toBe(-1);
      socket.destroy();
      expect(await served.outcome).toBeInstanceOf(ClientAbortedError);
      expect(served.handle.fd).toBe(-1);
    } finally {
      await server.close();
    }
  });

  it('a file shorter than the range is an error (not an abort), and the handle is closed', async () => {
    const body = bytesOf(2500, 8);
    const sink = new SlowSink();
    const handle = await open(await fileOf(body), 'r');
    const err = await sendFileRange(handle, sink, 0, 2999, new BufferPool(1000, 2), 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ClientAbortedError);
    expect((err as Error).message).toMatch(/ended at byte 2500, before byte 3000/);
    expect(handle.fd).toBe(-1);
    expect(sink.writableEnded).toBe(false);
  });

  it('the pool keeps at most maxFree buffers, and only its own size', () => {
    const pool = new BufferPool(16, 2);
    const taken = [pool.take(), pool.take(), pool.take()];
    for (const b of taken) pool.give(b);
    expect(pool.idle).toBe(2);
    pool.give(Buffer.alloc(8));
    expect(pool.idle).toBe(2);
    const one = pool.take();
    pool.give(one);
    pool.give(one);
    expect(pool.idle).toBe(2);
  });
});
