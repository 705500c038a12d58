/**
 * The ELBv2 API as users drive it: AWS CLI v1 (on PATH) and Debian's v2 (/usr/bin/aws) signing
 * real requests to the edge on 127.0.0.1, from create-load-balancer to describe-target-health.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdge } from '../../edge/edge.js';
import { SqliteStore } from '../../store/index.js';
import { lbKeys } from '../model.js';
import { resourceId } from './arns.js';
import { createElbv2Service } from './service.js';

const run = promisify(execFile);
const onPath = (tool: string) => (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, tool)));
const CLIS = { v1: 'aws', v2: '/usr/bin/aws' } as const;
const haveClis = onPath('aws') && existsSync(CLIS.v2);
if (!haveClis) console.warn('elbv2-cli.test.ts skipped: needs aws (v1) on PATH and /usr/bin/aws (v2)');

const ACCOUNT = '000000000000';
const KEY = { accessKeyId: 'AKIAELBV2CLITEST0001', secretAccessKey: 'elbv2-cli-secret', accountId: ACCOUNT };

describe.skipIf(!haveClis)('the AWS CLIs against the ELBv2 API', () => {
  let store: SqliteStore;
  let server: Server;
  let base: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const errors: unknown[] = [];

  /** Runs `aws elbv2 ...`; resolves with its JSON output, or rejects with its stderr. */
  const aws = async (cli: keyof typeof CLIS, ...args: string[]): Promise<any> => {
    try {
      const { stdout } = await run(CLIS[cli], ['elbv2', ...args, '--endpoint-url', base, '--output', 'json'], { env, timeout: 60_000 });
      return stdout.trim() === '' ? undefined : JSON.parse(stdout);
    } catch (err) {
      throw new Error(`aws ${cli} elbv2 ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
  };

  beforeAll(async () => {
    store = SqliteStore.open(':memory:');
    const instances = new Map([['i-0123456789abcdef0', { address: '127.0.0.1', availabilityZone: 'us-east-1a' }]]);
    const edge = createEdge({
      services: [],
      queryServices: [createElbv2Service({ store, region: 'us-east-1', accountId: ACCOUNT, resolveInstance: (id) => Promise.resolve(instances.get(id)) })],
      region: 'us-east-1',
      accountId: ACCOUNT,
      credentials: (id) => Promise.resolve(id === KEY.accessKeyId ? KEY : undefined),
      logger: { error: (m, f) => errors.push([m, f]), warn: () => undefined, debug: () => undefined },
    });
    server = createServer(edge);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    home = await mkdtemp(join(tmpdir(), 'berth-elbv2-cli-'));
    const config = join(home, 'config');
    await writeFile(config, '[default]\ncli_pager =\n');
    env = {
      PATH: process.env['PATH'],
      HOME: home,
      AWS_ACCESS_KEY_ID: KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-such-credentials'),
      AWS_PAGER: '',
      AWS_MAX_ATTEMPTS: '1',
    };
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
    await rm(home, { recursive: true, force: true });
    expect(errors).toEqual([]);
  });

  it('create-load-balancer through describe-target-health, across both CLIs', async () => {
    // Calls that do not depend on each other run side by side: each CLI start costs seconds here.
    const [created, tgCreated, instCreated] = await Promise.all([
      aws('v1', 'create-load-balancer', '--name', 'web', '--type', 'application', '--subnets', 'subnet-a', 'subnet-b', '--tags', 'Key=team,Value=core'),
      aws('v2', 'create-target-group', '--name', 'web-tg', '--protocol', 'HTTP', '--port', '8080', '--target-type', 'ip', '--vpc-id', 'vpc-1', '--health-check-path', '/health', '--health-check-interval-seconds', '10', '--matcher', 'HttpCode=200-299'),
      aws('v1', 'create-target-group', '--name', 'inst-tg', '--protocol', 'HTTP', '--port', '80'),
    ]);
    const lb = created.LoadBalancers[0];
    expect(lb).toMatchObject({ LoadBalancerName: 'web', Type: 'application', Scheme: 'internet-facing', State: { Code: 'active' } });
    const lbArn = lb.LoadBalancerArn as string;
    const tg = tgCreated.TargetGroups[0];
    expect(tg).toMatchObject({ TargetGroupName: 'web-tg', Port: 8080, HealthCheckPath: '/health', HealthCheckIntervalSeconds: 10, HealthCheckTimeoutSeconds: 5, Matcher: { HttpCode: '200-299' }, TargetType: 'ip' });
    const tgArn = tg.TargetGroupArn as string;
    const inst = instCreated.TargetGroups[0].TargetGroupArn as string;

    const [, describedLbs, listenerCreated] = await Promise.all([
      aws('v2', 'wait', 'load-balancer-available', '--load-balancer-arns', lbArn),
      aws('v2', 'describe-load-balancers', '--names', 'web'),
      aws('v1', 'create-listener', '--load-balancer-arn', lbArn, '--protocol', 'HTTP', '--port', '18080', '--default-actions', `Type=forward,TargetGroupArn=${tgArn}`),
      aws('v1', 'modify-target-group-attributes', '--target-group-arn', tgArn, '--attributes', 'Key=deregistration_delay.timeout_seconds,Value=30', 'Key=load_balancing.algorithm.type,Value=least_outstanding_requests'),
      aws('v2', 'register-targets', '--target-group-arn', tgArn, '--targets', 'Id=127.0.0.1,Port=9000', 'Id=127.0.0.2'),
      aws('v1', 'register-targets', '--target-group-arn', inst, '--targets', 'Id=i-0123456789abcdef0,Port=32768'),
      expect(aws('v1', 'register-targets', '--target-group-arn', inst, '--targets', 'Id=i-0fffffffffffffff0')).rejects.toThrow(/InvalidTarget.*not known instances/s),
      expect(aws('v1', 'create-load-balancer', '--name', 'nlb', '--type', 'network')).rejects.toThrow(/\(ValidationError\).*Load balancer type 'network' is not supported/s),
    ]);
    expect(describedLbs.LoadBalancers[0].DNSName).toBe(lb.DNSName);
    const listener = listenerCreated.Listeners[0];
    expect(listener.DefaultActions[0].ForwardConfig.TargetGroups).toEqual([{ TargetGroupArn: tgArn, Weight: 1 }]);

    const rule = (
      await aws('v2', 'create-rule', '--listener-arn', listener.ListenerArn, '--priority', '10', '--conditions', 'Field=path-pattern,Values=/api/*', '--actions', JSON.stringify([{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgArn, Weight: 3 }, { TargetGroupArn: inst, Weight: 1 }] } }]))
    ).Rules[0];
    expect(rule.Conditions).toEqual([{ Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } }]);

    // The data plane's view of one target.
    await store.txn([], [{ type: 'put', key: lbKeys.health(resourceId(tgArn, 'targetgroup'), '127.0.0.1', 9000), value: JSON.stringify({ State: 'healthy', UpdatedAt: Date.now() }) }]);
    const [rulesOut, attrsOut, instHealthOut] = await Promise.all([
      aws('v1', 'describe-rules', '--listener-arn', listener.ListenerArn),
      aws('v2', 'describe-target-group-attributes', '--target-group-arn', tgArn),
      aws('v2', 'describe-target-health', '--target-group-arn', inst, '--targets', 'Id=i-0123456789abcdef0,Port=32768'),
      aws('v1', 'deregister-targets', '--target-group-arn', tgArn, '--targets', 'Id=127.0.0.2'),
      aws('v2', 'add-tags', '--resource-arns', tgArn, rule.RuleArn, '--tags', 'Key=env,Value=test'),
      // Errors arrive as the CLI prints them: the code without "Exception", and the message.
      expect(aws('v2', 'create-listener', '--load-balancer-arn', lbArn, '--protocol', 'HTTP', '--port', '18080', '--default-actions', 'Type=fixed-response,FixedResponseConfig={StatusCode=200}')).rejects.toThrow(/\(DuplicateListener\).*A listener already exists on port 18080/s),
      expect(aws('v1', 'delete-target-group', '--target-group-arn', tgArn)).rejects.toThrow(/\(ResourceInUse\)/),
    ]);
    expect(rulesOut.Rules.map((r: any) => [r.Priority, r.IsDefault])).toEqual([
      ['10', false],
      ['default', true],
    ]);
    expect(attrsOut.Attributes).toContainEqual({ Key: 'deregistration_delay.timeout_seconds', Value: '30' });
    expect(instHealthOut.TargetHealthDescriptions[0]).toMatchObject({ Target: { Id: 'i-0123456789abcdef0', Port: 32768, AvailabilityZone: 'us-east-1a' }, TargetHealth: { State: 'initial', Reason: 'Elb.RegistrationInProgress' } });

    const [h1, h2, tagsOut, limitsOut] = await Promise.all([
      aws('v1', 'describe-target-health', '--target-group-arn', tgArn),
      aws('v2', 'describe-target-health', '--target-group-arn', tgArn),
      aws('v1', 'describe-tags', '--resource-arns', lbArn, tgArn, rule.RuleArn),
      aws('v2', 'describe-account-limits'),
    ]);
    for (const health of [h1.TargetHealthDescriptions, h2.TargetHealthDescriptions]) {
      expect(health).toEqual([
        { Target: { Id: '127.0.0.1', Port: 9000 }, HealthCheckPort: '9000', TargetHealth: { State: 'healthy' } },
        { Target: { Id: '127.0.0.2', Port: 8080 }, HealthCheckPort: '8080', TargetHealth: { State: 'draining', Reason: 'Target.DeregistrationInProgress', Description: 'Target deregistration is in progress' } },
      ]);
    }
    expect(tagsOut.TagDescriptions.map((t: any) => t.Tags)).toEqual([[{ Key: 'team', Value: 'core' }], [{ Key: 'env', Value: 'test' }], [{ Key: 'env', Value: 'test' }]]);
    expect(limitsOut.Limits).toContainEqual({ Name: 'application-load-balancers', Max: '50' });

    await aws('v1', 'delete-rule', '--rule-arn', rule.RuleArn);
    await aws('v2', 'delete-listener', '--listener-arn', listener.ListenerArn);
    await Promise.all([aws('v1', 'delete-target-group', '--target-group-arn', tgArn), aws('v2', 'delete-load-balancer', '--load-balancer-arn', lbArn)]);
    await expect(aws('v1', 'describe-load-balancers', '--load-balancer-arns', lbArn)).rejects.toThrow(/\(LoadBalancerNotFound\)/);
  }, 180_000);
});
