/**
 * The agent's task manager: turns a placed ECS task into running containers through the runtime
 * Driver, executing task-plan's decisions, and reports every container and task state change.
 * State lives in one small file per task beside the driver's own, so a restarted agent re-adopts
 * its tasks and kills nothing.
 *
 *   <stateDir>/tasks/<taskId>/task.jsonl  the task, its definition and what was done: one whole state per
 *                                         line, appended on change (the last whole line is the state)
 *   <stateDir>/tasks/<taskId>/volumes/    task-scoped volumes (removed with the task)
 *   <stateDir>/volumes/<name>/            Docker volumes of scope `shared` (kept)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import type { ContainerDefinition, TaskDefinition } from '../ecs/task-definition-types.js';
import type { Task } from '../ecs/task-shape.js';
import type { ImageRecord, ImageStore, PullProgress, Snapshotter } from '../image/index.js';
import type { ContainerState, Driver, ImageProcessConfig, LogPaths, NetworkAttachment } from '../runtime/driver.js';
import { isRuntimeError } from '../runtime/errors.js';
import type { BridgeNetwork } from '../runtime/network/index.js';
import { numberToIp } from '../runtime/network/index.js';
import { stopSignal } from '../runtime/process.js';
import { type ContainerNetworking, containerSpec, LABEL_TASK_ARN, runtimeIdFor, taskIdOf } from './container-spec.js';
import { healthCheckConfig, runHealthChecks } from './health.js';
import { type MetadataEndpoint, newMetadataToken, readSystemCpuNs, type StatsPair, type StatsSample } from './metadata.js';
import type { ContainerStateChange, ContainerUsage, NetworkBinding, StopCode, TaskStateChange } from './protocol.js';
import { createLimiter, singleFlight } from './limiter.js';
import { containerStatusOf, DEFAULT_STOP_TIMEOUT_MS, type PlanAction, type PlanTask, planTask } from './task-plan.js';
import { appendState, JOURNAL_FILE, JOURNAL_MAX_BYTES, lastState } from './task-journal.js';
import {
  CONTAINER_FIELDS_IN_MEMORY, type ContainerRecord, defOf, metadataView, networkingOf, type PersistedTask, TASK_FIELDS_NOT_IN_STATE, type TaskRecord, without,
} from './task-record.js';

/** ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION's default: a stopped task's containers and logs stay 3 h. */
export const DEFAULT_CLEANUP_DELAY_MS = 3 * 60 * 60 * 1000;
export const DEFAULT_REPORT_COALESCE_MS = 100;
export const DEFAULT_STATS_INTERVAL_MS = 5000;

/** The logging the task manager needs (the edge's Logger fits). */
export interface TaskManagerLogger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

/** What the task manager uses of a BridgeNetwork. */
export type TaskBridge = Pick<BridgeNetwork, 'gateway' | 'subnet' | 'ensure' | 'attach' | 'publish' | 'detach' | 'attachment'>;

/** The host's task networks; a task whose mode needs a missing one fails to start, saying so. */
export interface TaskNetworks {
  /** awsvpc: one namespace per task on this bridge, shared by its containers. */
  readonly awsvpc?: TaskBridge;
  /** bridge mode: one namespace per container on this bridge, container ports published on the host. */
  readonly bridge?: TaskBridge;
}

export interface TaskManagerOptions {
  readonly driver: Driver;
  readonly images: Pick<ImageStore, 'pull' | 'config'> & { readonly snapshots: Pick<Snapshotter, 'prepare' | 'remove'> };
  readonly network: TaskNetworks;
  readonly stateDir: string;
  readonly metadataEndpoint: MetadataEndpoint;
  /** Every change of what a task reports (status, a container's status, exit code, bindings, health). */
  readonly onStateChange: (change: TaskStateChange) => void;
  readonly logger: TaskManagerLogger;
  /** How long a STOPPED task's containers, logs and snapshots are kept before they are removed. */
  readonly cleanupDelayMs?: number;
  /** How often running containers' usage is read for usage(). */
  readonly statsIntervalMs?: number;
  /** Shown in the metadata endpoint when the task itself names none. */
  readonly availabilityZone?: string;
  /**
   * How many containers are created and started at once (default: twice the cores). More only adds
   * runc processes competing for the same cores; fewer leaves a core idle while another container's
   * files are written.
   */
  readonly startConcurrency?: number;
  /**
   * How long a report that leaves the task's status as the server knows it (a container's details
   * filled in, a pull done, a health change) waits, so that one report carries what follows within
   * it (default 100 ms). A new task status is reported at once, with everything waiting. A start
   * of a cached image (~50 ms) so sends one report, RUNNING, instead of three: the two PENDING ones
   * cost the server a commit each, and the agent and the server may share one event loop. A long
   * pull still shows within 100 ms.
   */
  readonly reportCoalesceMs?: number;
}

/** Containers created and started at once by default: each start is part runc (CPU), part file I/O. */
export const defaultStartConcurrency = (): number => Math.max(2, availableParallelism() * 2);

export interface TaskManager {
  /** Starts running a task (idempotent: a task already known is left alone). Resolves once accepted. */
  run(task: Task, taskDefinition: TaskDefinition): Promise<void>;
  /**
   * Stops a task: its containers get their stop signal, SIGKILL after stopTimeout. Resolves once the
   * task is STOPPED (or the manager closes); false when the task is not known here.
   */
  stop(taskArn: string, reason?: string, stopCode?: StopCode): Promise<boolean>;
  /** Tasks not yet STOPPED. */
  list(): string[];
  /** After an agent restart: takes back the tasks in the state dir, re-attaching to their containers. */
  adopt(): Promise<string[]>;
  /** The latest usage of each running container, per task (the session's `stats` message). */
  usage(): { taskArn: string; containers: ContainerUsage[] }[];
  /** The log files of each container of a task that was created. */
  logPaths(taskArn: string): Promise<Record<string, LogPaths>>;
  /** Lets go of everything without stopping any container: a new manager can adopt them. */
  close(): Promise<void>;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Which network address a container reaches the metadata endpoint at. */
function metadataAddressFor(networking: ContainerNetworking, networks: TaskNetworks): string {
  if (networking === 'task') return networks.awsvpc?.gateway ?? '127.0.0.1';
  if (networking === 'container') return networks.bridge?.gateway ?? '127.0.0.1';
  // Host mode reaches the host's loopback; `none` reaches nothing, and gets the URL anyway, as on ECS.
  return '127.0.0.1';
}

function subnetCidrOf(bridge: TaskBridge): string {
  return `${numberToIp(bridge.subnet.network)}/${bridge.subnet.prefixLength}`;
}

/** ECS reports host-mode ports as mapped to themselves. */
function hostModeBindings(def: ContainerDefinition): NetworkBinding[] {
  return def.portMappings.flatMap((pm) => (pm.containerPort === undefined ? [] : [{
    bindIP: '0.0.0.0', containerPort: pm.containerPort, hostPort: pm.hostPort || pm.containerPort, protocol: pm.protocol ?? 'tcp',
  }]));
}

/**
 * @example
 *   const manager = createTaskManager({ driver, images, network: { awsvpc, bridge }, stateDir, metadataEndpoint,
 *     onStateChange: (change) => session.send({ type: 'taskStateChange', change }), logger });
 *   await manager.adopt();                       // after a restart
 *   await manager.run(task, taskDefinition);     // from a runTask message
 */
export function createTaskManager(options: TaskManagerOptions): TaskManager {
  const { driver, images, logger } = options;
  const metadata = options.metadataEndpoint;
  const tasks = new Map<string, TaskRecord>();
  const inFlight = new Set<Promise<unknown>>();
  const cleanupDelayMs = options.cleanupDelayMs ?? DEFAULT_CLEANUP_DELAY_MS;
  const reportCoalesceMs = options.reportCoalesceMs ?? DEFAULT_REPORT_COALESCE_MS;
  const tasksDir = join(options.stateDir, 'tasks');
  const sharedVolumesDir = join(options.stateDir, 'volumes');
  /** Creates and starts, bounded: a hundred tasks placed at once do not start a hundred runc at once. */
  const starts = createLimiter(options.startConcurrency ?? defaultStartConcurrency());
  /** One pull of an image (and read of its config) for every container that needs it while it is under way. */
  const pulls = singleFlight<{ image: ImageRecord; config: ImageProcessConfig }>();
  let closed = false;

  const taskDir = (rec: Pick<TaskRecord, 'taskId'>): string => join(tasksDir, rec.taskId);

  /**
   * Runs work in the background, tracked so close() can wait for it; failures are logged, never
   * dropped. It starts after the current reconcile returns, which therefore never runs re-entrantly.
   */
  function track(rec: TaskRecord, what: string, work: () => Promise<void>): void {
    const p = Promise.resolve().then(work).catch((err: unknown) => logger.error(`task manager: ${what} failed`, { taskArn: rec.task.taskArn, error: err }));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  // ---- decisions in, actions out ----

  function planInput(rec: TaskRecord): PlanTask {
    return {
      desiredStatus: rec.desiredStatus,
      networkMode: rec.networkMode,
      network: rec.network,
      ...(rec.networkError === undefined ? {} : { networkError: rec.networkError }),
      containers: rec.containers.map((c) => {
        const def = defOf(rec, c);
        return {
          name: c.name,
          essential: def.essential,
          dependsOn: (def.dependsOn ?? []).map((d) => ({ containerName: d.containerName ?? '', condition: d.condition ?? 'START' })),
          stopTimeoutMs: def.stopTimeout === undefined ? DEFAULT_STOP_TIMEOUT_MS : def.stopTimeout * 1000,
          ...(def.startTimeout === undefined ? {} : { startTimeoutMs: def.startTimeout * 1000 }),
          hasHealthCheck: def.healthCheck !== undefined && def.healthCheck.command?.[0] !== 'NONE',
          phase: c.phase,
          since: c.since,
          ...(c.startedAt === undefined ? {} : { startedAt: c.startedAt }),
          ...(c.exitCode === undefined ? {} : { exitCode: c.exitCode }),
          ...(c.reason === undefined ? {} : { reason: c.reason }),
          ...(c.health === undefined ? {} : { health: c.health.status }),
          ...(c.signalledAt === undefined ? {} : { signalledAt: c.signalledAt }),
          ...(c.killedAt === undefined ? {} : { killedAt: c.killedAt }),
        };
      }),
    };
  }

  function reconcile(rec: TaskRecord): void {
    if (closed || rec.removed) return;
    const now = Date.now();
    const plan = planTask(planInput(rec), now);
    for (const action of plan.actions) apply(rec, action, now);
    rec.status = plan.taskStatus;
    rec.health = plan.healthStatus;
    if (plan.taskStatus === 'RUNNING') rec.startedAt ??= now;
    if (plan.taskStatus === 'DEPROVISIONING' || plan.taskStatus === 'STOPPED') rec.executionStoppedAt ??= now;
    if (plan.taskStatus === 'STOPPED' && rec.stoppedAt === undefined) {
      rec.stoppedAt = now;
      scheduleCleanup(rec);
    }
    clearTimeout(rec.wake);
    if (plan.wakeAt !== undefined) rec.wake = setTimeout(() => reconcile(rec), Math.max(0, plan.wakeAt - Date.now()));
    report(rec);
    persist(rec);
    if (rec.status === 'STOPPED') for (const resolve of rec.onStopped.splice(0)) resolve();
  }

  function apply(rec: TaskRecord, action: PlanAction, now: number): void {
    const container = (name: string): ContainerRecord => {
      const c = rec.containers.find((x) => x.name === name);
      if (c === undefined) throw new Error(`plan named an unknown container ${name}`);
      return c;
    };
    switch (action.type) {
      case 'provision':
        rec.network = 'provisioning';
        track(rec, 'provisioning the network', () => provision(rec));
        return;
      case 'pull': {
        const c = container(action.container);
        Object.assign(c, { phase: 'pulling', since: now });
        rec.pullStartedAt ??= now;
        track(rec, `pulling ${c.name}`, () => pull(rec, c));
        return;
      }
      case 'start': {
        const c = container(action.container);
        Object.assign(c, { phase: 'starting', since: now });
        track(rec, `starting ${c.name}`, () => start(rec, c));
        return;
      }
      case 'signal': {
        const c = container(action.container);
        Object.assign(c, { phase: 'stopping', since: now, signalledAt: now });
        track(rec, `signalling ${c.name}`, () => signal(c, c.stopSignal ?? 'SIGTERM'));
        return;
      }
      case 'kill': {
        const c = container(action.container);
        c.killedAt = now;
        track(rec, `killing ${c.name}`, () => signal(c, 'SIGKILL'));
        return;
      }
      case 'abandon': {
        const c = container(action.container);
        Object.assign(c, { phase: 'stopped', since: now });
        if (action.reason !== undefined) c.reason = action.reason;
        return;
      }
      case 'stopTask':
        rec.desiredStatus = 'STOPPED';
        rec.stopCode = action.stopCode;
        rec.stopReason = action.reason;
        logger.debug('task manager: stopping task', { taskArn: rec.task.taskArn, stopCode: action.stopCode, reason: action.reason });
        return;
      case 'release':
        rec.network = 'releasing';
        track(rec, 'releasing the network', () => release(rec));
        return;
    }
  }

  // ---- the actions ----

  async function provision(rec: TaskRecord): Promise<void> {
    try {
      const networkings = new Set(rec.containers.map((c) => networkingOf(rec, c)));
      if (networkings.has('task')) {
        const net = options.network.awsvpc;
        if (net === undefined) throw new Error('this agent has no awsvpc network configured');
        const a = await net.attach(rec.taskId);
        rec.attachment = { netnsPath: a.netnsPath, ipv4Address: a.ipv4Address, gateway: a.gateway, subnetCidr: subnetCidrOf(net) };
      }
      if (networkings.has('container')) {
        if (options.network.bridge === undefined) throw new Error('this agent has no bridge network configured');
        await options.network.bridge.ensure();
      }
      const addresses = [...new Set([...networkings].map((n) => metadataAddressFor(n, options.network)))];
      rec.metadataBase = {};
      for (const address of addresses) rec.metadataBase[address] = await metadata.listen(address);
      rec.metadataAddresses = addresses;
      rec.network = 'ready';
    } catch (err) {
      rec.network = 'failed';
      rec.networkError = errorText(err);
      logger.warn('task manager: task network failed', { taskArn: rec.task.taskArn, error: err });
    }
    reconcile(rec);
  }

  async function release(rec: TaskRecord): Promise<void> {
    try {
      await releaseNetwork(rec);
    } catch (err) {
      // The task is over either way; cleanup tries again, and the error stays in the log.
      logger.error('task manager: releasing the task network failed', { taskArn: rec.task.taskArn, error: err });
    }
    rec.network = 'released';
    reconcile(rec);
  }

  async function releaseNetwork(rec: TaskRecord): Promise<void> {
    if (rec.networkMode === 'awsvpc') await options.network.awsvpc?.detach(rec.taskId);
    for (const c of rec.containers) {
      if (networkingOf(rec, c) === 'container') await options.network.bridge?.detach(c.runtimeId);
    }
  }

  async function pull(rec: TaskRecord, c: ContainerRecord): Promise<void> {
    const def = defOf(rec, c);
    const fields = { taskArn: rec.task.taskArn, container: c.name, image: def.image };
    try {
      const { image, config } = await pulls(def.image, async () => {
        const pulled = await images.pull(def.image, { onProgress: (e) => logPull(e, fields) });
        return { image: pulled, config: (await images.config(pulled)).config ?? {} };
      });
      c.image = image;
      c.imageConfig = config;
      c.imageDigest = image.digest;
      c.imageId = image.config.digest;
      if (c.phase === 'pulling') Object.assign(c, { phase: 'pulled', since: Date.now() });
    } catch (err) {
      logger.warn('task manager: pull failed', { ...fields, error: err });
      if (c.phase === 'pulling') Object.assign(c, { phase: 'stopped', since: Date.now(), reason: `CannotPullContainerError: ${errorText(err)}` });
    }
    rec.pullStoppedAt = Date.now();
    reconcile(rec);
  }

  function logPull(e: PullProgress, fields: Record<string, unknown>): void {
    switch (e.type) {
      case 'resolved':
        logger.debug('pull: resolved', { ...fields, digest: e.digest, layers: e.layers.length, bytes: e.layers.reduce((n, l) => n + l.size, 0) });
        return;
      case 'downloaded':
        logger.debug('pull: layer downloaded', { ...fields, layer: e.digest, bytes: e.size });
        return;
      case 'exists':
        logger.debug('pull: layer already stored', { ...fields, layer: e.digest });
        return;
      case 'extracted':
        logger.debug('pull: layer unpacked', { ...fields, layer: e.digest, skipped: e.skipped.length });
        return;
      case 'done':
        logger.debug('pull: done', { ...fields, digest: e.image.digest });
        return;
      case 'downloading':
      case 'extracting':
        return; // Too many to log; the per-layer ends above say how it went.
    }
  }

  /** Creates and starts a container when a start slot is free; one whose task was told to stop meanwhile is not started. */
  async function start(rec: TaskRecord, c: ContainerRecord): Promise<void> {
    await starts.run(async () => {
      if (closed || rec.removed) return; // Left as 'starting': a manager that adopts the task starts it again.
      if (rec.desiredStatus === 'STOPPED' && c.phase === 'starting') {
        Object.assign(c, { phase: 'stopped', since: Date.now() });
        reconcile(rec);
        return;
      }
      await createAndStart(rec, c);
    });
  }

  async function createAndStart(rec: TaskRecord, c: ContainerRecord): Promise<void> {
    let stage = 'CannotCreateContainerError';
    try {
      const def = defOf(rec, c);
      const health = healthCheckConfig(def.healthCheck);
      if (c.image === undefined) throw new Error('its image was not pulled');
      // Mounts the snapshot again after a reboot; the container may already exist (an agent restart mid-start).
      const rootfs = await images.snapshots.prepare(c.runtimeId, c.image);
      let state = await driver.state(c.runtimeId).catch((err: unknown) => {
        if (isRuntimeError(err, 'NotFound')) return undefined;
        throw err;
      });
      const network = await containerNetwork(rec, c, def);
      if (state === undefined) {
        const networking = networkingOf(rec, c);
        const address = metadataAddressFor(networking, options.network);
        const base = rec.metadataBase?.[address];
        const spec = containerSpec({
          task: rec.task, taskDefinition: rec.td, containerName: c.name, id: c.runtimeId, rootfs,
          ...(c.imageConfig === undefined ? {} : { image: c.imageConfig }),
          network,
          ...(base === undefined ? {} : { metadataUri: `${base}/v4/${c.token}` }),
          volumeDirs: { taskVolumesDir: join(taskDir(rec), 'volumes'), sharedVolumesDir },
        });
        // Docker makes a missing bind source a directory; runc would refuse it.
        for (const m of spec.mounts ?? []) if (!existsSync(m.sourcePath)) await mkdir(m.sourcePath, { recursive: true });
        c.stopSignal = stopSignal(c.imageConfig);
        state = await driver.create(spec);
      }
      c.createdAt = state.createdAt.getTime();
      if (state.status === 'created') {
        stage = 'CannotStartContainerError';
        state = await driver.start(c.runtimeId);
      }
      if (c.phase !== 'starting') logger.warn('task manager: container started after its task moved on', { taskArn: rec.task.taskArn, container: c.name });
      adoptState(rec, c, state, health !== undefined);
    } catch (err) {
      logger.warn('task manager: container did not start', { taskArn: rec.task.taskArn, container: c.name, error: err });
      Object.assign(c, { phase: 'stopped', since: Date.now(), reason: `${stage}: ${errorText(err)}` });
    }
    reconcile(rec);
  }

  /** The namespace a container joins, making its bridge-mode namespace and published ports (once). */
  async function containerNetwork(rec: TaskRecord, c: ContainerRecord, def: ContainerDefinition): Promise<NetworkAttachment> {
    switch (networkingOf(rec, c)) {
      case 'none':
        return { mode: 'none' };
      case 'host':
        c.bindings = hostModeBindings(def);
        return { mode: 'host' };
      case 'task':
        if (rec.attachment === undefined) throw new Error('the task network namespace is missing');
        return { mode: 'netns', path: rec.attachment.netnsPath, ipv4Address: rec.attachment.ipv4Address };
      case 'container': {
        const bridge = options.network.bridge;
        if (bridge === undefined) throw new Error('this agent has no bridge network configured');
        const mappings = def.portMappings.map((pm, i) => {
          if (pm.containerPort === undefined) throw new Error(`portMappings[${i}]: containerPortRange is not supported in bridge mode yet`);
          return { containerPort: pm.containerPort, ...(pm.hostPort ? { hostPort: pm.hostPort } : {}), protocol: pm.protocol ?? 'tcp' };
        });
        let a = await bridge.attachment(c.runtimeId);
        // An attachment that exists already has its ports: publishing again would claim more.
        if (a === undefined) {
          a = await bridge.attach(c.runtimeId);
          if (mappings.length > 0) await bridge.publish(c.runtimeId, mappings);
          a = (await bridge.attachment(c.runtimeId)) ?? a;
        }
        c.ipv4Address = a.ipv4Address;
        c.bindings = a.ports.map((p) => ({ bindIP: p.bindIP, containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol }));
        return { mode: 'netns', path: a.netnsPath, ipv4Address: a.ipv4Address };
      }
    }
  }

  /** Takes what the driver says of a container: watches a running one (exit, health), records a stopped one. */
  function adoptState(rec: TaskRecord, c: ContainerRecord, state: ContainerState, hasHealthCheck: boolean): void {
    c.createdAt = state.createdAt.getTime();
    if (state.startedAt !== undefined) c.startedAt = state.startedAt.getTime();
    if (state.status === 'stopped') {
      recordExit(c, state);
      return;
    }
    if (state.status === 'created') {
      Object.assign(c, { phase: 'waiting', since: Date.now() });
      return;
    }
    c.startedAt ??= Date.now();
    if (c.phase !== 'stopping') Object.assign(c, { phase: 'running', since: Date.now() });
    watch(rec, c);
    if (hasHealthCheck) startHealthChecks(rec, c);
  }

  function recordExit(c: ContainerRecord, exit: { exitCode?: number; finishedAt?: Date; error?: string }): void {
    c.checks?.stop();
    c.checks = undefined;
    Object.assign(c, { phase: 'stopped', since: Date.now() });
    if (exit.exitCode !== undefined) c.exitCode = exit.exitCode;
    if (exit.finishedAt !== undefined) c.finishedAt = exit.finishedAt.getTime();
    // No exit code: the runtime says why (it never ran, or its monitor was lost).
    if (exit.exitCode === undefined && exit.error !== undefined) {
      c.reason = c.startedAt === undefined ? `CannotStartContainerError: ${exit.error}` : exit.error;
    }
  }

  function watch(rec: TaskRecord, c: ContainerRecord): void {
    c.waiting?.abort();
    const waiting = new AbortController();
    c.waiting = waiting;
    track(rec, `waiting for ${c.name}`, async () => {
      for (;;) {
        try {
          const exit = await driver.wait(c.runtimeId, { signal: waiting.signal });
          recordExit(c, exit);
          break;
        } catch (err) {
          if (waiting.signal.aborted) return;
          if (isRuntimeError(err, 'NotFound')) {
            recordExit(c, { error: 'the container disappeared from the runtime' });
            break;
          }
          // A failed read of the driver's state is not an exit: look again shortly.
          logger.warn('task manager: waiting for a container failed; retrying', { taskArn: rec.task.taskArn, container: c.name, error: err });
          await new Promise((resolve) => setTimeout(resolve, 1000));
          if (waiting.signal.aborted) return;
        }
      }
      reconcile(rec);
    });
  }

  function startHealthChecks(rec: TaskRecord, c: ContainerRecord): void {
    let config;
    try {
      config = healthCheckConfig(defOf(rec, c).healthCheck);
    } catch (err) {
      // start() refuses such a container; one adopted from an older agent runs on, its health UNKNOWN.
      logger.error('task manager: the health check cannot run', { taskArn: rec.task.taskArn, container: c.name, error: err });
      return;
    }
    if (config === undefined || c.checks !== undefined) return;
    c.checks = runHealthChecks({
      exec: (args, o) => driver.exec(c.runtimeId, args, o),
      config,
      startedAt: c.startedAt ?? Date.now(),
      ...(c.health === undefined ? {} : { initial: c.health }),
      onCheck: (state) => {
        const changed = state.status !== c.health?.status;
        c.health = state;
        if (changed) reconcile(rec);
      },
      onError: (err) => logger.warn('task manager: health check could not run', { taskArn: rec.task.taskArn, container: c.name, error: err }),
    });
  }

  async function signal(c: ContainerRecord, sig: NodeJS.Signals): Promise<void> {
    try {
      await driver.kill(c.runtimeId, sig);
    } catch (err) {
      // Not running any more: its exit is on the way through wait().
      if (!isRuntimeError(err, 'Conflict')) throw err;
    }
  }

  // ---- reporting and persistence ----

  function stateChange(rec: TaskRecord): TaskStateChange {
    const containers: ContainerStateChange[] = rec.containers.map((c) => {
      const def = defOf(rec, c);
      return {
        containerName: c.name,
        ...(c.createdAt === undefined ? {} : { runtimeId: c.runtimeId }),
        ...(c.imageDigest === undefined ? {} : { imageDigest: c.imageDigest }),
        status: containerStatusOf(c.phase),
        ...(c.exitCode === undefined ? {} : { exitCode: c.exitCode }),
        ...(c.reason === undefined ? {} : { reason: c.reason }),
        ...(c.bindings === undefined || c.bindings.length === 0 ? {} : { networkBindings: c.bindings }),
        ...(def.healthCheck === undefined ? {} : { healthStatus: c.health?.status ?? 'UNKNOWN' }),
      };
    });
    return {
      taskArn: rec.task.taskArn,
      status: rec.status,
      ...(rec.desiredStatus === 'STOPPED' && rec.stopReason !== undefined ? { reason: rec.stopReason } : {}),
      ...(rec.desiredStatus === 'STOPPED' && rec.stopCode !== undefined ? { stopCode: rec.stopCode } : {}),
      containers,
      healthStatus: rec.health,
      ...(rec.attachment === undefined ? {} : { privateIPv4Address: rec.attachment.ipv4Address }),
      ...(rec.pullStartedAt === undefined ? {} : { pullStartedAt: rec.pullStartedAt }),
      ...(rec.pullStoppedAt === undefined ? {} : { pullStoppedAt: rec.pullStoppedAt }),
      ...(rec.startedAt === undefined ? {} : { startedAt: rec.startedAt }),
      ...(rec.executionStoppedAt === undefined ? {} : { executionStoppedAt: rec.executionStoppedAt }),
    };
  }

  function report(rec: TaskRecord): void {
    const change = stateChange(rec);
    const text = JSON.stringify(change);
    if (text === rec.lastReport) return;
    if (change.status === rec.reportedStatus && reportCoalesceMs > 0) {
      rec.reportTimer ??= setTimeout(() => {
        rec.reportTimer = undefined;
        if (!closed && !rec.removed) sendReport(rec, stateChange(rec));
      }, reportCoalesceMs);
      return;
    }
    sendReport(rec, change, text);
  }

  function sendReport(rec: TaskRecord, change: TaskStateChange, text = JSON.stringify(change)): void {
    clearTimeout(rec.reportTimer);
    rec.reportTimer = undefined;
    if (text === rec.lastReport) return;
    rec.lastReport = text;
    rec.reportedStatus = change.status;
    try {
      options.onStateChange(change);
    } catch (err) {
      logger.error('task manager: onStateChange threw', { taskArn: rec.task.taskArn, error: err });
    }
  }

  function persisted(rec: TaskRecord): PersistedTask {
    return {
      version: 1,
      task: rec.task,
      taskDefinition: rec.td,
      state: without(rec, TASK_FIELDS_NOT_IN_STATE),
      containers: rec.containers.map((c) => without(c, CONTAINER_FIELDS_IN_MEMORY)),
    };
  }

  /**
   * Appends the task's state to task.jsonl (task-journal.ts) after whatever write is under way.
   * Changes made while a write is queued are written together: only the latest state.
   */
  function persist(rec: TaskRecord): void {
    if (rec.writeQueued === true) return;
    rec.writeQueued = true;
    const dir = taskDir(rec);
    // Synchronous writes: a few KiB, on the path of every task's start (the first write comes before
    // its pull), where fs.promises would take a thread-pool round trip per call.
    rec.writing = rec.writing.then(() => {
      rec.writeQueued = false;
      if (rec.removed) return;
      const text = JSON.stringify(persisted(rec)); // the state as it is now: every change since the queueing
      if (text === rec.written) return; // a reconcile that changed nothing kept
      if (rec.dirMade !== true) {
        mkdirSync(dir, { recursive: true });
        rec.dirMade = true;
      }
      appendState(dir, text, rec.journal);
      rec.written = text;
    }).catch((err: unknown) => logger.error('task manager: writing the task state failed', { taskArn: rec.task.taskArn, error: err }));
  }

  // ---- cleanup ----

  function scheduleCleanup(rec: TaskRecord): void {
    clearTimeout(rec.cleanup);
    const due = (rec.stoppedAt ?? Date.now()) + cleanupDelayMs;
    rec.cleanup = setTimeout(() => track(rec, 'cleaning up', () => cleanup(rec)), Math.max(0, due - Date.now()));
  }

  async function cleanup(rec: TaskRecord): Promise<void> {
    if (closed || rec.removed) return;
    rec.removed = true;
    clearTimeout(rec.wake);
    clearTimeout(rec.reportTimer);
    for (const c of rec.containers) {
      c.checks?.stop();
      c.waiting?.abort();
      metadata.unregister(c.token);
      try {
        await driver.delete(c.runtimeId);
      } catch (err) {
        if (!isRuntimeError(err, 'NotFound')) logger.error('task manager: deleting a container failed', { taskArn: rec.task.taskArn, container: c.name, error: err });
      }
      await images.snapshots.remove(c.runtimeId).catch((err: unknown) =>
        logger.error('task manager: removing a snapshot failed', { taskArn: rec.task.taskArn, container: c.name, error: err }));
    }
    await releaseNetwork(rec).catch((err: unknown) => logger.error('task manager: releasing the task network failed', { taskArn: rec.task.taskArn, error: err }));
    await rec.writing;
    await rm(taskDir(rec), { recursive: true, force: true });
    tasks.delete(rec.task.taskArn);
    logger.debug('task manager: task cleaned up', { taskArn: rec.task.taskArn });
  }

  // ---- metadata and usage ----

  /** Reads a running container's usage now, keeping the reading before as `previous`. */
  async function sample(c: ContainerRecord): Promise<StatsPair | undefined> {
    // 'starting' too: the container's own first request (its metadata /stats) can come before the
    // manager has seen its start return; the driver answers NotFound/Conflict if it is not up yet.
    if (c.phase !== 'starting' && c.phase !== 'running' && c.phase !== 'stopping') return undefined;
    let stats;
    try {
      stats = await driver.stats(c.runtimeId);
    } catch (err) {
      if (isRuntimeError(err, 'Conflict') || isRuntimeError(err, 'NotFound')) return undefined;
      throw err;
    }
    const current: StatsSample = { stats, systemCpuNs: await readSystemCpuNs(), onlineCpus: availableParallelism(), hostMemoryBytes: totalmem() };
    c.stats = { current, ...(c.stats === undefined ? {} : { previous: c.stats.current }) };
    return c.stats;
  }

  function registerMetadata(rec: TaskRecord): void {
    for (const c of rec.containers) {
      metadata.register(c.token, {
        containerName: c.name,
        task: () => metadataView(rec, options.availabilityZone),
        stats: (runtimeId) => {
          const target = rec.containers.find((x) => x.runtimeId === runtimeId);
          return target === undefined ? Promise.resolve(undefined) : sample(target);
        },
      });
    }
  }

  const statsTimer = setInterval(() => {
    for (const rec of tasks.values()) {
      for (const c of rec.containers) {
        sample(c).catch((err: unknown) => logger.warn('task manager: reading usage failed', { taskArn: rec.task.taskArn, container: c.name, error: err }));
      }
    }
  }, options.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS);
  statsTimer.unref();

  // ---- adoption ----

  /** The last whole state in task.jsonl (or the task.json of an agent before it); undefined when there is none. */
  async function readPersisted(dir: string): Promise<PersistedTask | undefined> {
    let text: string;
    try {
      text = await readFile(join(dir, JOURNAL_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      text = await readFile(join(dir, 'task.json'), 'utf8').catch((e: unknown) => {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
        throw e;
      });
    }
    const doc = lastState(text) as PersistedTask | undefined;
    if (doc !== undefined && doc.version !== 1) throw new Error(`unknown task state version ${String(doc.version)}`);
    return doc;
  }

  async function adoptOne(doc: PersistedTask, states: Map<string, ContainerState>): Promise<TaskRecord> {
    const rec: TaskRecord = {
      ...doc.state,
      task: doc.task,
      td: doc.taskDefinition,
      taskId: taskIdOf(doc.task.taskArn),
      networkMode: doc.taskDefinition.networkMode ?? 'bridge',
      containers: doc.containers.map((c) => ({ ...c })),
      writing: Promise.resolve(),
      // Its first write rewrites the file: its size is unknown here, and a torn line goes with it.
      journal: { bytes: JOURNAL_MAX_BYTES },
      onStopped: [],
    };
    // Work that was under way when the agent went away is done again; all of it is idempotent.
    if (rec.network === 'provisioning') rec.network = 'pending';
    if (rec.network === 'releasing') rec.network = 'ready';
    for (const c of rec.containers) {
      const state = states.get(c.runtimeId);
      const hasHealthCheck = defOf(rec, c).healthCheck !== undefined;
      if (c.phase === 'stopped') {
        if (state?.status === 'running') logger.warn('task manager: a container recorded as stopped still runs', { taskArn: rec.task.taskArn, container: c.name });
        continue;
      }
      if (state !== undefined) {
        adoptState(rec, c, state, hasHealthCheck);
      } else if (c.startedAt !== undefined) {
        recordExit(c, { error: 'the container was lost while the agent was down' });
      } else {
        Object.assign(c, { phase: 'waiting', since: Date.now() });
      }
    }
    // Its containers' URLs name these addresses: the endpoint must answer there again (on the same port).
    for (const address of rec.metadataAddresses) {
      try {
        (rec.metadataBase ??= {})[address] = await metadata.listen(address);
      } catch (err) {
        logger.error('task manager: the metadata endpoint cannot listen for an adopted task', { taskArn: rec.task.taskArn, address, error: err });
      }
    }
    registerMetadata(rec);
    if (rec.stoppedAt !== undefined) scheduleCleanup(rec);
    return rec;
  }

  return {
    async run(task, taskDefinition) {
      if (closed) throw new Error('the task manager is closed');
      if (tasks.has(task.taskArn) || task.desiredStatus === 'STOPPED') return;
      const now = Date.now();
      const status = task.lastStatus === 'PROVISIONING' ? 'PROVISIONING' : 'PENDING';
      const rec: TaskRecord = {
        task, td: taskDefinition, taskId: taskIdOf(task.taskArn), networkMode: taskDefinition.networkMode ?? 'bridge',
        desiredStatus: 'RUNNING', network: 'pending', metadataAddresses: [],
        containers: taskDefinition.containerDefinitions.map((d) => ({
          name: d.name, runtimeId: runtimeIdFor(task.taskArn, d.name), token: newMetadataToken(), phase: 'waiting', since: now,
        })),
        status, health: 'UNKNOWN', writing: Promise.resolve(), journal: {}, onStopped: [],
        // What the server sent is what it knows: a first report with the same status can wait.
        ...(task.lastStatus === status ? { reportedStatus: status } : {}),
      };
      tasks.set(task.taskArn, rec);
      registerMetadata(rec);
      logger.debug('task manager: running task', { taskArn: task.taskArn, taskDefinition: taskDefinition.taskDefinitionArn });
      persist(rec);
      await rec.writing;
      reconcile(rec);
    },

    async stop(taskArn, reason, stopCode = 'UserInitiated') {
      const rec = tasks.get(taskArn);
      if (rec === undefined) return false;
      if (rec.status === 'STOPPED') return true;
      const stopped = new Promise<void>((resolve) => rec.onStopped.push(resolve));
      if (rec.desiredStatus === 'RUNNING') {
        rec.desiredStatus = 'STOPPED';
        rec.stopCode = stopCode;
        if (reason !== undefined) rec.stopReason = reason;
        reconcile(rec);
      }
      await stopped;
      return true;
    },

    list() {
      return [...tasks.values()].filter((r) => r.status !== 'STOPPED').map((r) => r.task.taskArn);
    },

    async adopt() {
      let names: string[];
      try {
        names = await readdir(tasksDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') names = [];
        else throw err;
      }
      const states = new Map((await driver.list()).map((s) => [s.id, s]));
      const adopted: TaskRecord[] = [];
      for (const name of names.sort()) {
        let doc: PersistedTask | undefined;
        try {
          doc = await readPersisted(join(tasksDir, name));
        } catch (err) {
          logger.error('task manager: a task state file cannot be read; left alone', { dir: join(tasksDir, name), error: err });
          continue;
        }
        if (doc === undefined || tasks.has(doc.task.taskArn)) continue;
        const rec = await adoptOne(doc, states);
        tasks.set(rec.task.taskArn, rec);
        adopted.push(rec);
      }
      const known = new Set(tasks.keys());
      for (const s of states.values()) {
        const arn = s.labels[LABEL_TASK_ARN];
        if (arn !== undefined && !known.has(arn)) logger.warn('task manager: a container of an unknown task is left alone', { container: s.id, taskArn: arn });
      }
      for (const rec of adopted) reconcile(rec);
      return adopted.map((r) => r.task.taskArn);
    },

    usage() {
      return [...tasks.values()].flatMap((rec) => {
        const containers = rec.containers.flatMap((c): ContainerUsage[] => {
          const s = c.stats?.current.stats;
          if (s === undefined || (c.phase !== 'running' && c.phase !== 'stopping')) return [];
          // What `docker stats` shows as used: page cache is reclaimable, so not counted.
          return [{
            containerName: c.name, cpuNanos: s.cpuUsageNs, memoryBytes: Math.max(0, s.memoryUsageBytes - s.memoryCacheBytes),
            ...(s.memoryLimitBytes < Number.MAX_SAFE_INTEGER ? { memoryLimitBytes: s.memoryLimitBytes } : {}),
          }];
        });
        return containers.length === 0 ? [] : [{ taskArn: rec.task.taskArn, containers }];
      });
    },

    async logPaths(taskArn) {
      const rec = tasks.get(taskArn);
      const out: Record<string, LogPaths> = {};
      for (const c of rec?.containers ?? []) if (c.createdAt !== undefined) out[c.name] = await driver.logPaths(c.runtimeId);
      return out;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(statsTimer);
      for (const rec of tasks.values()) {
        clearTimeout(rec.wake);
        clearTimeout(rec.cleanup);
        clearTimeout(rec.reportTimer);
        for (const c of rec.containers) {
          c.checks?.stop();
          c.waiting?.abort();
          metadata.unregister(c.token);
        }
      }
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      for (const rec of tasks.values()) {
        persist(rec);
        await rec.writing;
        for (const resolve of rec.onStopped.splice(0)) resolve();
      }
      tasks.clear();
    },
  };
}
