/**
 * The task metadata endpoint v4 as ECS serves it (`$ECS_CONTAINER_METADATA_URI_V4`, plus `/task`,
 * `/stats`, `/task/stats`; v3 paths answer the same): one endpoint on the agent, told by the task
 * manager which container each token stands for, answering with the shapes the ECS docs show.
 *
 * Where it listens: a container cannot reach the host's 127.0.0.1 from its own namespace, so the
 * endpoint listens on each task bridge's gateway address (the host's side of the bridge, e.g.
 * 169.254.172.1 for awsvpc, 169.254.176.1 for bridge mode), which every namespace on that bridge
 * routes to, and on 127.0.0.1 for host-mode containers. The task manager picks the address per
 * container and puts it in the container's URL; link-local gateways are not routed off the host.
 * (ECS answers at 169.254.170.2 through a DNAT rule; Berth's URLs point at the gateway instead,
 * which needs no rule and survives agent restarts as long as the port stays the same.)
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NetworkMode } from '../ecs/task-definition-types.js';
import type { ContainerStats } from '../runtime/driver.js';
import type { ContainerStatus, HealthStatus, NetworkBinding, TaskStatus } from './protocol.js';

/** The port the ECS agent serves task metadata on behind 169.254.170.2 (ECS_AGENT_PORT's neighbour, 51679). */
export const DEFAULT_METADATA_PORT = 51679;

/** A container as the endpoint describes it; the task manager fills it from what it tracks. */
export interface MetadataContainer {
  readonly runtimeId: string;
  readonly name: string;
  readonly image: string;
  /** The image config's digest (Docker's image id). */
  readonly imageId?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly desiredStatus: ContainerStatus;
  readonly knownStatus: ContainerStatus;
  readonly exitCode?: number;
  /** CPU units and hard memory limit (MiB) in force. */
  readonly cpu: number;
  readonly memory?: number;
  readonly createdAt?: Date;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  readonly containerArn?: string;
  readonly networkMode: NetworkMode;
  /** The container's address: the task's (awsvpc) or its own (bridge). */
  readonly ipv4Address?: string;
  /** awsvpc: the task subnet, as `a.b.c.d/len`, and the gateway address. */
  readonly subnetCidr?: string;
  readonly gateway?: string;
  readonly ports?: readonly NetworkBinding[];
  readonly health?: { readonly status: HealthStatus; readonly since?: Date; readonly exitCode?: number; readonly output?: string };
}

export interface MetadataTask {
  readonly clusterArn: string;
  readonly taskArn: string;
  readonly family: string;
  readonly revision: number;
  readonly desiredStatus: 'RUNNING' | 'STOPPED';
  readonly knownStatus: TaskStatus;
  /** Task-level CPU units and memory MiB, when the task definition (or overrides) set them. */
  readonly cpu?: number;
  readonly memory?: number;
  readonly pullStartedAt?: Date;
  readonly pullStoppedAt?: Date;
  readonly executionStoppedAt?: Date;
  readonly availabilityZone?: string;
  readonly launchType?: string;
  readonly containers: readonly MetadataContainer[];
}

/** One usage reading, with what Docker's stats put beside it. */
export interface StatsSample {
  readonly stats: ContainerStats;
  /** Host CPU time of all CPUs in ns (Docker's system_cpu_usage, from /proc/stat). */
  readonly systemCpuNs: number;
  readonly onlineCpus: number;
  /** The host's memory: Docker's limit when the container has none. */
  readonly hostMemoryBytes: number;
}

/** The two latest readings: Docker's stats carry the previous one as precpu_stats. */
export interface StatsPair {
  readonly current: StatsSample;
  readonly previous?: StatsSample;
}

/** What the task manager registers per container token. */
export interface MetadataSource {
  readonly containerName: string;
  /** The task as it is now. */
  task(): MetadataTask;
  /** Fresh usage of a running container of the task; undefined when it does not run. */
  stats(runtimeId: string): Promise<StatsPair | undefined>;
}

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

/** Drops undefined members so the JSON has only what is known (as ECS's omitempty does). */
function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The container response (`${ECS_CONTAINER_METADATA_URI_V4}`).
 *
 * @example containerResponse(task.containers[0]!) // { DockerId, Name, DockerName, Image, ImageID, Labels, …, Networks }
 */
export function containerResponse(c: MetadataContainer): Record<string, unknown> {
  const network = compact({
    NetworkMode: c.networkMode,
    IPv4Addresses: c.ipv4Address === undefined ? undefined : [c.ipv4Address],
    AttachmentIndex: c.networkMode === 'awsvpc' ? 0 : undefined,
    IPv4SubnetCIDRBlock: c.subnetCidr,
    SubnetGatewayIpv4Address: c.gateway === undefined || c.subnetCidr === undefined ? undefined : `${c.gateway}/${c.subnetCidr.split('/')[1]}`,
  });
  return compact({
    DockerId: c.runtimeId,
    Name: c.name,
    DockerName: c.runtimeId,
    Image: c.image,
    ImageID: c.imageId ?? '',
    Ports: c.ports?.length ? c.ports.map((p) => ({ ContainerPort: p.containerPort, Protocol: p.protocol, HostPort: p.hostPort, HostIp: p.bindIP })) : undefined,
    Labels: Object.keys(c.labels).length ? c.labels : undefined,
    DesiredStatus: c.desiredStatus,
    KnownStatus: c.knownStatus,
    ExitCode: c.exitCode,
    Limits: compact({ CPU: c.cpu, Memory: c.memory }),
    CreatedAt: iso(c.createdAt),
    StartedAt: iso(c.startedAt),
    FinishedAt: iso(c.finishedAt),
    Type: 'NORMAL',
    Health: c.health === undefined ? undefined : compact({
      status: c.health.status, statusSince: iso(c.health.since), exitCode: c.health.exitCode, output: c.health.output,
    }),
    ContainerARN: c.containerArn,
    Networks: [network],
  });
}

/** The task response (`${ECS_CONTAINER_METADATA_URI_V4}/task`): task fields, then every container. */
export function taskResponse(t: MetadataTask): Record<string, unknown> {
  const limits = compact({ CPU: t.cpu === undefined ? undefined : t.cpu / 1024, Memory: t.memory });
  return compact({
    Cluster: t.clusterArn,
    TaskARN: t.taskArn,
    Family: t.family,
    Revision: String(t.revision),
    DesiredStatus: t.desiredStatus,
    KnownStatus: t.knownStatus,
    Limits: Object.keys(limits).length ? limits : undefined,
    PullStartedAt: iso(t.pullStartedAt),
    PullStoppedAt: iso(t.pullStoppedAt),
    ExecutionStoppedAt: iso(t.executionStoppedAt),
    AvailabilityZone: t.availabilityZone,
    LaunchType: t.launchType,
    Containers: t.containers.map(containerResponse),
  });
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

function cpuStats(s: StatsSample | undefined): Record<string, unknown> {
  return {
    cpu_usage: { total_usage: s?.stats.cpuUsageNs ?? 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    system_cpu_usage: s?.systemCpuNs ?? 0,
    online_cpus: s?.onlineCpus ?? 0,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

/**
 * A container's usage in Docker's stats shape (Engine API ContainerStats): cpu_stats with the
 * previous reading as precpu_stats (zeros before there is one, as Docker's first reading), and
 * memory_stats whose `stats.cache` is the page cache that `docker stats` subtracts.
 */
export function dockerStats(runtimeId: string, pair: StatsPair): Record<string, unknown> {
  const { current, previous } = pair;
  const s = current.stats;
  return {
    read: s.readAt.toISOString(),
    preread: previous?.stats.readAt.toISOString() ?? ZERO_TIME,
    pids_stats: { current: s.pids },
    blkio_stats: {
      io_service_bytes_recursive: [], io_serviced_recursive: [], io_queue_recursive: [], io_service_time_recursive: [],
      io_wait_time_recursive: [], io_merged_recursive: [], io_time_recursive: [], sectors_recursive: [],
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(current),
    precpu_stats: cpuStats(previous),
    memory_stats: {
      usage: s.memoryUsageBytes,
      stats: { cache: s.memoryCacheBytes },
      limit: Math.min(s.memoryLimitBytes, current.hostMemoryBytes),
    },
    name: `/${runtimeId}`,
    id: runtimeId,
  };
}

/** All CPUs' time in ns from /proc/stat's first line (USER_HZ is 100 on Linux), as Docker reads it. */
export async function readSystemCpuNs(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
  const ticks = line.split(/\s+/).slice(1, 8).reduce((sum, v) => sum + (Number(v) || 0), 0);
  return ticks * (1e9 / 100);
}

/** A token for one container's URL: unguessable, so one task cannot read another's metadata. */
export function newMetadataToken(): string {
  return randomBytes(16).toString('hex');
}

export interface MetadataResponse {
  readonly status: number;
  readonly body: unknown;
}

export interface MetadataEndpointOptions {
  /** The port on every address (default 51679); 0 takes a free one at the first listen and keeps it. */
  readonly port?: number;
  readonly logger?: { error(message: string, fields?: Record<string, unknown>): void };
}

export interface MetadataEndpoint {
  /** The port listened on; undefined before the first listen when options.port was 0. */
  readonly port: number | undefined;
  register(token: string, source: MetadataSource): void;
  unregister(token: string): void;
  /** Listens on `address` (once per address; later calls reuse it) and gives the base URL there. */
  listen(address: string): Promise<string>;
  /** Answers one request; the HTTP servers call this, and tests call it without sockets. */
  handle(method: string, path: string): Promise<MetadataResponse>;
  close(): Promise<void>;
}

const PATH = /^\/v[34]\/([A-Za-z0-9_.-]+)(\/task)?(\/stats)?\/?$/;

/**
 * @example
 *   const metadata = createMetadataEndpoint({ port: 51679 });
 *   const base = await metadata.listen('169.254.172.1');          // http://169.254.172.1:51679
 *   metadata.register(token, source);                            // ${base}/v4/${token} answers
 */
export function createMetadataEndpoint(options: MetadataEndpointOptions = {}): MetadataEndpoint {
  const sources = new Map<string, MetadataSource>();
  const servers = new Map<string, Promise<Server>>();
  let port = options.port ?? DEFAULT_METADATA_PORT;
  // Opens run one at a time so that with port 0 the first fixes the port the others use.
  let opening: Promise<unknown> = Promise.resolve();

  async function handle(method: string, path: string): Promise<MetadataResponse> {
    if (method !== 'GET' && method !== 'HEAD') return { status: 405, body: { message: `${method} is not allowed: the metadata endpoint is read-only` } };
    const m = PATH.exec(path.split('?', 1)[0] ?? '');
    const source = m === null ? undefined : sources.get(m[1]!);
    if (m === null || source === undefined) return { status: 404, body: { message: `no task metadata at ${path}` } };
    const task = source.task();
    const container = task.containers.find((c) => c.name === source.containerName);
    if (container === undefined) return { status: 404, body: { message: `no container ${source.containerName} in task ${task.taskArn}` } };
    const [, , wholeTask, stats] = m;
    if (wholeTask === undefined && stats === undefined) return { status: 200, body: containerResponse(container) };
    if (stats === undefined) return { status: 200, body: taskResponse(task) };
    if (wholeTask === undefined) {
      const pair = await source.stats(container.runtimeId);
      return { status: 200, body: pair === undefined ? {} : dockerStats(container.runtimeId, pair) };
    }
    // Docker stats per container id; a container not running maps to null, as ECS's does.
    const all: Record<string, unknown> = {};
    for (const c of task.containers) {
      const pair = await source.stats(c.runtimeId);
      all[c.runtimeId] = pair === undefined ? null : dockerStats(c.runtimeId, pair);
    }
    return { status: 200, body: all };
  }

  function serve(req: IncomingMessage, res: ServerResponse): void {
    handle(req.method ?? 'GET', req.url ?? '/').then(
      ({ status, body }) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        options.logger?.error('metadata endpoint: request failed', { path: req.url, error: err });
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: 'internal error' }));
      },
    );
  }

  async function open(address: string): Promise<Server> {
    const server = createServer(serve);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Port 0 means "any" only once: every address must answer on the same port, so URLs differ by address alone.
    port = (server.address() as AddressInfo).port;
    return server;
  }

  return {
    get port() {
      return port === 0 ? undefined : port;
    },
    register(token, source) {
      sources.set(token, source);
    },
    unregister(token) {
      sources.delete(token);
    },
    async listen(address) {
      let server = servers.get(address);
      if (server === undefined) {
        server = opening.then(() => open(address));
        opening = server.catch(() => undefined);
        servers.set(address, server);
      }
      try {
        await server;
      } catch (err) {
        // Not kept: a later call tries again (the address may appear once its bridge exists).
        if (servers.get(address) === server) servers.delete(address);
        throw err;
      }
      return `http://${address}:${port}`;
    },
    handle,
    async close() {
      const all = await Promise.allSettled(servers.values());
      servers.clear();
      const closing = all.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])).map((server) => new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }));
      await Promise.all(closing);
    },
  };
}
