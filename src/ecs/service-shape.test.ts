/** Service members that need no store: names, deployment configuration, load balancers, registries, deployments. */
import { describe, expect, it } from 'vitest';
import type { ContainerDefinition } from './task-definition-types.js';
import {
  addEvent,
  checkContainerPort,
  checkLoadBalancers,
  checkServiceRegistries,
  defaultDeploymentConfiguration,
  MAX_SERVICE_EVENTS,
  newDeployment,
  newDeploymentId,
  readDeploymentConfiguration,
  readDeploymentController,
  readLoadBalancers,
  readServiceName,
  readServiceRegistries,
  roleArnFor,
  serviceEvent,
  startDeployment,
  type DeploymentContext,
} from './service-shape.js';
import { containerDefinition, fails } from './testing/ecs-harness.suite.js';

const container = (name: string, ports: number[]): ContainerDefinition =>
  containerDefinition(name, { image: 'x', portMappings: ports.map((containerPort) => ({ containerPort })) });
const td = { containerDefinitions: [container('web', [80, 443]), container('worker', [])] };
const TG = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef';

describe('readServiceName', () => {
  it('letters, numbers, underscores and hyphens, up to 255', () => {
    expect(readServiceName({ serviceName: 'web_api-2' })).toBe('web_api-2');
    expect(readServiceName({ serviceName: 'a'.repeat(255) })).toHaveLength(255);
    fails(() => readServiceName({}), 'InvalidParameterException', 'serviceName is required.');
    fails(() => readServiceName({ serviceName: 'web.api' }), 'InvalidParameterException', /Invalid service name 'web.api'/);
    fails(() => readServiceName({ serviceName: 'a'.repeat(256) }), 'InvalidParameterException', /Invalid service name/);
  });
});

describe('deployment configuration', () => {
  const replica: DeploymentContext = { schedulingStrategy: 'REPLICA', controller: 'ECS', launchType: 'EC2' };
  const read = (cfg: unknown, ctx: DeploymentContext = replica) => readDeploymentConfiguration({ deploymentConfiguration: cfg }, ctx);

  it('defaults: REPLICA 200/100 with a disabled circuit breaker and ROLLING; DAEMON 100/0', () => {
    expect(readDeploymentConfiguration({}, replica)).toEqual({
      deploymentCircuitBreaker: { enable: false, rollback: false },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
      strategy: 'ROLLING',
    });
    expect(defaultDeploymentConfiguration({ schedulingStrategy: 'DAEMON', controller: 'ECS' })).toMatchObject({ maximumPercent: 100, minimumHealthyPercent: 0 });
    expect(defaultDeploymentConfiguration({ schedulingStrategy: 'REPLICA', controller: 'CODE_DEPLOY' })).toEqual({ maximumPercent: 200, minimumHealthyPercent: 100 });
  });

  it('percentages', () => {
    expect(read({ maximumPercent: 150, minimumHealthyPercent: 50 })).toMatchObject({ maximumPercent: 150, minimumHealthyPercent: 50 });
    fails(() => read({ minimumHealthyPercent: 101 }), 'InvalidParameterException', /minimumHealthyPercent must be at most 100/);
    fails(() => read({ minimumHealthyPercent: -1 }), 'InvalidParameterException', /minimumHealthyPercent must be at least 0/);
    fails(() => read({ maximumPercent: 90 }), 'InvalidParameterException', /maximumPercent must be at least 100/);
  });

  it('DAEMON keeps maximumPercent at 100', () => {
    const daemon: DeploymentContext = { schedulingStrategy: 'DAEMON', controller: 'ECS' };
    expect(read({ maximumPercent: 100, minimumHealthyPercent: 50 }, daemon)).toMatchObject({ maximumPercent: 100, minimumHealthyPercent: 50 });
    fails(() => read({ maximumPercent: 200 }, daemon), 'InvalidParameterException', /DAEMON scheduling strategy must be 100/);
  });

  it('circuit breaker: both members required, ECS controller only', () => {
    expect(read({ deploymentCircuitBreaker: { enable: true, rollback: true } }).deploymentCircuitBreaker).toEqual({ enable: true, rollback: true });
    fails(() => read({ deploymentCircuitBreaker: { enable: true } }), 'InvalidParameterException', 'deploymentConfiguration.deploymentCircuitBreaker.rollback is required.');
    fails(() => read({ deploymentCircuitBreaker: { enable: true, rollback: false } }, { ...replica, controller: 'CODE_DEPLOY' }), 'InvalidParameterException', /circuit breaker can only be used/);
  });

  it('CODE_DEPLOY / EXTERNAL on EC2 take no custom maximumPercent', () => {
    fails(() => read({ maximumPercent: 150 }, { ...replica, controller: 'EXTERNAL' }), 'InvalidParameterException', /custom maximumPercent/);
    expect(read({ maximumPercent: 150 }, { ...replica, controller: 'EXTERNAL', launchType: 'FARGATE' }).maximumPercent).toBe(150);
  });

  it('alarms: names, enable and rollback required', () => {
    expect(read({ alarms: { alarmNames: ['a'], enable: true, rollback: false } }).alarms).toEqual({ alarmNames: ['a'], enable: true, rollback: false });
    fails(() => read({ alarms: { enable: true, rollback: false } }), 'InvalidParameterException', 'deploymentConfiguration.alarms.alarmNames is required.');
    fails(() => read({ alarms: { alarmNames: [], rollback: false } }), 'InvalidParameterException', 'deploymentConfiguration.alarms.enable is required.');
  });

  it('strategies and their settings, with ECS defaults', () => {
    expect(read({ strategy: 'LINEAR' })).toMatchObject({ strategy: 'LINEAR', linearConfiguration: { stepPercent: 10, stepBakeTimeInMinutes: 6 } });
    expect(read({ strategy: 'CANARY', canaryConfiguration: { canaryPercent: 2.5 } })).toMatchObject({
      strategy: 'CANARY',
      canaryConfiguration: { canaryPercent: 2.5, canaryBakeTimeInMinutes: 10 },
    });
    expect(read({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 15 })).toMatchObject({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 15 });
    fails(() => read({ strategy: 'BLUE_GREEN' }), 'InvalidParameterException', /bakeTimeInMinutes is required with the BLUE_GREEN/);
    fails(() => read({ strategy: 'ROLLING', linearConfiguration: { stepPercent: 10 } }), 'InvalidParameterException', /only valid with the LINEAR/);
    fails(() => read({ strategy: 'LINEAR', canaryConfiguration: {} }), 'InvalidParameterException', /only valid with the CANARY/);
    fails(() => read({ strategy: 'LINEAR', linearConfiguration: { stepPercent: 2.5 } }), 'InvalidParameterException', /multiple of 0.1 from 3.0 to 100.0/);
    fails(() => read({ strategy: 'LINEAR', linearConfiguration: { stepPercent: 10.05 } }), 'InvalidParameterException', /multiple of 0.1/);
    fails(() => read({ strategy: 'CANARY', canaryConfiguration: { canaryBakeTimeInMinutes: 1441 } }), 'InvalidParameterException', /at most 1440/);
    fails(() => read({ strategy: 'BLUE_GREEN', bakeTimeInMinutes: 10 }, { ...replica, controller: 'CODE_DEPLOY' }), 'InvalidParameterException', /requires the ECS deployment controller/);
    fails(() => read({ strategy: 'SLOW' }), 'InvalidParameterException', /strategy must be one of ROLLING, BLUE_GREEN, LINEAR, CANARY/);
  });

  it('lifecycle hooks: known stages, a Lambda needs its ARN', () => {
    const hook = { targetType: 'AWS_LAMBDA', hookTargetArn: 'arn:aws:lambda:us-east-1:0:function:f', lifecycleStages: ['PRE_SCALE_UP'] };
    expect(read({ lifecycleHooks: [hook] }).lifecycleHooks).toEqual([hook]);
    fails(() => read({ lifecycleHooks: [{ ...hook, lifecycleStages: ['LUNCH'] }] }), 'InvalidParameterException', /lifecycleStages\[0\] must be one of/);
    fails(() => read({ lifecycleHooks: [{ targetType: 'AWS_LAMBDA' }] }), 'InvalidParameterException', /hookTargetArn is required/);
  });

  it('an update keeps what it does not name', () => {
    const current = read({ maximumPercent: 150, deploymentCircuitBreaker: { enable: true, rollback: true } });
    expect(readDeploymentConfiguration({ deploymentConfiguration: { minimumHealthyPercent: 0 } }, { ...replica, current })).toEqual({
      ...current,
      minimumHealthyPercent: 0,
    });
    expect(readDeploymentConfiguration({}, { ...replica, current })).toBe(current);
  });
});

describe('deployment controller', () => {
  it('type is required and known', () => {
    expect(readDeploymentController({})).toBeUndefined();
    expect(readDeploymentController({ deploymentController: { type: 'CODE_DEPLOY' } })).toBe('CODE_DEPLOY');
    fails(() => readDeploymentController({ deploymentController: {} }), 'InvalidParameterException', 'deploymentController.type is required.');
    fails(() => readDeploymentController({ deploymentController: { type: 'ARGO' } }), 'InvalidParameterException', /must be one of ECS, CODE_DEPLOY, EXTERNAL/);
  });
});

describe('load balancers', () => {
  it('reads target groups and classic load balancers', () => {
    expect(readLoadBalancers({ loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 80 }] })).toEqual([
      { targetGroupArn: TG, containerName: 'web', containerPort: 80 },
    ]);
    expect(readLoadBalancers({ loadBalancers: [{ loadBalancerName: 'classic', containerName: 'web', containerPort: 80 }] })).toHaveLength(1);
  });
  it('shape rules', () => {
    const lb = (x: object) => () => readLoadBalancers({ loadBalancers: [{ containerName: 'web', containerPort: 80, ...x }] });
    fails(lb({}), 'InvalidParameterException', /requires a targetGroupArn or a loadBalancerName/);
    fails(lb({ targetGroupArn: TG, loadBalancerName: 'c' }), 'InvalidParameterException', /not both/);
    fails(lb({ targetGroupArn: 'arn:aws:ecs:us-east-1:0:cluster/x' }), 'InvalidParameterException', /is not a target group ARN/);
    fails(() => readLoadBalancers({ loadBalancers: [{ targetGroupArn: TG }] }), 'InvalidParameterException', /requires a containerName and a containerPort/);
    fails(lb({ targetGroupArn: TG, advancedConfiguration: { productionListenerRule: 'r' } }), 'InvalidParameterException', /alternateTargetGroupArn is required/);
    const six = Array.from({ length: 6 }, () => ({ targetGroupArn: TG, containerName: 'web', containerPort: 80 }));
    fails(() => readLoadBalancers({ loadBalancers: six }), 'InvalidParameterException', /at most 5 load balancers/);
  });
  it('against the task definition (ECS messages)', () => {
    expect(() => checkLoadBalancers([{ targetGroupArn: TG, containerName: 'web', containerPort: 443 }], td, 'bridge')).not.toThrow();
    fails(() => checkContainerPort(td, 'api', 80), 'InvalidParameterException', 'The container api does not exist in the task definition.');
    fails(() => checkContainerPort(td, 'web', 8080), 'InvalidParameterException', 'The container web did not have a container port 8080 defined.');
    fails(() => checkLoadBalancers([{ loadBalancerName: 'c', containerName: 'web', containerPort: 80 }], td, 'awsvpc'), 'InvalidParameterException', /Classic Load Balancers are not supported with the awsvpc/);
  });
});

describe('service registries', () => {
  const ARN = 'arn:aws:servicediscovery:us-east-1:000000000000:service/srv-1';
  it('one per service, a Cloud Map ARN', () => {
    expect(readServiceRegistries({ serviceRegistries: [{ registryArn: ARN, containerName: 'web', containerPort: 80 }] })).toEqual([
      { registryArn: ARN, containerName: 'web', containerPort: 80 },
    ]);
    fails(() => readServiceRegistries({ serviceRegistries: [{ registryArn: ARN }, { registryArn: ARN }] }), 'InvalidParameterException', /Multiple service registries/);
    fails(() => readServiceRegistries({ serviceRegistries: [{}] }), 'InvalidParameterException', 'serviceRegistries[0].registryArn is required.');
    fails(() => readServiceRegistries({ serviceRegistries: [{ registryArn: TG }] }), 'InvalidParameterException', /not a Cloud Map service ARN/);
    fails(() => readServiceRegistries({ serviceRegistries: [{ registryArn: ARN, containerPort: 80 }] }), 'InvalidParameterException', /containerPort requires a containerName/);
  });
  it('a named container must exist with its port', () => {
    expect(() => checkServiceRegistries([{ registryArn: ARN, containerName: 'worker' }], td)).not.toThrow();
    fails(() => checkServiceRegistries([{ registryArn: ARN, containerName: 'db' }], td), 'InvalidParameterException', 'The container db does not exist in the task definition.');
    fails(() => checkServiceRegistries([{ registryArn: ARN, containerName: 'web', containerPort: 81 }], td), 'InvalidParameterException', /did not have a container port 81/);
  });
});

describe('deployments and events', () => {
  it('ids look like ECS\'s', () => {
    const ids = new Set(Array.from({ length: 50 }, newDeploymentId));
    for (const id of ids) expect(id).toMatch(/^ecs-svc\/[1-9]\d{18}$/);
    expect(ids.size).toBe(50);
  });
  it('a new deployment is PRIMARY and IN_PROGRESS with no tasks', () => {
    const d = newDeployment('ecs-svc/1234567890123456789', { taskDefinition: 'td', desiredCount: 3, launchType: 'EC2', reportsRollout: true }, 100);
    expect(d).toEqual({
      id: 'ecs-svc/1234567890123456789',
      status: 'PRIMARY',
      taskDefinition: 'td',
      desiredCount: 3,
      pendingCount: 0,
      runningCount: 0,
      failedTasks: 0,
      createdAt: 100,
      updatedAt: 100,
      launchType: 'EC2',
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: 'ECS deployment ecs-svc/1234567890123456789 in progress.',
    });
    expect(newDeployment('x', { desiredCount: 0, reportsRollout: false }, 1).rolloutState).toBeUndefined();
  });
  it('starting a deployment turns the PRIMARY one ACTIVE', () => {
    const a = newDeployment('a', { desiredCount: 1, reportsRollout: true }, 1);
    const b = newDeployment('b', { desiredCount: 1, reportsRollout: true }, 2);
    const afterB = startDeployment([a], b, 2);
    expect(afterB.map((d) => [d.id, d.status])).toEqual([['b', 'PRIMARY'], ['a', 'ACTIVE']]);
    expect(afterB[1]!.updatedAt).toBe(2);
    const c = newDeployment('c', { desiredCount: 1, reportsRollout: true }, 3);
    expect(startDeployment(afterB, c, 3).map((d) => d.status)).toEqual(['PRIMARY', 'ACTIVE', 'ACTIVE']);
  });
  it('events read as ECS writes them, newest first, at most 100', () => {
    expect(serviceEvent('e1', 'web', 'has reached a steady state.', 5)).toEqual({ id: 'e1', createdAt: 5, message: '(service web) has reached a steady state.' });
    let events = [serviceEvent('e0', 'web', 'x', 0)];
    for (let i = 1; i <= MAX_SERVICE_EVENTS; i++) events = addEvent(events, serviceEvent(`e${i}`, 'web', 'x', i));
    expect(events).toHaveLength(MAX_SERVICE_EVENTS);
    expect(events[0]!.id).toBe(`e${MAX_SERVICE_EVENTS}`);
  });
  it('roles: given by name or ARN, else the service-linked role', () => {
    expect(roleArnFor(undefined, '123')).toBe('arn:aws:iam::123:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS');
    expect(roleArnFor('ecsServiceRole', '123')).toBe('arn:aws:iam::123:role/ecsServiceRole');
    expect(roleArnFor('/foo/bar', '123')).toBe('arn:aws:iam::123:role/foo/bar');
    expect(roleArnFor('arn:aws:iam::9:role/x', '123')).toBe('arn:aws:iam::9:role/x');
  });
});
