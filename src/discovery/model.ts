/**
 * Cloud Map's stored model: where namespaces, services, instances and operations live in the Store,
 * their ids and ARNs, and the health rule that the API and the DNS server share.
 *
 * Values are JSON in the wire shape (timestamps as epoch seconds) plus a few members the wire does
 * not show (tags, a namespace's VPC, an instance's custom health). A parent carries the count of
 * its children (a namespace its services, a service its instances), updated in the transaction
 * that adds or removes a child, so "delete only when empty" is one compare-and-swap, and every
 * instance change rewrites its service: the service's modRevision is its InstancesRevision.
 */
import { randomBytes } from 'node:crypto';

export const PREFIX = '/servicediscovery/';

export const keys = {
  namespace: (id: string) => `${PREFIX}namespaces/${id}`,
  namespaces: () => `${PREFIX}namespaces/`,
  /** A namespace name's claim: its value is the namespace id (names are unique in Berth's one network). */
  namespaceName: (name: string) => `${PREFIX}namespace-names/${name}`,
  service: (id: string) => `${PREFIX}services/${id}`,
  services: () => `${PREFIX}services/`,
  /** A service name's claim within its namespace: its value is the service id. */
  serviceName: (namespaceId: string, name: string) => `${PREFIX}service-names/${namespaceId}/${name}`,
  instance: (serviceId: string, instanceId: string) => `${PREFIX}instances/${serviceId}/${instanceId}`,
  instances: (serviceId?: string) => (serviceId === undefined ? `${PREFIX}instances/` : `${PREFIX}instances/${serviceId}/`),
  operation: (id: string) => `${PREFIX}operations/${id}`,
  operations: () => `${PREFIX}operations/`,
  /** What a CreatorRequestId stood for, by operation. */
  requestId: (operation: string, token: string) => `${PREFIX}request-ids/${operation}/${token}`,
} as const;

export type NamespaceType = 'DNS_PUBLIC' | 'DNS_PRIVATE' | 'HTTP';
export type RecordType = 'SRV' | 'A' | 'AAAA' | 'CNAME';
export type RoutingPolicy = 'MULTIVALUE' | 'WEIGHTED';
export type ServiceType = 'HTTP' | 'DNS_HTTP' | 'DNS';
export type CustomHealthStatus = 'HEALTHY' | 'UNHEALTHY';
export type HealthStatus = CustomHealthStatus | 'UNKNOWN';
export type Tag = { readonly Key: string; readonly Value: string };

export interface DnsRecord {
  readonly Type: RecordType;
  readonly TTL: number;
}

export interface DnsConfig {
  readonly NamespaceId?: string;
  readonly RoutingPolicy: RoutingPolicy;
  readonly DnsRecords: readonly DnsRecord[];
}

export interface NamespaceRecord {
  readonly Id: string;
  readonly Arn: string;
  readonly ResourceOwner: string;
  readonly Name: string;
  readonly Type: NamespaceType;
  readonly Description?: string;
  readonly ServiceCount: number;
  readonly Properties: {
    readonly DnsProperties: { readonly HostedZoneId?: string; readonly SOA?: { readonly TTL: number } };
    readonly HttpProperties: { readonly HttpName: string };
  };
  /** Epoch seconds. */
  readonly CreateDate: number;
  readonly CreatorRequestId?: string;
  /** Not on the wire. */
  readonly Vpc?: string;
  readonly Tags: readonly Tag[];
}

export interface ServiceRecord {
  readonly Id: string;
  readonly Arn: string;
  readonly ResourceOwner: string;
  readonly Name: string;
  readonly NamespaceId: string;
  readonly Description?: string;
  readonly InstanceCount: number;
  readonly DnsConfig?: DnsConfig;
  readonly Type: ServiceType;
  readonly HealthCheckCustomConfig?: { readonly FailureThreshold?: number };
  readonly CreateDate: number;
  readonly CreatorRequestId?: string;
  readonly CreatedByAccount: string;
  readonly Tags: readonly Tag[];
}

export interface InstanceRecord {
  readonly Id: string;
  readonly CreatorRequestId?: string;
  readonly Attributes: Readonly<Record<string, string>>;
  readonly CreatedByAccount: string;
  /** The last UpdateInstanceCustomHealthStatus (or setInstanceHealth); not on the wire. */
  readonly CustomHealthStatus?: CustomHealthStatus;
}

export type OperationType = 'CREATE_NAMESPACE' | 'DELETE_NAMESPACE' | 'UPDATE_NAMESPACE' | 'UPDATE_SERVICE' | 'REGISTER_INSTANCE' | 'DEREGISTER_INSTANCE';
export type OperationStatus = 'SUBMITTED' | 'PENDING' | 'SUCCESS' | 'FAIL';

export interface OperationRecord {
  readonly Id: string;
  readonly OwnerAccount: string;
  readonly Type: OperationType;
  readonly Status: OperationStatus;
  readonly CreateDate: number;
  readonly UpdateDate: number;
  readonly Targets: Partial<Record<'NAMESPACE' | 'SERVICE' | 'INSTANCE', string>>;
}

/** The attributes Cloud Map reads itself. */
export const ATTR = {
  ipv4: 'AWS_INSTANCE_IPV4',
  ipv6: 'AWS_INSTANCE_IPV6',
  port: 'AWS_INSTANCE_PORT',
  cname: 'AWS_INSTANCE_CNAME',
  alias: 'AWS_ALIAS_DNS_NAME',
  initHealth: 'AWS_INIT_HEALTH_STATUS',
  ec2InstanceId: 'AWS_EC2_INSTANCE_ID',
} as const;

/**
 * An instance's health as Cloud Map reports it: with custom health checks, its last reported
 * status, else the AWS_INIT_HEALTH_STATUS it was registered with, else HEALTHY. A service without
 * health checks reports UNKNOWN (and DNS and DiscoverInstances treat it as healthy) unless Berth's
 * own controller set a status with setInstanceHealth.
 *
 * @example instanceHealth(service, { ...instance, CustomHealthStatus: 'UNHEALTHY' }) // 'UNHEALTHY'
 */
export function instanceHealth(service: Pick<ServiceRecord, 'HealthCheckCustomConfig'>, instance: InstanceRecord): HealthStatus {
  if (instance.CustomHealthStatus !== undefined) return instance.CustomHealthStatus;
  if (service.HealthCheckCustomConfig === undefined) return 'UNKNOWN';
  const init = instance.Attributes[ATTR.initHealth];
  return init === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY';
}

/** Whether DNS answers with an instance: anything not known to be unhealthy. */
export const servesTraffic = (service: Pick<ServiceRecord, 'HealthCheckCustomConfig'>, instance: InstanceRecord): boolean =>
  instanceHealth(service, instance) !== 'UNHEALTHY';

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** `n` random characters of lower-case base32, as Cloud Map's ids use. */
export function randomId(n: number): string {
  const bytes = randomBytes(n);
  let out = '';
  for (let i = 0; i < n; i++) out += ID_ALPHABET[bytes[i]! & 31];
  return out;
}

export const newNamespaceId = () => `ns-${randomId(16)}`;
export const newServiceId = () => `srv-${randomId(16)}`;
/** Cloud Map's operation ids look like `gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9302yzd`. */
export const newOperationId = () => `${randomId(32)}-${randomId(8)}`;
export const newHostedZoneId = () => `Z${randomId(20).toUpperCase()}`;

export const namespaceArn = (region: string, account: string, id: string) => `arn:aws:servicediscovery:${region}:${account}:namespace/${id}`;
export const serviceArn = (region: string, account: string, id: string) => `arn:aws:servicediscovery:${region}:${account}:service/${id}`;

/**
 * The id in an `Id` member, which since 2023 may also be the resource's ARN.
 *
 * @example resourceIdOf('arn:aws:servicediscovery:us-east-1:000000000000:service/srv-abc', 'service') // 'srv-abc'
 */
export function resourceIdOf(value: string, kind: 'namespace' | 'service'): string {
  if (!value.startsWith('arn:')) return value;
  const m = /^arn:aws:servicediscovery:[^:]*:[^:]*:([a-z]+)\/(.+)$/.exec(value);
  return m !== null && m[1] === kind ? m[2]! : value;
}
