/**
 * Cloud Map as users drive it: AWS CLI v1 (the newest botocore's servicediscovery model) signing
 * real requests to an edge on 127.0.0.1, with the DNS server following along and `dig` checking
 * what the CLI registered. DiscoverInstances goes out with the `data-` host prefix turned off in
 * the CLI's config (`disable_host_prefix_injection = true`), since `data-127.0.0.1` resolves nowhere.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdge } from '../edge/edge.js';
import { SqliteStore } from '../store/index.js';
import { createServiceDiscoveryService, startDnsServer, type DnsServer } from './index.js';

const run = promisify(execFile);
const onPath = (cmd: string) => (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, cmd)));
const haveTools = onPath('aws') && onPath('dig');
if (!haveTools) console.warn('discovery cli.test.ts skipped: needs aws (v1) and dig on PATH');

const ACCOUNT = '000000000000';
const KEY = { accessKeyId: 'AKIACLITEST000000001', secretAccessKey: 'cli-secret', accountId: ACCOUNT };

describe.skipIf(!haveTools)('AWS CLI v1 against servicediscovery, and dig against the DNS server', () => {
  let store: SqliteStore;
  let server: Server;
  let dns: DnsServer;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let endpoint: string;
  const errors: string[] = [];

  /** Runs `aws servicediscovery ...`; resolves with its JSON output or rejects with its stderr. */
  const aws = async (...args: string[]): Promise<any> => {
    try {
      const { stdout } = await run('aws', ['servicediscovery', ...args, '--endpoint-url', endpoint, '--output', 'json'], { env, timeout: 60_000 });
      return stdout.trim() === '' ? undefined : JSON.parse(stdout);
    } catch (err) {
      throw new Error(`aws servicediscovery ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
  };
  const dig = async (...args: string[]) => (await run('dig', ['-p', String(dns.port), '@127.0.0.1', '+time=2', '+tries=1', '+short', ...args], { timeout: 10_000 })).stdout.trim();
  const synced = async () => dns.waitForRevision(await store.revision());

  beforeAll(async () => {
    store = SqliteStore.open(':memory:');
    const edge = createEdge({
      services: [createServiceDiscoveryService({ store, region: 'us-east-1', accountId: ACCOUNT })],
      region: 'us-east-1',
      accountId: ACCOUNT,
      credentials: (id) => Promise.resolve(id === KEY.accessKeyId ? KEY : undefined),
      logger: { error: (m) => errors.push(m), warn: (m) => errors.push(m), debug: () => undefined },
    });
    server = createServer(edge);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dns = await startDnsServer({ store, address: '127.0.0.1', port: 0, logger: { error: (m) => errors.push(m), warn: (m) => errors.push(m), debug: () => undefined } });
    home = await mkdtemp(join(tmpdir(), 'berth-discovery-cli-'));
    await writeFile(join(home, 'config'), '[default]\ncli_pager =\ndisable_host_prefix_injection = true\n');
    env = {
      PATH: process.env['PATH'],
      HOME: home,
      AWS_ACCESS_KEY_ID: KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(home, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-such-credentials'),
      AWS_PAGER: '',
      AWS_MAX_ATTEMPTS: '1',
    };
  });

  afterAll(async () => {
    await dns?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await store?.close();
    if (home !== undefined) await rm(home, { recursive: true, force: true });
    expect(errors).toEqual([]);
  });

  it('namespace → service → instances → discover and dig → health → deregister → delete', async () => {
    const created = await aws('create-private-dns-namespace', '--name', 'cli.local', '--vpc', 'vpc-berth', '--properties', 'DnsProperties={SOA={TTL=20}}');
    const { Operation } = await aws('get-operation', '--operation-id', created.OperationId);
    expect(Operation).toMatchObject({ Type: 'CREATE_NAMESPACE', Status: 'SUCCESS' });
    const nsId = Operation.Targets.NAMESPACE;
    const listed = await aws('list-namespaces', '--filters', 'Name=TYPE,Values=DNS_PRIVATE,Condition=EQ');
    expect(listed.Namespaces.map((n: { Name: string }) => n.Name)).toEqual(['cli.local']);

    const { Service } = await aws(
      'create-service',
      '--name',
      'web',
      '--namespace-id',
      nsId,
      '--dns-config',
      'RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=15},{Type=SRV,TTL=15}]',
      '--health-check-custom-config',
      'FailureThreshold=1',
    );
    expect(Service).toMatchObject({ Name: 'web', NamespaceId: nsId, Type: 'DNS_HTTP', DnsConfig: { RoutingPolicy: 'MULTIVALUE' } });
    for (const [id, ip] of [
      ['task-a', '10.9.0.1'],
      ['task-b', '10.9.0.2'],
    ] as const) {
      const reg = await aws('register-instance', '--service-id', Service.Id, '--instance-id', id, '--attributes', `AWS_INSTANCE_IPV4=${ip},AWS_INSTANCE_PORT=8080,stage=prod`);
      expect(reg.OperationId).toEqual(expect.any(String));
    }
    await synced();
    expect((await dig('web.cli.local')).split('\n').sort()).toEqual(['10.9.0.1', '10.9.0.2']);
    expect((await dig('web.cli.local', 'SRV')).split('\n').sort()).toEqual(['1 1 8080 task-a.web.cli.local.', '1 1 8080 task-b.web.cli.local.']);

    const found = await aws('discover-instances', '--namespace-name', 'cli.local', '--service-name', 'web', '--query-parameters', 'stage=prod');
    expect(found.Instances.map((i: { InstanceId: string; HealthStatus: string }) => [i.InstanceId, i.HealthStatus])).toEqual([
      ['task-a', 'HEALTHY'],
      ['task-b', 'HEALTHY'],
    ]);

    await aws('update-instance-custom-health-status', '--service-id', Service.Id, '--instance-id', 'task-a', '--status', 'UNHEALTHY');
    expect((await aws('get-instances-health-status', '--service-id', Service.Id)).Status).toEqual({ 'task-a': 'UNHEALTHY', 'task-b': 'HEALTHY' });
    await synced();
    expect(await dig('web.cli.local')).toBe('10.9.0.2');

    expect((await aws('list-instances', '--service-id', Service.Id)).Instances).toHaveLength(2);
    expect((await aws('get-instance', '--service-id', Service.Id, '--instance-id', 'task-b')).Instance.Attributes).toEqual({ AWS_INSTANCE_IPV4: '10.9.0.2', AWS_INSTANCE_PORT: '8080', stage: 'prod' });

    await expect(aws('delete-service', '--id', Service.Id)).rejects.toThrow(/ResourceInUse/);
    for (const id of ['task-a', 'task-b']) await aws('deregister-instance', '--service-id', Service.Id, '--instance-id', id);
    await synced();
    expect(await dig('web.cli.local')).toBe('');
    await aws('tag-resource', '--resource-arn', Service.Arn, '--tags', 'Key=team,Value=core');
    expect((await aws('list-tags-for-resource', '--resource-arn', Service.Arn)).Tags).toEqual([{ Key: 'team', Value: 'core' }]);
    await aws('delete-service', '--id', Service.Id);
    const deleted = await aws('delete-namespace', '--id', nsId);
    expect((await aws('list-operations', '--filters', 'Name=TYPE,Values=DELETE_NAMESPACE')).Operations).toEqual([{ Id: deleted.OperationId, Status: 'SUCCESS' }]);
    await expect(aws('get-namespace', '--id', nsId)).rejects.toThrow(/NamespaceNotFound.*Namespace not found/);
  }, 180_000);
});
