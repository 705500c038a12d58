/** Cluster operations and ClusterActivity against a real (in-memory) SqliteStore. */
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocols/index.js';
import { put } from '../store/index.js';
import { ClusterActivity, clusterActivity } from './cluster-activity.js';
import { requireActiveCluster } from './clusters.js';
import { keys } from './keys.js';
import { ecsHarness, interposedStore, type Json } from './testing/ecs-harness.suite.js';

const ACCOUNT = '000000000000';
const ARN = (name: string) => `arn:aws:ecs:us-east-1:${ACCOUNT}:cluster/${name}`;

/** Tasks and services are written as their own modules store them. */
function harness() {
  const h = ecsHarness();
  const { store, call } = h;
  const task = (cluster: string, id: string, fields: Record<string, unknown>) =>
    put(store, keys.task(cluster, id), JSON.stringify({ taskArn: `arn:aws:ecs:us-east-1:${ACCOUNT}:task/${cluster}/${id}`, clusterArn: ARN(cluster), ...fields }));
  const service = (cluster: string, name: string, fields: Record<string, unknown>) =>
    put(store, keys.service(cluster, name), JSON.stringify({ serviceName: name, clusterArn: ARN(cluster), ...fields }));
  const register = (cluster: string) =>
    call('RegisterContainerInstance', { cluster, totalResources: [{ name: 'CPU', type: 'INTEGER', integerValue: 1024 }] }) as Promise<{
      containerInstance: { containerInstanceArn: string };
    }>;
  return { ...h, task, service, register };
}

describe('CreateCluster', () => {
  it("creates 'default' when no name is given, as ECS returns it", async () => {
    const { call } = harness();
    const { cluster } = await call('CreateCluster');
    expect(cluster).toEqual({
      clusterArn: ARN('default'),
      clusterName: 'default',
      status: 'ACTIVE',
      registeredContainerInstancesCount: 0,
      runningTasksCount: 0,
      pendingTasksCount: 0,
      activeServicesCount: 0,
      statistics: [],
      tags: [],
      settings: [],
      capacityProviders: [],
      defaultCapacityProviderStrategy: [],
    });
  });

  it('takes settings, configuration, Service Connect defaults, capacity providers and tags, and echoes them', async () => {
    const { call } = harness();
    const configuration = {
      executeCommandConfiguration: { kmsKeyId: 'k', logging: 'OVERRIDE', logConfiguration: { cloudWatchLogGroupName: 'g', s3EncryptionEnabled: true } },
      managedStorageConfiguration: { fargateEphemeralStorageKmsKeyId: 'f' },
    };
    const { cluster } = await call('CreateCluster', {
      clusterName: 'Web_Prod-2',
      settings: [{ name: 'containerInsights', value: 'enhanced' }],
      configuration,
      serviceConnectDefaults: { namespace: 'internal' },
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1, base: 2 }, { capacityProvider: 'FARGATE_SPOT', weight: 3 }],
      tags: [{ key: 'team', value: 'web' }, { key: 'empty' }],
    });
    expect(cluster).toMatchObject({
      clusterArn: ARN('Web_Prod-2'),
      settings: [{ name: 'containerInsights', value: 'enhanced' }],
      configuration,
      serviceConnectDefaults: { namespace: 'internal' },
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      defaultCapacityProviderStrategy: [
        { capacityProvider: 'FARGATE', weight: 1, base: 2 },
        { capacityProvider: 'FARGATE_SPOT', weight: 3, base: 0 },
      ],
      tags: [{ key: 'team', value: 'web' }, { key: 'empty' }],
    });
  });

  it('answers a create of an existing ACTIVE cluster with that cluster, changing nothing', async () => {
    const { call, snapshot } = harness();
    const first = await call('CreateCluster', { clusterName: 'c', tags: [{ key: 'a', value: '1' }] });
    const before = await snapshot();
    const again = await call('CreateCluster', { clusterName: 'c', tags: [{ key: 'b', value: '2' }], settings: [{ name: 'containerInsights', value: 'enabled' }] });
    expect(again).toEqual(first);
    expect(await snapshot()).toEqual(before);
  });

  it('makes an INACTIVE cluster ACTIVE again, with the new request', async () => {
    const { call } = harness();
    await call('CreateCluster', { clusterName: 'c', tags: [{ key: 'old', value: '1' }] });
    await call('DeleteCluster', { cluster: 'c' });
    const { cluster } = await call('CreateCluster', { clusterName: 'c', tags: [{ key: 'new', value: '2' }] });
    expect(cluster).toMatchObject({ status: 'ACTIVE', tags: [{ key: 'new', value: '2' }] });
    expect((await call('ListClusters')).clusterArns).toEqual([ARN('c')]);
  });

  it("takes containerInsights from the account's setting unless the request sets it", async () => {
    const { call } = harness();
    expect((await call('CreateCluster', { clusterName: 'a' })).cluster.settings).toEqual([]);
    await call('PutAccountSettingDefault', { name: 'containerInsights', value: 'enabled' });
    expect((await call('CreateCluster', { clusterName: 'b' })).cluster.settings).toEqual([{ name: 'containerInsights', value: 'enabled' }]);
    expect((await call('CreateCluster', { clusterName: 'c', settings: [{ name: 'containerInsights', value: 'disabled' }] })).cluster.settings).toEqual([
      { name: 'containerInsights', value: 'disabled' },
    ]);
  });

  const strategy = (...items: Array<Record<string, unknown>>) => ({ capacityProviders: ['FARGATE', 'FARGATE_SPOT'], defaultCapacityProviderStrategy: items });
  it.each<[string, Record<string, unknown>, ErrorCode, string | RegExp]>([
    ['a name with a space', { clusterName: 'my cluster' }, 'InvalidParameterException', /^Cluster name 'my cluster' is not valid: up to 255 letters/],
    ['a 256-character name', { clusterName: 'x'.repeat(256) }, 'InvalidParameterException', /is not valid/],
    ['a non-ASCII name', { clusterName: 'grün' }, 'InvalidParameterException', /is not valid/],
    ['a name that is not a string', { clusterName: 7 }, 'SerializationException', 'Invalid type for parameter clusterName: expected a string, got number.'],
    ['an unknown setting', { settings: [{ name: 'insights', value: 'enabled' }] }, 'InvalidParameterException', "settings[0].name must be one of containerInsights; got 'insights'."],
    ['a bad setting value', { settings: [{ name: 'containerInsights', value: 'on' }] }, 'InvalidParameterException', "settings[0].value must be one of enabled, disabled, enhanced; got 'on'."],
    ['a setting without value', { settings: [{ name: 'containerInsights' }] }, 'InvalidParameterException', 'settings[0].value is required.'],
    ['an unknown capacity provider', { capacityProviders: ['my-asg'] }, 'InvalidParameterException', /^The capacity provider 'my-asg' does not exist/],
    ['a repeated capacity provider', { capacityProviders: ['FARGATE', 'FARGATE'] }, 'InvalidParameterException', "The capacity provider 'FARGATE' appears more than once in capacityProviders."],
    ['a strategy naming an unassociated provider', { capacityProviders: ['FARGATE'], defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] }, 'InvalidParameterException', /^The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster/],
    ['a strategy repeating a provider', strategy({ capacityProvider: 'FARGATE', weight: 1 }, { capacityProvider: 'FARGATE', weight: 2 }), 'InvalidParameterException', "The capacity provider 'FARGATE' appears more than once in defaultCapacityProviderStrategy."],
    ['two bases', strategy({ capacityProvider: 'FARGATE', weight: 1, base: 1 }, { capacityProvider: 'FARGATE_SPOT', weight: 1, base: 1 }), 'InvalidParameterException', 'Only one capacity provider in defaultCapacityProviderStrategy can have a base defined.'],
    ['only zero weights', strategy({ capacityProvider: 'FARGATE' }, { capacityProvider: 'FARGATE_SPOT', weight: 0 }), 'InvalidParameterException', 'At least one capacity provider in defaultCapacityProviderStrategy must have a weight greater than zero.'],
    ['a weight over 1000', strategy({ capacityProvider: 'FARGATE', weight: 1001 }), 'InvalidParameterException', 'defaultCapacityProviderStrategy[0].weight must be at most 1000.'],
    ['a negative base', strategy({ capacityProvider: 'FARGATE', weight: 1, base: -1 }), 'InvalidParameterException', 'defaultCapacityProviderStrategy[0].base must be at least 0.'],
    ['a base over 100000', strategy({ capacityProvider: 'FARGATE', weight: 1, base: 100_001 }), 'InvalidParameterException', 'defaultCapacityProviderStrategy[0].base must be at most 100000.'],
    ['a strategy item without provider', strategy({ weight: 1 }), 'InvalidParameterException', 'defaultCapacityProviderStrategy[0].capacityProvider is required.'],
    ['21 strategy items', { capacityProviders: ['FARGATE'], defaultCapacityProviderStrategy: Array.from({ length: 21 }, () => ({ capacityProvider: 'FARGATE', weight: 1 })) }, 'InvalidParameterException', 'defaultCapacityProviderStrategy can contain at most 20 capacity providers; got 21.'],
    ['OVERRIDE logging without a log configuration', { configuration: { executeCommandConfiguration: { logging: 'OVERRIDE' } } }, 'InvalidParameterException', 'configuration.executeCommandConfiguration.logConfiguration is required when configuration.executeCommandConfiguration.logging is OVERRIDE.'],
    ['an unknown logging mode', { configuration: { executeCommandConfiguration: { logging: 'ALL' } } }, 'InvalidParameterException', "configuration.executeCommandConfiguration.logging must be one of NONE, DEFAULT, OVERRIDE; got 'ALL'."],
    ['a configuration that is not a structure', { configuration: 'x' }, 'SerializationException', 'Invalid type for parameter configuration: expected a structure, got string.'],
    ['Service Connect defaults without namespace', { serviceConnectDefaults: {} }, 'InvalidParameterException', 'serviceConnectDefaults.namespace is required.'],
    ['an empty Service Connect namespace', { serviceConnectDefaults: { namespace: '' } }, 'InvalidParameterException', 'serviceConnectDefaults.namespace must not be empty.'],
    ['a namespace with a slash', { serviceConnectDefaults: { namespace: 'a/b' } }, 'InvalidParameterException', /^serviceConnectDefaults.namespace 'a\/b' is not valid/],
    ['51 tags', { tags: Array.from({ length: 51 }, (_, i) => ({ key: `k${i}`, value: 'v' })) }, 'InvalidParameterException', 'tags can have at most 50 tags; got 51.'],
    ['a tag with an aws: key', { tags: [{ key: 'AWS:owner', value: 'x' }] }, 'InvalidParameterException', "tags[0].key 'AWS:owner' uses the aws: prefix, which is reserved for AWS use."],
    ['a repeated tag key', { tags: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }] }, 'InvalidParameterException', "The tag key 'a' appears more than once in tags; each tag key must be unique."],
  ])('refuses %s', async (_what, input, code, message) => {
    const { refused } = harness();
    await refused('CreateCluster', input, code, message);
  });
});

describe('DescribeClusters', () => {
  it("describes 'default' when no cluster is named, and reports missing ones as failures", async () => {
    const { call } = harness();
    expect(await call('DescribeClusters')).toEqual({ clusters: [], failures: [{ arn: ARN('default'), reason: 'MISSING' }] });
    await call('CreateCluster');
    expect((await call('DescribeClusters')).clusters.map((c: Json) => c.clusterName)).toEqual(['default']);
    const res = await call('DescribeClusters', { clusters: ['default', ARN('default'), 'nope'] });
    expect(res.clusters).toHaveLength(2);
    expect(res.failures).toEqual([{ arn: ARN('nope'), reason: 'MISSING' }]);
  });

  it('shows tags, settings, configuration, attachments and statistics only when included', async () => {
    const { call } = harness();
    await call('CreateCluster', {
      clusterName: 'c',
      tags: [{ key: 't', value: 'v' }],
      settings: [{ name: 'containerInsights', value: 'enabled' }],
      configuration: { executeCommandConfiguration: { logging: 'NONE' } },
    });
    const [plain] = (await call('DescribeClusters', { clusters: ['c'] })).clusters;
    expect(plain).toMatchObject({ tags: [], settings: [], statistics: [] });
    expect(plain).not.toHaveProperty('configuration');
    expect(plain).not.toHaveProperty('attachments');
    const [full] = (await call('DescribeClusters', { clusters: ['c'], include: ['TAGS', 'SETTINGS', 'CONFIGURATIONS', 'ATTACHMENTS', 'STATISTICS'] })).clusters;
    expect(full).toMatchObject({
      tags: [{ key: 't', value: 'v' }],
      settings: [{ name: 'containerInsights', value: 'enabled' }],
      configuration: { executeCommandConfiguration: { logging: 'NONE' } },
      attachments: [],
    });
    expect(full.statistics.map((s: Json) => s.name)).toEqual([
      'runningEC2TasksCount', 'runningFargateTasksCount', 'runningExternalTasksCount',
      'pendingEC2TasksCount', 'pendingFargateTasksCount', 'pendingExternalTasksCount',
      'activeEC2ServiceCount', 'activeFargateServiceCount', 'activeExternalServiceCount',
      'drainingEC2ServiceCount', 'drainingFargateServiceCount', 'drainingExternalServiceCount',
    ]);
  });

  it('counts instances, tasks by lastStatus and ACTIVE services, from what is in the store', async () => {
    const { call, task, service, register } = harness();
    await call('CreateCluster', { clusterName: 'c' });
    await call('CreateCluster', { clusterName: 'other' });
    await register('c');
    await register('c');
    await register('other');
    await task('c', 't1', { lastStatus: 'RUNNING', launchType: 'EC2' });
    await task('c', 't2', { lastStatus: 'RUNNING', launchType: 'FARGATE' });
    await task('c', 't3', { lastStatus: 'PENDING', launchType: 'FARGATE' });
    await task('c', 't4', { lastStatus: 'PROVISIONING', launchType: 'FARGATE' });
    await task('c', 't5', { lastStatus: 'STOPPED', launchType: 'EC2' });
    await task('c', 't6', { lastStatus: 'DEACTIVATING', launchType: 'EC2' });
    await task('other', 't7', { lastStatus: 'RUNNING', launchType: 'EC2' });
    await service('c', 's1', { status: 'ACTIVE', launchType: 'EC2' });
    await service('c', 's2', { status: 'ACTIVE', capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] });
    await service('c', 's3', { status: 'DRAINING', launchType: 'FARGATE' });
    await service('c', 's4', { status: 'INACTIVE', launchType: 'EC2' });

    const [c] = (await call('DescribeClusters', { clusters: ['c'], include: ['STATISTICS'] })).clusters;
    expect(c).toMatchObject({ registeredContainerInstancesCount: 2, runningTasksCount: 2, pendingTasksCount: 2, activeServicesCount: 2 });
    const stats = Object.fromEntries(c.statistics.map((s: Json) => [s.name, s.value]));
    expect(stats).toMatchObject({
      runningEC2TasksCount: '1',
      runningFargateTasksCount: '1',
      pendingFargateTasksCount: '2',
      pendingEC2TasksCount: '0',
      activeEC2ServiceCount: '1',
      activeFargateServiceCount: '1',
      drainingFargateServiceCount: '1',
    });
  });

  it('sees each change to tasks and services in the next describe', async () => {
    const { call, task, service, store } = harness();
    await call('CreateCluster', { clusterName: 'c' });
    const counts = async () => {
      const [c] = (await call('DescribeClusters', { clusters: ['c'] })).clusters;
      return [c.runningTasksCount, c.pendingTasksCount, c.activeServicesCount];
    };
    expect(await counts()).toEqual([0, 0, 0]);
    await task('c', 't1', { lastStatus: 'PENDING' });
    expect(await counts()).toEqual([0, 1, 0]);
    await task('c', 't1', { lastStatus: 'RUNNING' });
    expect(await counts()).toEqual([1, 0, 0]);
    await service('c', 's', { status: 'ACTIVE' });
    expect(await counts()).toEqual([1, 0, 1]);
    await service('c', 's', { status: 'DRAINING' });
    await task('c', 't1', { lastStatus: 'STOPPED' });
    expect(await counts()).toEqual([0, 0, 0]);
    await task('c', 't2', { lastStatus: 'RUNNING' });
    await store.txn([], [{ type: 'delete', key: keys.task('c', 't2') }]);
    expect(await counts()).toEqual([0, 0, 0]);
  });

  it('counts 5,000 tasks written before and after the first describe', async () => {
    const { call, store } = harness();
    await call('CreateCluster', { clusterName: 'big' });
    const write = async (from: number, to: number, lastStatus: string) => {
      const ops = [];
      for (let i = from; i < to; i++) ops.push({ type: 'put' as const, key: keys.task('big', `t${i}`), value: JSON.stringify({ lastStatus }) });
      await store.txn([], ops);
    };
    await write(0, 2500, 'RUNNING');
    expect((await call('DescribeClusters', { clusters: ['big'] })).clusters[0].runningTasksCount).toBe(2500);
    await write(2500, 5000, 'PENDING');
    await write(0, 1000, 'STOPPED');
    expect((await call('DescribeClusters', { clusters: ['big'] })).clusters[0]).toMatchObject({ runningTasksCount: 1500, pendingTasksCount: 2500 });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown include', { include: ['EVERYTHING'] }, "include[0] must be one of ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS, TAGS; got 'EVERYTHING'."],
    ['more than 100 clusters', { clusters: Array.from({ length: 101 }, (_, i) => `c${i}`) }, 'clusters can have at most 100 items; got 101.'],
    ['an ARN of another resource', { clusters: [`arn:aws:ecs:us-east-1:${ACCOUNT}:service/c/s`] }, `Invalid cluster identifier: arn:aws:ecs:us-east-1:${ACCOUNT}:service/c/s. Specify a cluster name or a cluster ARN.`],
  ])('refuses %s', async (_what, input, message) => {
    const { refused } = harness();
    await refused('DescribeClusters', input, 'InvalidParameterException', message);
  });
});

describe('ListClusters', () => {
  it('lists ACTIVE clusters in pages', async () => {
    const { call } = harness();
    for (const n of ['a', 'b', 'c', 'd', 'e']) await call('CreateCluster', { clusterName: n });
    await call('DeleteCluster', { cluster: 'b' });
    await call('DeleteCluster', { cluster: 'c' });
    expect((await call('ListClusters')).clusterArns).toEqual([ARN('a'), ARN('d'), ARN('e')]);
    const p1 = await call('ListClusters', { maxResults: 2 });
    expect(p1.clusterArns).toEqual([ARN('a'), ARN('d')]);
    const p2 = await call('ListClusters', { maxResults: 2, nextToken: p1.nextToken });
    expect(p2).toEqual({ clusterArns: [ARN('e')] });
    const q1 = await call('ListClusters', { maxResults: 1 });
    const q2 = await call('ListClusters', { maxResults: 1, nextToken: q1.nextToken });
    const q3 = await call('ListClusters', { maxResults: 1, nextToken: q2.nextToken });
    expect([...q1.clusterArns, ...q2.clusterArns, ...q3.clusterArns]).toEqual([ARN('a'), ARN('d'), ARN('e')]);
    expect(q3.nextToken).toBeUndefined();
  });

  it.each<[Record<string, unknown>, string]>([
    [{ maxResults: 0 }, 'maxResults must be at least 1.'],
    [{ maxResults: 101 }, 'maxResults must be at most 100.'],
    [{ nextToken: 'garbage' }, 'The nextToken is not valid.'],
  ])('refuses %j', async (input, message) => {
    const { refused } = harness();
    await refused('ListClusters', input, 'InvalidParameterException', message);
  });
});

describe('UpdateCluster and UpdateClusterSettings', () => {
  it('merges settings by name, replaces the configuration and sets or removes Service Connect defaults', async () => {
    const { call } = harness();
    await call('CreateCluster', { clusterName: 'c', tags: [{ key: 'k', value: 'v' }], serviceConnectDefaults: { namespace: 'old' } });
    let { cluster } = await call('UpdateCluster', {
      cluster: 'c',
      settings: [{ name: 'containerInsights', value: 'enabled' }],
      configuration: { managedStorageConfiguration: { kmsKeyId: 'key' } },
    });
    expect(cluster).toMatchObject({
      settings: [{ name: 'containerInsights', value: 'enabled' }],
      configuration: { managedStorageConfiguration: { kmsKeyId: 'key' } },
      serviceConnectDefaults: { namespace: 'old' },
      tags: [{ key: 'k', value: 'v' }],
    });
    ({ cluster } = await call('UpdateClusterSettings', { cluster: ARN('c'), settings: [{ name: 'containerInsights', value: 'enhanced' }] }));
    expect(cluster.settings).toEqual([{ name: 'containerInsights', value: 'enhanced' }]);
    ({ cluster } = await call('UpdateCluster', { cluster: 'c', serviceConnectDefaults: { namespace: '' } }));
    expect(cluster).not.toHaveProperty('serviceConnectDefaults');
    expect(cluster.configuration).toEqual({ managedStorageConfiguration: { kmsKeyId: 'key' } });
  });

  it('refuses a missing or INACTIVE cluster, and bad settings', async () => {
    const { call, refused } = harness();
    await refused('UpdateCluster', { cluster: 'nope' }, 'ClusterNotFoundException', 'Cluster not found.');
    await refused('UpdateCluster', {}, 'InvalidParameterException', 'cluster is required.');
    await call('CreateCluster', { clusterName: 'c' });
    await refused('UpdateClusterSettings', { cluster: 'c' }, 'InvalidParameterException', 'settings is required.');
    await refused('UpdateClusterSettings', { cluster: 'c', settings: [{ name: 'containerInsights', value: 'x' }] }, 'InvalidParameterException');
    await refused('UpdateCluster', { cluster: 'c', configuration: { executeCommandConfiguration: { logging: 'OVERRIDE' } } }, 'InvalidParameterException');
    await call('DeleteCluster', { cluster: 'c' });
    await refused('UpdateCluster', { cluster: 'c', settings: [] }, 'ClusterNotFoundException', 'The referenced cluster was inactive.');
    await refused('UpdateClusterSettings', { cluster: 'c', settings: [] }, 'ClusterNotFoundException', 'The referenced cluster was inactive.');
  });
});

describe('PutClusterCapacityProviders', () => {
  it('replaces the providers and the default strategy', async () => {
    const { call } = harness();
    await call('CreateCluster', { clusterName: 'c', capacityProviders: ['FARGATE'], defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] });
    const { cluster } = await call('PutClusterCapacityProviders', {
      cluster: 'c',
      capacityProviders: ['FARGATE_SPOT'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 2 }],
    });
    expect(cluster).toMatchObject({ capacityProviders: ['FARGATE_SPOT'], defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 2, base: 0 }] });
    const cleared = await call('PutClusterCapacityProviders', { cluster: 'c', capacityProviders: [], defaultCapacityProviderStrategy: [] });
    expect(cleared.cluster).toMatchObject({ capacityProviders: [], defaultCapacityProviderStrategy: [] });
  });

  it('refuses to remove a provider that unstopped tasks or live services use', async () => {
    const { call, refused, task, service } = harness();
    await call('CreateCluster', { clusterName: 'c', capacityProviders: ['FARGATE', 'FARGATE_SPOT'] });
    const keepSpot = { cluster: 'c', capacityProviders: ['FARGATE_SPOT'], defaultCapacityProviderStrategy: [] };
    await task('c', 't', { lastStatus: 'RUNNING', capacityProviderName: 'FARGATE' });
    await refused('PutClusterCapacityProviders', keepSpot, 'ResourceInUseException', /^The capacity provider 'FARGATE' is in use/);
    await task('c', 't', { lastStatus: 'STOPPED', capacityProviderName: 'FARGATE' });
    await service('c', 's', { status: 'DRAINING', capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] });
    await refused('PutClusterCapacityProviders', keepSpot, 'ResourceInUseException');
    await service('c', 's', { status: 'INACTIVE', capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] });
    expect((await call('PutClusterCapacityProviders', keepSpot)).cluster.capacityProviders).toEqual(['FARGATE_SPOT']);
  });

  it('refuses missing members, unknown providers and strategies outside the new providers', async () => {
    const { call, refused } = harness();
    await call('CreateCluster', { clusterName: 'c' });
    await refused('PutClusterCapacityProviders', { cluster: 'c', defaultCapacityProviderStrategy: [] }, 'InvalidParameterException', /^capacityProviders is required/);
    await refused('PutClusterCapacityProviders', { cluster: 'c', capacityProviders: [] }, 'InvalidParameterException', /^defaultCapacityProviderStrategy is required/);
    await refused('PutClusterCapacityProviders', { cluster: 'c', capacityProviders: ['x'], defaultCapacityProviderStrategy: [] }, 'InvalidParameterException');
    await refused(
      'PutClusterCapacityProviders',
      { cluster: 'c', capacityProviders: ['FARGATE'], defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] },
      'InvalidParameterException',
    );
    await refused('PutClusterCapacityProviders', { cluster: 'zz', capacityProviders: [], defaultCapacityProviderStrategy: [] }, 'ClusterNotFoundException');
  });
});

describe('DeleteCluster', () => {
  it('marks the cluster INACTIVE, keeps it for describe, and answers a repeated delete the same way', async () => {
    const { call } = harness();
    await call('CreateCluster', { clusterName: 'c', tags: [{ key: 'k', value: 'v' }] });
    const { cluster } = await call('DeleteCluster', { cluster: ARN('c') });
    expect(cluster).toMatchObject({ clusterName: 'c', status: 'INACTIVE', tags: [{ key: 'k', value: 'v' }] });
    expect((await call('DescribeClusters', { clusters: ['c'] })).clusters[0].status).toBe('INACTIVE');
    expect((await call('DeleteCluster', { cluster: 'c' })).cluster.status).toBe('INACTIVE');
    expect((await call('ListClusters')).clusterArns).toEqual([]);
  });

  it('refuses while container instances, services or tasks remain, in ECS words and in that order', async () => {
    const { call, refused, task, service, register } = harness();
    await call('CreateCluster', { clusterName: 'c' });
    const { containerInstance } = await register('c');
    await service('c', 's', { status: 'ACTIVE' });
    await task('c', 't', { lastStatus: 'PENDING' });

    await refused('DeleteCluster', { cluster: 'c' }, 'ClusterContainsContainerInstancesException', 'The Cluster cannot be deleted while Container Instances are active or draining.');
    await call('DeregisterContainerInstance', { cluster: 'c', containerInstance: containerInstance.containerInstanceArn, force: true });

    await refused('DeleteCluster', { cluster: 'c' }, 'ClusterContainsServicesException', 'The Cluster cannot be deleted while Services are active.');
    await service('c', 's', { status: 'DRAINING' });
    await refused('DeleteCluster', { cluster: 'c' }, 'ClusterContainsServicesException');
    await service('c', 's', { status: 'INACTIVE' });

    await refused('DeleteCluster', { cluster: 'c' }, 'ClusterContainsTasksException', 'The Cluster cannot be deleted while Tasks are active.');
    await task('c', 't', { lastStatus: 'DEPROVISIONING' });
    await refused('DeleteCluster', { cluster: 'c' }, 'ClusterContainsTasksException');
    await task('c', 't', { lastStatus: 'STOPPED' });
    expect((await call('DeleteCluster', { cluster: 'c' })).cluster.status).toBe('INACTIVE');
  });

  it('refuses a missing cluster and a missing parameter', async () => {
    const { refused } = harness();
    await refused('DeleteCluster', { cluster: 'nope' }, 'ClusterNotFoundException', 'Cluster not found.');
    await refused('DeleteCluster', {}, 'InvalidParameterException', 'cluster is required.');
  });
});

describe('requireActiveCluster', () => {
  it('finds ACTIVE clusters by name, ARN or default, and refuses others', async () => {
    const { call, store } = harness();
    await expect(requireActiveCluster(store, undefined)).rejects.toMatchObject({ code: 'ClusterNotFoundException', message: 'Cluster not found.' });
    await call('CreateCluster');
    expect((await requireActiveCluster(store, undefined)).name).toBe('default');
    expect((await requireActiveCluster(store, ARN('default'))).cluster.value.status).toBe('ACTIVE');
    await call('DeleteCluster', { cluster: 'default' });
    await expect(requireActiveCluster(store, 'default')).rejects.toMatchObject({ code: 'ClusterNotFoundException', message: 'The referenced cluster was inactive.' });
  });
});

describe('ClusterActivity', () => {
  it('knows the task groups and unstopped tasks of each container instance', async () => {
    const { store, task } = harness();
    const instance = `arn:aws:ecs:us-east-1:${ACCOUNT}:container-instance/c/abc`;
    await task('c', 't1', { lastStatus: 'RUNNING', group: 'service:web', containerInstanceArn: instance });
    const activity = clusterActivity(store);
    await activity.current();
    await task('c', 't2', { lastStatus: 'PENDING', group: 'family:job', containerInstanceArn: instance });
    await task('c', 't3', { lastStatus: 'STOPPED', group: 'service:db', containerInstanceArn: instance });
    await activity.current();
    expect(activity.taskGroups('c', 'abc').sort()).toEqual(['family:job', 'service:web']);
    expect(activity.tasksOn('c', 'abc')).toBe(2);
    expect(activity.taskGroups('other', 'abc')).toEqual([]);
    await task('c', 't1', { lastStatus: 'STOPPED', group: 'service:web', containerInstanceArn: instance });
    await activity.current();
    expect(activity.taskGroups('c', 'abc')).toEqual(['family:job']);
  });

  it('counts a task written while the first scan runs exactly once', async () => {
    const { store } = harness();
    let injected = false;
    // The write lands after the watch has started and before the scan reads: both see it.
    const racing = interposedStore(store, {
      range: async (prefix, options) => {
        if (!injected && prefix === '/ecs/tasks/') {
          injected = true;
          await put(store, keys.task('c', 't'), JSON.stringify({ lastStatus: 'RUNNING' }));
        }
        return store.range(prefix, options);
      },
    });
    const activity = new ClusterActivity(racing);
    await activity.current();
    await activity.current(); // now past the injected write's revision, so its watch event was applied
    expect(injected).toBe(true);
    expect(activity.counts('c').runningTasksCount).toBe(1);
    await put(store, keys.task('c', 't'), JSON.stringify({ lastStatus: 'STOPPED' }));
    await activity.current();
    expect(activity.counts('c')).toMatchObject({ runningTasksCount: 0, activeTasksCount: 0 });
    activity.close();
  });

  it('holds equal facts of many tasks once, counts each task apart, and lets go of facts no task has', async () => {
    const { store, task } = harness();
    const instance = `arn:aws:ecs:us-east-1:${ACCOUNT}:container-instance/c/abc`;
    const ids = Array.from({ length: 40 }, (_, i) => `t${i}`);
    for (const id of ids) await task('c', id, { lastStatus: 'PENDING', group: 'family:job', containerInstanceArn: instance, launchType: 'EC2' });
    const activity = clusterActivity(store);
    await activity.current();
    expect(activity.distinctTaskFacts).toBe(1);
    expect(activity.counts('c')).toMatchObject({ pendingTasksCount: 40, runningTasksCount: 0 });
    // Half move on: the shared facts stay as they were for the other half.
    for (const id of ids.slice(0, 20)) await task('c', id, { lastStatus: 'RUNNING', group: 'family:job', containerInstanceArn: instance, launchType: 'EC2' });
    await task('c', 'odd', { lastStatus: 'RUNNING', group: '', containerInstanceArn: instance, launchType: 'EC2' });
    await task('c', 'none', { lastStatus: 'RUNNING', containerInstanceArn: instance, launchType: 'EC2' });
    await activity.current();
    // An empty group and no group are told apart.
    expect(activity.distinctTaskFacts).toBe(4);
    expect(activity.counts('c')).toMatchObject({ pendingTasksCount: 20, runningTasksCount: 22, activeTasksCount: 42 });
    expect(activity.taskGroups('c', 'abc').sort()).toEqual(['', 'family:job']);
    for (const id of [...ids, 'odd', 'none']) await store.txn([], [{ type: 'delete', key: keys.task('c', id) }]);
    await activity.current();
    expect(activity.distinctTaskFacts).toBe(0);
    expect(activity.counts('c')).toMatchObject({ pendingTasksCount: 0, runningTasksCount: 0, activeTasksCount: 0 });
    expect(activity.tasksOn('c', 'abc')).toBe(0);
  });

  it('ignores keys that hold no JSON object, and keys outside tasks and services', async () => {
    const { store } = harness();
    await put(store, keys.task('c', 'bad'), 'not json');
    await put(store, '/ecs/tasks/no-cluster', JSON.stringify({ lastStatus: 'RUNNING' }));
    await put(store, '/elsewhere/x', JSON.stringify({ lastStatus: 'RUNNING' }));
    const activity = clusterActivity(store);
    await activity.current();
    expect(activity.counts('c')).toMatchObject({ runningTasksCount: 0, activeTasksCount: 0 });
  });

  it('fails requests once closed instead of answering from stale counts', async () => {
    const { store } = harness();
    const activity = clusterActivity(store);
    await activity.current();
    activity.close();
    await expect(activity.current()).rejects.toMatchObject({ code: 'ServerException' });
  });
});
