/**
 * Instances: what a service's DNS names resolve to and what DiscoverInstances returns. Each change
 * rewrites the instance's service in the same transaction (its InstanceCount, and its modRevision
 * which is the InstancesRevision), so the DNS server sees a service and its instances change as one.
 *
 * Berth's ECS service controller calls the plain functions here (registerInstance,
 * deregisterInstance, setInstanceHealth) for a service's `serviceRegistries`; the API operations
 * are the same functions behind request validation.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Operation, RequestContext } from '../protocols/index.js';
import { BerthError } from '../protocols/index.js';
import type { Store } from '../store/index.js';
import {
  claimRequestId,
  fingerprintOf,
  int,
  invalid,
  isAt,
  list,
  listJson,
  oneOf,
  pageOf,
  putOp,
  readAttributes,
  readJson,
  retrying,
  str,
  type Obj,
} from './input.js';
import {
  ATTR,
  instanceHealth,
  keys,
  resourceIdOf,
  type CustomHealthStatus,
  type HealthStatus,
  type InstanceRecord,
  type NamespaceRecord,
  type ServiceRecord,
} from './model.js';
import type { DiscoveryDeps } from './namespaces.js';
import { operationRecord } from './operations.js';
import { getService } from './services.js';

/** Who acts and when: the API passes its request's; the ECS controller its own account and clock. */
export interface DiscoveryContext {
  readonly accountId: string;
  readonly now: Date;
}

export interface RegisterInstanceRequest {
  /** The service id (srv-…) or ARN. */
  readonly serviceId: string;
  /** At most 64 characters of [0-9a-zA-Z_/:.@-]; ECS uses the task id. */
  readonly instanceId: string;
  /** AWS_INSTANCE_IPV4, AWS_INSTANCE_PORT, AWS_INIT_HEALTH_STATUS and custom attributes. */
  readonly attributes: Readonly<Record<string, string>>;
  readonly creatorRequestId?: string;
}

/** Cloud Map's quota of instances per service. */
export const MAX_INSTANCES_PER_SERVICE = 1000;
const INSTANCE_ID = /^[0-9a-zA-Z_/:.@-]+$/;

function checkInstanceId(id: string, field: string): void {
  if (id.length === 0 || id.length > 64 || !INSTANCE_ID.test(id)) {
    throw invalid(`${field} '${id}' is not valid: 1 to 64 characters of letters, digits and _/:.@-.`);
  }
}

/** Checks attributes against what the service's records need; throws InvalidInput naming the attribute. */
export function checkAttributes(service: ServiceRecord, attributes: Readonly<Record<string, string>>): void {
  const n = Object.keys(attributes).length;
  if (n > 30) throw invalid(`Attributes can have at most 30 entries; got ${n}.`);
  const types = new Set((service.DnsConfig?.DnsRecords ?? []).map((r) => r.Type));
  const ipv4 = attributes[ATTR.ipv4];
  const ipv6 = attributes[ATTR.ipv6];
  const port = attributes[ATTR.port];
  if (ipv4 !== undefined && !isIPv4(ipv4)) throw invalid(`Attributes.${ATTR.ipv4} '${ipv4}' is not an IPv4 address.`);
  if (ipv6 !== undefined && !isIPv6(ipv6)) throw invalid(`Attributes.${ATTR.ipv6} '${ipv6}' is not an IPv6 address.`);
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw invalid(`Attributes.${ATTR.port} '${port}' is not a port number (1 to 65535).`);
  }
  const init = attributes[ATTR.initHealth];
  if (init !== undefined && init !== 'HEALTHY' && init !== 'UNHEALTHY') throw invalid(`Attributes.${ATTR.initHealth} must be HEALTHY or UNHEALTHY; got '${init}'.`);
  if (attributes[ATTR.alias] !== undefined) throw invalid(`Attributes.${ATTR.alias} (an alias to an Elastic Load Balancing load balancer) is not supported by Berth.`);
  if (types.has('A') && ipv4 === undefined) throw invalid(`Service ${service.Id} has an A record: Attributes.${ATTR.ipv4} is required.`);
  if (types.has('AAAA') && ipv6 === undefined) throw invalid(`Service ${service.Id} has an AAAA record: Attributes.${ATTR.ipv6} is required.`);
  if (types.has('SRV') && port === undefined) throw invalid(`Service ${service.Id} has an SRV record: Attributes.${ATTR.port} is required.`);
  if (types.has('SRV') && ipv4 === undefined && ipv6 === undefined) {
    throw invalid(`Service ${service.Id} has an SRV record: its target needs Attributes.${ATTR.ipv4} or ${ATTR.ipv6}.`);
  }
  if (types.has('CNAME') && attributes[ATTR.cname] === undefined) throw invalid(`Service ${service.Id} has a CNAME record: Attributes.${ATTR.cname} is required.`);
}

/**
 * Registers (or re-registers, replacing its attributes and resetting its health) an instance, and
 * returns the OperationId. Validation is the API's: bad attributes throw InvalidInput.
 *
 * @example await registerInstance(store, { accountId, now: new Date() }, { serviceId: 'srv-…', instanceId: taskId, attributes: { AWS_INSTANCE_IPV4: '10.0.0.5', AWS_INSTANCE_PORT: '8080' } });
 */
export async function registerInstance(store: Store, ctx: DiscoveryContext, req: RegisterInstanceRequest): Promise<{ OperationId: string }> {
  checkInstanceId(req.instanceId, 'InstanceId');
  const fingerprint = fingerprintOf({ ServiceId: req.serviceId, InstanceId: req.instanceId, Attributes: req.attributes }, 'CreatorRequestId');
  return retrying('service', async () => {
    const claim = await claimRequestId<{ OperationId: string }>(store, 'RegisterInstance', req.creatorRequestId, fingerprint, ctx.now);
    if (claim.kind === 'replay') {
      if (claim.record.fingerprint === fingerprint) return { OperationId: claim.record.result.OperationId };
      throw new BerthError('DuplicateRequest', `CreatorRequestId '${req.creatorRequestId}' was already used for a different RegisterInstance request.`, {
        fields: { DuplicateOperationId: claim.record.result.OperationId },
      });
    }
    const { value: service, modRevision } = await getService(store, req.serviceId);
    checkAttributes(service, req.attributes);
    const existing = await store.get(keys.instance(service.Id, req.instanceId));
    if (existing === undefined && service.InstanceCount >= MAX_INSTANCES_PER_SERVICE) {
      throw new BerthError('ResourceLimitExceeded', `Service ${service.Id} already has ${service.InstanceCount} instances, the most a service can have.`);
    }
    const instance: InstanceRecord = {
      Id: req.instanceId,
      ...(req.creatorRequestId === undefined ? {} : { CreatorRequestId: req.creatorRequestId }),
      Attributes: { ...req.attributes },
      CreatedByAccount: ctx.accountId,
    };
    const op = operationRecord(ctx.accountId, 'REGISTER_INSTANCE', { NAMESPACE: service.NamespaceId, SERVICE: service.Id, INSTANCE: req.instanceId }, ctx.now);
    const guards = [isAt(keys.service(service.Id), modRevision), isAt(keys.instance(service.Id, req.instanceId), existing?.modRevision ?? 0)];
    const ops = [
      putOp(keys.instance(service.Id, req.instanceId), instance),
      putOp(keys.service(service.Id), { ...service, InstanceCount: service.InstanceCount + (existing === undefined ? 1 : 0) } satisfies ServiceRecord),
      putOp(keys.operation(op.Id), op),
    ];
    if (claim.kind === 'fresh') {
      guards.push(claim.guard);
      ops.push(claim.put({ OperationId: op.Id }));
    }
    const res = await store.txn(guards, ops);
    return res.succeeded ? { OperationId: op.Id } : undefined;
  });
}

async function getInstance(store: Store, service: ServiceRecord, instanceId: string) {
  const found = await readJson<InstanceRecord>(store, keys.instance(service.Id, instanceId));
  if (found === undefined) throw new BerthError('InstanceNotFound', `Instance ${instanceId} is not registered with service ${service.Id}.`);
  return found;
}

/**
 * Deregisters an instance; its DNS records go at once. Returns the OperationId.
 *
 * @example await deregisterInstance(store, { accountId, now: new Date() }, { serviceId: 'srv-…', instanceId: taskId });
 */
export async function deregisterInstance(store: Store, ctx: DiscoveryContext, req: { readonly serviceId: string; readonly instanceId: string }): Promise<{ OperationId: string }> {
  return retrying('service', async () => {
    const { value: service, modRevision } = await getService(store, req.serviceId);
    const instance = await getInstance(store, service, req.instanceId);
    const op = operationRecord(ctx.accountId, 'DEREGISTER_INSTANCE', { NAMESPACE: service.NamespaceId, SERVICE: service.Id, INSTANCE: req.instanceId }, ctx.now);
    const res = await store.txn(
      [isAt(keys.service(service.Id), modRevision), isAt(keys.instance(service.Id, req.instanceId), instance.modRevision)],
      [
        { type: 'delete', key: keys.instance(service.Id, req.instanceId) },
        putOp(keys.service(service.Id), { ...service, InstanceCount: Math.max(0, service.InstanceCount - 1) } satisfies ServiceRecord),
        putOp(keys.operation(op.Id), op),
      ],
    );
    return res.succeeded ? { OperationId: op.Id } : undefined;
  });
}

/**
 * Sets an instance's health as a custom health check would (HEALTHY puts it in DNS, UNHEALTHY
 * takes it out). Unlike UpdateInstanceCustomHealthStatus it works on any service, so Berth's own
 * controller can report task health even where the user asked for no health checks.
 *
 * @example await setInstanceHealth(store, { accountId, now: new Date() }, { serviceId, instanceId: taskId, status: 'HEALTHY' });
 */
export async function setInstanceHealth(
  store: Store,
  _ctx: DiscoveryContext,
  req: { readonly serviceId: string; readonly instanceId: string; readonly status: CustomHealthStatus; readonly requireCustomConfig?: boolean },
): Promise<void> {
  await retrying('service', async () => {
    const { value: service, modRevision } = await getService(store, req.serviceId);
    const instance = await getInstance(store, service, req.instanceId);
    if (req.requireCustomConfig && service.HealthCheckCustomConfig === undefined) {
      throw new BerthError('CustomHealthNotFound', `Service ${service.Id} has no HealthCheckCustomConfig: its instances' health cannot be set.`);
    }
    if (instance.value.CustomHealthStatus === req.status) return true;
    const res = await store.txn(
      [isAt(keys.service(service.Id), modRevision), isAt(keys.instance(service.Id, req.instanceId), instance.modRevision)],
      [putOp(keys.instance(service.Id, req.instanceId), { ...instance.value, CustomHealthStatus: req.status } satisfies InstanceRecord), putOp(keys.service(service.Id), service)],
    );
    return res.succeeded ? true : undefined;
  });
}

const HEALTH_FILTERS = ['HEALTHY', 'UNHEALTHY', 'ALL', 'HEALTHY_OR_ELSE_ALL'] as const;

export function instanceOperations(deps: DiscoveryDeps): Record<string, Operation> {
  const { store } = deps;
  const dctx = (ctx: RequestContext): DiscoveryContext => ({ accountId: deps.accountId, now: ctx.now });

  const RegisterInstance: Operation = async (input, ctx) => {
    const serviceId = str(input, 'ServiceId', { required: true, max: 255 });
    const instanceId = str(input, 'InstanceId', { required: true, max: 64 });
    const creatorRequestId = str(input, 'CreatorRequestId', { max: 64 });
    const attributes = readAttributes(input, 'Attributes', { required: true, max: 30 })!;
    return registerInstance(store, dctx(ctx), { serviceId, instanceId, attributes, ...(creatorRequestId === undefined ? {} : { creatorRequestId }) });
  };

  const DeregisterInstance: Operation = async (input, ctx) => {
    const serviceId = str(input, 'ServiceId', { required: true, max: 255 });
    const instanceId = str(input, 'InstanceId', { required: true, max: 64 });
    return deregisterInstance(store, dctx(ctx), { serviceId, instanceId });
  };

  const GetInstance: Operation = async (input) => {
    const serviceId = str(input, 'ServiceId', { required: true, max: 255 });
    const instanceId = str(input, 'InstanceId', { required: true, max: 64 });
    const { value: service } = await getService(store, serviceId);
    const { value: instance } = await getInstance(store, service, instanceId);
    return { ResourceOwner: service.ResourceOwner, Instance: instanceShape(instance) };
  };

  const ListInstances: Operation = async (input) => {
    const serviceId = str(input, 'ServiceId', { required: true, max: 255 });
    const { value: service } = await getService(store, serviceId);
    const all = (await listJson<InstanceRecord>(store, keys.instances(service.Id))).map((s) => s.value);
    const { page, NextToken } = pageOf(all, (i) => i.Id, input);
    return {
      ResourceOwner: service.ResourceOwner,
      Instances: page.map((i) => ({ Id: i.Id, Attributes: i.Attributes, CreatedByAccount: i.CreatedByAccount })),
      ...(NextToken === undefined ? {} : { NextToken }),
    };
  };

  const GetInstancesHealthStatus: Operation = async (input) => {
    const serviceId = str(input, 'ServiceId', { required: true, max: 255 });
    const wanted = list(input, 'Instances', { min: 1 });
    wanted?.forEach((v, i) => {
      if (typeof v !== 'string' || v.length > 64) throw invalid(`Instances[${i}] must be an instance id of at most 64 characters.`);
    });
    const { value: service } = await getService(store, serviceId);
    const all = (await listJson<InstanceRecord>(store, keys.instances(service.Id))).map((s) => s.value);
    let chosen = all;
    if (wanted !== undefined) {
      const byId = new Map(all.map((i) => [i.Id, i]));
      const missing = (wanted as string[]).filter((id) => !byId.has(id));
      if (missing.length > 0) throw new BerthError('InstanceNotFound', `Instance(s) not registered with service ${service.Id}: ${missing.join(', ')}.`);
      chosen = [...new Set(wanted as string[])].sort().map((id) => byId.get(id)!);
    }
    const { page, NextToken } = pageOf(chosen, (i) => i.Id, input);
    const Status: Record<string, HealthStatus> = {};
    for (const i of page) Status[i.Id] = instanceHealth(service, i);
    return { Status, ...(NextToken === undefined ? {} : { NextToken }) };
  };

  const UpdateInstanceCustomHealthStatus: Operation = async (input, ctx) => {
    const serviceId = str(input, 'ServiceId', { required: true, max: 255 });
    const instanceId = str(input, 'InstanceId', { required: true, max: 64 });
    const status = oneOf(input, 'Status', ['HEALTHY', 'UNHEALTHY'] as const);
    if (status === undefined) throw invalid('Status is required.');
    await setInstanceHealth(store, dctx(ctx), { serviceId, instanceId, status, requireCustomConfig: true });
    return undefined;
  };

  /** Finds a namespace by its HttpName and a service in it by name, as DiscoverInstances does. */
  async function findService(input: Obj): Promise<{ ns: NamespaceRecord; service: ServiceRecord; revision: number }> {
    const namespaceName = str(input, 'NamespaceName', { required: true, max: 1024 });
    const serviceName = str(input, 'ServiceName', { required: true, max: 127 });
    str(input, 'OwnerAccount', { min: 12, max: 12 });
    const namespaces = (await listJson<NamespaceRecord>(store, keys.namespaces())).map((s) => s.value);
    const ns =
      namespaces.find((n) => n.Properties.HttpProperties.HttpName === namespaceName) ??
      namespaces.find((n) => n.Type !== 'HTTP' && n.Name.toLowerCase().replace(/\.$/, '') === namespaceName.toLowerCase().replace(/\.$/, ''));
    if (ns === undefined) throw new BerthError('NamespaceNotFound', `No namespace has the name '${namespaceName}'.`);
    const id = await readJson<string>(store, keys.serviceName(ns.Id, serviceName.toLowerCase()));
    const found = id === undefined ? undefined : await readJson<ServiceRecord>(store, keys.service(id.value));
    if (found === undefined) throw new BerthError('ServiceNotFound', `No service named '${serviceName}' in namespace '${namespaceName}'.`);
    return { ns, service: found.value, revision: found.modRevision };
  }

  const DiscoverInstances: Operation = async (input) => {
    const max = int(input, 'MaxResults', { min: 1, max: 1000 }) ?? 100;
    const query = readAttributes(input, 'QueryParameters') ?? {};
    const optional = readAttributes(input, 'OptionalParameters') ?? {};
    const healthFilter = oneOf(input, 'HealthStatus', HEALTH_FILTERS) ?? 'HEALTHY';
    const { ns, service, revision } = await findService(input);
    const all = (await listJson<InstanceRecord>(store, keys.instances(service.Id))).map((s) => s.value);
    const matches = (i: InstanceRecord, params: Record<string, string>) => Object.entries(params).every(([k, v]) => i.Attributes[k] === v);
    let chosen = all.filter((i) => matches(i, query));
    const narrowed = chosen.filter((i) => matches(i, optional));
    if (narrowed.length > 0) chosen = narrowed;
    // Cloud Map ignores the health filter for services without health checks: all are returned.
    if (service.HealthCheckCustomConfig !== undefined || chosen.some((i) => i.CustomHealthStatus !== undefined)) {
      const healthy = chosen.filter((i) => instanceHealth(service, i) !== 'UNHEALTHY');
      switch (healthFilter) {
        case 'HEALTHY':
          chosen = healthy;
          break;
        case 'UNHEALTHY':
          chosen = chosen.filter((i) => instanceHealth(service, i) === 'UNHEALTHY');
          break;
        case 'HEALTHY_OR_ELSE_ALL':
          if (healthy.length > 0) chosen = healthy;
          break;
        case 'ALL':
          break;
      }
    }
    return {
      Instances: chosen.slice(0, max).map((i) => ({
        InstanceId: i.Id,
        NamespaceName: ns.Properties.HttpProperties.HttpName,
        ServiceName: service.Name,
        HealthStatus: instanceHealth(service, i),
        Attributes: i.Attributes,
      })),
      InstancesRevision: revision,
    };
  };

  const DiscoverInstancesRevision: Operation = async (input) => {
    const { revision } = await findService(input);
    return { InstancesRevision: revision };
  };

  return {
    RegisterInstance,
    DeregisterInstance,
    GetInstance,
    ListInstances,
    GetInstancesHealthStatus,
    UpdateInstanceCustomHealthStatus,
    DiscoverInstances,
    DiscoverInstancesRevision,
  };
}

function instanceShape(i: InstanceRecord): Obj {
  const { CustomHealthStatus: _h, ...wire } = i;
  return wire;
}

/** The service id an Id/ServiceId member names, for callers that hold an ARN. */
export const serviceIdOf = (idOrArn: string) => resourceIdOf(idOrArn, 'service');
