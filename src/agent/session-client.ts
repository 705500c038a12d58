/**
 * The agent end of its session with the control plane: one WebSocket to `/agent`, authenticated by
 * a SigV4-presigned URL, kept open across server restarts and network loss (reconnect with backoff,
 * heartbeats), with every task state change delivered at least once and in order.
 */
import { createHash } from 'node:crypto';
import WebSocket, { type RawData } from 'ws';
import { consoleLogger, type Logger } from '../edge/logger.js';
import { formatAmzDate, signatureFor, SIGV4_ALGORITHM } from '../edge/sigv4.js';
import { AGENT_SESSION_PATH, type AgentMessage, type ServerMessage } from './protocol.js';

export type HelloMessage = Extract<AgentMessage, { type: 'hello' }>;

export interface AgentCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** Reconnect delays: doubling from initialMs up to maxMs, each with jitter. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 100, maxMs: 10_000 };
/** Heartbeat interval until the server's welcome names its own. */
export const DEFAULT_CLIENT_HEARTBEAT_MS = 10_000;
/** The server is taken for gone after this many heartbeat intervals without a message. */
export const SILENT_HEARTBEATS = 3;
/** A presigned URL is used once, at once; five minutes leave room for clock skew. */
export const PRESIGN_EXPIRES_SECONDS = 300;

export interface SessionClientOptions {
  /** The server's API endpoint, e.g. `http://127.0.0.1:4566`. */
  readonly endpoint: string;
  readonly credentials: AgentCredentials;
  readonly region: string;
  /** Called on every (re)connect, so the hello says what the agent runs now. */
  readonly hello: () => HelloMessage;
  /** welcome, runTask, stopTask and error; heartbeats and acks are the session's own business. */
  readonly onMessage: (message: ServerMessage) => void;
  readonly logger?: Logger;
  readonly backoff?: Backoff;
  readonly heartbeatMs?: number;
  /** The clock for signing; tests pin it. */
  readonly now?: () => Date;
}

export interface AgentSession {
  /**
   * Sends a message. A taskStateChange is kept until the server acks it, and (re)sent in order
   * once a session is welcomed; stats and heartbeats sent while disconnected are dropped, since
   * only the latest matter. `hello` is the session's own (options.hello).
   */
  send(message: AgentMessage): void;
  /** Ends the session for good: no reconnect. */
  close(): Promise<void>;
  /** True from the server's welcome until the connection drops. */
  readonly connected: boolean;
  /** Task state changes the server has not acked yet (an agent shutting down can wait for 0). */
  readonly unacked: number;
}

/**
 * Opens the session and keeps it open until close().
 *
 * @example
 * const session = connectSession({ endpoint, credentials, region, hello: () => agent.hello(), onMessage: (m) => agent.handle(m) });
 * session.send({ type: 'taskStateChange', change });
 */
export function connectSession(options: SessionClientOptions): AgentSession {
  const logger = options.logger ?? consoleLogger;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const now = options.now ?? (() => new Date());
  let heartbeatMs = options.heartbeatMs ?? DEFAULT_CLIENT_HEARTBEAT_MS;

  let ws: WebSocket | undefined;
  let welcomed = false;
  let closed = false;
  let attempt = 0;
  let lastHeard = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let seq = 0;
  /** Task state changes not yet acked by a server, oldest first. */
  const outbox: { readonly seq: number; readonly text: string }[] = [];

  function connect(): void {
    reconnectTimer = undefined;
    if (closed) return;
    let target: { url: string; host: string };
    try {
      target = presignAgentUrl(options.endpoint, options.credentials, options.region, now());
    } catch (err) {
      logger.error('cannot build the agent session URL', { endpoint: options.endpoint, error: err });
      return scheduleReconnect();
    }
    // Host is set explicitly because it is signed: it must be exactly what was signed.
    const socket = new WebSocket(target.url, { headers: { host: target.host }, handshakeTimeout: 10_000, maxPayload: 64 * 1024 * 1024 });
    ws = socket;
    lastHeard = Date.now();
    startTicker(socket);
    socket.on('unexpected-response', (_req, res) => {
      // The server refused the upgrade (bad signature, shutting down): log its AWS-shaped reason.
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => socket.terminate());
      res.on('end', () => {
        logger.warn('the server refused the agent session', { status: res.statusCode, body: Buffer.concat(chunks).toString('utf8').slice(0, 1000) });
        socket.terminate();
      });
    });
    socket.on('open', () => {
      let hello: HelloMessage;
      try {
        hello = options.hello();
      } catch (err) {
        logger.error('could not build the hello message', { error: err });
        socket.terminate();
        return;
      }
      socket.send(JSON.stringify(hello));
    });
    socket.on('message', (data, isBinary) => {
      if (ws === socket) receive(socket, data, isBinary);
    });
    socket.on('error', (err) => logger.debug('agent session connection failed', { endpoint: options.endpoint, error: err }));
    socket.on('close', (code, reason) => {
      if (ws !== socket) return;
      ws = undefined;
      if (welcomed) logger.warn('agent session lost; reconnecting', { code, reason: reason.toString('utf8') });
      welcomed = false;
      clearInterval(ticker);
      if (!closed) scheduleReconnect();
    });
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer !== undefined) return;
    reconnectTimer = setTimeout(connect, backoffDelay(attempt++, backoff));
  }

  function startTicker(socket: WebSocket): void {
    clearInterval(ticker);
    ticker = setInterval(() => {
      if (Date.now() - lastHeard > SILENT_HEARTBEATS * heartbeatMs) {
        logger.warn('the server went silent; reconnecting', { silentMs: Date.now() - lastHeard });
        socket.terminate();
        return;
      }
      if (welcomed) write(socket, JSON.stringify({ type: 'heartbeat', at: now().getTime() }));
    }, heartbeatMs);
  }

  function receive(socket: WebSocket, data: RawData, isBinary: boolean): void {
    lastHeard = Date.now();
    let message: ServerMessage;
    try {
      message = parseServerMessage(isBinary ? '' : rawText(data));
    } catch (err) {
      logger.error('ignoring a message from the server that is not the protocol', { error: err });
      return;
    }
    switch (message.type) {
      case 'heartbeat':
        return;
      case 'ack':
        while (outbox.length > 0 && outbox[0]!.seq <= message.seq) outbox.shift();
        return;
      case 'welcome':
        welcomed = true;
        attempt = 0;
        heartbeatMs = message.heartbeatMs;
        startTicker(socket);
        // Everything not yet acked, oldest first, before anything sent from now on.
        for (const entry of outbox) write(socket, entry.text);
        return deliver(message);
      case 'runTask':
      case 'stopTask':
        return deliver(message);
      case 'error':
        logger.warn('the server reported an error', { code: message.code, message: message.message });
        return deliver(message);
    }
  }

  function deliver(message: ServerMessage): void {
    try {
      options.onMessage(message);
    } catch (err) {
      logger.error('the agent failed to handle a server message', { type: message.type, error: err });
    }
  }

  function write(socket: WebSocket, text: string): void {
    socket.send(text, (err) => {
      // The close that follows a failed write reconnects; unacked changes are resent then.
      if (err) logger.debug('could not send to the server', { error: err });
    });
  }

  connect();

  return {
    send(message) {
      if (closed) throw new Error('the agent session is closed');
      switch (message.type) {
        case 'hello':
          throw new Error('the session sends hello itself, from options.hello, on every connect');
        case 'taskStateChange': {
          const entry = { seq: ++seq, text: JSON.stringify({ ...message, seq: seq }) };
          outbox.push(entry);
          if (welcomed && ws !== undefined) write(ws, entry.text);
          return;
        }
        case 'stats':
        case 'heartbeat':
          if (welcomed && ws !== undefined) write(ws, JSON.stringify(message));
          return;
      }
    },
    async close() {
      closed = true;
      clearTimeout(reconnectTimer);
      clearInterval(ticker);
      const socket = ws;
      if (socket === undefined || socket.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        if (socket.readyState === WebSocket.CONNECTING) {
          socket.terminate();
          return;
        }
        socket.close(1000, 'agent shutting down');
        // A server that does not answer the close handshake must not hold the agent's shutdown.
        setTimeout(() => socket.terminate(), 2000).unref();
      });
    },
    get connected() {
      return welcomed && ws?.readyState === WebSocket.OPEN;
    },
    get unacked() {
      return outbox.length;
    },
  };
}

/**
 * The delay before reconnect attempt `attempt` (0-based): half of min(maxMs, initialMs × 2^attempt)
 * plus a random share of the other half, so a fleet of agents does not reconnect in lockstep after
 * a server restart, and none waits less than half its step.
 *
 * @example backoffDelay(0) // 50..100 ms
 */
export function backoffDelay(attempt: number, backoff: Backoff = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The session URL, presigned with SigV4 for service `ecs` (GET, only `host` signed, empty body),
 * and the Host header it was signed for. Browsers and WebSocket clients cannot sign headers, which
 * is why the signature travels in the query.
 *
 * @example presignAgentUrl('http://127.0.0.1:4566', creds, 'us-east-1', new Date()).url // ws://127.0.0.1:4566/agent?X-Amz-Algorithm=…
 */
export function presignAgentUrl(
  endpoint: string,
  credentials: AgentCredentials,
  region: string,
  now: Date,
  expiresSeconds: number = PRESIGN_EXPIRES_SECONDS,
): { url: string; host: string } {
  const base = new URL(endpoint);
  const secure = base.protocol === 'https:' || base.protocol === 'wss:';
  if (!secure && base.protocol !== 'http:' && base.protocol !== 'ws:') throw new Error(`the endpoint must be an http(s) URL, got ${endpoint}`);
  const host = base.host;
  const amzDate = formatAmzDate(now);
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/ecs/aws4_request`;
  const params: [string, string][] = [
    ['X-Amz-Algorithm', SIGV4_ALGORITHM],
    ['X-Amz-Credential', `${credentials.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(expiresSeconds)],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  if (credentials.sessionToken !== undefined && credentials.sessionToken !== '') params.push(['X-Amz-Security-Token', credentials.sessionToken]);
  const query = params
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalRequest = ['GET', AGENT_SESSION_PATH, query, `host:${host}\n`, 'host', sha256Hex('')].join('\n');
  const stringToSign = [SIGV4_ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = signatureFor(credentials.secretAccessKey, day, region, 'ecs', stringToSign);
  return { url: `${secure ? 'wss' : 'ws'}://${host}${AGENT_SESSION_PATH}?${query}&X-Amz-Signature=${signature}`, host };
}

/** SigV4's URI encoding: RFC 3986 unreserved characters kept, everything else %XX. */
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256Hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data).toString('utf8');
}

/**
 * Reads a server message; throws when it is not one the session knows. The server is trusted
 * (the agent chose to connect to it), so only what the session itself relies on is checked.
 */
export function parseServerMessage(text: string): ServerMessage {
  const value = JSON.parse(text) as unknown;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('a server message must be a JSON object');
  const m = value as Record<string, unknown>;
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`a ${String(m['type'])} message needs ${what}`);
  };
  switch (m['type']) {
    case 'welcome':
      need(typeof m['containerInstanceArn'] === 'string', 'containerInstanceArn');
      need(typeof m['heartbeatMs'] === 'number' && m['heartbeatMs'] > 0, 'a positive heartbeatMs');
      break;
    case 'runTask':
      need(typeof m['task'] === 'object' && m['task'] !== null, 'a task');
      need(typeof m['taskDefinition'] === 'object' && m['taskDefinition'] !== null, 'a taskDefinition');
      break;
    case 'stopTask':
      need(typeof m['taskArn'] === 'string', 'a taskArn');
      break;
    case 'ack':
      need(typeof m['seq'] === 'number', 'a seq');
      break;
    case 'heartbeat':
      break;
    case 'error':
      need(typeof m['code'] === 'string' && typeof m['message'] === 'string', 'a code and a message');
      break;
    default:
      throw new Error(`unknown server message type ${JSON.stringify(m['type']) ?? 'nothing'}`);
  }
  return m as unknown as ServerMessage;
}
