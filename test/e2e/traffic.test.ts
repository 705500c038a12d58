/**
 * Traffic for real: `berth up` with its agent, ECS services of busybox httpd tasks behind an ELBv2
 * listener with path rules and weights (HAProxy carrying the bytes), a WebSocket through it, a
 * rolling deployment under steady load with no failed request, and Cloud Map names answered by
 * Berth's DNS server to `dig`. Everything is driven by the AWS CLI, curl-like fetches and dig.
 */
import { spawnSync } from 'node:child_process';
import { createServer as createNetServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { pushBusyboxImage, startBerth, until, waitForAgent, type Berth } from './harness.js';

let berth: Berth;
let image: string;
let listenerPort: number;
let listenerArn: string;
const tg: Record<string, string> = {};

const aws = (...args: string[]) => berth.awsOk('v1', args);
const ecs = (...args: string[]) => aws('ecs', ...args);
const elbv2 = (...args: string[]) => aws('elbv2', ...args);

beforeAll(async () => {
  berth = await startBerth({ agent: true });
  image = pushBusyboxImage(berth);
  await waitForAgent(berth);
  listenerPort = await freePort();
});
afterAll(async () => {
  await berth?.[Symbol.asyncDispose]();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

/**
 * A revision of `name`: busybox httpd on 8080 whose pages say which service, revision and
 * container answered (`/` and `/<name>/`).
 */
function registerApp(name: string, revision: string, networkMode: 'bridge' | 'awsvpc' = 'bridge'): string {
  const page = `${name} ${revision} $(hostname)`;
  const script = `mkdir -p /www/${name} && echo "${page}" > /www/index.html && echo "${page}" > /www/${name}/index.html && exec httpd -f -p 8080 -h /www`;
  const td = ecs('register-task-definition', '--family', name, '--network-mode', networkMode, '--container-definitions', JSON.stringify([
    { name, image, memory: 32, stopTimeout: 2, entryPoint: ['sh', '-c'], command: [script], portMappings: [{ containerPort: 8080, hostPort: networkMode === 'bridge' ? 0 : 8080 }] },
  ]));
  return td.taskDefinition.taskDefinitionArn as string;
}

function createTargetGroup(name: string, path: string, type: 'instance' | 'ip' = 'instance'): string {
  const arn = elbv2('create-target-group', '--name', name, '--protocol', 'HTTP', '--port', '8080', '--vpc-id', 'vpc-local', '--target-type', type,
    '--health-check-path', path, '--health-check-interval-seconds', '5', '--health-check-timeout-seconds', '2', '--healthy-threshold-count', '2', '--unhealthy-threshold-count', '2',
  ).TargetGroups[0].TargetGroupArn as string;
  elbv2('modify-target-group-attributes', '--target-group-arn', arn, '--attributes', 'Key=deregistration_delay.timeout_seconds,Value=2');
  return arn;
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${listenerPort}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.text()).trim() };
}

/** Who answered `n` requests for `path`: body → count. */
async function tally(path: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const { status, body } = await get(path);
    expect(status).toBe(200);
    seen.set(body, (seen.get(body) ?? 0) + 1);
  }
  return seen;
}

function healthyTargets(arn: string): number {
  const states = elbv2('describe-target-health', '--target-group-arn', arn).TargetHealthDescriptions as any[];
  return states.filter((d) => d.TargetHealth.State === 'healthy').length;
}

it('routes a listener by path to two services of busybox tasks, each task a healthy target', async () => {
  tg.web = createTargetGroup('web', '/');
  tg.api = createTargetGroup('api', '/api/');
  const lb = elbv2('create-load-balancer', '--name', 'front', '--subnets', 'subnet-a', 'subnet-b').LoadBalancers[0];
  expect(lb).toMatchObject({ Type: 'application', State: { Code: expect.stringMatching(/provisioning|active/) } });
  listenerArn = elbv2('create-listener', '--load-balancer-arn', lb.LoadBalancerArn, '--protocol', 'HTTP', '--port', String(listenerPort),
    '--default-actions', `Type=forward,TargetGroupArn=${tg.web}`).Listeners[0].ListenerArn as string;
  elbv2('create-rule', '--listener-arn', listenerArn, '--priority', '10', '--conditions', 'Field=path-pattern,Values=/api/*', '--actions', `Type=forward,TargetGroupArn=${tg.api}`);

  registerApp('web', '1');
  registerApp('api', '1');
  for (const [name, count] of [['web', 3], ['api', 2]] as const) {
    ecs('create-service', '--service-name', name, '--task-definition', name, '--desired-count', String(count), '--health-check-grace-period-seconds', '30',
      '--load-balancers', `targetGroupArn=${tg[name]},containerName=${name},containerPort=8080`);
  }
  // services-stable asks only for runningCount == desiredCount; the rollout completes once every
  // target passes its health checks (two at 5 s intervals).
  ecs('wait', 'services-stable', '--services', 'web', 'api');
  await until('every target to be healthy and the rollouts complete', () => {
    const services = ecs('describe-services', '--services', 'web', 'api').services as any[];
    const done = services.every((s) => s.deployments[0].rolloutState === 'COMPLETED');
    return done && healthyTargets(tg.web!) === 3 && healthyTargets(tg.api!) === 2 ? true : undefined;
  }, 300_000);

  const web = await tally('/', 30);
  expect([...web.keys()].every((b) => b.startsWith('web 1 '))).toBe(true);
  expect(web.size).toBe(3);
  const api = await tally('/api/', 20);
  expect([...api.keys()].every((b) => b.startsWith('api 1 '))).toBe(true);
  expect(api.size).toBe(2);
  expect((await get('/nothing-here')).status).toBe(404);
}, 420_000);

// Before the listener changes below: a change of listeners or rules reloads HAProxy, and a reload
// closes idle keep-alive client connections (a client racing that close sees a reset).
it('rolls out a new revision under steady load with no failed request', async () => {
  let stop = false;
  const failures: string[] = [];
  const revisions = new Set<string>();
  let requests = 0;
  const deadline = Date.now() + 240_000;
  // Four clients in a loop, bounded by the deadline even if the deployment never ends.
  const clients = Array.from({ length: 4 }, async () => {
    while (!stop && Date.now() < deadline) {
      requests++;
      try {
        const { status, body } = await get('/');
        if (status !== 200) failures.push(`${status} ${body.slice(0, 80)}`);
        else revisions.add(body.split(' ')[1]!);
      } catch (err) {
        failures.push(String(err));
      }
    }
  });
  const rev2 = registerApp('web', '2');
  ecs('update-service', '--service', 'web', '--task-definition', rev2);
  await until('the rollout to complete', () => {
    const s = ecs('describe-services', '--services', 'web').services[0];
    return s.deployments.length === 1 && s.deployments[0].rolloutState === 'COMPLETED' && s.runningCount === 3 ? true : undefined;
  }, 200_000);
  // Requests keep flowing a moment after the last old task left.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  stop = true;
  await Promise.all(clients);
  expect(failures).toEqual([]);
  expect(requests).toBeGreaterThan(100);
  expect(revisions).toEqual(new Set(['1', '2']));
  const after = await tally('/', 30);
  expect([...after.keys()].every((b) => b.startsWith('web 2 '))).toBe(true);
}, 360_000);

it('splits traffic between target groups by the listener weights', async () => {
  elbv2('modify-listener', '--listener-arn', listenerArn, '--default-actions',
    JSON.stringify([{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tg.web, Weight: 3 }, { TargetGroupArn: tg.api, Weight: 1 }] } }]));
  // The new configuration is live once an api task answers on `/`. A listener change reloads HAProxy,
  // which closes idle keep-alive connections: a request racing that close may fail, so probe on.
  await until('the weighted listener', async () => ((await get('/').catch(() => undefined))?.body.startsWith('api ') ? true : undefined), 30_000);
  const seen = await tally('/', 400);
  let api = 0;
  for (const [body, n] of seen) if (body.startsWith('api ')) api += n;
  // 1 in 4 expected: 100 ± 40 is more than six standard deviations (8.7) either side.
  expect(api).toBeGreaterThan(60);
  expect(api).toBeLessThan(140);
  elbv2('modify-listener', '--listener-arn', listenerArn, '--default-actions', `Type=forward,TargetGroupArn=${tg.web}`);
  await until('the plain listener again', async () => {
    const all = await tally('/', 20).catch(() => undefined);
    return all !== undefined && [...all.keys()].every((b) => b.startsWith('web ')) ? true : undefined;
  }, 30_000);
});

it('passes a WebSocket through the listener to an ip target', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (socket) => socket.on('message', (data: Buffer) => socket.send(`echo ${data.toString()}`)));
  try {
    const wsPort = (wss.address() as { port: number }).port;
    const arn = elbv2('create-target-group', '--name', 'ws', '--protocol', 'HTTP', '--port', String(wsPort), '--vpc-id', 'vpc-local', '--target-type', 'ip',
      '--health-check-interval-seconds', '5', '--health-check-timeout-seconds', '2', '--healthy-threshold-count', '2', '--matcher', 'HttpCode=200-499').TargetGroups[0].TargetGroupArn as string;
    elbv2('register-targets', '--target-group-arn', arn, '--targets', `Id=127.0.0.1,Port=${wsPort}`);
    elbv2('create-rule', '--listener-arn', listenerArn, '--priority', '5', '--conditions', 'Field=path-pattern,Values=/ws', '--actions', `Type=forward,TargetGroupArn=${arn}`);
    await until('the ws target to be healthy', () => (healthyTargets(arn) === 1 ? true : undefined), 60_000);
    const reply = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${listenerPort}/ws`);
      ws.once('open', () => ws.send('ping'));
      ws.once('message', (data: Buffer) => {
        resolve(data.toString());
        ws.close();
      });
      ws.once('error', reject);
    });
    expect(reply).toBe('echo ping');
  } finally {
    wss.close();
  }
});

function dig(name: string, type: 'A' | 'SRV'): string[] {
  const res = spawnSync('dig', ['+short', '+tries=1', '+time=2', '@127.0.0.1', '-p', String(berth.dnsPort), name, type], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`dig failed: ${res.stderr}`);
  return res.stdout.trim().split('\n').filter((l) => l !== '').sort();
}

it('answers each healthy task of a service in Cloud Map (A and SRV), and loses a stopped one', async () => {
  aws('servicediscovery', 'create-private-dns-namespace', '--name', 'berth.local', '--vpc', 'vpc-local');
  const namespaceId = await until('the namespace', () => {
    const list = aws('servicediscovery', 'list-namespaces').Namespaces as any[];
    return list.find((n) => n.Name === 'berth.local')?.Id as string | undefined;
  });
  const registry = aws('servicediscovery', 'create-service', '--name', 'disc', '--namespace-id', namespaceId,
    '--dns-config', 'RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=5},{Type=SRV,TTL=5}]').Service;
  registerApp('disc', '1', 'awsvpc');
  ecs('create-service', '--service-name', 'disc', '--task-definition', 'disc', '--desired-count', '3',
    '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-a]}', '--service-registries', `registryArn=${registry.Arn},port=8080`);
  ecs('wait', 'services-stable', '--services', 'disc');

  const tasks = ecs('describe-tasks', '--tasks', ...(ecs('list-tasks', '--service-name', 'disc').taskArns as string[])).tasks as any[];
  const ips = tasks.map((t) => t.containers[0].networkInterfaces[0].privateIpv4Address as string).sort();
  expect(ips).toHaveLength(3);
  const a = await until('three A records', () => {
    const got = dig('disc.berth.local', 'A');
    return got.length === 3 ? got : undefined;
  }, 30_000);
  expect(a).toEqual(ips);
  const srv = dig('disc.berth.local', 'SRV');
  expect(srv).toHaveLength(3);
  for (const line of srv) expect(line).toMatch(/^\d+ \d+ 8080 \S+\.disc\.berth\.local\.$/);
  // Each task answers at the address DNS gives.
  for (const ip of a) expect((await (await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(5000) })).text()).startsWith('disc 1 ')).toBe(true);

  const victim = tasks[0];
  const victimIp = victim.containers[0].networkInterfaces[0].privateIpv4Address as string;
  ecs('stop-task', '--task', victim.taskArn);
  await until('the stopped task to leave DNS', () => (dig('disc.berth.local', 'A').includes(victimIp) ? undefined : true), 10_000);
  expect(dig('nothing.berth.local', 'A')).toEqual([]);
  const nx = spawnSync('dig', ['+tries=1', '+time=2', '@127.0.0.1', '-p', String(berth.dnsPort), 'nothing.berth.local', 'A'], { encoding: 'utf8' });
  expect(nx.stdout).toContain('status: NXDOMAIN');
});
