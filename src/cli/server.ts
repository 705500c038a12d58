/**
 * The composition root of the control plane: opens the store under the home directory, makes sure
 * the admin key and the `default` cluster exist, and serves every API on one port.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createEcsService } from '../ecs/index.js';
import { DEFAULT_CLUSTER } from '../ecs/arn.js';
import { AccessKeyCache, createEdge, ensureAdminKey } from '../edge/index.js';
import type { RequestContext } from '../protocols/index.js';
import { SqliteStore } from '../store/index.js';

export interface ServerOptions {
  readonly port: number;
  readonly bind: string;
  readonly home: string;
  readonly region: string;
  readonly accountId: string;
}

export interface ServerInfo {
  readonly endpoint: string;
  readonly port: number;
  readonly home: string;
  readonly credentialsFile: string;
  readonly configFile: string;
  readonly region: string;
  readonly accountId: string;
  readonly pid: number;
}

export interface RunningServer {
  info(): ServerInfo;
  close(): Promise<void>;
}

/** The store file under the home directory. */
export const STATE_FILE = 'state.db';

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  mkdirSync(options.home, { recursive: true, mode: 0o700 });
  const store = SqliteStore.open(join(options.home, STATE_FILE));
  let http: Server | undefined;
  let keys: AccessKeyCache | undefined;
  try {
    await ensureAdminKey(store, options.home, options.accountId);
    const configFile = join(options.home, 'config');
    writeFileSync(configFile, `[default]\nregion = ${options.region}\n`, { mode: 0o600 });
    keys = await AccessKeyCache.open(store);

    const ecs = createEcsService({ store });
    await ensureDefaultCluster(ecs.operations['CreateCluster'], options);

    const edge = createEdge({ services: [ecs], region: options.region, accountId: options.accountId, credentials: keys.lookup });
    const server = createServer({ keepAliveTimeout: 65_000 }, edge).on('upgrade', edge.upgrade);
    http = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.bind, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const host = options.bind.includes(':') ? `[${options.bind}]` : options.bind === '0.0.0.0' ? '127.0.0.1' : options.bind;
    const info: ServerInfo = {
      endpoint: `http://${host}:${port}`,
      port,
      home: options.home,
      credentialsFile: join(options.home, 'credentials'),
      configFile,
      region: options.region,
      accountId: options.accountId,
      pid: process.pid,
    };
    const openKeys = keys;
    return {
      info: () => info,
      async close() {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await openKeys.close();
        await store.close();
      },
    };
  } catch (err) {
    http?.close();
    await keys?.close();
    await store.close();
    throw err;
  }
}

/** ECS's default cluster exists from the start, so `run-task` works without `--cluster`. */
async function ensureDefaultCluster(createCluster: ((input: Record<string, unknown>, ctx: RequestContext) => Promise<unknown>) | undefined, options: ServerOptions): Promise<void> {
  if (createCluster === undefined) throw new Error('the ECS module has no CreateCluster operation');
  const ctx: RequestContext = {
    requestId: 'berth-startup',
    caller: { accessKeyId: 'berth-system', accountId: options.accountId },
    region: options.region,
    now: new Date(),
  };
  await createCluster({ clusterName: DEFAULT_CLUSTER }, ctx);
}
