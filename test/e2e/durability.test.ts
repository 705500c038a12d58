/**
 * State survives a kill -9 of the server: everything acknowledged before the kill is there after a
 * restart on the same home, and counters (task definition revisions) carry on without reuse.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBerth, type Berth } from './harness.js';

let berth: Berth;
beforeAll(async () => {
  berth = await startBerth();
});
afterAll(async () => {
  await berth?.[Symbol.asyncDispose]();
});

it('keeps clusters, task definitions and tasks across kill -9', async () => {
  const ecs = (...args: string[]) => berth.awsOk('v1', ['ecs', ...args]);
  ecs('create-cluster', '--cluster-name', 'durable');
  ecs('register-task-definition', '--family', 'durable', '--requires-compatibilities', 'FARGATE', '--network-mode', 'awsvpc',
    '--cpu', '256', '--memory', '512', '--container-definitions', 'name=app,image=busybox');
  const run = ecs('run-task', '--cluster', 'durable', '--task-definition', 'durable', '--launch-type', 'FARGATE', '--count', '3',
    '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-1]}');
  const arns = (run.tasks as Array<{ taskArn: string }>).map((t) => t.taskArn).sort();
  const pidBefore = berth.pid;

  await berth.kill9AndRestart();
  expect(berth.pid).not.toBe(pidBefore);

  expect(ecs('describe-clusters', '--clusters', 'durable').clusters[0].status).toBe('ACTIVE');
  expect(ecs('list-tasks', '--cluster', 'durable').taskArns.sort()).toEqual(arns);
  const again = ecs('register-task-definition', '--family', 'durable', '--requires-compatibilities', 'FARGATE', '--network-mode', 'awsvpc',
    '--cpu', '256', '--memory', '512', '--container-definitions', 'name=app,image=busybox');
  expect(again.taskDefinition.revision).toBe(2);
});
