/**
 * `berth agent`: one per host. Registers the host as a container instance over a session with the
 * server, runs the tasks placed on it as runc containers, and reports every state change. Composes
 * the runtime (runc), the image store, task networks, the metadata endpoint and the task manager.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../image/index.js';
import { BridgeNetwork, DEFAULT_AWSVPC_SUBNET, DEFAULT_BRIDGE_SUBNET } from '../runtime/network/index.js';
import { RuncDriver } from '../runtime/runc/runc-driver.js';
import type { Logger } from '../edge/logger.js';
import { agentCapabilities } from './capabilities.js';
import { createMetadataEndpoint, DEFAULT_METADATA_PORT } from './metadata.js';
import { PROTOCOL_VERSION, type ResourceSpec, type ServerMessage } from './protocol.js';
import { berthRegistryCredentials } from './registry-auth.js';
import { connectSession, type AgentCredentials, type AgentSession, type HelloMessage } from './session-client.js';
import { createTaskManager, type TaskManager } from './task-manager.js';

export interface AgentOptions {
  /** The server's API endpoint, e.g. http://127.0.0.1:4566. */
  readonly endpoint: string;
  readonly credentials: AgentCredentials;
  readonly region: string;
  readonly cluster: string;
  /** The agent's state: containers, images, networks, its instance ARN. */
  readonly stateDir: string;
  readonly agentVersion: string;
  /** Custom attributes, beside ecs.os-type, ecs.cpu-architecture and ecs.availability-zone. */
  readonly attributes?: Readonly<Record<string, string>>;
  readonly availabilityZone?: string;
  /** Task bridges are named `<prefix>vpc` and `<prefix>br` (≤ 15 characters with the suffix). */
  readonly networkPrefix?: string;
  readonly awsvpcSubnet?: string;
  readonly bridgeSubnet?: string;
  /** Let task namespaces reach beyond the host (masquerade + ip_forward), as Docker does. */
  readonly outbound?: boolean;
  readonly metadataPort?: number;
  /** How often container usage goes to the server. */
  readonly statsIntervalMs?: number;
  /** How many containers are created and started at once (default: twice the cores). */
  readonly startConcurrency?: number;
  readonly logger: Logger;
}

export interface RunningAgent {
  readonly session: AgentSession;
  readonly tasks: TaskManager;
  /** The container instance ARN, once the server welcomed the agent. */
  containerInstanceArn(): string | undefined;
  /** Stops talking to the server and lets go of the containers (they keep running; a restart re-adopts them). */
  close(): Promise<void>;
}

/** Ports ECS reserves on every instance (SSH, Docker, the agent's own). */
const RESERVED_PORTS = ['22', '2375', '2376', '51678', '51679'];

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const { logger } = options;
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const instanceFile = join(options.stateDir, 'instance.json');
  let instanceArn = await readInstanceArn(instanceFile);

  const driver = new RuncDriver({ stateDir: join(options.stateDir, 'runtime') });
  const imageStore = await ImageStore.open(join(options.stateDir, 'images'));
  const registryAuth = berthRegistryCredentials(options.endpoint, options.credentials, options.region);
  const prefix = options.networkPrefix ?? 'berth-';
  const hostPortsDir = join(options.stateDir, 'network', 'host-ports');
  const outbound = options.outbound ?? true;
  const awsvpc = new BridgeNetwork({ bridge: `${prefix}vpc`, subnet: options.awsvpcSubnet ?? DEFAULT_AWSVPC_SUBNET, stateDir: join(options.stateDir, 'network', 'awsvpc'), hostPortsDir, outbound });
  const bridge = new BridgeNetwork({ bridge: `${prefix}br`, subnet: options.bridgeSubnet ?? DEFAULT_BRIDGE_SUBNET, stateDir: join(options.stateDir, 'network', 'bridge'), hostPortsDir, outbound });
  const metadata = createMetadataEndpoint({ port: options.metadataPort ?? DEFAULT_METADATA_PORT, logger });

  // The task manager reports through the session, which is opened after it (hello lists its tasks).
  const link: { session?: AgentSession } = {};
  const tasks = createTaskManager({
    driver,
    // Images in Berth's own registry are pulled with a token from the API, as the ECS agent does for ECR.
    images: {
      snapshots: imageStore.snapshots,
      config: (image) => imageStore.config(image),
      pull: async (reference, pullOptions) => {
        const credentials = pullOptions?.credentials ?? (await registryAuth.credentialsFor(reference));
        return imageStore.pull(reference, { ...pullOptions, ...(credentials === undefined ? {} : { credentials }) });
      },
    },
    network: { awsvpc, bridge },
    stateDir: options.stateDir,
    metadataEndpoint: metadata,
    onStateChange: (change) => link.session?.send({ type: 'taskStateChange', change }),
    logger,
    ...(options.availabilityZone === undefined ? {} : { availabilityZone: options.availabilityZone }),
    ...(options.startConcurrency === undefined ? {} : { startConcurrency: options.startConcurrency }),
  });
  const adopted = await tasks.adopt();
  if (adopted.length > 0) logger.warn(`re-adopted ${adopted.length} running task(s)`, { tasks: adopted });

  const hello = (): HelloMessage => ({
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    cluster: options.cluster,
    ...(instanceArn === undefined ? {} : { containerInstanceArn: instanceArn }),
    totalResources: hostResources(),
    attributes: [
      { name: 'ecs.os-type', value: 'linux' },
      { name: 'ecs.cpu-architecture', value: process.arch === 'arm64' ? 'arm64' : 'x86_64' },
      { name: 'ecs.availability-zone', value: options.availabilityZone ?? `${options.region}a` },
      // What the task definitions' requiresAttributes ask for (container-health-check, task-eni, ...).
      ...agentCapabilities({ initProcess: driver.initBinary !== undefined }),
      ...Object.entries(options.attributes ?? {}).map(([name, value]) => ({ name, value })),
    ],
    agentVersion: options.agentVersion,
    hostname: hostname(),
    runningTaskArns: tasks.list(),
  });

  const onMessage = (message: ServerMessage): void => {
    switch (message.type) {
      case 'welcome':
        if (message.containerInstanceArn !== instanceArn) {
          instanceArn = message.containerInstanceArn;
          writeFile(instanceFile, JSON.stringify({ containerInstanceArn: instanceArn }), { mode: 0o600 }).catch((err: unknown) =>
            logger.error('could not save the container instance ARN', { err }),
          );
        }
        return;
      case 'runTask':
        tasks.run(message.task, message.taskDefinition).catch((err: unknown) => logger.error('could not start task', { task: message.task.taskArn, err }));
        return;
      case 'stopTask':
        tasks.stop(message.taskArn, message.reason, message.stopCode).then(
          (known) => {
            // A stop for a task this host does not run must still end it on the server.
            if (!known) link.session?.send({ type: 'taskStateChange', change: { taskArn: message.taskArn, status: 'STOPPED', containers: [], reason: 'Task not found on this host' } });
          },
          (err: unknown) => logger.error('could not stop task', { task: message.taskArn, err }),
        );
        return;
      case 'error':
        logger.error(`server refused the session: ${message.code}: ${message.message}`);
        if (message.code.includes('ContainerInstance') || message.message.includes('container instance')) {
          // Our saved instance is unknown there (deregistered, or another server): register anew.
          instanceArn = undefined;
        }
        return;
      case 'heartbeat':
      case 'ack':
        return;
    }
  };

  const openSession = connectSession({ endpoint: options.endpoint, credentials: options.credentials, region: options.region, hello, onMessage, logger });
  link.session = openSession;
  const statsTimer = setInterval(() => {
    if (openSession.connected) openSession.send({ type: 'stats', at: Date.now(), tasks: tasks.usage() });
  }, options.statsIntervalMs ?? 10_000).unref();

  return {
    session: openSession,
    tasks,
    containerInstanceArn: () => instanceArn,
    async close() {
      clearInterval(statsTimer);
      await openSession.close();
      await tasks.close();
      await metadata.close();
      imageStore.close();
    },
  };
}

/** CPU units are cores × 1024 (ECS's unit); memory in MiB. */
function hostResources(): ResourceSpec[] {
  return [
    { name: 'CPU', type: 'INTEGER', integerValue: cpus().length * 1024 },
    { name: 'MEMORY', type: 'INTEGER', integerValue: Math.floor(totalmem() / (1024 * 1024)) },
    { name: 'PORTS', type: 'STRINGSET', stringSetValue: RESERVED_PORTS },
    { name: 'PORTS_UDP', type: 'STRINGSET', stringSetValue: [] },
  ];
}

async function readInstanceArn(path: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(path, 'utf8')) as { containerInstanceArn?: string }).containerInstanceArn;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
