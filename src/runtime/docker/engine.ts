/**
 * A small client of the Docker Engine API over its unix socket (node:http `socketPath`): JSON
 * calls, streamed bodies, and the multiplexed stdout/stderr stream of logs and exec. The docker
 * driver's only way to the daemon: no docker CLI.
 */
import { Agent, type IncomingMessage, request } from 'node:http';
import type { Readable } from 'node:stream';

/** The API version spoken: Docker 20.10's, which newer daemons still accept. */
export const ENGINE_API_VERSION = 'v1.41';

/** A refusal or failure the daemon answered with: its HTTP status and its own message. */
export class EngineError extends Error {
  readonly status: number;

  constructor(status: number, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EngineError';
    this.status = status;
  }
}

export interface EngineRequest {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Sent as application/json. */
  readonly json?: unknown;
  /** Sent as is (e.g. a tar archive), with `contentType`. */
  readonly body?: Readable;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

/**
 * @example
 *   const engine = new DockerEngine('/run/docker.sock');
 *   const info = await engine.json<{ ID: string }>('GET', '/info');
 */
export class DockerEngine {
  readonly socketPath: string;
  // Kept-alive connections: a container's start is several calls in a row.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  /** Sends a request and gives the response once its head arrives, whatever its status. */
  send(method: string, path: string, options: EngineRequest = {}): Promise<IncomingMessage> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const url = `/${ENGINE_API_VERSION}${path}${qs.size > 0 ? `?${qs.toString()}` : ''}`;
    const payload = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
    const headers: Record<string, string | number> = {};
    if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
    if (options.body) headers['content-type'] = options.contentType ?? 'application/octet-stream';
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path: url, method, headers, agent: this.agent, ...(options.signal ? { signal: options.signal } : {}) }, resolve);
      req.once('error', (err) => reject(err));
      if (options.body) {
        options.body.once('error', (err) => req.destroy(err));
        options.body.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }

  /** A call whose answer is JSON (or empty); a status of 400 or more throws EngineError with the daemon's message. */
  async json<T = unknown>(method: string, path: string, options: EngineRequest = {}): Promise<T> {
    const res = await this.send(method, path, options);
    const text = (await readAll(res)).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status >= 400) throw new EngineError(status, errorMessage(text) || `${method} ${path}: HTTP ${status}`);
    if (text.trim() === '') return undefined as T;
    return JSON.parse(text) as T;
  }

  /** A call whose answer is a stream (logs, exec output); a status of 400 or more throws EngineError. */
  async stream(method: string, path: string, options: EngineRequest = {}): Promise<IncomingMessage> {
    const res = await this.send(method, path, options);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw new EngineError(status, errorMessage((await readAll(res)).toString('utf8')) || `${method} ${path}: HTTP ${status}`);
    return res;
  }

  /** Closes idle kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

export async function readAll(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

/** The daemon's `{"message": ...}`, else the text itself. */
function errorMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // Not JSON: the text is the message.
  }
  return text.trim();
}

/** One frame of a multiplexed stream: 1 is stdout, 2 stderr (0 stdin, never sent here). */
export interface StreamFrame { readonly stream: 0 | 1 | 2; readonly data: Buffer }

/**
 * The frames of a multiplexed stream (Engine API "stream format": an 8-byte header, its first byte
 * the stream and its last four the payload's size, big-endian). A cut-off last frame is dropped.
 *
 * @example for await (const f of demux(res)) (f.stream === 2 ? err : out).push(f.data);
 */
export async function* demux(source: AsyncIterable<Buffer>): AsyncGenerator<StreamFrame> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of source) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 8) break;
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const kind = pending[0];
      yield { stream: kind === 2 ? 2 : kind === 0 ? 0 : 1, data: pending.subarray(8, 8 + size) };
      pending = pending.subarray(8 + size);
    }
  }
}
