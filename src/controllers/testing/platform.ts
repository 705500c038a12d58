/**
 * Test fixture: a whole control plane in-process — in-memory store, the ECS API behind the real
 * edge, and the agent hub on /agent — listening on 127.0.0.1 port 0, with signed ECS calls and a
 * TCP proxy that can cut agent connections. Everything closes itself (`await using`).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, connect, type AddressInfo, type Socket } from 'node:net';
import { AGENT_SESSION_PATH } from '../../agent/protocol.js';
import { createEcsService, ECS_TARGET_PREFIX } from '../../ecs/index.js';
import { createEdge, type Edge, type Logger, type SigningCredential } from '../../edge/index.js';
import { SqliteStore } from '../../store/index.js';
import { createAgentHub, type AgentHub, type AgentHubOptions } from '../agent-hub.js';

export const TEST_REGION = 'us-east-1';
export const TEST_ACCOUNT = '000000000000';
export const TEST_KEY: SigningCredential = { accessKeyId: 'AKIAHUBTEST000000001', secretAccessKey: 'hub-test-secret', accountId: TEST_ACCOUNT };

export interface LogLine {
  readonly level: 'error' | 'warn' | 'debug';
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

export interface Platform extends AsyncDisposable {
  readonly store: SqliteStore;
  readonly edge: Edge;
  readonly hub: AgentHub;
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly port: number;
  /** Every line the hub logged. */
  readonly logs: LogLine[];
  /** Calls an ECS operation through the edge, signed; resolves the result, rejects with the AWS error. */
  ecs(operation: string, input?: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/**
 * Starts the platform. `hub` options override the defaults (a fast heartbeat for idle tests).
 *
 * @example await using p = await startPlatform(); await p.ecs('ListClusters');
 */
export async function startPlatform(hub: Partial<Pick<AgentHubOptions, 'heartbeatMs' | 'now' | 'readyToStop'>> = {}): Promise<Platform> {
  const store = SqliteStore.open(':memory:');
  const logs: LogLine[] = [];
  const logger: Logger = {
    error: (message, fields) => logs.push({ level: 'error', message, fields }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
    debug: (message, fields) => logs.push({ level: 'debug', message, fields }),
  };
  const credentials = (id: string) => Promise.resolve(id === TEST_KEY.accessKeyId ? TEST_KEY : undefined);
  const edge = createEdge({ services: [createEcsService({ store })], region: TEST_REGION, accountId: TEST_ACCOUNT, credentials, logger });
  const agentHub = createAgentHub({ store, region: TEST_REGION, accountId: TEST_ACCOUNT, credentials, logger, ...hub });
  edge.mountUpgrade(AGENT_SESSION_PATH, agentHub.upgrade);
  const server = createHttpServer(edge).on('upgrade', edge.upgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const signer = new SignatureV4({ credentials: TEST_KEY, region: TEST_REGION, service: 'ecs', sha256: Sha256 });

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await agentHub.close();
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    await store.close();
  };

  return {
    store,
    edge,
    hub: agentHub,
    endpoint: `http://127.0.0.1:${port}`,
    port,
    logs,
    async ecs(operation, input = {}) {
      const body = JSON.stringify(input);
      const request = new HttpRequest({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port,
        path: '/',
        headers: {
          host: `127.0.0.1:${port}`,
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `${ECS_TARGET_PREFIX}.${operation}`,
        },
        body,
      });
      const signed = (await signer.sign(request)) as HttpRequest;
      const res = await edge.request('/', { method: 'POST', headers: signed.headers, body });
      const json = res.json() as Record<string, unknown>;
      if (res.status !== 200) throw new AwsError(String(json['__type']), String(json['message']));
      return json;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

export interface Proxy extends AsyncDisposable {
  readonly endpoint: string;
  /** Destroys every open connection, both ways. */
  cut(): void;
  /** While blocked, new connections are hung up at once. */
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of `port`, for losing the network under a live session.
 *
 * @example await using proxy = await startProxy(p.port); proxy.block(); proxy.cut();
 */
export async function startProxy(port: number): Promise<Proxy> {
  const open = new Set<Socket>();
  let blocked = false;
  const server = createTcpServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        open.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as AddressInfo;
  const cut = () => {
    for (const s of open) s.destroy();
  };
  const close = async () => {
    cut();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    endpoint: `http://127.0.0.1:${own}`,
    cut,
    block: () => void (blocked = true),
    unblock: () => void (blocked = false),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Waits until `condition` holds (checked every few ms), for at most `limitMs`; then fails saying
 * what it waited for. A bound on a wait for a condition, never a timing assertion.
 */
export async function waitFor<T>(condition: () => T | undefined | false | Promise<T | undefined | false>, what: string, limitMs = 5000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
