/**
 * Berth's DNS server for Cloud Map private namespaces, over UDP and TCP on one port. Every query is
 * answered from the view's precomputed table (a lookup, a copy, the id patched in); nothing on the
 * query path touches the store. UDP replies respect the 512-byte limit, or the client's EDNS size
 * up to 1232, by dropping additional records and then setting TC so the client retries over TCP.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { consoleLogger, type Logger } from '../../edge/logger.js';
import type { Store } from '../../store/index.js';
import { DnsView } from './view.js';
import { CLASSIC_UDP_SIZE, EDNS_UDP_SIZE, buildReply, emptySection, parseQuery } from './wire.js';
import type { DnsTable } from './table.js';

export interface DnsServerOptions {
  readonly store: Store;
  /** Default 127.0.0.1. */
  readonly address?: string;
  /** Default 8053; 0 picks a free port (the same for UDP and TCP). */
  readonly port?: number;
  readonly logger?: Logger;
}

export interface DnsServer extends AsyncDisposable {
  readonly address: string;
  readonly port: number;
  /**
   * Resolves when answers reflect the store at `revision` (that of a write under /servicediscovery/)
   * or later: tests wait on it instead of sleeping.
   */
  waitForRevision(revision: number): Promise<void>;
  close(): Promise<void>;
}

/** A TCP client idle this long is disconnected. */
const TCP_IDLE_MS = 30_000;
const MAX_TCP_CONNECTIONS = 1024;
/** A TCP client that does not read its replies is cut off once this much is queued for it. */
const MAX_TCP_BACKLOG = 1024 * 1024;

/**
 * The reply to one DNS message, or undefined when none is due. `udp`: apply UDP size limits.
 *
 * @example answerMessage(view.table, packet, true)
 */
export function answerMessage(table: DnsTable, packet: Uint8Array, udp: boolean): Buffer | undefined {
  const parsed = parseQuery(packet);
  switch (parsed.kind) {
    case 'drop':
      return undefined;
    case 'error':
      return buildReply(packet, parsed.id, parsed.rd, parsed.questionEnd, emptySection(parsed.rcode), false, udp ? CLASSIC_UDP_SIZE : undefined);
    case 'query': {
      const q = parsed.query;
      const edns = q.ednsSize !== undefined;
      const limit = !udp ? undefined : edns ? Math.min(Math.max(q.ednsSize, CLASSIC_UDP_SIZE), EDNS_UDP_SIZE) : CLASSIC_UDP_SIZE;
      return buildReply(packet, q.id, q.rd, q.questionEnd, table.answer(q), edns, limit);
    }
  }
}

/**
 * Starts the server: lists Cloud Map from the store, then listens.
 *
 * @example await using dns = await startDnsServer({ store, address: '127.0.0.1', port: 0 }); // dig -p $port @127.0.0.1 web.example.local
 */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const logger = options.logger ?? consoleLogger;
  const address = options.address ?? '127.0.0.1';
  const view = await DnsView.start(options.store, logger);
  let sockets: { udp: Socket; tcp: Server };
  try {
    sockets = await bindBoth(address, options.port ?? 8053, view, logger);
  } catch (err) {
    await view.close();
    throw err;
  }
  const { udp: udpSocket, tcp: tcpServer } = sockets;
  const port = udpSocket.address().port;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await Promise.all([closeUdp(udpSocket), closeTcp(tcpServer)]);
      await view.close();
    })());
  return {
    address,
    port,
    waitForRevision: (revision) => view.waitForRevision(revision),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * UDP first, then TCP on the same port. With port 0 the UDP port is chosen by the system and
 * another process may hold that TCP port: then both are tried again, a few times.
 */
async function bindBoth(address: string, port: number, view: DnsView, logger: Logger): Promise<{ udp: Socket; tcp: Server }> {
  for (let attempt = 0; ; attempt++) {
    const udp = await bindUdp(address, port, view, logger);
    try {
      return { udp, tcp: await listenTcp(address, udp.address().port, view, logger) };
    } catch (err) {
      await closeUdp(udp);
      if (port !== 0 || attempt >= 5 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

function bindUdp(address: string, port: number, view: DnsView, logger: Logger): Promise<Socket> {
  // Large socket buffers absorb bursts (the kernel caps them at net.core.rmem_max/wmem_max).
  const socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 4 * 1024 * 1024 });
  const onSent = (err: Error | null) => {
    if (err !== null) logger.debug('dns: a UDP reply could not be sent', { error: err });
  };
  socket.on('message', (msg, rinfo) => {
    const reply = answerMessage(view.table, msg, true);
    if (reply !== undefined) socket.send(reply, rinfo.port, rinfo.address, onSent);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      socket.on('error', (err) => logger.error('dns: UDP socket error', { error: err }));
      resolve(socket);
    });
  });
}

function listenTcp(address: string, port: number, view: DnsView, logger: Logger): Promise<Server> {
  const clients = new Set<TcpSocket>();
  const server = createServer((socket) => {
    clients.add(socket);
    socket.once('close', () => clients.delete(socket));
    serveTcp(socket, view, logger);
  });
  tcpClients.set(server, clients);
  server.maxConnections = MAX_TCP_CONNECTIONS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      server.on('error', (err) => logger.error('dns: TCP server error', { error: err }));
      resolve(server);
    });
  });
}

/** DNS over TCP: messages with a 2-byte length prefix, several per connection (RFC 7766). */
function serveTcp(socket: TcpSocket, view: DnsView, logger: Logger): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
  socket.setNoDelay(true);
  socket.on('error', (err) => logger.debug('dns: TCP client error', { error: err }));
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) break;
      const message = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      const reply = answerMessage(view.table, message, false);
      if (reply === undefined) continue;
      const framed = Buffer.allocUnsafe(2 + reply.length);
      framed.writeUInt16BE(reply.length, 0);
      reply.copy(framed, 2);
      socket.write(framed);
      if (socket.writableLength > MAX_TCP_BACKLOG) {
        socket.destroy();
        return;
      }
    }
    // A partial message is at most 65,537 bytes: the length prefix caps it.
    if (pending.length > 0 && pending.buffer.byteLength > 4 * 65_537) pending = Buffer.from(pending);
  });
}

function closeUdp(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** Each TCP server's open connections, so close() can end them (idle clients would hold it open). */
const tcpClients = new WeakMap<Server, Set<TcpSocket>>();

function closeTcp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const socket of tcpClients.get(server) ?? []) socket.destroy();
  });
}
