/**
 * Group commits of agent reports, on a real (in-memory) SQLite store: reports arriving together
 * share one transaction, keep their order per task, are refused one by one, and survive other
 * writers winning the compare-and-swap.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskStateChange } from '../agent/protocol.js';
import type { ContainerInstance } from '../ecs/container-instances.js';
import { keys } from '../ecs/keys.js';
import type { TaskDefinition } from '../ecs/task-definition-types.js';
import { buildTask, type Task } from '../ecs/task-shape.js';
import { taskIndexKey } from '../ecs/tasks.js';
import { interposedStore } from '../ecs/testing/ecs-harness.suite.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Op, Store } from '../store/index.js';
import { createReportWriter, type ReportingInstance, type ReportOutcome } from './agent-hub-reports.js';

const CLUSTER = 'default';
const CLUSTER_ARN = `arn:aws:ecs:us-east-1:000000000000:cluster/${CLUSTER}`;
const INSTANCE: ReportingInstance = { cluster: CLUSTER, id: 'ci-a', arn: `arn:aws:ecs:us-east-1:000000000000:container-instance/${CLUSTER}/ci-a` };
const OTHER: ReportingInstance = { cluster: CLUSTER, id: 'ci-b', arn: `arn:aws:ecs:us-east-1:000000000000:container-instance/${CLUSTER}/ci-b` };

const td: TaskDefinition = {
  taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1',
  family: 'web', revision: 1, status: 'ACTIVE', networkMode: 'none', volumes: [], placementConstraints: [],
  compatibilities: ['EC2'], registeredAt: 0, registeredBy: 'test', cpu: '128', memory: '256',
  containerDefinitions: [{ name: 'app', image: 'busybox', cpu: 0, essential: true, portMappings: [], environment: [], mountPoints: [], volumesFrom: [], systemControls: [] }],
};

let inner: SqliteStore;
let txns: { compares: number; ops: readonly Op[] }[];
let store: Store;

beforeEach(() => {
  inner = SqliteStore.open(':memory:');
  txns = [];
  store = interposedStore(inner, {
    txn: (compares, success, failure) => {
      txns.push({ compares: compares.length, ops: success });
      return inner.txn(compares, success, failure);
    },
  });
});
afterEach(async () => {
  await inner.close();
});

const writer = (over: { maxBatch?: number; maxOps?: number; taskDefinitionOf?: (t: Task) => Promise<TaskDefinition | undefined> } = {}) =>
  createReportWriter({ store, now: () => new Date(1_700_000_000_000), taskDefinitionOf: () => Promise.resolve(td), ...over });

let seq = 0;
async function placedTask(on: ReportingInstance = INSTANCE): Promise<{ id: string; arn: string }> {
  seq++;
  const id = seq.toString(16).padStart(32, '0');
  const arn = `arn:aws:ecs:us-east-1:000000000000:task/${CLUSTER}/${id}`;
  const task = buildTask({
    taskArn: arn, clusterArn: CLUSTER_ARN, td, launchType: 'EC2', group: 'family:web', tags: [], enableExecuteCommand: false, now: new Date(0),
    overrides: { containerOverrides: [{ name: 'app' }], inferenceAcceleratorOverrides: [] },
    containerArns: [`arn:aws:ecs:us-east-1:000000000000:container/${CLUSTER}/${id}/app`],
    containerInstanceArn: on.arn,
  });
  await inner.txn([], [{ type: 'put', key: keys.task(CLUSTER, id), value: JSON.stringify(task) }]);
  return { id, arn };
}

async function instanceRecord(ref: ReportingInstance, pending: number): Promise<void> {
  const ci = {
    containerInstanceArn: ref.arn, ec2InstanceId: `i-${ref.id}`, version: 1, versionInfo: {}, status: 'ACTIVE', agentConnected: true,
    runningTasksCount: 0, pendingTasksCount: pending, attributes: [], registeredAt: 0, attachments: [], tags: [],
    registeredResources: [{ name: 'CPU', type: 'INTEGER', integerValue: 2048 }, { name: 'MEMORY', type: 'INTEGER', integerValue: 4096 }],
    remainingResources: [{ name: 'CPU', type: 'INTEGER', integerValue: 2048 - 128 * pending }, { name: 'MEMORY', type: 'INTEGER', integerValue: 4096 - 256 * pending }],
  } as unknown as ContainerInstance;
  await inner.txn([], [{ type: 'put', key: keys.containerInstance(CLUSTER, ref.id), value: JSON.stringify(ci) }]);
}

const readTask = async (id: string): Promise<Task> => JSON.parse((await inner.get(keys.task(CLUSTER, id)))!.value) as Task;
const readInstance = async (ref: ReportingInstance): Promise<ContainerInstance> =>
  JSON.parse((await inner.get(keys.containerInstance(CLUSTER, ref.id)))!.value) as ContainerInstance;

const change = (taskArn: string, status: TaskStateChange['status'], over: Partial<TaskStateChange> = {}): TaskStateChange => ({
  taskArn, status, containers: [{ containerName: 'app', status: status === 'RUNNING' ? 'RUNNING' : status === 'STOPPED' ? 'STOPPED' : 'PENDING' }], ...over,
});
const lastStatus = (o: ReportOutcome) => ('task' in o ? o.task.lastStatus : o.refused.code);

describe('report group commits', () => {
  it('writes the reports that arrive together in one transaction, each instance once', async () => {
    await instanceRecord(INSTANCE, 3);
    const tasks = [await placedTask(), await placedTask(), await placedTask()];
    const reports = writer();
    const outcomes = await Promise.all(tasks.map((t) => reports.write(INSTANCE, t.id, change(t.arn, 'RUNNING'))));
    expect(outcomes.map(lastStatus)).toEqual(['RUNNING', 'RUNNING', 'RUNNING']);
    expect(txns).toHaveLength(1);
    // Three tasks and the instance, each guarded by its revision.
    expect(txns[0]!.compares).toBe(4);
    expect(txns[0]!.ops.filter((op) => op.type === 'put' && op.key === keys.containerInstance(CLUSTER, INSTANCE.id))).toHaveLength(1);
    for (const t of tasks) expect((await readTask(t.id)).lastStatus).toBe('RUNNING');
    const ci = await readInstance(INSTANCE);
    expect([ci.pendingTasksCount, ci.runningTasksCount]).toEqual([0, 3]);
  });

  it('applies the reports of one task in the order written, in one batch', async () => {
    await instanceRecord(INSTANCE, 1);
    const t = await placedTask();
    const reports = writer();
    const outcomes = await Promise.all([
      reports.write(INSTANCE, t.id, change(t.arn, 'PENDING', { pullStartedAt: 1_700_000_000_000 })),
      reports.write(INSTANCE, t.id, change(t.arn, 'RUNNING', { startedAt: 1_700_000_001_000 })),
      reports.write(INSTANCE, t.id, change(t.arn, 'STOPPED', { executionStoppedAt: 1_700_000_002_000, stopCode: 'EssentialContainerExited' })),
    ]);
    expect(outcomes.map(lastStatus)).toEqual(['PENDING', 'RUNNING', 'STOPPED']);
    expect(txns).toHaveLength(1);
    const stored = await readTask(t.id);
    expect(stored.lastStatus).toBe('STOPPED');
    expect([stored.pullStartedAt, stored.startedAt, stored.executionStoppedAt]).toEqual([1_700_000_000, 1_700_000_001, 1_700_000_002]);
    // It started (pending → running) and stopped (running → released): counts and room as before the task.
    const ci = await readInstance(INSTANCE);
    expect([ci.pendingTasksCount, ci.runningTasksCount]).toEqual([0, 0]);
    expect(ci.remainingResources.find((r) => r.name === 'MEMORY')?.integerValue).toBe(4096);
    // The ListTasks index moved from RUNNING to STOPPED within the same transaction.
    expect(txns[0]!.ops.filter((op) => op.type === 'delete').map((op) => (op as { key: string }).key)).toEqual([taskIndexKey(CLUSTER, 'RUNNING', t.id)]);
    expect(await inner.get(taskIndexKey(CLUSTER, 'STOPPED', t.id))).toBeDefined();
  });

  it('refuses an unknown task or one placed elsewhere alone, and stores the rest of its batch', async () => {
    await instanceRecord(INSTANCE, 2);
    const mine = await placedTask();
    const elsewhere = await placedTask(OTHER);
    const alsoMine = await placedTask();
    const missing = 'f'.repeat(32);
    const untouched = await inner.get(keys.task(CLUSTER, elsewhere.id));
    const reports = writer();
    const outcomes = await Promise.all([
      reports.write(INSTANCE, mine.id, change(mine.arn, 'RUNNING')),
      reports.write(INSTANCE, elsewhere.id, change(elsewhere.arn, 'RUNNING')),
      reports.write(INSTANCE, missing, change(`arn:aws:ecs:us-east-1:000000000000:task/${CLUSTER}/${missing}`, 'RUNNING')),
      reports.write(INSTANCE, alsoMine.id, change(alsoMine.arn, 'RUNNING')),
    ]);
    expect(outcomes.map(lastStatus)).toEqual(['RUNNING', 'TaskNotOnInstance', 'TaskNotFound', 'RUNNING']);
    expect(outcomes[1]).toEqual({ refused: { code: 'TaskNotOnInstance', message: `The task ${elsewhere.arn} is not placed on ${INSTANCE.arn}.` } });
    expect(txns).toHaveLength(1);
    expect(await inner.get(keys.task(CLUSTER, elsewhere.id))).toEqual(untouched);
    expect((await readTask(mine.id)).lastStatus).toBe('RUNNING');
    expect((await readTask(alsoMine.id)).lastStatus).toBe('RUNNING');
  });

  it('rejects only the report that cannot be applied; the others of its batch are stored', async () => {
    await instanceRecord(INSTANCE, 2);
    const good = await placedTask();
    const bad = await placedTask();
    const reports = writer({
      taskDefinitionOf: (task) => (task.taskArn === bad.arn ? Promise.reject(new Error('task definition unreadable')) : Promise.resolve(td)),
    });
    const [a, b] = await Promise.allSettled([reports.write(INSTANCE, good.id, change(good.arn, 'RUNNING')), reports.write(INSTANCE, bad.id, change(bad.arn, 'RUNNING'))]);
    expect(a.status).toBe('fulfilled');
    expect(b).toMatchObject({ status: 'rejected', reason: new Error('task definition unreadable') });
    expect((await readTask(good.id)).lastStatus).toBe('RUNNING');
    expect((await readTask(bad.id)).lastStatus).not.toBe('RUNNING');
  });

  it('splits a batch whose transaction would hold too many operations, keeping the order', async () => {
    await instanceRecord(INSTANCE, 6);
    const tasks: { id: string; arn: string }[] = [];
    for (let i = 0; i < 6; i++) tasks.push(await placedTask());
    const reports = writer({ maxOps: 4 });
    const outcomes = await Promise.all(tasks.map((t) => reports.write(INSTANCE, t.id, change(t.arn, 'RUNNING'))));
    expect(outcomes.map(lastStatus)).toEqual(Array(6).fill('RUNNING'));
    for (const t of txns) expect(t.ops.length).toBeLessThanOrEqual(4);
    // Each transaction holds the next tasks in the order written.
    const written = txns.flatMap((t) => t.ops.filter((op) => op.type === 'put' && op.key.startsWith(keys.tasks(CLUSTER))).map((op) => (op as { key: string }).key));
    expect(written).toEqual(tasks.map((t) => keys.task(CLUSTER, t.id)));
    expect((await readInstance(INSTANCE)).runningTasksCount).toBe(6);
  });

  it('decides again when another writer changed a task in between, losing neither write', async () => {
    await instanceRecord(INSTANCE, 2);
    const a = await placedTask();
    const b = await placedTask();
    let sneaked = false;
    store = interposedStore(inner, {
      txn: async (compares, success, failure) => {
        if (!sneaked && compares.length > 0) {
          // The service controller tells task b to stop just before the batch commits.
          sneaked = true;
          const current = await readTask(b.id);
          await inner.txn([], [{ type: 'put', key: keys.task(CLUSTER, b.id), value: JSON.stringify({ ...current, desiredStatus: 'STOPPED' }) }]);
        }
        txns.push({ compares: compares.length, ops: success });
        return inner.txn(compares, success, failure);
      },
    });
    const reports = writer();
    const outcomes = await Promise.all([reports.write(INSTANCE, a.id, change(a.arn, 'RUNNING')), reports.write(INSTANCE, b.id, change(b.arn, 'RUNNING'))]);
    expect(outcomes.map(lastStatus)).toEqual(['RUNNING', 'RUNNING']);
    // The batch lost its compare; task a (untouched) went on alone, task b was decided again after.
    expect(txns.map((t) => t.ops.filter((op) => op.type === 'put' && op.key.startsWith(keys.tasks(CLUSTER))).map((op) => (op as { key: string }).key))).toEqual([
      [keys.task(CLUSTER, a.id), keys.task(CLUSTER, b.id)],
      [keys.task(CLUSTER, a.id)],
      [keys.task(CLUSTER, b.id)],
    ]);
    const storedB = await readTask(b.id);
    expect([storedB.lastStatus, storedB.desiredStatus]).toEqual(['RUNNING', 'STOPPED']);
    expect((await readInstance(INSTANCE)).runningTasksCount).toBe(2);
  });

  it('fails every report of a batch whose transaction the store could not take, and goes on with later ones', async () => {
    await instanceRecord(INSTANCE, 2);
    const a = await placedTask();
    const b = await placedTask();
    let failures = 1;
    store = interposedStore(inner, {
      txn: (compares, success, failure) => (failures-- > 0 ? Promise.reject(new Error('disk gone')) : inner.txn(compares, success, failure)),
    });
    const reports = writer();
    const first = reports.write(INSTANCE, a.id, change(a.arn, 'RUNNING'));
    await expect(first).rejects.toThrow('disk gone');
    expect((await readTask(a.id)).lastStatus).not.toBe('RUNNING');
    expect(lastStatus(await reports.write(INSTANCE, b.id, change(b.arn, 'RUNNING')))).toBe('RUNNING');
  });

  it('reads a task the feed showed from its cache, and one the feed showed stale again from the store', async () => {
    await instanceRecord(INSTANCE, 2);
    const fresh = await placedTask();
    const stale = await placedTask();
    const gets: string[] = [];
    store = interposedStore(inner, {
      get: (key) => {
        gets.push(key);
        return inner.get(key);
      },
      txn: (compares, success, failure) => {
        txns.push({ compares: compares.length, ops: success });
        return inner.txn(compares, success, failure);
      },
    });
    const reports = writer();
    const kvFresh = (await inner.get(keys.task(CLUSTER, fresh.id)))!;
    reports.observe(kvFresh.key, kvFresh.value, kvFresh.modRevision);
    // What the feed showed of `stale` was overwritten since (the service controller stopped it).
    const kvStale = (await inner.get(keys.task(CLUSTER, stale.id)))!;
    reports.observe(kvStale.key, kvStale.value, kvStale.modRevision);
    const stopped = { ...(JSON.parse(kvStale.value) as Task), desiredStatus: 'STOPPED' };
    await inner.txn([], [{ type: 'put', key: kvStale.key, value: JSON.stringify(stopped) }]);

    expect(lastStatus(await reports.write(INSTANCE, fresh.id, change(fresh.arn, 'RUNNING')))).toBe('RUNNING');
    expect(gets.filter((k) => k.startsWith(keys.tasks(CLUSTER)))).toEqual([]);
    const outcome = await reports.write(INSTANCE, stale.id, change(stale.arn, 'RUNNING'));
    // The cached version lost its compare; decided again from the store, the stop is kept.
    expect(txns.slice(1).map((t) => t.compares)).toEqual([2, 2]);
    // Read once to see which guard moved, once to decide again.
    expect(gets.filter((k) => k.startsWith(keys.tasks(CLUSTER)))).toEqual([kvStale.key, kvStale.key]);
    expect('task' in outcome && [outcome.task.lastStatus, outcome.task.desiredStatus]).toEqual(['RUNNING', 'STOPPED']);
    expect((await readTask(stale.id)).desiredStatus).toBe('STOPPED');
    // Its own commit is cached: the next report of the task reads nothing.
    gets.length = 0;
    await reports.write(INSTANCE, fresh.id, change(fresh.arn, 'STOPPED', { stopCode: 'EssentialContainerExited' }));
    expect(gets.filter((k) => k.startsWith(keys.tasks(CLUSTER)))).toEqual([]);
    expect((await readTask(fresh.id)).lastStatus).toBe('STOPPED');
  });

  it('forgets a task the feed saw deleted', async () => {
    await instanceRecord(INSTANCE, 1);
    const t = await placedTask();
    const reports = writer();
    const kv = (await inner.get(keys.task(CLUSTER, t.id)))!;
    reports.observe(kv.key, kv.value, kv.modRevision);
    const { revision } = await inner.txn([], [{ type: 'delete', key: kv.key }]);
    reports.observe(kv.key, undefined, revision);
    expect(await reports.write(INSTANCE, t.id, change(t.arn, 'RUNNING'))).toEqual({ refused: { code: 'TaskNotFound', message: `There is no task ${t.arn}.` } });
    expect(txns).toHaveLength(0);
  });

  it('counts the reports without an outcome as its backlog, down to 0 whatever their outcome', async () => {
    await instanceRecord(INSTANCE, 1);
    const t = await placedTask();
    const reports = writer();
    const written = [
      reports.write(INSTANCE, t.id, change(t.arn, 'RUNNING')),
      reports.write(INSTANCE, 'e'.repeat(32), change(`arn:aws:ecs:us-east-1:000000000000:task/${CLUSTER}/${'e'.repeat(32)}`, 'RUNNING')),
    ];
    expect(reports.backlog).toBe(2);
    // Counted down before the outcome is handed over: whoever is woken by it sees the room.
    const seen = await Promise.all(written.map((p) => p.then(() => reports.backlog)));
    expect(Math.max(...seen)).toBeLessThanOrEqual(1);
    expect(reports.backlog).toBe(0);
  });
});
