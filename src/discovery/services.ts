/**
 * Cloud Map services: a name in a namespace, the DNS records its instances get (A, AAAA, SRV,
 * CNAME with a TTL) and how their health is known. A service lives in one namespace, whose
 * ServiceCount moves in the same transaction, so a namespace with services cannot be deleted.
 */
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
  obj,
  objAt,
  oneOf,
  pageOf,
  putOp,
  readJson,
  readTags,
  retrying,
  str,
  type Obj,
} from './input.js';
import { keys, resourceIdOf, newServiceId, serviceArn, type DnsConfig, type DnsRecord, type NamespaceRecord, type RecordType, type RoutingPolicy, type ServiceRecord } from './model.js';
import { getNamespace, type DiscoveryDeps } from './namespaces.js';
import { operationRecord } from './operations.js';

const SERVICE_NAME = /^((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\.$)/;
const RECORD_TYPES: readonly RecordType[] = ['SRV', 'A', 'AAAA', 'CNAME'];

/** The wire shape of a service. */
export function serviceShape(s: ServiceRecord): Obj {
  const { Tags: _tags, ...wire } = s;
  return wire;
}

export async function getService(store: Store, idOrArn: string) {
  const id = resourceIdOf(idOrArn, 'service');
  const found = await readJson<ServiceRecord>(store, keys.service(id));
  if (found === undefined) throw new BerthError('ServiceNotFound', `Service not found: ${idOrArn}.`);
  return found;
}

/** DnsRecords: one to four, distinct types, TTL 0–2147483647; CNAME alone and only WEIGHTED. */
function readDnsRecords(config: Obj, path: string, routing: RoutingPolicy | undefined): DnsRecord[] {
  const items = list(config, 'DnsRecords', { path: `${path}.DnsRecords` });
  if (items === undefined) throw invalid(`${path}.DnsRecords is required.`);
  if (items.length === 0) throw invalid(`${path}.DnsRecords must have at least one record.`);
  const seen = new Set<string>();
  const records = items.map((_, i) => {
    const r = objAt(items, i, `${path}.DnsRecords`);
    const Type = oneOf(r, 'Type', RECORD_TYPES, `${path}.DnsRecords[${i}].Type`);
    if (Type === undefined) throw invalid(`${path}.DnsRecords[${i}].Type is required.`);
    const TTL = int(r, 'TTL', { min: 0, max: 2147483647, path: `${path}.DnsRecords[${i}].TTL` });
    if (TTL === undefined) throw invalid(`${path}.DnsRecords[${i}].TTL is required.`);
    if (seen.has(Type)) throw invalid(`${path}.DnsRecords has two ${Type} records; each type may appear once.`);
    seen.add(Type);
    return { Type, TTL };
  });
  if (seen.has('CNAME') && records.length > 1) throw invalid(`${path}.DnsRecords: a CNAME record cannot be combined with other record types.`);
  if (seen.has('CNAME') && routing === 'MULTIVALUE') throw invalid(`${path}: CNAME records need RoutingPolicy WEIGHTED.`);
  return records;
}

export function serviceOperations(deps: DiscoveryDeps): Record<string, Operation> {
  const { store } = deps;

  const CreateService: Operation = async (input: Obj, ctx: RequestContext) => {
    const name = str(input, 'Name', { required: true, pattern: SERVICE_NAME, rule: 'dot-separated labels of letters, digits, hyphens and underscores, at most 127 characters' });
    const token = str(input, 'CreatorRequestId', { max: 64 });
    const description = str(input, 'Description', { max: 1024 });
    const type = oneOf(input, 'Type', ['HTTP'] as const);
    const tags = readTags(input) ?? [];
    const dnsInput = obj(input, 'DnsConfig');
    let dnsConfig: DnsConfig | undefined;
    if (dnsInput !== undefined) {
      const routing = oneOf(dnsInput, 'RoutingPolicy', ['MULTIVALUE', 'WEIGHTED'] as const, 'DnsConfig.RoutingPolicy');
      const records = readDnsRecords(dnsInput, 'DnsConfig', routing);
      const nsInDns = str(dnsInput, 'NamespaceId', { max: 64, path: 'DnsConfig.NamespaceId' });
      dnsConfig = { ...(nsInDns === undefined ? {} : { NamespaceId: nsInDns }), RoutingPolicy: routing ?? 'MULTIVALUE', DnsRecords: records };
    }
    const topNs = str(input, 'NamespaceId', { max: 255 });
    const namespaceRef = topNs ?? dnsConfig?.NamespaceId;
    if (namespaceRef === undefined) throw invalid('NamespaceId is required (or the deprecated DnsConfig.NamespaceId).');
    if (topNs !== undefined && dnsConfig?.NamespaceId !== undefined && resourceIdOf(topNs, 'namespace') !== dnsConfig.NamespaceId) {
      throw invalid(`NamespaceId ${topNs} and DnsConfig.NamespaceId ${dnsConfig.NamespaceId} name different namespaces.`);
    }
    if (obj(input, 'HealthCheckConfig') !== undefined) {
      throw invalid('HealthCheckConfig (Route 53 health checks) applies only to public DNS namespaces; use HealthCheckCustomConfig and UpdateInstanceCustomHealthStatus.');
    }
    const custom = obj(input, 'HealthCheckCustomConfig');
    const threshold = custom === undefined ? undefined : int(custom, 'FailureThreshold', { min: 1, max: 10, path: 'HealthCheckCustomConfig.FailureThreshold' });
    if (type === 'HTTP' && dnsConfig !== undefined) throw invalid('A service of Type HTTP cannot have a DnsConfig.');
    const fingerprint = fingerprintOf(input, 'CreatorRequestId');

    return retrying('services', async () => {
      const claim = await claimRequestId<{ ServiceId: string }>(store, 'CreateService', token, fingerprint, ctx.now);
      if (claim.kind === 'replay') {
        const prior = await readJson<ServiceRecord>(store, keys.service(claim.record.result.ServiceId));
        if (claim.record.fingerprint === fingerprint && prior !== undefined) return { Service: serviceShape(prior.value) };
        throw new BerthError('DuplicateRequest', `CreatorRequestId '${token}' was already used for a different CreateService request.`);
      }
      const { value: ns, modRevision: nsRevision } = await getNamespace(store, namespaceRef);
      if (ns.Type === 'HTTP' && dnsConfig !== undefined) throw invalid(`Namespace ${ns.Id} is an HTTP namespace: its services cannot have a DnsConfig.`);
      if (ns.Type !== 'HTTP' && dnsConfig === undefined && type !== 'HTTP') {
        throw invalid(`Namespace ${ns.Id} is a DNS namespace: a service needs a DnsConfig (or Type HTTP to be found only by DiscoverInstances).`);
      }
      const nameKey = keys.serviceName(ns.Id, name.toLowerCase());
      const taken = await readJson<string>(store, nameKey);
      if (taken !== undefined) {
        const other = await readJson<ServiceRecord>(store, keys.service(taken.value));
        throw new BerthError('ServiceAlreadyExists', `A service named '${name}' already exists in namespace ${ns.Id}: ${taken.value}.`, {
          fields: {
            ServiceId: taken.value,
            ServiceArn: serviceArn(deps.region, deps.accountId, taken.value),
            ...(other?.value.CreatorRequestId === undefined ? {} : { CreatorRequestId: other.value.CreatorRequestId }),
          },
        });
      }
      const id = newServiceId();
      const service: ServiceRecord = {
        Id: id,
        Arn: serviceArn(deps.region, deps.accountId, id),
        ResourceOwner: deps.accountId,
        Name: name,
        NamespaceId: ns.Id,
        ...(description === undefined ? {} : { Description: description }),
        InstanceCount: 0,
        ...(dnsConfig === undefined ? {} : { DnsConfig: dnsConfig }),
        Type: dnsConfig === undefined ? 'HTTP' : 'DNS_HTTP',
        ...(custom === undefined ? {} : { HealthCheckCustomConfig: threshold === undefined ? {} : { FailureThreshold: threshold } }),
        CreateDate: ctx.now.getTime() / 1000,
        ...(token === undefined ? {} : { CreatorRequestId: token }),
        CreatedByAccount: deps.accountId,
        Tags: tags,
      };
      const guards = [isAt(keys.namespace(ns.Id), nsRevision), isAt(nameKey, 0)];
      const ops = [
        putOp(keys.service(id), service),
        putOp(nameKey, id),
        putOp(keys.namespace(ns.Id), { ...ns, ServiceCount: ns.ServiceCount + 1 } satisfies NamespaceRecord),
      ];
      if (claim.kind === 'fresh') {
        guards.push(claim.guard);
        ops.push(claim.put({ ServiceId: id }));
      }
      const res = await store.txn(guards, ops);
      return res.succeeded ? { Service: serviceShape(service) } : undefined;
    });
  };

  const GetService: Operation = async (input) => {
    const id = str(input, 'Id', { required: true, max: 255 });
    return { Service: serviceShape((await getService(store, id)).value) };
  };

  const ListServices: Operation = async (input) => {
    const filters = readServiceFilters(input);
    const all = (await listJson<ServiceRecord>(store, keys.services())).map((s) => s.value);
    const matching = all.filter((s) => filters.every((f) => f(s))).sort((a, b) => (a.Id < b.Id ? -1 : 1));
    const { page, NextToken } = pageOf(matching, (s) => s.Id, input);
    return {
      Services: page.map((s) => {
        const { CreatorRequestId: _c, NamespaceId: _n, ...summary } = serviceShape(s);
        return summary;
      }),
      ...(NextToken === undefined ? {} : { NextToken }),
    };
  };

  /**
   * UpdateService replaces what it is given, as Cloud Map does: the records' TTLs (the record types
   * cannot change), the description. A HealthCheckConfig is refused as in CreateService.
   */
  const UpdateService: Operation = async (input, ctx) => {
    const idOrArn = str(input, 'Id', { required: true, max: 255 });
    const change = obj(input, 'Service');
    if (change === undefined) throw invalid('Service is required.');
    const description = str(change, 'Description', { max: 1024, path: 'Service.Description' });
    if (obj(change, 'HealthCheckConfig', 'Service.HealthCheckConfig') !== undefined) {
      throw invalid('Service.HealthCheckConfig (Route 53 health checks) applies only to public DNS namespaces.');
    }
    const dnsChange = obj(change, 'DnsConfig', 'Service.DnsConfig');
    const records = dnsChange === undefined ? undefined : readDnsRecords(dnsChange, 'Service.DnsConfig', undefined);
    return retrying('service', async () => {
      const { value: service, modRevision } = await getService(store, idOrArn);
      let dnsConfig = service.DnsConfig;
      if (records !== undefined) {
        if (dnsConfig === undefined) throw invalid(`Service ${service.Id} has no DnsConfig to update.`);
        const before = dnsConfig.DnsRecords.map((r) => r.Type).sort().join(',');
        const after = records.map((r) => r.Type).sort().join(',');
        if (before !== after) throw invalid(`Service.DnsConfig.DnsRecords must keep the service's record types (${before}); got ${after}. Only TTLs can change.`);
        dnsConfig = { ...dnsConfig, DnsRecords: records };
      }
      const next: ServiceRecord = {
        ...service,
        ...(description === undefined ? {} : { Description: description }),
        ...(dnsConfig === undefined ? {} : { DnsConfig: dnsConfig }),
      };
      const op = operationRecord(deps.accountId, 'UPDATE_SERVICE', { SERVICE: service.Id }, ctx.now);
      const res = await store.txn([isAt(keys.service(service.Id), modRevision)], [putOp(keys.service(service.Id), next), putOp(keys.operation(op.Id), op)]);
      return res.succeeded ? { OperationId: op.Id } : undefined;
    });
  };

  const DeleteService: Operation = async (input) => {
    const idOrArn = str(input, 'Id', { required: true, max: 255 });
    return retrying('service', async () => {
      const { value: service, modRevision } = await getService(store, idOrArn);
      if (service.InstanceCount > 0) {
        throw new BerthError('ResourceInUse', `Service ${service.Id} has ${service.InstanceCount} registered instance(s); deregister them before deleting the service.`);
      }
      const nsFound = await readJson<NamespaceRecord>(store, keys.namespace(service.NamespaceId));
      const guards = [isAt(keys.service(service.Id), modRevision)];
      const ops = [{ type: 'delete' as const, key: keys.service(service.Id) }, { type: 'delete' as const, key: keys.serviceName(service.NamespaceId, service.Name.toLowerCase()) }];
      const writes = nsFound === undefined ? ops : [...ops, putOp(keys.namespace(service.NamespaceId), { ...nsFound.value, ServiceCount: Math.max(0, nsFound.value.ServiceCount - 1) })];
      if (nsFound !== undefined) guards.push(isAt(keys.namespace(service.NamespaceId), nsFound.modRevision));
      const res = await store.txn(guards, writes);
      return res.succeeded ? {} : undefined;
    });
  };

  return { CreateService, GetService, ListServices, UpdateService, DeleteService };
}

type ServiceFilter = (s: ServiceRecord) => boolean;

/** ListServices filters: NAMESPACE_ID (EQ, or IN with several) and RESOURCE_OWNER (EQ). */
function readServiceFilters(input: Obj): ServiceFilter[] {
  const items = list(input, 'Filters') ?? [];
  return items.map((_, i) => {
    const path = `Filters[${i}]`;
    const f = objAt(items, i, 'Filters');
    const name = oneOf(f, 'Name', ['NAMESPACE_ID', 'RESOURCE_OWNER'] as const, `${path}.Name`);
    if (name === undefined) throw invalid(`${path}.Name is required.`);
    const condition = oneOf(f, 'Condition', ['EQ', 'IN', 'BETWEEN', 'BEGINS_WITH'] as const, `${path}.Condition`) ?? 'EQ';
    const raw = list(f, 'Values', { path: `${path}.Values` });
    if (raw === undefined) throw invalid(`${path}.Values is required.`);
    const values = raw.map((v, j) => {
      if (typeof v !== 'string' || v.length < 1 || v.length > 255) throw invalid(`${path}.Values[${j}] must be a string of 1 to 255 characters.`);
      return v;
    });
    if (condition !== 'EQ' && !(condition === 'IN' && name === 'NAMESPACE_ID')) throw invalid(`${path}.Condition ${condition} is not supported for ${name}: use EQ.`);
    if (condition === 'EQ' && values.length !== 1) throw invalid(`${path}.Values must have exactly one value with EQ; got ${values.length}.`);
    if (values.length === 0) throw invalid(`${path}.Values must have at least one value.`);
    if (name === 'RESOURCE_OWNER') return (s) => s.ResourceOwner === values[0];
    const ids = values.map((v) => resourceIdOf(v, 'namespace'));
    return (s) => ids.includes(s.NamespaceId);
  });
}
