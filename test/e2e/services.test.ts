/**
 * Services for real: `berth up` with its agent keeps an ECS service of busybox httpd tasks running,
 * driven by the AWS CLI v1 and its waiters — stable and serving on dynamic host ports, a container
 * killed with runc and replaced, new revisions rolled out (one across a kill -9 of the server), and a
 * forced delete down to INACTIVE.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pushBusyboxImage, startBerth, until, waitForAgent, type Berth } from './harness.js';

let berth: Berth;
let image: string;

const ecs = (...args: string[]) => berth.awsOk('v1', ['ecs', ...args]);

beforeAll(async () => {
  berth = await startBerth({ agent: true });
  image = pushBusyboxImage(berth);
  await waitForAgent(berth);
});
afterAll(async () => {
  await berth?.[Symbol.asyncDispose]();
});

/** Registers a revision of `web`: httpd on 8080 in bridge mode, a dynamic host port; `revision` shows in its environment. */
function registerWeb(revision: string, container: Record<string, unknown> = {}): string {
  const td = ecs('register-task-definition', '--family', 'web', '--network-mode', 'bridge', '--container-definitions', JSON.stringify([
    { name: 'web', image, memory: 64, stopTimeout: 2, portMappings: [{ containerPort: 8080, hostPort: 0 }], environment: [{ name: 'REVISION', value: revision }], ...container },
  ]));
  return td.taskDefinition.taskDefinitionArn as string;
}

/** Every task a deployment started, running or stopped. */
function deploymentTasks(deploymentId: string): any[] {
  const arns = ['RUNNING', 'STOPPED'].flatMap((status) => ecs('list-tasks', '--started-by', deploymentId, '--desired-status', status).taskArns as string[]);
  return arns.length === 0 ? [] : (ecs('describe-tasks', '--tasks', ...arns).tasks as any[]);
}

/** The service's tasks that are meant to run, as DescribeTasks shows them. */
function serviceTasks(): any[] {
  const arns = ecs('list-tasks', '--service-name', 'web').taskArns as string[];
  return arns.length === 0 ? [] : (ecs('describe-tasks', '--tasks', ...arns).tasks as any[]);
}

/**
 * Every task answers HTTP on its mapped host port. Asked again for a while, since a replacement that
 * reuses a stopped task's bridge address can be unreachable until the host's stale neighbour (ARP)
 * entry for that address expires: a runtime issue, reported, not the service controller's.
 */
async function expectServing(tasks: readonly any[]): Promise<void> {
  for (const task of tasks) {
    const binding = task.containers[0].networkBindings[0];
    expect(binding).toMatchObject({ containerPort: 8080, protocol: 'tcp' });
    const body = await until(`task ${task.taskArn} to answer on port ${binding.hostPort}`, async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${binding.hostPort}/`, { signal: AbortSignal.timeout(2000) });
        return await res.text();
      } catch {
        return undefined;
      }
    }, 60_000);
    expect(body).toBe('hello from busybox\n');
  }
}

let rev1: string;

it('runs a service of 3 until services-stable, each task serving HTTP on its own host port', async () => {
  rev1 = registerWeb('1');
  const created = ecs('create-service', '--service-name', 'web', '--task-definition', 'web', '--desired-count', '3').service;
  expect(created).toMatchObject({ status: 'ACTIVE', desiredCount: 3, runningCount: 0 });
  ecs('wait', 'services-stable', '--services', 'web');

  const service = ecs('describe-services', '--services', 'web').services[0];
  expect(service).toMatchObject({ runningCount: 3, pendingCount: 0, desiredCount: 3, taskDefinition: rev1 });
  expect(service.deployments).toHaveLength(1);
  expect(service.deployments[0]).toMatchObject({ rolloutState: 'COMPLETED', runningCount: 3 });
  const tasks = serviceTasks();
  expect(tasks).toHaveLength(3);
  for (const t of tasks) expect(t).toMatchObject({ lastStatus: 'RUNNING', group: 'service:web', startedBy: service.deployments[0].id });
  expect(new Set(tasks.map((t) => t.containers[0].networkBindings[0].hostPort)).size).toBe(3);
  await expectServing(tasks);
});

it('replaces a task whose container is killed, and is stable at 3 again', async () => {
  const [victim] = serviceTasks();
  const runtimeId: string = victim.containers[0].runtimeId;
  expect(runtimeId).toBeTruthy();
  const kill = spawnSync('runc', ['--root', join(berth.home, 'agent', 'runtime', 'runc'), 'kill', runtimeId, 'KILL'], { encoding: 'utf8' });
  expect(kill.status, kill.stderr).toBe(0);

  const stopped = await until('the killed task to stop', () => {
    const t = ecs('describe-tasks', '--tasks', victim.taskArn).tasks[0];
    return t.lastStatus === 'STOPPED' ? t : undefined;
  });
  expect(stopped.stopCode).toBe('EssentialContainerExited');
  // A replacement exists before the waiter is asked (it would otherwise be satisfied by the old count).
  await until('a replacement task', () => (serviceTasks().filter((t) => t.taskArn !== victim.taskArn).length === 3 ? true : undefined));
  ecs('wait', 'services-stable', '--services', 'web');
  const tasks = serviceTasks();
  expect(tasks.map((t) => t.taskArn)).not.toContain(victim.taskArn);
  expect(tasks.map((t) => t.lastStatus)).toEqual(['RUNNING', 'RUNNING', 'RUNNING']);
  await expectServing(tasks);
});

it('rolls out a new task definition revision: stable, every task on revision 2', async () => {
  const before = new Set(serviceTasks().map((t) => t.taskArn));
  const rev2 = registerWeb('2');
  const updated = ecs('update-service', '--service', 'web', '--task-definition', rev2).service;
  expect(updated.deployments.map((d: any) => d.status)).toEqual(['PRIMARY', 'ACTIVE']);
  ecs('wait', 'services-stable', '--services', 'web');

  const service = ecs('describe-services', '--services', 'web').services[0];
  expect(service.taskDefinition).toBe(rev2);
  expect(service.deployments).toHaveLength(1);
  expect(service.deployments[0]).toMatchObject({ taskDefinition: rev2, rolloutState: 'COMPLETED', runningCount: 3 });
  const tasks = serviceTasks();
  expect(tasks).toHaveLength(3);
  for (const t of tasks) {
    expect(t).toMatchObject({ taskDefinitionArn: rev2, lastStatus: 'RUNNING' });
    expect(before.has(t.taskArn)).toBe(false);
  }
  await expectServing(tasks);
  // The old revision's tasks were stopped by the scheduler, not lost or failed.
  const old = ecs('describe-tasks', '--tasks', ...before).tasks as any[];
  for (const t of old) expect(t).toMatchObject({ taskDefinitionArn: rev1, lastStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated' });
});

it('carries a rollout on after kill -9 of the server, losing and doubling no task', async () => {
  const before = serviceTasks();
  // A health check holds the new tasks short of healthy for a while, so the rollout is caught midway.
  const rev3 = registerWeb('3', {
    healthCheck: { command: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1'], interval: 10, timeout: 5, retries: 3 },
  });
  const deployment: string = ecs('update-service', '--service', 'web', '--task-definition', rev3).service.deployments[0].id;
  await until('the new revision to be running beside the old', () => {
    const fresh = deploymentTasks(deployment);
    return fresh.length === 3 && fresh.every((t) => t.lastStatus === 'RUNNING' && t.healthStatus !== 'HEALTHY') ? true : undefined;
  });
  expect(ecs('describe-services', '--services', 'web').services[0].deployments).toHaveLength(2);

  await berth.kill9AndRestart();
  ecs('wait', 'services-stable', '--services', 'web');

  const service = ecs('describe-services', '--services', 'web').services[0];
  expect(service).toMatchObject({ taskDefinition: rev3, runningCount: 3 });
  expect(service.deployments).toEqual([expect.objectContaining({ id: deployment, rolloutState: 'COMPLETED' })]);
  // Exactly three tasks of the new deployment ever, all running and healthy: nothing started twice.
  const fresh = deploymentTasks(deployment);
  expect(fresh).toHaveLength(3);
  for (const t of fresh) expect(t).toMatchObject({ lastStatus: 'RUNNING', healthStatus: 'HEALTHY', taskDefinitionArn: rev3 });
  // The old tasks were replaced by the scheduler, not lost with the server.
  for (const t of ecs('describe-tasks', '--tasks', ...before.map((t) => t.taskArn)).tasks as any[]) {
    expect(t).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated' });
    expect(t.stoppedReason).toMatch(/^Scaling activity initiated by/);
  }
  await expectServing(serviceTasks());
});

it('deletes the service with --force: its tasks stop and it becomes INACTIVE', () => {
  const running = serviceTasks().map((t) => t.taskArn as string);
  expect(ecs('delete-service', '--service', 'web', '--force').service.status).toBe('DRAINING');
  ecs('wait', 'services-inactive', '--services', 'web');
  expect(ecs('describe-services', '--services', 'web').services[0]).toMatchObject({ status: 'INACTIVE', runningCount: 0, desiredCount: 0 });
  expect(serviceTasks()).toEqual([]);
  for (const t of ecs('describe-tasks', '--tasks', ...running).tasks as any[]) expect(t).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated' });
  expect(ecs('list-services').serviceArns).toEqual([]);
});
