/**
 * The task definition operations against a real (in-memory SQLite) Store: every operation, its
 * error paths, ordering and paging, revision numbering under concurrency, and that a rejected
 * request leaves the store untouched.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { BerthError, ErrorCode } from '../protocols/index.js';
import type { Store } from '../store/index.js';
import { createEcsService } from './index.js';
import { keys } from './keys.js';
import { readJson, updateJson } from './repo.js';
import type { StoredTaskDefinition, TaskDefinition, TaskDefinitionFamily } from './task-definition-types.js';
import { resolveTaskDefinition, taskDefinitionTags } from './task-definitions.js';
import { ecsHarness, rejection as berthRejection, type EcsHarness } from './testing/ecs-harness.suite.js';

type Obj = Record<string, unknown>;

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const PARTITION = { region: REGION, accountId: ACCOUNT };
const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const arn = (family: string, revision: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${family}:${revision}`;

let store: Store;
let call: EcsHarness['call'];
let unchanged: EcsHarness['unchanged'];

beforeEach(() => {
  ({ store, call, unchanged } = ecsHarness({ now: T0 }));
});

const definition = (family: string, extra: Obj = {}): Obj => ({
  family, containerDefinitions: [{ name: 'app', image: 'nginx:1.27', memory: 128 }], ...extra,
});
const register = async (family: string, extra: Obj = {}, at = T0): Promise<TaskDefinition> =>
  ((await call('RegisterTaskDefinition', definition(family, extra), at)) as { taskDefinition: TaskDefinition }).taskDefinition;
const deregister = (ref: string, at = T0) => call('DeregisterTaskDefinition', { taskDefinition: ref }, at);
const describeTd = async (ref: string): Promise<TaskDefinition> => ((await call('DescribeTaskDefinition', { taskDefinition: ref })) as { taskDefinition: TaskDefinition }).taskDefinition;

/** The BerthError `promise` rejects with, checked for `code` and for each fragment of its message. */
async function rejection(promise: Promise<unknown>, code: ErrorCode, ...fragments: string[]): Promise<BerthError> {
  const err = await berthRejection(promise, code);
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

/** Runs `action`, which must fail with `code`, and checks the store did not change. */
async function rejectsUnchanged(action: () => Promise<unknown>, code: ErrorCode, ...fragments: string[]): Promise<void> {
  await unchanged(() => rejection(action(), code, ...fragments));
}

async function listAll(input: Obj, pageSize: number): Promise<{ arns: string[]; pages: number }> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const res = await call('ListTaskDefinitions', { ...input, maxResults: pageSize, ...(nextToken === undefined ? {} : { nextToken }) });
    arns.push(...(res.taskDefinitionArns as string[]));
    nextToken = res.nextToken as string | undefined;
    pages += 1;
  } while (nextToken !== undefined);
  return { arns, pages };
}

describe('RegisterTaskDefinition', () => {
  it('stores revision 1 as ECS returns it', async () => {
    const res = await call('RegisterTaskDefinition', definition('web'));
    expect(res).toEqual({
      taskDefinition: {
        taskDefinitionArn: arn('web', 1),
        family: 'web',
        revision: 1,
        status: 'ACTIVE',
        containerDefinitions: [{
          name: 'app', image: 'nginx:1.27', cpu: 0, memory: 128, portMappings: [], essential: true,
          environment: [], mountPoints: [], volumesFrom: [], systemControls: [],
        }],
        volumes: [],
        placementConstraints: [],
        compatibilities: ['EC2'],
        registeredAt: T0 / 1000,
        registeredBy: `arn:aws:iam::${ACCOUNT}:root`,
      },
    });
    expect((await readJson<TaskDefinition>(store, keys.taskDefinition('web', 1)))?.value).toEqual(res.taskDefinition);
    expect((await readJson<TaskDefinitionFamily>(store, keys.family('web')))?.value).toEqual({ family: 'web', lastRevision: 1, activeRevisions: 1 });
  });

  it('numbers revisions per family', async () => {
    expect((await register('web')).revision).toBe(1);
    expect((await register('web')).revision).toBe(2);
    expect((await register('api')).revision).toBe(1);
    expect((await register('web')).taskDefinitionArn).toBe(arn('web', 3));
  });

  it('never reuses a revision number, even after its definition is deleted', async () => {
    await register('web');
    await register('web');
    await deregister('web:2');
    await call('DeleteTaskDefinitions', { taskDefinitions: ['web:2'] });
    expect((await register('web')).revision).toBe(3);
  });

  it('gives concurrent registers of one family distinct, consecutive revisions', async () => {
    const n = 25;
    const tds = await Promise.all(Array.from({ length: n }, () => register('race')));
    expect(tds.map((td) => td.revision).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect((await readJson<TaskDefinitionFamily>(store, keys.family('race')))?.value).toEqual({ family: 'race', lastRevision: n, activeRevisions: n });
    for (const td of tds) expect((await describeTd(`race:${td.revision}`)).taskDefinitionArn).toBe(td.taskDefinitionArn);
  });

  it('returns tags given with the definition and keeps them in its record, never in the TaskDefinition sent', async () => {
    const res = await call('RegisterTaskDefinition', definition('web', { tags: [{ key: 'team', value: 'core' }, { key: 'flag' }] }));
    expect(res.tags).toEqual([{ key: 'team', value: 'core' }, { key: 'flag', value: '' }]);
    expect(res.taskDefinition).not.toHaveProperty('tags');
    expect((await readJson<StoredTaskDefinition>(store, keys.taskDefinition('web', 1)))?.value).toEqual({ ...res.taskDefinition, tags: res.tags });
    expect(await taskDefinitionTags(store, res.taskDefinition)).toEqual(res.tags);
    expect(await taskDefinitionTags(store, await register('web'))).toEqual([]);
  });

  it('changes nothing when it rejects a definition', async () => {
    await register('web');
    await rejectsUnchanged(() => call('RegisterTaskDefinition', definition('web', { cpu: 'lots' })), 'ClientException', "Invalid 'cpu' setting for task.");
    await rejectsUnchanged(() => call('RegisterTaskDefinition', { family: 'fresh', containerDefinitions: [{ name: 'app', image: 'nginx' }] }),
      'ClientException', "At least one of 'memory' or 'memoryReservation' must be specified.");
    await rejectsUnchanged(() => call('RegisterTaskDefinition', definition('web', { tags: [{ key: 'aws:x', value: '1' }] })), 'InvalidParameterException', 'tags[0].key');
    expect(await store.get(keys.family('fresh'))).toBeUndefined();
    expect((await register('web')).revision).toBe(2);
  });
});

describe('DescribeTaskDefinition', () => {
  it('finds a revision by family:revision and by ARN', async () => {
    const one = await register('web');
    await register('web');
    expect(await describeTd('web:1')).toEqual(one);
    expect(await describeTd(arn('web', 1))).toEqual(one);
  });

  it('resolves a bare family to its latest ACTIVE revision', async () => {
    await register('web');
    const two = await register('web');
    await register('web');
    expect((await describeTd('web')).revision).toBe(3);
    await deregister('web:3');
    expect(await describeTd('web')).toEqual(two);
  });

  it('includes tags only when asked with include TAGS', async () => {
    await register('web', { tags: [{ key: 'team', value: 'core' }] });
    expect(await call('DescribeTaskDefinition', { taskDefinition: 'web:1' })).not.toHaveProperty('tags');
    expect((await call('DescribeTaskDefinition', { taskDefinition: 'web:1', include: ['TAGS'] })).tags).toEqual([{ key: 'team', value: 'core' }]);
    await register('bare');
    expect((await call('DescribeTaskDefinition', { taskDefinition: 'bare', include: ['TAGS'] })).tags).toEqual([]);
    await rejection(call('DescribeTaskDefinition', { taskDefinition: 'web', include: ['LABELS'] }), 'InvalidParameterException', 'include[0]');
  });

  it('reads the tags in the record, as TagResource leaves them, and keeps them out of every TaskDefinition sent', async () => {
    await register('web', { tags: [{ key: 'team', value: 'core' }] });
    await updateJson<StoredTaskDefinition>(store, keys.taskDefinition('web', 1), (cur) => cur && { ...cur, tags: [{ key: 'tier' }] });
    expect((await call('DescribeTaskDefinition', { taskDefinition: 'web', include: ['TAGS'] })).tags).toEqual([{ key: 'tier', value: '' }]);
    expect(await describeTd('web:1')).not.toHaveProperty('tags');
    expect(await resolveTaskDefinition(store, 'web:1', PARTITION)).not.toHaveProperty('tags');
    expect((await deregister('web:1')).taskDefinition).not.toHaveProperty('tags');
    const deleted = await call('DeleteTaskDefinitions', { taskDefinitions: ['web:1'] });
    expect(deleted.taskDefinitions[0]).not.toHaveProperty('tags');
    // Deregistering and deleting keep the record's tags.
    expect(await taskDefinitionTags(store, { family: 'web', revision: 1 })).toEqual([{ key: 'tier', value: '' }]);
  });

  it("says 'Unable to describe task definition.' when nothing matches", async () => {
    await register('web');
    for (const ref of ['nope', 'web:2', 'nope:1', `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/web:1`,
      `arn:aws:ecs:${REGION}:111111111111:task-definition/web:1`, `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/web`, 'bad name']) {
      await rejection(call('DescribeTaskDefinition', { taskDefinition: ref }), 'ClientException', 'Unable to describe task definition.');
    }
    await rejection(call('DescribeTaskDefinition', { taskDefinition: 'web:latest' }), 'ClientException', 'Invalid revision number');
    await rejection(call('DescribeTaskDefinition', {}), 'InvalidParameterException', 'taskDefinition');
  });

  it('finds no ACTIVE revision for a family whose revisions are all INACTIVE, but still describes each revision', async () => {
    await register('web');
    await deregister('web:1');
    await rejection(call('DescribeTaskDefinition', { taskDefinition: 'web' }), 'ClientException', 'Unable to describe task definition.');
    expect((await describeTd('web:1')).status).toBe('INACTIVE');
  });

  it('scans past many INACTIVE revisions to the latest ACTIVE one', async () => {
    await register('deep');
    for (let i = 0; i < 230; i++) await register('deep');
    for (let r = 2; r <= 231; r++) await deregister(`deep:${r}`);
    expect((await describeTd('deep')).revision).toBe(1);
  });
});

describe('resolveTaskDefinition', () => {
  it('is what tasks and services use to find a definition', async () => {
    const td = await register('web');
    expect(await resolveTaskDefinition(store, 'web', PARTITION)).toEqual(td);
    expect(await resolveTaskDefinition(store, arn('web', 1), PARTITION)).toEqual(td);
    await deregister('web:1');
    expect((await resolveTaskDefinition(store, 'web:1', PARTITION)).status).toBe('INACTIVE');
    await rejection(resolveTaskDefinition(store, 'web', PARTITION), 'ClientException', 'Unable to describe task definition.');
    await rejection(resolveTaskDefinition(store, 'other:1', { region: 'eu-west-1', accountId: ACCOUNT }), 'ClientException', 'Unable to describe');
  });
});

describe('DeregisterTaskDefinition', () => {
  it('marks the revision INACTIVE with deregisteredAt, and the family keeps count', async () => {
    await register('web');
    await register('web');
    const later = T0 + 60_000;
    const res = await deregister(arn('web', 1), later);
    expect(res.taskDefinition).toMatchObject({ taskDefinitionArn: arn('web', 1), status: 'INACTIVE', deregisteredAt: later / 1000 });
    expect(await describeTd('web:1')).toEqual(res.taskDefinition);
    expect((await readJson<TaskDefinitionFamily>(store, keys.family('web')))?.value).toEqual({ family: 'web', lastRevision: 2, activeRevisions: 1 });
  });

  it('leaves an already INACTIVE revision as it is', async () => {
    await register('web');
    const first = await deregister('web:1', T0 + 1000);
    const before = await store.revision();
    const again = await deregister('web:1', T0 + 9000);
    expect(again.taskDefinition).toEqual(first.taskDefinition);
    expect(await store.revision()).toBe(before);
    expect((await readJson<TaskDefinitionFamily>(store, keys.family('web')))?.value.activeRevisions).toBe(0);
  });

  it('needs a revision and an existing definition, and changes nothing otherwise', async () => {
    await register('web');
    await rejectsUnchanged(() => deregister('web'), 'ClientException', "'web'", 'You must specify a revision');
    await rejectsUnchanged(() => deregister('web:7'), 'ClientException', 'Unable to describe task definition.');
    await rejectsUnchanged(() => deregister(`arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/web:1`), 'ClientException', 'Unable to describe');
    await rejectsUnchanged(() => deregister('web:x'), 'ClientException', 'Invalid revision number');
    expect((await describeTd('web:1')).status).toBe('ACTIVE');
  });

  it('keeps the ACTIVE count right when revisions are deregistered concurrently', async () => {
    for (let i = 0; i < 8; i++) await register('web');
    await Promise.all(Array.from({ length: 8 }, (_, i) => deregister(`web:${i + 1}`)));
    expect((await readJson<TaskDefinitionFamily>(store, keys.family('web')))?.value).toEqual({ family: 'web', lastRevision: 8, activeRevisions: 0 });
    expect((await call('ListTaskDefinitionFamilies', { status: 'INACTIVE' })).families).toEqual(['web']);
  });

  it('keeps the ACTIVE count right when registers and deregisters of one family race', async () => {
    for (let i = 0; i < 10; i++) await register('web');
    await Promise.all(Array.from({ length: 10 }, (_, i) => [deregister(`web:${i + 1}`), register('web')]).flat());
    const family = (await readJson<TaskDefinitionFamily>(store, keys.family('web')))?.value;
    const active = (await call('ListTaskDefinitions', { familyPrefix: 'web' })).taskDefinitionArns as string[];
    expect(family).toEqual({ family: 'web', lastRevision: 20, activeRevisions: 10 });
    expect(active).toEqual(Array.from({ length: 10 }, (_, i) => arn('web', i + 11)));
  });
});

describe('DeleteTaskDefinitions', () => {
  it('moves INACTIVE revisions to DELETE_IN_PROGRESS and reports the rest as failures', async () => {
    await register('web');
    await register('web');
    await deregister('web:1');
    const at = T0 + 5000;
    const res = await call('DeleteTaskDefinitions', { taskDefinitions: ['web:1', arn('web', 2), 'web:9', `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/web:1`] }, at);
    expect(res.taskDefinitions).toHaveLength(1);
    expect(res.taskDefinitions[0]).toMatchObject({ taskDefinitionArn: arn('web', 1), status: 'DELETE_IN_PROGRESS', deleteRequestedAt: at / 1000 });
    expect(res.failures).toEqual([
      { arn: arn('web', 2), reason: 'The specified task definition is still in ACTIVE status. Please deregister the target and try again.' },
      { arn: arn('web', 9), reason: 'The specified task definition does not exist.' },
      expect.objectContaining({ arn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/web:1`, reason: 'The specified task definition does not exist.' }),
    ]);
    expect((await describeTd('web:1')).status).toBe('DELETE_IN_PROGRESS');
    expect((await describeTd('web:2')).status).toBe('ACTIVE');
  });

  it('returns a revision named twice once, and a DELETE_IN_PROGRESS one again unchanged', async () => {
    await register('web');
    await deregister('web:1');
    const first = await call('DeleteTaskDefinitions', { taskDefinitions: ['web:1', arn('web', 1)] }, T0 + 1000);
    expect(first.taskDefinitions).toHaveLength(1);
    expect(first.failures).toEqual([]);
    const again = await call('DeleteTaskDefinitions', { taskDefinitions: ['web:1'] }, T0 + 9000);
    expect(again.taskDefinitions).toEqual(first.taskDefinitions);
  });

  it('rejects a malformed request whole, changing nothing', async () => {
    await register('web');
    await deregister('web:1');
    const eleven = Array.from({ length: 11 }, () => 'web:1');
    await rejectsUnchanged(() => call('DeleteTaskDefinitions', { taskDefinitions: eleven }), 'InvalidParameterException', 'at most 10');
    await rejectsUnchanged(() => call('DeleteTaskDefinitions', { taskDefinitions: [] }), 'InvalidParameterException', 'taskDefinitions');
    await rejectsUnchanged(() => call('DeleteTaskDefinitions', {}), 'InvalidParameterException', 'taskDefinitions');
    await rejectsUnchanged(() => call('DeleteTaskDefinitions', { taskDefinitions: ['web:1', 'web'] }), 'ClientException', 'You must specify a revision');
    expect((await describeTd('web:1')).status).toBe('INACTIVE');
  });

  it('keeps the family listed while revisions are being deleted', async () => {
    await register('gone');
    await deregister('gone:1');
    await call('DeleteTaskDefinitions', { taskDefinitions: ['gone:1'] });
    expect((await call('ListTaskDefinitionFamilies', {})).families).toEqual(['gone']);
    expect((await call('ListTaskDefinitions', { status: 'DELETE_IN_PROGRESS' })).taskDefinitionArns).toEqual([arn('gone', 1)]);
  });
});

describe('ListTaskDefinitions', () => {
  beforeEach(async () => {
    // 'a-b' sorts between 'a' and 'b' by family name, though its keys sort before 'a/'.
    for (const family of ['b', 'a-b', 'a', 'b', 'a', 'a']) await register(family);
    await deregister('a:2');
  });

  it('lists ACTIVE revisions by family name, then revision, by default', async () => {
    const res = await call('ListTaskDefinitions');
    expect(res).toEqual({ taskDefinitionArns: [arn('a', 1), arn('a', 3), arn('a-b', 1), arn('b', 1), arn('b', 2)] });
  });

  it('reverses both orders with sort DESC', async () => {
    expect((await call('ListTaskDefinitions', { sort: 'DESC' })).taskDefinitionArns)
      .toEqual([arn('b', 2), arn('b', 1), arn('a-b', 1), arn('a', 3), arn('a', 1)]);
  });

  it('filters by status', async () => {
    expect((await call('ListTaskDefinitions', { status: 'INACTIVE' })).taskDefinitionArns).toEqual([arn('a', 2)]);
    expect((await call('ListTaskDefinitions', { status: 'DELETE_IN_PROGRESS' })).taskDefinitionArns).toEqual([]);
  });

  it('takes familyPrefix as the full family name', async () => {
    expect((await call('ListTaskDefinitions', { familyPrefix: 'a' })).taskDefinitionArns).toEqual([arn('a', 1), arn('a', 3)]);
    expect((await call('ListTaskDefinitions', { familyPrefix: 'a', sort: 'DESC', status: 'INACTIVE' })).taskDefinitionArns).toEqual([arn('a', 2)]);
    expect((await call('ListTaskDefinitions', { familyPrefix: 'zzz' })).taskDefinitionArns).toEqual([]);
  });

  it('pages with maxResults and nextToken, with no token after the last page', async () => {
    const first = await call('ListTaskDefinitions', { maxResults: 2 });
    expect(first.taskDefinitionArns).toEqual([arn('a', 1), arn('a', 3)]);
    expect(typeof first.nextToken).toBe('string');
    const second = await call('ListTaskDefinitions', { maxResults: 2, nextToken: first.nextToken });
    expect(second.taskDefinitionArns).toEqual([arn('a-b', 1), arn('b', 1)]);
    const third = await call('ListTaskDefinitions', { maxResults: 2, nextToken: second.nextToken });
    expect(third).toEqual({ taskDefinitionArns: [arn('b', 2)] });
    const exact = await call('ListTaskDefinitions', { maxResults: 5 });
    expect(exact).not.toHaveProperty('nextToken');
  });

  it('pages the same list in every order and page size', async () => {
    for (const sort of ['ASC', 'DESC']) {
      const whole = (await call('ListTaskDefinitions', { sort, status: 'ACTIVE' })).taskDefinitionArns;
      for (const size of [1, 2, 3, 4, 5, 6]) {
        const { arns, pages } = await listAll({ sort }, size);
        expect(arns).toEqual(whole);
        expect(pages).toBe(Math.ceil(whole.length / size));
      }
    }
    expect((await listAll({ familyPrefix: 'a', sort: 'DESC' }, 1)).arns).toEqual([arn('a', 3), arn('a', 1)]);
  });

  it('pages across a family with many revisions', async () => {
    for (let i = 0; i < 250; i++) await register('many');
    const { arns } = await listAll({ familyPrefix: 'many' }, 100);
    expect(arns).toEqual(Array.from({ length: 250 }, (_, i) => arn('many', i + 1)));
  });

  it('rejects bad paging and filter values', async () => {
    await rejection(call('ListTaskDefinitions', { maxResults: 0 }), 'InvalidParameterException', 'maxResults');
    await rejection(call('ListTaskDefinitions', { maxResults: 101 }), 'InvalidParameterException', 'maxResults');
    await rejection(call('ListTaskDefinitions', { status: 'GONE' }), 'InvalidParameterException', 'status');
    await rejection(call('ListTaskDefinitions', { sort: 'UP' }), 'InvalidParameterException', 'sort');
    await rejection(call('ListTaskDefinitions', { nextToken: 'garbage!' }), 'InvalidParameterException', 'nextToken');
    const token = (await call('ListTaskDefinitions', { maxResults: 1 })).nextToken as string;
    await rejection(call('ListTaskDefinitions', { familyPrefix: 'b', nextToken: token }), 'InvalidParameterException', 'nextToken');
    const familiesToken = (await call('ListTaskDefinitionFamilies', { maxResults: 1 })).nextToken as string;
    await rejection(call('ListTaskDefinitions', { nextToken: familiesToken }), 'InvalidParameterException', 'nextToken');
  });
});

describe('ListTaskDefinitionFamilies', () => {
  beforeEach(async () => {
    for (const family of ['web', 'web-api', 'worker', 'db']) await register(family);
    await register('web');
    await deregister('worker:1');
  });

  it('lists every family by default, ACTIVE or not, in name order', async () => {
    expect(await call('ListTaskDefinitionFamilies')).toEqual({ families: ['db', 'web', 'web-api', 'worker'] });
    expect((await call('ListTaskDefinitionFamilies', { status: 'ALL' })).families).toEqual(['db', 'web', 'web-api', 'worker']);
  });

  it('filters by status: ACTIVE has an ACTIVE revision, INACTIVE has none', async () => {
    expect((await call('ListTaskDefinitionFamilies', { status: 'ACTIVE' })).families).toEqual(['db', 'web', 'web-api']);
    expect((await call('ListTaskDefinitionFamilies', { status: 'INACTIVE' })).families).toEqual(['worker']);
    await deregister('web:1');
    expect((await call('ListTaskDefinitionFamilies', { status: 'ACTIVE' })).families).toContain('web');
    await deregister('web:2');
    expect((await call('ListTaskDefinitionFamilies', { status: 'INACTIVE' })).families).toEqual(['web', 'worker']);
  });

  it('takes familyPrefix as a prefix', async () => {
    expect((await call('ListTaskDefinitionFamilies', { familyPrefix: 'w' })).families).toEqual(['web', 'web-api', 'worker']);
    expect((await call('ListTaskDefinitionFamilies', { familyPrefix: 'web' })).families).toEqual(['web', 'web-api']);
    expect((await call('ListTaskDefinitionFamilies', { familyPrefix: 'web', status: 'INACTIVE' })).families).toEqual([]);
  });

  it('pages with maxResults and nextToken', async () => {
    const first = await call('ListTaskDefinitionFamilies', { maxResults: 3 });
    expect(first.families).toEqual(['db', 'web', 'web-api']);
    const second = await call('ListTaskDefinitionFamilies', { maxResults: 3, nextToken: first.nextToken });
    expect(second).toEqual({ families: ['worker'] });
    const active = await call('ListTaskDefinitionFamilies', { maxResults: 2, status: 'ACTIVE', familyPrefix: 'w' });
    expect(active.families).toEqual(['web', 'web-api']);
    expect(active).not.toHaveProperty('nextToken');
  });

  it('rejects bad paging and filter values', async () => {
    await rejection(call('ListTaskDefinitionFamilies', { status: 'DELETE_IN_PROGRESS' }), 'InvalidParameterException', 'status');
    await rejection(call('ListTaskDefinitionFamilies', { maxResults: 1000 }), 'InvalidParameterException', 'maxResults');
    const token = (await call('ListTaskDefinitionFamilies', { maxResults: 1 })).nextToken as string;
    await rejection(call('ListTaskDefinitionFamilies', { familyPrefix: 'w', nextToken: token }), 'InvalidParameterException', 'nextToken');
  });
});

describe('the ECS service', () => {
  it('serves the six task definition operations', () => {
    const service = createEcsService({ store });
    for (const op of ['RegisterTaskDefinition', 'DescribeTaskDefinition', 'ListTaskDefinitions', 'ListTaskDefinitionFamilies',
      'DeregisterTaskDefinition', 'DeleteTaskDefinitions']) {
      expect(typeof service.operations[op]).toBe('function');
    }
  });
});
