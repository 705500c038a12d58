/**
 * ECS resource names: ARNs in AWS's long format, ids, and the rules for accepting either a name or
 * an ARN wherever ECS does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { BerthError } from '../protocols/index.js';

export interface Partition {
  readonly region: string;
  readonly accountId: string;
}

const base = (p: Partition) => `arn:aws:ecs:${p.region}:${p.accountId}`;

export const clusterArn = (p: Partition, name: string) => `${base(p)}:cluster/${name}`;
export const taskArn = (p: Partition, cluster: string, id: string) => `${base(p)}:task/${cluster}/${id}`;
export const containerInstanceArn = (p: Partition, cluster: string, id: string) =>
  `${base(p)}:container-instance/${cluster}/${id}`;
export const serviceArn = (p: Partition, cluster: string, name: string) => `${base(p)}:service/${cluster}/${name}`;
export const taskDefinitionArn = (p: Partition, family: string, revision: number) =>
  `${base(p)}:task-definition/${family}:${revision}`;
export const containerArn = (p: Partition, cluster: string, taskId: string, uuid: string) =>
  `${base(p)}:container/${cluster}/${taskId}/${uuid}`;

/** A 32-hex-digit id, as ECS uses for tasks and container instances. */
export const newId = (): string => randomBytes(16).toString('hex');
export const newUuid = (): string => randomUUID();

export interface ParsedArn {
  readonly region: string;
  readonly accountId: string;
  /** e.g. 'cluster', 'task', 'service', 'container-instance', 'task-definition' */
  readonly resourceType: string;
  /** Everything after `resourceType/`, e.g. 'CLUSTER/ID' or 'family:3'. */
  readonly resource: string;
}

const ARN_RE = /^arn:aws[a-z-]*:ecs:([a-z0-9-]*):(\d*):([a-z-]+)\/(.+)$/;

export function parseEcsArn(arn: string): ParsedArn | undefined {
  const m = ARN_RE.exec(arn);
  if (!m) return undefined;
  return { region: m[1]!, accountId: m[2]!, resourceType: m[3]!, resource: m[4]! };
}

export const DEFAULT_CLUSTER = 'default';

/**
 * The cluster name from a `cluster` parameter that may be a name, an ARN, or absent (→ 'default').
 * An ARN of another resource type is an InvalidParameterException, as in ECS.
 */
export function clusterNameOf(cluster: string | undefined): string {
  if (cluster === undefined || cluster === '') return DEFAULT_CLUSTER;
  if (!cluster.startsWith('arn:')) return cluster;
  const arn = parseEcsArn(cluster);
  if (!arn || arn.resourceType !== 'cluster' || arn.resource.includes('/')) {
    throw new BerthError('InvalidParameterException', `Invalid cluster identifier: ${cluster}. Specify a cluster name or a cluster ARN.`);
  }
  return arn.resource;
}

/**
 * The last path element of a name-or-ARN parameter of the given resource type (task id, container
 * instance id, service name). For task and container-instance ARNs in the long format, the cluster
 * in the ARN must match the cluster the request names.
 */
export function idOf(value: string, resourceType: string, cluster: string, field: string): string {
  if (!value.startsWith('arn:')) return value;
  const arn = parseEcsArn(value);
  if (!arn || arn.resourceType !== resourceType) {
    throw new BerthError('InvalidParameterException', `Invalid ${field}: ${value} is not a ${resourceType} ARN.`);
  }
  const parts = arn.resource.split('/');
  if (parts.length === 2 && parts[0] !== cluster) {
    throw new BerthError('InvalidParameterException', `${field} ${value} does not belong to cluster ${cluster}.`);
  }
  return parts[parts.length - 1]!;
}
