/**
 * Request members RunTask, StartTask and CreateService / UpdateService share: where the tasks run
 * (launchType or capacityProviderStrategy, platformVersion), whether the task definition can run
 * there, tag propagation, clientToken and startedBy. Pure: callers pass in what they read.
 */
import type { Compatibility, TaskDefinition } from './task-definition-types.js';
import { invalid, objectsOf, optionalArray, optionalEnum, optionalInt, optionalString } from './input.js';

export const LAUNCH_TYPES = ['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'] as const;
export type LaunchType = (typeof LAUNCH_TYPES)[number];
export const PROPAGATE_TAGS = ['TASK_DEFINITION', 'SERVICE', 'NONE'] as const;
export type PropagateTags = (typeof PROPAGATE_TAGS)[number];

export interface CapacityProviderStrategyItem {
  readonly capacityProvider: string;
  readonly weight?: number;
  readonly base?: number;
}

/** Fargate's own capacity providers, available in every cluster. */
export const FARGATE_PROVIDERS = ['FARGATE', 'FARGATE_SPOT'] as const;
const isFargateProvider = (name: string): boolean => (FARGATE_PROVIDERS as readonly string[]).includes(name);

export const MSG_BOTH_LAUNCH = 'Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.';
export const MSG_PROVIDER_NOT_IN_CLUSTER =
  'The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.';
export const MSG_PROVIDER_MIX =
  'A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again.';
export const MSG_TASK_DEFINITION_INACTIVE = 'TaskDefinition is inactive';

/** Where the tasks of a request run, as the caller asked for it. */
export interface LaunchRequest {
  readonly launchType?: LaunchType;
  readonly capacityProviderStrategy?: readonly CapacityProviderStrategyItem[];
}

/**
 * Reads `launchType` and `capacityProviderStrategy` (mutually exclusive; at most 20 providers, one
 * with a base, weights 0–1000, bases 0–100000). An empty strategy counts as none given.
 */
export function readLaunchRequest(input: Record<string, unknown>): LaunchRequest {
  const launchType = optionalEnum(input, 'launchType', LAUNCH_TYPES);
  const list = optionalArray(input, 'capacityProviderStrategy', { maxItems: 20 });
  const strategy = list === undefined || list.length === 0 ? undefined : readStrategy(list);
  if (launchType !== undefined && strategy !== undefined) throw invalid(MSG_BOTH_LAUNCH);
  if (launchType === 'MANAGED_INSTANCES') {
    throw invalid('To use Amazon ECS Managed Instances, specify a capacityProviderStrategy and omit launchType.');
  }
  return { ...(launchType === undefined ? {} : { launchType }), ...(strategy === undefined ? {} : { capacityProviderStrategy: strategy }) };
}

function readStrategy(list: readonly unknown[]): CapacityProviderStrategyItem[] {
  const items = objectsOf(list, 'capacityProviderStrategy').map(({ item, path }) => {
    const capacityProvider = optionalString(item, 'capacityProvider', { path: `${path}.capacityProvider`, maxLength: 255 });
    if (capacityProvider === undefined || capacityProvider === '') throw invalid(`${path}.capacityProvider is required.`);
    const weight = optionalInt(item, 'weight', { min: 0, max: 1000, path: `${path}.weight` });
    const base = optionalInt(item, 'base', { min: 0, max: 100000, path: `${path}.base` });
    return { capacityProvider, ...(weight === undefined ? {} : { weight }), ...(base === undefined ? {} : { base }) };
  });
  const names = items.map((i) => i.capacityProvider);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw invalid(`Capacity provider ${dup} appears more than once in the capacity provider strategy.`);
  if (items.filter((i) => (i.base ?? 0) > 0).length > 1) {
    throw invalid('Only one capacity provider in a capacity provider strategy can have a base defined.');
  }
  if (items.every((i) => (i.weight ?? 0) === 0) && items.every((i) => (i.base ?? 0) === 0)) {
    throw invalid('At least one capacity provider in a capacity provider strategy must have a weight greater than zero.');
  }
  const fargate = items.filter((i) => isFargateProvider(i.capacityProvider)).length;
  if (fargate > 0 && fargate < items.length) throw invalid(MSG_PROVIDER_MIX);
  return items;
}

/** The parts of a Cluster wire object launch decisions read. */
export interface ClusterLaunchView {
  readonly capacityProviders?: readonly string[];
  readonly defaultCapacityProviderStrategy?: readonly CapacityProviderStrategyItem[];
}

/** Where the tasks of a request actually run, after the cluster's defaults were applied. */
export interface Launch {
  /** What the tasks run as: FARGATE for Fargate providers, EC2 for Auto Scaling group providers. */
  readonly launchType: Exclude<LaunchType, 'MANAGED_INSTANCES'>;
  /** Set when the caller (or the cluster default) chose a strategy rather than a launch type. */
  readonly capacityProviderStrategy?: readonly CapacityProviderStrategyItem[];
}

/**
 * Resolves a request against its cluster: a strategy's providers must be associated with the
 * cluster (FARGATE and FARGATE_SPOT are always available in Berth), and with neither a launch type
 * nor a strategy the cluster's default strategy applies, else EC2, as in ECS.
 */
export function resolveLaunch(request: LaunchRequest, cluster: ClusterLaunchView): Launch {
  if (request.launchType !== undefined) return { launchType: request.launchType as Launch['launchType'] };
  const strategy = request.capacityProviderStrategy ?? (cluster.defaultCapacityProviderStrategy?.length ? cluster.defaultCapacityProviderStrategy : undefined);
  if (strategy === undefined) return { launchType: 'EC2' };
  const associated = cluster.capacityProviders ?? [];
  for (const item of strategy) {
    if (!isFargateProvider(item.capacityProvider) && !associated.includes(item.capacityProvider)) throw invalid(MSG_PROVIDER_NOT_IN_CLUSTER);
  }
  return { launchType: isFargateProvider(strategy[0]!.capacityProvider) ? 'FARGATE' : 'EC2', capacityProviderStrategy: strategy };
}

/**
 * The capacity provider for each of `count` tasks: bases are filled first, then the remaining
 * tasks are shared by weight (each to the provider furthest below its weighted share of the tasks
 * after the bases), as ECS distributes a strategy.
 */
export function chooseCapacityProviders(strategy: readonly CapacityProviderStrategyItem[], count: number): string[] {
  const out: string[] = [];
  for (const s of strategy) {
    for (let b = 0; b < (s.base ?? 0) && out.length < count; b++) out.push(s.capacityProvider);
  }
  const weighted = strategy.filter((s) => (s.weight ?? 0) > 0);
  const pool = weighted.length > 0 ? weighted : strategy;
  const weightOf = (s: CapacityProviderStrategyItem): number => (weighted.length > 0 ? s.weight! : 1);
  const totalWeight = pool.reduce((sum, s) => sum + weightOf(s), 0);
  const shared = new Map<string, number>(pool.map((s) => [s.capacityProvider, 0]));
  for (let n = 1; out.length < count; n++) {
    const deficit = (s: CapacityProviderStrategyItem): number => (n * weightOf(s)) / totalWeight - shared.get(s.capacityProvider)!;
    const next = pool.reduce((best, s) => (deficit(s) > deficit(best) ? s : best));
    out.push(next.capacityProvider);
    shared.set(next.capacityProvider, shared.get(next.capacityProvider)! + 1);
  }
  return out;
}

/**
 * A task definition can start tasks only while ACTIVE, and only on a launch type it is compatible
 * with (ECS's messages for both).
 */
export function checkTaskDefinitionRunnable(td: Pick<TaskDefinition, 'status' | 'compatibilities'>, launchType: Launch['launchType']): void {
  if (td.status !== 'ACTIVE') throw invalid(MSG_TASK_DEFINITION_INACTIVE);
  checkCompatibility(td, launchType);
}

/** The launch type must be one the task definition is compatible with (ECS's message). */
export function checkCompatibility(td: Pick<TaskDefinition, 'compatibilities'>, launchType: Launch['launchType']): void {
  const compat: readonly Compatibility[] = td.compatibilities.length > 0 ? td.compatibilities : ['EC2'];
  if (!compat.includes(launchType)) throw invalid(`Task definition does not support launch_type ${launchType}.`);
}

/** Fargate platform versions Berth knows; LATEST means the newest. */
export const PLATFORM_VERSIONS = ['LATEST', '1.4.0', '1.3.0'] as const;
export const LATEST_PLATFORM_VERSION = '1.4.0';

/**
 * Reads `platformVersion`: only for Fargate, and one Berth knows. Returns it as given (a service
 * echoes LATEST); use resolvePlatformVersion for what a task runs on.
 */
export function readPlatformVersion(input: Record<string, unknown>, launchType: Launch['launchType']): string | undefined {
  const version = optionalString(input, 'platformVersion');
  if (version === undefined || version === '') return undefined;
  if (launchType !== 'FARGATE') throw invalid('The platformVersion parameter is only supported for tasks using the FARGATE launch type.');
  if (!(PLATFORM_VERSIONS as readonly string[]).includes(version)) {
    throw invalid(`The specified platform version ${version} does not exist. Valid versions: ${PLATFORM_VERSIONS.join(', ')}.`);
  }
  return version;
}

export const resolvePlatformVersion = (version: string | undefined): string =>
  version === undefined || version === 'LATEST' ? LATEST_PLATFORM_VERSION : version;

/**
 * Reads `clientToken`: up to `maxLength` printable ASCII characters (33–126). RunTask allows 64,
 * CreateService 36.
 */
export function readClientToken(input: Record<string, unknown>, maxLength: number): string | undefined {
  const token = optionalString(input, 'clientToken', { maxLength });
  if (token === undefined) return undefined;
  if (token === '') throw invalid('clientToken must not be empty.');
  if (![...token].every((c) => c.charCodeAt(0) >= 33 && c.charCodeAt(0) <= 126)) {
    throw invalid('clientToken may contain only ASCII characters 33-126 (no spaces).');
  }
  return token;
}

/** `startedBy`: letters, digits, hyphens, slashes and underscores; the model documents 128 for RunTask, 36 for StartTask. */
export function readStartedBy(input: Record<string, unknown>, maxLength: number): string | undefined {
  const startedBy = optionalString(input, 'startedBy', { maxLength });
  if (startedBy === undefined || startedBy === '') return undefined;
  if (!/^[A-Za-z0-9_/-]+$/.test(startedBy)) {
    throw invalid('startedBy may contain only letters, numbers, hyphens (-), forward slashes (/) and underscores (_).');
  }
  return startedBy;
}
