/**
 * The task manager's pacing, over an in-memory driver and image store (no runc): how many
 * containers it creates and starts at once, that concurrent tasks of one image share one pull, and
 * that a task told to stop while its start waits for a slot never gets a container.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskDefinition } from '../ecs/task-definition-types.js';
import { buildTask, type Task } from '../ecs/task-shape.js';
import type { ImageRecord } from '../image/index.js';
import type { ContainerSpec, ContainerState, Driver } from '../runtime/driver.js';
import { RuntimeError } from '../runtime/errors.js';
import type { MetadataEndpoint } from './metadata.js';
import type { TaskStateChange } from './protocol.js';
import { lastState } from './task-journal.js';
import { createTaskManager, type TaskManager, type TaskManagerOptions } from './task-manager.js';

const CLUSTER_ARN = 'arn:aws:ecs:us-east-1:000000000000:cluster/default';

/** A driver whose containers run the moment start() is let go; start() waits for the test's go-ahead. */
class FakeDriver {
  readonly name = 'fake';
  readonly containers = new Map<string, ContainerState>();
  readonly created: string[] = [];
  /** Starts under way now, and the most there ever were at once. */
  readonly starting = { now: 0, peak: 0 };
  /** Resolvers of start() calls held back, in call order. */
  readonly held: (() => void)[] = [];
  hold = true;

  create(spec: ContainerSpec): Promise<ContainerState> {
    if (this.containers.has(spec.id)) return Promise.reject(new RuntimeError('AlreadyExists', spec.id));
    const state: ContainerState = { id: spec.id, status: 'created', createdAt: new Date(), labels: {} };
    this.containers.set(spec.id, state);
    this.created.push(spec.id);
    return Promise.resolve(state);
  }

  async start(id: string): Promise<ContainerState> {
    this.starting.now++;
    this.starting.peak = Math.max(this.starting.peak, this.starting.now);
    try {
      if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
      const state: ContainerState = { ...this.known(id), status: 'running', startedAt: new Date() };
      this.containers.set(id, state);
      return state;
    } finally {
      this.starting.now--;
    }
  }

  state(id: string): Promise<ContainerState> {
    return Promise.resolve().then(() => this.known(id));
  }

  kill(id: string): Promise<void> {
    return Promise.resolve().then(() => {
      const state = this.known(id);
      this.containers.set(id, { ...state, status: 'stopped', exitCode: 137, finishedAt: new Date() });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private readonly waiters: (() => void)[] = [];
  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<{ exitCode?: number }> {
    for (;;) {
      const state = this.known(id);
      if (state.status === 'stopped') return { ...(state.exitCode === undefined ? {} : { exitCode: state.exitCode }) };
      if (options.signal?.aborted) throw new Error('aborted');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        options.signal?.addEventListener('abort', () => resolve());
      });
    }
  }

  list(): Promise<ContainerState[]> {
    return Promise.resolve([...this.containers.values()]);
  }

  delete(id: string): Promise<void> {
    this.containers.delete(id);
    return Promise.resolve();
  }

  stats(): Promise<never> {
    return Promise.reject(new RuntimeError('NotFound', 'no stats here'));
  }

  private known(id: string): ContainerState {
    const state = this.containers.get(id);
    if (state === undefined) throw new RuntimeError('NotFound', `no container ${id}`);
    return state;
  }
}

const IMAGE = 'registry.test/busybox:v1';
const imageRecord: ImageRecord = {
  reference: IMAGE,
  digest: 'sha256:aaaa',
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  platform: { os: 'linux', architecture: 'amd64' },
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:cccc', size: 2 },
  layers: [],
  pulledAt: new Date(0).toISOString(),
};

const metadata: MetadataEndpoint = {
  port: 1,
  register: () => undefined,
  unregister: () => undefined,
  listen: (address) => Promise.resolve(`http://${address}:1`),
  handle: () => Promise.reject(new Error('no metadata requests in these tests')),
  close: () => Promise.resolve(),
};

let dir: string;
let driver: FakeDriver;
let pullCalls: string[];
let releasePull: (() => void) | undefined;
let changes: TaskStateChange[];
let errors: string[];
let manager: TaskManager;

function managerWith(over: Partial<TaskManagerOptions> = {}): TaskManager {
  return createTaskManager({
    driver: driver as unknown as Driver,
    images: {
      pull: async (reference) => {
        pullCalls.push(reference);
        await new Promise<void>((resolve) => (releasePull = resolve));
        return imageRecord;
      },
      config: () => Promise.resolve({ config: { Cmd: ['sh'] } } as never),
      snapshots: { prepare: (key) => Promise.resolve(join(dir, 'rootfs', key)), remove: () => Promise.resolve() },
    },
    network: {},
    stateDir: join(dir, 'agent'),
    metadataEndpoint: metadata,
    onStateChange: (c) => changes.push(c),
    logger: { error: (m, f) => errors.push(`${m} ${JSON.stringify(f)}`), warn: () => undefined, debug: () => undefined },
    cleanupDelayMs: 60_000,
    statsIntervalMs: 60_000,
    ...over,
  });
}

let seq = 0;
function newTask(): { task: Task; td: TaskDefinition } {
  seq++;
  const td: TaskDefinition = {
    taskDefinitionArn: `arn:aws:ecs:us-east-1:000000000000:task-definition/pace-${seq}:1`,
    family: `pace-${seq}`, revision: 1, status: 'ACTIVE', networkMode: 'none', volumes: [], placementConstraints: [],
    compatibilities: ['EC2'], registeredAt: 0, registeredBy: 'test',
    containerDefinitions: [{ name: 'app', image: IMAGE, cpu: 0, essential: true, portMappings: [], environment: [], mountPoints: [], volumesFrom: [], systemControls: [] }],
  };
  const task = buildTask({
    taskArn: `arn:aws:ecs:us-east-1:000000000000:task/default/${seq.toString(16).padStart(32, '0')}`,
    clusterArn: CLUSTER_ARN, td, launchType: 'EC2', group: `family:${td.family}`, tags: [], enableExecuteCommand: false, now: new Date(),
    overrides: { containerOverrides: [{ name: 'app' }], inferenceAcceleratorOverrides: [] },
    containerArns: [`arn:aws:ecs:us-east-1:000000000000:container/default/${seq}`],
  });
  return { task, td };
}

async function eventually<T>(what: string, probe: () => T | undefined): Promise<T> {
  for (let i = 0; i < 2000; i++) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const lastOf = (arn: string) => changes.filter((c) => c.taskArn === arn).at(-1);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-pace-'));
  driver = new FakeDriver();
  pullCalls = [];
  releasePull = undefined;
  changes = [];
  errors = [];
});

afterEach(async () => {
  releasePull?.(); // a pull a test left held (resolving twice is harmless)
  driver.hold = false;
  for (const go of driver.held.splice(0)) go();
  await manager.close();
  await rm(dir, { recursive: true, force: true });
  expect(errors).toEqual([]);
});

describe('task manager pacing', () => {
  it('pulls an image once for all the tasks that need it while the pull is under way', async () => {
    manager = managerWith({ startConcurrency: 2 });
    const tasks = Array.from({ length: 5 }, newTask);
    for (const { task, td } of tasks) await manager.run(task, td);
    await eventually('the pull', () => releasePull);
    expect(pullCalls).toEqual([IMAGE]);
    releasePull!();
    driver.hold = false;
    for (const go of driver.held.splice(0)) go();
    for (const { task } of tasks) await eventually(`${task.taskArn} RUNNING`, () => (lastOf(task.taskArn)?.status === 'RUNNING' ? true : undefined));
    expect(pullCalls).toEqual([IMAGE]);
    // A later task pulls again (the pull policy is "always", as ECS's default): nothing is cached here.
    const late = newTask();
    await manager.run(late.task, late.td);
    await eventually('the second pull', () => (pullCalls.length === 2 ? true : undefined));
    releasePull!();
    await eventually('the late task RUNNING', () => (lastOf(late.task.taskArn)?.status === 'RUNNING' ? true : undefined));
  });

  it('creates and starts at most startConcurrency containers at once, in the order they were pulled', async () => {
    manager = managerWith({ startConcurrency: 3 });
    const tasks = Array.from({ length: 8 }, newTask);
    for (const { task, td } of tasks) await manager.run(task, td);
    (await eventually('the pull', () => releasePull))();
    await eventually('3 starts', () => (driver.held.length === 3 ? true : undefined));
    // The others wait for a slot: none of them was even created.
    expect(driver.created).toHaveLength(3);
    expect(driver.starting.peak).toBe(3);
    for (let done = 0; done < 8; done++) {
      await eventually('a held start', () => (driver.held.length > 0 ? true : undefined));
      driver.held.shift()!();
    }
    for (const { task } of tasks) await eventually(`${task.taskArn} RUNNING`, () => (lastOf(task.taskArn)?.status === 'RUNNING' ? true : undefined));
    expect(driver.starting.peak).toBe(3);
    expect(driver.created).toHaveLength(8);
  });

  it('does not start a container whose task was told to stop while it waited for a slot', async () => {
    manager = managerWith({ startConcurrency: 1 });
    const first = newTask();
    const second = newTask();
    await manager.run(first.task, first.td);
    await manager.run(second.task, second.td);
    (await eventually('the pull', () => releasePull))();
    await eventually('the first start', () => (driver.held.length === 1 ? true : undefined));
    const stopped = manager.stop(second.task.taskArn, 'Scaled in', 'ServiceSchedulerInitiated');
    driver.held.shift()!();
    expect(await stopped).toBe(true);
    const last = lastOf(second.task.taskArn)!;
    expect(last.status).toBe('STOPPED');
    expect(last.stopCode).toBe('ServiceSchedulerInitiated');
    expect(last.containers[0]!.status).toBe('STOPPED');
    expect(driver.created).toHaveLength(1);
    await eventually('the first task RUNNING', () => (lastOf(first.task.taskArn)?.status === 'RUNNING' ? true : undefined));
  });

  /** Runs one new task on `manager`, letting its pull and start go, until it is RUNNING. */
  async function runningTask(): Promise<Task> {
    const { task, td } = newTask();
    await manager.run(task, td);
    (await eventually('the pull', () => releasePull))();
    driver.hold = false;
    for (const go of driver.held.splice(0)) go();
    await eventually('RUNNING', () => (lastOf(task.taskArn)?.status === 'RUNNING' ? true : undefined));
    return task;
  }

  it('writes the latest task state to disk', async () => {
    manager = managerWith({ startConcurrency: 4 });
    const task = await runningTask();
    const file = join(dir, 'agent', 'tasks', task.taskArn.split('/').at(-1)!, 'task.jsonl');
    for (let i = 0; i < 200; i++) {
      const saved = lastState(await readFile(file, 'utf8')) as { state: { status: string }; containers: { phase: string }[] };
      if (saved.state.status === 'RUNNING' && saved.containers[0]!.phase === 'running') return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('task.jsonl never held the RUNNING state');
  });

  it('adopts a task from the task.json an agent before task.jsonl wrote', async () => {
    manager = managerWith({ startConcurrency: 4 });
    const task = await runningTask();
    await manager.close();
    // What the earlier agent left: one whole state in task.json.
    const taskDir = join(dir, 'agent', 'tasks', task.taskArn.split('/').at(-1)!);
    const state = lastState(await readFile(join(taskDir, 'task.jsonl'), 'utf8'));
    await writeFile(join(taskDir, 'task.json'), JSON.stringify(state));
    await rm(join(taskDir, 'task.jsonl'));
    manager = managerWith();
    expect(await manager.adopt()).toEqual([task.taskArn]);
    expect(manager.list()).toEqual([task.taskArn]);
  });
});

describe('task manager reports', () => {
  const reportsOf = (arn: string) => changes.filter((c) => c.taskArn === arn);

  it('sends a start that ends within reportCoalesceMs as one RUNNING report carrying every detail', async () => {
    manager = managerWith({ reportCoalesceMs: 60_000 });
    driver.hold = false;
    const { task, td } = newTask();
    await manager.run(task, td);
    (await eventually('the pull', () => releasePull))();
    await eventually('RUNNING', () => (lastOf(task.taskArn)?.status === 'RUNNING' ? true : undefined));
    // The PENDING steps (accepted, pulled, container created) went with the RUNNING report.
    expect(reportsOf(task.taskArn)).toHaveLength(1);
    const [running] = reportsOf(task.taskArn);
    expect(running!.pullStartedAt).toBeTypeOf('number');
    expect(running!.pullStoppedAt).toBeTypeOf('number');
    expect(running!.containers[0]).toMatchObject({ containerName: 'app', status: 'RUNNING', imageDigest: imageRecord.digest });
  });

  it('sends a report that leaves the status the server knows once reportCoalesceMs has passed', async () => {
    manager = managerWith({ reportCoalesceMs: 30 });
    const { task, td } = newTask();
    await manager.run(task, td);
    await eventually('the pull', () => releasePull);
    // The server sent the task as PENDING: the first PENDING report waits...
    expect(reportsOf(task.taskArn)).toEqual([]);
    // ...and goes once the window has passed, even though the pull is still under way.
    const pending = await eventually('the PENDING report', () => reportsOf(task.taskArn)[0]);
    expect(pending).toMatchObject({ status: 'PENDING', containers: [{ containerName: 'app', status: 'PENDING' }] });
    expect(pending.pullStartedAt).toBeTypeOf('number');
    releasePull!();
    driver.hold = false;
    for (const go of driver.held.splice(0)) go();
    await eventually('RUNNING', () => (lastOf(task.taskArn)?.status === 'RUNNING' ? true : undefined));
    // A stop is a new status: it goes at once, with nothing left waiting behind it.
    expect(await manager.stop(task.taskArn, 'done')).toBe(true);
    expect(lastOf(task.taskArn)).toMatchObject({ status: 'STOPPED' });
  });

  it('reports every change at once with reportCoalesceMs 0', async () => {
    manager = managerWith({ reportCoalesceMs: 0 });
    const { task, td } = newTask();
    await manager.run(task, td);
    await eventually('the pull', () => releasePull);
    expect(reportsOf(task.taskArn).map((c) => c.status)).toEqual(['PENDING']);
  });

  it('reports at once a first status that differs from the one the server sent', async () => {
    manager = managerWith({ reportCoalesceMs: 60_000 });
    const { task, td } = newTask();
    await manager.run({ ...task, lastStatus: 'PROVISIONING' }, td);
    await eventually('the pull', () => releasePull);
    expect(reportsOf(task.taskArn).map((c) => c.status)).toEqual(['PENDING']);
  });
});
