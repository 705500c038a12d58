/** Listener rules through the edge: priorities, conditions in both forms, the default rule, ELBv2's limits. */
import { describe, expect, it } from 'vitest';
import { defaultRuleArn } from './arns.js';
import { basicSetup, elbHarness } from './harness.suite.js';
import type { ElbHarness } from './harness.suite.js';

async function setup(h: ElbHarness) {
  const base = await basicSetup(h);
  const forward = [{ Type: 'forward', TargetGroupArn: base.tgArn }];
  const rule = (Priority: number, Conditions: unknown[] = [{ Field: 'path-pattern', Values: [`/p${Priority}`] }]) =>
    h.call('CreateRule', { ListenerArn: base.listenerArn, Priority, Conditions, Actions: forward }).then((r) => r.Rules[0]);
  return { ...base, forward, rule };
}

describe('CreateRule', () => {
  it('normalises legacy Values to the *Config form and returns the rule', async () => {
    const h = elbHarness();
    const { listenerArn, tgArn, rule } = await setup(h);
    const r = await rule(10, [
      { Field: 'path-pattern', Values: ['/api/*'] },
      { Field: 'host-header', HostHeaderConfig: { Values: ['*.example.com'] } },
      { Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Env', Values: ['blue'] } },
      { Field: 'query-string', QueryStringConfig: { Values: [{ Key: 'v', Value: '2' }] } },
      { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['GET'] } },
    ]);
    expect(r.RuleArn).toMatch(new RegExp(`^${listenerArn.replace(':listener/', ':listener-rule/')}/[0-9a-f]{16}$`));
    expect(r).toEqual({
      RuleArn: r.RuleArn,
      Priority: '10',
      Conditions: [
        { Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } },
        { Field: 'host-header', HostHeaderConfig: { Values: ['*.example.com'] } },
        { Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Env', Values: ['blue'] } },
        { Field: 'query-string', QueryStringConfig: { Values: [{ Key: 'v', Value: '2' }] } },
        { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['GET'] } },
      ],
      Actions: [{ Type: 'forward', TargetGroupArn: tgArn, ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgArn, Weight: '1' }], TargetGroupStickinessConfig: { Enabled: 'false' } } }],
      IsDefault: 'false',
    });
    const ip = await rule(11, [{ Field: 'source-ip', SourceIpConfig: { Values: ['10.0.0.0/8', '2001:db8::/32'] } }]);
    expect(ip.Conditions).toEqual([{ Field: 'source-ip', SourceIpConfig: { Values: ['10.0.0.0/8', '2001:db8::/32'] } }]);
  });

  it('refuses a priority in use on the listener, but not on another listener', async () => {
    const h = elbHarness();
    const { lbArn, rule, forward } = await setup(h);
    await rule(5);
    const { listenerArn } = await basicSetup(h);
    await h.refused('CreateRule', { ListenerArn: listenerArn, Priority: 5, Conditions: [{ Field: 'path-pattern', Values: ['/x'] }], Actions: forward }, 'PriorityInUse', "Priority '5' is currently in use");
    const l2 = (await h.call('CreateListener', { LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8001, DefaultActions: forward })).Listeners[0].ListenerArn;
    await h.call('CreateRule', { ListenerArn: l2, Priority: 5, Conditions: [{ Field: 'path-pattern', Values: ['/x'] }], Actions: forward });
  });

  const c = (Field: string, rest: Record<string, unknown>) => ({ Field, ...rest });
  it.each([
    [{ Conditions: [] }, 'ValidationError', 'A rule must have at least one condition'],
    [{ Conditions: [{ Values: ['/a'] }] }, 'ValidationError', 'Conditions.member.1.Field is required'],
    [{ Conditions: [c('cookie', { Values: ['a'] })] }, 'ValidationError', /Condition field 'cookie' must be one of path-pattern/],
    [{ Conditions: [c('path-pattern', { Values: ['/a'], PathPatternConfig: { Values: ['/b'] } })] }, 'ValidationError', "A 'path-pattern' condition takes Values or PathPatternConfig, not both"],
    [{ Conditions: [c('path-pattern', { HostHeaderConfig: { Values: ['a'] } })] }, 'ValidationError', "A 'path-pattern' condition cannot have HostHeaderConfig"],
    [{ Conditions: [c('http-header', { Values: ['a'] })] }, 'ValidationError', /needs HttpHeaderConfig; Values is only for path-pattern and host-header/],
    [{ Conditions: [c('path-pattern', { Values: [] })] }, 'ValidationError', "A 'path-pattern' condition needs at least one value"],
    [{ Conditions: [c('path-pattern', { Values: ['/a'] }), c('path-pattern', { Values: ['/b'] })] }, 'ValidationError', "A rule can have only one 'path-pattern' condition"],
    [{ Conditions: [c('path-pattern', { Values: ['/a', '/b', '/c'] }), c('host-header', { Values: ['a', 'b', 'c'] })] }, 'ValidationError', "A rule can have at most '5' condition values in all; this one has 6"],
    [{ Conditions: [c('path-pattern', { Values: ['/a*b*c*d*e*f*'] })] }, 'ValidationError', "A rule can have at most '5' wildcards in its conditions; this one has 6"],
    [{ Conditions: [c('path-pattern', { Values: [`/${'a'.repeat(128)}`] })] }, 'ValidationError', /can be at most 128 characters long/],
    [{ Conditions: [c('path-pattern', { Values: ['/a b'] })] }, 'ValidationError', /Path pattern '\/a b' may contain only/],
    [{ Conditions: [c('host-header', { Values: ['a_b.example'] })] }, 'ValidationError', /Host header 'a_b.example' may contain only/],
    [{ Conditions: [c('host-header', { Values: [`${'h'.repeat(129)}`] })] }, 'ValidationError', /at most 128 characters/],
    [{ Conditions: [c('http-header', { HttpHeaderConfig: { Values: ['a'] } })] }, 'ValidationError', "An 'http-header' condition needs HttpHeaderConfig.HttpHeaderName"],
    [{ Conditions: [c('http-header', { HttpHeaderConfig: { HttpHeaderName: 'X Y', Values: ['a'] } })] }, 'ValidationError', /HTTP header name 'X Y'/],
    [{ Conditions: [c('http-header', { HttpHeaderConfig: { HttpHeaderName: 'X', Values: [] } })] }, 'ValidationError', /at least one value/],
    [{ Conditions: [c('http-header', { HttpHeaderConfig: { HttpHeaderName: 'X', Values: ['v'.repeat(129)] } })] }, 'ValidationError', /1 to 128 characters/],
    [{ Conditions: [c('query-string', { QueryStringConfig: { Values: [{ Key: 'a' }] } })] }, 'ValidationError', 'Conditions.member.1.QueryStringConfig.Values.member.1.Value is required'],
    [{ Conditions: [c('query-string', { QueryStringConfig: { Values: [] } })] }, 'ValidationError', /at least one key\/value pair/],
    [{ Conditions: [c('http-request-method', { HttpRequestMethodConfig: { Values: ['get'] } })] }, 'ValidationError', /HTTP request method 'get'/],
    [{ Conditions: [c('source-ip', { SourceIpConfig: { Values: ['10.0.0.1'] } })] }, 'ValidationError', /Source IP '10.0.0.1' must be a CIDR block/],
    [{ Conditions: [c('source-ip', { SourceIpConfig: { Values: ['10.0.0.0/33'] } })] }, 'ValidationError', /must be a CIDR block/],
    [{ Priority: 0 }, 'ValidationError', /at 'Priority'.*greater than or equal to 1/],
    [{ Priority: 50001 }, 'ValidationError', /less than or equal to 50000/],
    [{ Priority: undefined }, 'ValidationError', "1 validation error detected: Value null at 'Priority' failed to satisfy constraint: Member must not be null"],
    [{ Actions: [] }, 'ValidationError', "At least one action must be specified in 'Actions'"],
    [{ Tags: [{ Key: 'a' }, { Key: 'a' }] }, 'DuplicateTagKeys', /duplicated/],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    const { listenerArn, forward } = await setup(h);
    await h.refused('CreateRule', { ListenerArn: listenerArn, Priority: 1, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }], Actions: forward, ...input }, code, message);
  });

  it('gives a priority to exactly one of concurrent creates', async () => {
    const h = elbHarness();
    const { listenerArn, forward } = await setup(h);
    const results = await Promise.allSettled(
      ['/a', '/b', '/c', '/d'].map((p) => h.call('CreateRule', { ListenerArn: listenerArn, Priority: 7, Conditions: [{ Field: 'path-pattern', Values: [p] }], Actions: forward })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await h.store.range('/elbv2/rules/')).count).toBe(1);
  });

  it('allows 5 values and 5 wildcards', async () => {
    const h = elbHarness();
    const { rule } = await setup(h);
    await rule(1, [{ Field: 'path-pattern', Values: ['/a*', '/b*', '/c?'] }, { Field: 'host-header', Values: ['*.a', 'b.?'] }]);
  });

  it('refuses an unknown listener and a 101st rule on a load balancer', async () => {
    const h = elbHarness();
    const { rule, forward, lbArn } = await setup(h);
    const missing = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/0123456789abcdef/0123456789abcdef';
    await h.refused('CreateRule', { ListenerArn: missing, Priority: 1, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }], Actions: forward }, 'ListenerNotFound');
    for (let p = 1; p <= 60; p++) await rule(p);
    const l2 = (await h.call('CreateListener', { LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8001, DefaultActions: forward })).Listeners[0].ListenerArn;
    for (let p = 1; p <= 40; p++) await h.call('CreateRule', { ListenerArn: l2, Priority: p, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }], Actions: forward });
    await h.refused('CreateRule', { ListenerArn: l2, Priority: 41, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }], Actions: forward }, 'TooManyRules', /limit of 100 rules/);
  });
});

describe('DescribeRules', () => {
  it('lists a listener’s rules by priority, then its default rule built from DefaultActions', async () => {
    const h = elbHarness();
    const { listenerArn, listener, rule } = await setup(h);
    await rule(20);
    await rule(3);
    const rules = (await h.call('DescribeRules', { ListenerArn: listenerArn })).Rules;
    expect(rules.map((r: any) => [r.Priority, r.IsDefault])).toEqual([
      ['3', 'false'],
      ['20', 'false'],
      ['default', 'true'],
    ]);
    expect(rules[2]).toEqual({ RuleArn: defaultRuleArn(listenerArn), Priority: 'default', Conditions: '', Actions: listener.DefaultActions, IsDefault: 'true' });
    const byArn = (await h.call('DescribeRules', { RuleArns: [rules[2].RuleArn, rules[0].RuleArn] })).Rules;
    expect(byArn.map((r: any) => r.Priority)).toEqual(['default', '3']);
    const p1 = await h.call('DescribeRules', { ListenerArn: listenerArn, PageSize: 2 });
    expect(p1.Rules).toHaveLength(2);
    expect((await h.call('DescribeRules', { ListenerArn: listenerArn, PageSize: 2, Marker: p1.NextMarker })).Rules[0].Priority).toBe('default');
  });

  it.each([
    [{}, 'ValidationError', 'You must specify either listener ARN or rule ARNs'],
    [{ RuleArns: ['arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/0123456789abcdef/0123456789abcdef/0123456789abcdef'] }, 'RuleNotFound', /Rule '.*' not found/],
    [{ RuleArns: ['x'] }, 'ValidationError', "'x' is not a valid rule ARN"],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    await h.refused('DescribeRules', input, code, message);
  });
});

describe('ModifyRule, DeleteRule, SetRulePriorities', () => {
  it('modifies conditions and actions, leaving what is not given', async () => {
    const h = elbHarness();
    const { rule } = await setup(h);
    const r = await rule(1);
    const m = (await h.call('ModifyRule', { RuleArn: r.RuleArn, Conditions: [{ Field: 'host-header', Values: ['b.example'] }] })).Rules[0];
    expect(m).toMatchObject({ Priority: '1', Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['b.example'] } }], Actions: r.Actions });
    const m2 = (await h.call('ModifyRule', { RuleArn: r.RuleArn, Actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }] })).Rules[0];
    expect(m2.Actions).toEqual([{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }]);
    expect(m2.Conditions).toEqual(m.Conditions);
    await h.refused('ModifyRule', { RuleArn: r.RuleArn, Conditions: [] }, 'ValidationError', /at least one condition/);
  });

  it('refuses the default rule and unknown rules', async () => {
    const h = elbHarness();
    const { listenerArn } = await setup(h);
    const def = defaultRuleArn(listenerArn);
    await h.refused('ModifyRule', { RuleArn: def, Actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }] }, 'OperationNotPermitted', /default rule cannot be modified with ModifyRule: change the listener's DefaultActions with ModifyListener/);
    await h.refused('DeleteRule', { RuleArn: def }, 'OperationNotPermitted', /default rule cannot be deleted/);
    await h.refused('SetRulePriorities', { RulePriorities: [{ RuleArn: def, Priority: 4 }] }, 'OperationNotPermitted');
    const missing = `${listenerArn.replace(':listener/', ':listener-rule/')}/0123456789abcdef`;
    await h.refused('ModifyRule', { RuleArn: missing, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }] }, 'RuleNotFound', `Rule '${missing}' not found`);
    await h.refused('DeleteRule', { RuleArn: missing }, 'RuleNotFound');
    await h.refused('SetRulePriorities', { RulePriorities: [{ RuleArn: missing, Priority: 4 }] }, 'RuleNotFound');
  });

  it('deletes a rule', async () => {
    const h = elbHarness();
    const { rule, listenerArn } = await setup(h);
    const r = await rule(1);
    await h.call('DeleteRule', { RuleArn: r.RuleArn });
    expect((await h.call('DescribeRules', { ListenerArn: listenerArn })).Rules.map((x: any) => x.Priority)).toEqual(['default']);
  });

  it('swaps priorities in one call and refuses a clash', async () => {
    const h = elbHarness();
    const { rule } = await setup(h);
    const a = await rule(1);
    const b = await rule(2);
    const c = await rule(3);
    const swapped = (await h.call('SetRulePriorities', { RulePriorities: [{ RuleArn: a.RuleArn, Priority: 2 }, { RuleArn: b.RuleArn, Priority: 1 }] })).Rules;
    expect(swapped.map((r: any) => [r.RuleArn, r.Priority])).toEqual([
      [a.RuleArn, '2'],
      [b.RuleArn, '1'],
    ]);
    await h.refused('SetRulePriorities', { RulePriorities: [{ RuleArn: c.RuleArn, Priority: 1 }] }, 'PriorityInUse', "Priority '1' is currently in use");
    await h.refused('SetRulePriorities', { RulePriorities: [{ RuleArn: c.RuleArn, Priority: 9 }, { RuleArn: c.RuleArn, Priority: 8 }] }, 'ValidationError', /only once/);
    await h.refused('SetRulePriorities', { RulePriorities: [] }, 'ValidationError', /at least one rule/);
    await h.refused('SetRulePriorities', { RulePriorities: [{ Priority: 1 }] }, 'ValidationError', 'RulePriorities.member.1.RuleArn is required');
  });
});
