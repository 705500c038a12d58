/** TagResource, UntagResource and ListTagsForResource on every taggable ECS resource, and the tag rules. */
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocols/index.js';
import { put } from '../store/index.js';
import { keys } from './keys.js';
import { mergeTags, readTags } from './tags.js';
import { ecsHarness, type Json } from './testing/ecs-harness.suite.js';

const ACCOUNT = '000000000000';
const base = `arn:aws:ecs:us-east-1:${ACCOUNT}`;

async function harness() {
  const { store, call, refused } = ecsHarness();
  const tagsOf = async (resourceArn: string) => (await call('ListTagsForResource', { resourceArn })).tags as Json[];

  // One resource of each kind, stored as their own modules store them.
  await call('CreateCluster', { clusterName: 'c', tags: [{ key: 'env', value: 'dev' }] });
  await put(store, keys.service('c', 'web'), JSON.stringify({ serviceName: 'web', status: 'ACTIVE', tags: [] }));
  await put(store, keys.service('c', 'old'), JSON.stringify({ serviceName: 'old', status: 'INACTIVE', tags: [{ key: 'k', value: 'v' }] }));
  await put(store, keys.task('c', 'run'), JSON.stringify({ lastStatus: 'RUNNING', tags: [{ key: 'aws:ecs:clusterName', value: 'c' }] }));
  await put(store, keys.task('c', 'done'), JSON.stringify({ lastStatus: 'STOPPED', tags: [] }));
  await put(store, keys.taskDefinition('app', 3), JSON.stringify({ family: 'app', revision: 3, status: 'ACTIVE' }));
  const { containerInstance } = await call('RegisterContainerInstance', { cluster: 'c' });
  const arns = {
    cluster: `${base}:cluster/c`,
    service: `${base}:service/c/web`,
    inactiveService: `${base}:service/c/old`,
    task: `${base}:task/c/run`,
    stoppedTask: `${base}:task/c/done`,
    taskDefinition: `${base}:task-definition/app:3`,
    containerInstance: containerInstance.containerInstanceArn as string,
  };
  return { store, call, refused, tagsOf, arns };
}

describe('tagging each kind of resource', () => {
  it.each(['cluster', 'service', 'task', 'taskDefinition', 'containerInstance'] as const)('%s: tag, replace, untag', async (kind) => {
    const { call, tagsOf, arns } = await harness();
    const resourceArn = arns[kind];
    const before = await tagsOf(resourceArn);
    expect(await call('TagResource', { resourceArn, tags: [{ key: 'team', value: 'a' }, { key: 'cost', value: '1' }] })).toEqual({});
    await call('TagResource', { resourceArn, tags: [{ key: 'team', value: 'b' }] });
    expect(await tagsOf(resourceArn)).toEqual([...before, { key: 'team', value: 'b' }, { key: 'cost', value: '1' }]);
    expect(await call('UntagResource', { resourceArn, tagKeys: ['team', 'not-there'] })).toEqual({});
    expect(await tagsOf(resourceArn)).toEqual([...before, { key: 'cost', value: '1' }]);
  });

  it('keeps tags inside each resource, so describing the resource shows them', async () => {
    const { call, arns } = await harness();
    await call('TagResource', { resourceArn: arns.cluster, tags: [{ key: 'x', value: 'y' }] });
    const [c] = (await call('DescribeClusters', { clusters: ['c'], include: ['TAGS'] })).clusters;
    expect(c.tags).toEqual([{ key: 'env', value: 'dev' }, { key: 'x', value: 'y' }]);
  });

  it('lists tags of an INACTIVE service and a stopped task, but does not change them', async () => {
    const { tagsOf, refused, arns } = await harness();
    expect(await tagsOf(arns.inactiveService)).toEqual([{ key: 'k', value: 'v' }]);
    expect(await tagsOf(arns.stoppedTask)).toEqual([]);
    await refused('TagResource', { resourceArn: arns.inactiveService, tags: [{ key: 'a', value: 'b' }] }, 'InvalidParameterException', 'The specified service is inactive. Specify an active service and try again.');
    await refused('UntagResource', { resourceArn: arns.inactiveService, tagKeys: ['k'] }, 'InvalidParameterException', 'The specified service is inactive. Specify an active service and try again.');
    await refused('TagResource', { resourceArn: arns.stoppedTask, tags: [{ key: 'a', value: 'b' }] }, 'InvalidParameterException', 'The specified task is stopped. Specify a running task and try again.');
  });

  it('refuses every operation on an INACTIVE cluster, as ECS does', async () => {
    const { call, refused, arns, store } = await harness();
    await call('DeregisterContainerInstance', { cluster: 'c', containerInstance: arns.containerInstance });
    await store.txn([], [{ type: 'deletePrefix', prefix: '/ecs/tasks/' }, { type: 'deletePrefix', prefix: '/ecs/services/' }]);
    await call('DeleteCluster', { cluster: 'c' });
    const inactive = 'The specified cluster is inactive. Specify an active cluster and try again.';
    await refused('ListTagsForResource', { resourceArn: arns.cluster }, 'InvalidParameterException', inactive);
    await refused('TagResource', { resourceArn: arns.cluster, tags: [{ key: 'a', value: 'b' }] }, 'InvalidParameterException', inactive);
    await refused('UntagResource', { resourceArn: arns.cluster, tagKeys: ['env'] }, 'InvalidParameterException', inactive);
  });
});

describe('limits and reserved tags', () => {
  it('allows 50 user tags beside managed aws: tags, and refuses the 51st', async () => {
    const { call, refused, tagsOf, arns } = await harness();
    const fifty = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    await call('TagResource', { resourceArn: arns.task, tags: fifty });
    expect(await tagsOf(arns.task)).toHaveLength(51);
    await refused(
      'TagResource',
      { resourceArn: arns.task, tags: [{ key: 'one-more', value: 'v' }] },
      'InvalidParameterException',
      'The maximum number of tags per resource is 50; this request would leave 51.',
    );
    await call('TagResource', { resourceArn: arns.task, tags: [{ key: 'k0', value: 'replaced' }] });
  });

  it('keeps managed aws: tags out of reach of TagResource and UntagResource', async () => {
    const { refused, arns } = await harness();
    await refused('UntagResource', { resourceArn: arns.task, tagKeys: ['aws:ecs:clusterName'] }, 'InvalidParameterException', "tagKeys[0] 'aws:ecs:clusterName' uses the aws: prefix; tags reserved for AWS use cannot be removed.");
    await refused('TagResource', { resourceArn: arns.task, tags: [{ key: 'Aws:x', value: '1' }] }, 'InvalidParameterException', "tags[0].key 'Aws:x' uses the aws: prefix, which is reserved for AWS use.");
  });
});

describe('refusals', () => {
  it.each<[string, (a: Record<string, string>) => Record<string, unknown>, ErrorCode, string | RegExp]>([
    ['no resourceArn', () => ({ tags: [] }), 'InvalidParameterException', 'resourceArn is required.'],
    ['no tags', (a) => ({ resourceArn: a.cluster! }), 'InvalidParameterException', 'tags is required.'],
    ['a resourceArn that is not an ECS ARN', () => ({ resourceArn: 'arn:aws:s3:::bucket', tags: [] }), 'InvalidParameterException', "resourceArn 'arn:aws:s3:::bucket' is not an Amazon ECS resource ARN."],
    ['a resourceArn of another region', () => ({ resourceArn: `arn:aws:ecs:eu-west-1:${ACCOUNT}:cluster/c`, tags: [] }), 'InvalidParameterException', /is not in this region \(us-east-1\) and account/],
    ['a resourceArn of another account', () => ({ resourceArn: 'arn:aws:ecs:us-east-1:111111111111:cluster/c', tags: [] }), 'InvalidParameterException', /is not in this region/],
    ['a short service ARN', () => ({ resourceArn: `${base}:service/web`, tags: [] }), 'InvalidParameterException', 'Long arn format must be used for tagging operations.'],
    ['a short task ARN', () => ({ resourceArn: `${base}:task/abc`, tags: [] }), 'InvalidParameterException', 'Long arn format must be used for tagging operations.'],
    ['a cluster ARN with a path', () => ({ resourceArn: `${base}:cluster/c/x`, tags: [] }), 'InvalidParameterException', /is not a valid cluster ARN/],
    ['a task definition ARN without revision', () => ({ resourceArn: `${base}:task-definition/app`, tags: [] }), 'InvalidParameterException', /is not a valid task definition ARN/],
    ['a missing cluster', () => ({ resourceArn: `${base}:cluster/nope`, tags: [] }), 'ClusterNotFoundException', 'Cluster not found.'],
    ['a service of a missing cluster', () => ({ resourceArn: `${base}:service/nope/web`, tags: [] }), 'ClusterNotFoundException', 'Cluster not found.'],
    ['a missing service', () => ({ resourceArn: `${base}:service/c/nope`, tags: [] }), 'InvalidParameterException', 'The specified service does not exist.'],
    ['a missing task', () => ({ resourceArn: `${base}:task/c/nope`, tags: [] }), 'InvalidParameterException', 'The specified task does not exist.'],
    ['a missing container instance', () => ({ resourceArn: `${base}:container-instance/c/nope`, tags: [] }), 'InvalidParameterException', 'The specified container instance does not exist.'],
    ['a missing task definition', () => ({ resourceArn: `${base}:task-definition/app:4`, tags: [] }), 'ClientException', 'Unable to describe task definition.'],
    ['a capacity provider', () => ({ resourceArn: `${base}:capacity-provider/FARGATE`, tags: [] }), 'ResourceNotFoundException', "The specified capacity provider 'FARGATE' does not exist."],
    ['a task set', () => ({ resourceArn: `${base}:task-set/c/web/ts-1`, tags: [] }), 'InvalidParameterException', /task-set resources cannot be tagged/],
    ['a tag without key', (a) => ({ resourceArn: a.cluster!, tags: [{ value: 'v' }] }), 'InvalidParameterException', 'tags[0].key is required and must not be empty.'],
    ['a 129-character key', (a) => ({ resourceArn: a.cluster!, tags: [{ key: 'k'.repeat(129) }] }), 'InvalidParameterException', 'tags[0].key must be at most 128 characters long.'],
    ['a 257-character value', (a) => ({ resourceArn: a.cluster!, tags: [{ key: 'k', value: 'v'.repeat(257) }] }), 'InvalidParameterException', 'tags[0].value must be at most 256 characters long.'],
    ['a key with a forbidden character', (a) => ({ resourceArn: a.cluster!, tags: [{ key: 'a*b', value: 'v' }] }), 'InvalidParameterException', /^tags\[0\].key 'a\*b' has characters tags cannot hold/],
    ['a value with a forbidden character', (a) => ({ resourceArn: a.cluster!, tags: [{ key: 'k', value: 'a;b' }] }), 'InvalidParameterException', /^tags\[0\].value has characters tags cannot hold/],
    ['a repeated key', (a) => ({ resourceArn: a.cluster!, tags: [{ key: 'k', value: '1' }, { key: 'k', value: '2' }] }), 'InvalidParameterException', "The tag key 'k' appears more than once in tags; each tag key must be unique."],
    ['tags that are not a list', (a) => ({ resourceArn: a.cluster!, tags: { key: 'k' } }), 'SerializationException', 'Invalid type for parameter tags: expected a list, got object.'],
  ])('TagResource refuses %s', async (_what, input, code, message) => {
    const { refused, arns } = await harness();
    await refused('TagResource', input(arns), code, message);
  });

  it.each<[string, (a: Record<string, string>) => Record<string, unknown>, ErrorCode, string | RegExp]>([
    ['no tagKeys', (a) => ({ resourceArn: a.cluster! }), 'InvalidParameterException', 'tagKeys is required.'],
    ['an empty key', (a) => ({ resourceArn: a.cluster!, tagKeys: [''] }), 'InvalidParameterException', 'tagKeys[0] must be a non-empty string.'],
    ['a key that is not a string', (a) => ({ resourceArn: a.cluster!, tagKeys: [3] }), 'InvalidParameterException', 'tagKeys[0] must be a non-empty string.'],
    ['a 129-character key', (a) => ({ resourceArn: a.cluster!, tagKeys: ['k'.repeat(129)] }), 'InvalidParameterException', 'tagKeys[0] must be at most 128 characters long.'],
    ['a missing service', () => ({ resourceArn: `${base}:service/c/nope`, tagKeys: ['k'] }), 'InvalidParameterException', 'The specified service does not exist.'],
  ])('UntagResource refuses %s', async (_what, input, code, message) => {
    const { refused, arns } = await harness();
    await refused('UntagResource', input(arns), code, message);
  });

  it('ListTagsForResource refuses missing resources', async () => {
    const { refused } = await harness();
    await refused('ListTagsForResource', {}, 'InvalidParameterException', 'resourceArn is required.');
    await refused('ListTagsForResource', { resourceArn: `${base}:cluster/nope` }, 'ClusterNotFoundException', 'Cluster not found.');
    await refused('ListTagsForResource', { resourceArn: `${base}:task/c/nope` }, 'InvalidParameterException', 'The specified task does not exist.');
  });
});

describe('tag helpers', () => {
  it('readTags returns [] for no tags and keeps a tag without value as such', () => {
    expect(readTags({})).toEqual([]);
    expect(readTags({ tags: [{ key: 'a' }, { key: 'b c', value: 'ü+=.:/@-_' }] })).toEqual([{ key: 'a' }, { key: 'b c', value: 'ü+=.:/@-_' }]);
  });

  it('mergeTags replaces values by key and keeps order', () => {
    expect(mergeTags([{ key: 'a', value: '1' }, { key: 'b', value: '2' }], [{ key: 'b', value: '3' }, { key: 'c' }])).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '3' },
      { key: 'c' },
    ]);
  });
});
