/** Container instance operations against a real (in-memory) SqliteStore, as the agent and the CLI call them. */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ErrorCode, RequestContext } from '../protocols/index.js';
import { evaluateQuery, parseQuery } from '../scheduler/query/index.js';
import { put, SqliteStore } from '../store/index.js';
import { clusterOperations } from './clusters.js';
import {
  containerInstanceOperations,
  newEc2InstanceId,
  querySubjectOf,
  setAgentConnected,
  updateContainerInstance,
  type ContainerInstance,
  type Resource,
} from './container-instances.js';
import { keys } from './keys.js';
import { readJson } from './repo.js';
import { ecsHarness, interposedStore } from './testing/ecs-harness.suite.js';

const ACCOUNT = '000000000000';
const CI_ARN = (cluster: string, id: string) => `arn:aws:ecs:us-east-1:${ACCOUNT}:container-instance/${cluster}/${id}`;

/** What the ECS agent sends: CPU and MEMORY as integers, reserved ports as string sets. */
const AGENT_RESOURCES = [
  { name: 'CPU', type: 'INTEGER', integerValue: 2048 },
  { name: 'MEMORY', type: 'INTEGER', integerValue: 3955 },
  { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22', '2375', '2376', '51678', '51679'] },
  { name: 'PORTS_UDP', type: 'STRINGSET', stringSetValue: [] },
];

function harness() {
  const h = ecsHarness();
  const { store, call } = h;
  const register = async (input: Record<string, unknown> = {}): Promise<ContainerInstance & { id: string }> => {
    const { containerInstance } = await call('RegisterContainerInstance', { totalResources: AGENT_RESOURCES, ...input });
    const arn = containerInstance.containerInstanceArn as string;
    return { ...containerInstance, id: arn.slice(arn.lastIndexOf('/') + 1) };
  };
  const stored = async (cluster: string, id: string) => (await readJson<ContainerInstance>(store, keys.containerInstance(cluster, id)))?.value;
  return { ...h, register, stored };
}

describe('RegisterContainerInstance', () => {
  it('registers an ACTIVE instance with resources in ECS shape', async () => {
    const { call, register, ctx } = harness();
    await call('CreateCluster', { clusterName: 'c' });
    const ci = await register({
      cluster: 'c',
      versionInfo: { agentVersion: '1.82.0', agentHash: 'abc', dockerVersion: 'DockerVersion: 25.0' },
      attributes: [{ name: 'ecs.os-type', value: 'linux' }, { name: 'ecs.capability.task-eni' }, { name: 'stack', value: 'prod' }],
      tags: [{ key: 'team', value: 'infra' }],
    });
    expect(ci.containerInstanceArn).toMatch(/^arn:aws:ecs:us-east-1:000000000000:container-instance\/c\/[0-9a-f]{32}$/);
    expect(ci.ec2InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(ci).toMatchObject({
      status: 'ACTIVE',
      agentConnected: false,
      runningTasksCount: 0,
      pendingTasksCount: 0,
      version: 1,
      registeredAt: ctx.now.getTime() / 1000,
      versionInfo: { agentVersion: '1.82.0', agentHash: 'abc', dockerVersion: 'DockerVersion: 25.0' },
      attributes: [{ name: 'ecs.os-type', value: 'linux' }, { name: 'ecs.capability.task-eni' }, { name: 'stack', value: 'prod' }],
      attachments: [],
      tags: [{ key: 'team', value: 'infra' }],
    });
    expect(ci.registeredResources).toEqual([
      { name: 'CPU', type: 'INTEGER', doubleValue: 0, longValue: 0, integerValue: 2048 },
      { name: 'MEMORY', type: 'INTEGER', doubleValue: 0, longValue: 0, integerValue: 3955 },
      { name: 'PORTS', type: 'STRINGSET', doubleValue: 0, longValue: 0, integerValue: 0, stringSetValue: ['22', '2375', '2376', '51678', '51679'] },
      { name: 'PORTS_UDP', type: 'STRINGSET', doubleValue: 0, longValue: 0, integerValue: 0, stringSetValue: [] },
    ]);
    expect(ci.remainingResources).toEqual(ci.registeredResources);
  });

  it('fills in the resources ECS always reports, and lists GPUs from platformDevices', async () => {
    const { call, register } = harness();
    await call('CreateCluster');
    const ci = await register({ totalResources: [{ name: 'CPU', integerValue: 512 }], platformDevices: [{ id: 'GPU-1', type: 'GPU' }, { id: 'GPU-2', type: 'GPU' }] });
    expect(ci.registeredResources.map((r: Resource) => [r.name, r.type, r.integerValue, r.stringSetValue])).toEqual([
      ['CPU', 'INTEGER', 512, undefined],
      ['MEMORY', 'INTEGER', 0, undefined],
      ['PORTS', 'STRINGSET', 0, []],
      ['PORTS_UDP', 'STRINGSET', 0, []],
      ['GPU', 'STRINGSET', 0, ['GPU-1', 'GPU-2']],
    ]);
  });

  it("creates the 'default' cluster for the first instance, as ECS does, but no other", async () => {
    const { call, register, refused } = harness();
    await register();
    expect((await call('DescribeClusters')).clusters[0]).toMatchObject({ clusterName: 'default', status: 'ACTIVE', registeredContainerInstancesCount: 1 });
    await refused('RegisterContainerInstance', { cluster: 'elsewhere' }, 'ClusterNotFoundException', 'Cluster not found.');
    await call('CreateCluster', { clusterName: 'gone' });
    await call('DeleteCluster', { cluster: 'gone' });
    await refused('RegisterContainerInstance', { cluster: 'gone' }, 'ClusterNotFoundException', 'The referenced cluster was inactive.');
  });

  it('takes the EC2 instance id, zone, type and AMI from the identity document', async () => {
    const { register } = harness();
    const doc = JSON.stringify({ instanceId: 'i-0abc', availabilityZone: 'us-east-1a', instanceType: 't3.micro', imageId: 'ami-1' });
    const ci = await register({ instanceIdentityDocument: doc, instanceIdentityDocumentSignature: 'sig', attributes: [{ name: 'ecs.instance-type', value: 'given' }] });
    expect(ci.ec2InstanceId).toBe('i-0abc');
    expect(ci.attributes).toEqual([
      { name: 'ecs.instance-type', value: 'given' },
      { name: 'ecs.availability-zone', value: 'us-east-1a' },
      { name: 'ecs.ami-id', value: 'ami-1' },
    ]);
  });

  it('re-registers by containerInstanceArn: same ARN, new resources, held resources kept, custom attributes kept', async () => {
    const { register, store, stored } = harness();
    const first = await register({ attributes: [{ name: 'ecs.os-type', value: 'linux' }, { name: 'old-agent-attr', value: 'x' }] });
    // A task holds 512 CPU, 256 MiB and host port 8080 (as task placement writes it), and a custom attribute was put.
    await updateContainerInstance(store, 'default', first.id, (ci) => ({
      ...ci,
      remainingResources: ci.remainingResources.map((r) =>
        r.name === 'CPU' ? { ...r, integerValue: 1536 } : r.name === 'MEMORY' ? { ...r, integerValue: 3699 } : r.name === 'PORTS' ? { ...r, stringSetValue: [...r.stringSetValue!, '8080'] } : r,
      ),
      attributes: [...ci.attributes, { name: 'custom', value: 'kept' }],
      pendingTasksCount: 1,
    }));
    const again = await register({
      containerInstanceArn: first.containerInstanceArn,
      totalResources: [{ name: 'CPU', type: 'INTEGER', integerValue: 4096 }, { name: 'MEMORY', type: 'INTEGER', integerValue: 3955 }, { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22'] }],
      attributes: [{ name: 'ecs.os-type', value: 'linux' }, { name: 'ecs.cpu-architecture', value: 'arm64' }],
      versionInfo: { agentVersion: '2.0.0' },
    });
    expect(again.containerInstanceArn).toBe(first.containerInstanceArn);
    expect(again.version).toBe(3);
    expect(again.pendingTasksCount).toBe(1);
    const byName = (rs: readonly Resource[]) => Object.fromEntries(rs.map((r) => [r.name, r.type === 'STRINGSET' ? r.stringSetValue : r.integerValue]));
    expect(byName(again.registeredResources)).toEqual({ CPU: 4096, MEMORY: 3955, PORTS: ['22'], PORTS_UDP: [] });
    expect(byName(again.remainingResources)).toEqual({ CPU: 3584, MEMORY: 3699, PORTS: ['22', '8080'], PORTS_UDP: [] });
    expect(again.attributes.map((a) => a.name)).toEqual(['ecs.os-type', 'ecs.cpu-architecture', 'old-agent-attr', 'custom']);
    expect((await stored('default', first.id))?.versionInfo).toEqual({ agentVersion: '2.0.0' });
  });

  it('re-registers the same EC2 instance (by identity document) instead of adding a second one', async () => {
    const { register, call } = harness();
    const doc = JSON.stringify({ instanceId: 'i-0123' });
    const first = await register({ instanceIdentityDocument: doc });
    const second = await register({ instanceIdentityDocument: doc });
    expect(second.containerInstanceArn).toBe(first.containerInstanceArn);
    expect((await call('ListContainerInstances')).containerInstanceArns).toHaveLength(1);
  });

  it.each<[string, Record<string, unknown>, ErrorCode, string | RegExp]>([
    ['an unknown containerInstanceArn', { containerInstanceArn: CI_ARN('default', 'f'.repeat(32)) }, 'ClientException', /is not registered in cluster default/],
    ['an ARN of another cluster', { containerInstanceArn: CI_ARN('other', 'abc') }, 'InvalidParameterException', /does not belong to cluster default/],
    ['a task ARN as containerInstanceArn', { containerInstanceArn: `arn:aws:ecs:us-east-1:${ACCOUNT}:task/default/abc` }, 'InvalidParameterException', /is not a container-instance ARN/],
    ['an identity document that is not JSON', { instanceIdentityDocument: '{' }, 'InvalidParameterException', 'instanceIdentityDocument is not a JSON instance identity document.'],
    ['a resource without a name', { totalResources: [{ integerValue: 1 }] }, 'InvalidParameterException', 'totalResources[0].name is required.'],
    ['a negative resource', { totalResources: [{ name: 'CPU', integerValue: -1 }] }, 'InvalidParameterException', 'totalResources[0].integerValue must be a non-negative integer.'],
    ['a fractional integer resource', { totalResources: [{ name: 'CPU', integerValue: 1.5 }] }, 'InvalidParameterException', 'totalResources[0].integerValue must be a non-negative integer.'],
    ['an unknown resource type', { totalResources: [{ name: 'CPU', type: 'FLOAT' }] }, 'InvalidParameterException', "totalResources[0].type must be one of INTEGER, LONG, DOUBLE, STRINGSET; got 'FLOAT'."],
    ['a repeated resource', { totalResources: [{ name: 'CPU' }, { name: 'CPU' }] }, 'InvalidParameterException', "totalResources names the resource 'CPU' more than once."],
    ['a device without id', { platformDevices: [{ type: 'GPU' }] }, 'InvalidParameterException', 'platformDevices[0].id is required.'],
    ['a device of unknown type', { platformDevices: [{ id: 'x', type: 'FPGA' }] }, 'InvalidParameterException', "platformDevices[0].type must be one of GPU; got 'FPGA'."],
    ['a bad attribute name', { attributes: [{ name: 'has space' }] }, 'InvalidParameterException', /^attributes\[0\].name 'has space' is not a valid attribute name/],
    ['a repeated attribute', { attributes: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }] }, 'InvalidParameterException', "attributes names 'a' more than once."],
    ['11 custom attributes', { attributes: Array.from({ length: 11 }, (_, i) => ({ name: `a${i}` })) }, 'AttributeLimitExceededException', /carries 11 custom attributes/],
    ['a tag with an aws: key', { tags: [{ key: 'aws:x', value: '1' }] }, 'InvalidParameterException', /aws: prefix/],
  ])('refuses %s', async (_what, input, code, message) => {
    const { refused, call } = harness();
    await call('CreateCluster');
    await refused('RegisterContainerInstance', { totalResources: AGENT_RESOURCES, ...input }, code, message);
  });

  it('never registers into a cluster deleted while the registration runs', async () => {
    const inner = SqliteStore.open(':memory:');
    onTestFinished(() => inner.close());
    let raced = false;
    // DeleteCluster commits just before the registration writes its instance.
    const racing = interposedStore(inner, {
      txn: async (compares, success, failure) => {
        if (!raced && success.some((op) => op.type === 'put' && op.key.startsWith('/ecs/instances/'))) {
          raced = true;
          const cluster = JSON.parse((await inner.get(keys.cluster('c')))!.value) as Record<string, unknown>;
          await put(inner, keys.cluster('c'), JSON.stringify({ ...cluster, status: 'INACTIVE' }));
        }
        return inner.txn(compares, success, failure);
      },
    });
    const ctx: RequestContext = { requestId: 'r', caller: { accessKeyId: 'AKIDEXAMPLE', accountId: ACCOUNT }, region: 'us-east-1', now: new Date() };
    await clusterOperations({ store: racing }).CreateCluster!({ clusterName: 'c' }, ctx);
    const err: unknown = await containerInstanceOperations({ store: racing }).RegisterContainerInstance!({ cluster: 'c' }, ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(raced).toBe(true);
    expect(err).toMatchObject({ code: 'ClusterNotFoundException', message: 'The referenced cluster was inactive.' });
    expect((await inner.range(keys.containerInstances('c'))).count).toBe(0);
  });

  it('lets the agent register with ten custom attributes beside any number of ecs.* ones', async () => {
    const { register } = harness();
    const attributes = [
      ...Array.from({ length: 10 }, (_, i) => ({ name: `custom${i}`, value: 'v' })),
      ...Array.from({ length: 30 }, (_, i) => ({ name: `ecs.capability.c${i}` })),
      { name: 'com.amazonaws.ecs.capability.docker-remote-api.1.44' },
    ];
    expect((await register({ attributes })).attributes).toHaveLength(41);
  });

  it('makes EC2-style instance ids', () => {
    expect(newEc2InstanceId()).toMatch(/^i-[0-9a-f]{17}$/);
    expect(newEc2InstanceId()).not.toBe(newEc2InstanceId());
  });
});

describe('DescribeContainerInstances', () => {
  it('describes by id or ARN, with tags and health only when included, and reports missing ones', async () => {
    const { call, register } = harness();
    const ci = await register({ tags: [{ key: 'k', value: 'v' }] });
    const missing = 'f'.repeat(32);
    const res = await call('DescribeContainerInstances', { containerInstances: [ci.id, ci.containerInstanceArn, missing] });
    expect(res.containerInstances).toHaveLength(2);
    expect(res.containerInstances[0]).not.toHaveProperty('tags');
    expect(res.containerInstances[0]).not.toHaveProperty('healthStatus');
    expect(res.failures).toEqual([{ arn: CI_ARN('default', missing), reason: 'MISSING' }]);
    const full = await call('DescribeContainerInstances', { containerInstances: [ci.id], include: ['TAGS', 'CONTAINER_INSTANCE_HEALTH'] });
    expect(full.containerInstances[0]).toMatchObject({ tags: [{ key: 'k', value: 'v' }], healthStatus: { overallStatus: 'INSUFFICIENT_DATA', details: [] } });
  });

  it.each<[string, Record<string, unknown>, ErrorCode, string | RegExp]>([
    ['no instances', {}, 'InvalidParameterException', 'containerInstances is required and must not be empty.'],
    ['an empty list', { containerInstances: [] }, 'InvalidParameterException', 'containerInstances is required and must not be empty.'],
    ['101 instances', { containerInstances: Array.from({ length: 101 }, (_, i) => `i${i}`) }, 'InvalidParameterException', 'containerInstances can have at most 100 items; got 101.'],
    ['an unknown include', { containerInstances: ['x'], include: ['ALL'] }, 'InvalidParameterException', "include[0] must be one of TAGS, CONTAINER_INSTANCE_HEALTH; got 'ALL'."],
    ['a missing cluster', { cluster: 'nope', containerInstances: ['x'] }, 'ClusterNotFoundException', 'Cluster not found.'],
    ['an ARN of another cluster', { containerInstances: [CI_ARN('other', 'x')] }, 'InvalidParameterException', /does not belong to cluster default/],
  ])('refuses %s', async (_what, input, code, message) => {
    const { refused, call } = harness();
    await call('CreateCluster');
    await refused('DescribeContainerInstances', input, code, message);
  });
});

describe('ListContainerInstances', () => {
  async function fleet() {
    const h = harness();
    await h.call('CreateCluster');
    const a = await h.register({ attributes: [{ name: 'ecs.instance-type', value: 't2.micro' }, { name: 'zone', value: 'a' }], versionInfo: { agentVersion: '1.9.0' } });
    const b = await h.register({ attributes: [{ name: 'ecs.instance-type', value: 't3.large' }, { name: 'zone', value: 'b' }], versionInfo: { agentVersion: '1.14.0' } });
    const c = await h.register({ attributes: [{ name: 'ecs.instance-type', value: 't2.small' }], versionInfo: { agentVersion: '1.10.1' } });
    return { ...h, a, b, c };
  }

  it('lists every instance, or those of one status', async () => {
    const { call, a, b, c } = await fleet();
    expect((await call('ListContainerInstances')).containerInstanceArns.sort()).toEqual([a, b, c].map((x) => x.containerInstanceArn).sort());
    await call('UpdateContainerInstancesState', { containerInstances: [b.id], status: 'DRAINING' });
    expect((await call('ListContainerInstances', { status: 'DRAINING' })).containerInstanceArns).toEqual([b.containerInstanceArn]);
    expect((await call('ListContainerInstances', { status: 'REGISTERING' })).containerInstanceArns).toEqual([]);
  });

  it('filters with the cluster query language', async () => {
    const { call, store, a, b, c } = await fleet();
    await setAgentConnected(store, 'default', a.id, true);
    await put(store, keys.task('default', 't1'), JSON.stringify({ lastStatus: 'RUNNING', group: 'service:web', containerInstanceArn: b.containerInstanceArn }));
    const list = async (filter: string) => (await call('ListContainerInstances', { filter })).containerInstanceArns.sort();
    const arns = (...xs: Array<{ containerInstanceArn: string }>) => xs.map((x) => x.containerInstanceArn).sort();
    expect(await list('attribute:ecs.instance-type =~ t2.*')).toEqual(arns(a, c));
    expect(await list('attribute:zone exists and not attribute:zone == a')).toEqual(arns(b));
    expect(await list('agentConnected == true')).toEqual(arns(a));
    expect(await list('agentVersion >= 1.10.0')).toEqual(arns(b, c));
    expect(await list(`ec2InstanceId in [${c.ec2InstanceId}]`)).toEqual(arns(c));
    expect(await list('task:group == service:web')).toEqual(arns(b));
    expect(await list('not(task:group == service:web)')).toEqual(arns(a, c));
    expect(await list('registeredAt >= 2024-05-01 and runningTasksCount == 0')).toEqual(arns(a, b, c));
    expect(await list('registeredAt < 2024-05-01')).toEqual([]);
    expect(await list('   ')).toEqual(arns(a, b, c));
  });

  it('pages through filtered results', async () => {
    const { call } = await fleet();
    const seen: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call('ListContainerInstances', { maxResults: 1, filter: 'attribute:ecs.instance-type exists', ...(nextToken ? { nextToken } : {}) });
      seen.push(...page.containerInstanceArns);
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    expect(new Set(seen).size).toBe(3);
  });

  it.each<[Record<string, unknown>, ErrorCode, string]>([
    [{ filter: 'attribute:zone foo' }, 'InvalidParameterException', "filter: expected an operator after 'attribute:zone' at position 15, found 'foo'"],
    [{ filter: 'ec2InstanceId > i-1' }, 'InvalidParameterException', "filter: operator '>' is not valid for ec2InstanceId at position 14; use one of ==, !=, in, !in, =~, !~"],
    [{ filter: 'x'.repeat(2001) }, 'InvalidParameterException', 'filter must be at most 2000 characters long.'],
    [{ status: 'INACTIVE' }, 'InvalidParameterException', "status must be one of ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED; got 'INACTIVE'."],
    [{ maxResults: 0 }, 'InvalidParameterException', 'maxResults must be at least 1.'],
    [{ nextToken: '???' }, 'InvalidParameterException', 'The nextToken is not valid.'],
    [{ cluster: 'nope' }, 'ClusterNotFoundException', 'Cluster not found.'],
  ])('refuses %j', async (input, code, message) => {
    const { refused } = await fleet();
    await refused('ListContainerInstances', input, code, message);
  });
});

describe('UpdateContainerInstancesState', () => {
  it('drains and reactivates, bumping version only on a change, with failures per instance', async () => {
    const { call, register, stored } = harness();
    const ci = await register();
    const missing = 'e'.repeat(32);
    const res = await call('UpdateContainerInstancesState', { containerInstances: [ci.containerInstanceArn, missing], status: 'DRAINING' });
    expect(res.containerInstances).toHaveLength(1);
    expect(res.containerInstances[0]).toMatchObject({ status: 'DRAINING', version: 2, tags: [] });
    expect(res.failures).toEqual([{ arn: CI_ARN('default', missing), reason: 'MISSING' }]);
    await call('UpdateContainerInstancesState', { containerInstances: [ci.id], status: 'DRAINING' });
    expect((await stored('default', ci.id))?.version).toBe(2);
    await call('UpdateContainerInstancesState', { containerInstances: [ci.id], status: 'ACTIVE' });
    expect(await stored('default', ci.id)).toMatchObject({ status: 'ACTIVE', version: 3 });
  });

  it('reports instances in a status ECS manages itself as failures, unchanged', async () => {
    const { call, register, store, stored } = harness();
    const ci = await register();
    await updateContainerInstance(store, 'default', ci.id, (x) => ({ ...x, status: 'REGISTERING' }));
    const res = await call('UpdateContainerInstancesState', { containerInstances: [ci.id], status: 'DRAINING' });
    expect(res.failures).toEqual([{ arn: ci.containerInstanceArn, reason: 'INVALID_STATUS', detail: expect.stringContaining('REGISTERING') }]);
    expect((await stored('default', ci.id))?.status).toBe('REGISTERING');
  });

  it.each<[Record<string, unknown>, string]>([
    [{ status: 'DRAINING' }, 'containerInstances is required and must not be empty.'],
    [{ containerInstances: ['a'] }, 'status is required.'],
    [{ containerInstances: ['a'], status: 'DEREGISTERING' }, 'Container instances can only be set to ACTIVE or DRAINING; DEREGISTERING is a status ECS sets itself.'],
    [{ containerInstances: ['a'], status: 'GONE' }, "status must be one of ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED; got 'GONE'."],
    [{ containerInstances: Array.from({ length: 11 }, (_, i) => `i${i}`), status: 'ACTIVE' }, 'containerInstances can have at most 10 items; got 11.'],
    [{ containerInstances: ['a', CI_ARN('other', 'b')], status: 'ACTIVE' }, `containerInstances[1] ${CI_ARN('other', 'b')} does not belong to cluster default.`],
  ])('refuses %j, changing nothing', async (input, message) => {
    const { refused, register } = harness();
    await register();
    await refused('UpdateContainerInstancesState', input, 'InvalidParameterException', message);
  });
});

describe('DeregisterContainerInstance', () => {
  it('removes an idle instance and answers with it INACTIVE', async () => {
    const { call, register, stored, store } = harness();
    const ci = await register({ tags: [{ key: 'k', value: 'v' }] });
    await setAgentConnected(store, 'default', ci.id, true);
    const { containerInstance } = await call('DeregisterContainerInstance', { containerInstance: ci.containerInstanceArn });
    expect(containerInstance).toMatchObject({ containerInstanceArn: ci.containerInstanceArn, status: 'INACTIVE', agentConnected: false, version: 3, tags: [{ key: 'k', value: 'v' }] });
    expect(await stored('default', ci.id)).toBeUndefined();
    expect((await call('DescribeContainerInstances', { containerInstances: [ci.id] })).failures).toHaveLength(1);
  });

  it('refuses an instance with tasks unless forced', async () => {
    const { call, register, refused, store } = harness();
    const counted = await register();
    await updateContainerInstance(store, 'default', counted.id, (x) => ({ ...x, runningTasksCount: 1 }));
    await refused('DeregisterContainerInstance', { containerInstance: counted.id }, 'InvalidParameterException', 'The container instance has 1 task that has not stopped. Stop it first, or deregister with force.');
    // Tasks the store holds for the instance count even when its counters say otherwise.
    const busy = await register();
    await put(store, keys.task('default', 't1'), JSON.stringify({ lastStatus: 'PENDING', containerInstanceArn: busy.containerInstanceArn }));
    await put(store, keys.task('default', 't2'), JSON.stringify({ lastStatus: 'RUNNING', containerInstanceArn: busy.containerInstanceArn }));
    await refused('DeregisterContainerInstance', { containerInstance: busy.id, force: false }, 'InvalidParameterException', /has 2 tasks that have not stopped/);
    expect((await call('DeregisterContainerInstance', { containerInstance: busy.id, force: true })).containerInstance.status).toBe('INACTIVE');
  });

  it.each<[Record<string, unknown>, ErrorCode, string | RegExp]>([
    [{}, 'InvalidParameterException', 'containerInstance is required.'],
    [{ containerInstance: 'nope' }, 'InvalidParameterException', "The container instance 'nope' was not found in cluster 'default'."],
    [{ containerInstance: CI_ARN('other', 'x') }, 'InvalidParameterException', /does not belong to cluster default/],
    [{ cluster: 'nope', containerInstance: 'x' }, 'ClusterNotFoundException', 'Cluster not found.'],
    [{ containerInstance: 'x', force: 'yes' }, 'SerializationException', 'Invalid type for parameter force: expected a boolean, got string.'],
  ])('refuses %j', async (input, code, message) => {
    const { refused, register } = harness();
    await register();
    await refused('DeregisterContainerInstance', input, code, message);
  });
});

describe('helpers for other modules', () => {
  it('setAgentConnected flips the flag and bumps version once', async () => {
    const { store, register, stored } = harness();
    const ci = await register();
    await setAgentConnected(store, 'default', ci.id, true);
    await setAgentConnected(store, 'default', ci.id, true);
    expect(await stored('default', ci.id)).toMatchObject({ agentConnected: true, version: 2 });
    expect(await setAgentConnected(store, 'default', 'unknown', true)).toBeUndefined();
  });

  it('querySubjectOf lets a stored instance be queried', async () => {
    const { register } = harness();
    const ci = await register({ attributes: [{ name: 'ecs.capability.x' }, { name: 'zone', value: 'a' }] });
    const subject = querySubjectOf(ci, ['service:web']);
    expect(subject.attribute('ecs.capability.x')).toBeNull();
    expect(subject.attribute('zone')).toBe('a');
    expect(subject.attribute('nope')).toBeUndefined();
    expect(evaluateQuery(parseQuery('task:group == service:web and attribute:zone == a and registeredAt == 2024-05-01'), subject)).toBe(true);
  });
});
