/** PutAttributes, DeleteAttributes and ListAttributes against a real (in-memory) SqliteStore. */
import { describe, expect, it } from 'vitest';
import { BerthError, type ErrorCode } from '../protocols/index.js';
import { checkAttributeName, checkAttributeValue, customAttributeCount, isBuiltInAttribute, putAttributes } from './attributes.js';
import type { ContainerInstance } from './container-instances.js';
import { keys } from './keys.js';
import { readJson } from './repo.js';
import { ecsHarness, type Json } from './testing/ecs-harness.suite.js';

const ACCOUNT = '000000000000';
const CI_ARN = (cluster: string, id: string) => `arn:aws:ecs:us-east-1:${ACCOUNT}:container-instance/${cluster}/${id}`;

/** A cluster 'default', and instances registered into it with the given attributes. */
async function harness() {
  const { store, call, refused } = ecsHarness();
  const register = async (attributes: Array<Record<string, unknown>> = []) => {
    const { containerInstance } = await call('RegisterContainerInstance', { attributes });
    const arn = containerInstance.containerInstanceArn as string;
    return { arn, id: arn.slice(arn.lastIndexOf('/') + 1) };
  };
  const stored = async (id: string) => (await readJson<ContainerInstance>(store, keys.containerInstance('default', id)))!.value;
  await call('CreateCluster');
  return { store, call, refused, register, stored };
}

describe('PutAttributes', () => {
  it('adds and replaces attributes by ARN or by id with targetType, bumping version, and echoes the request', async () => {
    const { call, register, stored } = await harness();
    const ci = await register([{ name: 'ecs.os-type', value: 'linux' }, { name: 'stack', value: 'dev' }]);
    const attributes = [
      { name: 'stack', value: 'production', targetId: ci.arn },
      { name: 'gpu', targetId: ci.id, targetType: 'container-instance' },
    ];
    expect(await call('PutAttributes', { attributes })).toEqual({ attributes });
    const after = await stored(ci.id);
    expect(after.attributes).toEqual([{ name: 'ecs.os-type', value: 'linux' }, { name: 'stack', value: 'production' }, { name: 'gpu' }]);
    expect(after.version).toBe(2);
  });

  it('changes several instances in one request, all or nothing', async () => {
    const { call, register, stored, refused } = await harness();
    const a = await register();
    const b = await register(Array.from({ length: 10 }, (_, i) => ({ name: `c${i}` })));
    await call('PutAttributes', { attributes: [{ name: 'x', value: '1', targetId: a.arn }, { name: 'c0', value: 'new', targetId: b.arn }] });
    expect((await stored(a.id)).attributes).toEqual([{ name: 'x', value: '1' }]);
    expect((await stored(b.id)).attributes[0]).toEqual({ name: 'c0', value: 'new' });
    // b is at its limit: the whole request is refused, a included.
    await refused(
      'PutAttributes',
      { attributes: [{ name: 'y', targetId: a.arn }, { name: 'eleventh', targetId: b.arn }] },
      'AttributeLimitExceededException',
      `Container instance ${b.arn} would have 11 custom attributes; you can apply up to 10 custom attributes for each resource.`,
    );
  });

  it("does not count the agent's ecs.* attributes against the limit", async () => {
    const { call, register, stored } = await harness();
    const ci = await register(Array.from({ length: 20 }, (_, i) => ({ name: `ecs.capability.c${i}` })));
    await call('PutAttributes', { attributes: Array.from({ length: 10 }, (_, i) => ({ name: `custom${i}`, targetId: ci.arn })) });
    expect((await stored(ci.id)).attributes).toHaveLength(30);
  });

  it.each<[string, Array<Record<string, unknown>> | undefined, ErrorCode, string | RegExp]>([
    ['no attributes', undefined, 'InvalidParameterException', 'attributes is required and must not be empty.'],
    ['an empty list', [], 'InvalidParameterException', 'attributes is required and must not be empty.'],
    ['11 attributes', Array.from({ length: 11 }, (_, i) => ({ name: `a${i}`, targetId: 'x', targetType: 'container-instance' })), 'InvalidParameterException', 'attributes can have at most 10 attributes per call; got 11.'],
    ['an attribute without a name', [{ value: 'v', targetId: 'x' }], 'InvalidParameterException', 'attributes[0].name is required.'],
    ['a name with a space', [{ name: 'a b', targetId: 'x' }], 'InvalidParameterException', /^attributes\[0\].name 'a b' is not a valid attribute name/],
    ['a 129-character name', [{ name: 'n'.repeat(129), targetId: 'x' }], 'InvalidParameterException', /is not a valid attribute name/],
    ['a value with a leading space', [{ name: 'a', value: ' v', targetId: 'x' }], 'InvalidParameterException', /^attributes\[0\].value ' v' is not a valid attribute value/],
    ['a value with a trailing space', [{ name: 'a', value: 'v ', targetId: 'x' }], 'InvalidParameterException', /is not a valid attribute value/],
    ['a value with a comma', [{ name: 'a', value: 'a,b', targetId: 'x' }], 'InvalidParameterException', /is not a valid attribute value/],
    ['an empty value', [{ name: 'a', value: '', targetId: 'x' }], 'InvalidParameterException', /is not a valid attribute value/],
    ['no targetId', [{ name: 'a' }], 'InvalidParameterException', 'attributes[0].targetId is required.'],
    ['a short targetId without targetType', [{ name: 'a', targetId: 'abc' }], 'InvalidParameterException', 'attributes[0].targetType is required when attributes[0].targetId is a short ID rather than an ARN.'],
    ['an unknown targetType', [{ name: 'a', targetId: 'abc', targetType: 'task' }], 'InvalidParameterException', "attributes[0].targetType must be one of container-instance; got 'task'."],
    ['a task ARN as target', [{ name: 'a', targetId: `arn:aws:ecs:us-east-1:${ACCOUNT}:task/default/abc` }], 'InvalidParameterException', /is not a container-instance ARN/],
    ['a target in another cluster', [{ name: 'a', targetId: CI_ARN('other', 'abc') }], 'InvalidParameterException', /does not belong to cluster default/],
    ['an unknown target', [{ name: 'a', targetId: CI_ARN('default', 'abc') }], 'TargetNotFoundException', `Could not find the target container instance '${CI_ARN('default', 'abc')}' in cluster 'default'.`],
  ])('refuses %s', async (_what, attributes, code, message) => {
    const { refused, register } = await harness();
    await register();
    await refused('PutAttributes', attributes === undefined ? {} : { attributes }, code, message);
  });

  it('refuses a missing cluster', async () => {
    const { refused } = await harness();
    await refused('PutAttributes', { cluster: 'nope', attributes: [{ name: 'a', targetId: 'x', targetType: 'container-instance' }] }, 'ClusterNotFoundException', 'Cluster not found.');
  });
});

describe('DeleteAttributes', () => {
  it('removes attributes by name, ignoring the value and ones the instance does not have', async () => {
    const { call, register, stored } = await harness();
    const ci = await register([{ name: 'stack', value: 'prod' }, { name: 'keep', value: 'me' }]);
    const attributes = [{ name: 'stack', value: 'anything', targetId: ci.arn }, { name: 'absent', targetId: ci.id, targetType: 'container-instance' }];
    expect(await call('DeleteAttributes', { attributes })).toEqual({ attributes });
    expect(await stored(ci.id)).toMatchObject({ attributes: [{ name: 'keep', value: 'me' }], version: 2 });
    await call('DeleteAttributes', { attributes: [{ name: 'absent', targetId: ci.arn }] });
    expect((await stored(ci.id)).version).toBe(2);
  });

  it('refuses an unknown target and bad requests, changing nothing', async () => {
    const { refused, register } = await harness();
    const ci = await register([{ name: 'stack', value: 'prod' }]);
    await refused('DeleteAttributes', { attributes: [{ name: 'stack', targetId: ci.arn }, { name: 'x', targetId: CI_ARN('default', 'gone') }] }, 'TargetNotFoundException');
    await refused('DeleteAttributes', { attributes: [{ name: 'stack', targetId: 'short' }] }, 'InvalidParameterException');
    await refused('DeleteAttributes', {}, 'InvalidParameterException', 'attributes is required and must not be empty.');
  });
});

describe('ListAttributes', () => {
  async function fleet() {
    const h = await harness();
    const a = await h.register([{ name: 'ecs.os-type', value: 'linux' }, { name: 'stack', value: 'prod' }, { name: 'ecs.capability.x' }]);
    const b = await h.register([{ name: 'stack', value: 'dev' }]);
    const c = await h.register([{ name: 'stack', value: 'prod' }, { name: 'zone', value: 'a' }]);
    return { ...h, a, b, c };
  }

  it('lists every attribute of every instance, with its target', async () => {
    const { call, a, b, c } = await fleet();
    const { attributes } = await call('ListAttributes', { targetType: 'container-instance' });
    expect(attributes).toHaveLength(6);
    expect(attributes).toContainEqual({ name: 'ecs.capability.x', targetType: 'container-instance', targetId: a.arn });
    expect(attributes).toContainEqual({ name: 'stack', value: 'dev', targetType: 'container-instance', targetId: b.arn });
    expect(attributes).toContainEqual({ name: 'zone', value: 'a', targetType: 'container-instance', targetId: c.arn });
  });

  it('filters by name, and by name and value', async () => {
    const { call, a, c } = await fleet();
    expect((await call('ListAttributes', { targetType: 'container-instance', attributeName: 'stack' })).attributes).toHaveLength(3);
    const prod = (await call('ListAttributes', { targetType: 'container-instance', attributeName: 'stack', attributeValue: 'prod' })).attributes;
    expect(prod.map((x: Json) => x.targetId).sort()).toEqual([a.arn, c.arn].sort());
    expect((await call('ListAttributes', { targetType: 'container-instance', attributeName: 'none' })).attributes).toEqual([]);
  });

  it('pages one attribute at a time through every attribute exactly once', async () => {
    const { call } = await fleet();
    const all = (await call('ListAttributes', { targetType: 'container-instance' })).attributes;
    const seen: Json[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call('ListAttributes', { targetType: 'container-instance', maxResults: 1, ...(nextToken ? { nextToken } : {}) });
      expect(page.attributes.length).toBeLessThanOrEqual(1);
      seen.push(...page.attributes);
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    expect(seen).toEqual(all);
    const two = await call('ListAttributes', { targetType: 'container-instance', maxResults: 4 });
    const rest = await call('ListAttributes', { targetType: 'container-instance', maxResults: 4, nextToken: two.nextToken });
    expect([...two.attributes, ...rest.attributes]).toEqual(all);
    expect(rest.nextToken).toBeUndefined();
  });

  it.each<[Record<string, unknown>, ErrorCode, string]>([
    [{}, 'InvalidParameterException', 'targetType is required.'],
    [{ targetType: 'task' }, 'InvalidParameterException', "targetType must be one of container-instance; got 'task'."],
    [{ targetType: 'container-instance', attributeValue: 'prod' }, 'InvalidParameterException', 'attributeValue can only be used together with attributeName.'],
    [{ targetType: 'container-instance', maxResults: 101 }, 'InvalidParameterException', 'maxResults must be at most 100.'],
    [{ targetType: 'container-instance', nextToken: 'bad' }, 'InvalidParameterException', 'The nextToken is not valid.'],
    [{ targetType: 'container-instance', nextToken: Buffer.from('/no-newline').toString('base64url') }, 'InvalidParameterException', 'The nextToken is not valid.'],
    [{ targetType: 'container-instance', cluster: 'nope' }, 'ClusterNotFoundException', 'Cluster not found.'],
  ])('refuses %j', async (input, code, message) => {
    const { refused } = await fleet();
    await refused('ListAttributes', input, code, message);
  });
});

describe('attribute rules', () => {
  it('accepts what ECS allows in names and values', () => {
    expect(() => checkAttributeName('com.amazonaws.ecs.capability.docker-remote-api.1.44', 'n')).not.toThrow();
    expect(() => checkAttributeName('a/b\\c_d-e.f', 'n')).not.toThrow();
    expect(() => checkAttributeName('a:b', 'n')).toThrow(BerthError);
    expect(() => checkAttributeValue('user@host: /a\\b c.d_e-f', 'v')).not.toThrow();
    expect(() => checkAttributeValue('v'.repeat(129), 'v')).toThrow(BerthError);
  });

  it('tells built-in attributes from custom ones', () => {
    expect(isBuiltInAttribute('ecs.os-type')).toBe(true);
    expect(isBuiltInAttribute('com.amazonaws.ecs.capability.privileged-container')).toBe(true);
    expect(isBuiltInAttribute('ecsx')).toBe(false);
    expect(customAttributeCount([{ name: 'ecs.a' }, { name: 'b' }, { name: 'c' }])).toBe(2);
  });

  it('puts by name: new names appended, existing ones replaced, a missing value cleared', () => {
    expect(putAttributes([{ name: 'a', value: '1' }, { name: 'b', value: '2' }], [{ name: 'b' }, { name: 'c', value: '3', targetId: 'x' }])).toEqual([
      { name: 'a', value: '1' },
      { name: 'b' },
      { name: 'c', value: '3' },
    ]);
  });
});
