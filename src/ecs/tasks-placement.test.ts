/**
 * RunTask and StartTask through the scheduler's full pipeline, against a real (in-memory) store:
 * each placement constraint and strategy, the task definition's requirements (requiresAttributes,
 * its memberOf constraints, launch type), and ECS's failure reasons with Berth's explanation.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { updateContainerInstance } from './container-instances.js';
import { ecsHarness, type EcsHarness, type Json } from './testing/ecs-harness.suite.js';

let h: EcsHarness;
const base = 'arn:aws:ecs:us-east-1:000000000000';
const arnOf = (id: string) => `${base}:container-instance/default/${id}`;
const idOfArn = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

beforeEach(async () => {
  h = ecsHarness();
  await h.call('CreateCluster', { clusterName: 'default' });
  await h.call('RegisterTaskDefinition', { family: 'web', containerDefinitions: [{ name: 'web', image: 'nginx', cpu: 256, memory: 512 }] });
});

interface HostOptions {
  readonly cpu?: number;
  readonly memory?: number;
  readonly zone?: string;
  readonly attributes?: ReadonlyArray<{ name: string; value?: string }>;
  /** Default true: the host's agent is connected, as the agent session marks it. */
  readonly connected?: boolean;
}

/** Registers a container instance (as the agent session does) and returns its id. */
async function host(o: HostOptions = {}): Promise<string> {
  const res = await h.call('RegisterContainerInstance', {
    totalResources: [
      { name: 'CPU', type: 'INTEGER', integerValue: o.cpu ?? 1024 },
      { name: 'MEMORY', type: 'INTEGER', integerValue: o.memory ?? 2048 },
      { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22'] },
    ],
    ...(o.zone === undefined ? {} : { instanceIdentityDocument: JSON.stringify({ availabilityZone: o.zone }) }),
    ...(o.attributes === undefined ? {} : { attributes: o.attributes }),
  });
  const id = idOfArn(res.containerInstance.containerInstanceArn as string);
  if (o.connected !== false) await updateContainerInstance(h.store, 'default', id, (ci) => ({ ...ci, agentConnected: true }));
  return id;
}

const run = (input: Record<string, unknown>): Promise<Json> => h.call('RunTask', { taskDefinition: 'web', ...input });
const placedOn = (res: Json): string[] => res.tasks.map((t: Json) => idOfArn(t.containerInstanceArn));
const count = (ids: readonly string[], id: string) => ids.filter((x) => x === id).length;

describe('RunTask placement constraints', () => {
  it('distinctInstance: one task of the group per instance, counting the request\'s own copies', async () => {
    const a = await host();
    const b = await host();
    const res = await run({ count: 3, placementConstraints: [{ type: 'distinctInstance' }] });
    expect(placedOn(res).sort()).toEqual([a, b].sort());
    expect(res.failures.map((f: Json) => f.reason)).toEqual(['DistinctInstance placement constraint unsatisfied.', 'DistinctInstance placement constraint unsatisfied.']);
  });

  it('distinctInstance counts the group\'s tasks placed by earlier requests, and only that group', async () => {
    const a = await host();
    const b = await host();
    const first = await run({ group: 'batch' });
    const other = first.tasks[0].containerInstanceArn === arnOf(a) ? b : a;
    await h.call('StartTask', { taskDefinition: 'web', group: 'batch', containerInstances: [other] });
    const third = await run({ group: 'batch', placementConstraints: [{ type: 'distinctInstance' }] });
    expect(third.tasks).toEqual([]);
    expect(third.failures.map((f: Json) => f.arn).sort()).toEqual([arnOf(a), arnOf(b)].sort());
    expect((await run({ group: 'other', placementConstraints: [{ type: 'distinctInstance' }] })).tasks).toHaveLength(1);
  });

  it('a task stopped no longer counts for distinctInstance', async () => {
    await host();
    const first = await run({ group: 'g', placementConstraints: [{ type: 'distinctInstance' }] });
    expect((await run({ group: 'g', placementConstraints: [{ type: 'distinctInstance' }] })).tasks).toEqual([]);
    await h.call('StopTask', { task: first.tasks[0].taskArn });
    expect((await run({ group: 'g', placementConstraints: [{ type: 'distinctInstance' }] })).tasks).toHaveLength(1);
  });

  it('memberOf on an attribute places only on matching instances, and explains the others', async () => {
    const gpu = await host({ attributes: [{ name: 'kind', value: 'gpu' }] });
    const cpu = await host({ attributes: [{ name: 'kind', value: 'cpu' }] });
    const res = await run({ count: 5, placementConstraints: [{ type: 'memberOf', expression: 'attribute:kind == gpu' }] });
    expect(placedOn(res)).toEqual([gpu, gpu, gpu, gpu]); // 1024 CPU units hold four
    const byArn = Object.fromEntries(res.failures.map((f: Json) => [f.arn, f]));
    expect(byArn[arnOf(cpu)]).toMatchObject({ reason: 'MemberOf placement constraint unsatisfied.' });
    expect(byArn[arnOf(gpu)]).toMatchObject({ reason: 'RESOURCE:CPU' });
    expect(byArn[arnOf(cpu)].detail).toMatch(/attribute:kind == gpu/);
  });

  it('memberOf with the query language: in, exists, not, and task:group', async () => {
    const a = await host({ zone: 'us-east-1a', attributes: [{ name: 'tier', value: 'web' }] });
    const b = await host({ zone: 'us-east-1b' });
    const c = await host({ zone: 'us-east-1c' });
    const zones = await run({ count: 2, placementConstraints: [{ type: 'memberOf', expression: 'attribute:ecs.availability-zone in [us-east-1b, us-east-1c]' }] });
    expect(placedOn(zones).every((id) => id === b || id === c)).toBe(true);
    const tier = await run({ placementConstraints: [{ type: 'memberOf', expression: 'attribute:tier exists' }] });
    expect(placedOn(tier)).toEqual([a]);
    const notTier = await run({ group: 'api', placementConstraints: [{ type: 'memberOf', expression: 'not(attribute:tier exists) and attribute:ecs.availability-zone == us-east-1c' }] });
    expect(placedOn(notTier)).toEqual([c]);
    // Beside the api task: only c holds one of group api.
    const beside = await run({ placementConstraints: [{ type: 'memberOf', expression: 'task:group == api' }] });
    expect(placedOn(beside)).toEqual([c]);
  });

  it('the task definition\'s memberOf constraints apply with the request\'s', async () => {
    await h.call('RegisterTaskDefinition', {
      family: 'pinned',
      containerDefinitions: [{ name: 'web', image: 'nginx', memory: 128 }],
      placementConstraints: [{ type: 'memberOf', expression: 'attribute:pool == blue' }],
    });
    await host({ attributes: [{ name: 'pool', value: 'green' }] });
    const blue = await host({ attributes: [{ name: 'pool', value: 'blue' }] });
    const res = await run({ taskDefinition: 'pinned', count: 3 });
    expect(placedOn(res)).toEqual([blue, blue, blue]);
    const both = await run({ taskDefinition: 'pinned', placementConstraints: [{ type: 'memberOf', expression: 'attribute:pool == green' }] });
    expect(both.tasks).toEqual([]);
    expect(new Set(both.failures.map((f: Json) => f.reason))).toEqual(new Set(['MemberOf placement constraint unsatisfied.']));
  });
});

describe('RunTask placement strategies', () => {
  it('binpack on memory: the instance with the least memory left that still fits', async () => {
    await host({ memory: 4096 });
    const tight = await host({ memory: 1100 });
    await host({ memory: 2048 });
    const res = await run({ count: 2, placementStrategy: [{ type: 'binpack', field: 'memory' }] });
    expect(placedOn(res)).toEqual([tight, tight]);
  });

  it('binpack on cpu', async () => {
    await host({ cpu: 4096 });
    const tight = await host({ cpu: 512 });
    const res = await run({ placementStrategy: [{ type: 'binpack', field: 'cpu' }] });
    expect(placedOn(res)).toEqual([tight]);
  });

  it('spread on instanceId: even over instances, counting the group\'s earlier tasks', async () => {
    const ids = [await host({ cpu: 4096, memory: 8192 }), await host({ cpu: 4096, memory: 8192 }), await host({ cpu: 4096, memory: 8192 })];
    const spread = [{ type: 'spread', field: 'instanceId' }];
    const first = await run({ count: 4, group: 'g', placementStrategy: spread });
    const second = await run({ count: 2, group: 'g', placementStrategy: spread });
    const all = [...placedOn(first), ...placedOn(second)];
    expect(ids.map((id) => count(all, id))).toEqual([2, 2, 2]);
  });

  it('spread on an attribute (zones), then binpack on memory within each', async () => {
    const a1 = await host({ zone: 'us-east-1a', memory: 4096 });
    const a2 = await host({ zone: 'us-east-1a', memory: 1100 });
    const b1 = await host({ zone: 'us-east-1b', memory: 4096 });
    const b2 = await host({ zone: 'us-east-1b', memory: 1100 });
    const res = await run({
      count: 4,
      placementStrategy: [
        { type: 'spread', field: 'attribute:ecs.availability-zone' },
        { type: 'binpack', field: 'memory' },
      ],
    });
    const on = placedOn(res);
    // Two per zone, and the tight hosts filled first (1100 MiB holds two 512 MiB tasks).
    expect(count(on, a1) + count(on, a2)).toBe(2);
    expect(count(on, b1) + count(on, b2)).toBe(2);
    expect(count(on, a2)).toBe(2);
    expect(count(on, b2)).toBe(2);
  });

  it('random places only where the task fits', async () => {
    await host({ memory: 256 });
    const roomy = await host({ memory: 4096 });
    await host({ memory: 300 });
    const res = await run({ count: 3, placementStrategy: [{ type: 'random' }] });
    expect(placedOn(res)).toEqual([roomy, roomy, roomy]);
  });
});

describe('RunTask failures: ECS\'s reasons, Berth\'s explanation', () => {
  it('RESOURCE:CPU and RESOURCE:MEMORY, with the numbers and the whole picture in detail', async () => {
    const small = await host({ cpu: 128 });
    const low = await host({ memory: 256 });
    const res = await run({});
    expect(res.tasks).toEqual([]);
    expect(res.failures).toHaveLength(2);
    expect(res.failures).toEqual(
      expect.arrayContaining([
        { arn: arnOf(small), reason: 'RESOURCE:CPU', detail: expect.stringContaining('need 256') },
        { arn: arnOf(low), reason: 'RESOURCE:MEMORY', detail: expect.stringContaining('need 512 MiB, free 256 MiB') },
      ]),
    );
    for (const f of res.failures) expect(f.detail).toMatch(/1 of 2 instances lacks? CPU.*; 1 lacks? memory/);
  });

  it('RESOURCE:PORTS for a static host port in use', async () => {
    await h.call('RegisterTaskDefinition', { family: 'fixed', containerDefinitions: [{ name: 'web', image: 'nginx', memory: 128, portMappings: [{ containerPort: 80, hostPort: 22 }] }] });
    const a = await host();
    const res = await run({ taskDefinition: 'fixed' });
    expect(res.failures).toEqual([{ arn: arnOf(a), reason: 'RESOURCE:PORTS', detail: expect.stringMatching(/^host port 22\/tcp in use\./) }]);
  });

  it('AGENT when the host\'s agent is not connected', async () => {
    const a = await host({ connected: false });
    const res = await run({});
    expect(res.failures).toEqual([{ arn: arnOf(a), reason: 'AGENT', detail: 'agent disconnected. 1 of 1 instance has its agent disconnected' }]);
  });

  it('ATTRIBUTE when the task definition requires a capability the instance lacks (requiresAttributes)', async () => {
    const td = (
      await h.call('RegisterTaskDefinition', {
        family: 'checked',
        containerDefinitions: [{ name: 'web', image: 'nginx', memory: 128, healthCheck: { command: ['CMD-SHELL', 'true'] } }],
      })
    ).taskDefinition;
    expect(td.requiresAttributes).toEqual([{ name: 'ecs.capability.container-health-check' }]);
    const plain = await host();
    const res = await run({ taskDefinition: 'checked' });
    expect(res.failures).toEqual([
      {
        arn: arnOf(plain),
        reason: 'ATTRIBUTE',
        detail: 'missing attribute ecs.capability.container-health-check. 1 of 1 instance lacks required attribute ecs.capability.container-health-check',
      },
    ]);
    const capable = await host({ attributes: [{ name: 'ecs.capability.container-health-check' }] });
    expect(placedOn(await run({ taskDefinition: 'checked' }))).toEqual([capable]);
  });

  it('ATTRIBUTE when the launch type does not match the instance (EXTERNAL asked, EC2 hosts)', async () => {
    await h.call('RegisterTaskDefinition', { family: 'ext', requiresCompatibilities: ['EXTERNAL'], containerDefinitions: [{ name: 'web', image: 'nginx', memory: 128 }] });
    const a = await host();
    const res = await run({ taskDefinition: 'ext', launchType: 'EXTERNAL' });
    expect(res.failures).toEqual([{ arn: arnOf(a), reason: 'ATTRIBUTE', detail: expect.stringMatching(/^EC2 instance; the task needs launch type EXTERNAL\./) }]);
  });

  it('a request that places nothing writes nothing', async () => {
    await host({ memory: 100 });
    await h.unchanged(() => run({ count: 2, placementStrategy: [{ type: 'binpack', field: 'memory' }] }));
  });
});

describe('StartTask through the feasibility checks', () => {
  it('refuses an instance without a required attribute, or with its agent gone, and starts on the rest', async () => {
    await h.call('RegisterTaskDefinition', {
      family: 'checked',
      containerDefinitions: [{ name: 'web', image: 'nginx', memory: 128, healthCheck: { command: ['CMD-SHELL', 'true'] } }],
    });
    const plain = await host();
    const gone = await host({ connected: false, attributes: [{ name: 'ecs.capability.container-health-check' }] });
    const capable = await host({ attributes: [{ name: 'ecs.capability.container-health-check' }] });
    const res = await h.call('StartTask', { taskDefinition: 'checked', containerInstances: [plain, gone, capable] });
    expect(placedOn(res)).toEqual([capable]);
    expect(res.failures).toEqual([
      { arn: arnOf(plain), reason: 'ATTRIBUTE', detail: 'missing attribute ecs.capability.container-health-check' },
      { arn: arnOf(gone), reason: 'AGENT', detail: 'agent disconnected' },
    ]);
  });

  it('CPU is checked as well as memory', async () => {
    const a = await host({ cpu: 300 });
    const res = await h.call('StartTask', { taskDefinition: 'web', containerInstances: [a, a] });
    expect(placedOn(res)).toEqual([a]);
    expect(res.failures).toEqual([{ arn: arnOf(a), reason: 'RESOURCE:CPU', detail: expect.stringContaining('need 256') }]);
  });
});
