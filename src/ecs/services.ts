/**
 * The ECS service API: CreateService, UpdateService, DeleteService, DescribeServices, ListServices.
 * These validate and store the service definition and its deployments exactly as ECS returns them.
 * Keeping desiredCount tasks running, rolling deployments forward (counts, rolloutState, events)
 * and finishing a DRAINING service is the service controller's job, a later issue; this module
 * never starts or stops a task.
 */
import type { Operation, RequestContext } from '../protocols/index.js';
import { BerthError } from '../protocols/index.js';
import { targetGroupUsage } from '../lb/index.js';
import type { Compare, Op, Store } from '../store/index.js';
import { idOf, parseEcsArn, serviceArn as serviceArnOf } from './arn.js';
import { canonicalJson, claimClientToken, fingerprintOf } from './idempotency.js';
import type { EcsDeps } from './index.js';
import {
  decodeNextToken,
  encodeNextToken,
  invalid,
  objectsOf,
  optionalArray,
  optionalBool,
  optionalEnum,
  optionalInt,
  optionalObject,
  optionalString,
  optionalStringArray,
  requiredString,
} from './input.js';
import { keys } from './keys.js';
import {
  checkCompatibility,
  checkTaskDefinitionRunnable,
  LAUNCH_TYPES,
  PROPAGATE_TAGS,
  readClientToken,
  readLaunchRequest,
  readPlatformVersion,
  resolveLaunch,
  resolvePlatformVersion,
  type Launch,
} from './launch-input.js';
import { checkNetworkConfiguration, readNetworkConfiguration, type NetworkConfiguration } from './network-configuration.js';
import { checkPlacementForLaunchType, readPlacementConstraints, readPlacementStrategy } from './placement-input.js';
import { listJson, readJson } from './repo.js';
import {
  checkLoadBalancers,
  checkServiceRegistries,
  MAX_HEALTH_CHECK_GRACE_PERIOD,
  MSG_GRACE_PERIOD_NEEDS_LB,
  MSG_ROLE_WITH_SERVICE_LINKED,
  newDeployment,
  newDeploymentId,
  readDeploymentConfiguration,
  readDeploymentController,
  readLoadBalancers,
  readServiceName,
  readServiceRegistries,
  roleArnFor,
  SCHEDULING_STRATEGIES,
  serviceDefinitionOf,
  startDeployment,
  type DeploymentConfiguration,
  type DeploymentControllerType,
  type LoadBalancer,
  type SchedulingStrategy,
  type Service,
} from './service-shape.js';
import { readTags } from './tags.js';
import { resolveTaskDefinition } from './task-definitions.js';
import { effectiveNetworkMode } from './task-definition-rules.js';
import type { TaskDefinition } from './task-definition-types.js';
import { epochSeconds } from './task-shape.js';
import { partitionOf, requireCluster, scanTaskIndex, type ClusterView, type Failure } from './tasks.js';

const serviceNotFound = (): BerthError => new BerthError('ServiceNotFoundException', 'Service not found.');
const MAX_ATTEMPTS = 20;
const tooManyConflicts = (name: string): BerthError => new BerthError('ServerException', `Too many concurrent changes to service ${name}; try again.`);

// ---------------------------------------------------------------------------------------------
// Members CreateService and UpdateService share.

/** `serviceConnectConfiguration`: kept on the deployment as given, after its one required member. */
function readServiceConnect(input: Record<string, unknown>): Record<string, unknown> | undefined {
  const sc = optionalObject(input, 'serviceConnectConfiguration');
  if (sc === undefined) return undefined;
  if (optionalBool(sc, 'enabled', 'serviceConnectConfiguration.enabled') === undefined) throw invalid('serviceConnectConfiguration.enabled is required.');
  optionalString(sc, 'namespace', { path: 'serviceConnectConfiguration.namespace' });
  optionalArray(sc, 'services', { path: 'serviceConnectConfiguration.services' });
  return sc;
}

function readVpcLattice(input: Record<string, unknown>): Array<Record<string, unknown>> | undefined {
  const list = optionalArray(input, 'vpcLatticeConfigurations');
  if (list === undefined) return undefined;
  return objectsOf(list, 'vpcLatticeConfigurations').map(({ item, path }) => {
    for (const f of ['roleArn', 'targetGroupArn', 'portName']) {
      const v = optionalString(item, f, { path: `${path}.${f}` });
      if (v === undefined || v === '') throw invalid(`${path}.${f} is required.`);
    }
    return item;
  });
}

function refuseVolumeConfigurations(input: Record<string, unknown>): void {
  const volumes = optionalArray(input, 'volumeConfigurations');
  if (volumes !== undefined && volumes.length > 0) {
    throw new BerthError('UnsupportedFeatureException', 'volumeConfigurations (Amazon EBS volumes configured at launch) are not supported.');
  }
}

function readGracePeriod(input: Record<string, unknown>): number | undefined {
  return optionalInt(input, 'healthCheckGracePeriodSeconds', { min: 0, max: MAX_HEALTH_CHECK_GRACE_PERIOD });
}

/** BLUE_GREEN, LINEAR and CANARY shift traffic between target groups (or Service Connect). */
function checkStrategyNeedsTraffic(cfg: DeploymentConfiguration, lbs: readonly LoadBalancer[], serviceConnect: unknown): void {
  const strategy = cfg.strategy;
  if (strategy === undefined || strategy === 'ROLLING') return;
  const sc = serviceConnect as { enabled?: boolean } | undefined;
  if (sc?.enabled === true) return;
  if (lbs.length === 0 || lbs.some((lb) => lb.advancedConfiguration === undefined)) {
    throw invalid(
      `The ${strategy} deployment strategy requires load balancers with an advancedConfiguration (alternateTargetGroupArn) or Service Connect.`,
    );
  }
}

/** Platform family of a Fargate service's tasks. */
const platformFamilyOf = (td: TaskDefinition | undefined): string => {
  const os = td?.runtimePlatform?.operatingSystemFamily;
  return os === undefined || os === 'LINUX' ? 'Linux' : os;
};

/** Tasks the service still has that are meant to run (desiredStatus RUNNING, group service:<name>). */
async function hasLiveTasks(store: Store, cluster: string, serviceName: string): Promise<boolean> {
  const { ids } = await scanTaskIndex(store, cluster, 'RUNNING', { group: `service:${serviceName}` }, 1);
  return ids.length > 0;
}

// ---------------------------------------------------------------------------------------------
// CreateService.

async function createService(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const serviceName = readServiceName(input);
  const p = partitionOf(ctx);
  const token = readClientToken(input, 36);
  const controller: DeploymentControllerType = readDeploymentController(input) ?? 'ECS';
  const schedulingStrategy: SchedulingStrategy = optionalEnum(input, 'schedulingStrategy', SCHEDULING_STRATEGIES) ?? 'REPLICA';
  const daemon = schedulingStrategy === 'DAEMON';
  if (daemon && controller !== 'ECS') throw invalid(`The DAEMON scheduling strategy is not supported with the ${controller} deployment controller.`);

  const launchRequest = readLaunchRequest(input);
  const launch = resolveLaunch(launchRequest, cluster);
  if (daemon && launch.launchType === 'FARGATE') throw invalid('The DAEMON scheduling strategy is not supported for tasks using the FARGATE launch type.');

  const tdRef = optionalString(input, 'taskDefinition');
  if ((tdRef === undefined || tdRef === '') && controller !== 'EXTERNAL') {
    throw invalid('A task definition must be specified for services that use the ECS or CODE_DEPLOY deployment controller.');
  }
  const td = tdRef ? await resolveTaskDefinition(store, tdRef, p) : undefined;
  if (td !== undefined) checkTaskDefinitionRunnable(td, launch.launchType);

  let desiredCount = optionalInt(input, 'desiredCount', { min: 0 });
  if (daemon) {
    if ((desiredCount ?? 0) > 0) throw invalid('The DAEMON scheduling strategy does not support a desired count for services.');
    desiredCount = 0;
  } else if (desiredCount === undefined) {
    throw invalid('desiredCount is required for services using the REPLICA scheduling strategy.');
  }

  const platformVersion = readPlatformVersion(input, launch.launchType);
  const networkMode = td === undefined ? undefined : effectiveNetworkMode(td);
  const ncIn = readNetworkConfiguration(input);
  const vpc = networkMode === undefined ? ncIn?.awsvpcConfiguration : checkNetworkConfiguration(networkMode, ncIn, launch.launchType);
  const networkConfiguration: NetworkConfiguration | undefined = vpc === undefined ? undefined : { awsvpcConfiguration: vpc };

  const loadBalancers = readLoadBalancers(input) ?? [];
  if (td !== undefined) checkLoadBalancers(loadBalancers, td, networkMode!);
  if (controller === 'CODE_DEPLOY' && loadBalancers.length === 0) {
    throw invalid('A service using the CODE_DEPLOY deployment controller requires a load balancer.');
  }
  const serviceRegistries = readServiceRegistries(input) ?? [];
  if (td !== undefined) checkServiceRegistries(serviceRegistries, td);

  const role = optionalString(input, 'role');
  if (role) {
    if (loadBalancers.length === 0) throw invalid('The role parameter is only valid for a service that uses a load balancer.');
    if (networkMode === 'awsvpc') throw invalid(MSG_ROLE_WITH_SERVICE_LINKED);
  }
  const healthCheckGracePeriodSeconds = readGracePeriod(input);
  if (healthCheckGracePeriodSeconds !== undefined && loadBalancers.length === 0) throw invalid(MSG_GRACE_PERIOD_NEEDS_LB);

  const deploymentConfiguration = readDeploymentConfiguration(input, { schedulingStrategy, controller, launchType: launch.launchType });
  const serviceConnectConfiguration = readServiceConnect(input);
  checkStrategyNeedsTraffic(deploymentConfiguration, loadBalancers, serviceConnectConfiguration);
  const vpcLatticeConfigurations = readVpcLattice(input);
  refuseVolumeConfigurations(input);
  if (networkMode !== undefined) await checkTargetGroups(store, loadBalancers, networkMode);

  const placementConstraints = readPlacementConstraints(input, td?.placementConstraints.length ?? 0) ?? [];
  const placementStrategy = readPlacementStrategy(input) ?? [];
  if (daemon && placementStrategy.length > 0) throw invalid('Placement strategies are not supported with the DAEMON scheduling strategy.');
  checkPlacementForLaunchType(launch.launchType, placementConstraints, placementStrategy);

  const rebalancingIn = optionalEnum(input, 'availabilityZoneRebalancing', ['ENABLED', 'DISABLED'] as const);
  if (rebalancingIn === 'ENABLED' && (daemon || deploymentConfiguration.maximumPercent <= 100)) {
    throw invalid('Availability Zone rebalancing requires the REPLICA scheduling strategy and a maximumPercent greater than 100.');
  }
  const availabilityZoneRebalancing = rebalancingIn ?? (!daemon && deploymentConfiguration.maximumPercent > 100 ? 'ENABLED' : 'DISABLED');

  const tags = readTags(input);
  const propagateTags = optionalEnum(input, 'propagateTags', PROPAGATE_TAGS) ?? 'NONE';
  const enableECSManagedTags = optionalBool(input, 'enableECSManagedTags') ?? false;
  const enableExecuteCommand = optionalBool(input, 'enableExecuteCommand') ?? false;

  const now = epochSeconds(ctx.now);
  const fargate = launch.launchType === 'FARGATE';
  const launchFields = launchFieldsOf(launchRequest.launchType === undefined && controller === 'EXTERNAL' ? undefined : launch);
  const deployments =
    controller === 'ECS'
      ? [
          newDeployment(
            newDeploymentId(),
            {
              ...(td === undefined ? {} : { taskDefinition: td.taskDefinitionArn }),
              desiredCount,
              ...launchFields,
              ...(fargate ? { platformVersion: resolvePlatformVersion(platformVersion), platformFamily: platformFamilyOf(td) } : {}),
              ...(networkConfiguration === undefined ? {} : { networkConfiguration }),
              ...(serviceConnectConfiguration === undefined ? {} : { serviceConnectConfiguration }),
              ...(vpcLatticeConfigurations === undefined ? {} : { vpcLatticeConfigurations }),
              reportsRollout: !loadBalancers.some((lb) => lb.loadBalancerName !== undefined),
            },
            now,
          ),
        ]
      : [];
  const service: Service = {
    serviceArn: serviceArnOf(p, cluster.clusterName, serviceName),
    serviceName,
    clusterArn: cluster.clusterArn,
    loadBalancers,
    serviceRegistries,
    status: 'ACTIVE',
    desiredCount,
    runningCount: 0,
    pendingCount: 0,
    ...launchFields,
    ...(fargate ? { platformVersion: platformVersion ?? 'LATEST', platformFamily: platformFamilyOf(td) } : {}),
    ...(td === undefined ? {} : { taskDefinition: td.taskDefinitionArn }),
    deploymentConfiguration,
    ...(controller === 'ECS' ? {} : { taskSets: [] }),
    deployments,
    roleArn: roleArnFor(role, p.accountId),
    events: [],
    createdAt: now,
    placementConstraints,
    placementStrategy,
    ...(networkConfiguration === undefined ? {} : { networkConfiguration }),
    ...(healthCheckGracePeriodSeconds === undefined ? {} : { healthCheckGracePeriodSeconds }),
    schedulingStrategy,
    deploymentController: { type: controller },
    tags,
    createdBy: `arn:aws:iam::${p.accountId}:root`,
    enableECSManagedTags,
    propagateTags,
    enableExecuteCommand,
    availabilityZoneRebalancing,
  };

  const key = keys.service(cluster.clusterName, serviceName);
  const fingerprint = fingerprintOf(input);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const claim = token === undefined ? undefined : await claimClientToken<string>(store, 'CreateService', token, fingerprint, ctx.now);
    if (claim?.kind === 'replay') {
      if (claim.record.fingerprint !== fingerprint) throw invalid('The clientToken was already used with a different CreateService request.');
      const existing = await readServiceByArn(store, claim.record.result);
      if (existing !== undefined) return { service: existing };
    }
    const cur = await readJson<Service>(store, key);
    if (cur !== undefined && cur.value.status !== 'INACTIVE') {
      // ECS: re-creating an ACTIVE service with the same definition returns it; anything else is a conflict.
      const same = cur.value.status === 'ACTIVE' && canonicalJson(serviceDefinitionOf(cur.value)) === canonicalJson(serviceDefinitionOf(service));
      if (same) return { service: cur.value };
      throw invalid('Creation of service was not idempotent.');
    }
    const compares: Compare[] = [{ key, target: 'mod', op: '=', value: cur?.modRevision ?? 0 }];
    const ops: Op[] = [{ type: 'put', key, value: JSON.stringify(service) }];
    if (claim?.kind === 'fresh') {
      compares.push(claim.guard);
      ops.push(claim.put(service.serviceArn));
    }
    if ((await store.txn(compares, ops)).succeeded) return { service };
  }
  throw tooManyConflicts(serviceName);
}

/** launchType, or capacityProviderStrategy, as a service and its deployments show them. */
function launchFieldsOf(launch: Launch | undefined): Pick<Service, 'launchType' | 'capacityProviderStrategy'> {
  if (launch === undefined) return {};
  return launch.capacityProviderStrategy === undefined ? { launchType: launch.launchType } : { capacityProviderStrategy: launch.capacityProviderStrategy };
}

async function readServiceByArn(store: Store, arn: string): Promise<Service | undefined> {
  const parsed = parseEcsArn(arn);
  const parts = parsed?.resource.split('/') ?? [];
  if (parts.length !== 2) return undefined;
  return (await readJson<Service>(store, keys.service(parts[0]!, parts[1]!)))?.value;
}

// ---------------------------------------------------------------------------------------------
// UpdateService.

const codeDeployRefusal = (what: string): BerthError =>
  invalid(`Unable to update ${what} on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.`);
const externalRefusal = (what: string): BerthError =>
  invalid(`Unable to update ${what} on services with an EXTERNAL deployment controller. Use a task set (CreateTaskSet) instead.`);

/** The launch a service's tasks use now. */
function currentLaunch(s: Service): Launch {
  if (s.capacityProviderStrategy !== undefined) {
    const fargate = s.capacityProviderStrategy.some((c) => c.capacityProvider === 'FARGATE' || c.capacityProvider === 'FARGATE_SPOT');
    return { launchType: fargate ? 'FARGATE' : 'EC2', capacityProviderStrategy: s.capacityProviderStrategy };
  }
  return { launchType: (s.launchType ?? 'EC2') as Launch['launchType'] };
}

/**
 * The service after an UpdateService request, with a new PRIMARY deployment when something that
 * ECS deploys changed (task definition, network, platform version, load balancers, service
 * registries, capacity provider strategy, Service Connect, VPC Lattice) or forceNewDeployment.
 */
function updatedService(
  cur: Service,
  input: Record<string, unknown>,
  cluster: ClusterView,
  newTd: TaskDefinition | undefined,
  currentTd: TaskDefinition | undefined,
  now: number,
): Service {
  const controller = cur.deploymentController.type;
  const daemon = cur.schedulingStrategy === 'DAEMON';
  const refuse = controller === 'CODE_DEPLOY' ? codeDeployRefusal : controller === 'EXTERNAL' ? externalRefusal : undefined;

  const requestedController = readDeploymentController(input);
  if (requestedController !== undefined && requestedController !== controller) {
    throw invalid(`Changing the deployment controller of a service (${controller} to ${requestedController}) is not supported.`);
  }

  const desiredCountIn = optionalInt(input, 'desiredCount', { min: 0 });
  if (daemon && (desiredCountIn ?? 0) > 0) throw invalid('The DAEMON scheduling strategy does not support a desired count for services.');
  const desiredCount = daemon ? cur.desiredCount : (desiredCountIn ?? cur.desiredCount);

  const strategyList = optionalArray(input, 'capacityProviderStrategy');
  const launchChanged = strategyList !== undefined && strategyList.length > 0;
  const launch = launchChanged ? resolveLaunch(readLaunchRequest({ capacityProviderStrategy: strategyList }), cluster) : currentLaunch(cur);
  if (daemon && launch.launchType === 'FARGATE') throw invalid('The DAEMON scheduling strategy is not supported for tasks using the FARGATE launch type.');

  if (newTd !== undefined) {
    if (refuse) throw refuse('task definition');
    checkTaskDefinitionRunnable(newTd, launch.launchType);
  }
  const td = newTd ?? currentTd;
  if (launchChanged && td !== undefined) checkCompatibility(td, launch.launchType);
  const networkMode = td === undefined ? undefined : effectiveNetworkMode(td);

  const deploymentConfiguration = readDeploymentConfiguration(input, {
    schedulingStrategy: cur.schedulingStrategy,
    controller,
    launchType: launch.launchType,
    current: cur.deploymentConfiguration,
  });

  const ncIn = readNetworkConfiguration(input);
  if (ncIn !== undefined && refuse) throw refuse('network parameters');
  let networkConfiguration = cur.networkConfiguration;
  if (ncIn !== undefined || newTd !== undefined || launchChanged) {
    const candidate = ncIn ?? cur.networkConfiguration;
    const vpc = networkMode === undefined ? candidate?.awsvpcConfiguration : checkNetworkConfiguration(networkMode, candidate, launch.launchType);
    networkConfiguration = vpc === undefined ? undefined : { awsvpcConfiguration: vpc };
  }

  const platformIn = readPlatformVersion(input, launch.launchType);
  if (platformIn !== undefined && refuse) throw refuse('platform version');
  const fargate = launch.launchType === 'FARGATE';
  const platformVersion = fargate ? (platformIn ?? cur.platformVersion ?? 'LATEST') : undefined;

  const lbsIn = readLoadBalancers(input);
  if (lbsIn !== undefined && refuse) throw refuse('load balancers');
  const loadBalancers = lbsIn ?? cur.loadBalancers;
  if (td !== undefined && (lbsIn !== undefined || newTd !== undefined)) checkLoadBalancers(loadBalancers, td, networkMode!);
  const regsIn = readServiceRegistries(input);
  const serviceRegistries = regsIn ?? cur.serviceRegistries;
  if (td !== undefined && (regsIn !== undefined || newTd !== undefined)) checkServiceRegistries(serviceRegistries, td);

  const graceIn = readGracePeriod(input);
  const healthCheckGracePeriodSeconds = graceIn ?? cur.healthCheckGracePeriodSeconds;
  if (graceIn !== undefined && loadBalancers.length === 0) throw invalid(MSG_GRACE_PERIOD_NEEDS_LB);

  const placementConstraints = readPlacementConstraints(input, td?.placementConstraints.length ?? 0) ?? cur.placementConstraints;
  const placementStrategy = readPlacementStrategy(input) ?? cur.placementStrategy;
  if (daemon && placementStrategy.length > 0) throw invalid('Placement strategies are not supported with the DAEMON scheduling strategy.');
  checkPlacementForLaunchType(launch.launchType, placementConstraints, placementStrategy);

  const serviceConnectConfiguration = readServiceConnect(input);
  checkStrategyNeedsTraffic(deploymentConfiguration, loadBalancers, serviceConnectConfiguration ?? cur.deployments.find((d) => d.status === 'PRIMARY')?.serviceConnectConfiguration);
  const vpcLatticeConfigurations = readVpcLattice(input);
  refuseVolumeConfigurations(input);
  const forceNewDeployment = optionalBool(input, 'forceNewDeployment') ?? false;
  if (forceNewDeployment && refuse) throw refuse('deployments (forceNewDeployment)');

  const rebalancingIn = optionalEnum(input, 'availabilityZoneRebalancing', ['ENABLED', 'DISABLED'] as const);
  if (rebalancingIn === 'ENABLED' && (daemon || deploymentConfiguration.maximumPercent <= 100)) {
    throw invalid('Availability Zone rebalancing requires the REPLICA scheduling strategy and a maximumPercent greater than 100.');
  }

  const launchFields = launchChanged ? launchFieldsOf(launch) : { ...(cur.launchType === undefined ? {} : { launchType: cur.launchType }), ...(cur.capacityProviderStrategy === undefined ? {} : { capacityProviderStrategy: cur.capacityProviderStrategy }) };
  const primary = cur.deployments.find((d) => d.status === 'PRIMARY');
  const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b);
  const redeploy =
    controller === 'ECS' &&
    (forceNewDeployment ||
      (newTd !== undefined && newTd.taskDefinitionArn !== cur.taskDefinition) ||
      !same(networkConfiguration, cur.networkConfiguration) ||
      (platformIn !== undefined && platformIn !== cur.platformVersion) ||
      (lbsIn !== undefined && !same(lbsIn, cur.loadBalancers)) ||
      (regsIn !== undefined && !same(regsIn, cur.serviceRegistries)) ||
      (launchChanged && !same(launch.capacityProviderStrategy, cur.capacityProviderStrategy)) ||
      (serviceConnectConfiguration !== undefined && !same(serviceConnectConfiguration, primary?.serviceConnectConfiguration)) ||
      (vpcLatticeConfigurations !== undefined && !same(vpcLatticeConfigurations, primary?.vpcLatticeConfigurations)));

  const taskDefinition = newTd?.taskDefinitionArn ?? cur.taskDefinition;
  let deployments = cur.deployments.map((d) => (d.status === 'PRIMARY' && d.desiredCount !== desiredCount ? { ...d, desiredCount, updatedAt: now } : d));
  if (redeploy) {
    const next = newDeployment(
      newDeploymentId(),
      {
        ...(taskDefinition === undefined ? {} : { taskDefinition }),
        desiredCount,
        ...launchFields,
        ...(fargate ? { platformVersion: resolvePlatformVersion(platformVersion), platformFamily: platformFamilyOf(td) } : {}),
        ...(networkConfiguration === undefined ? {} : { networkConfiguration }),
        ...((serviceConnectConfiguration ?? primary?.serviceConnectConfiguration) === undefined
          ? {}
          : { serviceConnectConfiguration: serviceConnectConfiguration ?? primary?.serviceConnectConfiguration }),
        ...((vpcLatticeConfigurations ?? primary?.vpcLatticeConfigurations) === undefined
          ? {}
          : { vpcLatticeConfigurations: vpcLatticeConfigurations ?? primary?.vpcLatticeConfigurations }),
        reportsRollout: !loadBalancers.some((lb) => lb.loadBalancerName !== undefined),
      },
      now,
    );
    deployments = startDeployment(deployments, next, now);
  }

  const {
    launchType: _lt,
    capacityProviderStrategy: _cps,
    platformVersion: _pv,
    platformFamily: _pf,
    networkConfiguration: _nc,
    healthCheckGracePeriodSeconds: _hc,
    taskDefinition: _td,
    ...rest
  } = cur;
  return {
    ...rest,
    desiredCount,
    ...launchFields,
    ...(platformVersion === undefined ? {} : { platformVersion, platformFamily: platformFamilyOf(td) }),
    ...(taskDefinition === undefined ? {} : { taskDefinition }),
    deploymentConfiguration,
    deployments,
    loadBalancers,
    serviceRegistries,
    placementConstraints,
    placementStrategy,
    ...(networkConfiguration === undefined ? {} : { networkConfiguration }),
    ...(healthCheckGracePeriodSeconds === undefined ? {} : { healthCheckGracePeriodSeconds }),
    enableExecuteCommand: optionalBool(input, 'enableExecuteCommand') ?? cur.enableExecuteCommand,
    enableECSManagedTags: optionalBool(input, 'enableECSManagedTags') ?? cur.enableECSManagedTags,
    propagateTags: optionalEnum(input, 'propagateTags', PROPAGATE_TAGS) ?? cur.propagateTags,
    availabilityZoneRebalancing: rebalancingIn ?? cur.availabilityZoneRebalancing,
  };
}

async function updateService(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const name = idOf(requiredString(input, 'service'), 'service', cluster.clusterName, 'service');
  const key = keys.service(cluster.clusterName, name);
  const p = partitionOf(ctx);
  const tdRef = optionalString(input, 'taskDefinition');
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const cur = await readJson<Service>(store, key);
    if (cur === undefined) throw serviceNotFound();
    if (cur.value.status !== 'ACTIVE') throw new BerthError('ServiceNotActiveException', 'Service was not ACTIVE.');
    const newTd = tdRef ? await resolveTaskDefinition(store, tdRef, p) : undefined;
    const currentTd = newTd === undefined && cur.value.taskDefinition !== undefined ? await readTaskDefinitionArn(store, cur.value.taskDefinition, p) : undefined;
    const next = updatedService(cur.value, input, cluster, newTd, currentTd, epochSeconds(ctx.now));
    const td = newTd ?? currentTd;
    if (td !== undefined && (input['loadBalancers'] !== undefined || newTd !== undefined)) await checkTargetGroups(store, next.loadBalancers, effectiveNetworkMode(td));
    const res = await store.txn([{ key, target: 'mod', op: '=', value: cur.modRevision }], [{ type: 'put', key, value: JSON.stringify(next) }]);
    if (res.succeeded) return { service: next };
  }
  throw tooManyConflicts(name);
}

/** A task definition a service already uses, even if it has since been deregistered. */
async function readTaskDefinitionArn(store: Store, arn: string, p: ReturnType<typeof partitionOf>): Promise<TaskDefinition | undefined> {
  try {
    return await resolveTaskDefinition(store, arn, p);
  } catch (err) {
    // Deleted since the service started using it: the update is then checked without it.
    if (err instanceof BerthError && err.code === 'ClientException') return undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// DeleteService.

async function deleteService(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const name = idOf(requiredString(input, 'service'), 'service', cluster.clusterName, 'service');
  const force = optionalBool(input, 'force') ?? false;
  const key = keys.service(cluster.clusterName, name);
  const now = epochSeconds(ctx.now);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const cur = await readJson<Service>(store, key);
    if (cur === undefined || cur.value.status === 'INACTIVE') throw serviceNotFound();
    if (cur.value.status === 'DRAINING') return { service: cur.value };
    if (cur.value.schedulingStrategy === 'REPLICA' && cur.value.desiredCount > 0 && !force) {
      throw invalid('The service cannot be stopped while it is scaled above 0.');
    }
    // DRAINING while tasks still run; the service controller makes it INACTIVE once they stopped.
    const live = await hasLiveTasks(store, cluster.clusterName, name);
    const next: Service = {
      ...cur.value,
      status: live ? 'DRAINING' : 'INACTIVE',
      desiredCount: 0,
      deployments: cur.value.deployments.map((d) => (d.status === 'PRIMARY' ? { ...d, desiredCount: 0, updatedAt: now } : d)),
    };
    const res = await store.txn([{ key, target: 'mod', op: '=', value: cur.modRevision }], [{ type: 'put', key, value: JSON.stringify(next) }]);
    if (res.succeeded) return { service: next };
  }
  throw tooManyConflicts(name);
}

// ---------------------------------------------------------------------------------------------
// DescribeServices and ListServices.

/** A service name from a name or ARN; undefined when the ARN cannot name a service of this cluster (MISSING). */
function serviceNameFromRef(ref: string, cluster: string): string | undefined {
  if (!ref.startsWith('arn:')) return ref === '' || ref.includes('/') ? undefined : ref;
  const arn = parseEcsArn(ref);
  if (arn?.resourceType !== 'service') return undefined;
  const parts = arn.resource.split('/');
  if (parts.length === 2 && parts[0] !== cluster) return undefined;
  return parts.length <= 2 ? parts[parts.length - 1] : undefined;
}

const withoutTags = (s: Service): Omit<Service, 'tags'> => {
  const { tags: _tags, ...rest } = s;
  return rest;
};

async function describeServices(store: Store, input: Record<string, unknown>, ctx: RequestContext): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const refs = optionalStringArray(input, 'services', { maxItems: 10 });
  if (refs === undefined || refs.length === 0) throw invalid('Services cannot be empty.');
  const include = optionalStringArray(input, 'include') ?? [];
  include.forEach((f, i) => {
    if (f !== 'TAGS') throw invalid(`include[${i}] must be one of TAGS; got '${f}'.`);
  });
  const p = partitionOf(ctx);
  const found = await Promise.all(
    [...new Set(refs)].map(async (ref) => {
      const name = serviceNameFromRef(ref, cluster.clusterName);
      const s = name === undefined ? undefined : await readJson<Service>(store, keys.service(cluster.clusterName, name));
      return { ref, name, service: s?.value };
    }),
  );
  const services = found.flatMap((f) => (f.service === undefined ? [] : [include.includes('TAGS') ? f.service : withoutTags(f.service)]));
  const failures: Failure[] = found
    .filter((f) => f.service === undefined)
    .map((f) => ({ arn: f.ref.startsWith('arn:') || f.name === undefined ? f.ref : serviceArnOf(p, cluster.clusterName, f.name), reason: 'MISSING' }));
  return { services, failures };
}

async function listServices(store: Store, input: Record<string, unknown>): Promise<unknown> {
  const cluster = await requireCluster(store, input);
  const launchType = optionalEnum(input, 'launchType', LAUNCH_TYPES);
  const schedulingStrategy = optionalEnum(input, 'schedulingStrategy', SCHEDULING_STRATEGIES);
  const resourceManagementType = optionalEnum(input, 'resourceManagementType', ['CUSTOMER', 'ECS'] as const);
  const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 100 }) ?? 10;
  const prefix = keys.services(cluster.clusterName);
  const after = decodeNextToken(optionalString(input, 'nextToken'));
  if (after !== undefined && !after.startsWith(prefix)) throw invalid('The nextToken is not valid.');
  // Every Berth service is customer-managed; ECS-managed ones (Express) do not exist here.
  if (resourceManagementType === 'ECS') return { serviceArns: [] };

  const arns: string[] = [];
  let cursor = after;
  for (;;) {
    const page = await listJson<Service>(store, prefix, { limit: 500, ...(cursor === undefined ? {} : { startAfter: cursor }) });
    for (const [i, item] of page.items.entries()) {
      cursor = item.key;
      const s = item.value;
      // ListServices shows ACTIVE services only; DRAINING and INACTIVE ones are for DescribeServices.
      if (s.status !== 'ACTIVE') continue;
      if (launchType !== undefined && currentLaunch(s).launchType !== launchType) continue;
      if (schedulingStrategy !== undefined && s.schedulingStrategy !== schedulingStrategy) continue;
      arns.push(s.serviceArn);
      if (arns.length === maxResults && (i < page.items.length - 1 || page.more)) return { serviceArns: arns, nextToken: encodeNextToken(cursor) };
    }
    if (!page.more) return { serviceArns: arns };
  }
}

// ---------------------------------------------------------------------------------------------

/** The service operations, by ECS operation name. */
export function serviceOperations(deps: EcsDeps): Record<string, Operation> {
  const { store } = deps;
  return {
    CreateService: (input, ctx) => createService(store, input, ctx),
    UpdateService: (input, ctx) => updateService(store, input, ctx),
    DeleteService: (input, ctx) => deleteService(store, input, ctx),
    DescribeServices: (input, ctx) => describeServices(store, input, ctx),
    ListServices: (input) => listServices(store, input),
  };
}

/**
 * ECS's checks of each target group a service names, against the ELBv2 model: it exists, a load
 * balancer forwards to it, and its target type suits the network mode (awsvpc registers task
 * addresses: `ip`; bridge and host register the instance: `instance`).
 */
async function checkTargetGroups(store: Store, lbs: readonly LoadBalancer[], networkMode: string): Promise<void> {
  for (const { targetGroupArn: arn } of lbs) {
    if (arn === undefined) continue;
    const use = await targetGroupUsage(store, arn);
    if (use === undefined) {
      throw invalid('Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions.');
    }
    if (use.loadBalancerArns.length === 0) throw invalid(`The target group with targetGroupArn ${arn} does not have an associated load balancer.`);
    const wanted = networkMode === 'awsvpc' ? 'ip' : 'instance';
    if (use.targetType !== wanted) {
      throw invalid(`The provided target group ${arn} has target type ${use.targetType}, which is incompatible with the ${networkMode} network mode specified in the task definition.`);
    }
  }
}
