/**
 * The task operations against a real (in-memory SQLite) Store, with real clusters, task definitions
 * and container instances: every operation, every error path (each leaving the store untouched),
 * reservations under concurrency, clientToken idempotency, and ListTasks paging.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, type ErrorCode, type Operation, type RequestContext } from '../protocols/index.js';
import { SqliteStore, type Store } from '../store/index.js';
import { clusterOperations } from './clusters.js';
import { containerInstanceOperations, updateContainerInstance } from './container-instances.js';
import { keys } from './keys.js';
import { readJson, updateJson } from './repo.js';
import { serviceOperations } from './services.js';
import { taskDefinitionOperations } from './task-definitions.js';
import { taskIndexKey, taskOperations } from './tasks.js';

type Obj = Record<string, unknown>;
// The operations return plain JSON; tests read it loosely.
type Json = any;  

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const T0 = Date.UTC(2025, 5, 1, 12, 0, 0, 250);
const base = `arn:aws:ecs:${REGION}:${ACCOUNT}`;

let store: SqliteStore;
let ops: Record<string, Operation>;

beforeEach(() => {
  store = SqliteStore.open(':memory:');
  ops = {
    ...clusterOperations({ store }),
    ...taskDefinitionOperations({ store }),
    ...containerInstanceOperations({ store }),
    ...taskOperations({ store }),
    ...serviceOperations({ store }),
  };
});
afterEach(async () => {
  await store.close();
});

const ctx = (at = T0): RequestContext => ({ requestId: 'r', caller: { accessKeyId: 'AKID', accountId: ACCOUNT }, region: REGION, now: new Date(at) });
const call = (op: string, input: Obj = {}, at = T0): Promise<Json> => ops[op]!(input, ctx(at)) as Promise<Json>;

async function rejection(promise: Promise<unknown>, code: ErrorCode, message?: string | RegExp): Promise<BerthError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(BerthError);
  const err = caught as BerthError;
  expect(err.code).toBe(code);
  if (typeof message === 'string') expect(err.message).toBe(message);
  else if (message !== undefined) expect(err.message).toMatch(message);
  return err;
}

/** Runs `op`, which must fail with `code`, and checks that the store did not change at all. */
async function refused(op: string, input: Obj, code: ErrorCode, message?: string | RegExp): Promise<BerthError> {
  const before = await store.revision();
  const err = await rejection(call(op, input), code, message);
  expect(await store.revision()).toBe(before);
  return err;
}

// ---- fixtures ---------------------------------------------------------------------------------

const createCluster = (name = 'default', extra: Obj = {}) => call('CreateCluster', { clusterName: name, ...extra });

const register = async (family: string, extra: Obj = {}): Promise<Json> =>
  (await call('RegisterTaskDefinition', { family, containerDefinitions: [{ name: 'web', image: 'nginx', cpu: 256, memory: 512 }], ...extra })).taskDefinition;

const FARGATE_TD = {
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  containerDefinitions: [{ name: 'app', image: 'busybox', portMappings: [{ containerPort: 8080 }] }],
};
const VPC = { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-1'] } } };

/** Registers a container instance as the agent would, and returns its id. */
async function addInstance(cluster = 'default', cpu = 1024, memory = 2048, opts: { az?: string; ports?: string[]; attributes?: Obj[] } = {}): Promise<string> {
  const res = await call('RegisterContainerInstance', {
    cluster,
    totalResources: [
      { name: 'CPU', type: 'INTEGER', integerValue: cpu },
      { name: 'MEMORY', type: 'INTEGER', integerValue: memory },
      { name: 'PORTS', type: 'STRINGSET', stringSetValue: opts.ports ?? ['22', '2375', '2376', '51678', '51679'] },
      { name: 'PORTS_UDP', type: 'STRINGSET', stringSetValue: [] },
    ],
    ...(opts.az === undefined ? {} : { instanceIdentityDocument: JSON.stringify({ availabilityZone: opts.az }) }),
    ...(opts.attributes === undefined ? {} : { attributes: opts.attributes }),
  });
  const id = (res.containerInstance.containerInstanceArn as string).split('/').pop()!;
  // As the agent session does once the host's agent is connected: placement needs it (ECS's AGENT).
  await updateContainerInstance(store, cluster, id, (ci) => ({ ...ci, agentConnected: true }));
  return id;
}

async function instance(id: string, cluster = 'default'): Promise<Json> {
  return (await readJson<Json>(store, keys.containerInstance(cluster, id)))!.value;
}
const remaining = (ci: Json, name: string): Json => {
  const r = ci.remainingResources.find((x: Json) => x.name === name);
  return r.type === 'STRINGSET' ? r.stringSetValue : r.integerValue;
};
const idOfArn = (arn: string) => arn.split('/').pop()!;
const runTask = (input: Obj) => call('RunTask', { taskDefinition: 'web', ...input });

async function allTaskArns(input: Obj = {}): Promise<string[]> {
  const out: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call('ListTasks', { ...input, ...(nextToken === undefined ? {} : { nextToken }) });
    out.push(...page.taskArns);
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return out;
}

// ---- RunTask ------------------------------------------------------------------------------------

describe('RunTask on EC2', () => {
  beforeEach(async () => {
    await createCluster();
    await register('web');
  });

  it('creates a PENDING task on an instance, in the full ECS shape, and reserves its resources', async () => {
    const id = await addInstance('default', 1024, 2048, { az: 'us-east-1c' });
    const versionBefore = (await instance(id)).version;
    const res = await runTask({});
    expect(res.failures).toEqual([]);
    expect(res.tasks).toHaveLength(1);
    const t = res.tasks[0];
    expect(t.taskArn).toMatch(new RegExp(`^${base}:task/default/[0-9a-f]{32}$`));
    expect(t).toMatchObject({
      clusterArn: `${base}:cluster/default`,
      taskDefinitionArn: `${base}:task-definition/web:1`,
      containerInstanceArn: `${base}:container-instance/default/${id}`,
      availabilityZone: 'us-east-1c',
      lastStatus: 'PENDING',
      desiredStatus: 'RUNNING',
      healthStatus: 'UNKNOWN',
      launchType: 'EC2',
      cpu: '256',
      memory: '512',
      group: 'family:web',
      version: 1,
      createdAt: T0 / 1000,
      enableExecuteCommand: false,
      attachments: [],
      tags: [],
      overrides: { containerOverrides: [{ name: 'web' }], inferenceAcceleratorOverrides: [] },
    });
    expect(t.containers).toEqual([
      {
        containerArn: expect.stringMatching(new RegExp(`^${base}:container/default/${idOfArn(t.taskArn)}/[0-9a-f-]{36}$`)),
        taskArn: t.taskArn,
        name: 'web',
        image: 'nginx',
        lastStatus: 'PENDING',
        networkInterfaces: [],
        cpu: '256',
        memory: '512',
      },
    ]);
    // Stored exactly as returned.
    expect((await readJson(store, keys.task('default', idOfArn(t.taskArn))))!.value).toEqual(t);
    const ci = await instance(id);
    expect(remaining(ci, 'CPU')).toBe(768);
    expect(remaining(ci, 'MEMORY')).toBe(1536);
    expect(ci.pendingTasksCount).toBe(1);
    expect(ci.version).toBe(versionBefore + 1);
  });

  it('count places several tasks, each with its own ARN', async () => {
    await addInstance();
    const res = await runTask({ count: 3 });
    expect(new Set(res.tasks.map((t: Json) => t.taskArn)).size).toBe(3);
    expect(await allTaskArns()).toHaveLength(3);
  });

  it('with no container instance: ECS\'s error, nothing written', async () => {
    await refused('RunTask', { taskDefinition: 'web' }, 'InvalidParameterException', 'No Container Instances were found in your cluster.');
  });

  it('when no instance has room: failures with the instance and the resource, nothing written', async () => {
    const id = await addInstance('default', 1024, 256);
    const before = await store.revision();
    const res = await runTask({});
    expect(res).toEqual({
      tasks: [],
      failures: [
        {
          arn: `${base}:container-instance/default/${id}`,
          reason: 'RESOURCE:MEMORY',
          detail: 'need 512 MiB, free 256 MiB. 1 of 1 instance lacks memory: need 512 MiB, largest free 256 MiB',
        },
      ],
    });
    expect(await store.revision()).toBe(before);
  });

  it('places what fits and reports the rest', async () => {
    const id = await addInstance('default', 1024, 1100);
    const res = await runTask({ count: 3 });
    expect(res.tasks).toHaveLength(2);
    expect(res.failures).toEqual([
      {
        arn: `${base}:container-instance/default/${id}`,
        reason: 'RESOURCE:MEMORY',
        detail: 'need 512 MiB, free 76 MiB. 1 of 1 instance lacks memory: need 512 MiB, largest free 76 MiB',
      },
    ]);
    expect(remaining(await instance(id), 'MEMORY')).toBe(76);
  });

  it('a static host port is taken once per instance', async () => {
    await register('fixed', { containerDefinitions: [{ name: 'web', image: 'nginx', memory: 128, portMappings: [{ containerPort: 80, hostPort: 8080 }] }] });
    const id = await addInstance();
    expect((await runTask({ taskDefinition: 'fixed' })).tasks).toHaveLength(1);
    expect(remaining(await instance(id), 'PORTS')).toContain('8080');
    const second = await runTask({ taskDefinition: 'fixed' });
    expect(second).toEqual({
      tasks: [],
      failures: [{ arn: `${base}:container-instance/default/${id}`, reason: 'RESOURCE:PORTS', detail: 'host port 8080/tcp in use. 1 of 1 instance has host port 8080/tcp in use' }],
    });
  });

  it('spreads over instances with room, and reports each instance when short', async () => {
    const a = await addInstance('default', 1024, 600);
    const b = await addInstance('default', 1024, 600);
    const res = await runTask({ count: 3 });
    expect(res.tasks.map((t: Json) => idOfArn(t.containerInstanceArn)).sort()).toEqual([a, b].sort());
    expect(res.failures.map((f: Json) => f.reason)).toEqual(['RESOURCE:MEMORY', 'RESOURCE:MEMORY']);
  });

  it('skips DRAINING instances', async () => {
    const a = await addInstance();
    await call('UpdateContainerInstancesState', { containerInstances: [a], status: 'DRAINING' });
    const res = await runTask({});
    expect(res).toEqual({ tasks: [], failures: [{ arn: `${base}:container-instance/default/${a}`, reason: 'DRAINING', detail: 'status DRAINING. 1 of 1 instance is not ACTIVE: DRAINING' }] });
  });

  it('never over-commits an instance under concurrent RunTasks', async () => {
    const id = await addInstance('default', 4096, 1100); // room for two 512 MiB tasks
    const results = await Promise.all(Array.from({ length: 8 }, () => runTask({})));
    const placed = results.flatMap((r) => r.tasks);
    expect(placed).toHaveLength(2);
    expect(results.filter((r) => r.failures.length > 0)).toHaveLength(6);
    const ci = await instance(id);
    expect(remaining(ci, 'MEMORY')).toBe(76);
    expect(remaining(ci, 'CPU')).toBe(4096 - 512);
    expect(ci.pendingTasksCount).toBe(2);
    expect(await allTaskArns()).toHaveLength(2);
  });

  it('never over-commits with concurrent multi-task requests either', async () => {
    const id = await addInstance('default', 10_000, 512 * 5);
    const results = await Promise.all(Array.from({ length: 4 }, () => runTask({ count: 3 })));
    expect(results.flatMap((r) => r.tasks)).toHaveLength(5);
    expect(remaining(await instance(id), 'MEMORY')).toBe(0);
    expect((await instance(id)).pendingTasksCount).toBe(5);
  });

  it('keeps overrides, and shows overridden limits', async () => {
    await addInstance();
    const overrides = { containerOverrides: [{ name: 'web', command: ['echo', 'hi'], environment: [{ name: 'A', value: '1' }], memory: 300 }] };
    const res = await runTask({ overrides });
    const t = res.tasks[0];
    expect(t.overrides).toEqual({ containerOverrides: [{ name: 'web', command: ['echo', 'hi'], environment: [{ name: 'A', value: '1' }], memory: 300 }], inferenceAcceleratorOverrides: [] });
    expect(t.containers[0].memory).toBe('300');
    expect(t.memory).toBe('300');
    const described = await call('DescribeTasks', { tasks: [t.taskArn] });
    expect(described.tasks[0].overrides).toEqual(t.overrides);
  });

  it('group, startedBy and tags; TASK_DEFINITION tags propagate; managed tags', async () => {
    await register('tagged', { tags: [{ key: 'team', value: 'a' }, { key: 'tier', value: 'web' }] });
    await addInstance();
    const res = await runTask({
      taskDefinition: 'tagged',
      group: 'batch',
      startedBy: 'ci-job/42',
      tags: [{ key: 'team', value: 'b' }],
      propagateTags: 'TASK_DEFINITION',
      enableECSManagedTags: true,
    });
    const t = res.tasks[0];
    expect(t).toMatchObject({ group: 'batch', startedBy: 'ci-job/42' });
    // The task's own value wins over the propagated one.
    expect(t.tags).toEqual([
      { key: 'team', value: 'b' },
      { key: 'tier', value: 'web' },
      { key: 'aws:ecs:clusterName', value: 'default' },
    ]);
    const plain = await call('DescribeTasks', { tasks: [t.taskArn] });
    expect(plain.tasks[0].tags).toBeUndefined();
    const withTags = await call('DescribeTasks', { tasks: [t.taskArn], include: ['TAGS'] });
    expect(withTags.tasks[0].tags).toEqual(t.tags);
  });

  it('enableExecuteCommand with a task role', async () => {
    await register('exec', { taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/app` });
    // A task role makes the task definition require the capability (ECS's requiresAttributes).
    await addInstance('default', 1024, 2048, { attributes: [{ name: 'com.amazonaws.ecs.capability.task-iam-role' }] });
    expect((await runTask({ taskDefinition: 'exec', enableExecuteCommand: true })).tasks[0].enableExecuteCommand).toBe(true);
    expect((await runTask({ enableExecuteCommand: true, overrides: { taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/x` } })).tasks).toHaveLength(1);
  });

  it('a revision by number, or by ARN', async () => {
    await register('web', { containerDefinitions: [{ name: 'web', image: 'nginx:2', memory: 128 }] });
    await addInstance();
    expect((await runTask({})).tasks[0].taskDefinitionArn).toBe(`${base}:task-definition/web:2`);
    expect((await runTask({ taskDefinition: 'web:1' })).tasks[0].taskDefinitionArn).toBe(`${base}:task-definition/web:1`);
    expect((await runTask({ taskDefinition: `${base}:task-definition/web:1` })).tasks[0].containers[0].image).toBe('nginx');
  });

  it('in another cluster, named by ARN', async () => {
    await createCluster('prod');
    await addInstance('prod');
    const res = await runTask({ cluster: `${base}:cluster/prod` });
    expect(res.tasks[0].taskArn).toContain(':task/prod/');
  });
});

describe('RunTask on Fargate', () => {
  beforeEach(async () => {
    await createCluster();
    await register('app', FARGATE_TD);
  });

  it('needs no container instance; PROVISIONING with an ENI in the given subnets', async () => {
    const res = await call('RunTask', { taskDefinition: 'app', launchType: 'FARGATE', count: 2, ...VPC });
    expect(res.failures).toEqual([]);
    const [a, b] = res.tasks;
    expect(a).toMatchObject({
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      launchType: 'FARGATE',
      platformVersion: '1.4.0',
      platformFamily: 'Linux',
      cpu: '256',
      memory: '512',
      availabilityZone: 'us-east-1a',
      ephemeralStorage: { sizeInGiB: 20 },
      attributes: [{ name: 'ecs.cpu-architecture', value: 'x86_64' }],
    });
    expect(a.containerInstanceArn).toBeUndefined();
    expect(a.attachments).toEqual([
      { id: expect.stringMatching(/^[0-9a-f-]{36}$/), type: 'ElasticNetworkInterface', status: 'PRECREATED', details: [{ name: 'subnetId', value: 'subnet-a' }] },
    ]);
    expect(b.attachments[0].details).toEqual([{ name: 'subnetId', value: 'subnet-b' }]);
    expect(b.availabilityZone).toBe('us-east-1b');
  });

  it('through a FARGATE_SPOT capacity provider strategy', async () => {
    const res = await call('RunTask', { taskDefinition: 'app', capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }], ...VPC });
    expect(res.tasks[0]).toMatchObject({ launchType: 'FARGATE', capacityProviderName: 'FARGATE_SPOT' });
  });

  it('through the cluster\'s default capacity provider strategy', async () => {
    await call('PutClusterCapacityProviders', {
      cluster: 'default',
      capacityProviders: ['FARGATE'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }],
    });
    const res = await call('RunTask', { taskDefinition: 'app', ...VPC });
    expect(res.tasks[0]).toMatchObject({ launchType: 'FARGATE', capacityProviderName: 'FARGATE' });
  });

  it('platform version and size overrides', async () => {
    const res = await call('RunTask', {
      taskDefinition: 'app',
      launchType: 'FARGATE',
      platformVersion: 'LATEST',
      overrides: { cpu: '512', memory: '1024', ephemeralStorage: { sizeInGiB: 30 } },
      ...VPC,
    });
    expect(res.tasks[0]).toMatchObject({ platformVersion: '1.4.0', cpu: '512', memory: '1024', ephemeralStorage: { sizeInGiB: 30 } });
  });
});

describe('RunTask refusals change nothing', () => {
  beforeEach(async () => {
    await createCluster();
    await register('web');
    await register('app', FARGATE_TD);
    await register('vpc', { networkMode: 'awsvpc' });
    await addInstance();
  });
  const cases: Array<[string, Obj, ErrorCode, string | RegExp]> = [
    ['an unknown cluster', { taskDefinition: 'web', cluster: 'nope' }, 'ClusterNotFoundException', 'Cluster not found.'],
    ['no task definition', {}, 'InvalidParameterException', 'taskDefinition is required.'],
    ['an unknown task definition', { taskDefinition: 'ghost' }, 'ClientException', 'Unable to describe task definition.'],
    ['count 0', { taskDefinition: 'web', count: 0 }, 'InvalidParameterException', 'count must be at least 1.'],
    ['count 11', { taskDefinition: 'web', count: 11 }, 'InvalidParameterException', 'count must be at most 10.'],
    ['a launch type and a strategy', { taskDefinition: 'web', launchType: 'EC2', capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] }, 'InvalidParameterException', /Specifying both a launch type and capacity provider strategy/],
    ['an incompatible launch type', { taskDefinition: 'web', launchType: 'FARGATE' }, 'InvalidParameterException', 'Task definition does not support launch_type FARGATE.'],
    ['awsvpc without a network configuration', { taskDefinition: 'vpc' }, 'InvalidParameterException', "Network Configuration must be provided when networkMode 'awsvpc' is specified."],
    ['a network configuration in bridge mode', { taskDefinition: 'web', ...VPC }, 'InvalidParameterException', 'Network Configuration is not valid for the given networkMode of this task definition.'],
    ['a public IP on EC2', { taskDefinition: 'vpc', networkConfiguration: { awsvpcConfiguration: { subnets: ['s'], assignPublicIp: 'ENABLED' } } }, 'InvalidParameterException', 'Assign public IP is not supported for this launch type.'],
    ['an override for an unknown container', { taskDefinition: 'web', overrides: { containerOverrides: [{ name: 'db' }] } }, 'InvalidParameterException', 'Override for container named db is not a container in the TaskDefinition'],
    ['propagateTags SERVICE', { taskDefinition: 'web', propagateTags: 'SERVICE' }, 'InvalidParameterException', /only valid for tasks started by a service/],
    ['startedBy of 129 characters', { taskDefinition: 'web', startedBy: 'x'.repeat(129) }, 'InvalidParameterException', 'startedBy must be at most 128 characters long.'],
    ['a group of 256 characters', { taskDefinition: 'web', group: 'g'.repeat(256) }, 'InvalidParameterException', 'group must be at most 255 characters long.'],
    ['a platform version on EC2', { taskDefinition: 'web', platformVersion: '1.4.0' }, 'InvalidParameterException', /only supported for tasks using the FARGATE launch type/],
    ['a bad placement strategy', { taskDefinition: 'web', placementStrategy: [{ type: 'binpack', field: 'disk' }] }, 'InvalidParameterException', /not valid for binpack/],
    ['a bad memberOf expression', { taskDefinition: 'web', placementConstraints: [{ type: 'memberOf', expression: 'attribute:x ==' }] }, 'InvalidParameterException', /placementConstraints\[0\]\.expression/],
    ['placement on Fargate', { taskDefinition: 'app', launchType: 'FARGATE', placementConstraints: [{ type: 'distinctInstance' }], ...VPC }, 'InvalidParameterException', /not supported for tasks using the FARGATE launch type/],
    ['execute command without a task role', { taskDefinition: 'web', enableExecuteCommand: true }, 'InvalidParameterException', /task role/],
    ['a clientToken of 65 characters', { taskDefinition: 'web', clientToken: 't'.repeat(65) }, 'InvalidParameterException', 'clientToken must be at most 64 characters long.'],
    ['a reserved tag key', { taskDefinition: 'web', tags: [{ key: 'aws:x', value: 'y' }] }, 'InvalidParameterException', /reserved/],
    ['EBS volume configurations', { taskDefinition: 'web', volumeConfigurations: [{ name: 'data' }] }, 'UnsupportedFeatureException', /volumeConfigurations/],
    ['a wrongly typed count', { taskDefinition: 'web', count: '2' }, 'SerializationException', /count/],
    ['a Fargate size that does not exist', { taskDefinition: 'app', launchType: 'FARGATE', overrides: { memory: '8192' }, ...VPC }, 'ClientException', /No Fargate configuration exists/],
  ];
  for (const [what, input, code, message] of cases) {
    it(what, async () => {
      await refused('RunTask', input, code, message);
    });
  }

  it('an INACTIVE task definition (ECS message)', async () => {
    await call('DeregisterTaskDefinition', { taskDefinition: 'web:1' });
    await refused('RunTask', { taskDefinition: 'web:1' }, 'InvalidParameterException', 'TaskDefinition is inactive');
  });

  it('an INACTIVE cluster', async () => {
    await createCluster('old');
    await call('DeleteCluster', { cluster: 'old' });
    await refused('RunTask', { taskDefinition: 'web', cluster: 'old' }, 'ClusterNotFoundException');
  });
});

describe('RunTask clientToken', () => {
  beforeEach(async () => {
    await createCluster();
    await register('web');
  });

  it('the same token and request return the same tasks and create nothing more', async () => {
    const id = await addInstance();
    const first = await runTask({ count: 2, clientToken: 'tok-1' });
    const again = await runTask({ count: 2, clientToken: 'tok-1' });
    expect(again.tasks.map((t: Json) => t.taskArn)).toEqual(first.tasks.map((t: Json) => t.taskArn));
    expect(again.tasks).toEqual(first.tasks);
    expect(await allTaskArns()).toHaveLength(2);
    expect((await instance(id)).pendingTasksCount).toBe(2);
  });

  it('the same token with a different request is a ConflictException naming the existing tasks', async () => {
    await addInstance();
    const first = await runTask({ clientToken: 'tok-2' });
    const err = await refused('RunTask', { taskDefinition: 'web', count: 2, clientToken: 'tok-2' }, 'ConflictException', /already in use with a different RunTask request/);
    expect(err.fields['resourceIds']).toEqual([first.tasks[0].taskArn]);
  });

  it('concurrent requests with one token create one set of tasks', async () => {
    const id = await addInstance('default', 8192, 8192);
    const results = await Promise.all(Array.from({ length: 5 }, () => runTask({ count: 2, clientToken: 'race' })));
    const arns = new Set(results.flatMap((r) => r.tasks.map((t: Json) => t.taskArn)));
    expect(arns.size).toBe(2);
    expect(await allTaskArns()).toHaveLength(2);
    expect((await instance(id)).pendingTasksCount).toBe(2);
  });

  it('concurrent Fargate requests with one token create one set of tasks (no instance to serialize them)', async () => {
    await register('app', FARGATE_TD);
    const input = { taskDefinition: 'app', launchType: 'FARGATE', count: 3, clientToken: 'fargate-race', ...VPC };
    const results = await Promise.all(Array.from({ length: 5 }, () => call('RunTask', input)));
    expect(new Set(results.flatMap((r) => r.tasks.map((t: Json) => t.taskArn))).size).toBe(3);
    expect(await allTaskArns()).toHaveLength(3);
  });

  it('a request that placed nothing leaves the token free', async () => {
    const id = await addInstance('default', 1024, 100);
    expect((await runTask({ clientToken: 'later' })).tasks).toEqual([]);
    await updateJson<Json>(store, keys.containerInstance('default', id), (ci) => ({
      ...ci,
      remainingResources: ci.remainingResources.map((r: Json) => (r.name === 'MEMORY' ? { ...r, integerValue: 4096 } : r)),
    }));
    expect((await runTask({ clientToken: 'later' })).tasks).toHaveLength(1);
  });
});

// ---- StartTask ----------------------------------------------------------------------------------

describe('StartTask', () => {
  beforeEach(async () => {
    await createCluster();
    await register('web');
  });

  it('starts one task on each instance named, by id or ARN', async () => {
    const a = await addInstance();
    const b = await addInstance();
    const res = await call('StartTask', { taskDefinition: 'web', containerInstances: [a, `${base}:container-instance/default/${b}`], startedBy: 'me' });
    expect(res.failures).toEqual([]);
    expect(res.tasks.map((t: Json) => idOfArn(t.containerInstanceArn))).toEqual([a, b]);
    expect(res.tasks[0]).toMatchObject({ launchType: 'EC2', lastStatus: 'PENDING', startedBy: 'me' });
    expect((await instance(a)).pendingTasksCount).toBe(1);
    expect((await instance(b)).pendingTasksCount).toBe(1);
  });

  it('the same instance twice gets two tasks while it has room', async () => {
    const a = await addInstance('default', 1024, 1100);
    const res = await call('StartTask', { taskDefinition: 'web', containerInstances: [a, a, a] });
    expect(res.tasks).toHaveLength(2);
    expect(res.failures).toEqual([{ arn: `${base}:container-instance/default/${a}`, reason: 'RESOURCE:MEMORY', detail: 'need 512 MiB, free 76 MiB' }]);
  });

  it('reports unknown and DRAINING instances, and starts the rest', async () => {
    const a = await addInstance();
    const b = await addInstance();
    await call('UpdateContainerInstancesState', { containerInstances: [b], status: 'DRAINING' });
    const res = await call('StartTask', { taskDefinition: 'web', containerInstances: [a, b, 'f'.repeat(32)] });
    expect(res.tasks).toHaveLength(1);
    expect(res.failures).toEqual([
      { arn: `${base}:container-instance/default/${b}`, reason: 'DRAINING', detail: 'status DRAINING' },
      { arn: `${base}:container-instance/default/${'f'.repeat(32)}`, reason: 'MISSING' },
    ]);
  });

  it('with nothing startable, writes nothing', async () => {
    const before = await store.revision();
    const res = await call('StartTask', { taskDefinition: 'web', containerInstances: ['f'.repeat(32)] });
    expect(res.tasks).toEqual([]);
    expect(await store.revision()).toBe(before);
  });

  it('refusals change nothing', async () => {
    const a = await addInstance();
    await register('app', FARGATE_TD);
    await refused('StartTask', { taskDefinition: 'web', containerInstances: [] }, 'InvalidParameterException', 'Container Instances cannot be empty.');
    await refused('StartTask', { taskDefinition: 'web' }, 'InvalidParameterException', 'Container Instances cannot be empty.');
    await refused('StartTask', { taskDefinition: 'web', containerInstances: Array.from({ length: 11 }, () => a) }, 'InvalidParameterException', /at most 10 items/);
    await refused('StartTask', { taskDefinition: 'web', containerInstances: [a], startedBy: 'x'.repeat(37) }, 'InvalidParameterException', 'startedBy must be at most 36 characters long.');
    await call('DeregisterTaskDefinition', { taskDefinition: 'app:1' });
    await refused('StartTask', { taskDefinition: 'app:1', containerInstances: [a], ...VPC }, 'InvalidParameterException', 'TaskDefinition is inactive');
    await refused('StartTask', { taskDefinition: 'web', containerInstances: [a], ...VPC }, 'InvalidParameterException', /Network Configuration is not valid/);
    await refused('StartTask', { taskDefinition: 'web', containerInstances: [`${base}:container-instance/other/${a}`] }, 'InvalidParameterException', /does not belong to cluster default/);
    await refused('StartTask', { taskDefinition: 'web', containerInstances: [a], cluster: 'nope' }, 'ClusterNotFoundException');
  });
});

// ---- StopTask -----------------------------------------------------------------------------------

describe('StopTask', () => {
  let instanceId: string;
  beforeEach(async () => {
    await createCluster();
    await register('fixed', { containerDefinitions: [{ name: 'web', image: 'nginx', memory: 512, portMappings: [{ containerPort: 80, hostPort: 8080 }] }] });
    instanceId = await addInstance();
  });
  const later = T0 + 5000;

  it('a task no agent picked up stops at once, and its reservation is given back', async () => {
    const registered = await instance(instanceId);
    const t = (await runTask({ taskDefinition: 'fixed' })).tasks[0];
    const res = await call('StopTask', { task: t.taskArn, reason: 'no longer needed' }, later);
    expect(res.task).toMatchObject({
      taskArn: t.taskArn,
      desiredStatus: 'STOPPED',
      lastStatus: 'STOPPED',
      stopCode: 'UserInitiated',
      stoppedReason: 'no longer needed',
      stoppingAt: later / 1000,
      stoppedAt: later / 1000,
      executionStoppedAt: later / 1000,
      version: 2,
    });
    const ci = await instance(instanceId);
    expect(ci.remainingResources).toEqual(registered.remainingResources);
    expect(ci.pendingTasksCount).toBe(0);
    // The port is free again.
    expect((await runTask({ taskDefinition: 'fixed' })).tasks).toHaveLength(1);
    // The tasks-stopped waiter's condition holds.
    const described = await call('DescribeTasks', { tasks: [t.taskArn] });
    expect(described.tasks.every((x: Json) => x.lastStatus === 'STOPPED')).toBe(true);
  });

  it('by id, with ECS\'s default reason', async () => {
    const t = (await runTask({ taskDefinition: 'fixed' })).tasks[0];
    expect((await call('StopTask', { task: idOfArn(t.taskArn) })).task.stoppedReason).toBe('Task stopped by user');
  });

  it('stopping again returns the stopped task unchanged', async () => {
    const t = (await runTask({ taskDefinition: 'fixed' })).tasks[0];
    const first = (await call('StopTask', { task: t.taskArn })).task;
    const before = await store.revision();
    expect((await call('StopTask', { task: t.taskArn, reason: 'again' }, later)).task).toEqual(first);
    expect(await store.revision()).toBe(before);
  });

  it('a task an agent is running keeps its lastStatus and its reservation until the agent reports', async () => {
    const t = (await runTask({ taskDefinition: 'fixed' })).tasks[0];
    await updateJson<Json>(store, keys.task('default', idOfArn(t.taskArn)), (cur) => ({ ...cur, lastStatus: 'RUNNING' }));
    const res = await call('StopTask', { task: t.taskArn }, later);
    expect(res.task).toMatchObject({ desiredStatus: 'STOPPED', lastStatus: 'RUNNING', stopCode: 'UserInitiated', stoppingAt: later / 1000 });
    expect(res.task.stoppedAt).toBeUndefined();
    expect((await instance(instanceId)).pendingTasksCount).toBe(1);
  });

  it('moves the task from the RUNNING list to the STOPPED list', async () => {
    const t = (await runTask({ taskDefinition: 'fixed' })).tasks[0];
    await call('StopTask', { task: t.taskArn });
    expect(await allTaskArns()).toEqual([]);
    expect(await allTaskArns({ desiredStatus: 'STOPPED' })).toEqual([t.taskArn]);
  });

  it('a Fargate task stops at once', async () => {
    await register('app', FARGATE_TD);
    const t = (await call('RunTask', { taskDefinition: 'app', launchType: 'FARGATE', ...VPC })).tasks[0];
    const res = await call('StopTask', { task: t.taskArn });
    expect(res.task.lastStatus).toBe('STOPPED');
    expect(res.task.attachments[0].status).toBe('DELETED');
  });

  it('refusals change nothing', async () => {
    const t = (await runTask({ taskDefinition: 'fixed' })).tasks[0];
    await refused('StopTask', { task: 'f'.repeat(32) }, 'InvalidParameterException', 'The referenced task was not found.');
    await refused('StopTask', {}, 'InvalidParameterException', 'task is required.');
    await refused('StopTask', { task: t.taskArn, reason: 'r'.repeat(256) }, 'InvalidParameterException', 'reason must be at most 255 characters long.');
    await refused('StopTask', { task: t.taskArn, cluster: 'nope' }, 'ClusterNotFoundException');
    await createCluster('other');
    await refused('StopTask', { task: t.taskArn, cluster: 'other' }, 'InvalidParameterException', /does not belong to cluster other/);
  });
});

// ---- DescribeTasks ------------------------------------------------------------------------------

describe('DescribeTasks', () => {
  beforeEach(async () => {
    await createCluster();
    await register('web');
    await addInstance('default', 8192, 8192);
  });

  it('by id and ARN, in order, with MISSING failures as ARNs', async () => {
    const [a, b] = (await runTask({ count: 2 })).tasks;
    const ghost = '0'.repeat(32);
    const res = await call('DescribeTasks', { tasks: [b.taskArn, idOfArn(a.taskArn), ghost, `${base}:task/other/${ghost}`, 'not/an-id'] });
    expect(res.tasks.map((t: Json) => t.taskArn)).toEqual([b.taskArn, a.taskArn]);
    expect(res.failures).toEqual([
      { arn: `${base}:task/default/${ghost}`, reason: 'MISSING' },
      { arn: `${base}:task/other/${ghost}`, reason: 'MISSING' },
      { arn: 'not/an-id', reason: 'MISSING' },
    ]);
  });

  it('a task named twice is described once', async () => {
    const [a] = (await runTask({})).tasks;
    expect((await call('DescribeTasks', { tasks: [a.taskArn, a.taskArn] })).tasks).toHaveLength(1);
  });

  it('reads each task by its key, never a range, however many tasks are stored', async () => {
    const t = (await runTask({ count: 5 })).tasks;
    const counting = countingStore(store);
    const describe = taskOperations({ store: counting.store }).DescribeTasks!;
    await describe({ tasks: t.map((x: Json) => x.taskArn) }, ctx());
    expect(counting.ranges).toEqual([]);
    expect(counting.gets.filter((k) => k.startsWith('/ecs/tasks/'))).toHaveLength(5);
  });

  it('refusals', async () => {
    await refused('DescribeTasks', {}, 'InvalidParameterException', 'Tasks cannot be empty.');
    await refused('DescribeTasks', { tasks: [] }, 'InvalidParameterException', 'Tasks cannot be empty.');
    await refused('DescribeTasks', { tasks: Array.from({ length: 101 }, (_, i) => String(i)) }, 'InvalidParameterException', /at most 100 items/);
    await refused('DescribeTasks', { tasks: ['a'], include: ['EVERYTHING'] }, 'InvalidParameterException', /include\[0\] must be one of TAGS/);
    await refused('DescribeTasks', { tasks: ['a'], cluster: 'nope' }, 'ClusterNotFoundException');
  });

  it('the tasks-running waiter fails on a MISSING task, as ECS\'s does', async () => {
    const res = await call('DescribeTasks', { tasks: ['0'.repeat(32)] });
    expect(res.failures.some((f: Json) => f.reason === 'MISSING')).toBe(true);
  });
});

/** A Store that records which keys are read and which prefixes are ranged. */
function countingStore(inner: Store): { store: Store; gets: string[]; ranges: string[] } {
  const gets: string[] = [];
  const ranges: string[] = [];
  const store: Store = {
    get: (key) => {
      gets.push(key);
      return inner.get(key);
    },
    range: (prefix, options) => {
      ranges.push(prefix);
      return inner.range(prefix, options);
    },
    txn: (c, s, f) => inner.txn(c, s, f),
    watch: (p, o) => inner.watch(p, o),
    revision: () => inner.revision(),
    compact: (r) => inner.compact(r),
    close: () => inner.close(),
  };
  return { store, gets, ranges };
}

// ---- ListTasks ----------------------------------------------------------------------------------

describe('ListTasks', () => {
  let a: string;
  let b: string;
  beforeEach(async () => {
    await createCluster();
    await register('web');
    await register('api');
    await register('app', FARGATE_TD);
    a = await addInstance('default', 8192, 16384);
    b = await addInstance('default', 8192, 16384);
  });

  it('lists RUNNING-desired tasks by default, with filters', async () => {
    const onA = (await call('StartTask', { taskDefinition: 'web', containerInstances: [a], startedBy: 'alice' })).tasks[0];
    const onB = (await call('StartTask', { taskDefinition: 'api', containerInstances: [b] })).tasks[0];
    const fargate = (await call('RunTask', { taskDefinition: 'app', launchType: 'FARGATE', ...VPC })).tasks[0];
    const sorted = (xs: string[]) => [...xs].sort();
    expect(sorted(await allTaskArns())).toEqual(sorted([onA.taskArn, onB.taskArn, fargate.taskArn]));
    expect(await allTaskArns({ family: 'web' })).toEqual([onA.taskArn]);
    expect(await allTaskArns({ startedBy: 'alice' })).toEqual([onA.taskArn]);
    expect(await allTaskArns({ containerInstance: b })).toEqual([onB.taskArn]);
    expect(await allTaskArns({ containerInstance: `${base}:container-instance/default/${a}` })).toEqual([onA.taskArn]);
    expect(await allTaskArns({ launchType: 'FARGATE' })).toEqual([fargate.taskArn]);
    expect(await allTaskArns({ family: 'web', launchType: 'FARGATE' })).toEqual([]);
    expect(await allTaskArns({ desiredStatus: 'PENDING' })).toEqual([]);
    expect(await allTaskArns({ desiredStatus: 'STOPPED' })).toEqual([]);
  });

  it('by service: the tasks of the service\'s group', async () => {
    await call('CreateService', { serviceName: 'svc', taskDefinition: 'web', desiredCount: 0 });
    const mine = (await runTask({ group: 'service:svc' })).tasks[0];
    await runTask({});
    expect(await allTaskArns({ serviceName: 'svc' })).toEqual([mine.taskArn]);
    await refused('ListTasks', { serviceName: 'ghost' }, 'ServiceNotFoundException', 'Service not found.');
  });

  it('pages with maxResults and nextToken, every task exactly once', async () => {
    for (let i = 0; i < 3; i++) await runTask({ count: 10 });
    await runTask({ count: 3 });
    const first = await call('ListTasks', { maxResults: 10 });
    expect(first.taskArns).toHaveLength(10);
    expect(first.nextToken).toEqual(expect.any(String));
    const all = await allTaskArns({ maxResults: 10 });
    expect(all).toHaveLength(33);
    expect(new Set(all).size).toBe(33);
    const last = await call('ListTasks', { maxResults: 3, nextToken: (await call('ListTasks', { maxResults: 30 })).nextToken });
    expect(last.taskArns).toHaveLength(3);
    expect(last.nextToken).toBeUndefined();
  });

  it('a page that ends exactly at the last task has no nextToken', async () => {
    await runTask({ count: 5 });
    const page = await call('ListTasks', { maxResults: 5 });
    expect(page.taskArns).toHaveLength(5);
    expect(page.nextToken).toBeUndefined();
  });

  it('reads only the small index entries, never a task object', async () => {
    await runTask({ count: 4 });
    const counting = countingStore(store);
    await taskOperations({ store: counting.store }).ListTasks!({ family: 'web' }, ctx());
    expect(counting.gets.filter((k) => k.startsWith('/ecs/tasks/'))).toEqual([]);
    expect(counting.ranges.every((p) => p.startsWith('/ecs/task-index/default/RUNNING/'))).toBe(true);
  });

  it('bounds the work of one call: past 10,000 entries it returns early with a nextToken', async () => {
    const entries = Array.from({ length: 10_050 }, (_, i) => ({
      type: 'put' as const,
      key: taskIndexKey('default', 'RUNNING', `x${String(i).padStart(6, '0')}`),
      value: JSON.stringify({ family: 'other', group: 'family:other' }),
    }));
    await store.txn([], entries);
    const first = await call('ListTasks', { family: 'web' });
    expect(first.taskArns).toEqual([]);
    expect(first.nextToken).toEqual(expect.any(String));
    const second = await call('ListTasks', { family: 'web', nextToken: first.nextToken });
    expect(second).toEqual({ taskArns: [] });
  });

  it('refusals', async () => {
    await refused('ListTasks', { maxResults: 0 }, 'InvalidParameterException', 'maxResults must be at least 1.');
    await refused('ListTasks', { maxResults: 101 }, 'InvalidParameterException', 'maxResults must be at most 100.');
    await refused('ListTasks', { nextToken: 'garbage!' }, 'InvalidParameterException', 'The nextToken is not valid.');
    const token = Buffer.from('/ecs/services/default/x', 'utf8').toString('base64url');
    await refused('ListTasks', { nextToken: token }, 'InvalidParameterException', 'The nextToken is not valid.');
    await refused('ListTasks', { desiredStatus: 'DONE' }, 'InvalidParameterException', /desiredStatus must be one of RUNNING, PENDING, STOPPED/);
    await refused('ListTasks', { launchType: 'LAMBDA' }, 'InvalidParameterException', /launchType must be one of/);
    await refused('ListTasks', { cluster: 'nope' }, 'ClusterNotFoundException');
  });
});
