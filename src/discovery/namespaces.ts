/**
 * Namespaces: private DNS (served by Berth's DNS server) and HTTP (found with DiscoverInstances).
 * Public DNS namespaces need a public DNS zone delegated to Berth, which it does not have: they are
 * refused with a message that says so. Every change is done at once and recorded as a SUCCESS
 * operation, so GetOperation finds what Cloud Map's asynchronous API would report when done.
 */
import type { Operation, RequestContext } from '../protocols/index.js';
import { BerthError } from '../protocols/index.js';
import type { Op, Store } from '../store/index.js';
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
import { keys, namespaceArn, newHostedZoneId, newNamespaceId, resourceIdOf, type NamespaceRecord, type NamespaceType } from './model.js';
import { operationRecord } from './operations.js';

export interface DiscoveryDeps {
  readonly store: Store;
  readonly region: string;
  readonly accountId: string;
}

/** The SOA TTL a private namespace gets when its request names none (Cloud Map's console default). */
export const DEFAULT_SOA_TTL = 15;

const PRIVATE_NAME = /^(?!arn:)[!-~]{1,253}$/;
const HTTP_NAME = /^(?!arn:)[!-~]{1,1024}$/;
/** What Berth's DNS server can serve: dot-separated labels of letters, digits, '-' and '_'. */
const DNS_NAME = /^(?=.{1,253}$)([a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)*\.?$/;

/** The wire shape of a namespace: the stored record without Berth's own members. */
export function namespaceShape(ns: NamespaceRecord): Obj {
  const { Vpc: _vpc, Tags: _tags, ...wire } = ns;
  return wire;
}

export async function getNamespace(store: Store, idOrArn: string) {
  const id = resourceIdOf(idOrArn, 'namespace');
  const found = await readJson<NamespaceRecord>(store, keys.namespace(id));
  if (found === undefined) throw new BerthError('NamespaceNotFound', `Namespace not found: ${idOrArn}.`);
  return found;
}

export function namespaceOperations(deps: DiscoveryDeps): Record<string, Operation> {
  const { store } = deps;

  async function create(operation: string, type: NamespaceType, input: Obj, ctx: RequestContext) {
    const pattern = type === 'HTTP' ? HTTP_NAME : PRIVATE_NAME;
    const name = str(input, 'Name', { required: true, max: type === 'HTTP' ? 1024 : 253, pattern, rule: 'printable ASCII without spaces, not starting with arn:' });
    if (type === 'DNS_PRIVATE' && !DNS_NAME.test(name)) {
      throw invalid(`Name '${name}' is not a DNS domain name: labels of letters, digits, hyphens and underscores (at most 63 characters each), separated by dots.`);
    }
    const token = str(input, 'CreatorRequestId', { max: 64 });
    const description = str(input, 'Description', { max: 1024 });
    const tags = readTags(input) ?? [];
    let vpc: string | undefined;
    let soaTtl: number | undefined;
    if (type === 'DNS_PRIVATE') {
      vpc = str(input, 'Vpc', { required: true, max: 64 });
      const props = obj(input, 'Properties');
      if (props !== undefined) {
        const dns = obj(props, 'DnsProperties', 'Properties.DnsProperties');
        if (dns === undefined) throw invalid('Properties.DnsProperties is required.');
        const soa = obj(dns, 'SOA', 'Properties.DnsProperties.SOA');
        if (soa === undefined) throw invalid('Properties.DnsProperties.SOA is required.');
        soaTtl = int(soa, 'TTL', { min: 0, max: 2147483647, path: 'Properties.DnsProperties.SOA.TTL' });
        if (soaTtl === undefined) throw invalid('Properties.DnsProperties.SOA.TTL is required.');
      }
    }
    const fingerprint = fingerprintOf(input, 'CreatorRequestId');
    // DNS names are not case-sensitive: `Example.Local` and `example.local` are one zone.
    const claimName = type === 'HTTP' ? name : name.toLowerCase().replace(/\.$/, '');

    return retrying('namespaces', async () => {
      const claim = await claimRequestId<{ OperationId: string; NamespaceId: string }>(store, operation, token, fingerprint, ctx.now);
      if (claim.kind === 'replay') {
        if (claim.record.fingerprint === fingerprint) return { OperationId: claim.record.result.OperationId };
        throw new BerthError('DuplicateRequest', `CreatorRequestId '${token}' was already used for a different ${operation} request.`, {
          fields: { DuplicateOperationId: claim.record.result.OperationId },
        });
      }
      const nameKey = keys.namespaceName(claimName);
      const taken = await readJson<string>(store, nameKey);
      if (taken !== undefined) {
        const other = await readJson<NamespaceRecord>(store, keys.namespace(taken.value));
        throw new BerthError('NamespaceAlreadyExists', `A namespace named '${name}' already exists: ${taken.value}.`, {
          fields: { NamespaceId: taken.value, ...(other?.value.CreatorRequestId === undefined ? {} : { CreatorRequestId: other.value.CreatorRequestId }) },
        });
      }
      const id = newNamespaceId();
      const seconds = ctx.now.getTime() / 1000;
      const ns: NamespaceRecord = {
        Id: id,
        Arn: namespaceArn(deps.region, deps.accountId, id),
        ResourceOwner: deps.accountId,
        Name: name,
        Type: type,
        ...(description === undefined ? {} : { Description: description }),
        ServiceCount: 0,
        Properties: {
          DnsProperties: type === 'HTTP' ? {} : { HostedZoneId: newHostedZoneId(), SOA: { TTL: soaTtl ?? DEFAULT_SOA_TTL } },
          HttpProperties: { HttpName: name },
        },
        CreateDate: seconds,
        ...(token === undefined ? {} : { CreatorRequestId: token }),
        ...(vpc === undefined ? {} : { Vpc: vpc }),
        Tags: tags,
      };
      const op = operationRecord(deps.accountId, 'CREATE_NAMESPACE', { NAMESPACE: id }, ctx.now);
      const ops: Op[] = [putOp(keys.namespace(id), ns), putOp(nameKey, id), putOp(keys.operation(op.Id), op)];
      const guards = [isAt(nameKey, 0)];
      if (claim.kind === 'fresh') {
        guards.push(claim.guard);
        ops.push(claim.put({ OperationId: op.Id, NamespaceId: id }));
      }
      const res = await store.txn(guards, ops);
      return res.succeeded ? { OperationId: op.Id } : undefined;
    });
  }

  const CreatePrivateDnsNamespace: Operation = (input, ctx) => create('CreatePrivateDnsNamespace', 'DNS_PRIVATE', input, ctx);
  const CreateHttpNamespace: Operation = (input, ctx) => create('CreateHttpNamespace', 'HTTP', input, ctx);

  const CreatePublicDnsNamespace: Operation = (input) => {
    str(input, 'Name', { required: true, max: 253 });
    return Promise.reject(
      invalid('Public DNS namespaces are not supported by Berth: it answers DNS for private namespaces only (no public zone is delegated to it). Use CreatePrivateDnsNamespace or CreateHttpNamespace.'),
    );
  };

  const GetNamespace: Operation = async (input) => {
    const id = str(input, 'Id', { required: true, max: 255 });
    return { Namespace: namespaceShape((await getNamespace(store, id)).value) };
  };

  const ListNamespaces: Operation = async (input) => {
    const filters = readNamespaceFilters(input);
    const all = (await listJson<NamespaceRecord>(store, keys.namespaces())).map((s) => s.value);
    const matching = all.filter((ns) => filters.every((f) => f(ns))).sort((a, b) => (a.Id < b.Id ? -1 : 1));
    const { page, NextToken } = pageOf(matching, (ns) => ns.Id, input);
    return {
      Namespaces: page.map((ns) => {
        const { CreatorRequestId: _c, ...summary } = namespaceShape(ns);
        return summary;
      }),
      ...(NextToken === undefined ? {} : { NextToken }),
    };
  };

  const DeleteNamespace: Operation = async (input, ctx) => {
    const idOrArn = str(input, 'Id', { required: true, max: 255 });
    return retrying('namespace', async () => {
      const { value: ns, modRevision } = await getNamespace(store, idOrArn);
      if (ns.ServiceCount > 0) {
        throw new BerthError('ResourceInUse', `Namespace ${ns.Id} has ${ns.ServiceCount} service(s); delete them before the namespace.`);
      }
      const claimName = ns.Type === 'HTTP' ? ns.Name : ns.Name.toLowerCase().replace(/\.$/, '');
      const op = operationRecord(deps.accountId, 'DELETE_NAMESPACE', { NAMESPACE: ns.Id }, ctx.now);
      const res = await store.txn(
        [isAt(keys.namespace(ns.Id), modRevision)],
        [{ type: 'delete', key: keys.namespace(ns.Id) }, { type: 'delete', key: keys.namespaceName(claimName) }, putOp(keys.operation(op.Id), op)],
      );
      return res.succeeded ? { OperationId: op.Id } : undefined;
    });
  };

  /** UpdatePrivateDnsNamespace and UpdateHttpNamespace: the description, and a private namespace's SOA TTL. */
  async function update(operation: string, type: NamespaceType, input: Obj, ctx: RequestContext) {
    const idOrArn = str(input, 'Id', { required: true, max: 255 });
    str(input, 'UpdaterRequestId', { max: 64 });
    const change = obj(input, 'Namespace');
    if (change === undefined) throw invalid('Namespace is required.');
    const description = str(change, 'Description', { max: 1024, path: 'Namespace.Description', required: type === 'HTTP' });
    let soaTtl: number | undefined;
    if (type === 'DNS_PRIVATE') {
      const props = obj(change, 'Properties', 'Namespace.Properties');
      if (props !== undefined) {
        const dns = obj(props, 'DnsProperties', 'Namespace.Properties.DnsProperties');
        const soa = dns === undefined ? undefined : obj(dns, 'SOA', 'Namespace.Properties.DnsProperties.SOA');
        if (soa === undefined) throw invalid('Namespace.Properties.DnsProperties.SOA is required.');
        soaTtl = int(soa, 'TTL', { min: 0, max: 2147483647, path: 'Namespace.Properties.DnsProperties.SOA.TTL' });
        if (soaTtl === undefined) throw invalid('Namespace.Properties.DnsProperties.SOA.TTL is required.');
      }
    }
    return retrying('namespace', async () => {
      const { value: ns, modRevision } = await getNamespace(store, idOrArn);
      if (ns.Type !== type) throw invalid(`Namespace ${ns.Id} is of type ${ns.Type}: ${operation} updates ${type} namespaces.`);
      const next: NamespaceRecord = {
        ...ns,
        ...(description === undefined ? {} : { Description: description }),
        ...(soaTtl === undefined ? {} : { Properties: { ...ns.Properties, DnsProperties: { ...ns.Properties.DnsProperties, SOA: { TTL: soaTtl } } } }),
      };
      const op = operationRecord(deps.accountId, 'UPDATE_NAMESPACE', { NAMESPACE: ns.Id }, ctx.now);
      const res = await store.txn([isAt(keys.namespace(ns.Id), modRevision)], [putOp(keys.namespace(ns.Id), next), putOp(keys.operation(op.Id), op)]);
      return res.succeeded ? { OperationId: op.Id } : undefined;
    });
  }

  const UpdatePrivateDnsNamespace: Operation = (input, ctx) => update('UpdatePrivateDnsNamespace', 'DNS_PRIVATE', input, ctx);
  const UpdateHttpNamespace: Operation = (input, ctx) => update('UpdateHttpNamespace', 'HTTP', input, ctx);

  return {
    CreatePrivateDnsNamespace,
    CreateHttpNamespace,
    CreatePublicDnsNamespace,
    GetNamespace,
    ListNamespaces,
    DeleteNamespace,
    UpdatePrivateDnsNamespace,
    UpdateHttpNamespace,
  };
}

type NamespaceFilter = (ns: NamespaceRecord) => boolean;

/** ListNamespaces filters: TYPE, NAME, HTTP_NAME with EQ or BEGINS_WITH; RESOURCE_OWNER with EQ. */
function readNamespaceFilters(input: Obj): NamespaceFilter[] {
  const items = list(input, 'Filters') ?? [];
  return items.map((_, i) => {
    const path = `Filters[${i}]`;
    const f = objAt(items, i, 'Filters');
    const name = oneOf(f, 'Name', ['TYPE', 'NAME', 'HTTP_NAME', 'RESOURCE_OWNER'] as const, `${path}.Name`);
    if (name === undefined) throw invalid(`${path}.Name is required.`);
    const condition = oneOf(f, 'Condition', ['EQ', 'IN', 'BETWEEN', 'BEGINS_WITH'] as const, `${path}.Condition`) ?? 'EQ';
    const values = list(f, 'Values', { path: `${path}.Values` });
    if (values === undefined) throw invalid(`${path}.Values is required.`);
    values.forEach((v, j) => {
      if (typeof v !== 'string' || v.length < 1 || v.length > 255) throw invalid(`${path}.Values[${j}] must be a string of 1 to 255 characters.`);
    });
    if (condition !== 'EQ' && condition !== 'BEGINS_WITH') throw invalid(`${path}.Condition ${condition} is not supported for ${name}: use EQ or BEGINS_WITH.`);
    if (condition === 'BEGINS_WITH' && name === 'RESOURCE_OWNER') throw invalid(`${path}.Condition BEGINS_WITH is not supported for RESOURCE_OWNER: use EQ.`);
    if (values.length !== 1) throw invalid(`${path}.Values must have exactly one value with ${condition}; got ${values.length}.`);
    const want = values[0] as string;
    const field = (ns: NamespaceRecord): string => {
      switch (name) {
        case 'TYPE':
          return ns.Type;
        case 'NAME':
          return ns.Name;
        case 'HTTP_NAME':
          return ns.Properties.HttpProperties.HttpName;
        case 'RESOURCE_OWNER':
          return ns.ResourceOwner;
      }
    };
    if (name === 'TYPE' && condition === 'EQ' && !['DNS_PUBLIC', 'DNS_PRIVATE', 'HTTP'].includes(want)) {
      throw invalid(`${path}.Values[0] must be DNS_PUBLIC, DNS_PRIVATE or HTTP for TYPE; got '${want}'.`);
    }
    return condition === 'EQ' ? (ns) => field(ns) === want : (ns) => field(ns).startsWith(want);
  });
}
