/**
 * The Cloud Map API in-process: each operation's result in the wire shape, and each refusal with
 * its code and message having written nothing. A last group goes through the edge with a signed
 * request, the DiscoverInstances one to a `data-` host as the CLI sends it.
 */
import { describe, expect, it } from 'vitest';
import { createEdge } from '../edge/edge.js';
import { signJsonPost } from '../edge/sigv4.js';
import { SqliteStore } from '../store/index.js';
import { ACCOUNT, REGION, T0, discoveryHarness } from './harness.suite.js';
import { createServiceDiscoveryService, deregisterInstance, pruneDiscoveryHistory, registerInstance, setInstanceHealth } from './index.js';

const NS_ID = /^ns-[a-z2-7]{16}$/;
const SRV_ID = /^srv-[a-z2-7]{16}$/;
const OP_ID = /^[a-z2-7]{32}-[a-z2-7]{8}$/;
const T0_SECONDS = T0.getTime() / 1000;

describe('namespaces', () => {
  it('creates a private DNS namespace: an operation that succeeded, and the namespace in the wire shape', async () => {
    const { call } = discoveryHarness();
    const { OperationId } = await call('CreatePrivateDnsNamespace', {
      Name: 'example.local',
      Vpc: 'vpc-1',
      Description: 'apps',
      CreatorRequestId: 'req-a',
      Properties: { DnsProperties: { SOA: { TTL: 60 } } },
      Tags: [{ Key: 'team', Value: 'core' }],
    });
    expect(OperationId).toMatch(OP_ID);
    const { Operation } = await call('GetOperation', { OperationId });
    expect(Operation).toEqual({
      Id: OperationId,
      OwnerAccount: ACCOUNT,
      Type: 'CREATE_NAMESPACE',
      Status: 'SUCCESS',
      CreateDate: T0_SECONDS,
      UpdateDate: T0_SECONDS,
      Targets: { NAMESPACE: expect.stringMatching(NS_ID) },
    });
    const id = Operation.Targets.NAMESPACE;
    const { Namespace } = await call('GetNamespace', { Id: id });
    expect(Namespace).toEqual({
      Id: id,
      Arn: `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:namespace/${id}`,
      ResourceOwner: ACCOUNT,
      Name: 'example.local',
      Type: 'DNS_PRIVATE',
      Description: 'apps',
      ServiceCount: 0,
      Properties: { DnsProperties: { HostedZoneId: expect.stringMatching(/^Z[A-Z2-7]{20}$/), SOA: { TTL: 60 } }, HttpProperties: { HttpName: 'example.local' } },
      CreateDate: T0_SECONDS,
      CreatorRequestId: 'req-a',
    });
    expect((await call('GetNamespace', { Id: Namespace.Arn })).Namespace.Id).toBe(id);
    expect((await call('ListTagsForResource', { ResourceARN: Namespace.Arn })).Tags).toEqual([{ Key: 'team', Value: 'core' }]);
  });

  it('creates an HTTP namespace without DNS properties; the SOA TTL defaults to 15 for private ones', async () => {
    const { call, httpNamespace, namespace } = discoveryHarness();
    const http = (await call('GetNamespace', { Id: await httpNamespace('apps') })).Namespace;
    expect(http).toMatchObject({ Type: 'HTTP', Properties: { DnsProperties: {}, HttpProperties: { HttpName: 'apps' } } });
    const dns = (await call('GetNamespace', { Id: await namespace('b.local') })).Namespace;
    expect(dns.Properties.DnsProperties.SOA).toEqual({ TTL: 15 });
  });

  it('replays a CreatorRequestId: same request, same operation; a different request with it is a DuplicateRequest', async () => {
    const { call, refused } = discoveryHarness();
    const first = await call('CreatePrivateDnsNamespace', { Name: 'a.local', Vpc: 'vpc-1', CreatorRequestId: 'tok' });
    expect(await call('CreatePrivateDnsNamespace', { Name: 'a.local', Vpc: 'vpc-1', CreatorRequestId: 'tok' })).toEqual(first);
    const err = await refused('CreatePrivateDnsNamespace', { Name: 'b.local', Vpc: 'vpc-1', CreatorRequestId: 'tok' }, 'DuplicateRequest', /already used/);
    expect(err.fields).toEqual({ DuplicateOperationId: first.OperationId });
    expect((await call('ListNamespaces')).Namespaces).toHaveLength(1);
  });

  it('refuses a second namespace of the same name (DNS names case-insensitively), naming the first', async () => {
    const { refused, namespace } = discoveryHarness();
    const id = await namespace('example.local', { CreatorRequestId: 'first' });
    const err = await refused('CreatePrivateDnsNamespace', { Name: 'Example.Local', Vpc: 'vpc-1' }, 'NamespaceAlreadyExists', /already exists/);
    expect(err.fields).toEqual({ NamespaceId: id, CreatorRequestId: 'first' });
  });

  it('refuses bad namespace requests with the field and the rule', async () => {
    const { refused } = discoveryHarness();
    await refused('CreatePrivateDnsNamespace', { Vpc: 'vpc-1' }, 'InvalidInput', /^Name is required\.$/);
    await refused('CreatePrivateDnsNamespace', { Name: 'a.local' }, 'InvalidInput', /^Vpc is required\.$/);
    await refused('CreatePrivateDnsNamespace', { Name: 'arn:x', Vpc: 'v' }, 'InvalidInput', /Name 'arn:x' is not valid/);
    await refused('CreatePrivateDnsNamespace', { Name: 'bad..name', Vpc: 'v' }, 'InvalidInput', /not a DNS domain name/);
    await refused('CreatePrivateDnsNamespace', { Name: 'a'.repeat(254), Vpc: 'v' }, 'InvalidInput', /at most 253/);
    await refused('CreatePrivateDnsNamespace', { Name: 'a.local', Vpc: 'v', Properties: {} }, 'InvalidInput', /Properties.DnsProperties is required/);
    await refused('CreatePrivateDnsNamespace', { Name: 'a.local', Vpc: 'v', Properties: { DnsProperties: { SOA: {} } } }, 'InvalidInput', /SOA.TTL is required/);
    await refused('CreatePrivateDnsNamespace', { Name: 'a.local', Vpc: 'v', Properties: { DnsProperties: { SOA: { TTL: -1 } } } }, 'InvalidInput', /at least 0/);
    await refused('CreatePrivateDnsNamespace', { Name: 'a.local', Vpc: 'v', Tags: [{ Key: '', Value: 'x' }] }, 'InvalidInput', /Tags\[0\]\.Key must be at least 1/);
    await refused('CreatePrivateDnsNamespace', { Name: 'a.local', Vpc: 'v', Tags: [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }] }, 'InvalidInput', /twice/);
    const many = Array.from({ length: 201 }, (_, i) => ({ Key: `k${i}`, Value: '' }));
    await refused('CreateHttpNamespace', { Name: 'apps', Tags: many }, 'TooManyTagsException', /at most 200/);
    await refused('CreateHttpNamespace', { Name: 42 }, 'SerializationException', /expected a string/);
    await refused('CreatePublicDnsNamespace', { Name: 'example.com' }, 'InvalidInput', /Public DNS namespaces are not supported/);
    await refused('GetNamespace', {}, 'InvalidInput', /^Id is required\.$/);
    await refused('GetNamespace', { Id: 'ns-nope' }, 'NamespaceNotFound', 'Namespace not found: ns-nope.');
  });

  it('lists with filters and pages', async () => {
    const { call, refused, namespace, httpNamespace } = discoveryHarness();
    const a = await namespace('a.local');
    const b = await namespace('b.local');
    const h = await httpNamespace('apps');
    const ids = (res: { Namespaces: Array<{ Id: string }> }) => res.Namespaces.map((n) => n.Id).sort();
    expect(ids(await call('ListNamespaces'))).toEqual([a, b, h].sort());
    expect(ids(await call('ListNamespaces', { Filters: [{ Name: 'TYPE', Values: ['HTTP'] }] }))).toEqual([h]);
    expect(ids(await call('ListNamespaces', { Filters: [{ Name: 'NAME', Condition: 'BEGINS_WITH', Values: ['a'] }] }))).toEqual([a, h].sort());
    expect(ids(await call('ListNamespaces', { Filters: [{ Name: 'HTTP_NAME', Values: ['b.local'] }, { Name: 'RESOURCE_OWNER', Values: [ACCOUNT] }] }))).toEqual([b]);
    expect((await call('ListNamespaces')).Namespaces[0]).not.toHaveProperty('CreatorRequestId');

    const seen: string[] = [];
    let page = await call('ListNamespaces', { MaxResults: 2 });
    seen.push(...page.Namespaces.map((n: { Id: string }) => n.Id));
    expect(page.NextToken).toEqual(expect.any(String));
    page = await call('ListNamespaces', { MaxResults: 2, NextToken: page.NextToken });
    seen.push(...page.Namespaces.map((n: { Id: string }) => n.Id));
    expect(page.NextToken).toBeUndefined();
    expect(seen.sort()).toEqual([a, b, h].sort());

    await refused('ListNamespaces', { MaxResults: 0 }, 'InvalidInput', /MaxResults must be at least 1/);
    await refused('ListNamespaces', { MaxResults: 101 }, 'InvalidInput', /MaxResults must be at most 100/);
    await refused('ListNamespaces', { NextToken: '!!' }, 'InvalidInput', /NextToken/);
    await refused('ListNamespaces', { Filters: [{ Name: 'COLOR', Values: ['x'] }] }, 'InvalidInput', /Filters\[0\]\.Name must be one of/);
    await refused('ListNamespaces', { Filters: [{ Values: ['x'] }] }, 'InvalidInput', /Filters\[0\]\.Name is required/);
    await refused('ListNamespaces', { Filters: [{ Name: 'TYPE' }] }, 'InvalidInput', /Values is required/);
    await refused('ListNamespaces', { Filters: [{ Name: 'TYPE', Values: ['HTTP', 'DNS_PRIVATE'] }] }, 'InvalidInput', /exactly one value/);
    await refused('ListNamespaces', { Filters: [{ Name: 'TYPE', Condition: 'IN', Values: ['HTTP'] }] }, 'InvalidInput', /IN is not supported for TYPE/);
    await refused('ListNamespaces', { Filters: [{ Name: 'TYPE', Values: ['DNS'] }] }, 'InvalidInput', /DNS_PUBLIC, DNS_PRIVATE or HTTP/);
    await refused('ListNamespaces', { Filters: [{ Name: 'RESOURCE_OWNER', Condition: 'BEGINS_WITH', Values: ['0'] }] }, 'InvalidInput', /BEGINS_WITH is not supported for RESOURCE_OWNER/);
  });

  it("updates a namespace: the description, and a private one's SOA TTL", async () => {
    const { call, refused, namespace, httpNamespace } = discoveryHarness();
    const id = await namespace();
    const { OperationId } = await call('UpdatePrivateDnsNamespace', { Id: id, Namespace: { Description: 'd', Properties: { DnsProperties: { SOA: { TTL: 99 } } } } });
    expect((await call('GetOperation', { OperationId })).Operation).toMatchObject({ Type: 'UPDATE_NAMESPACE', Targets: { NAMESPACE: id } });
    expect((await call('GetNamespace', { Id: id })).Namespace).toMatchObject({ Description: 'd', Properties: { DnsProperties: { SOA: { TTL: 99 } } } });
    const h = await httpNamespace();
    await call('UpdateHttpNamespace', { Id: h, Namespace: { Description: 'apps' } });
    expect((await call('GetNamespace', { Id: h })).Namespace.Description).toBe('apps');
    await refused('UpdateHttpNamespace', { Id: h, Namespace: {} }, 'InvalidInput', /^Namespace.Description is required\.$/);
    await refused('UpdateHttpNamespace', { Id: id, Namespace: { Description: 'x' } }, 'InvalidInput', /is of type DNS_PRIVATE/);
    await refused('UpdatePrivateDnsNamespace', { Id: id }, 'InvalidInput', /^Namespace is required\.$/);
    await refused('UpdatePrivateDnsNamespace', { Id: id, Namespace: { Properties: { DnsProperties: {} } } }, 'InvalidInput', /SOA is required/);
    await refused('UpdatePrivateDnsNamespace', { Id: 'ns-nope', Namespace: { Description: 'x' } }, 'NamespaceNotFound');
  });

  it('deletes an empty namespace (its name free again) and refuses one with services', async () => {
    const { call, refused, namespace, dnsService } = discoveryHarness();
    const id = await namespace('example.local');
    const srv = await dnsService(id);
    expect((await call('GetNamespace', { Id: id })).Namespace.ServiceCount).toBe(1);
    await refused('DeleteNamespace', { Id: id }, 'ResourceInUse', /has 1 service/);
    await call('DeleteService', { Id: srv });
    const { OperationId } = await call('DeleteNamespace', { Id: id });
    expect((await call('GetOperation', { OperationId })).Operation).toMatchObject({ Type: 'DELETE_NAMESPACE', Status: 'SUCCESS', Targets: { NAMESPACE: id } });
    await refused('GetNamespace', { Id: id }, 'NamespaceNotFound');
    await refused('DeleteNamespace', { Id: id }, 'NamespaceNotFound');
    await namespace('example.local');
  });
});

describe('services', () => {
  it('creates a DNS service in the wire shape, counted by its namespace', async () => {
    const { call, namespace } = discoveryHarness();
    const ns = await namespace();
    const { Service } = await call('CreateService', {
      Name: 'web',
      NamespaceId: ns,
      Description: 'front',
      CreatorRequestId: 'c1',
      DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'SRV', TTL: 20 }] },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
      Tags: [{ Key: 'app', Value: 'web' }],
    });
    expect(Service).toEqual({
      Id: expect.stringMatching(SRV_ID),
      Arn: `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:service/${Service.Id}`,
      ResourceOwner: ACCOUNT,
      Name: 'web',
      NamespaceId: ns,
      Description: 'front',
      InstanceCount: 0,
      DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'SRV', TTL: 20 }] },
      Type: 'DNS_HTTP',
      HealthCheckCustomConfig: { FailureThreshold: 1 },
      CreateDate: T0_SECONDS,
      CreatorRequestId: 'c1',
      CreatedByAccount: ACCOUNT,
    });
    expect((await call('GetService', { Id: Service.Arn })).Service).toEqual(Service);
    expect((await call('GetNamespace', { Id: ns })).Namespace.ServiceCount).toBe(1);
    // The same CreatorRequestId and request: the same service back.
    expect(
      (
        await call('CreateService', {
          Name: 'web',
          NamespaceId: ns,
          Description: 'front',
          CreatorRequestId: 'c1',
          DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'SRV', TTL: 20 }] },
          HealthCheckCustomConfig: { FailureThreshold: 1 },
          Tags: [{ Key: 'app', Value: 'web' }],
        })
      ).Service,
    ).toEqual(Service);
  });

  it('makes HTTP services in HTTP namespaces, and takes the deprecated DnsConfig.NamespaceId', async () => {
    const { call, namespace, httpNamespace } = discoveryHarness();
    const h = await httpNamespace();
    expect((await call('CreateService', { Name: 'api', NamespaceId: h })).Service).toMatchObject({ Type: 'HTTP', NamespaceId: h });
    const d = await namespace();
    expect((await call('CreateService', { Name: 'api', NamespaceId: d, Type: 'HTTP' })).Service.Type).toBe('HTTP');
    const old = await call('CreateService', { Name: 'old', DnsConfig: { NamespaceId: d, DnsRecords: [{ Type: 'A', TTL: 5 }] } });
    expect(old.Service).toMatchObject({ NamespaceId: d, DnsConfig: { NamespaceId: d, RoutingPolicy: 'MULTIVALUE' } });
  });

  it('refuses bad services with the field and the rule', async () => {
    const { refused, namespace, httpNamespace, dnsService } = discoveryHarness();
    const ns = await namespace();
    const h = await httpNamespace();
    const dns = (records: unknown, extra: Record<string, unknown> = {}) => ({ Name: 'x', NamespaceId: ns, DnsConfig: { DnsRecords: records, ...extra } });
    await refused('CreateService', { NamespaceId: ns }, 'InvalidInput', /^Name is required\.$/);
    await refused('CreateService', { Name: '-bad-', NamespaceId: ns }, 'InvalidInput', /Name '-bad-' is not valid/);
    await refused('CreateService', { Name: 'x' }, 'InvalidInput', /NamespaceId is required/);
    await refused('CreateService', { Name: 'x', NamespaceId: 'ns-nope', DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } }, 'NamespaceNotFound');
    await refused('CreateService', { Name: 'x', NamespaceId: ns }, 'InvalidInput', /needs a DnsConfig/);
    await refused('CreateService', { Name: 'x', NamespaceId: h, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } }, 'InvalidInput', /HTTP namespace/);
    await refused('CreateService', { Name: 'x', NamespaceId: ns, Type: 'HTTP', DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } }, 'InvalidInput', /Type HTTP cannot have a DnsConfig/);
    await refused('CreateService', { Name: 'x', NamespaceId: ns, Type: 'DNS' }, 'InvalidInput', /Type must be one of HTTP/);
    await refused('CreateService', dns(undefined), 'InvalidInput', /DnsConfig.DnsRecords is required/);
    await refused('CreateService', dns([]), 'InvalidInput', /at least one record/);
    await refused('CreateService', dns([{ Type: 'MX', TTL: 1 }]), 'InvalidInput', /DnsRecords\[0\]\.Type must be one of/);
    await refused('CreateService', dns([{ Type: 'A' }]), 'InvalidInput', /DnsRecords\[0\]\.TTL is required/);
    await refused('CreateService', dns([{ Type: 'A', TTL: 2147483648 }]), 'InvalidInput', /TTL must be at most 2147483647/);
    await refused('CreateService', dns([{ Type: 'A', TTL: 1 }, { Type: 'A', TTL: 2 }]), 'InvalidInput', /two A records/);
    await refused('CreateService', dns([{ Type: 'CNAME', TTL: 1 }, { Type: 'A', TTL: 2 }]), 'InvalidInput', /cannot be combined/);
    await refused('CreateService', dns([{ Type: 'CNAME', TTL: 1 }], { RoutingPolicy: 'MULTIVALUE' }), 'InvalidInput', /need RoutingPolicy WEIGHTED/);
    await refused('CreateService', dns([{ Type: 'A', TTL: 1 }], { RoutingPolicy: 'LATENCY' }), 'InvalidInput', /RoutingPolicy must be one of/);
    await refused('CreateService', { ...dns([{ Type: 'A', TTL: 1 }]), HealthCheckConfig: { Type: 'HTTP' } }, 'InvalidInput', /only to public DNS namespaces/);
    await refused('CreateService', { ...dns([{ Type: 'A', TTL: 1 }]), HealthCheckCustomConfig: { FailureThreshold: 11 } }, 'InvalidInput', /FailureThreshold must be at most 10/);
    await refused('CreateService', { Name: 'x', NamespaceId: ns, DnsConfig: { NamespaceId: h, DnsRecords: [{ Type: 'A', TTL: 1 }] } }, 'InvalidInput', /name different namespaces/);
    const id = await dnsService(ns, 'web', { CreatorRequestId: 'orig' });
    const err = await refused('CreateService', { ...dns([{ Type: 'A', TTL: 1 }]), Name: 'WEB' }, 'ServiceAlreadyExists', /already exists/);
    expect(err.fields).toEqual({ ServiceId: id, ServiceArn: `arn:aws:servicediscovery:${REGION}:${ACCOUNT}:service/${id}`, CreatorRequestId: 'orig' });
    await refused('CreateService', { ...dns([{ Type: 'A', TTL: 1 }]), Name: 'other', CreatorRequestId: 'orig' }, 'DuplicateRequest', /already used/);
    await refused('GetService', { Id: 'srv-nope' }, 'ServiceNotFound', 'Service not found: srv-nope.');
    await refused('GetService', {}, 'InvalidInput', /^Id is required\.$/);
  });

  it('lists services by namespace, in pages, as summaries', async () => {
    const { call, refused, namespace, dnsService } = discoveryHarness();
    const a = await namespace('a.local');
    const b = await namespace('b.local');
    const s1 = await dnsService(a, 'one');
    const s2 = await dnsService(a, 'two');
    const s3 = await dnsService(b, 'three');
    const ids = (res: { Services: Array<{ Id: string }> }) => res.Services.map((s) => s.Id).sort();
    expect(ids(await call('ListServices'))).toEqual([s1, s2, s3].sort());
    expect(ids(await call('ListServices', { Filters: [{ Name: 'NAMESPACE_ID', Values: [a] }] }))).toEqual([s1, s2].sort());
    expect(ids(await call('ListServices', { Filters: [{ Name: 'NAMESPACE_ID', Condition: 'IN', Values: [a, b] }] }))).toEqual([s1, s2, s3].sort());
    const summary = (await call('ListServices', { Filters: [{ Name: 'NAMESPACE_ID', Values: [b] }] })).Services[0];
    expect(summary).toEqual({
      Id: s3,
      Arn: expect.any(String),
      ResourceOwner: ACCOUNT,
      Name: 'three',
      InstanceCount: 0,
      DnsConfig: expect.any(Object),
      Type: 'DNS_HTTP',
      HealthCheckCustomConfig: {},
      CreateDate: T0_SECONDS,
      CreatedByAccount: ACCOUNT,
    });
    const first = await call('ListServices', { MaxResults: 1 });
    expect(first.Services).toHaveLength(1);
    expect((await call('ListServices', { MaxResults: 5, NextToken: first.NextToken })).Services).toHaveLength(2);
    await refused('ListServices', { Filters: [{ Name: 'NAMESPACE_ID', Condition: 'BETWEEN', Values: [a] }] }, 'InvalidInput', /BETWEEN is not supported/);
    await refused('ListServices', { Filters: [{ Name: 'NAME', Values: [a] }] }, 'InvalidInput', /Name must be one of NAMESPACE_ID, RESOURCE_OWNER/);
    await refused('ListServices', { Filters: [{ Name: 'NAMESPACE_ID', Values: [] }] }, 'InvalidInput', /exactly one value/);
  });

  it('updates TTLs and the description (record types fixed), as an UPDATE_SERVICE operation', async () => {
    const { call, refused, namespace, dnsService, httpNamespace } = discoveryHarness();
    const id = await dnsService(await namespace());
    const { OperationId } = await call('UpdateService', { Id: id, Service: { Description: 'new', DnsConfig: { DnsRecords: [{ Type: 'SRV', TTL: 5 }, { Type: 'A', TTL: 7 }] } } });
    expect((await call('GetOperation', { OperationId })).Operation).toMatchObject({ Type: 'UPDATE_SERVICE', Targets: { SERVICE: id } });
    expect((await call('GetService', { Id: id })).Service).toMatchObject({ Description: 'new', DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'SRV', TTL: 5 }, { Type: 'A', TTL: 7 }] } });
    await refused('UpdateService', { Id: id }, 'InvalidInput', /^Service is required\.$/);
    await refused('UpdateService', { Id: id, Service: { DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } } }, 'InvalidInput', /must keep the service's record types/);
    await refused('UpdateService', { Id: id, Service: { HealthCheckConfig: { Type: 'TCP' } } }, 'InvalidInput', /public DNS namespaces/);
    await refused('UpdateService', { Id: 'srv-nope', Service: {} }, 'ServiceNotFound');
    const http = (await call('CreateService', { Name: 'h', NamespaceId: await httpNamespace() })).Service.Id;
    await refused('UpdateService', { Id: http, Service: { DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } } }, 'InvalidInput', /has no DnsConfig/);
  });

  it('deletes a service only without instances', async () => {
    const { call, refused, namespace, dnsService, instance } = discoveryHarness();
    const ns = await namespace();
    const id = await dnsService(ns);
    await instance(id, 'i-1', '10.0.0.1');
    await refused('DeleteService', { Id: id }, 'ResourceInUse', /has 1 registered instance/);
    await call('DeregisterInstance', { ServiceId: id, InstanceId: 'i-1' });
    expect(await call('DeleteService', { Id: id })).toEqual({});
    await refused('DeleteService', { Id: id }, 'ServiceNotFound');
    expect((await call('GetNamespace', { Id: ns })).Namespace.ServiceCount).toBe(0);
    await dnsService(ns); // the name is free again
  });
});

describe('instances', () => {
  it('registers, gets, lists, re-registers and deregisters instances, each an operation', async () => {
    const { call, namespace, dnsService } = discoveryHarness();
    const ns = await namespace();
    const srv = await dnsService(ns);
    const reg = await call('RegisterInstance', { ServiceId: srv, InstanceId: 'task-1', CreatorRequestId: 'r1', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', color: 'blue' } });
    expect(reg.OperationId).toMatch(OP_ID);
    expect((await call('GetOperation', { OperationId: reg.OperationId })).Operation).toMatchObject({
      Type: 'REGISTER_INSTANCE',
      Status: 'SUCCESS',
      Targets: { NAMESPACE: ns, SERVICE: srv, INSTANCE: 'task-1' },
    });
    expect(await call('GetInstance', { ServiceId: srv, InstanceId: 'task-1' })).toEqual({
      ResourceOwner: ACCOUNT,
      Instance: { Id: 'task-1', CreatorRequestId: 'r1', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', color: 'blue' }, CreatedByAccount: ACCOUNT },
    });
    // The same CreatorRequestId and request: the same operation, nothing new.
    expect(await call('RegisterInstance', { ServiceId: srv, InstanceId: 'task-1', CreatorRequestId: 'r1', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', color: 'blue' } })).toEqual(reg);
    await call('RegisterInstance', { ServiceId: srv, InstanceId: 'task-1', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.9', AWS_INSTANCE_PORT: '81' } });
    await call('RegisterInstance', { ServiceId: srv, InstanceId: 'task-2', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.2', AWS_INSTANCE_PORT: '80' } });
    expect((await call('GetService', { Id: srv })).Service.InstanceCount).toBe(2);
    const listed = await call('ListInstances', { ServiceId: srv });
    expect(listed).toEqual({
      ResourceOwner: ACCOUNT,
      Instances: [
        { Id: 'task-1', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.9', AWS_INSTANCE_PORT: '81' }, CreatedByAccount: ACCOUNT },
        { Id: 'task-2', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.2', AWS_INSTANCE_PORT: '80' }, CreatedByAccount: ACCOUNT },
      ],
    });
    const page = await call('ListInstances', { ServiceId: srv, MaxResults: 1 });
    expect(page.Instances.map((i: { Id: string }) => i.Id)).toEqual(['task-1']);
    expect((await call('ListInstances', { ServiceId: srv, NextToken: page.NextToken })).Instances.map((i: { Id: string }) => i.Id)).toEqual(['task-2']);
    const dereg = await call('DeregisterInstance', { ServiceId: srv, InstanceId: 'task-1' });
    expect((await call('GetOperation', { OperationId: dereg.OperationId })).Operation.Type).toBe('DEREGISTER_INSTANCE');
    expect((await call('GetService', { Id: srv })).Service.InstanceCount).toBe(1);
  });

  it('refuses attributes the service records cannot use, and unknown services and instances', async () => {
    const { call, refused, namespace, dnsService, instance } = discoveryHarness();
    const ns = await namespace();
    const srv = await dnsService(ns);
    const reg = (Attributes: Record<string, string>, extra: Record<string, unknown> = {}) => ({ ServiceId: srv, InstanceId: 'i1', Attributes, ...extra });
    await refused('RegisterInstance', { ServiceId: srv, InstanceId: 'i1' }, 'InvalidInput', /^Attributes is required\.$/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_PORT: '80' }), 'InvalidInput', /has an A record: Attributes.AWS_INSTANCE_IPV4 is required/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_IPV4: '10.0.0.1' }), 'InvalidInput', /has an SRV record: Attributes.AWS_INSTANCE_PORT is required/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_IPV4: '10.0.0.256', AWS_INSTANCE_PORT: '80' }), 'InvalidInput', /not an IPv4 address/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '70000' }), 'InvalidInput', /not a port number/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', AWS_INSTANCE_IPV6: 'zz::1' }), 'InvalidInput', /not an IPv6 address/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', AWS_INIT_HEALTH_STATUS: 'SICK' }), 'InvalidInput', /HEALTHY or UNHEALTHY/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', AWS_ALIAS_DNS_NAME: 'lb.example.com' }), 'InvalidInput', /not supported/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', ' bad': 'x' }), 'InvalidInput', /key ' bad' is not valid/);
    await refused('RegisterInstance', reg({ AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', k: ' padded' }), 'InvalidInput', /Attributes.k is not valid/);
    const thirtyOne = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, 'v']));
    await refused('RegisterInstance', reg(thirtyOne), 'InvalidInput', /at most 30 attributes/);
    await refused('RegisterInstance', { ...reg({ AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80' }), InstanceId: 'has space' }, 'InvalidInput', /InstanceId 'has space' is not valid/);
    await refused('RegisterInstance', { ...reg({ AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80' }), ServiceId: 'srv-nope' }, 'ServiceNotFound');
    await refused('RegisterInstance', { ...reg({}), Attributes: { a: 1 } }, 'SerializationException', /Attributes.a: expected a string/);
    await instance(srv, 'i1', '10.0.0.1', 80, {}).then(() => undefined);
    await call('RegisterInstance', { ...reg({ AWS_INSTANCE_IPV4: '10.0.0.2', AWS_INSTANCE_PORT: '80' }), InstanceId: 'i2', CreatorRequestId: 'tok' });
    await refused('RegisterInstance', { ...reg({ AWS_INSTANCE_IPV4: '10.0.0.3', AWS_INSTANCE_PORT: '80' }), InstanceId: 'i3', CreatorRequestId: 'tok' }, 'DuplicateRequest', /already used/);
    await refused('GetInstance', { ServiceId: srv, InstanceId: 'nope' }, 'InstanceNotFound', `Instance nope is not registered with service ${srv}.`);
    await refused('GetInstance', { ServiceId: 'srv-nope', InstanceId: 'i1' }, 'ServiceNotFound');
    await refused('DeregisterInstance', { ServiceId: srv, InstanceId: 'nope' }, 'InstanceNotFound');
    await refused('DeregisterInstance', { ServiceId: 'srv-nope', InstanceId: 'i1' }, 'ServiceNotFound');
    await refused('ListInstances', { ServiceId: 'srv-nope' }, 'ServiceNotFound');
    await refused('ListInstances', {}, 'InvalidInput', /^ServiceId is required\.$/);
  });

  it('takes any attributes in an HTTP service, and AAAA, CNAME rules in DNS ones', async () => {
    const { call, refused, namespace, httpNamespace } = discoveryHarness();
    const http = (await call('CreateService', { Name: 'api', NamespaceId: await httpNamespace() })).Service.Id;
    await call('RegisterInstance', { ServiceId: http, InstanceId: 'a', Attributes: { url: 'http://x' } });
    const ns = await namespace();
    const v6 = (await call('CreateService', { Name: 'v6', NamespaceId: ns, DnsConfig: { DnsRecords: [{ Type: 'AAAA', TTL: 1 }] } })).Service.Id;
    await refused('RegisterInstance', { ServiceId: v6, InstanceId: 'a', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } }, 'InvalidInput', /AWS_INSTANCE_IPV6 is required/);
    await call('RegisterInstance', { ServiceId: v6, InstanceId: 'a', Attributes: { AWS_INSTANCE_IPV6: 'fd00::1' } });
    const cn = (await call('CreateService', { Name: 'cn', NamespaceId: ns, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'CNAME', TTL: 1 }] } })).Service.Id;
    await refused('RegisterInstance', { ServiceId: cn, InstanceId: 'a', Attributes: {} }, 'InvalidInput', /AWS_INSTANCE_CNAME is required/);
    const srvOnly = (await call('CreateService', { Name: 'so', NamespaceId: ns, DnsConfig: { DnsRecords: [{ Type: 'SRV', TTL: 1 }] } })).Service.Id;
    await refused('RegisterInstance', { ServiceId: srvOnly, InstanceId: 'a', Attributes: { AWS_INSTANCE_PORT: '80' } }, 'InvalidInput', /its target needs/);
  });

  it('keeps health: custom status over AWS_INIT_HEALTH_STATUS over HEALTHY; UNKNOWN without health checks', async () => {
    const { call, refused, namespace, dnsService, instance } = discoveryHarness();
    const ns = await namespace();
    const srv = await dnsService(ns);
    await instance(srv, 'a', '10.0.0.1');
    await instance(srv, 'b', '10.0.0.2', 80, { AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' });
    await instance(srv, 'c', '10.0.0.3');
    expect(await call('GetInstancesHealthStatus', { ServiceId: srv })).toEqual({ Status: { a: 'HEALTHY', b: 'UNHEALTHY', c: 'HEALTHY' } });
    expect(await call('UpdateInstanceCustomHealthStatus', { ServiceId: srv, InstanceId: 'b', Status: 'HEALTHY' })).toBeUndefined();
    await call('UpdateInstanceCustomHealthStatus', { ServiceId: srv, InstanceId: 'c', Status: 'UNHEALTHY' });
    expect(await call('GetInstancesHealthStatus', { ServiceId: srv, Instances: ['c', 'b'] })).toEqual({ Status: { b: 'HEALTHY', c: 'UNHEALTHY' } });
    const paged = await call('GetInstancesHealthStatus', { ServiceId: srv, MaxResults: 2 });
    expect(Object.keys(paged.Status)).toEqual(['a', 'b']);
    expect(await call('GetInstancesHealthStatus', { ServiceId: srv, NextToken: paged.NextToken })).toEqual({ Status: { c: 'UNHEALTHY' } });
    await refused('GetInstancesHealthStatus', { ServiceId: srv, Instances: ['zz'] }, 'InstanceNotFound', /zz/);
    await refused('GetInstancesHealthStatus', { ServiceId: srv, Instances: [] }, 'InvalidInput', /at least 1/);
    await refused('UpdateInstanceCustomHealthStatus', { ServiceId: srv, InstanceId: 'a', Status: 'MEH' }, 'InvalidInput', /Status must be one of HEALTHY, UNHEALTHY/);
    await refused('UpdateInstanceCustomHealthStatus', { ServiceId: srv, InstanceId: 'a' }, 'InvalidInput', /^Status is required\.$/);
    await refused('UpdateInstanceCustomHealthStatus', { ServiceId: srv, InstanceId: 'zz', Status: 'HEALTHY' }, 'InstanceNotFound');
    const plain = (await call('CreateService', { Name: 'plain', NamespaceId: ns, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } })).Service.Id;
    await call('RegisterInstance', { ServiceId: plain, InstanceId: 'p', Attributes: { AWS_INSTANCE_IPV4: '10.0.1.1' } });
    expect(await call('GetInstancesHealthStatus', { ServiceId: plain })).toEqual({ Status: { p: 'UNKNOWN' } });
    await refused('UpdateInstanceCustomHealthStatus', { ServiceId: plain, InstanceId: 'p', Status: 'HEALTHY' }, 'CustomHealthNotFound', /no HealthCheckCustomConfig/);
  });

  it('discovers instances by namespace and service name, with health, query and optional parameters', async () => {
    const { call, refused, namespace, dnsService, instance, httpNamespace } = discoveryHarness();
    const srv = await dnsService(await namespace());
    await instance(srv, 'a', '10.0.0.1', 80, { color: 'blue', zone: 'x' });
    await instance(srv, 'b', '10.0.0.2', 80, { color: 'green', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' });
    await instance(srv, 'c', '10.0.0.3', 80, { color: 'blue', zone: 'y' });
    const found = async (input: Record<string, unknown>) => ((await call('DiscoverInstances', { NamespaceName: 'example.local', ServiceName: 'web', ...input })).Instances as Array<{ InstanceId: string }>).map((i) => i.InstanceId);
    const res = await call('DiscoverInstances', { NamespaceName: 'example.local', ServiceName: 'web' });
    expect(res.Instances[0]).toEqual({ InstanceId: 'a', NamespaceName: 'example.local', ServiceName: 'web', HealthStatus: 'HEALTHY', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80', color: 'blue', zone: 'x' } });
    expect(res.InstancesRevision).toEqual(expect.any(Number));
    expect(await found({})).toEqual(['a', 'c']);
    expect(await found({ HealthStatus: 'ALL' })).toEqual(['a', 'b', 'c']);
    expect(await found({ HealthStatus: 'UNHEALTHY' })).toEqual(['b']);
    expect(await found({ QueryParameters: { color: 'blue' }, OptionalParameters: { zone: 'y' } })).toEqual(['c']);
    expect(await found({ QueryParameters: { color: 'blue' }, OptionalParameters: { zone: 'nowhere' } })).toEqual(['a', 'c']);
    expect(await found({ QueryParameters: { color: 'green' }, HealthStatus: 'HEALTHY_OR_ELSE_ALL' })).toEqual(['b']);
    expect(await found({ MaxResults: 1 })).toEqual(['a']);
    const before = (await call('DiscoverInstancesRevision', { NamespaceName: 'example.local', ServiceName: 'web' })).InstancesRevision;
    await call('UpdateInstanceCustomHealthStatus', { ServiceId: srv, InstanceId: 'b', Status: 'HEALTHY' });
    expect((await call('DiscoverInstancesRevision', { NamespaceName: 'example.local', ServiceName: 'web' })).InstancesRevision).toBeGreaterThan(before);
    await refused('DiscoverInstances', { NamespaceName: 'nope', ServiceName: 'web' }, 'NamespaceNotFound', /nope/);
    await refused('DiscoverInstances', { NamespaceName: 'example.local', ServiceName: 'nope' }, 'ServiceNotFound', /nope/);
    await refused('DiscoverInstances', { NamespaceName: 'example.local' }, 'InvalidInput', /^ServiceName is required\.$/);
    await refused('DiscoverInstances', { NamespaceName: 'example.local', ServiceName: 'web', MaxResults: 1001 }, 'InvalidInput', /at most 1000/);
    await refused('DiscoverInstances', { NamespaceName: 'example.local', ServiceName: 'web', HealthStatus: 'SOME' }, 'InvalidInput', /HealthStatus must be one of/);
    // HTTP namespaces, and services without health checks (all returned, UNKNOWN).
    const api = (await call('CreateService', { Name: 'api', NamespaceId: await httpNamespace('apps') })).Service.Id;
    await call('RegisterInstance', { ServiceId: api, InstanceId: 'h1', Attributes: { url: 'http://10.0.0.9' } });
    expect((await call('DiscoverInstances', { NamespaceName: 'apps', ServiceName: 'api', HealthStatus: 'UNHEALTHY' })).Instances).toEqual([
      { InstanceId: 'h1', NamespaceName: 'apps', ServiceName: 'api', HealthStatus: 'UNKNOWN', Attributes: { url: 'http://10.0.0.9' } },
    ]);
  });
});

describe('operations and tags', () => {
  it('lists operations with filters', async () => {
    const { call, refused, namespace, dnsService, instance } = discoveryHarness();
    const ns = await namespace();
    const srv = await dnsService(ns);
    const reg = await instance(srv, 'a', '10.0.0.1');
    const all = (await call('ListOperations')).Operations;
    expect(all).toHaveLength(2);
    expect(all[0]).toEqual({ Id: expect.stringMatching(OP_ID), Status: 'SUCCESS' });
    expect((await call('ListOperations', { Filters: [{ Name: 'TYPE', Values: ['REGISTER_INSTANCE'] }] })).Operations).toEqual([{ Id: reg.OperationId, Status: 'SUCCESS' }]);
    expect((await call('ListOperations', { Filters: [{ Name: 'SERVICE_ID', Values: [srv] }] })).Operations).toHaveLength(1);
    expect((await call('ListOperations', { Filters: [{ Name: 'NAMESPACE_ID', Values: [ns] }] })).Operations).toHaveLength(2);
    expect((await call('ListOperations', { Filters: [{ Name: 'STATUS', Condition: 'IN', Values: ['FAIL', 'PENDING'] }] })).Operations).toEqual([]);
    const t = String(T0_SECONDS);
    expect((await call('ListOperations', { Filters: [{ Name: 'UPDATE_DATE', Condition: 'BETWEEN', Values: [t, t] }] })).Operations).toHaveLength(2);
    expect((await call('ListOperations', { Filters: [{ Name: 'UPDATE_DATE', Values: ['0', '1'] }] })).Operations).toEqual([]);
    await refused('ListOperations', { Filters: [{ Name: 'UPDATE_DATE', Values: ['x', '1'] }] }, 'InvalidInput', /not a date/);
    await refused('ListOperations', { Filters: [{ Name: 'UPDATE_DATE', Values: ['2', '1'] }] }, 'InvalidInput', /start date must not be after/);
    await refused('ListOperations', { Filters: [{ Name: 'UPDATE_DATE', Values: ['1'] }] }, 'InvalidInput', /exactly two values/);
    await refused('ListOperations', { Filters: [{ Name: 'SERVICE_ID', Condition: 'IN', Values: [srv] }] }, 'InvalidInput', /IN is not supported for SERVICE_ID/);
    await refused('ListOperations', { Filters: [{ Name: 'TYPE', Values: ['EXPLODE'] }] }, 'InvalidInput', /expected one of CREATE_NAMESPACE/);
    await refused('ListOperations', { Filters: [{ Name: 'STATUS', Values: ['DONE'] }] }, 'InvalidInput', /expected one of SUBMITTED/);
    await refused('GetOperation', { OperationId: 'nope' }, 'OperationNotFound', 'Operation not found: nope.');
    await refused('GetOperation', {}, 'InvalidInput', /^OperationId is required\.$/);
  });

  it('tags and untags namespaces and services', async () => {
    const { call, refused, namespace, dnsService } = discoveryHarness();
    const ns = (await call('GetNamespace', { Id: await namespace() })).Namespace.Arn;
    const srv = (await call('GetService', { Id: await dnsService((await call('ListNamespaces')).Namespaces[0].Id) })).Service.Arn;
    for (const arn of [ns, srv]) {
      await call('TagResource', { ResourceARN: arn, Tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }] });
      await call('TagResource', { ResourceARN: arn, Tags: [{ Key: 'a', Value: '3' }] });
      expect((await call('ListTagsForResource', { ResourceARN: arn })).Tags).toEqual([{ Key: 'a', Value: '3' }, { Key: 'b', Value: '2' }]);
      await call('UntagResource', { ResourceARN: arn, TagKeys: ['a', 'zz'] });
      expect((await call('ListTagsForResource', { ResourceARN: arn })).Tags).toEqual([{ Key: 'b', Value: '2' }]);
    }
    const many = Array.from({ length: 200 }, (_, i) => ({ Key: `k${i}`, Value: '' }));
    await refused('TagResource', { ResourceARN: ns, Tags: many }, 'TooManyTagsException', /would have 201/);
    await refused('TagResource', { ResourceARN: ns }, 'InvalidInput', /^Tags is required\.$/);
    await refused('UntagResource', { ResourceARN: ns }, 'InvalidInput', /^TagKeys is required\.$/);
    await refused('UntagResource', { ResourceARN: ns, TagKeys: [''] }, 'InvalidInput', /TagKeys\[0\]/);
    await refused('ListTagsForResource', { ResourceARN: 'arn:aws:servicediscovery:us-east-1:000000000000:service/srv-nope' }, 'ResourceNotFoundException', /srv-nope/);
    await refused('ListTagsForResource', { ResourceARN: 'arn:aws:ecs:us-east-1:000000000000:cluster/x' }, 'InvalidInput', /not a Cloud Map namespace or service ARN/);
    await refused('TagResource', { ResourceARN: 'arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-nope', Tags: [] }, 'ResourceNotFoundException');
  });
});

describe('history', () => {
  it('forgets CreatorRequestIds after 24 hours and operations after 7 days', async () => {
    const { call, store, namespace, dnsService } = discoveryHarness();
    const srv = await dnsService(await namespace());
    const request = { ServiceId: srv, InstanceId: 'a', CreatorRequestId: 'tok', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80' } };
    const first = await call('RegisterInstance', request);
    const hour = 3600 * 1000;
    expect(await call('RegisterInstance', request, new Date(T0.getTime() + 23 * hour))).toEqual(first);
    const later = await call('RegisterInstance', request, new Date(T0.getTime() + 25 * hour));
    expect(later.OperationId).not.toBe(first.OperationId);
    expect(await pruneDiscoveryHistory(store, new Date(T0.getTime() + 2 * hour))).toBe(0);
    // At T0 + 8 days: the namespace's and the first registration's operations, and the token (last used at T0 + 25 h).
    expect(await pruneDiscoveryHistory(store, new Date(T0.getTime() + 8 * 24 * hour))).toBe(3);
    expect((await call('ListOperations')).Operations).toEqual([{ Id: later.OperationId, Status: 'SUCCESS' }]);
    expect((await call('GetInstance', { ServiceId: srv, InstanceId: 'a' })).Instance.Id).toBe('a');
  });
});

describe("the ECS controller's functions", () => {
  it('register, set health and deregister an instance without the API', async () => {
    const { call, store, namespace, dnsService, refused } = discoveryHarness();
    const srv = await dnsService(await namespace());
    const ctx = { accountId: ACCOUNT, now: T0 };
    const { OperationId } = await registerInstance(store, ctx, { serviceId: srv, instanceId: 'task1', attributes: { AWS_INSTANCE_IPV4: '169.254.1.2', AWS_INSTANCE_PORT: '8080', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' } });
    expect(OperationId).toMatch(OP_ID);
    expect((await call('GetInstancesHealthStatus', { ServiceId: srv })).Status).toEqual({ task1: 'UNHEALTHY' });
    await setInstanceHealth(store, ctx, { serviceId: srv, instanceId: 'task1', status: 'HEALTHY' });
    expect((await call('GetInstancesHealthStatus', { ServiceId: srv })).Status).toEqual({ task1: 'HEALTHY' });
    // Setting the status it already has writes nothing.
    const rev = await store.revision();
    await setInstanceHealth(store, ctx, { serviceId: srv, instanceId: 'task1', status: 'HEALTHY' });
    expect(await store.revision()).toBe(rev);
    await deregisterInstance(store, ctx, { serviceId: srv, instanceId: 'task1' });
    await refused('GetInstance', { ServiceId: srv, InstanceId: 'task1' }, 'InstanceNotFound');
    await expect(deregisterInstance(store, ctx, { serviceId: srv, instanceId: 'task1' })).rejects.toMatchObject({ code: 'InstanceNotFound' });
    await expect(setInstanceHealth(store, ctx, { serviceId: 'srv-nope', instanceId: 'task1', status: 'HEALTHY' })).rejects.toMatchObject({ code: 'ServiceNotFound' });
    await expect(registerInstance(store, ctx, { serviceId: srv, instanceId: 'task1', attributes: {} })).rejects.toMatchObject({ code: 'InvalidInput' });
  });

  it('concurrent registrations in one service all land, and the count is exact', async () => {
    const { call, store, namespace, dnsService } = discoveryHarness();
    const srv = await dnsService(await namespace());
    const ctx = { accountId: ACCOUNT, now: T0 };
    await Promise.all(Array.from({ length: 12 }, (_, i) => registerInstance(store, ctx, { serviceId: srv, instanceId: `t${i}`, attributes: { AWS_INSTANCE_IPV4: `10.0.0.${i + 1}`, AWS_INSTANCE_PORT: '80' } })));
    expect((await call('GetService', { Id: srv })).Service.InstanceCount).toBe(12);
    expect((await call('ListInstances', { ServiceId: srv })).Instances).toHaveLength(12);
  });
});

describe('through the edge', () => {
  const KEY = { accessKeyId: 'AKIASDTEST0000000001', secretAccessKey: 'sd-secret', accountId: ACCOUNT };

  function edgeFor() {
    const store = SqliteStore.open(':memory:');
    const edge = createEdge({
      services: [createServiceDiscoveryService({ store, region: REGION, accountId: ACCOUNT })],
      region: REGION,
      accountId: ACCOUNT,
      credentials: (id) => Promise.resolve(id === KEY.accessKeyId ? KEY : undefined),
      logger: { error: () => undefined, warn: () => undefined, debug: () => undefined },
    });
    const send = async (operation: string, body: unknown, host = '127.0.0.1:4566', service = 'servicediscovery') => {
      const payload = JSON.stringify(body);
      const headers = signJsonPost({ host, target: `Route53AutoNaming_v20170314.${operation}`, payload, credentials: KEY, region: REGION, service, now: new Date() });
      const res = await edge.request('/', { method: 'POST', headers, body: payload });
      return { status: res.status, body: res.json() as any };
    };
    return { store, send };
  }

  it('routes by target, whatever the Host (the CLI sends DiscoverInstances to data-<host>)', async () => {
    const { store, send } = edgeFor();
    try {
      const created = await send('CreateHttpNamespace', { Name: 'apps' });
      expect(created.status).toBe(200);
      const ns = (await send('GetOperation', { OperationId: created.body.OperationId })).body.Operation.Targets.NAMESPACE;
      const srv = (await send('CreateService', { Name: 'api', NamespaceId: ns })).body.Service.Id;
      expect((await send('RegisterInstance', { ServiceId: srv, InstanceId: 'i1', Attributes: { k: 'v' } })).status).toBe(200);
      const found = await send('DiscoverInstances', { NamespaceName: 'apps', ServiceName: 'api' }, 'data-127.0.0.1:4566');
      expect(found.status).toBe(200);
      expect(found.body.Instances).toEqual([{ InstanceId: 'i1', NamespaceName: 'apps', ServiceName: 'api', HealthStatus: 'UNKNOWN', Attributes: { k: 'v' } }]);
      const missing = await send('GetNamespace', { Id: 'ns-nope' });
      expect(missing).toEqual({ status: 400, body: { __type: 'NamespaceNotFound', message: 'Namespace not found: ns-nope.' } });
      const conflict = await send('CreateHttpNamespace', { Name: 'apps' });
      expect(conflict.body).toEqual({ __type: 'NamespaceAlreadyExists', message: expect.any(String), NamespaceId: ns });
      // Signed for another service: refused before any operation runs.
      expect((await send('ListNamespaces', {}, '127.0.0.1:4566', 'ecs')).status).toBe(400);
    } finally {
      await store.close();
    }
  });
});
