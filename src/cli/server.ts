/**
 * The composition root of the control plane: opens the store under the home directory, makes sure
 * the admin key and the `default` cluster exist, and serves every API on one port.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createEcsService } from '../ecs/index.js';
import { DEFAULT_CLUSTER } from '../ecs/arn.js';
import { AccessKeyCache, consoleLogger, createEdge, ensureAdminKey } from '../edge/index.js';
import { AGENT_SESSION_PATH } from '../agent/protocol.js';
import { createAgentHub, createAttachmentController, createServiceController, type AgentHub, type AttachmentController, type ServiceController } from '../controllers/index.js';
import { createServiceDiscoveryService, pruneDiscoveryHistory, startDnsServer, type DnsServer } from '../discovery/index.js';
import { createElbv2Service, startLbDataPlane, sweepDrainedTargets, type LbDataPlane } from '../lb/index.js';
import type { RequestContext } from '../protocols/index.js';
import { createEcrService, createRegistry, enforceLifecyclePolicies, type Registry } from '../registry/index.js';
import { SqliteStore } from '../store/index.js';
import { attachmentPorts, hostAddressOf, instanceResolver } from './traffic.js';

export interface ServerOptions {
  readonly port: number;
  readonly bind: string;
  readonly home: string;
  readonly region: string;
  readonly accountId: string;
  /** The Cloud Map DNS server's port (UDP and TCP) at the bind address; 0 picks a free one. */
  readonly dnsPort: number;
  /** Run the load balancer's data plane (HAProxy) for the listeners ELBv2 creates. Default true. */
  readonly loadBalancer?: boolean;
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
  /** Where the Cloud Map DNS server answers (UDP and TCP). */
  readonly dns: { readonly address: string; readonly port: number };
}

export interface RunningServer {
  info(): ServerInfo;
  close(): Promise<void>;
}

/** The store file under the home directory. */
export const STATE_FILE = 'state.db';
/** ECR's UploadLayerPart carries up to 20 MiB parts, base64 in JSON: the API body limit allows them. */
const ECR_LAYER_PART_BYTES = 20 * 1024 * 1024;
const MAX_API_BODY_BYTES = 28 * 1024 * 1024;
/** Large image pushes stream for minutes; Node's default cuts requests at 300 s. */
const REQUEST_TIMEOUT_MS = 60 * 60 * 1000;
const REGISTRY_GC_INTERVAL_MS = 60 * 60 * 1000;
/** ECR expires images "within 24 hours" of meeting a lifecycle rule; hourly keeps well inside that. */
const REGISTRY_LIFECYCLE_INTERVAL_MS = 60 * 60 * 1000;
/** Draining targets leave their group once their deregistration delay is over; checked this often. */
const DRAINED_TARGET_SWEEP_MS = 1000;
/** Cloud Map operations are kept 7 days and request ids 24 hours; older ones are pruned hourly. */
const DISCOVERY_PRUNE_INTERVAL_MS = 60 * 60 * 1000;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  mkdirSync(options.home, { recursive: true, mode: 0o700 });
  const store = SqliteStore.open(join(options.home, STATE_FILE));
  let http: Server | undefined;
  let keys: AccessKeyCache | undefined;
  let registry: Registry | undefined;
  let hub: AgentHub | undefined;
  let services: ServiceController | undefined;
  let attachments: AttachmentController | undefined;
  let dns: DnsServer | undefined;
  let lb: LbDataPlane | undefined;
  try {
    await ensureAdminKey(store, options.home, options.accountId);
    const configFile = join(options.home, 'config');
    // Cloud Map's DiscoverInstances goes to a `data-` host prefix, unresolvable for an endpoint
    // such as 127.0.0.1; newer CLIs and SDKs leave the host alone when told so.
    writeFileSync(configFile, `[default]\nregion = ${options.region}\ndisable_host_prefix_injection = true\n`, { mode: 0o600 });
    keys = await AccessKeyCache.open(store);

    const ecs = createEcsService({ store });
    await ensureDefaultCluster(ecs.operations['CreateCluster'], options);

    // The port is known only once listening, and ECR's repository URIs name it: listen first,
    // then build the edge and hand requests to it.
    let listener: RequestListener = (_req, res) => {
      res.writeHead(503).end();
    };
    const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => listener(req, res));
    http = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.bind, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const host = options.bind.includes(':') ? `[${options.bind}]` : options.bind === '0.0.0.0' ? '127.0.0.1' : options.bind;
    dns = await startDnsServer({ store, address: options.bind, port: options.dnsPort, logger: consoleLogger });
    if (options.loadBalancer !== false) {
      lb = startLbDataPlane({ store, bindAddress: options.bind, stateDir: join(options.home, 'lb'), logger: consoleLogger });
      try {
        await lb.ready;
      } catch (err) {
        throw new Error(`the load balancer's data plane (HAProxy) did not start: ${(err as Error).message}. Install haproxy (bash .ci/setup) or pass --no-lb.`, { cause: err });
      }
    }
    const info: ServerInfo = {
      endpoint: `http://${host}:${port}`,
      port,
      home: options.home,
      credentialsFile: join(options.home, 'credentials'),
      configFile,
      region: options.region,
      accountId: options.accountId,
      pid: process.pid,
      dns: { address: dns.address, port: dns.port },
    };
    registry = await createRegistry({ store, root: join(options.home, 'registry'), accountId: options.accountId, lookupAccessKey: keys.lookup });
    const ecr = createEcrService({ registry, registryEndpoint: info.endpoint, layerPartSize: ECR_LAYER_PART_BYTES });
    const resolveInstance = instanceResolver(store);
    const elbv2 = createElbv2Service({ store, region: options.region, accountId: options.accountId, resolveInstance });
    const discovery = createServiceDiscoveryService({ store, region: options.region, accountId: options.accountId });
    const edge = createEdge({
      services: [ecs, ecr, discovery],
      queryServices: [elbv2],
      region: options.region,
      accountId: options.accountId,
      credentials: keys.lookup,
      maxBodyBytes: MAX_API_BODY_BYTES,
    });
    edge.mount('/v2/', registry.handle);
    // The controllers know each other only through these calls: target health and stop holds in,
    // news out.
    const link: { services?: ServiceController; attachments?: AttachmentController } = {};
    hub = createAgentHub({
      store,
      region: options.region,
      accountId: options.accountId,
      credentials: keys.lookup,
      readyToStop: (taskArn) => link.attachments?.readyToStop(taskArn) ?? true,
    });
    edge.mountUpgrade(AGENT_SESSION_PATH, hub.upgrade);
    attachments = createAttachmentController({
      store,
      region: options.region,
      ports: attachmentPorts(store, options.region, options.accountId, resolveInstance),
      hostAddressOf,
      onTargetHealthChange: (cluster, name) => link.services?.serviceChanged(cluster, name),
    });
    link.attachments = attachments;
    services = createServiceController({
      store,
      region: options.region,
      accountId: options.accountId,
      targetHealth: (taskArn) => link.attachments?.targetHealth(taskArn),
    });
    link.services = services;
    server.on('upgrade', edge.upgrade);
    listener = edge;

    // Unreferenced blobs (deleted images, abandoned uploads) are swept hourly; the registry keeps
    // a grace period so a push in flight is never collected.
    const gcRegistry = registry;
    const gcTimer = setInterval(() => {
      gcRegistry.gc().catch((err: unknown) => consoleLogger.error('registry garbage collection failed', { err }));
    }, REGISTRY_GC_INTERVAL_MS).unref();
    const lifecycleTimer = setInterval(() => {
      enforceLifecyclePolicies(gcRegistry, new Date())
        .then((report) => {
          for (const f of report.failures) consoleLogger.warn('lifecycle policy: an image was not expired', { ...f });
        })
        .catch((err: unknown) => consoleLogger.error('lifecycle policy enforcement failed', { err }));
    }, REGISTRY_LIFECYCLE_INTERVAL_MS).unref();
    const discoveryPruneTimer = setInterval(() => {
      pruneDiscoveryHistory(store, new Date()).catch((err: unknown) => consoleLogger.error('pruning Cloud Map history failed', { err }));
    }, DISCOVERY_PRUNE_INTERVAL_MS).unref();
    let sweeping = false;
    const sweepTimer = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      sweepDrainedTargets(store, new Date())
        .catch((err: unknown) => consoleLogger.error('removing drained load balancer targets failed', { err }))
        .finally(() => (sweeping = false));
    }, DRAINED_TARGET_SWEEP_MS).unref();

    const openKeys = keys;
    const openRegistry = registry;
    const openHub = hub;
    const openServices = services;
    const openAttachments = attachments;
    const openDns = dns;
    const openLb = lb;
    return {
      info: () => info,
      async close() {
        clearInterval(gcTimer);
        clearInterval(lifecycleTimer);
        clearInterval(sweepTimer);
        clearInterval(discoveryPruneTimer);
        // The controllers write the store: they stop first.
        await openServices.close();
        await openAttachments.close();
        await openDns.close();
        await openLb?.close();
        // Agent sockets would keep server.close() waiting: end the sessions first.
        await openHub.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await openRegistry.close();
        await openKeys.close();
        await store.close();
      },
    };
  } catch (err) {
    http?.close();
    await services?.close();
    await attachments?.close();
    await dns?.close();
    await lb?.close();
    await hub?.close();
    await registry?.close();
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
