/** Target groups and their attributes, through the edge: ELBv2's defaults, bounds and errors. */
import { describe, expect, it } from 'vitest';
import { basicSetup, elbHarness } from './harness.suite.js';

const HTTP = { Protocol: 'HTTP', Port: 8080 };
const MISSING = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/nope/0123456789abcdef';

describe('CreateTargetGroup', () => {
  it('fills in ELBv2 health check defaults for an HTTP group of instances', async () => {
    const h = elbHarness();
    const tg = (await h.call('CreateTargetGroup', { Name: 'web', ...HTTP })).TargetGroups[0];
    expect(tg.TargetGroupArn).toMatch(/^arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup\/web\/[0-9a-f]{16}$/);
    expect(tg).toEqual({
      TargetGroupArn: tg.TargetGroupArn,
      TargetGroupName: 'web',
      Protocol: 'HTTP',
      Port: '8080',
      VpcId: 'vpc-berth-local',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: 'traffic-port',
      HealthCheckEnabled: 'true',
      HealthCheckIntervalSeconds: '30',
      HealthCheckTimeoutSeconds: '5',
      HealthyThresholdCount: '5',
      UnhealthyThresholdCount: '2',
      HealthCheckPath: '/',
      Matcher: { HttpCode: '200' },
      LoadBalancerArns: '',
      TargetType: 'instance',
      ProtocolVersion: 'HTTP1',
      IpAddressType: 'ipv4',
    });
  });

  it('takes health check settings within bounds, and every matcher form', async () => {
    const h = elbHarness();
    for (const [i, code] of ['200', '200,202,404', '200-299', '499'].entries()) {
      const tg = (
        await h.call('CreateTargetGroup', {
          Name: `tg-${i}`,
          ...HTTP,
          TargetType: 'ip',
          VpcId: 'vpc-1',
          HealthCheckPath: '/health',
          HealthCheckPort: '9000',
          HealthCheckIntervalSeconds: 5,
          HealthCheckTimeoutSeconds: 2,
          HealthyThresholdCount: 2,
          UnhealthyThresholdCount: 10,
          Matcher: { HttpCode: code },
        })
      ).TargetGroups[0];
      expect(tg).toMatchObject({ TargetType: 'ip', VpcId: 'vpc-1', HealthCheckPath: '/health', HealthCheckPort: '9000', HealthCheckIntervalSeconds: '5', HealthCheckTimeoutSeconds: '2', Matcher: { HttpCode: code } });
    }
  });

  it('returns the existing group for the same settings and refuses other settings under the name', async () => {
    const h = elbHarness();
    const a = (await h.call('CreateTargetGroup', { Name: 'web', ...HTTP })).TargetGroups[0];
    expect((await h.call('CreateTargetGroup', { Name: 'web', ...HTTP })).TargetGroups[0]).toEqual(a);
    await h.refused('CreateTargetGroup', { Name: 'web', Protocol: 'HTTP', Port: 9090 }, 'DuplicateTargetGroupName', "A target group with the same name 'web' exists, but with different settings");
  });

  it.each([
    [{ Name: 'x', Port: 80 }, 'ValidationError', "A protocol must be specified for a target group of target type 'instance'"],
    [{ Name: 'x', Protocol: 'HTTP' }, 'ValidationError', "A port must be specified for a target group of target type 'instance'"],
    [{ Name: 'x', Protocol: 'HTTPS', Port: 443 }, 'ValidationError', /protocol 'HTTPS' is not supported/],
    [{ Name: 'x', Protocol: 'SCTP', Port: 443 }, 'ValidationError', /Value 'SCTP' at 'Protocol'.*enum value set/],
    [{ Name: 'x', ...HTTP, TargetType: 'lambda' }, 'ValidationError', /Target type 'lambda' is not supported/],
    [{ Name: 'x', ...HTTP, TargetType: 'alb' }, 'ValidationError', /Target type 'alb' is not supported/],
    [{ Name: 'x', ...HTTP, ProtocolVersion: 'HTTP2' }, 'ValidationError', /Protocol version 'HTTP2' is not supported/],
    [{ Name: 'x', ...HTTP, IpAddressType: 'ipv6' }, 'ValidationError', /IP address type 'ipv6' is not supported/],
    [{ Name: 'x', Protocol: 'HTTP', Port: 0 }, 'ValidationError', /Value '0' at 'Port'.*greater than or equal to 1/],
    [{ Name: 'x', Protocol: 'HTTP', Port: 65536 }, 'ValidationError', /less than or equal to 65535/],
    [{ Name: 'x', ...HTTP, HealthCheckIntervalSeconds: 4 }, 'ValidationError', /at 'HealthCheckIntervalSeconds'.*greater than or equal to 5/],
    [{ Name: 'x', ...HTTP, HealthCheckIntervalSeconds: 301 }, 'ValidationError', /less than or equal to 300/],
    [{ Name: 'x', ...HTTP, HealthCheckTimeoutSeconds: 1 }, 'ValidationError', /at 'HealthCheckTimeoutSeconds'.*greater than or equal to 2/],
    [{ Name: 'x', ...HTTP, HealthCheckTimeoutSeconds: 121 }, 'ValidationError', /less than or equal to 120/],
    [{ Name: 'x', ...HTTP, HealthCheckTimeoutSeconds: 30 }, 'ValidationError', "Health check timeout '30' must be smaller than the interval '30'"],
    [{ Name: 'x', ...HTTP, HealthCheckIntervalSeconds: 10, HealthCheckTimeoutSeconds: 11 }, 'ValidationError', /timeout '11' must be smaller than the interval '10'/],
    [{ Name: 'x', ...HTTP, HealthyThresholdCount: 1 }, 'ValidationError', /at 'HealthyThresholdCount'.*greater than or equal to 2/],
    [{ Name: 'x', ...HTTP, UnhealthyThresholdCount: 11 }, 'ValidationError', /at 'UnhealthyThresholdCount'.*less than or equal to 10/],
    [{ Name: 'x', ...HTTP, Matcher: { HttpCode: '199' } }, 'ValidationError', "Health check matcher HTTP code '199' must be within '200-499' range"],
    [{ Name: 'x', ...HTTP, Matcher: { HttpCode: '500' } }, 'ValidationError', /'500' must be within '200-499' range/],
    [{ Name: 'x', ...HTTP, Matcher: { HttpCode: '200-500' } }, 'ValidationError', /'200-500' must be within '200-499' range/],
    [{ Name: 'x', ...HTTP, Matcher: { HttpCode: '299-200' } }, 'ValidationError', /from the lower code to the higher/],
    [{ Name: 'x', ...HTTP, Matcher: { HttpCode: '200,abc' } }, 'ValidationError', /must be a code/],
    [{ Name: 'x', ...HTTP, Matcher: { GrpcCode: '0' } }, 'ValidationError', /GrpcCode applies to gRPC/],
    [{ Name: 'x', ...HTTP, HealthCheckPath: 'health' }, 'ValidationError', /must begin with a '\/' character/],
    [{ Name: 'x', ...HTTP, HealthCheckPath: `/${'a'.repeat(1024)}` }, 'ValidationError', /at most 1024 characters/],
    [{ Name: 'x', ...HTTP, HealthCheckPort: '0' }, 'ValidationError', /must be 'traffic-port' or a port number/],
    [{ Name: 'x', ...HTTP, HealthCheckPort: 'any' }, 'ValidationError', /must be 'traffic-port' or a port number/],
    [{ Name: 'x', ...HTTP, HealthCheckProtocol: 'HTTPS' }, 'ValidationError', /Health check protocol 'HTTPS' is not supported/],
    [{ Name: 'x', ...HTTP, HealthCheckEnabled: 'maybe' }, 'ValidationError', /Member must be a boolean/],
    [{ Name: 'x-', ...HTTP }, 'ValidationError', "Target group name 'x-' cannot begin or end with '-' character"],
    [{ Name: 'x'.repeat(33), ...HTTP }, 'ValidationError', /cannot be longer than '32' characters/],
    [{ Name: 'x', ...HTTP, Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] }, 'ValidationError', /at most 256 characters/],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    await h.refused('CreateTargetGroup', input, code, message);
  });
});

describe('DescribeTargetGroups', () => {
  it('lists by names, ARNs and load balancer, with the load balancers that use each group', async () => {
    const h = elbHarness();
    const { lbArn, tgArn } = await basicSetup(h);
    const other = (await h.call('CreateTargetGroup', { Name: 'other', ...HTTP })).TargetGroups[0];
    const all = (await h.call('DescribeTargetGroups')).TargetGroups;
    expect(all).toHaveLength(2);
    expect((await h.call('DescribeTargetGroups', { Names: ['web-tg'] })).TargetGroups[0].LoadBalancerArns).toEqual([lbArn]);
    expect((await h.call('DescribeTargetGroups', { TargetGroupArns: [other.TargetGroupArn] })).TargetGroups[0].LoadBalancerArns).toBe('');
    expect((await h.call('DescribeTargetGroups', { LoadBalancerArn: lbArn })).TargetGroups.map((t: { TargetGroupArn: string }) => t.TargetGroupArn)).toEqual([tgArn]);
    const p1 = await h.call('DescribeTargetGroups', { PageSize: 1 });
    const p2 = await h.call('DescribeTargetGroups', { PageSize: 1, Marker: p1.NextMarker });
    expect([p1.TargetGroups[0].TargetGroupName, p2.TargetGroups[0].TargetGroupName].sort()).toEqual(['other', 'web-tg']);
    expect(p2.NextMarker).toBeUndefined();
  });

  it.each([
    [{ Names: ['nope'] }, 'TargetGroupNotFound', "Target groups '[nope]' not found"],
    [{ TargetGroupArns: [MISSING] }, 'TargetGroupNotFound', /not found/],
    [{ TargetGroupArns: ['bad'] }, 'ValidationError', "'bad' is not a valid target group ARN"],
    [{ LoadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef' }, 'LoadBalancerNotFound', /not found/],
    [{ Names: ['a'], TargetGroupArns: [MISSING] }, 'ValidationError', 'Specify at most one of LoadBalancerArn, TargetGroupArns and Names'],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    await h.refused('DescribeTargetGroups', input, code, message);
  });
});

describe('ModifyTargetGroup', () => {
  it('changes health check settings, checking the timeout against the stored interval', async () => {
    const h = elbHarness();
    const arn = (await h.call('CreateTargetGroup', { Name: 'web', ...HTTP })).TargetGroups[0].TargetGroupArn;
    const tg = (await h.call('ModifyTargetGroup', { TargetGroupArn: arn, HealthCheckPath: '/ready', HealthCheckIntervalSeconds: 10, Matcher: { HttpCode: '200-399' } })).TargetGroups[0];
    expect(tg).toMatchObject({ HealthCheckPath: '/ready', HealthCheckIntervalSeconds: '10', HealthCheckTimeoutSeconds: '5', Matcher: { HttpCode: '200-399' } });
    await h.refused('ModifyTargetGroup', { TargetGroupArn: arn, HealthCheckTimeoutSeconds: 10 }, 'ValidationError', "Health check timeout '10' must be smaller than the interval '10'");
    await h.refused('ModifyTargetGroup', { TargetGroupArn: arn, Port: 1 }, 'ValidationError', "Unknown parameter 'Port'.");
    await h.refused('ModifyTargetGroup', { TargetGroupArn: MISSING, HealthCheckPath: '/x' }, 'TargetGroupNotFound', `Target group '${MISSING}' not found`);
  });
});

describe('DeleteTargetGroup', () => {
  it('refuses while a listener forwards to the group, then deletes it with its targets', async () => {
    const h = elbHarness();
    const { tgArn, listenerArn } = await basicSetup(h);
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    await h.refused('DeleteTargetGroup', { TargetGroupArn: tgArn }, 'ResourceInUse', `Target group '${tgArn}' is currently in use by a listener or a rule`);
    await h.call('DeleteListener', { ListenerArn: listenerArn });
    await h.call('DeleteTargetGroup', { TargetGroupArn: tgArn });
    expect((await h.store.range('/elbv2/targets/')).count).toBe(0);
    await h.refused('DescribeTargetGroups', { TargetGroupArns: [tgArn] }, 'TargetGroupNotFound');
  });

  it('refuses while a rule forwards to the group', async () => {
    const h = elbHarness();
    const { listenerArn } = await basicSetup(h);
    const tg2 = (await h.call('CreateTargetGroup', { Name: 'two', ...HTTP })).TargetGroups[0].TargetGroupArn;
    await h.call('CreateRule', { ListenerArn: listenerArn, Priority: 5, Conditions: [{ Field: 'path-pattern', Values: ['/x'] }], Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tg2, Weight: 3 }] } }] });
    await h.refused('DeleteTargetGroup', { TargetGroupArn: tg2 }, 'ResourceInUse');
  });

  it('succeeds for a group that does not exist', async () => {
    const h = elbHarness();
    await h.call('DeleteTargetGroup', { TargetGroupArn: MISSING });
    await h.refused('DeleteTargetGroup', { TargetGroupArn: 'nope' }, 'ValidationError', "'nope' is not a valid target group ARN");
  });
});

describe('target group attributes', () => {
  it('describes ELBv2 defaults and modifies each supported key', async () => {
    const h = elbHarness();
    const arn = (await h.call('CreateTargetGroup', { Name: 'web', ...HTTP })).TargetGroups[0].TargetGroupArn;
    expect((await h.call('DescribeTargetGroupAttributes', { TargetGroupArn: arn })).Attributes).toEqual([
      { Key: 'deregistration_delay.timeout_seconds', Value: '300' },
      { Key: 'stickiness.enabled', Value: 'false' },
      { Key: 'stickiness.type', Value: 'lb_cookie' },
      { Key: 'stickiness.lb_cookie.duration_seconds', Value: '86400' },
      { Key: 'load_balancing.algorithm.type', Value: 'round_robin' },
      { Key: 'slow_start.duration_seconds', Value: '0' },
    ]);
    const changes = [
      { Key: 'deregistration_delay.timeout_seconds', Value: '0' },
      { Key: 'stickiness.enabled', Value: 'true' },
      { Key: 'stickiness.type', Value: 'lb_cookie' },
      { Key: 'stickiness.lb_cookie.duration_seconds', Value: '604800' },
      { Key: 'load_balancing.algorithm.type', Value: 'least_outstanding_requests' },
      { Key: 'slow_start.duration_seconds', Value: '30' },
    ];
    expect((await h.call('ModifyTargetGroupAttributes', { TargetGroupArn: arn, Attributes: changes })).Attributes).toEqual(changes);
    expect((await h.call('DescribeTargetGroupAttributes', { TargetGroupArn: arn })).Attributes).toEqual(changes);
  });

  it.each([
    ['deregistration_delay.timeout_seconds', '3601', /from 0 to 3600/],
    ['deregistration_delay.timeout_seconds', '-1', /from 0 to 3600/],
    ['stickiness.enabled', 'on', /must be 'true' or 'false'/],
    ['stickiness.type', 'app_cookie', /must be 'lb_cookie'/],
    ['stickiness.lb_cookie.duration_seconds', '0', /from 1 to 604800/],
    ['stickiness.lb_cookie.duration_seconds', '604801', /from 1 to 604800/],
    ['load_balancing.algorithm.type', 'weighted_random', /must be one of 'round_robin', 'least_outstanding_requests'/],
    ['slow_start.duration_seconds', '29', "Target group attribute 'slow_start.duration_seconds' value '29' must be 0 (off) or from 30 to 900"],
    ['slow_start.duration_seconds', '901', /from 0 to 900/],
    ['load_balancing.cross_zone.enabled', 'true', /Target group attribute key 'load_balancing.cross_zone.enabled' is not recognized/],
  ])('refuses %s = %s', async (Key, Value, message) => {
    const h = elbHarness();
    const arn = (await h.call('CreateTargetGroup', { Name: 'web', ...HTTP })).TargetGroups[0].TargetGroupArn;
    await h.refused('ModifyTargetGroupAttributes', { TargetGroupArn: arn, Attributes: [{ Key, Value }] }, 'ValidationError', message);
  });

  it('answers TargetGroupNotFound for an unknown group', async () => {
    const h = elbHarness();
    await h.refused('DescribeTargetGroupAttributes', { TargetGroupArn: MISSING }, 'TargetGroupNotFound');
    await h.refused('ModifyTargetGroupAttributes', { TargetGroupArn: MISSING, Attributes: [{ Key: 'stickiness.enabled', Value: 'true' }] }, 'TargetGroupNotFound');
  });
});
