/**
 * Real containers: `berth up` with its agent, an image pushed to Berth's registry, and tasks run
 * with `aws ecs run-task` — serving HTTP on a mapped port (bridge) and on their own address
 * (awsvpc), stopping on stop-task with exit codes and stop codes recorded.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pushBusyboxImage, startBerth, waitForAgent, type Berth } from './harness.js';

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

const describeTask = (arn: string) => ecs('describe-tasks', '--tasks', arn).tasks[0];

it('runs a bridge-mode task that serves HTTP on its mapped port, and stops it on stop-task', async () => {
  ecs('register-task-definition', '--family', 'web', '--network-mode', 'bridge', '--container-definitions', JSON.stringify([
    { name: 'web', image, memory: 64, stopTimeout: 2, portMappings: [{ containerPort: 8080, hostPort: 0 }] },
  ]));
  const arn: string = ecs('run-task', '--task-definition', 'web').tasks[0].taskArn;
  ecs('wait', 'tasks-running', '--tasks', arn);
  const task = describeTask(arn);
  expect(task.lastStatus).toBe('RUNNING');
  const binding = task.containers[0].networkBindings[0];
  expect(binding).toMatchObject({ containerPort: 8080, protocol: 'tcp' });
  expect(binding.hostPort).toBeGreaterThan(1024);
  const res = await fetch(`http://127.0.0.1:${binding.hostPort}/`);
  expect(await res.text()).toBe('hello from busybox\n');

  ecs('stop-task', '--task', arn, '--reason', 'e2e');
  ecs('wait', 'tasks-stopped', '--tasks', arn);
  const stopped = describeTask(arn);
  expect(stopped).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'UserInitiated', stoppedReason: 'e2e' });
  expect(typeof stopped.containers[0].exitCode).toBe('number');
});

it('stops a task whose essential container exits, keeping the exit code', () => {
  ecs('register-task-definition', '--family', 'exits', '--network-mode', 'none', '--container-definitions', JSON.stringify([
    { name: 'main', image, memory: 32, entryPoint: ['/bin/sh', '-c'], command: ['echo bye; exit 3'] },
  ]));
  const arn: string = ecs('run-task', '--task-definition', 'exits').tasks[0].taskArn;
  ecs('wait', 'tasks-stopped', '--tasks', arn);
  const task = describeTask(arn);
  expect(task.stopCode).toBe('EssentialContainerExited');
  expect(task.containers[0]).toMatchObject({ lastStatus: 'STOPPED', exitCode: 3 });
});

it('gives an awsvpc task its own address, where it serves HTTP', async () => {
  ecs('register-task-definition', '--family', 'vpc', '--network-mode', 'awsvpc', '--container-definitions', JSON.stringify([
    { name: 'web', image, memory: 64, stopTimeout: 2, portMappings: [{ containerPort: 8080 }] },
  ]));
  const arn: string = ecs('run-task', '--task-definition', 'vpc', '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-local]}').tasks[0].taskArn;
  ecs('wait', 'tasks-running', '--tasks', arn);
  const task = describeTask(arn);
  const address: string = task.containers[0].networkInterfaces[0].privateIpv4Address;
  expect(address).toMatch(/^169\.254\./);
  const res = await fetch(`http://${address}:8080/`);
  expect(await res.text()).toBe('hello from busybox\n');
  ecs('stop-task', '--task', arn);
  ecs('wait', 'tasks-stopped', '--tasks', arn);
});
