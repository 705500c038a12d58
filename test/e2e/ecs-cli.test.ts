/**
 * The ECS API driven by both real AWS CLIs (v1 with the newest botocore, Debian's v2) against a
 * real `berth up`: every action group, the waiters, and errors as the CLI prints them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectFakeAgent, startBerth, type AwsCli, type Berth } from './harness.js';

let berth: Berth;
beforeAll(async () => {
  berth = await startBerth();
});
afterAll(async () => {
  await berth?.[Symbol.asyncDispose]();
});

describe.each(['v1', 'v2'] as const)('AWS CLI %s', (cli: AwsCli) => {
  const ecs = (...args: string[]) => berth.awsOk(cli, ['ecs', ...args]);
  const ecsFails = (...args: string[]) => {
    const res = berth.aws(cli, ['ecs', ...args]);
    expect(res.code, `aws ecs ${args.join(' ')} should fail`).not.toBe(0);
    return res.stderr;
  };
  const cluster = `c-${cli}`;
  const file = (name: string, value: unknown) => {
    const path = join(berth.home, `${cli}-${name}.json`);
    writeFileSync(path, JSON.stringify(value));
    return `file://${path}`;
  };

  it('starts with the default cluster', () => {
    const out = ecs('describe-clusters');
    expect(out.clusters[0]).toMatchObject({ clusterName: 'default', status: 'ACTIVE' });
    expect(out.clusters[0].clusterArn).toBe('arn:aws:ecs:us-east-1:000000000000:cluster/default');
  });

  it('creates, describes, lists and updates clusters', () => {
    const created = ecs('create-cluster', '--cluster-name', cluster, '--tags', 'key=team,value=core', '--settings', 'name=containerInsights,value=disabled');
    expect(created.cluster).toMatchObject({ clusterName: cluster, status: 'ACTIVE', registeredContainerInstancesCount: 0 });
    const described = ecs('describe-clusters', '--clusters', cluster, 'nope', '--include', 'TAGS', 'SETTINGS', 'STATISTICS');
    expect(described.clusters[0].tags).toEqual([{ key: 'team', value: 'core' }]);
    expect(described.failures).toEqual([expect.objectContaining({ reason: 'MISSING' })]);
    expect(ecs('list-clusters').clusterArns).toContain(created.cluster.clusterArn);
    const updated = ecs('update-cluster-settings', '--cluster', cluster, '--settings', 'name=containerInsights,value=enabled');
    expect(updated.cluster.settings).toEqual([{ name: 'containerInsights', value: 'enabled' }]);
    expect(ecsFails('create-cluster', '--cluster-name', 'bad name!')).toMatch(/InvalidParameterException|ClientException/);
  });

  it('registers, describes, lists, deregisters and deletes task definitions', () => {
    const family = `web-${cli}`;
    const def = {
      family,
      networkMode: 'bridge',
      containerDefinitions: [
        {
          name: 'web',
          image: 'busybox',
          memory: 64,
          portMappings: [{ containerPort: 8080, hostPort: 0 }],
          healthCheck: { command: ['CMD-SHELL', 'wget -q -O- localhost:8080'], interval: 10 },
          dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }],
        },
        { name: 'init', image: 'busybox', memory: 16, essential: false, command: ['true'] },
      ],
    };
    const r1 = ecs('register-task-definition', '--cli-input-json', file('td', def));
    expect(r1.taskDefinition).toMatchObject({ family, revision: 1, status: 'ACTIVE' });
    expect(r1.taskDefinition.taskDefinitionArn).toBe(`arn:aws:ecs:us-east-1:000000000000:task-definition/${family}:1`);
    const r2 = ecs('register-task-definition', '--cli-input-json', file('td', def));
    expect(r2.taskDefinition.revision).toBe(2);
    expect(ecs('describe-task-definition', '--task-definition', family).taskDefinition.revision).toBe(2);
    expect(ecs('describe-task-definition', '--task-definition', `${family}:1`).taskDefinition.revision).toBe(1);
    expect(ecs('list-task-definitions', '--family-prefix', family, '--sort', 'DESC').taskDefinitionArns).toEqual([
      r2.taskDefinition.taskDefinitionArn,
      r1.taskDefinition.taskDefinitionArn,
    ]);
    expect(ecs('list-task-definition-families', '--family-prefix', family).families).toEqual([family]);
    expect(ecs('deregister-task-definition', '--task-definition', `${family}:1`).taskDefinition.status).toBe('INACTIVE');
    // Debian's CLI v2 (2.9) predates DeleteTaskDefinitions; v1 has the newest model.
    if (cli === 'v1') {
      const deleted = ecs('delete-task-definitions', '--task-definitions', `${family}:1`);
      expect(deleted.taskDefinitions[0].status).toBe('DELETE_IN_PROGRESS');
    }
    const err = ecsFails('register-task-definition', '--family', `f-${cli}`, '--requires-compatibilities', 'FARGATE', '--network-mode', 'awsvpc',
      '--cpu', '300', '--memory', '512', '--container-definitions', 'name=a,image=busybox');
    expect(err).toContain('ClientException');
    expect(err).toContain("Invalid 'cpu' setting for task.");
    expect(ecs('list-task-definition-families', '--family-prefix', `f-${cli}`).families).toEqual([]);
  });

  it('registers container instances, filters them with the query language, drains them, and sets attributes', () => {
    const reg = ecs('register-container-instance', '--cluster', cluster,
      '--total-resources', 'name=CPU,type=INTEGER,integerValue=2048', 'name=MEMORY,type=INTEGER,integerValue=4096',
      '--attributes', 'name=zone,value=a');
    const arn: string = reg.containerInstance.containerInstanceArn;
    expect(reg.containerInstance).toMatchObject({ status: 'ACTIVE', runningTasksCount: 0 });
    expect(ecs('list-container-instances', '--cluster', cluster, '--filter', 'attribute:zone == a').containerInstanceArns).toEqual([arn]);
    expect(ecs('list-container-instances', '--cluster', cluster, '--filter', 'attribute:zone in [b, c]').containerInstanceArns).toEqual([]);
    expect(ecsFails('list-container-instances', '--cluster', cluster, '--filter', 'attribute:zone ==')).toContain('InvalidParameterException');
    const drained = ecs('update-container-instances-state', '--cluster', cluster, '--container-instances', arn, '--status', 'DRAINING');
    expect(drained.containerInstances[0].status).toBe('DRAINING');
    ecs('update-container-instances-state', '--cluster', cluster, '--container-instances', arn, '--status', 'ACTIVE');
    ecs('put-attributes', '--cluster', cluster, '--attributes', `name=disk,value=ssd,targetId=${arn}`);
    const attrs = ecs('list-attributes', '--cluster', cluster, '--target-type', 'container-instance', '--attribute-name', 'disk');
    expect(attrs.attributes).toEqual([expect.objectContaining({ name: 'disk', value: 'ssd', targetId: arn })]);
    ecs('delete-attributes', '--cluster', cluster, '--attributes', `name=disk,targetId=${arn}`);
    expect(ecs('list-attributes', '--cluster', cluster, '--target-type', 'container-instance', '--attribute-name', 'disk').attributes).toEqual([]);
    const described = ecs('describe-container-instances', '--cluster', cluster, '--container-instances', arn);
    expect(described.containerInstances[0].attributes).toEqual(expect.arrayContaining([{ name: 'zone', value: 'a' }]));
  });

  it('runs, describes, lists and stops tasks, keeping overrides; the tasks-stopped waiter works', async () => {
    const family = `web-${cli}`;
    // ECS places only where an agent is connected: the instance registered above gets a session.
    const [instance] = ecs('list-container-instances', '--cluster', cluster).containerInstanceArns as string[];
    await using _agent = await connectFakeAgent(berth, cluster, instance!, [
      { name: 'CPU', type: 'INTEGER', integerValue: 2048 },
      { name: 'MEMORY', type: 'INTEGER', integerValue: 4096 },
    ]);
    const run = ecs('run-task', '--cluster', cluster, '--task-definition', family, '--count', '2', '--started-by', 'e2e',
      '--overrides', JSON.stringify({ containerOverrides: [{ name: 'web', environment: [{ name: 'MODE', value: 'test' }] }] }));
    expect(run.failures).toEqual([]);
    expect(run.tasks).toHaveLength(2);
    const task = run.tasks[0];
    expect(task).toMatchObject({ desiredStatus: 'RUNNING', launchType: 'EC2', startedBy: 'e2e', group: `family:${family}` });
    expect(task.overrides.containerOverrides[0].environment).toEqual([{ name: 'MODE', value: 'test' }]);
    const arns: string[] = run.tasks.map((t: { taskArn: string }) => t.taskArn);
    const described = ecs('describe-tasks', '--cluster', cluster, '--tasks', ...arns, 'feedfacefeedfacefeedfacefeedface');
    expect(described.tasks.map((t: { taskArn: string }) => t.taskArn).sort()).toEqual([...arns].sort());
    expect(described.failures[0].reason).toBe('MISSING');
    expect(ecs('list-tasks', '--cluster', cluster, '--started-by', 'e2e', '--desired-status', 'RUNNING').taskArns.sort()).toEqual([...arns].sort());
    expect(ecs('list-tasks', '--cluster', cluster, '--family', 'nope').taskArns).toEqual([]);
    for (const arn of arns) {
      expect(ecs('stop-task', '--cluster', cluster, '--task', arn, '--reason', 'e2e done').task.desiredStatus).toBe('STOPPED');
    }
    ecs('wait', 'tasks-stopped', '--cluster', cluster, '--tasks', ...arns);
    const stopped = ecs('describe-tasks', '--cluster', cluster, '--tasks', arns[0]!).tasks[0];
    expect(stopped).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'UserInitiated', stoppedReason: 'e2e done' });
  });

  it('runs Fargate tasks with awsvpc networking', () => {
    const family = `fg-${cli}`;
    ecs('register-task-definition', '--family', family, '--requires-compatibilities', 'FARGATE', '--network-mode', 'awsvpc',
      '--cpu', '256', '--memory', '512', '--container-definitions', 'name=app,image=busybox,essential=true');
    const run = ecs('run-task', '--cluster', cluster, '--task-definition', family, '--launch-type', 'FARGATE',
      '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=DISABLED}');
    expect(run.tasks[0]).toMatchObject({ launchType: 'FARGATE', cpu: '256', memory: '512', desiredStatus: 'RUNNING' });
    expect(run.tasks[0].attachments[0].type).toBe('ElasticNetworkInterface');
    expect(ecsFails('run-task', '--cluster', cluster, '--task-definition', family, '--launch-type', 'FARGATE')).toContain('InvalidParameterException');
    ecs('stop-task', '--cluster', cluster, '--task', run.tasks[0].taskArn);
  });

  it('creates, updates and deletes services; the services-inactive waiter works', () => {
    const name = `svc-${cli}`;
    const created = ecs('create-service', '--cluster', cluster, '--service-name', name, '--task-definition', `fg-${cli}`,
      '--desired-count', '0', '--launch-type', 'FARGATE',
      '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-1]}',
      '--deployment-configuration', 'maximumPercent=200,minimumHealthyPercent=50,deploymentCircuitBreaker={enable=true,rollback=true}');
    expect(created.service).toMatchObject({ serviceName: name, status: 'ACTIVE', desiredCount: 0, runningCount: 0 });
    expect(created.service.deployments).toEqual([expect.objectContaining({ status: 'PRIMARY' })]);
    expect(ecs('list-services', '--cluster', cluster).serviceArns).toContain(created.service.serviceArn);
    const updated = ecs('update-service', '--cluster', cluster, '--service', name, '--desired-count', '0', '--force-new-deployment');
    expect(updated.service.deployments[0].status).toBe('PRIMARY');
    expect(ecsFails('update-service', '--cluster', cluster, '--service', 'nope', '--desired-count', '1')).toContain('ServiceNotFoundException');
    ecs('delete-service', '--cluster', cluster, '--service', name);
    ecs('wait', 'services-inactive', '--cluster', cluster, '--services', name);
    expect(ecs('describe-services', '--cluster', cluster, '--services', name).services[0].status).toBe('INACTIVE');
  });

  it('tags and untags resources', () => {
    const arn = ecs('describe-clusters', '--clusters', cluster).clusters[0].clusterArn;
    ecs('tag-resource', '--resource-arn', arn, '--tags', 'key=env,value=e2e');
    expect(ecs('list-tags-for-resource', '--resource-arn', arn).tags).toEqual(expect.arrayContaining([{ key: 'env', value: 'e2e' }]));
    ecs('untag-resource', '--resource-arn', arn, '--tag-keys', 'env');
    expect(ecs('list-tags-for-resource', '--resource-arn', arn).tags).not.toContainEqual({ key: 'env', value: 'e2e' });
  });

  it('refuses to delete a cluster with instances, then deletes it once they are gone', () => {
    expect(ecsFails('delete-cluster', '--cluster', cluster)).toContain('ClusterContainsContainerInstancesException');
    for (const arn of ecs('list-container-instances', '--cluster', cluster).containerInstanceArns as string[]) {
      ecs('deregister-container-instance', '--cluster', cluster, '--container-instance', arn, '--force');
    }
    expect(ecs('delete-cluster', '--cluster', cluster).cluster.status).toBe('INACTIVE');
    expect(ecsFails('run-task', '--cluster', cluster, '--task-definition', `web-${cli}`)).toContain('ClusterNotFoundException');
  });
});
