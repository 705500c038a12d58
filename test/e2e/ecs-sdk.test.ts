/**
 * The ECS API driven by @aws-sdk/client-ecs against a real `berth up`: every action, the SDK's
 * typed exceptions, clientToken idempotency, and the SDK waiters.
 */
import * as ECS from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectFakeAgent, startBerth, type Berth } from './harness.js';

let berth: Berth;
let ecs: ECS.ECSClient;
beforeAll(async () => {
  berth = await startBerth();
  ecs = new ECS.ECSClient({ endpoint: berth.endpoint, region: 'us-east-1', credentials: berth.credentials, maxAttempts: 1 });
});
afterAll(async () => {
  ecs?.destroy();
  await berth?.[Symbol.asyncDispose]();
});

const cluster = 'sdk';
const fargate = { launchType: 'FARGATE' as const, networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } } };

it('drives clusters, task definitions, instances, attributes, tasks, services, tags and settings', async () => {
  await ecs.send(new ECS.CreateClusterCommand({ clusterName: cluster, tags: [{ key: 'a', value: 'b' }] }));
  const listed = await ecs.send(new ECS.ListClustersCommand({ maxResults: 1 }));
  expect(listed.clusterArns).toHaveLength(1);
  expect(listed.nextToken).toBeDefined();
  const page2 = await ecs.send(new ECS.ListClustersCommand({ maxResults: 1, nextToken: listed.nextToken }));
  expect(page2.clusterArns).toHaveLength(1);
  expect(page2.clusterArns![0]).not.toBe(listed.clusterArns![0]);
  const updated = await ecs.send(new ECS.UpdateClusterCommand({ cluster, settings: [{ name: 'containerInsights', value: 'enabled' }] }));
  expect(updated.cluster?.settings).toEqual([{ name: 'containerInsights', value: 'enabled' }]);
  await ecs.send(new ECS.UpdateClusterSettingsCommand({ cluster, settings: [{ name: 'containerInsights', value: 'disabled' }] }));
  const described = await ecs.send(new ECS.DescribeClustersCommand({ clusters: [cluster], include: ['TAGS', 'STATISTICS'] }));
  expect(described.clusters?.[0]?.tags).toEqual([{ key: 'a', value: 'b' }]);

  const td = await ecs.send(new ECS.RegisterTaskDefinitionCommand({
    family: 'sdk', requiresCompatibilities: ['FARGATE'], networkMode: 'awsvpc', cpu: '512', memory: '1024',
    containerDefinitions: [{ name: 'app', image: 'busybox', portMappings: [{ containerPort: 80 }] }],
  }));
  expect(td.taskDefinition?.registeredAt).toBeInstanceOf(Date);
  expect(td.taskDefinition?.containerDefinitions?.[0]?.portMappings?.[0]).toMatchObject({ containerPort: 80, hostPort: 80, protocol: 'tcp' });
  expect((await ecs.send(new ECS.DescribeTaskDefinitionCommand({ taskDefinition: td.taskDefinition!.taskDefinitionArn! }))).taskDefinition?.family).toBe('sdk');
  expect((await ecs.send(new ECS.ListTaskDefinitionsCommand({ familyPrefix: 'sdk' }))).taskDefinitionArns).toHaveLength(1);
  expect((await ecs.send(new ECS.ListTaskDefinitionFamiliesCommand({ familyPrefix: 'sdk' }))).families).toEqual(['sdk']);

  const ci = await ecs.send(new ECS.RegisterContainerInstanceCommand({
    cluster,
    totalResources: [{ name: 'CPU', type: 'INTEGER', integerValue: 1024 }, { name: 'MEMORY', type: 'INTEGER', integerValue: 1024 }],
  }));
  const ciArn = ci.containerInstance!.containerInstanceArn!;
  expect((await ecs.send(new ECS.ListContainerInstancesCommand({ cluster, filter: 'runningTasksCount == 0' }))).containerInstanceArns).toEqual([ciArn]);
  expect((await ecs.send(new ECS.DescribeContainerInstancesCommand({ cluster, containerInstances: [ciArn] }))).containerInstances?.[0]?.registeredAt).toBeInstanceOf(Date);
  await ecs.send(new ECS.PutAttributesCommand({ cluster, attributes: [{ name: 'rack', value: '7', targetId: ciArn }] }));
  expect((await ecs.send(new ECS.ListAttributesCommand({ cluster, targetType: 'container-instance', attributeName: 'rack' }))).attributes).toHaveLength(1);
  await ecs.send(new ECS.DeleteAttributesCommand({ cluster, attributes: [{ name: 'rack', targetId: ciArn }] }));
  await ecs.send(new ECS.UpdateContainerInstancesStateCommand({ cluster, containerInstances: [ciArn], status: 'DRAINING' }));
  await ecs.send(new ECS.UpdateContainerInstancesStateCommand({ cluster, containerInstances: [ciArn], status: 'ACTIVE' }));

  const ec2Td = await ecs.send(new ECS.RegisterTaskDefinitionCommand({
    family: 'sdk-ec2', containerDefinitions: [{ name: 'app', image: 'busybox', memory: 256, cpu: 256 }],
  }));
  // ECS places only where an agent is connected: the instance gets a session, as its host's agent would open.
  await using _agent = await connectFakeAgent(berth, cluster, ciArn, [
    { name: 'CPU', type: 'INTEGER', integerValue: 1024 },
    { name: 'MEMORY', type: 'INTEGER', integerValue: 1024 },
  ]);
  const started = await ecs.send(new ECS.StartTaskCommand({ cluster, taskDefinition: 'sdk-ec2', containerInstances: [ciArn] }));
  expect(started.tasks?.[0]?.containerInstanceArn).toBe(ciArn);
  expect(started.tasks?.[0]?.taskDefinitionArn).toBe(ec2Td.taskDefinition?.taskDefinitionArn);
  const afterStart = await ecs.send(new ECS.DescribeContainerInstancesCommand({ cluster, containerInstances: [ciArn] }));
  const remainingMemory = afterStart.containerInstances?.[0]?.remainingResources?.find((r) => r.name === 'MEMORY')?.integerValue;
  expect(remainingMemory).toBe(1024 - 256);

  // clientToken: the same token twice starts the tasks once.
  const first = await ecs.send(new ECS.RunTaskCommand({ cluster, taskDefinition: 'sdk', count: 2, clientToken: 'tok-1', ...fargate }));
  const second = await ecs.send(new ECS.RunTaskCommand({ cluster, taskDefinition: 'sdk', count: 2, clientToken: 'tok-1', ...fargate }));
  expect(second.tasks?.map((t) => t.taskArn)).toEqual(first.tasks?.map((t) => t.taskArn));
  const taskArns = (await ecs.send(new ECS.ListTasksCommand({ cluster, family: 'sdk' }))).taskArns!;
  expect(taskArns).toHaveLength(2);
  const tasks = await ecs.send(new ECS.DescribeTasksCommand({ cluster, tasks: taskArns, include: ['TAGS'] }));
  expect(tasks.tasks?.[0]?.createdAt).toBeInstanceOf(Date);
  for (const arn of [...taskArns, started.tasks![0]!.taskArn!]) await ecs.send(new ECS.StopTaskCommand({ cluster, task: arn, reason: 'sdk' }));
  await ECS.waitUntilTasksStopped({ client: ecs, maxWaitTime: 60, minDelay: 1 }, { cluster, tasks: taskArns });

  // With its only instance gone, the cluster is held by the service alone.
  await ecs.send(new ECS.DeregisterContainerInstanceCommand({ cluster, containerInstance: ciArn, force: true }));

  const svc = await ecs.send(new ECS.CreateServiceCommand({ cluster, serviceName: 'web', taskDefinition: 'sdk', desiredCount: 0, clientToken: 'svc-1', ...fargate }));
  const svcAgain = await ecs.send(new ECS.CreateServiceCommand({ cluster, serviceName: 'web', taskDefinition: 'sdk', desiredCount: 0, clientToken: 'svc-1', ...fargate }));
  expect(svcAgain.service?.serviceArn).toBe(svc.service?.serviceArn);
  await ecs.send(new ECS.UpdateServiceCommand({ cluster, service: 'web', desiredCount: 0 }));
  expect((await ecs.send(new ECS.ListServicesCommand({ cluster }))).serviceArns).toEqual([svc.service?.serviceArn]);
  expect((await ecs.send(new ECS.DescribeServicesCommand({ cluster, services: ['web'] }))).services?.[0]?.createdAt).toBeInstanceOf(Date);
  await ecs.send(new ECS.TagResourceCommand({ resourceArn: svc.service!.serviceArn!, tags: [{ key: 'k', value: 'v' }] }));
  expect((await ecs.send(new ECS.ListTagsForResourceCommand({ resourceArn: svc.service!.serviceArn! }))).tags).toEqual([{ key: 'k', value: 'v' }]);
  await ecs.send(new ECS.UntagResourceCommand({ resourceArn: svc.service!.serviceArn!, tagKeys: ['k'] }));

  await expect(ecs.send(new ECS.DeleteClusterCommand({ cluster }))).rejects.toBeInstanceOf(ECS.ClusterContainsServicesException);
  await ecs.send(new ECS.DeleteServiceCommand({ cluster, service: 'web' }));
  await ECS.waitUntilServicesInactive({ client: ecs, maxWaitTime: 60, minDelay: 1 }, { cluster, services: ['web'] });

  await ecs.send(new ECS.PutAccountSettingCommand({ name: 'containerInsights', value: 'enabled' }));
  expect((await ecs.send(new ECS.ListAccountSettingsCommand({ name: 'containerInsights', effectiveSettings: true }))).settings?.[0]?.value).toBe('enabled');

  await ecs.send(new ECS.DeregisterTaskDefinitionCommand({ taskDefinition: 'sdk:1' }));
  await ecs.send(new ECS.DeleteTaskDefinitionsCommand({ taskDefinitions: ['sdk:1'] }));
  expect((await ecs.send(new ECS.DeleteClusterCommand({ cluster }))).cluster?.status).toBe('INACTIVE');
});

it('throws the SDK typed exceptions with our messages', async () => {
  await expect(ecs.send(new ECS.RunTaskCommand({ cluster: 'no-such-cluster', taskDefinition: 'sdk' }))).rejects.toBeInstanceOf(ECS.ClusterNotFoundException);
  await expect(ecs.send(new ECS.DescribeTaskDefinitionCommand({ taskDefinition: 'no-such-family' }))).rejects.toBeInstanceOf(ECS.ClientException);
  await expect(ecs.send(new ECS.UpdateServiceCommand({ service: 'no-such-service' }))).rejects.toBeInstanceOf(ECS.ServiceNotFoundException);
  const err = await ecs.send(new ECS.RegisterTaskDefinitionCommand({ family: 'bad family', containerDefinitions: [{ name: 'a', image: 'b', memory: 8 }] })).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ECS.ClientException);
  expect((err as Error).message).toMatch(/family/i);
});
