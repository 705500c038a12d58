/**
 * A lean HTTP/1.1 keep-alive client for bench/registry's artifact pushes: a request is a pre-built
 * head (and body) written to a socket, and a reply is read to the end of its Content-Length body,
 * keeping only the status and the Location header.
 *
 * The load generator shares the machine's two cores with the registry it measures. Through Node's
 * http client a 1 KiB artifact push (5 requests) cost the bench about 1.2 ms of CPU, half of what
 * it cost Berth to serve it, so the figure said as much about the client as about the server. Both
 * registries get the same client; a reply it cannot read (no Content-Length, bytes past the body,
 * a connection gone) fails its request, and the connection is not used again.
 */
import { connect, type Socket } from 'node:net';

export interface RawReply {
  readonly status: number;
  readonly location: string | undefined;
}

const HEAD_END = Buffer.from('\r\n\r\n');

export class RawConnection {
  private buffered: Buffer | undefined;
  private waiting: { resolve: (reply: RawReply) => void; reject: (err: Error) => void } | undefined;
  private broken = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('the server closed the connection')));
  }

  /** Connects to `host:port` (loopback only: benchmarks never leave the machine). */
  static open(host: string, port: number): Promise<RawConnection> {
    if (host !== '127.0.0.1') throw new Error('benchmarks only talk to loopback');
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  /** False once the connection failed or the server asked to close it. */
  get usable(): boolean {
    return !this.broken;
  }

  /**
   * Sends one request and resolves with its reply. `headers` are complete header lines, each
   * ending in CRLF; Host and Content-Length are added.
   */
  request(host: string, method: string, path: string, headers: string, body?: Buffer): Promise<RawReply> {
    if (this.broken) return Promise.reject(new Error('the connection is closed'));
    if (this.waiting !== undefined) return Promise.reject(new Error('one request at a time on a connection'));
    const head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}Content-Length: ${body?.length ?? 0}\r\n\r\n`;
    return new Promise<RawReply>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(body === undefined || body.length === 0 ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]));
    });
  }

  close(): void {
    this.broken = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const data = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
    this.buffered = data;
    const end = data.indexOf(HEAD_END);
    if (end < 0) return;
    const head = data.toString('latin1', 0, end);
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(head);
    const length = /\r\ncontent-length: *(\d+)\s*(?:\r\n|$)/i.exec(head);
    if (status === null || length === null) return this.fail(new Error(`a reply this client cannot read: ${head.slice(0, 200)}`));
    const total = end + HEAD_END.length + Number(length[1]);
    if (data.length < total) return;
    if (data.length > total || this.waiting === undefined) return this.fail(new Error('bytes past the end of the reply'));
    this.buffered = undefined;
    const waiting = this.waiting;
    this.waiting = undefined;
    if (/\r\nconnection: *close/i.test(head)) this.close();
    waiting.resolve({ status: Number(status[1]), location: /\r\nlocation: *([^\r\n]*)/i.exec(head)?.[1] });
  }

  private fail(err: Error): void {
    this.close();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(err);
  }
}

/** Idle connections to one server, reused; a caller takes one for a sequence of requests and gives it back. */
export class RawPool {
  private readonly idle: RawConnection[] = [];
  private readonly all = new Set<RawConnection>();

  constructor(
    private readonly hostname: string,
    private readonly port: number,
  ) {}

  async take(): Promise<RawConnection> {
    for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) if (conn.usable) return conn;
    const conn = await RawConnection.open(this.hostname, this.port);
    this.all.add(conn);
    return conn;
  }

  give(conn: RawConnection): void {
    if (conn.usable) this.idle.push(conn);
    else this.all.delete(conn);
  }

  close(): void {
    for (const conn of this.all) conn.close();
    this.all.clear();
    this.idle.length = 0;
  }
}
