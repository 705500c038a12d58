/**
 * The task manager for real: busybox tasks pulled from Debian's docker-registry and run with runc,
 * on bridges, namespaces and host ports of this run only (removed at the end), reporting state
 * changes as the session would send them. Every container, namespace and snapshot made is removed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerDefinition, TaskDefinition } from '../ecs/task-definition-types.js';
import { buildTask, type Task } from '../ecs/task-shape.js';
import { ImageStore } from '../image/index.js';
import { buildBusybox, push, startRegistry, type RegistryProcess } from '../image/testing/registry.js';
import { BridgeNetwork, contains, parseSubnet } from '../runtime/network/index.js';
import { cgroupDirs, detectCgroupLayout } from '../runtime/runc/cgroups.js';
import { RuncDriver } from '../runtime/runc/runc-driver.js';
import { runtimeIdFor } from './container-spec.js';
import { createMetadataEndpoint, type MetadataEndpoint } from './metadata.js';
import type { TaskStateChange } from './protocol.js';
import { createTaskManager, type TaskManager, type TaskManagerLogger } from './task-manager.js';

// Names of this run only: bridges, link-local /24s apart from the network module's tests, host ports, a cgroup parent.
const pid = process.pid;
const slot = pid % 8;
const awsvpcSubnet = `169.254.${240 + slot * 2}.0/24`;
const bridgeSubnet = `169.254.${241 + slot * 2}.0/24`;
const portBase = 40000 + (pid % 400) * 20;
const cgroupParent = `/berth-agent-test-${pid}`;
const CLUSTER_ARN = 'arn:aws:ecs:us-east-1:000000000000:cluster/default';

let tmp: string;
let registry: RegistryProcess;
let IMAGE: string;
let images: ImageStore;
let driver: RuncDriver;
let awsvpc: BridgeNetwork;
let bridge: BridgeNetwork;
let metadata: MetadataEndpoint;
let manager: TaskManager;
const changes: TaskStateChange[] = [];
const errors: string[] = [];

/** Keeps errors (a test fails on any it did not expect); debug and warnings are noise here. */
const logger: TaskManagerLogger = {
  error: (m, f) => errors.push(`${m} ${JSON.stringify(f, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`),
  warn: () => undefined,
  debug: () => undefined,
};

function managerOver(stateDir: string, d: RuncDriver, endpoint: MetadataEndpoint, sink: TaskStateChange[]): TaskManager {
  return createTaskManager({
    driver: d, images, network: { awsvpc, bridge }, stateDir, metadataEndpoint: endpoint, onStateChange: (c) => sink.push(c), logger,
    cleanupDelayMs: 0, statsIntervalMs: 100, availabilityZone: 'local-1a',
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'berth-agent-'));
  await buildBusybox(join(tmp, 'layout'), 'v1');
  registry = await startRegistry(join(tmp, 'registry'));
  IMAGE = `${registry.host}/busybox:v1`;
  await push(join(tmp, 'layout'), 'v1', IMAGE);
  images = await ImageStore.open(join(tmp, 'images'));
  driver = new RuncDriver({ stateDir: join(tmp, 'runtime'), cgroupParent });
  const common = { stateDir: join(tmp, 'net'), outbound: false, hostPortRange: [portBase, portBase + 19] as const };
  awsvpc = new BridgeNetwork({ ...common, bridge: `bta${pid % 100000}`, subnet: awsvpcSubnet, stateDir: join(tmp, 'net', 'awsvpc'), hostPortsDir: join(tmp, 'net', 'ports') });
  bridge = new BridgeNetwork({ ...common, bridge: `btb${pid % 100000}`, subnet: bridgeSubnet, stateDir: join(tmp, 'net', 'bridge'), hostPortsDir: join(tmp, 'net', 'ports') });
  metadata = createMetadataEndpoint({ port: 0 });
  manager = managerOver(join(tmp, 'agent'), driver, metadata, changes);
}, 120_000);

afterEach(async () => {
  for (const arn of manager.list()) await manager.stop(arn, 'test over');
  // Cleanup runs just after STOPPED: wait for it, then nothing of ours may be left.
  await within('cleanup', async () => {
    const left = [...(await driver.list()), ...(await images.snapshots.list()), ...(await readdir(join(tmp, 'agent', 'tasks')).catch(() => []))];
    return left.length === 0 ? true : undefined;
  });
  expect(errors.splice(0)).toEqual([]);
});

afterAll(async () => {
  try {
    await manager?.close();
    for (const c of (await driver?.list()) ?? []) {
      if (c.status === 'running') await driver.kill(c.id, 'SIGKILL').catch(() => undefined);
      await driver.wait(c.id);
      await driver.delete(c.id);
    }
    for (const s of (await images?.snapshots.list()) ?? []) await images.snapshots.remove(s.key);
    images?.close();
    await metadata?.close();
    await awsvpc?.destroy();
    await bridge?.destroy();
    for (const dir of cgroupDirs(await detectCgroupLayout(), cgroupParent)) if (existsSync(dir)) await rmdir(dir);
    await registry?.stop();
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

async function within<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const changesOf = (arn: string, from = changes): TaskStateChange[] => from.filter((c) => c.taskArn === arn);

/**
 * The task's reports so far only move forward through the statuses of a start. Which of them are
 * sent depends on timing: one that would not change the status the server knows may wait, and go
 * with the next (reportCoalesceMs).
 */
function expectForwardOnly(arn: string): void {
  const ranks = changesOf(arn).map((c) => ['PROVISIONING', 'PENDING', 'RUNNING'].indexOf(c.status));
  expect(ranks.every((r, i) => r >= 0 && r >= (ranks[i - 1] ?? 0))).toBe(true);
}

/** Waits for a reported change of the task that satisfies `ok`. */
function until(arn: string, what: string, ok: (c: TaskStateChange) => boolean, from = changes): Promise<TaskStateChange> {
  return within(what, () => changesOf(arn, from).find(ok));
}
const statusIs = (status: TaskStateChange['status']) => (c: TaskStateChange): boolean => c.status === status;
const container = (c: TaskStateChange, name: string) => {
  const found = c.containers.find((x) => x.containerName === name);
  if (!found) throw new Error(`no container ${name} in the change`);
  return found;
};

let seq = 0;
type Def = Partial<ContainerDefinition> & { name: string };

function taskDefinition(defs: Def[], over: Partial<TaskDefinition> = {}): TaskDefinition {
  seq++;
  return {
    taskDefinitionArn: `arn:aws:ecs:us-east-1:000000000000:task-definition/agent-test-${seq}:1`,
    family: `agent-test-${seq}`, revision: 1, status: 'ACTIVE', networkMode: 'host', volumes: [], placementConstraints: [],
    compatibilities: ['EC2'], registeredAt: 0, registeredBy: 'test',
    containerDefinitions: defs.map((d) => ({
      image: IMAGE, cpu: 0, essential: true, portMappings: [], environment: [], mountPoints: [], volumesFrom: [], systemControls: [], ...d,
    })),
    ...over,
  };
}

function taskOf(td: TaskDefinition): Task {
  return buildTask({
    taskArn: `arn:aws:ecs:us-east-1:000000000000:task/default/${randomBytes(16).toString('hex')}`,
    clusterArn: CLUSTER_ARN, td, launchType: 'EC2', group: `family:${td.family}`, tags: [], enableExecuteCommand: false, now: new Date(),
    overrides: { containerOverrides: td.containerDefinitions.map((c) => ({ name: c.name })), inferenceAcceleratorOverrides: [] },
    containerArns: td.containerDefinitions.map((c) => `arn:aws:ecs:us-east-1:000000000000:container/default/${c.name}`),
  });
}

async function runTask(defs: Def[], over: Partial<TaskDefinition> = {}, m = manager): Promise<Task> {
  const td = taskDefinition(defs, over);
  const task = taskOf(td);
  await m.run(task, td);
  return task;
}

/** A shell loop that ends on SIGTERM with `code`, as a well-behaved server would. */
/**
 * Exits `code` on SIGTERM. Once the trap is set (a SIGTERM before would kill sh with 143) it says
 * `trapped` on stderr and makes /tmp/trapped, for a test or a health check to wait on.
 */
const polite = (before = '', code = 42): string[] => ['/bin/sh', '-c', `${before} trap "echo got-TERM; exit ${code}" TERM; echo trapped >&2; touch /tmp/trapped; while true; do sleep 0.1; done`];
const TRAPPED_CHECK = { command: ['CMD-SHELL', 'test -f /tmp/trapped'], interval: 0.2, timeout: 2, retries: 2 };

async function logOf(task: Task, name: string, m = manager, stream: 'stdout' | 'stderr' = 'stdout'): Promise<string> {
  const paths = (await m.logPaths(task.taskArn))[name];
  if (!paths) throw new Error(`no logs for ${name}`);
  return readFile(paths[stream], 'utf8');
}

/** Waits until each named container has set its SIGTERM trap (it says `trapped` on stderr). */
async function trapsSet(task: Task, ...names: string[]): Promise<void> {
  for (const name of names) await within(`${name}'s trap`, async () => ((await logOf(task, name, manager, 'stderr')).includes('trapped') ? true : undefined));
}

function fetchText(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 1000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

describe('task manager with runc', () => {
  it('runs web only after init SUCCEEDED (dependsOn), sharing a task volume, then stops on request and cleans up', async () => {
    const task = await runTask([
      { name: 'init', essential: false, entryPoint: ['/bin/sh', '-c', 'echo init-was-here > /data/order'], mountPoints: [{ sourceVolume: 'data', containerPath: '/data' }] },
      {
        name: 'web', dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }], mountPoints: [{ sourceVolume: 'data', containerPath: '/data' }],
        // Host mode reaches the metadata endpoint on the host's loopback.
        entryPoint: polite('cat /data/order; wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4"; echo;'),
      },
    ], { volumes: [{ name: 'data' }] });
    const running = await until(task.taskArn, 'RUNNING', statusIs('RUNNING'));
    expect(container(running, 'init')).toMatchObject({ status: 'STOPPED', exitCode: 0 });
    expect(container(running, 'web')).toMatchObject({ status: 'RUNNING', runtimeId: runtimeIdFor(task.taskArn, 'web') });
    expect(container(running, 'web').imageDigest).toMatch(/^sha256:/);
    expect(running.pullStartedAt).toBeLessThanOrEqual(running.pullStoppedAt!);
    expect(running.startedAt).toBeGreaterThanOrEqual(running.pullStoppedAt!);
    // web was never reported past PENDING before init had succeeded.
    for (const c of changesOf(task.taskArn)) {
      if (container(c, 'web').status !== 'PENDING') expect(container(c, 'init')).toMatchObject({ status: 'STOPPED', exitCode: 0 });
    }
    expectForwardOnly(task.taskArn);
    expect(manager.list()).toContain(task.taskArn);
    const out = await within('web’s output', async () => {
      const text = await logOf(task, 'web');
      return text.split('\n').length >= 3 ? text : undefined;
    });
    const [order, meta] = out.split('\n');
    expect(order).toBe('init-was-here');
    expect(JSON.parse(meta!)).toMatchObject({ Name: 'web', DockerId: runtimeIdFor(task.taskArn, 'web'), Networks: [{ NetworkMode: 'host' }] });

    await trapsSet(task, 'web');
    expect(await manager.stop(task.taskArn, 'Task stopped by test')).toBe(true);
    const stopped = changesOf(task.taskArn).at(-1)!;
    expect(stopped).toMatchObject({ status: 'STOPPED', stopCode: 'UserInitiated', reason: 'Task stopped by test' });
    expect(container(stopped, 'web')).toMatchObject({ status: 'STOPPED', exitCode: 42 });
    expect(stopped.executionStoppedAt).toBeGreaterThanOrEqual(stopped.startedAt!);
    expect(manager.list()).not.toContain(task.taskArn);
    expect(await manager.stop('arn:aws:ecs:us-east-1:000000000000:task/default/unknown')).toBe(false);
  });

  it('stops the task when an essential container exits, with EssentialContainerExited and its exit code', async () => {
    const task = await runTask([
      // HEALTHY once its trap is set, so the SIGTERM that app's exit brings finds it ready.
      { name: 'sidecar', essential: false, entryPoint: polite(), healthCheck: TRAPPED_CHECK },
      { name: 'app', dependsOn: [{ containerName: 'sidecar', condition: 'HEALTHY' }], entryPoint: ['/bin/sh', '-c', 'exit 3'] },
    ]);
    const stopped = await until(task.taskArn, 'STOPPED', statusIs('STOPPED'));
    expect(stopped).toMatchObject({ stopCode: 'EssentialContainerExited', reason: 'Essential container in task exited' });
    expect(container(stopped, 'app')).toMatchObject({ status: 'STOPPED', exitCode: 3 });
    expect(container(stopped, 'sidecar')).toMatchObject({ status: 'STOPPED', exitCode: 42 }); // it got SIGTERM
    expect(changesOf(task.taskArn).map((c) => c.status)).toContain('STOPPING');
  });

  it('stopTask: SIGTERM first; a container ignoring it is killed after its stopTimeout', async () => {
    const task = await runTask([
      { name: 'polite', entryPoint: polite() },
      { name: 'stubborn', stopTimeout: 2, entryPoint: ['/bin/sh', '-c', 'trap "echo ignored-TERM" TERM; echo trapped >&2; while true; do sleep 0.1; done'] },
    ]);
    await until(task.taskArn, 'RUNNING', statusIs('RUNNING'));
    await trapsSet(task, 'polite', 'stubborn');
    const stopping = manager.stop(task.taskArn, 'make it stop', 'ServiceSchedulerInitiated');
    // The stubborn one got SIGTERM (and ignored it) before the SIGKILL: its logs are there until cleanup.
    await within('SIGTERM to the stubborn container', async () => ((await logOf(task, 'stubborn')).includes('ignored-TERM') ? true : undefined));
    expect(await stopping).toBe(true);
    const stopped = changesOf(task.taskArn).at(-1)!;
    expect(stopped).toMatchObject({ status: 'STOPPED', stopCode: 'ServiceSchedulerInitiated', reason: 'make it stop' });
    expect(container(stopped, 'polite')).toMatchObject({ exitCode: 42 });
    expect(container(stopped, 'stubborn')).toMatchObject({ exitCode: 137 }); // SIGKILL
  });

  it('runs health checks: HEALTHY (which a HEALTHY dependency waits for), then UNHEALTHY', async () => {
    const task = await runTask([
      {
        name: 'web', entryPoint: polite('touch /tmp/ok;'),
        healthCheck: { command: ['CMD-SHELL', 'test -f /tmp/ok'], interval: 0.2, timeout: 2, retries: 2 },
      },
      { name: 'after', essential: false, dependsOn: [{ containerName: 'web', condition: 'HEALTHY' }], entryPoint: polite() },
    ]);
    const healthy = await until(task.taskArn, 'HEALTHY', (c) => c.healthStatus === 'HEALTHY' && container(c, 'after').status === 'RUNNING');
    expect(container(healthy, 'web')).toMatchObject({ healthStatus: 'HEALTHY' });
    for (const c of changesOf(task.taskArn)) {
      if (container(c, 'after').status !== 'PENDING') expect(container(c, 'web').healthStatus).toBe('HEALTHY');
    }
    expect(changesOf(task.taskArn)[0]!.healthStatus).toBe('UNKNOWN');

    const exec = await driver.exec(runtimeIdFor(task.taskArn, 'web'), ['rm', '/tmp/ok']);
    expect(exec.exitCode).toBe(0);
    const unhealthy = await until(task.taskArn, 'UNHEALTHY', (c) => c.healthStatus === 'UNHEALTHY');
    expect(unhealthy.status).toBe('RUNNING'); // the service scheduler decides what an unhealthy task means
    expect(container(unhealthy, 'web').healthStatus).toBe('UNHEALTHY');
  });

  it('bridge mode: a dynamic host port serves busybox httpd on 127.0.0.1, and the metadata endpoint answers inside', async () => {
    const task = await runTask([
      // httpd as PID 1 would ignore SIGTERM; the init process forwards it (Docker's --init).
      { name: 'web', portMappings: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp' }], linuxParameters: { initProcessEnabled: true } },
      {
        name: 'probe', essential: false,
        entryPoint: ['/bin/sh', '-c', 'wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task"; echo; wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4"'],
      },
    ], { networkMode: 'bridge' });
    const running = await until(task.taskArn, 'RUNNING with bindings', (c) => c.status === 'RUNNING' && container(c, 'web').networkBindings !== undefined);
    const [binding] = container(running, 'web').networkBindings!;
    expect(binding).toMatchObject({ containerPort: 8080, protocol: 'tcp', bindIP: '0.0.0.0' });
    expect(binding!.hostPort).toBeGreaterThanOrEqual(portBase);
    expect(binding!.hostPort).toBeLessThanOrEqual(portBase + 19);
    expect(await within('httpd on the host port', () => fetchText(`http://127.0.0.1:${binding!.hostPort}/`))).toBe('hello from busybox\n');

    await until(task.taskArn, 'probe done', (c) => container(c, 'probe').status === 'STOPPED');
    const probeId = runtimeIdFor(task.taskArn, 'probe');
    const out = await logOf(task, 'probe');
    const [taskJson, containerJson] = out.trim().split('\n');
    const taskMeta = JSON.parse(taskJson!);
    expect(taskMeta).toMatchObject({ Cluster: CLUSTER_ARN, TaskARN: task.taskArn, Family: expect.stringMatching(/^agent-test-/), Revision: '1', LaunchType: 'EC2' });
    expect(taskMeta.Containers.map((c: { Name: string }) => c.Name)).toEqual(['web', 'probe']);
    expect(taskMeta.Containers[0].Ports).toEqual([{ ContainerPort: 8080, Protocol: 'tcp', HostPort: binding!.hostPort, HostIp: '0.0.0.0' }]);
    expect(JSON.parse(containerJson!)).toMatchObject({
      DockerId: probeId, Name: 'probe', Image: IMAGE, Type: 'NORMAL', DesiredStatus: 'RUNNING',
      Labels: { 'com.amazonaws.ecs.task-arn': task.taskArn, 'com.amazonaws.ecs.container-name': 'probe' },
      Networks: [{ NetworkMode: 'bridge', IPv4Addresses: [expect.any(String)] }],
    });
    expect(container(changesOf(task.taskArn).at(-1)!, 'probe')).toMatchObject({ exitCode: 0 });
    expect(running.privateIPv4Address).toBeUndefined();
    const netns = `/run/netns/${bridge.netnsName(runtimeIdFor(task.taskArn, 'web'))}`;
    expect(existsSync(netns)).toBe(true);
    await manager.stop(task.taskArn);
    await within('the namespace gone', () => (existsSync(netns) ? undefined : true));
  });

  it('awsvpc: the task gets its own address in one namespace, usage is read, and the metadata endpoint answers with stats', async () => {
    const task = await runTask([{
      name: 'app',
      entryPoint: polite('ip -4 -o addr show eth0; wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/task"; echo; wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4/stats"; echo;'),
    }], { networkMode: 'awsvpc' });
    const running = await until(task.taskArn, 'RUNNING', statusIs('RUNNING'));
    expectForwardOnly(task.taskArn);
    const ip = running.privateIPv4Address!;
    expect(contains(parseSubnet(awsvpcSubnet), ip)).toBe(true);
    const out = await within('the probe output', async () => {
      const text = await logOf(task, 'app');
      return text.split('\n').length >= 4 ? text : undefined;
    });
    const [addr, taskJson, statsJson] = out.split('\n');
    expect(addr).toContain(`inet ${ip}/24`);
    const meta = JSON.parse(taskJson!);
    expect(meta).toMatchObject({ TaskARN: task.taskArn, DesiredStatus: 'RUNNING', AvailabilityZone: 'local-1a' });
    expect(meta.Containers[0].Networks).toEqual([{
      NetworkMode: 'awsvpc', IPv4Addresses: [ip], AttachmentIndex: 0, IPv4SubnetCIDRBlock: awsvpcSubnet,
      SubnetGatewayIpv4Address: `${awsvpc.gateway}/24`,
    }]);
    expect(JSON.parse(statsJson!)).toMatchObject({ id: runtimeIdFor(task.taskArn, 'app'), cpu_stats: { online_cpus: expect.any(Number) }, memory_stats: { usage: expect.any(Number) } });

    const usage = await within('usage', () => manager.usage().find((u) => u.taskArn === task.taskArn));
    expect(usage.containers).toEqual([{ containerName: 'app', cpuNanos: expect.any(Number), memoryBytes: expect.any(Number) }]);
    expect(usage.containers[0]!.cpuNanos).toBeGreaterThan(0);

    const netns = `/run/netns/${awsvpc.netnsName(task.taskArn.split('/').at(-1)!)}`;
    expect(existsSync(netns)).toBe(true);
    await manager.stop(task.taskArn);
    expect(existsSync(netns)).toBe(false); // released before STOPPED
    expect(manager.usage().find((u) => u.taskArn === task.taskArn)).toBeUndefined();
  });

  it('fails a task whose image cannot be pulled with CannotPullContainerError', async () => {
    const task = await runTask([{ name: 'app', image: `${registry.host}/nothing-here:1` }]);
    const stopped = await until(task.taskArn, 'STOPPED', statusIs('STOPPED'));
    expect(stopped.stopCode).toBe('TaskFailedToStart');
    expect(stopped.reason).toMatch(/^CannotPullContainerError: /);
    expect(container(stopped, 'app')).toMatchObject({ status: 'STOPPED', reason: stopped.reason });
    expect(container(stopped, 'app').exitCode).toBeUndefined();
  });

  it('fails a task whose container cannot be created with CannotCreateContainerError', async () => {
    const task = await runTask([{ name: 'app', user: 'nosuchuser', entryPoint: polite() }]);
    const stopped = await until(task.taskArn, 'STOPPED', statusIs('STOPPED'));
    expect(stopped).toMatchObject({ stopCode: 'TaskFailedToStart' });
    expect(stopped.reason).toMatch(/^CannotCreateContainerError: .*nosuchuser/);
  });

  it('fails an awsvpc task on an agent without an awsvpc network, saying why', async () => {
    const sink: TaskStateChange[] = [];
    const m = createTaskManager({
      driver, images, network: {}, stateDir: join(tmp, 'no-net'), metadataEndpoint: metadata, onStateChange: (c) => sink.push(c), logger, cleanupDelayMs: 0,
    });
    try {
      const task = await runTask([{ name: 'app', entryPoint: polite() }], { networkMode: 'awsvpc' }, m);
      const stopped = await until(task.taskArn, 'STOPPED', statusIs('STOPPED'), sink);
      expect(stopped).toMatchObject({ stopCode: 'TaskFailedToStart', reason: 'ResourceInitializationError: this agent has no awsvpc network configured' });
    } finally {
      await m.close();
    }
  });

  it('a new task manager over the same state dir re-adopts a running task and kills nothing', async () => {
    const stateDir = join(tmp, 'restart');
    const d1 = new RuncDriver({ stateDir: join(tmp, 'restart-runtime'), cgroupParent });
    const e1 = createMetadataEndpoint({ port: 0 });
    const before: TaskStateChange[] = [];
    const m1 = managerOver(stateDir, d1, e1, before);
    const task = await runTask([{
      name: 'app', entryPoint: polite('echo started;'),
      healthCheck: { ...TRAPPED_CHECK, retries: 1 },
    }], { networkMode: 'awsvpc' }, m1);
    await until(task.taskArn, 'RUNNING and HEALTHY', (c) => c.status === 'RUNNING' && c.healthStatus === 'HEALTHY', before);
    const id = runtimeIdFor(task.taskArn, 'app');
    const pidBefore = (await d1.state(id)).pid;
    const ip = before.at(-1)!.privateIPv4Address;
    await m1.close();
    await e1.close();

    // The agent comes back: a new driver, endpoint (on the same port) and manager over the same dirs.
    const d2 = new RuncDriver({ stateDir: join(tmp, 'restart-runtime'), cgroupParent });
    const e2 = createMetadataEndpoint({ port: e1.port! });
    const after: TaskStateChange[] = [];
    const m2 = managerOver(stateDir, d2, e2, after);
    try {
      expect(await m2.adopt()).toEqual([task.taskArn]);
      expect(await m2.adopt()).toEqual([]); // once
      expect(m2.list()).toEqual([task.taskArn]);
      const state = await d2.state(id);
      expect(state).toMatchObject({ status: 'running', pid: pidBefore });
      const resumed = await until(task.taskArn, 'RUNNING again', statusIs('RUNNING'), after);
      expect(resumed).toMatchObject({ privateIPv4Address: ip, healthStatus: 'HEALTHY' });
      expect(container(resumed, 'app')).toMatchObject({ status: 'RUNNING', runtimeId: id });
      expect(await readFile((await d2.logPaths(id)).stdout, 'utf8')).toBe('started\n'); // no signal reached it
      // The container's metadata URL still answers, through the new endpoint.
      const exec = await d2.exec(id, ['/bin/sh', '-c', 'wget -q -O - "$ECS_CONTAINER_METADATA_URI_V4"']);
      expect(JSON.parse(exec.output)).toMatchObject({ Name: 'app', DockerId: id });

      await m2.stop(task.taskArn);
      const stopped = after.at(-1)!;
      expect(stopped).toMatchObject({ status: 'STOPPED', stopCode: 'UserInitiated' });
      expect(container(stopped, 'app')).toMatchObject({ exitCode: 42 });
      await within('cleanup', async () => ((await d2.list()).length === 0 && (await readdir(join(stateDir, 'tasks'))).length === 0 ? true : undefined));
    } finally {
      await m2.close();
      await e2.close();
    }
  }, 60_000);
});
