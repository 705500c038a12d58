/**
 * The service operations against a real (in-memory SQLite) Store: the Service shape, every rule and
 * error path (each leaving the store untouched), deployments on update, DRAINING / INACTIVE on
 * delete, idempotency, paging, and the services-stable / services-inactive waiter conditions.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocols/index.js';
import { lbIdOf, lbKeys } from '../lb/index.js';
import type { Store } from '../store/index.js';
import { updateContainerInstance } from './container-instances.js';
import { ecsHarness, FARGATE_TASK_DEFINITION, type EcsHarness, type Json } from './testing/ecs-harness.suite.js';

type Obj = Record<string, unknown>;

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const T0 = Date.UTC(2025, 6, 1, 9, 30, 0, 125);
const base = `arn:aws:ecs:${REGION}:${ACCOUNT}`;
const TG = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/web/0123456789abcdef`;
const TG2 = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/web-green/0123456789abcdef`;
const TG_IP = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/app/0123456789abcdef`;
const TG_ALONE = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/alone/0123456789abcdef`;
const LB = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:loadbalancer/app/front/0123456789abcdef`;
const REGISTRY = `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:service/srv-0123456789`;

let store: Store;
let call: EcsHarness['call'];
let refused: EcsHarness['refused'];

beforeEach(async () => {
  ({ store, call, refused } = ecsHarness({ now: T0 }));
  await call('CreateCluster', { clusterName: 'default' });
  await call('RegisterTaskDefinition', {
    family: 'web',
    containerDefinitions: [{ name: 'web', image: 'nginx', memory: 256, portMappings: [{ containerPort: 80 }] }],
  });
  await call('RegisterTaskDefinition', { family: 'app', ...FARGATE_TASK_DEFINITION });
  // The ELBv2 side, as its API stores it: TG and TG_IP behind a listener, TG2 behind a rule, TG_ALONE behind nothing.
  const group = (arn: string, TargetType: string) => ({ key: lbKeys.targetGroup(lbIdOf(arn)), value: { TargetGroupArn: arn, TargetType } });
  const listener = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:listener/app/front/0123456789abcdef/0000000000000001`;
  const records = [
    group(TG, 'instance'),
    group(TG2, 'instance'),
    group(TG_IP, 'ip'),
    group(TG_ALONE, 'instance'),
    { key: lbKeys.listener(lbIdOf(listener)), value: { ListenerArn: listener, LoadBalancerArn: LB, DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG, Weight: 1 }, { TargetGroupArn: TG_IP, Weight: 0 }] } }] } },
    { key: lbKeys.rule('r1'), value: { RuleArn: `${listener}/r1`, ListenerArn: listener, Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG2 }] } }] } },
  ];
  await store.txn([], records.map((r) => ({ type: 'put' as const, key: r.key, value: JSON.stringify(r.value) })));
});

const VPC = { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a'], securityGroups: ['sg-1'] } } };

const create = async (input: Obj, at = T0): Promise<Json> =>
  (await call('CreateService', { serviceName: 'web', taskDefinition: 'web', desiredCount: 2, ...input }, at)).service;
/** A container instance whose agent is connected (as the agent session marks it): RunTask places only there. */
async function connectedInstance(): Promise<void> {
  const res = await call('RegisterContainerInstance', { totalResources: [{ name: 'CPU', type: 'INTEGER', integerValue: 1024 }, { name: 'MEMORY', type: 'INTEGER', integerValue: 1024 }] });
  const arn = res.containerInstance.containerInstanceArn as string;
  await updateContainerInstance(store, 'default', arn.slice(arn.lastIndexOf('/') + 1), (ci) => ({ ...ci, agentConnected: true }));
}
const update = async (input: Obj, at = T0): Promise<Json> => (await call('UpdateService', { service: 'web', ...input }, at)).service;
const describe1 = async (name = 'web', include?: string[]): Promise<Json> =>
  (await call('DescribeServices', { services: [name], ...(include === undefined ? {} : { include }) })).services[0];

/** botocore's ServicesStable success condition. */
const stable = (services: Json[]): boolean => services.every((s) => s.deployments.length === 1 && s.runningCount === s.desiredCount);

// ---- CreateService ------------------------------------------------------------------------------

describe('CreateService', () => {
  it('returns the full Service shape with one PRIMARY deployment IN_PROGRESS', async () => {
    const s = await create({ tags: [{ key: 'team', value: 'a' }] });
    expect(s).toEqual({
      serviceArn: `${base}:service/default/web`,
      serviceName: 'web',
      clusterArn: `${base}:cluster/default`,
      loadBalancers: [],
      serviceRegistries: [],
      status: 'ACTIVE',
      desiredCount: 2,
      runningCount: 0,
      pendingCount: 0,
      launchType: 'EC2',
      taskDefinition: `${base}:task-definition/web:1`,
      deploymentConfiguration: {
        deploymentCircuitBreaker: { enable: false, rollback: false },
        maximumPercent: 200,
        minimumHealthyPercent: 100,
        strategy: 'ROLLING',
      },
      deployments: [
        {
          id: expect.stringMatching(/^ecs-svc\/\d{19}$/),
          status: 'PRIMARY',
          taskDefinition: `${base}:task-definition/web:1`,
          desiredCount: 2,
          pendingCount: 0,
          runningCount: 0,
          failedTasks: 0,
          createdAt: T0 / 1000,
          updatedAt: T0 / 1000,
          launchType: 'EC2',
          rolloutState: 'IN_PROGRESS',
          rolloutStateReason: expect.stringMatching(/^ECS deployment ecs-svc\/\d{19} in progress\.$/),
        },
      ],
      roleArn: `arn:aws:iam::${ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS`,
      events: [],
      createdAt: T0 / 1000,
      placementConstraints: [],
      placementStrategy: [],
      schedulingStrategy: 'REPLICA',
      deploymentController: { type: 'ECS' },
      tags: [{ key: 'team', value: 'a' }],
      createdBy: `arn:aws:iam::${ACCOUNT}:root`,
      enableECSManagedTags: false,
      propagateTags: 'NONE',
      enableExecuteCommand: false,
      availabilityZoneRebalancing: 'ENABLED',
    });
    expect(s.deployments[0].rolloutStateReason).toBe(`ECS deployment ${s.deployments[0].id} in progress.`);
    expect(await describe1('web', ['TAGS'])).toEqual(s);
  });

  it('Fargate with awsvpc: platform LATEST on the service, 1.4.0 on the deployment, network on both', async () => {
    const s = await create({ serviceName: 'app', taskDefinition: 'app', launchType: 'FARGATE', ...VPC });
    expect(s).toMatchObject({
      launchType: 'FARGATE',
      platformVersion: 'LATEST',
      platformFamily: 'Linux',
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a'], securityGroups: ['sg-1'], assignPublicIp: 'DISABLED' } },
    });
    expect(s.deployments[0]).toMatchObject({ platformVersion: '1.4.0', platformFamily: 'Linux', networkConfiguration: s.networkConfiguration });
  });

  it('with a capacity provider strategy instead of a launch type', async () => {
    const strategy = [{ capacityProvider: 'FARGATE_SPOT', weight: 2 }, { capacityProvider: 'FARGATE', base: 1, weight: 1 }];
    const s = await create({ serviceName: 'app', taskDefinition: 'app', capacityProviderStrategy: strategy, ...VPC });
    expect(s.launchType).toBeUndefined();
    expect(s.capacityProviderStrategy).toEqual(strategy);
    expect(s.deployments[0].capacityProviderStrategy).toEqual(strategy);
  });

  it('load balancers, grace period, service registries, placement, tags options are kept', async () => {
    const s = await create({
      loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 80 }],
      healthCheckGracePeriodSeconds: 30,
      serviceRegistries: [{ registryArn: REGISTRY, containerName: 'web', containerPort: 80 }],
      placementConstraints: [{ type: 'memberOf', expression: 'attribute:ecs.os-type == linux' }],
      placementStrategy: [{ type: 'spread', field: 'attribute:ecs.availability-zone' }, { type: 'binpack', field: 'memory' }],
      propagateTags: 'SERVICE',
      enableECSManagedTags: true,
      enableExecuteCommand: true,
      role: 'ecsServiceRole',
      deploymentConfiguration: { maximumPercent: 150, minimumHealthyPercent: 50, deploymentCircuitBreaker: { enable: true, rollback: true } },
    });
    expect(s).toMatchObject({
      loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 80 }],
      healthCheckGracePeriodSeconds: 30,
      serviceRegistries: [{ registryArn: REGISTRY, containerName: 'web', containerPort: 80 }],
      placementConstraints: [{ type: 'memberOf', expression: 'attribute:ecs.os-type == linux' }],
      placementStrategy: [{ type: 'spread', field: 'attribute:ecs.availability-zone' }, { type: 'binpack', field: 'memory' }],
      propagateTags: 'SERVICE',
      enableECSManagedTags: true,
      enableExecuteCommand: true,
      roleArn: `arn:aws:iam::${ACCOUNT}:role/ecsServiceRole`,
      deploymentConfiguration: { maximumPercent: 150, minimumHealthyPercent: 50, deploymentCircuitBreaker: { enable: true, rollback: true } },
    });
  });

  it('DAEMON: no desired count, 100 / 0 deployment configuration', async () => {
    const s = await create({ schedulingStrategy: 'DAEMON', desiredCount: undefined });
    expect(s).toMatchObject({ schedulingStrategy: 'DAEMON', desiredCount: 0, deploymentConfiguration: { maximumPercent: 100, minimumHealthyPercent: 0 } });
    expect(s.availabilityZoneRebalancing).toBe('DISABLED');
  });

  it('CODE_DEPLOY and EXTERNAL controllers: task sets instead of deployments', async () => {
    const cd = await create({ deploymentController: { type: 'CODE_DEPLOY' }, loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 80 }] });
    expect(cd).toMatchObject({ deploymentController: { type: 'CODE_DEPLOY' }, deployments: [], taskSets: [] });
    expect(cd.deploymentConfiguration).toEqual({ maximumPercent: 200, minimumHealthyPercent: 100 });
    const ext = await create({ serviceName: 'ext', taskDefinition: undefined, deploymentController: { type: 'EXTERNAL' } });
    expect(ext).toMatchObject({ deploymentController: { type: 'EXTERNAL' }, deployments: [], taskSets: [] });
    expect(ext.taskDefinition).toBeUndefined();
    expect(ext.launchType).toBeUndefined();
  });

  it('blue/green with an alternate target group', async () => {
    const s = await create({
      loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 80, advancedConfiguration: { alternateTargetGroupArn: TG2, productionListenerRule: 'rule' } }],
      deploymentConfiguration: { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 5 },
    });
    expect(s.deploymentConfiguration).toMatchObject({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 5 });
  });

  it('a new service with desiredCount 0 satisfies services-stable at once', async () => {
    await create({ desiredCount: 0 });
    expect(stable((await call('DescribeServices', { services: ['web'] })).services)).toBe(true);
  });

  it('the same name and definition again returns the service and writes nothing (idempotent)', async () => {
    const first = await create({});
    const before = await store.revision();
    expect(await create({}, T0 + 1000)).toEqual(first);
    expect(await store.revision()).toBe(before);
  });

  it('the same name with another definition: ECS\'s "not idempotent"', async () => {
    await create({});
    await refused('CreateService', { serviceName: 'web', taskDefinition: 'web', desiredCount: 3 }, 'InvalidParameterException', 'Creation of service was not idempotent.');
  });

  it('a DRAINING service blocks its name; an INACTIVE one does not', async () => {
    await create({ desiredCount: 0 });
    await connectedInstance();
    await call('RunTask', { taskDefinition: 'web', group: 'service:web' });
    expect((await call('DeleteService', { service: 'web' })).service.status).toBe('DRAINING');
    await refused('CreateService', { serviceName: 'web', taskDefinition: 'web', desiredCount: 0 }, 'InvalidParameterException', 'Creation of service was not idempotent.');

    await create({ serviceName: 'api', desiredCount: 0 });
    await call('DeleteService', { service: 'api' });
    const again = await create({ serviceName: 'api', desiredCount: 1 }, T0 + 60_000);
    expect(again).toMatchObject({ status: 'ACTIVE', desiredCount: 1, createdAt: (T0 + 60_000) / 1000 });
  });

  it('clientToken: the same token returns the same service; another request with it is refused', async () => {
    const first = await create({ clientToken: 'tok' });
    expect(await create({ clientToken: 'tok' }, T0 + 5)).toEqual(first);
    await refused('CreateService', { serviceName: 'other', taskDefinition: 'web', desiredCount: 1, clientToken: 'tok' }, 'InvalidParameterException', /clientToken was already used/);
  });

  it('concurrent creates of one service: one is stored, the same one every caller sees', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => create({})));
    const ids = new Set(results.map((s) => s.deployments[0].id));
    expect(ids.size).toBe(1);
  });

  describe('refusals change nothing', () => {
    const lb = (containerName: string, containerPort: number) => ({ loadBalancers: [{ targetGroupArn: TG, containerName, containerPort }] });
    const cases: Array<[string, Obj, ErrorCode, string | RegExp]> = [
      ['no service name', { serviceName: undefined }, 'InvalidParameterException', 'serviceName is required.'],
      ['a bad service name', { serviceName: 'web/api' }, 'InvalidParameterException', /Invalid service name 'web\/api'/],
      ['an unknown cluster', { cluster: 'nope' }, 'ClusterNotFoundException', 'Cluster not found.'],
      ['no task definition', { taskDefinition: undefined }, 'InvalidParameterException', /A task definition must be specified/],
      ['an unknown task definition', { taskDefinition: 'ghost' }, 'ClientException', 'Unable to describe task definition.'],
      ['no desired count', { desiredCount: undefined }, 'InvalidParameterException', 'desiredCount is required for services using the REPLICA scheduling strategy.'],
      ['a negative desired count', { desiredCount: -1 }, 'InvalidParameterException', 'desiredCount must be at least 0.'],
      ['a DAEMON with a desired count', { schedulingStrategy: 'DAEMON', desiredCount: 2 }, 'InvalidParameterException', /does not support a desired count/],
      ['a DAEMON with a placement strategy', { schedulingStrategy: 'DAEMON', desiredCount: undefined, placementStrategy: [{ type: 'random' }] }, 'InvalidParameterException', /Placement strategies are not supported with the DAEMON/],
      ['a DAEMON on Fargate', { schedulingStrategy: 'DAEMON', desiredCount: undefined, taskDefinition: 'app', launchType: 'FARGATE', ...VPC }, 'InvalidParameterException', /DAEMON scheduling strategy is not supported for tasks using the FARGATE/],
      ['a DAEMON with CODE_DEPLOY', { schedulingStrategy: 'DAEMON', desiredCount: undefined, deploymentController: { type: 'CODE_DEPLOY' } }, 'InvalidParameterException', /DAEMON scheduling strategy is not supported with the CODE_DEPLOY/],
      ['a DAEMON with maximumPercent 200', { schedulingStrategy: 'DAEMON', desiredCount: undefined, deploymentConfiguration: { maximumPercent: 200 } }, 'InvalidParameterException', /must be 100/],
      ['a launch type and a strategy', { launchType: 'EC2', capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] }, 'InvalidParameterException', /Specifying both a launch type and capacity provider strategy/],
      ['an incompatible launch type', { launchType: 'FARGATE' }, 'InvalidParameterException', 'Task definition does not support launch_type FARGATE.'],
      ['awsvpc without network configuration', { taskDefinition: 'app', launchType: 'FARGATE' }, 'InvalidParameterException', "Network Configuration must be provided when networkMode 'awsvpc' is specified."],
      ['a network configuration in bridge mode', { ...VPC }, 'InvalidParameterException', 'Network Configuration is not valid for the given networkMode of this task definition.'],
      ['a load balancer on an unknown container', lb('api', 80), 'InvalidParameterException', 'The container api does not exist in the task definition.'],
      ['a load balancer on an unmapped port', lb('web', 8080), 'InvalidParameterException', 'The container web did not have a container port 8080 defined.'],
      ['a grace period without a load balancer', { healthCheckGracePeriodSeconds: 10 }, 'InvalidParameterException', 'Health check grace period is only valid for services configured to use load balancers'],
      ['a role without a load balancer', { role: 'ecsServiceRole' }, 'InvalidParameterException', /only valid for a service that uses a load balancer/],
      ['a role with awsvpc', { taskDefinition: 'app', launchType: 'FARGATE', role: 'r', ...VPC, loadBalancers: [{ targetGroupArn: TG, containerName: 'app', containerPort: 8080 }] }, 'InvalidParameterException', 'You cannot specify an IAM role for services that require a service linked role.'],
      ['CODE_DEPLOY without a load balancer', { deploymentController: { type: 'CODE_DEPLOY' } }, 'InvalidParameterException', /requires a load balancer/],
      ['BLUE_GREEN without an alternate target group', { ...lb('web', 80), deploymentConfiguration: { strategy: 'BLUE_GREEN', bakeTimeInMinutes: 5 } }, 'InvalidParameterException', /BLUE_GREEN deployment strategy requires load balancers with an advancedConfiguration/],
      ['a platform version on EC2', { platformVersion: 'LATEST' }, 'InvalidParameterException', /only supported for tasks using the FARGATE launch type/],
      ['a circuit breaker missing rollback', { deploymentConfiguration: { deploymentCircuitBreaker: { enable: true } } }, 'InvalidParameterException', /rollback is required/],
      ['a placement strategy on Fargate', { taskDefinition: 'app', launchType: 'FARGATE', ...VPC, placementStrategy: [{ type: 'random' }] }, 'InvalidParameterException', /not supported for tasks using the FARGATE/],
      ['a clientToken of 37 characters', { clientToken: 'c'.repeat(37) }, 'InvalidParameterException', 'clientToken must be at most 36 characters long.'],
      ['EBS volume configurations', { volumeConfigurations: [{ name: 'data' }] }, 'UnsupportedFeatureException', /volumeConfigurations/],
      ['AZ rebalancing with maximumPercent 100', { availabilityZoneRebalancing: 'ENABLED', deploymentConfiguration: { maximumPercent: 100 } }, 'InvalidParameterException', /Availability Zone rebalancing requires/],
      ['Service Connect without enabled', { serviceConnectConfiguration: { namespace: 'ns' } }, 'InvalidParameterException', 'serviceConnectConfiguration.enabled is required.'],
      ['an unknown scheduling strategy', { schedulingStrategy: 'SINGLETON' }, 'InvalidParameterException', /schedulingStrategy must be one of REPLICA, DAEMON/],
    ];
    for (const [what, input, code, message] of cases) {
      it(what, async () => {
        await refused('CreateService', { serviceName: 'web', taskDefinition: 'web', desiredCount: 2, ...input }, code, message);
      });
    }

    it('an INACTIVE task definition', async () => {
      await call('DeregisterTaskDefinition', { taskDefinition: 'web:1' });
      await refused('CreateService', { serviceName: 'web', taskDefinition: 'web:1', desiredCount: 1 }, 'InvalidParameterException', 'TaskDefinition is inactive');
    });
  });
});

// ---- UpdateService ------------------------------------------------------------------------------

describe('target groups, checked against the ELBv2 model', () => {
  const lbOf = (targetGroupArn: string, containerName = 'web', containerPort = 80) => ({ loadBalancers: [{ targetGroupArn, containerName, containerPort }] });
  const NO_SUCH = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/nope/0123456789abcdef`;
  const fargate = { serviceName: 'app', taskDefinition: 'app', launchType: 'FARGATE', desiredCount: 1, ...VPC };

  it('takes a group a listener or a rule forwards to, of the target type the network mode registers', async () => {
    expect((await create(lbOf(TG))).loadBalancers).toEqual(lbOf(TG).loadBalancers);
    expect((await create({ serviceName: 'green', ...lbOf(TG2) })).loadBalancers).toEqual(lbOf(TG2).loadBalancers);
    expect((await call('CreateService', { ...fargate, ...lbOf(TG_IP, 'app', 8080) })).service.loadBalancers).toEqual(lbOf(TG_IP, 'app', 8080).loadBalancers);
  });

  it.each([
    ['a group that does not exist', NO_SUCH, 'Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions.'],
    ['a group no load balancer forwards to', TG_ALONE, `The target group with targetGroupArn ${TG_ALONE} does not have an associated load balancer.`],
    ['an ip group for bridge mode', TG_IP, `The provided target group ${TG_IP} has target type ip, which is incompatible with the bridge network mode specified in the task definition.`],
  ])('refuses %s on CreateService', async (_what, arn, message) => {
    await refused('CreateService', { serviceName: 'web', taskDefinition: 'web', desiredCount: 1, ...lbOf(arn) }, 'InvalidParameterException', message);
  });

  it('refuses an instance group for awsvpc', async () => {
    await refused('CreateService', { ...fargate, ...lbOf(TG, 'app', 8080) }, 'InvalidParameterException',
      `The provided target group ${TG} has target type instance, which is incompatible with the awsvpc network mode specified in the task definition.`);
  });

  it('checks the groups of UpdateService too, and leaves the service as it was', async () => {
    await create({});
    await refused('UpdateService', { service: 'web', ...lbOf(TG_ALONE) }, 'InvalidParameterException', /does not have an associated load balancer/);
    await refused('UpdateService', { service: 'web', ...lbOf(NO_SUCH) }, 'InvalidParameterException', /Unable to assume role and validate the specified targetGroupArn/);
    expect((await update(lbOf(TG))).loadBalancers).toEqual(lbOf(TG).loadBalancers);
  });
});

describe('UpdateService', () => {
  const later = T0 + 60_000;
  beforeEach(async () => {
    await call('RegisterTaskDefinition', {
      family: 'web',
      containerDefinitions: [{ name: 'web', image: 'nginx:2', memory: 256, portMappings: [{ containerPort: 80 }] }],
    });
  });

  it('desiredCount changes the service and its PRIMARY deployment, and starts no deployment', async () => {
    const s = await create({ taskDefinition: 'web:1' });
    const u = await update({ desiredCount: 5 }, later);
    expect(u.desiredCount).toBe(5);
    expect(u.deployments).toHaveLength(1);
    expect(u.deployments[0]).toMatchObject({ id: s.deployments[0].id, desiredCount: 5, updatedAt: later / 1000 });
  });

  it('a new task definition starts a new PRIMARY deployment; the old one turns ACTIVE', async () => {
    const s = await create({ taskDefinition: 'web:1' });
    const u = await update({ taskDefinition: 'web:2' }, later);
    expect(u.taskDefinition).toBe(`${base}:task-definition/web:2`);
    expect(u.deployments.map((d: Json) => [d.status, d.taskDefinition])).toEqual([
      ['PRIMARY', `${base}:task-definition/web:2`],
      ['ACTIVE', `${base}:task-definition/web:1`],
    ]);
    expect(u.deployments[1].id).toBe(s.deployments[0].id);
    expect(u.deployments[0]).toMatchObject({ rolloutState: 'IN_PROGRESS', createdAt: later / 1000, desiredCount: 2 });
    expect(stable([u])).toBe(false);
  });

  it('the same task definition again starts nothing; forceNewDeployment does', async () => {
    await create({ taskDefinition: 'web:1' });
    expect((await update({ taskDefinition: 'web:1' })).deployments).toHaveLength(1);
    const forced = await update({ forceNewDeployment: true }, later);
    expect(forced.deployments).toHaveLength(2);
    expect(forced.deployments[0].taskDefinition).toBe(`${base}:task-definition/web:1`);
  });

  it('network, load balancers and registries start a deployment; placement and flags do not', async () => {
    await create({ serviceName: 'app', taskDefinition: 'app', launchType: 'FARGATE', ...VPC });
    const net = (await call('UpdateService', { service: 'app', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-b'] } } })).service;
    expect(net.deployments).toHaveLength(2);
    expect(net.deployments[0].networkConfiguration).toEqual({ awsvpcConfiguration: { subnets: ['subnet-b'], assignPublicIp: 'DISABLED' } });
    const lbs = (await call('UpdateService', { service: 'app', loadBalancers: [{ targetGroupArn: TG_IP, containerName: 'app', containerPort: 8080 }] })).service;
    expect(lbs.deployments).toHaveLength(3);
    const flags = (await call('UpdateService', { service: 'app', enableExecuteCommand: true, propagateTags: 'SERVICE', healthCheckGracePeriodSeconds: 60 })).service;
    expect(flags.deployments).toHaveLength(3);
    expect(flags).toMatchObject({ enableExecuteCommand: true, propagateTags: 'SERVICE', healthCheckGracePeriodSeconds: 60 });
  });

  it('deployment configuration and placement: named members change, the rest stay; [] clears placement', async () => {
    await create({ placementStrategy: [{ type: 'binpack', field: 'cpu' }], deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } } });
    const u = await update({ deploymentConfiguration: { minimumHealthyPercent: 50 }, placementStrategy: [] });
    expect(u.deploymentConfiguration).toEqual({
      deploymentCircuitBreaker: { enable: true, rollback: true },
      maximumPercent: 200,
      minimumHealthyPercent: 50,
      strategy: 'ROLLING',
    });
    expect(u.placementStrategy).toEqual([]);
    expect(u.deployments).toHaveLength(1);
  });

  it('switching to a capacity provider strategy replaces the launch type and deploys', async () => {
    await create({ serviceName: 'app', taskDefinition: 'app', launchType: 'FARGATE', ...VPC });
    const u = (await call('UpdateService', { service: 'app', capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] })).service;
    expect(u.launchType).toBeUndefined();
    expect(u.capacityProviderStrategy).toEqual([{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]);
    expect(u.deployments).toHaveLength(2);
  });

  it('works after the service\'s task definition was deregistered', async () => {
    await create({ taskDefinition: 'web:1' });
    await call('DeregisterTaskDefinition', { taskDefinition: 'web:1' });
    expect((await update({ desiredCount: 0 })).desiredCount).toBe(0);
  });

  it('refusals change nothing', async () => {
    await create({ taskDefinition: 'web:1' });
    await refused('UpdateService', { service: 'ghost', desiredCount: 1 }, 'ServiceNotFoundException', 'Service not found.');
    await refused('UpdateService', {}, 'InvalidParameterException', 'service is required.');
    await refused('UpdateService', { service: 'web', cluster: 'nope' }, 'ClusterNotFoundException');
    await refused('UpdateService', { service: 'web', desiredCount: -1 }, 'InvalidParameterException', 'desiredCount must be at least 0.');
    await refused('UpdateService', { service: 'web', taskDefinition: 'app' }, 'InvalidParameterException', "Network Configuration must be provided when networkMode 'awsvpc' is specified.");
    await refused('UpdateService', { service: 'web', healthCheckGracePeriodSeconds: 5 }, 'InvalidParameterException', 'Health check grace period is only valid for services configured to use load balancers');
    await refused('UpdateService', { service: 'web', loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 81 }] }, 'InvalidParameterException', 'The container web did not have a container port 81 defined.');
    await refused('UpdateService', { service: 'web', deploymentController: { type: 'CODE_DEPLOY' } }, 'InvalidParameterException', /Changing the deployment controller/);
    await refused('UpdateService', { service: 'web', platformVersion: '1.4.0' }, 'InvalidParameterException', /only supported for tasks using the FARGATE launch type/);
    await call('DeregisterTaskDefinition', { taskDefinition: 'web:2' });
    await refused('UpdateService', { service: 'web', taskDefinition: 'web:2' }, 'InvalidParameterException', 'TaskDefinition is inactive');
  });

  it('a DRAINING or INACTIVE service: ServiceNotActiveException', async () => {
    await create({ desiredCount: 0 });
    await call('DeleteService', { service: 'web' });
    await refused('UpdateService', { service: 'web', desiredCount: 1 }, 'ServiceNotActiveException', 'Service was not ACTIVE.');
  });

  it('CODE_DEPLOY services take their task definition, network and load balancers from CodeDeploy', async () => {
    await create({ deploymentController: { type: 'CODE_DEPLOY' }, loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 80 }] });
    await refused('UpdateService', { service: 'web', taskDefinition: 'web:2' }, 'InvalidParameterException', 'Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.');
    await refused('UpdateService', { service: 'web', forceNewDeployment: true }, 'InvalidParameterException', /CODE_DEPLOY deployment controller/);
    expect((await update({ desiredCount: 4 })).desiredCount).toBe(4);
  });
});

// ---- DeleteService ------------------------------------------------------------------------------

describe('DeleteService', () => {
  it('refuses while scaled above 0, unless forced', async () => {
    await create({});
    await refused('DeleteService', { service: 'web' }, 'InvalidParameterException', 'The service cannot be stopped while it is scaled above 0.');
    const s = (await call('DeleteService', { service: 'web', force: true })).service;
    expect(s).toMatchObject({ status: 'INACTIVE', desiredCount: 0 });
  });

  it('with no tasks left the service is INACTIVE at once; services-inactive holds; it is gone from ListServices', async () => {
    await create({ desiredCount: 0 });
    expect((await call('DeleteService', { service: `${base}:service/default/web` })).service.status).toBe('INACTIVE');
    const described = await call('DescribeServices', { services: ['web'] });
    expect(described.services.some((s: Json) => s.status === 'INACTIVE')).toBe(true);
    expect((await call('ListServices', {})).serviceArns).toEqual([]);
    await refused('DeleteService', { service: 'web' }, 'ServiceNotFoundException', 'Service not found.');
  });

  it('with tasks still meant to run it is DRAINING (the service controller finishes it)', async () => {
    await create({ desiredCount: 0 });
    await connectedInstance();
    await call('RunTask', { taskDefinition: 'web', group: 'service:web' });
    const s = (await call('DeleteService', { service: 'web' })).service;
    expect(s.status).toBe('DRAINING');
    const before = await store.revision();
    expect((await call('DeleteService', { service: 'web' })).service).toEqual(s);
    expect(await store.revision()).toBe(before);
  });

  it('a DAEMON service needs no force', async () => {
    await create({ schedulingStrategy: 'DAEMON', desiredCount: undefined });
    expect((await call('DeleteService', { service: 'web' })).service.status).toBe('INACTIVE');
  });

  it('refusals change nothing', async () => {
    await refused('DeleteService', { service: 'ghost' }, 'ServiceNotFoundException', 'Service not found.');
    await refused('DeleteService', {}, 'InvalidParameterException', 'service is required.');
    await refused('DeleteService', { service: 'web', cluster: 'nope' }, 'ClusterNotFoundException');
  });
});

// ---- DescribeServices and ListServices ------------------------------------------------------------

describe('DescribeServices', () => {
  it('by name and ARN; MISSING failures as ARNs; tags only when asked', async () => {
    await create({ tags: [{ key: 'k', value: 'v' }] });
    const res = await call('DescribeServices', { services: ['web', `${base}:service/default/web`, 'ghost', `${base}:service/other/web`] });
    expect(res.services).toHaveLength(2);
    expect(res.services[0].tags).toBeUndefined();
    expect(res.failures).toEqual([
      { arn: `${base}:service/default/ghost`, reason: 'MISSING' },
      { arn: `${base}:service/other/web`, reason: 'MISSING' },
    ]);
    expect((await describe1('web', ['TAGS'])).tags).toEqual([{ key: 'k', value: 'v' }]);
  });

  it('refusals', async () => {
    await refused('DescribeServices', {}, 'InvalidParameterException', 'Services cannot be empty.');
    await refused('DescribeServices', { services: Array.from({ length: 11 }, (_, i) => `s${i}`) }, 'InvalidParameterException', /at most 10 items/);
    await refused('DescribeServices', { services: ['web'], include: ['ALL'] }, 'InvalidParameterException', /include\[0\] must be one of TAGS/);
    await refused('DescribeServices', { services: ['web'], cluster: 'nope' }, 'ClusterNotFoundException');
  });
});

describe('ListServices', () => {
  it('pages by 10 by default, up to maxResults, each ACTIVE service once', async () => {
    for (let i = 0; i < 23; i++) await create({ serviceName: `svc-${String(i).padStart(2, '0')}`, desiredCount: 0 });
    const first = await call('ListServices', {});
    expect(first.serviceArns).toHaveLength(10);
    const all: string[] = [...first.serviceArns];
    let token = first.nextToken as string | undefined;
    while (token !== undefined) {
      const page = await call('ListServices', { nextToken: token });
      all.push(...page.serviceArns);
      token = page.nextToken;
    }
    expect(new Set(all).size).toBe(23);
    expect((await call('ListServices', { maxResults: 100 })).serviceArns).toHaveLength(23);
    expect((await call('ListServices', { maxResults: 23 })).nextToken).toBeUndefined();
  });

  it('filters by launch type and scheduling strategy', async () => {
    await create({ desiredCount: 0 });
    await create({ serviceName: 'app', taskDefinition: 'app', launchType: 'FARGATE', ...VPC, desiredCount: 0 });
    await create({ serviceName: 'agent', schedulingStrategy: 'DAEMON', desiredCount: undefined });
    await create({ serviceName: 'spot', taskDefinition: 'app', capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }], ...VPC, desiredCount: 0 });
    const names = async (input: Obj) => ((await call('ListServices', input)).serviceArns as string[]).map((a) => a.split('/').pop()).sort();
    expect(await names({ launchType: 'FARGATE' })).toEqual(['app', 'spot']);
    expect(await names({ launchType: 'EC2' })).toEqual(['agent', 'web']);
    expect(await names({ schedulingStrategy: 'DAEMON' })).toEqual(['agent']);
    expect(await names({ resourceManagementType: 'ECS' })).toEqual([]);
  });

  it('refusals', async () => {
    await refused('ListServices', { maxResults: 101 }, 'InvalidParameterException', 'maxResults must be at most 100.');
    await refused('ListServices', { nextToken: 'x' }, 'InvalidParameterException', 'The nextToken is not valid.');
    await refused('ListServices', { schedulingStrategy: 'ONCE' }, 'InvalidParameterException', /schedulingStrategy must be one of/);
    await refused('ListServices', { cluster: 'nope' }, 'ClusterNotFoundException');
  });
});
