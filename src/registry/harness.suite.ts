/**
 * Test harness for the registry: a registry on a temp directory and an in-memory store, mounted on
 * a real edge listening on 127.0.0.1 (port 0), with an access key and a token for it. Servers are
 * resources that clean themselves up: `await using reg = await startRegistry()`.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accessKeyKey, newAccessKey } from '../edge/credentials.js';
import { createEdge } from '../edge/edge.js';
import type { Logger } from '../edge/logger.js';
import { SqliteStore } from '../store/index.js';
import { issueRegistryToken } from './auth.js';
import { createEcrService, createRegistry } from './index.js';
import type { RequestContext } from '../protocols/index.js';
import type { RegistryOptions } from './index.js';

export const ACCOUNT = '000000000000';

export interface LogLine {
  readonly level: 'error' | 'warn' | 'debug';
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

export type HarnessOptions = Partial<Omit<RegistryOptions, 'store' | 'root' | 'accountId' | 'logger'>>;

export async function startRegistry(options: HarnessOptions = {}) {
  const store = SqliteStore.open(':memory:');
  const root = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  const logs: LogLine[] = [];
  const logger: Logger = {
    error: (message, fields) => logs.push({ level: 'error', message, fields }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
    debug: (message, fields) => logs.push({ level: 'debug', message, fields }),
  };
  const now = options.now ?? (() => new Date());
  const key = newAccessKey(ACCOUNT, now());
  await store.txn([], [{ type: 'put', key: accessKeyKey(key.accessKeyId), value: JSON.stringify(key) }]);
  const registry = await createRegistry({ store, root, accountId: ACCOUNT, logger, ...options });
  // Listen first: the ECR API needs the registry's endpoint (proxyEndpoint, repositoryUri).
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  const ecr = createEcrService({ registry, registryEndpoint: base });
  const credential = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, accountId: ACCOUNT };
  const edge = createEdge({
    services: [ecr],
    region: 'us-east-1',
    accountId: ACCOUNT,
    credentials: (id) => Promise.resolve(id === key.accessKeyId ? credential : undefined),
    logger,
    // ECR layer parts travel base64 in JSON: room for a few MiB.
    maxBodyBytes: 8 * 1024 * 1024,
  });
  edge.mount('/v2/', registry.handle);
  server.on('request', edge);
  const { token } = await issueRegistryToken(store, key, now());
  const authorization = basic(token);

  /** Calls an ECR operation in-process, as the harness key, at the registry's clock. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read results field by field, as the CLI's JSON
  const ecrCall = (operation: string, input: Record<string, unknown> = {}): Promise<any> => {
    const op = ecr.operations[operation];
    if (op === undefined) throw new Error(`no ECR operation ${operation}`);
    const ctx: RequestContext = { requestId: 'test', caller: { accessKeyId: key.accessKeyId, accountId: ACCOUNT }, region: 'us-east-1', now: now() };
    return op(input, ctx);
  };

  /** fetch against the registry, authenticated unless the caller sets Authorization itself. */
  const request = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    fetch(base + path, {
      ...init,
      headers: { authorization, ...init.headers },
      ...(init.body !== undefined && init.body !== null && { duplex: 'half' }),
    });

  return {
    store,
    root,
    registry,
    key,
    token,
    authorization,
    port,
    base,
    logs,
    request,
    ecr,
    ecrCall,
    credential,
    /** Pushes a blob monolithically (POST ?digest=) and returns its digest. */
    async pushBlob(name: string, bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): Promise<string> {
      const digest = digestText(bytes, algorithm);
      const res = await request(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
      if (res.status !== 201) throw new Error(`pushing ${digest} to ${name}: ${res.status} ${await res.text()}`);
      return digest;
    },
    /** Files in uploads/: what an upload left behind. */
    uploadFiles: () => readdir(join(root, 'uploads')),
    blobFiles: async (algorithm: 'sha256' | 'sha512' = 'sha256') => readdir(join(root, 'blobs', algorithm)),
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      await registry.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export type Harness = Awaited<ReturnType<typeof startRegistry>>;

export const basic = (password: string, user = 'AWS') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export function digestText(bytes: Uint8Array | string, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Deterministic pseudo-random bytes (so a failing case is reproducible). */
export function bytesOf(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
