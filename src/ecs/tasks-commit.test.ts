/**
 * commitNewTasks under concurrent changes to the instances it places on: a change that cannot undo
 * the placement (counts moved by an agent's report, room taken that still leaves enough) is rebased
 * on; one that can (room gone, DRAINING, agent gone) refuses the commit and writes nothing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { RequestContext } from '../protocols/index.js';
import { updateContainerInstance, type ContainerInstance } from './container-instances.js';
import { keys } from './keys.js';
import { readJson } from './repo.js';
import { ecsHarness, type EcsHarness } from './testing/ecs-harness.suite.js';
import { resolveTaskDefinition } from './task-definitions.js';
import { taskReservation } from './task-shape.js';
import { commitNewTasks, newTasks, type ReadInstance, type TaskSpec } from './tasks.js';

let h: EcsHarness;
let id: string;
let spec: TaskSpec;
const partition = { region: 'us-east-1', accountId: '000000000000' };

beforeEach(async () => {
  h = ecsHarness();
  const cluster = (await h.call('CreateCluster', { clusterName: 'default' })).cluster;
  await h.call('RegisterTaskDefinition', { family: 'web', containerDefinitions: [{ name: 'web', image: 'nginx', cpu: 256, memory: 512, portMappings: [{ containerPort: 80, hostPort: 8080 }] }] });
  const res = await h.call('RegisterContainerInstance', {
    totalResources: [
      { name: 'CPU', type: 'INTEGER', integerValue: 2048 },
      { name: 'MEMORY', type: 'INTEGER', integerValue: 2048 },
      { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22'] },
    ],
  });
  const arn = res.containerInstance.containerInstanceArn as string;
  id = arn.slice(arn.lastIndexOf('/') + 1);
  await updateContainerInstance(h.store, 'default', id, (ci) => ({ ...ci, agentConnected: true }));
  const td = await resolveTaskDefinition(h.store, 'web', partition);
  const overrides = { containerOverrides: [{ name: 'web' }], inferenceAcceleratorOverrides: [] };
  spec = {
    cluster: { clusterArn: cluster.clusterArn, clusterName: 'default', status: 'ACTIVE' },
    td,
    launch: { launchType: 'EC2' },
    overrides,
    group: 'family:web',
    tags: [],
    enableExecuteCommand: false,
    reservation: taskReservation(td, overrides),
  };
});

const ctx: RequestContext = { requestId: 'r', caller: { accessKeyId: 'AKID', accountId: '000000000000' }, region: 'us-east-1', now: new Date('2025-01-01T00:00:00Z') };

async function readInstance(): Promise<ReadInstance> {
  const cur = (await readJson<ContainerInstance>(h.store, keys.containerInstance('default', id)))!;
  return { key: keys.containerInstance('default', id), modRevision: cur.modRevision, value: cur.value };
}

/** Plans one task on the instance as read now; `meanwhile` changes the instance before the commit. */
async function commitAfter(meanwhile: (ci: ContainerInstance) => ContainerInstance): Promise<boolean> {
  const read = await readInstance();
  const slots = [{ instance: read.value }];
  await updateContainerInstance(h.store, 'default', id, meanwhile);
  return commitNewTasks(h.store, 'default', newTasks(spec, slots, ctx), slots, new Map([[id, read]]), spec.reservation, { compares: [], ops: [] });
}

const remaining = (ci: ContainerInstance, name: string) => ci.remainingResources.find((r) => r.name === name)!;

describe('commitNewTasks rebases on instances that changed', () => {
  it('commits over a change of counts only, keeping it', async () => {
    expect(await commitAfter((ci) => ({ ...ci, runningTasksCount: 7 }))).toBe(true);
    const ci = (await readInstance()).value as ContainerInstance;
    expect(ci.runningTasksCount).toBe(7);
    expect(ci.pendingTasksCount).toBe(1);
    expect(remaining(ci, 'MEMORY').integerValue).toBe(2048 - 512);
    expect(remaining(ci, 'PORTS').stringSetValue).toContain('8080');
  });

  it('commits when another plan took room and enough is left, reserving on what is left', async () => {
    const took = (ci: ContainerInstance) => ({
      ...ci,
      remainingResources: ci.remainingResources.map((r) => (r.name === 'MEMORY' ? { ...r, integerValue: 1024 } : r)),
    });
    expect(await commitAfter(took)).toBe(true);
    expect(remaining((await readInstance()).value as ContainerInstance, 'MEMORY').integerValue).toBe(512);
  });

  const refusals: Array<[string, (ci: ContainerInstance) => ContainerInstance]> = [
    ['the room is gone', (ci) => ({ ...ci, remainingResources: ci.remainingResources.map((r) => (r.name === 'MEMORY' ? { ...r, integerValue: 256 } : r)) })],
    ['the host port was taken', (ci) => ({ ...ci, remainingResources: ci.remainingResources.map((r) => (r.name === 'PORTS' ? { ...r, stringSetValue: ['22', '8080'] } : r)) })],
    ['the instance is DRAINING', (ci) => ({ ...ci, status: 'DRAINING' })],
    ['its agent disconnected', (ci) => ({ ...ci, agentConnected: false })],
    ['its attributes changed', (ci) => ({ ...ci, attributes: [...ci.attributes, { name: 'zone', value: 'b' }] })],
  ];
  for (const [what, change] of refusals) {
    it(`refuses, writing nothing, when ${what}`, async () => {
      const read = await readInstance();
      const slots = [{ instance: read.value }];
      await updateContainerInstance(h.store, 'default', id, change);
      const ok = await h.unchanged(() =>
        commitNewTasks(h.store, 'default', newTasks(spec, slots, ctx), slots, new Map([[id, read]]), spec.reservation, { compares: [], ops: [] }),
      );
      expect(ok).toBe(false);
    });
  }

  it('refuses when another guard of the commit fails, however the instances stand', async () => {
    const read = await readInstance();
    const slots = [{ instance: read.value }];
    const guard = { key: '/nothing/here', target: 'mod' as const, op: '=' as const, value: 5 };
    const ok = await h.unchanged(() => commitNewTasks(h.store, 'default', newTasks(spec, slots, ctx), slots, new Map([[id, read]]), spec.reservation, { compares: [guard], ops: [] }));
    expect(ok).toBe(false);
  });
});
