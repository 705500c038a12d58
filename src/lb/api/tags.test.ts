/** AddTags, RemoveTags, DescribeTags across kinds, DescribeAccountLimits, and actions Berth does not serve. */
import { describe, expect, it } from 'vitest';
import { defaultRuleArn } from './arns.js';
import { basicSetup, elbHarness } from './harness.suite.js';

describe('tags', () => {
  it('adds, overwrites, describes and removes tags on every kind of resource in one call', async () => {
    const h = elbHarness();
    const { lbArn, tgArn, listenerArn } = await basicSetup(h);
    const ruleArn = (await h.call('CreateRule', { ListenerArn: listenerArn, Priority: 1, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }], Actions: [{ Type: 'forward', TargetGroupArn: tgArn }], Tags: [{ Key: 'made', Value: 'with-rule' }] })).Rules[0].RuleArn;
    const all = [lbArn, tgArn, listenerArn, ruleArn];
    await h.call('AddTags', { ResourceArns: all, Tags: [{ Key: 'team', Value: 'core' }, { Key: 'empty' }] });
    await h.call('AddTags', { ResourceArns: [lbArn], Tags: [{ Key: 'team', Value: 'edge' }] });
    const described = (await h.call('DescribeTags', { ResourceArns: all })).TagDescriptions;
    expect(described).toEqual([
      { ResourceArn: lbArn, Tags: [{ Key: 'team', Value: 'edge' }, { Key: 'empty' }] },
      { ResourceArn: tgArn, Tags: [{ Key: 'team', Value: 'core' }, { Key: 'empty' }] },
      { ResourceArn: listenerArn, Tags: [{ Key: 'team', Value: 'core' }, { Key: 'empty' }] },
      { ResourceArn: ruleArn, Tags: [{ Key: 'made', Value: 'with-rule' }, { Key: 'team', Value: 'core' }, { Key: 'empty' }] },
    ]);
    await h.call('RemoveTags', { ResourceArns: all, TagKeys: ['team', 'not-there'] });
    expect((await h.call('DescribeTags', { ResourceArns: [tgArn] })).TagDescriptions).toEqual([{ ResourceArn: tgArn, Tags: [{ Key: 'empty' }] }]);
    expect((await h.call('DescribeTags', { ResourceArns: [defaultRuleArn(listenerArn)] })).TagDescriptions).toEqual([{ ResourceArn: defaultRuleArn(listenerArn), Tags: '' }]);
  });

  it('refuses bad requests and changes none of the resources', async () => {
    const h = elbHarness();
    const { lbArn, tgArn, listenerArn } = await basicSetup(h);
    const missingTg = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/nope/0123456789abcdef';
    await h.refused('AddTags', { ResourceArns: [lbArn, missingTg], Tags: [{ Key: 'a' }] }, 'TargetGroupNotFound', `Target group '${missingTg}' not found`);
    await h.refused('AddTags', { ResourceArns: [lbArn], Tags: [{ Key: 'a' }, { Key: 'a', Value: 'b' }] }, 'DuplicateTagKeys', "Tag key 'a' is duplicated");
    await h.refused('AddTags', { ResourceArns: [lbArn], Tags: [{ Key: '' }] }, 'ValidationError', /1 to 128 characters/);
    await h.refused('AddTags', { ResourceArns: [lbArn], Tags: [{ Key: 'a#b' }] }, 'ValidationError', /may contain only/);
    await h.refused('AddTags', { ResourceArns: [lbArn], Tags: [] }, 'ValidationError', 'Tags must contain at least one tag');
    await h.refused('AddTags', { ResourceArns: [], Tags: [{ Key: 'a' }] }, 'ValidationError', 'ResourceArns must contain at least one ARN');
    await h.refused('AddTags', { ResourceArns: ['arn:aws:ecs:us-east-1:000000000000:cluster/default'], Tags: [{ Key: 'a' }] }, 'ValidationError', /is not a valid load balancer, target group, listener or rule ARN/);
    await h.refused('AddTags', { ResourceArns: [lbArn.replace('us-east-1', 'eu-west-1')], Tags: [{ Key: 'a' }] }, 'ValidationError', /not a valid/);
    await h.refused('AddTags', { ResourceArns: [defaultRuleArn(listenerArn)], Tags: [{ Key: 'a' }] }, 'OperationNotPermitted', /default rule/);
    await h.call('AddTags', { ResourceArns: [tgArn], Tags: Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}` })) });
    await h.refused('AddTags', { ResourceArns: [tgArn], Tags: [{ Key: 'one-more' }] }, 'TooManyTags', `The tag limit of 50 for resource '${tgArn}' would be exceeded (51 tags)`);
    await h.refused('RemoveTags', { ResourceArns: [lbArn], TagKeys: [] }, 'ValidationError', /at least one key/);
    await h.refused('RemoveTags', { ResourceArns: [missingTg], TagKeys: ['a'] }, 'TargetGroupNotFound');
    await h.refused('DescribeTags', { ResourceArns: [listenerArn.replace(/[0-9a-f]{16}$/, '0123456789abcdef')] }, 'ListenerNotFound');
    await h.refused('DescribeTags', { ResourceArns: Array.from({ length: 21 }, () => lbArn) }, 'ValidationError', /at most 20 members/);
  });
});

describe('DescribeAccountLimits', () => {
  it('reports the limits Berth enforces, paged', async () => {
    const h = elbHarness();
    const { Limits } = await h.call('DescribeAccountLimits');
    expect(Limits).toContainEqual({ Name: 'application-load-balancers', Max: '50' });
    expect(Limits).toContainEqual({ Name: 'condition-values-per-alb-rule', Max: '5' });
    const p1 = await h.call('DescribeAccountLimits', { PageSize: 3 });
    expect(p1.Limits).toHaveLength(3);
    const p2 = await h.call('DescribeAccountLimits', { PageSize: 400, Marker: p1.NextMarker });
    expect([...p1.Limits, ...p2.Limits]).toEqual(Limits);
  });
});

describe('actions Berth does not serve', () => {
  it.each(['CreateTrustStore', 'DescribeSSLPolicies', 'SetSecurityGroups', 'DescribeListenerCertificates'])('refuses %s with InvalidAction', async (action) => {
    const h = elbHarness();
    const res = await h.raw(action);
    expect(res.status).toBe(400);
    expect(res.body).toContain('<Code>InvalidAction</Code>');
    expect(res.body).toContain(`The action ${action} is not valid for this web service`);
  });
});
