/**
 * The `networkConfiguration` parameter of RunTask, StartTask, CreateService and UpdateService: its
 * shape, ECS's rules against the task definition's network mode, and the ENI attachment a task in
 * awsvpc mode carries. Berth has no real VPC, so subnet and security group ids are taken as given.
 */
import type { NetworkMode } from './task-definition-types.js';
import { invalid, optionalEnum, optionalObject, optionalStringArray } from './input.js';

export const ASSIGN_PUBLIC_IP = ['ENABLED', 'DISABLED'] as const;
export type AssignPublicIp = (typeof ASSIGN_PUBLIC_IP)[number];

export interface AwsVpcConfiguration {
  readonly subnets: readonly string[];
  readonly securityGroups?: readonly string[];
  readonly assignPublicIp: AssignPublicIp;
}

export interface NetworkConfiguration {
  readonly awsvpcConfiguration?: AwsVpcConfiguration;
}

/** ECS limits: 16 subnets and 5 security groups per awsvpcConfiguration. */
export const MAX_SUBNETS = 16;
export const MAX_SECURITY_GROUPS = 5;

export const MSG_NETWORK_REQUIRED = "Network Configuration must be provided when networkMode 'awsvpc' is specified.";
export const MSG_NETWORK_NOT_VALID = 'Network Configuration is not valid for the given networkMode of this task definition.';
export const MSG_PUBLIC_IP = 'Assign public IP is not supported for this launch type.';

/**
 * Reads `networkConfiguration` from a request: types, list sizes and enums. Whether it is allowed
 * at all depends on the task definition; see checkNetworkConfiguration. `assignPublicIp` defaults
 * to DISABLED, as ECS echoes it back.
 *
 * @example readNetworkConfiguration({ networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } } })
 */
export function readNetworkConfiguration(input: Record<string, unknown>): NetworkConfiguration | undefined {
  const nc = optionalObject(input, 'networkConfiguration');
  if (nc === undefined) return undefined;
  const vpc = optionalObject(nc, 'awsvpcConfiguration', 'networkConfiguration.awsvpcConfiguration');
  if (vpc === undefined) return {};
  const path = 'networkConfiguration.awsvpcConfiguration';
  const subnets = optionalStringArray(vpc, 'subnets', { path: `${path}.subnets` }) ?? [];
  if (subnets.length === 0) throw invalid('subnets can not be empty.');
  if (subnets.length > MAX_SUBNETS) throw invalid(`subnets can have at most ${MAX_SUBNETS} items.`);
  const securityGroups = optionalStringArray(vpc, 'securityGroups', { path: `${path}.securityGroups` });
  if (securityGroups !== undefined && securityGroups.length > MAX_SECURITY_GROUPS) {
    throw invalid(`securityGroups can have at most ${MAX_SECURITY_GROUPS} items.`);
  }
  for (const [list, name] of [[subnets, 'subnets'], [securityGroups ?? [], 'securityGroups']] as const) {
    list.forEach((id, i) => {
      if (id.trim() === '') throw invalid(`${path}.${name}[${i}] must not be empty.`);
    });
  }
  const assignPublicIp = optionalEnum(vpc, 'assignPublicIp', ASSIGN_PUBLIC_IP, `${path}.assignPublicIp`) ?? 'DISABLED';
  return {
    awsvpcConfiguration: {
      subnets: [...subnets],
      ...(securityGroups === undefined ? {} : { securityGroups: [...securityGroups] }),
      assignPublicIp,
    },
  };
}

/**
 * ECS's rules between the network configuration, the task definition's network mode and the launch
 * type: awsvpc needs an awsvpcConfiguration, other modes take none, and only Fargate tasks get a
 * public IP.
 */
export function checkNetworkConfiguration(
  networkMode: NetworkMode,
  config: NetworkConfiguration | undefined,
  launchType: string,
): AwsVpcConfiguration | undefined {
  if (networkMode !== 'awsvpc') {
    if (config !== undefined) throw invalid(MSG_NETWORK_NOT_VALID);
    return undefined;
  }
  const vpc = config?.awsvpcConfiguration;
  if (vpc === undefined) throw invalid(MSG_NETWORK_REQUIRED);
  if (vpc.assignPublicIp === 'ENABLED' && launchType !== 'FARGATE') throw invalid(MSG_PUBLIC_IP);
  return vpc;
}

/** Wire shapes of a task's attachment (Task.attachments[]). */
export interface KeyValue {
  readonly name: string;
  readonly value: string;
}
export interface Attachment {
  readonly id: string;
  readonly type: string;
  readonly status: string;
  readonly details: readonly KeyValue[];
}

/**
 * The subnet the n-th task of a request gets its ENI in: round robin over the subnets given, as
 * ECS balances tasks across the subnets (and so zones) of a configuration.
 */
export function subnetFor(vpc: AwsVpcConfiguration, n: number): string {
  return vpc.subnets[n % vpc.subnets.length]!;
}

/**
 * The availability zone Berth reports for a subnet: with no VPC to ask, the i-th subnet of the
 * configuration maps to zone letter a, b, c, ... of the region, so that distinct subnets look like
 * distinct zones to a client that spreads by zone.
 */
export function availabilityZoneFor(region: string, vpc: AwsVpcConfiguration, subnet: string): string {
  const i = Math.max(0, vpc.subnets.indexOf(subnet));
  return `${region}${'abcdef'[i % 6]}`;
}

/**
 * The ENI attachment of a new awsvpc task as RunTask returns it: PRECREATED, knowing only its
 * subnet. The agent fills in networkInterfaceId, macAddress and addresses when it attaches.
 */
export function eniAttachment(id: string, subnetId: string): Attachment {
  return { id, type: 'ElasticNetworkInterface', status: 'PRECREATED', details: [{ name: 'subnetId', value: subnetId }] };
}
