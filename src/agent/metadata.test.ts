/**
 * metadata: the v4 container, task and Docker stats shapes, the routes and their refusals answered
 * in-process, and the listeners: one port on every address, over real sockets on loopback.
 */
import { get } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerStats } from '../runtime/driver.js';
import {
  containerResponse, createMetadataEndpoint, dockerStats, type MetadataContainer, type MetadataEndpoint, type MetadataSource,
  type MetadataTask, newMetadataToken, readSystemCpuNs, type StatsPair, taskResponse,
} from './metadata.js';

const TASK_ARN = 'arn:aws:ecs:us-east-1:000000000000:task/default/abc';
const CLUSTER_ARN = 'arn:aws:ecs:us-east-1:000000000000:cluster/default';

const web: MetadataContainer = {
  runtimeId: 'abc-web', name: 'web', image: '127.0.0.1:5000/web:1', imageId: 'sha256:c0ffee',
  labels: { 'com.amazonaws.ecs.task-arn': TASK_ARN }, desiredStatus: 'RUNNING', knownStatus: 'RUNNING', cpu: 256, memory: 512,
  createdAt: new Date('2024-01-02T03:04:05.000Z'), startedAt: new Date('2024-01-02T03:04:06.000Z'),
  containerArn: 'arn:aws:ecs:us-east-1:000000000000:container/default/abc/1', networkMode: 'awsvpc', ipv4Address: '169.254.172.2',
  subnetCidr: '169.254.172.0/22', gateway: '169.254.172.1',
  health: { status: 'HEALTHY', since: new Date('2024-01-02T03:04:10.000Z'), exitCode: 0, output: 'ok' },
};
const init: MetadataContainer = {
  runtimeId: 'abc-init', name: 'init', image: 'busybox', labels: {}, desiredStatus: 'RUNNING', knownStatus: 'STOPPED', exitCode: 0, cpu: 0,
  finishedAt: new Date('2024-01-02T03:04:07.000Z'), networkMode: 'bridge', ipv4Address: '169.254.176.3',
  ports: [{ containerPort: 8080, hostPort: 49153, protocol: 'tcp', bindIP: '0.0.0.0' }],
};
const task: MetadataTask = {
  clusterArn: CLUSTER_ARN, taskArn: TASK_ARN, family: 'web', revision: 3, desiredStatus: 'RUNNING', knownStatus: 'RUNNING',
  cpu: 512, memory: 1024, pullStartedAt: new Date('2024-01-02T03:04:00.000Z'), pullStoppedAt: new Date('2024-01-02T03:04:04.000Z'),
  availabilityZone: 'local-1a', launchType: 'EC2', containers: [web, init],
};

const stats = (cpuUsageNs: number, at: string, limit = 512 * 1024 * 1024): ContainerStats => ({
  readAt: new Date(at), cpuUsageNs, memoryUsageBytes: 10_000_000, memoryCacheBytes: 4_000_000, memoryLimitBytes: limit, pids: 3,
});
const pair: StatsPair = {
  current: { stats: stats(2_000_000, '2024-01-02T03:05:00.000Z'), systemCpuNs: 9_000_000_000, onlineCpus: 2, hostMemoryBytes: 8e9 },
  previous: { stats: stats(1_000_000, '2024-01-02T03:04:55.000Z'), systemCpuNs: 8_000_000_000, onlineCpus: 2, hostMemoryBytes: 8e9 },
};

describe('response shapes', () => {
  it('describes a container as ECS’s v4 container response', () => {
    expect(containerResponse(web)).toEqual({
      DockerId: 'abc-web', Name: 'web', DockerName: 'abc-web', Image: '127.0.0.1:5000/web:1', ImageID: 'sha256:c0ffee',
      Labels: { 'com.amazonaws.ecs.task-arn': TASK_ARN }, DesiredStatus: 'RUNNING', KnownStatus: 'RUNNING',
      Limits: { CPU: 256, Memory: 512 }, CreatedAt: '2024-01-02T03:04:05.000Z', StartedAt: '2024-01-02T03:04:06.000Z', Type: 'NORMAL',
      Health: { status: 'HEALTHY', statusSince: '2024-01-02T03:04:10.000Z', exitCode: 0, output: 'ok' },
      ContainerARN: 'arn:aws:ecs:us-east-1:000000000000:container/default/abc/1',
      Networks: [{
        NetworkMode: 'awsvpc', IPv4Addresses: ['169.254.172.2'], AttachmentIndex: 0, IPv4SubnetCIDRBlock: '169.254.172.0/22',
        SubnetGatewayIpv4Address: '169.254.172.1/22',
      }],
    });
  });

  it('omits what is not known, and shows bridge ports and exit codes', () => {
    expect(containerResponse(init)).toEqual({
      DockerId: 'abc-init', Name: 'init', DockerName: 'abc-init', Image: 'busybox', ImageID: '',
      Ports: [{ ContainerPort: 8080, Protocol: 'tcp', HostPort: 49153, HostIp: '0.0.0.0' }],
      DesiredStatus: 'RUNNING', KnownStatus: 'STOPPED', ExitCode: 0, Limits: { CPU: 0 }, FinishedAt: '2024-01-02T03:04:07.000Z', Type: 'NORMAL',
      Networks: [{ NetworkMode: 'bridge', IPv4Addresses: ['169.254.176.3'] }],
    });
    expect(containerResponse({ ...init, networkMode: 'host', ipv4Address: undefined, ports: [] }).Networks).toEqual([{ NetworkMode: 'host' }]);
  });

  it('describes the task with vCPU limits and every container', () => {
    expect(taskResponse(task)).toEqual({
      Cluster: CLUSTER_ARN, TaskARN: TASK_ARN, Family: 'web', Revision: '3', DesiredStatus: 'RUNNING', KnownStatus: 'RUNNING',
      Limits: { CPU: 0.5, Memory: 1024 }, PullStartedAt: '2024-01-02T03:04:00.000Z', PullStoppedAt: '2024-01-02T03:04:04.000Z',
      AvailabilityZone: 'local-1a', LaunchType: 'EC2', Containers: [containerResponse(web), containerResponse(init)],
    });
    const bare = taskResponse({ clusterArn: 'c', taskArn: 't', family: 'f', revision: 1, desiredStatus: 'STOPPED', knownStatus: 'STOPPED', containers: [] });
    expect(bare).toEqual({ Cluster: 'c', TaskARN: 't', Family: 'f', Revision: '1', DesiredStatus: 'STOPPED', KnownStatus: 'STOPPED', Containers: [] });
    expect(taskResponse({ ...task, cpu: undefined, memory: 256, executionStoppedAt: new Date(0) })).toMatchObject({
      Limits: { Memory: 256 }, ExecutionStoppedAt: '1970-01-01T00:00:00.000Z',
    });
  });

  it('gives Docker stats with the previous reading as precpu_stats, from which cpu% follows', () => {
    const s = dockerStats('abc-web', pair) as any;
    expect(s).toMatchObject({
      read: '2024-01-02T03:05:00.000Z', preread: '2024-01-02T03:04:55.000Z', id: 'abc-web', name: '/abc-web',
      pids_stats: { current: 3 },
      cpu_stats: { cpu_usage: { total_usage: 2_000_000 }, system_cpu_usage: 9_000_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000 }, system_cpu_usage: 8_000_000_000, online_cpus: 2 },
      memory_stats: { usage: 10_000_000, stats: { cache: 4_000_000 }, limit: 512 * 1024 * 1024 },
    });
    // docker stats' formula: Δcontainer / Δsystem × cpus × 100.
    const cpuPercent = ((s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage)
      / (s.cpu_stats.system_cpu_usage - s.precpu_stats.system_cpu_usage)) * s.cpu_stats.online_cpus * 100;
    expect(cpuPercent).toBeCloseTo(0.2);
  });

  it('gives zeros before a previous reading, and the host’s memory as the limit of an unlimited container', () => {
    const s = dockerStats('x', { current: { ...pair.current, stats: stats(5, '2024-01-02T03:05:00.000Z', Number.MAX_SAFE_INTEGER) } }) as any;
    expect(s.preread).toBe('0001-01-01T00:00:00Z');
    expect(s.precpu_stats).toEqual({
      cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: 0, online_cpus: 0,
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    });
    expect(s.memory_stats.limit).toBe(8e9);
  });

  it('reads the host’s CPU time, which only grows', async () => {
    const a = await readSystemCpuNs();
    expect(a).toBeGreaterThan(0);
    expect(await readSystemCpuNs()).toBeGreaterThanOrEqual(a);
  });

  it('makes unguessable tokens', () => {
    const t = newMetadataToken();
    expect(t).toMatch(/^[0-9a-f]{32}$/);
    expect(newMetadataToken()).not.toBe(t);
  });
});

describe('routes', () => {
  const endpoints: MetadataEndpoint[] = [];
  afterEach(async () => {
    for (const e of endpoints.splice(0)) await e.close();
  });

  function endpoint(): MetadataEndpoint {
    const e = createMetadataEndpoint({ port: 0 });
    endpoints.push(e);
    return e;
  }

  const source = (containerName: string, statsOf: (id: string) => StatsPair | undefined = () => undefined): MetadataSource => ({
    containerName, task: () => task, stats: (id) => Promise.resolve(statsOf(id)),
  });

  it('answers the container, the task, and their stats by token, on v4 and v3 paths', async () => {
    const e = endpoint();
    e.register('tok1', source('web', (id) => (id === 'abc-web' ? pair : undefined)));
    expect(await e.handle('GET', '/v4/tok1')).toEqual({ status: 200, body: containerResponse(web) });
    expect(await e.handle('GET', '/v4/tok1/')).toEqual({ status: 200, body: containerResponse(web) });
    expect(await e.handle('GET', '/v3/tok1')).toEqual({ status: 200, body: containerResponse(web) });
    expect(await e.handle('GET', '/v4/tok1/task')).toEqual({ status: 200, body: taskResponse(task) });
    expect(await e.handle('GET', '/v4/tok1/stats')).toEqual({ status: 200, body: dockerStats('abc-web', pair) });
    expect(await e.handle('GET', '/v4/tok1/task/stats')).toEqual({ status: 200, body: { 'abc-web': dockerStats('abc-web', pair), 'abc-init': null } });
    expect(await e.handle('GET', '/v4/tok1?x=1')).toMatchObject({ status: 200 });
    // A container not running has empty stats.
    e.register('tok2', source('init'));
    expect(await e.handle('GET', '/v4/tok2/stats')).toEqual({ status: 200, body: {} });
    expect((await e.handle('GET', '/v4/tok2')).body).toEqual(containerResponse(init));
  });

  it('refuses unknown tokens and paths with 404, writes with 405, and forgets unregistered tokens', async () => {
    const e = endpoint();
    e.register('tok1', source('web'));
    for (const path of ['/v4/nope', '/v4/nope/task', '/v2/tok1', '/v4/tok1/other', '/v4/', '/', '/v4/tok1/stats/task', '/v4/../tok1']) {
      expect((await e.handle('GET', path)).status, path).toBe(404);
    }
    expect(await e.handle('PUT', '/v4/tok1')).toMatchObject({ status: 405 });
    e.register('ghost', source('gone'));
    expect(await e.handle('GET', '/v4/ghost')).toMatchObject({ status: 404, body: { message: `no container gone in task ${TASK_ARN}` } });
    e.unregister('tok1');
    expect((await e.handle('GET', '/v4/tok1')).status).toBe(404);
  });
});

function fetchJson(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

describe('listening', () => {
  it('serves on every address it is asked to, on one port, and closes them all', async () => {
    const e = createMetadataEndpoint({ port: 0 });
    try {
      expect(e.port).toBeUndefined();
      const [a, b] = await Promise.all([e.listen('127.0.0.1'), e.listen('127.0.0.2')]);
      const port = e.port!;
      expect(a).toBe(`http://127.0.0.1:${port}`);
      expect(b).toBe(`http://127.0.0.2:${port}`);
      expect(await e.listen('127.0.0.1')).toBe(a); // once per address
      e.register('tok', { containerName: 'web', task: () => task, stats: () => Promise.resolve(undefined) });
      expect(await fetchJson(`${a}/v4/tok/task`)).toEqual({ status: 200, body: JSON.parse(JSON.stringify(taskResponse(task))) });
      expect(await fetchJson(`${b}/v4/tok`)).toMatchObject({ status: 200, body: { Name: 'web' } });
      expect(await fetchJson(`${b}/v4/unknown`)).toMatchObject({ status: 404 });
    } finally {
      await e.close();
    }
    expect(await fetchJson(`http://127.0.0.1:${e.port}/v4/tok`).catch((err: NodeJS.ErrnoException) => err.code)).toBe('ECONNREFUSED');
  });

  it('answers 500 when a source fails, and says why to its logger', async () => {
    const errors: string[] = [];
    const e = createMetadataEndpoint({ port: 0, logger: { error: (m) => errors.push(m) } });
    try {
      const base = await e.listen('127.0.0.1');
      e.register('tok', { containerName: 'web', task: () => task, stats: () => Promise.reject(new Error('cgroup gone')) });
      expect(await fetchJson(`${base}/v4/tok/stats`)).toEqual({ status: 500, body: { message: 'internal error' } });
      expect(errors).toEqual(['metadata endpoint: request failed']);
    } finally {
      await e.close();
    }
  });

  it('refuses an address it cannot listen on, and can try it again later', async () => {
    const e = createMetadataEndpoint({ port: 0 });
    try {
      await expect(e.listen('192.0.2.1')).rejects.toThrow(/EADDRNOTAVAIL/);
      expect(await e.listen('127.0.0.1')).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await expect(e.listen('192.0.2.1')).rejects.toThrow(/EADDRNOTAVAIL/);
    } finally {
      await e.close();
    }
  });
});
