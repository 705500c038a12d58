/** Listeners and their default actions, through the edge: one listener per port across load balancers. */
import { describe, expect, it } from 'vitest';
import { basicSetup, elbHarness } from './harness.suite.js';
import type { ElbHarness } from './harness.suite.js';

const MISSING_LISTENER = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/0123456789abcdef/0123456789abcdef';

async function setup(h: ElbHarness) {
  const base = await basicSetup(h);
  const tg2 = (await h.call('CreateTargetGroup', { Name: 'tg2', Protocol: 'HTTP', Port: 8081, TargetType: 'ip' })).TargetGroups[0].TargetGroupArn as string;
  return { ...base, tg2 };
}

describe('CreateListener', () => {
  it('creates an HTTP listener whose forward is normalised into ForwardConfig', async () => {
    const h = elbHarness();
    const { lbArn, tgArn, listener } = await basicSetup(h);
    expect(listener.ListenerArn).toMatch(/^arn:aws:elasticloadbalancing:us-east-1:000000000000:listener\/app\/web\/[0-9a-f]{16}\/[0-9a-f]{16}$/);
    expect(listener.ListenerArn.startsWith(lbArn.replace(':loadbalancer/', ':listener/'))).toBe(true);
    expect(listener).toEqual({
      ListenerArn: listener.ListenerArn,
      LoadBalancerArn: lbArn,
      Port: '8000',
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn, ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgArn, Weight: '1' }], TargetGroupStickinessConfig: { Enabled: 'false' } } }],
    });
    expect((await h.call('DescribeTargetGroups', { TargetGroupArns: [tgArn] })).TargetGroups[0].LoadBalancerArns).toEqual([lbArn]);
  });

  it('takes weighted forwards with stickiness, fixed responses and redirects with their defaults', async () => {
    const h = elbHarness();
    const { lbArn, tgArn, tg2 } = await setup(h);
    const weighted = (
      await h.call('CreateListener', {
        LoadBalancerArn: lbArn,
        Protocol: 'HTTP',
        Port: 8001,
        DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgArn, Weight: 999 }, { TargetGroupArn: tg2, Weight: 0 }], TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 60 } } }],
      })
    ).Listeners[0];
    expect(weighted.DefaultActions[0]).toEqual({
      Type: 'forward',
      ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgArn, Weight: '999' }, { TargetGroupArn: tg2, Weight: '0' }], TargetGroupStickinessConfig: { Enabled: 'true', DurationSeconds: '60' } },
    });
    const fixed = (await h.call('CreateListener', { LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8002, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain', MessageBody: 'none' } }] })).Listeners[0];
    expect(fixed.DefaultActions).toEqual([{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain', MessageBody: 'none' } }]);
    const redirect = (await h.call('CreateListener', { LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8003, DefaultActions: [{ Type: 'redirect', RedirectConfig: { Port: '8000', StatusCode: 'HTTP_301' } }] })).Listeners[0];
    expect(redirect.DefaultActions).toEqual([{ Type: 'redirect', RedirectConfig: { Protocol: '#{protocol}', Port: '8000', Host: '#{host}', Path: '/#{path}', Query: '#{query}', StatusCode: 'HTTP_301' } }]);
  });

  it('returns the existing listener for the same settings', async () => {
    const h = elbHarness();
    const { lbArn, tgArn, listener } = await basicSetup(h);
    const again = (await h.call('CreateListener', { LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8000, DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn }] })).Listeners[0];
    expect(again).toEqual(listener);
  });

  it('refuses a port any load balancer listens on already: they share this host', async () => {
    const h = elbHarness();
    const { lbArn, listenerArn } = await basicSetup(h);
    const fixed = [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' } }];
    await h.refused('CreateListener', { LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8000, DefaultActions: fixed }, 'DuplicateListener', `A listener already exists on port 8000 (listener '${listenerArn}'): Berth's load balancers share this host's address, so a port serves one listener`);
    const other = (await h.call('CreateLoadBalancer', { Name: 'other' })).LoadBalancers[0].LoadBalancerArn;
    await h.refused('CreateListener', { LoadBalancerArn: other, Protocol: 'HTTP', Port: 8000, DefaultActions: fixed }, 'DuplicateListener');
  });

  it('refuses a target group another load balancer uses', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    const other = (await h.call('CreateLoadBalancer', { Name: 'other' })).LoadBalancers[0].LoadBalancerArn;
    await h.refused('CreateListener', { LoadBalancerArn: other, Protocol: 'HTTP', Port: 9000, DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn }] }, 'TargetGroupAssociationLimit', /cannot be associated with more than one load balancer/);
  });

  const TG = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web-tg/0123456789abcdef';
  it.each([
    [{ Protocol: 'HTTPS', Port: 443 }, 'UnsupportedProtocol', "Listener protocol 'HTTPS' is not supported: Berth's listeners speak HTTP"],
    [{ Protocol: 'TCP', Port: 9 }, 'UnsupportedProtocol', /'TCP' is not supported/],
    [{ Port: 9 }, 'ValidationError', 'A listener protocol must be specified'],
    [{ Protocol: 'HTTP' }, 'ValidationError', 'A listener port must be specified'],
    [{ Protocol: 'HTTP', Port: 65536 }, 'ValidationError', /at 'Port'.*less than or equal to 65535/],
    [{ Protocol: 'HTTP', Port: 0 }, 'ValidationError', /greater than or equal to 1/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [] }, 'ValidationError', "At least one action must be specified in 'DefaultActions'"],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'authenticate-oidc' }] }, 'ValidationError', /Action type 'authenticate-oidc' is not supported/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'drop' }] }, 'ValidationError', /Value 'drop' at 'DefaultActions.member.1.Type'/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' } }, { Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' } }] }, 'TooManyActions', /only one action/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward' }] }, 'ValidationError', "A forward action in 'DefaultActions' needs a TargetGroupArn or ForwardConfig.TargetGroups"],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', TargetGroupArn: TG }] }, 'TargetGroupNotFound', `Target group '${TG}' not found`],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', TargetGroupArn: 'x' }] }, 'ValidationError', "'x' is not a valid target group ARN"],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG, Weight: 1000 }] } }] }, 'ValidationError', "Target group weight '1000' must be from 0 to 999"],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG, Weight: -1 }] } }] }, 'ValidationError', /from 0 to 999/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG }, { TargetGroupArn: TG }] } }] }, 'ValidationError', /same target group twice/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ Weight: 1 }] } }] }, 'ValidationError', 'ForwardConfig.TargetGroups.member.1.TargetGroupArn is required'],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: Array.from({ length: 6 }, (_, i) => ({ TargetGroupArn: TG.replace('web-tg', `t${i}`) })) } }] }, 'ValidationError', /at most 5 target groups/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', TargetGroupArn: TG, ForwardConfig: { TargetGroups: [{ TargetGroupArn: TG.replace('web-tg', 'b') }] } }] }, 'InvalidLoadBalancerAction', /must name the same single target group/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', TargetGroupArn: TG, ForwardConfig: { TargetGroupStickinessConfig: { Enabled: true } } }] }, 'ValidationError', 'Target group stickiness needs DurationSeconds when enabled'],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', TargetGroupArn: TG, ForwardConfig: { TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 604801 } } }] }, 'ValidationError', /from 1 to 604800 seconds/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'forward', TargetGroupArn: TG, RedirectConfig: { StatusCode: 'HTTP_301' } }] }, 'ValidationError', "An action of type 'forward' in 'DefaultActions' cannot have RedirectConfig"],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'fixed-response', TargetGroupArn: TG, FixedResponseConfig: { StatusCode: '200' } }] }, 'ValidationError', /cannot have TargetGroupArn/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'fixed-response' }] }, 'ValidationError', /needs a FixedResponseConfig/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '302' } }] }, 'ValidationError', "Fixed response status code '302' must be a 2XX, 4XX or 5XX code"],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200', ContentType: 'image/png' } }] }, 'ValidationError', /content type 'image\/png' must be one of/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200', MessageBody: 'x'.repeat(1025) } }] }, 'ValidationError', /at most 1024 characters/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { ContentType: 'text/plain' } }] }, 'ValidationError', /Value null at 'DefaultActions.member.1.FixedResponseConfig.StatusCode'/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'redirect' }] }, 'ValidationError', /needs a RedirectConfig/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'redirect', RedirectConfig: { StatusCode: 'HTTP_301' } }] }, 'InvalidLoadBalancerAction', /creates a loop/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'redirect', RedirectConfig: { StatusCode: 'HTTP_307', Port: '1' } }] }, 'ValidationError', /Value 'HTTP_307'/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'redirect', RedirectConfig: { StatusCode: 'HTTP_301', Protocol: 'FTP' } }] }, 'ValidationError', /Redirect protocol 'FTP'/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'redirect', RedirectConfig: { StatusCode: 'HTTP_301', Port: '70000' } }] }, 'ValidationError', /Redirect port '70000'/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'redirect', RedirectConfig: { StatusCode: 'HTTP_301', Path: 'x' } }] }, 'ValidationError', /Redirect path 'x' must start with '\/'/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'redirect', RedirectConfig: { StatusCode: 'HTTP_301', Query: '?a=1' } }] }, 'ValidationError', /not start with '\?'/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'redirect', RedirectConfig: { StatusCode: 'HTTP_301', Host: 'h'.repeat(129) } }] }, 'ValidationError', /Redirect host must be 1 to 128/],
    [{ Protocol: 'HTTP', Port: 9, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' }, Order: 0 }] }, 'ValidationError', /at 'DefaultActions.member.1.Order'/],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    const { lbArn } = await basicSetup(h);
    await h.refused('CreateListener', { LoadBalancerArn: lbArn, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' } }], ...input }, code, message);
  });

  it('refuses an unknown load balancer, and a 51st listener', async () => {
    const h = elbHarness();
    const lb = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef';
    const fixed = [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' } }];
    await h.refused('CreateListener', { LoadBalancerArn: lb, Protocol: 'HTTP', Port: 80, DefaultActions: fixed }, 'LoadBalancerNotFound', `Load balancer '${lb}' not found`);
    const arn = (await h.call('CreateLoadBalancer', { Name: 'many' })).LoadBalancers[0].LoadBalancerArn;
    for (let i = 0; i < 50; i++) await h.call('CreateListener', { LoadBalancerArn: arn, Protocol: 'HTTP', Port: 10000 + i, DefaultActions: fixed });
    await h.refused('CreateListener', { LoadBalancerArn: arn, Protocol: 'HTTP', Port: 20000, DefaultActions: fixed }, 'TooManyListeners', /limit of 50 listeners/);
  });

  it('gives a port to exactly one of concurrent creates', async () => {
    const h = elbHarness();
    const fixed = (code: string) => [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: code } }];
    const lbs = await Promise.all(['a', 'b', 'c'].map(async (n) => (await h.call('CreateLoadBalancer', { Name: n })).LoadBalancers[0].LoadBalancerArn as string));
    const results = await Promise.allSettled(lbs.map((lb, i) => h.call('CreateListener', { LoadBalancerArn: lb, Protocol: 'HTTP', Port: 7000, DefaultActions: fixed(String(200 + i)) })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await h.store.range('/elbv2/listeners/')).count).toBe(1);
  });
});

describe('DescribeListeners', () => {
  it('lists by load balancer or ARNs, paged', async () => {
    const h = elbHarness();
    const { lbArn, listenerArn } = await basicSetup(h);
    const second = (await h.call('CreateListener', { LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8001, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '204' } }] })).Listeners[0].ListenerArn;
    expect((await h.call('DescribeListeners', { LoadBalancerArn: lbArn })).Listeners).toHaveLength(2);
    expect((await h.call('DescribeListeners', { ListenerArns: [second] })).Listeners.map((l: any) => l.Port)).toEqual(['8001']);
    const p1 = await h.call('DescribeListeners', { LoadBalancerArn: lbArn, PageSize: 1 });
    const p2 = await h.call('DescribeListeners', { LoadBalancerArn: lbArn, PageSize: 1, Marker: p1.NextMarker });
    expect([p1.Listeners[0].ListenerArn, p2.Listeners[0].ListenerArn].sort()).toEqual([listenerArn, second].sort());
  });

  it.each([
    [{}, 'ValidationError', 'You must specify either listener ARNs or a load balancer ARN'],
    [{ ListenerArns: [MISSING_LISTENER] }, 'ListenerNotFound', `Listener '${MISSING_LISTENER}' not found`],
    [{ ListenerArns: ['bad'] }, 'ValidationError', "'bad' is not a valid listener ARN"],
    [{ LoadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef' }, 'LoadBalancerNotFound', /not found/],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    await h.refused('DescribeListeners', input, code, message);
  });
});

describe('ModifyListener', () => {
  it('changes port and default actions, keeping the port rule', async () => {
    const h = elbHarness();
    const { lbArn, listenerArn, tg2 } = await setup(h);
    const l = (await h.call('ModifyListener', { ListenerArn: listenerArn, Port: 8100, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg2 }] })).Listeners[0];
    expect(l).toMatchObject({ Port: '8100', DefaultActions: [{ Type: 'forward', TargetGroupArn: tg2 }] });
    const other = (await h.call('CreateListener', { LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8000, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' } }] })).Listeners[0].ListenerArn;
    await h.refused('ModifyListener', { ListenerArn: other, Port: 8100 }, 'DuplicateListener');
    await h.call('ModifyListener', { ListenerArn: other, Port: 8000 });
    await h.refused('ModifyListener', { ListenerArn: other, Protocol: 'HTTPS' }, 'UnsupportedProtocol');
    await h.refused('ModifyListener', { ListenerArn: other, DefaultActions: [] }, 'ValidationError', /At least one action/);
    await h.refused('ModifyListener', { ListenerArn: MISSING_LISTENER, Port: 1 }, 'ListenerNotFound');
    await h.refused('ModifyListener', { ListenerArn: other, SslPolicy: 'x' }, 'ValidationError', "Parameter 'SslPolicy' is not supported: this server does not serve that feature.");
    await h.refused('ModifyListener', { ListenerArn: other, DefaultActions: [{ Type: 'authenticate-oidc', AuthenticateOidcConfig: { Issuer: 'x' } }] }, 'ValidationError', "Parameter 'DefaultActions.member.1.AuthenticateOidcConfig' is not supported: this server does not serve that feature.");
  });
});

describe('DeleteListener', () => {
  it('deletes the listener and its rules, and refuses an unknown one', async () => {
    const h = elbHarness();
    const { listenerArn, tgArn } = await basicSetup(h);
    await h.call('CreateRule', { ListenerArn: listenerArn, Priority: 1, Conditions: [{ Field: 'host-header', Values: ['a.example'] }], Actions: [{ Type: 'forward', TargetGroupArn: tgArn }] });
    await h.call('DeleteListener', { ListenerArn: listenerArn });
    expect((await h.store.range('/elbv2/')).kvs.map((kv) => kv.key.split('/')[2])).toEqual(['loadbalancers', 'targetgroups']);
    await h.refused('DeleteListener', { ListenerArn: listenerArn }, 'ListenerNotFound');
  });
});
