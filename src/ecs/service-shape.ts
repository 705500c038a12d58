/**
 * The Service object (botocore ecs 2014-11-13) as Berth stores it under keys.service and returns it,
 * and the pure rules of CreateService / UpdateService members that do not need the store:
 * deployment configuration and controller, load balancers and service registries against the task
 * definition, deployments and service events.
 */
import { randomInt } from 'node:crypto';
import type { TaskDefinition } from './task-definition-types.js';
import { invalid, objectsOf, optionalArray, optionalBool, optionalEnum, optionalInt, optionalObject, optionalString, optionalStringArray } from './input.js';
import type { CapacityProviderStrategyItem, LaunchType, PropagateTags } from './launch-input.js';
import type { Tag } from './tags.js';
import type { NetworkConfiguration } from './network-configuration.js';
import type { PlacementConstraint, PlacementStrategy } from './placement-input.js';

export const SCHEDULING_STRATEGIES = ['REPLICA', 'DAEMON'] as const;
export type SchedulingStrategy = (typeof SCHEDULING_STRATEGIES)[number];
export const DEPLOYMENT_CONTROLLERS = ['ECS', 'CODE_DEPLOY', 'EXTERNAL'] as const;
export type DeploymentControllerType = (typeof DEPLOYMENT_CONTROLLERS)[number];
export const DEPLOYMENT_STRATEGIES = ['ROLLING', 'BLUE_GREEN', 'LINEAR', 'CANARY'] as const;
export type DeploymentStrategy = (typeof DEPLOYMENT_STRATEGIES)[number];
export const LIFECYCLE_STAGES = [
  'RECONCILE_SERVICE',
  'PRE_SCALE_UP',
  'POST_SCALE_UP',
  'TEST_TRAFFIC_SHIFT',
  'POST_TEST_TRAFFIC_SHIFT',
  'PRODUCTION_TRAFFIC_SHIFT',
  'POST_PRODUCTION_TRAFFIC_SHIFT',
] as const;

export interface DeploymentCircuitBreaker {
  readonly enable: boolean;
  readonly rollback: boolean;
}
export interface DeploymentAlarms {
  readonly alarmNames: readonly string[];
  readonly rollback: boolean;
  readonly enable: boolean;
}
export interface LinearConfiguration {
  readonly stepPercent: number;
  readonly stepBakeTimeInMinutes: number;
}
export interface CanaryConfiguration {
  readonly canaryPercent: number;
  readonly canaryBakeTimeInMinutes: number;
}
export interface DeploymentLifecycleHook {
  readonly targetType?: 'AWS_LAMBDA' | 'PAUSE';
  readonly hookTargetArn?: string;
  readonly roleArn?: string;
  readonly lifecycleStages?: readonly string[];
  readonly hookDetails?: unknown;
  readonly timeoutConfiguration?: unknown;
}

export interface DeploymentConfiguration {
  readonly deploymentCircuitBreaker?: DeploymentCircuitBreaker;
  readonly maximumPercent: number;
  readonly minimumHealthyPercent: number;
  readonly alarms?: DeploymentAlarms;
  readonly strategy?: DeploymentStrategy;
  readonly bakeTimeInMinutes?: number;
  readonly lifecycleHooks?: readonly DeploymentLifecycleHook[];
  readonly linearConfiguration?: LinearConfiguration;
  readonly canaryConfiguration?: CanaryConfiguration;
}

export interface AdvancedConfiguration {
  readonly alternateTargetGroupArn?: string;
  readonly productionListenerRule?: string;
  readonly testListenerRule?: string;
  readonly roleArn?: string;
}
export interface LoadBalancer {
  readonly targetGroupArn?: string;
  readonly loadBalancerName?: string;
  readonly containerName?: string;
  readonly containerPort?: number;
  readonly advancedConfiguration?: AdvancedConfiguration;
}
export interface ServiceRegistry {
  readonly registryArn?: string;
  readonly port?: number;
  readonly containerName?: string;
  readonly containerPort?: number;
}

export interface Deployment {
  readonly id: string;
  readonly status: 'PRIMARY' | 'ACTIVE' | 'INACTIVE';
  readonly taskDefinition?: string;
  readonly desiredCount: number;
  readonly pendingCount: number;
  readonly runningCount: number;
  readonly failedTasks: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly capacityProviderStrategy?: readonly CapacityProviderStrategyItem[];
  readonly launchType?: LaunchType;
  readonly platformVersion?: string;
  readonly platformFamily?: string;
  readonly networkConfiguration?: NetworkConfiguration;
  readonly rolloutState?: 'COMPLETED' | 'FAILED' | 'IN_PROGRESS';
  readonly rolloutStateReason?: string;
  readonly serviceConnectConfiguration?: unknown;
  readonly vpcLatticeConfigurations?: readonly unknown[];
}

export interface ServiceEvent {
  readonly id: string;
  readonly createdAt: number;
  readonly message: string;
}

/**
 * A service, exactly as DescribeServices returns it (timestamps in epoch seconds). Counts
 * (runningCount, pendingCount, each deployment's) and events are the service controller's to keep
 * (a later issue); the API sets them at creation and leaves them alone afterwards.
 */
export interface Service {
  readonly serviceArn: string;
  readonly serviceName: string;
  readonly clusterArn: string;
  readonly loadBalancers: readonly LoadBalancer[];
  readonly serviceRegistries: readonly ServiceRegistry[];
  readonly status: 'ACTIVE' | 'DRAINING' | 'INACTIVE';
  readonly desiredCount: number;
  readonly runningCount: number;
  readonly pendingCount: number;
  readonly launchType?: LaunchType;
  readonly capacityProviderStrategy?: readonly CapacityProviderStrategyItem[];
  readonly platformVersion?: string;
  readonly platformFamily?: string;
  readonly taskDefinition?: string;
  readonly deploymentConfiguration: DeploymentConfiguration;
  readonly taskSets?: readonly unknown[];
  readonly deployments: readonly Deployment[];
  readonly roleArn?: string;
  readonly events: readonly ServiceEvent[];
  readonly createdAt: number;
  readonly placementConstraints: readonly PlacementConstraint[];
  readonly placementStrategy: readonly PlacementStrategy[];
  readonly networkConfiguration?: NetworkConfiguration;
  readonly healthCheckGracePeriodSeconds?: number;
  readonly schedulingStrategy: SchedulingStrategy;
  readonly deploymentController: { readonly type: DeploymentControllerType };
  readonly tags: readonly Tag[];
  readonly createdBy: string;
  readonly enableECSManagedTags: boolean;
  readonly propagateTags: PropagateTags;
  readonly enableExecuteCommand: boolean;
  readonly availabilityZoneRebalancing: 'ENABLED' | 'DISABLED';
}

// ---------------------------------------------------------------------------------------------
// Names and small members.

const SERVICE_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/** serviceName: up to 255 letters, numbers, underscores and hyphens (ECS's rule). */
export function readServiceName(input: Record<string, unknown>): string {
  const name = optionalString(input, 'serviceName');
  if (name === undefined || name === '') throw invalid('serviceName is required.');
  if (!SERVICE_NAME.test(name)) {
    throw invalid(`Invalid service name '${name}': up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.`);
  }
  return name;
}

export const MAX_HEALTH_CHECK_GRACE_PERIOD = 2_147_483_647;
export const MSG_GRACE_PERIOD_NEEDS_LB = 'Health check grace period is only valid for services configured to use load balancers';
export const MSG_ROLE_WITH_SERVICE_LINKED = 'You cannot specify an IAM role for services that require a service linked role.';

/** The role a service uses: the one given (name or ARN), else ECS's service-linked role. */
export function roleArnFor(role: string | undefined, accountId: string): string {
  if (role === undefined || role === '') return `arn:aws:iam::${accountId}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS`;
  if (role.startsWith('arn:')) return role;
  return `arn:aws:iam::${accountId}:role/${role.replace(/^\/+/, '')}`;
}

// ---------------------------------------------------------------------------------------------
// Deployment configuration.

/** What the deployment configuration rules depend on. */
export interface DeploymentContext {
  readonly schedulingStrategy: SchedulingStrategy;
  readonly controller: DeploymentControllerType;
  readonly launchType?: LaunchType;
  /** The service's current configuration (UpdateService): members not given keep their value. */
  readonly current?: DeploymentConfiguration;
}

/** ECS's defaults: REPLICA 200 / 100, DAEMON 100 / 0; the ECS controller adds a disabled circuit breaker and ROLLING. */
export function defaultDeploymentConfiguration(ctx: Pick<DeploymentContext, 'schedulingStrategy' | 'controller'>): DeploymentConfiguration {
  const daemon = ctx.schedulingStrategy === 'DAEMON';
  return {
    ...(ctx.controller === 'ECS' ? { deploymentCircuitBreaker: { enable: false, rollback: false } } : {}),
    maximumPercent: daemon ? 100 : 200,
    minimumHealthyPercent: daemon ? 0 : 100,
    ...(ctx.controller === 'ECS' ? { strategy: 'ROLLING' as const } : {}),
  };
}

function requiredBool(item: Record<string, unknown>, field: string, path: string): boolean {
  const v = optionalBool(item, field, `${path}.${field}`);
  if (v === undefined) throw invalid(`${path}.${field} is required.`);
  return v;
}

/** A percentage in multiples of 0.1 within [min, 100]. */
function readTenths(item: Record<string, unknown>, field: string, path: string, min: number, fallback: number): number {
  const v = item[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${path}.${field} must be a number.`);
  if (v < min || v > 100 || Math.abs(Math.round(v * 10) - v * 10) > 1e-9) {
    throw invalid(`${path}.${field} must be a multiple of 0.1 from ${min.toFixed(1)} to 100.0; got ${v}.`);
  }
  return v;
}

const readBakeMinutes = (item: Record<string, unknown>, field: string, path: string): number | undefined =>
  optionalInt(item, field, { min: 0, max: 1440, path: `${path}.${field}` });

function readLifecycleHooks(cfg: Record<string, unknown>): DeploymentLifecycleHook[] | undefined {
  const list = optionalArray(cfg, 'lifecycleHooks', { path: 'deploymentConfiguration.lifecycleHooks' });
  if (list === undefined) return undefined;
  return objectsOf(list, 'deploymentConfiguration.lifecycleHooks').map(({ item, path }) => {
    const targetType = optionalEnum(item, 'targetType', ['AWS_LAMBDA', 'PAUSE'] as const, `${path}.targetType`);
    const hookTargetArn = optionalString(item, 'hookTargetArn', { path: `${path}.hookTargetArn` });
    const roleArn = optionalString(item, 'roleArn', { path: `${path}.roleArn` });
    const stages = optionalStringArray(item, 'lifecycleStages', { path: `${path}.lifecycleStages` });
    stages?.forEach((s, i) => {
      if (!(LIFECYCLE_STAGES as readonly string[]).includes(s)) {
        throw invalid(`${path}.lifecycleStages[${i}] must be one of ${LIFECYCLE_STAGES.join(', ')}; got '${s}'.`);
      }
    });
    if (targetType === 'AWS_LAMBDA' && (hookTargetArn === undefined || hookTargetArn === '')) throw invalid(`${path}.hookTargetArn is required for AWS_LAMBDA hooks.`);
    return {
      ...(targetType === undefined ? {} : { targetType }),
      ...(hookTargetArn === undefined ? {} : { hookTargetArn }),
      ...(roleArn === undefined ? {} : { roleArn }),
      ...(stages === undefined ? {} : { lifecycleStages: [...stages] }),
      ...(item['hookDetails'] === undefined ? {} : { hookDetails: item['hookDetails'] }),
      ...(item['timeoutConfiguration'] === undefined ? {} : { timeoutConfiguration: item['timeoutConfiguration'] }),
    };
  });
}

/**
 * Reads `deploymentConfiguration` over the current one (or the defaults) and checks ECS's rules:
 * percentages, DAEMON's fixed 100 % maximum, the circuit breaker only with the ECS controller, no
 * custom maximumPercent for CODE_DEPLOY / EXTERNAL on EC2, and each strategy's own settings.
 *
 * @example readDeploymentConfiguration({ deploymentConfiguration: { maximumPercent: 150 } }, { schedulingStrategy: 'REPLICA', controller: 'ECS' })
 */
export function readDeploymentConfiguration(input: Record<string, unknown>, ctx: DeploymentContext): DeploymentConfiguration {
  const base = ctx.current ?? defaultDeploymentConfiguration(ctx);
  const cfg = optionalObject(input, 'deploymentConfiguration');
  if (cfg === undefined) return base;
  const path = 'deploymentConfiguration';

  const maximumPercent = optionalInt(cfg, 'maximumPercent', { min: 0, path: `${path}.maximumPercent` });
  const minimumHealthyPercent = optionalInt(cfg, 'minimumHealthyPercent', { min: 0, max: 100, path: `${path}.minimumHealthyPercent` });
  if (maximumPercent !== undefined) {
    if (ctx.schedulingStrategy === 'DAEMON' && maximumPercent !== 100) {
      throw invalid('The maximumPercent of a service using the DAEMON scheduling strategy must be 100.');
    }
    if (ctx.controller !== 'ECS' && ctx.launchType === 'EC2' && maximumPercent !== base.maximumPercent) {
      throw invalid(`You can't specify a custom maximumPercent value for a service that uses the ${ctx.controller} deployment controller and the EC2 launch type.`);
    }
    if (ctx.schedulingStrategy === 'REPLICA' && maximumPercent < 100) throw invalid(`${path}.maximumPercent must be at least 100.`);
  }

  const breakerIn = optionalObject(cfg, 'deploymentCircuitBreaker', `${path}.deploymentCircuitBreaker`);
  let deploymentCircuitBreaker = base.deploymentCircuitBreaker;
  if (breakerIn !== undefined) {
    if (ctx.controller !== 'ECS') throw invalid('The deployment circuit breaker can only be used for services using the rolling update (ECS) deployment controller.');
    const p = `${path}.deploymentCircuitBreaker`;
    deploymentCircuitBreaker = { enable: requiredBool(breakerIn, 'enable', p), rollback: requiredBool(breakerIn, 'rollback', p) };
  }

  const alarmsIn = optionalObject(cfg, 'alarms', `${path}.alarms`);
  let alarms = base.alarms;
  if (alarmsIn !== undefined) {
    const p = `${path}.alarms`;
    const alarmNames = optionalStringArray(alarmsIn, 'alarmNames', { path: `${p}.alarmNames` });
    if (alarmNames === undefined) throw invalid(`${p}.alarmNames is required.`);
    alarms = { alarmNames: [...alarmNames], rollback: requiredBool(alarmsIn, 'rollback', p), enable: requiredBool(alarmsIn, 'enable', p) };
  }

  const strategy = optionalEnum(cfg, 'strategy', DEPLOYMENT_STRATEGIES, `${path}.strategy`) ?? base.strategy;
  if (strategy !== undefined && strategy !== 'ROLLING' && ctx.controller !== 'ECS') {
    throw invalid(`The ${strategy} deployment strategy requires the ECS deployment controller.`);
  }
  const bakeTimeInMinutes = readBakeMinutes(cfg, 'bakeTimeInMinutes', path) ?? (strategy === base.strategy ? base.bakeTimeInMinutes : undefined);
  const lifecycleHooks = readLifecycleHooks(cfg) ?? base.lifecycleHooks;

  const linearIn = optionalObject(cfg, 'linearConfiguration', `${path}.linearConfiguration`);
  const canaryIn = optionalObject(cfg, 'canaryConfiguration', `${path}.canaryConfiguration`);
  if (linearIn !== undefined && strategy !== 'LINEAR') throw invalid(`${path}.linearConfiguration is only valid with the LINEAR deployment strategy.`);
  if (canaryIn !== undefined && strategy !== 'CANARY') throw invalid(`${path}.canaryConfiguration is only valid with the CANARY deployment strategy.`);
  let linearConfiguration: LinearConfiguration | undefined;
  let canaryConfiguration: CanaryConfiguration | undefined;
  if (strategy === 'LINEAR') {
    const p = `${path}.linearConfiguration`;
    const cur = base.linearConfiguration;
    linearConfiguration = {
      stepPercent: readTenths(linearIn ?? {}, 'stepPercent', p, 3, cur?.stepPercent ?? 10),
      stepBakeTimeInMinutes: readBakeMinutes(linearIn ?? {}, 'stepBakeTimeInMinutes', p) ?? cur?.stepBakeTimeInMinutes ?? 6,
    };
  }
  if (strategy === 'CANARY') {
    const p = `${path}.canaryConfiguration`;
    const cur = base.canaryConfiguration;
    canaryConfiguration = {
      canaryPercent: readTenths(canaryIn ?? {}, 'canaryPercent', p, 0.1, cur?.canaryPercent ?? 5),
      canaryBakeTimeInMinutes: readBakeMinutes(canaryIn ?? {}, 'canaryBakeTimeInMinutes', p) ?? cur?.canaryBakeTimeInMinutes ?? 10,
    };
  }
  if (strategy === 'BLUE_GREEN' && bakeTimeInMinutes === undefined) {
    throw invalid(`${path}.bakeTimeInMinutes is required with the BLUE_GREEN deployment strategy.`);
  }

  return {
    ...(deploymentCircuitBreaker === undefined ? {} : { deploymentCircuitBreaker }),
    maximumPercent: maximumPercent ?? base.maximumPercent,
    minimumHealthyPercent: minimumHealthyPercent ?? base.minimumHealthyPercent,
    ...(alarms === undefined ? {} : { alarms }),
    ...(strategy === undefined ? {} : { strategy }),
    ...(bakeTimeInMinutes === undefined ? {} : { bakeTimeInMinutes }),
    ...(lifecycleHooks === undefined ? {} : { lifecycleHooks }),
    ...(linearConfiguration === undefined ? {} : { linearConfiguration }),
    ...(canaryConfiguration === undefined ? {} : { canaryConfiguration }),
  };
}

/** `deploymentController`: {type} with type ECS, CODE_DEPLOY or EXTERNAL. */
export function readDeploymentController(input: Record<string, unknown>): DeploymentControllerType | undefined {
  const dc = optionalObject(input, 'deploymentController');
  if (dc === undefined) return undefined;
  const type = optionalEnum(dc, 'type', DEPLOYMENT_CONTROLLERS, 'deploymentController.type');
  if (type === undefined) throw invalid('deploymentController.type is required.');
  return type;
}

// ---------------------------------------------------------------------------------------------
// Load balancers and service registries, against the task definition.

/** ECS's limit on target groups per service. */
export const MAX_LOAD_BALANCERS = 5;

const TARGET_GROUP_ARN = /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]*:\d*:targetgroup\/[^/]+\/[^/]+$/;

/** Checks that `containerName` is a container of the task definition with `containerPort` mapped. */
export function checkContainerPort(td: Pick<TaskDefinition, 'containerDefinitions'>, containerName: string, containerPort: number): void {
  const container = td.containerDefinitions.find((c) => c.name === containerName);
  if (container === undefined) throw invalid(`The container ${containerName} does not exist in the task definition.`);
  if (!container.portMappings.some((pm) => pm.containerPort === containerPort)) {
    throw invalid(`The container ${containerName} did not have a container port ${containerPort} defined.`);
  }
}

/** Reads `loadBalancers` (shape only; checkLoadBalancers relates them to a task definition). */
export function readLoadBalancers(input: Record<string, unknown>): LoadBalancer[] | undefined {
  const list = optionalArray(input, 'loadBalancers');
  if (list === undefined) return undefined;
  if (list.length > MAX_LOAD_BALANCERS) throw invalid(`A service can have at most ${MAX_LOAD_BALANCERS} load balancers (target groups); got ${list.length}.`);
  return objectsOf(list, 'loadBalancers').map(({ item, path }) => {
    const targetGroupArn = optionalString(item, 'targetGroupArn', { path: `${path}.targetGroupArn` }) || undefined;
    const loadBalancerName = optionalString(item, 'loadBalancerName', { path: `${path}.loadBalancerName` }) || undefined;
    if (targetGroupArn === undefined && loadBalancerName === undefined) throw invalid(`${path} requires a targetGroupArn or a loadBalancerName.`);
    if (targetGroupArn !== undefined && loadBalancerName !== undefined) throw invalid(`${path} takes a targetGroupArn or a loadBalancerName, not both.`);
    if (targetGroupArn !== undefined && !TARGET_GROUP_ARN.test(targetGroupArn)) throw invalid(`${path}.targetGroupArn '${targetGroupArn}' is not a target group ARN.`);
    const containerName = optionalString(item, 'containerName', { path: `${path}.containerName` });
    const containerPort = optionalInt(item, 'containerPort', { min: 0, max: 65535, path: `${path}.containerPort` });
    if (containerName === undefined || containerName === '' || containerPort === undefined) {
      throw invalid(`${path} requires a containerName and a containerPort.`);
    }
    const adv = optionalObject(item, 'advancedConfiguration', `${path}.advancedConfiguration`);
    let advancedConfiguration: AdvancedConfiguration | undefined;
    if (adv !== undefined) {
      const p = `${path}.advancedConfiguration`;
      const read = (f: keyof AdvancedConfiguration) => optionalString(adv, f, { path: `${p}.${f}` }) || undefined;
      advancedConfiguration = Object.fromEntries(
        (['alternateTargetGroupArn', 'productionListenerRule', 'testListenerRule', 'roleArn'] as const).flatMap((f) => {
          const v = read(f);
          return v === undefined ? [] : [[f, v]];
        }),
      );
      if (advancedConfiguration.alternateTargetGroupArn === undefined) throw invalid(`${p}.alternateTargetGroupArn is required.`);
    }
    return {
      ...(targetGroupArn === undefined ? {} : { targetGroupArn }),
      ...(loadBalancerName === undefined ? {} : { loadBalancerName }),
      containerName,
      containerPort,
      ...(advancedConfiguration === undefined ? {} : { advancedConfiguration }),
    };
  });
}

/**
 * Relates load balancers to the task definition and its network mode: each names a container and
 * port of the task definition, and Classic Load Balancers do not work with awsvpc.
 */
export function checkLoadBalancers(lbs: readonly LoadBalancer[], td: Pick<TaskDefinition, 'containerDefinitions'>, networkMode: string): void {
  for (const lb of lbs) {
    if (lb.loadBalancerName !== undefined && networkMode === 'awsvpc') {
      throw invalid('Classic Load Balancers are not supported with the awsvpc network mode; use a target group (targetGroupArn).');
    }
    checkContainerPort(td, lb.containerName!, lb.containerPort!);
  }
}

/** Reads `serviceRegistries` (ECS supports one per service). */
export function readServiceRegistries(input: Record<string, unknown>): ServiceRegistry[] | undefined {
  const list = optionalArray(input, 'serviceRegistries');
  if (list === undefined) return undefined;
  if (list.length > 1) throw invalid('Multiple service registries for each service isn\'t supported.');
  return objectsOf(list, 'serviceRegistries').map(({ item, path }) => {
    const registryArn = optionalString(item, 'registryArn', { path: `${path}.registryArn` });
    if (registryArn === undefined || registryArn === '') throw invalid(`${path}.registryArn is required.`);
    if (!/^arn:aws[a-z-]*:servicediscovery:/.test(registryArn)) throw invalid(`${path}.registryArn '${registryArn}' is not a Cloud Map service ARN.`);
    const port = optionalInt(item, 'port', { min: 0, max: 65535, path: `${path}.port` });
    const containerName = optionalString(item, 'containerName', { path: `${path}.containerName` }) || undefined;
    const containerPort = optionalInt(item, 'containerPort', { min: 0, max: 65535, path: `${path}.containerPort` });
    if (containerPort !== undefined && containerName === undefined) throw invalid(`${path}.containerPort requires a containerName.`);
    return {
      registryArn,
      ...(port === undefined ? {} : { port }),
      ...(containerName === undefined ? {} : { containerName }),
      ...(containerPort === undefined ? {} : { containerPort }),
    };
  });
}

/** A service registry naming a container must name one of the task definition's. */
export function checkServiceRegistries(regs: readonly ServiceRegistry[], td: Pick<TaskDefinition, 'containerDefinitions'>): void {
  for (const r of regs) {
    if (r.containerName === undefined) continue;
    if (r.containerPort === undefined) {
      if (!td.containerDefinitions.some((c) => c.name === r.containerName)) throw invalid(`The container ${r.containerName} does not exist in the task definition.`);
    } else {
      checkContainerPort(td, r.containerName, r.containerPort);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Deployments and events.

/** A deployment id as ECS writes it: `ecs-svc/` and 19 digits. */
export function newDeploymentId(): string {
  let digits = String(randomInt(1, 10));
  while (digits.length < 19) digits += String(randomInt(0, 10));
  return `ecs-svc/${digits}`;
}

/** What a deployment starts from: the service's settings at the moment it is created. */
export interface DeploymentSource {
  readonly taskDefinition?: string;
  readonly desiredCount: number;
  readonly launchType?: LaunchType;
  readonly capacityProviderStrategy?: readonly CapacityProviderStrategyItem[];
  /** Fargate only: the platform version the tasks run on (resolved). */
  readonly platformVersion?: string;
  readonly platformFamily?: string;
  readonly networkConfiguration?: NetworkConfiguration;
  readonly serviceConnectConfiguration?: unknown;
  readonly vpcLatticeConfigurations?: readonly unknown[];
  /** rolloutState is reported for the ECS controller, except behind a Classic Load Balancer. */
  readonly reportsRollout: boolean;
}

/** A new PRIMARY deployment, IN_PROGRESS, with no tasks yet. */
export function newDeployment(id: string, src: DeploymentSource, now: number): Deployment {
  return {
    id,
    status: 'PRIMARY',
    ...(src.taskDefinition === undefined ? {} : { taskDefinition: src.taskDefinition }),
    desiredCount: src.desiredCount,
    pendingCount: 0,
    runningCount: 0,
    failedTasks: 0,
    createdAt: now,
    updatedAt: now,
    ...(src.capacityProviderStrategy === undefined ? {} : { capacityProviderStrategy: src.capacityProviderStrategy }),
    ...(src.launchType === undefined ? {} : { launchType: src.launchType }),
    ...(src.platformVersion === undefined ? {} : { platformVersion: src.platformVersion }),
    ...(src.platformFamily === undefined ? {} : { platformFamily: src.platformFamily }),
    ...(src.networkConfiguration === undefined ? {} : { networkConfiguration: src.networkConfiguration }),
    ...(src.reportsRollout ? { rolloutState: 'IN_PROGRESS' as const, rolloutStateReason: `ECS deployment ${id} in progress.` } : {}),
    ...(src.serviceConnectConfiguration === undefined ? {} : { serviceConnectConfiguration: src.serviceConnectConfiguration }),
    ...(src.vpcLatticeConfigurations === undefined ? {} : { vpcLatticeConfigurations: src.vpcLatticeConfigurations }),
  };
}

/**
 * The deployments after a new one starts: it becomes PRIMARY and every earlier PRIMARY becomes
 * ACTIVE (its tasks drain as the service controller rolls the new one out).
 */
export function startDeployment(deployments: readonly Deployment[], next: Deployment, now: number): Deployment[] {
  return [next, ...deployments.map((d) => (d.status === 'PRIMARY' ? { ...d, status: 'ACTIVE' as const, updatedAt: now } : d))];
}

/** ECS keeps the newest 100 events of a service, newest first. */
export const MAX_SERVICE_EVENTS = 100;

/** A service event in ECS's words, e.g. `(service web) has reached a steady state.` — for the service controller. */
export function serviceEvent(id: string, serviceName: string, text: string, now: number): ServiceEvent {
  return { id, createdAt: now, message: `(service ${serviceName}) ${text}` };
}

export function addEvent(events: readonly ServiceEvent[], event: ServiceEvent): ServiceEvent[] {
  return [event, ...events].slice(0, MAX_SERVICE_EVENTS);
}

/**
 * What makes two service definitions the same for CreateService's idempotency: everything the
 * caller chose, nothing ECS or the controller fills in (ids, times, counts, events, status).
 */
export function serviceDefinitionOf(s: Service): unknown {
  return {
    taskDefinition: s.taskDefinition,
    desiredCount: s.desiredCount,
    launchType: s.launchType,
    capacityProviderStrategy: s.capacityProviderStrategy,
    platformVersion: s.platformVersion,
    loadBalancers: s.loadBalancers,
    serviceRegistries: s.serviceRegistries,
    deploymentConfiguration: s.deploymentConfiguration,
    placementConstraints: s.placementConstraints,
    placementStrategy: s.placementStrategy,
    networkConfiguration: s.networkConfiguration,
    healthCheckGracePeriodSeconds: s.healthCheckGracePeriodSeconds,
    schedulingStrategy: s.schedulingStrategy,
    deploymentController: s.deploymentController,
    roleArn: s.roleArn,
    enableECSManagedTags: s.enableECSManagedTags,
    propagateTags: s.propagateTags,
    enableExecuteCommand: s.enableExecuteCommand,
    availabilityZoneRebalancing: s.availabilityZoneRebalancing,
  };
}
