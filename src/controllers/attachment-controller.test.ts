/**
 * The attachment controller on a real store: service tasks written as the agent hub writes them,
 * ports that record what the load balancer and Cloud Map were asked, and target health written as
 * the data plane writes it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../ecs/keys.js';
import type { Task } from '../ecs/task-shape.js';
import { lbIdOf, lbKeys } from '../lb/model.js';
import { SqliteStore, type Store } from '../store/index.js';
import { attachmentKeys, createAttachmentController, type AttachmentPorts } from './attachment-controller.js';
import { waitFor } from './testing/platform.js';

const TG = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef';
const SD = 'arn:aws:servicediscovery:us-east-1:000000000000:service/srv-0123456789abcdef';
const quiet = { error: () => undefined, warn: () => undefined, debug: () => undefined };

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

class RecordingPorts implements AttachmentPorts {
  readonly calls: string[] = [];
  failNext: Error | undefined;
  private fail(): void {
    const err = this.failNext;
    this.failNext = undefined;
    if (err !== undefined) throw err;
  }
  registerTargets(tg: string, targets: readonly { id: string; port: number }[]) {
    this.fail();
    this.calls.push(`register ${lbIdOf(tg)} ${targets.map((t) => `${t.id}:${t.port}`).join(',')}`);
    return Promise.resolve();
  }
  deregisterTargets(tg: string, targets: readonly { id: string; port: number }[]) {
    this.fail();
    this.calls.push(`deregister ${lbIdOf(tg)} ${targets.map((t) => `${t.id}:${t.port}`).join(',')}`);
    return Promise.resolve();
  }
  registerInstance(service: string, id: string, attributes: Readonly<Record<string, string>>) {
    this.fail();
    this.calls.push(`registerInstance ${service.slice(service.lastIndexOf('/') + 1)} ${id} ${attributes.AWS_INSTANCE_IPV4}:${attributes.AWS_INSTANCE_PORT}`);
    return Promise.resolve();
  }
  deregisterInstance(service: string, id: string) {
    this.fail();
    this.calls.push(`deregisterInstance ${service.slice(service.lastIndexOf('/') + 1)} ${id}`);
    return Promise.resolve();
  }
}

function task(id: string, extra: Partial<Task> = {}): Task {
  const taskArn = `arn:aws:ecs:us-east-1:000000000000:task/default/${id}`;
  return {
    attachments: [],
    attributes: [],
    clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/default',
    containerInstanceArn: 'arn:aws:ecs:us-east-1:000000000000:container-instance/default/ci1',
    containers: [
      { containerArn: 'c', taskArn, name: 'web', image: 'busybox', lastStatus: 'RUNNING', cpu: '0', networkInterfaces: [], networkBindings: [{ containerPort: 80, hostPort: 49001, protocol: 'tcp' }] },
    ],
    createdAt: 1,
    desiredStatus: 'RUNNING',
    enableExecuteCommand: false,
    group: 'service:web',
    healthStatus: 'UNKNOWN',
    lastStatus: 'RUNNING',
    overrides: { containerOverrides: [], inferenceAcceleratorOverrides: [] },
    tags: [],
    taskArn,
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1',
    version: 1,
    ...extra,
  };
}

const awsvpc = (ip: string): Partial<Task> => ({
  attachments: [{ id: 'a', type: 'ElasticNetworkInterface', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: ip }] }],
});

async function put(store: Store, key: string, value: unknown): Promise<void> {
  await store.txn([], [{ type: 'put', key, value: JSON.stringify(value) }]);
}

async function world(service: { loadBalancers?: unknown[]; serviceRegistries?: unknown[] }) {
  const store = SqliteStore.open(':memory:');
  await put(store, keys.service('default', 'web'), { serviceName: 'web', status: 'ACTIVE', loadBalancers: [], serviceRegistries: [], ...service });
  await put(store, keys.containerInstance('default', 'ci1'), { ec2InstanceId: 'i-0abc', attributes: [] });
  await put(store, keys.taskDefinition('web', 1), { family: 'web', revision: 1, containerDefinitions: [{ name: 'web', essential: true }] });
  const ports = new RecordingPorts();
  const health: string[] = [];
  const start = () => {
    const c = createAttachmentController({
      store,
      region: 'us-east-1',
      ports,
      logger: quiet,
      retryDelayMs: 10,
      hostAddressOf: () => '127.0.0.1',
      onTargetHealthChange: (cluster, name) => health.push(`${cluster}/${name}`),
    });
    cleanup.push(() => c.close());
    return c;
  };
  cleanup.push(() => store.close());
  return { store, ports, health, start };
}

const LB = { loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 80 }] };

describe('attachment controller', () => {
  it('registers a RUNNING service task as a target and deregisters it when told to stop', async () => {
    const w = await world(LB);
    const c = w.start();
    await put(w.store, keys.task('default', 't1'), task('t1', { lastStatus: 'PENDING' }));
    await put(w.store, keys.task('default', 't1'), task('t1'));
    await waitFor(() => w.ports.calls.length === 1, 'registration');
    expect(w.ports.calls).toEqual(['register web/0123456789abcdef i-0abc:49001']);
    expect(await w.store.get(attachmentKeys.record('default', 't1'))).toBeDefined();

    await put(w.store, keys.task('default', 't1'), task('t1', { desiredStatus: 'STOPPED' }));
    await waitFor(() => w.ports.calls.length === 2, 'deregistration');
    expect(w.ports.calls[1]).toBe('deregister web/0123456789abcdef i-0abc:49001');
    await c.settled();
    expect(await w.store.get(attachmentKeys.record('default', 't1'))).toBeUndefined();
  });

  it('leaves tasks of services without attachments, and standalone tasks, alone', async () => {
    const w = await world({});
    const c = w.start();
    await put(w.store, keys.task('default', 't1'), task('t1'));
    await put(w.store, keys.task('default', 't2'), task('t2', { group: 'family:web' }));
    await c.settled();
    expect(w.ports.calls).toEqual([]);
  });

  it('registers awsvpc tasks in Cloud Map at their address', async () => {
    const w = await world({ serviceRegistries: [{ registryArn: SD, port: 8080 }] });
    const c = w.start();
    await put(w.store, keys.task('default', 't1'), task('t1', awsvpc('169.254.172.5')));
    await waitFor(() => w.ports.calls.length === 1, 'registration');
    expect(w.ports.calls).toEqual(['registerInstance srv-0123456789abcdef t1 169.254.172.5:8080']);
    await w.store.txn([], [{ type: 'delete', key: keys.task('default', 't1') }]);
    await waitFor(() => w.ports.calls.length === 2, 'deregistration');
    expect(w.ports.calls[1]).toBe('deregisterInstance srv-0123456789abcdef t1');
    await c.settled();
  });

  it('undoes after a restart what it registered for a task that stopped while it was down', async () => {
    const w = await world(LB);
    const first = w.start();
    await put(w.store, keys.task('default', 't1'), task('t1'));
    await waitFor(() => w.ports.calls.length === 1, 'registration');
    await first.settled();
    await first.close();
    await put(w.store, keys.task('default', 't1'), task('t1', { desiredStatus: 'STOPPED', lastStatus: 'STOPPED' }));
    const second = w.start();
    await waitFor(() => w.ports.calls.length === 2, 'deregistration after restart');
    expect(w.ports.calls[1]).toBe('deregister web/0123456789abcdef i-0abc:49001');
    await second.settled();
  });

  it('follows target health and tells the service', async () => {
    const w = await world(LB);
    const c = w.start();
    const t = task('t1');
    await put(w.store, keys.task('default', 't1'), t);
    await waitFor(() => w.ports.calls.length === 1, 'registration');
    await c.settled();
    expect(c.targetHealth(t.taskArn)).toEqual({ targetGroupArn: TG, state: 'initial' });
    const before = w.health.length;
    await put(w.store, lbKeys.health(lbIdOf(TG), 'i-0abc', 49001), { State: 'healthy', UpdatedAt: 1 });
    await waitFor(() => c.targetHealth(t.taskArn)?.state === 'healthy', 'healthy target');
    expect(w.health.length).toBeGreaterThan(before);
    await put(w.store, lbKeys.health(lbIdOf(TG), 'i-0abc', 49001), { State: 'unhealthy', Reason: 'Target.Timeout', UpdatedAt: 2 });
    await waitFor(() => c.targetHealth(t.taskArn)?.state === 'unhealthy', 'unhealthy target');
    expect(c.targetHealth('arn:aws:ecs:us-east-1:000000000000:task/default/other')).toBeUndefined();
  });

  it('retries a registration that failed, and treats a deleted target group as nothing to do', async () => {
    const w = await world(LB);
    const c = w.start();
    w.ports.failNext = new Error('connection reset');
    await put(w.store, keys.task('default', 't1'), task('t1'));
    await waitFor(() => w.ports.calls.length === 1, 'registration after a retry');
    await c.settled();
    w.ports.failNext = Object.assign(new Error('gone'), { code: 'TargetGroupNotFoundException' });
    await put(w.store, keys.task('default', 't1'), task('t1', { desiredStatus: 'STOPPED' }));
    await c.settled();
    await waitFor(async () => (await w.store.get(attachmentKeys.record('default', 't1'))) === undefined, 'record removed');
  });

  it('detaches every task when the service drops its load balancer', async () => {
    const w = await world(LB);
    const c = w.start();
    await put(w.store, keys.task('default', 't1'), task('t1'));
    await waitFor(() => w.ports.calls.length === 1, 'registration');
    await put(w.store, keys.service('default', 'web'), { serviceName: 'web', status: 'ACTIVE', loadBalancers: [], serviceRegistries: [] });
    await waitFor(() => w.ports.calls.length === 2, 'deregistration');
    expect(w.ports.calls[1]).toBe('deregister web/0123456789abcdef i-0abc:49001');
    await c.settled();
  });

  it('holds a stopping task in DEACTIVATING while its targets drain, then lets the agent stop it', async () => {
    const w = await world(LB);
    await put(w.store, lbKeys.targetGroup(lbIdOf(TG)), { TargetGroupArn: TG, Attributes: { 'deregistration_delay.timeout_seconds': '1' } });
    const c = w.start();
    const t = task('t1');
    await put(w.store, keys.task('default', 't1'), t);
    await waitFor(() => w.ports.calls.length === 1, 'registration');
    await c.settled();
    expect(c.readyToStop(t.taskArn)).toBe(false);

    await put(w.store, keys.task('default', 't1'), task('t1', { desiredStatus: 'STOPPED', version: 2 }));
    await waitFor(() => w.ports.calls.length === 2, 'deregistration');
    const lastStatus = async () => (JSON.parse((await w.store.get(keys.task('default', 't1')))!.value) as Task).lastStatus;
    await waitFor(async () => (await lastStatus()) === 'DEACTIVATING', 'DEACTIVATING');
    expect(c.readyToStop(t.taskArn)).toBe(false);
    await waitFor(async () => (await lastStatus()) === 'STOPPING', 'STOPPING after the deregistration delay', 5000);
    expect(c.readyToStop(t.taskArn)).toBe(true);
    await c.settled();
    expect(await w.store.get(attachmentKeys.record('default', 't1'))).toBeUndefined();
  });

  it('finishes a drain that a restart interrupted', async () => {
    const w = await world(LB);
    await put(w.store, lbKeys.targetGroup(lbIdOf(TG)), { TargetGroupArn: TG, Attributes: { 'deregistration_delay.timeout_seconds': '1' } });
    const first = w.start();
    await put(w.store, keys.task('default', 't1'), task('t1'));
    await waitFor(() => w.ports.calls.length === 1, 'registration');
    await put(w.store, keys.task('default', 't1'), task('t1', { desiredStatus: 'STOPPED', version: 2 }));
    const lastStatus = async () => (JSON.parse((await w.store.get(keys.task('default', 't1')))!.value) as Task).lastStatus;
    await waitFor(async () => (await lastStatus()) === 'DEACTIVATING', 'DEACTIVATING');
    await first.close();
    const second = w.start();
    await waitFor(async () => (await lastStatus()) === 'STOPPING', 'STOPPING after the restart', 5000);
    await second.settled();
    expect(w.ports.calls.filter((call) => call.startsWith('deregister '))).toHaveLength(1);
  });
});
