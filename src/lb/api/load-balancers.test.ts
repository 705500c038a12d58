/** CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer and load balancer attributes, through the edge. */
import { describe, expect, it } from 'vitest';
import { basicSetup, elbHarness } from './harness.suite.js';

const ARN = /^arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer\/app\/web\/[0-9a-f]{16}$/;

describe('CreateLoadBalancer', () => {
  it('creates an active application load balancer with ELBv2 defaults and an honest local DNS name', async () => {
    const h = elbHarness();
    const { LoadBalancers } = await h.call('CreateLoadBalancer', { Name: 'web', Tags: [{ Key: 'team', Value: 'core' }] });
    expect(LoadBalancers).toHaveLength(1);
    const lb = LoadBalancers[0];
    expect(lb.LoadBalancerArn).toMatch(ARN);
    expect(lb).toMatchObject({
      LoadBalancerName: 'web',
      Scheme: 'internet-facing',
      Type: 'application',
      State: { Code: 'active' },
      IpAddressType: 'ipv4',
      VpcId: 'vpc-berth-local',
      CanonicalHostedZoneId: 'ZBERTHLOCAL',
      CreatedTime: '2026-03-01T12:00:00.000Z',
      AvailabilityZones: [{ ZoneName: 'us-east-1a', SubnetId: 'subnet-berth-local' }],
      SecurityGroups: '',
    });
    expect(lb.DNSName).toMatch(/^web-\d{10}\.us-east-1\.elb\.localhost$/);
  });

  it('keeps the subnets, security groups and scheme it is given', async () => {
    const h = elbHarness();
    const lb = (await h.call('CreateLoadBalancer', { Name: 'in', Scheme: 'internal', Subnets: ['subnet-1', 'subnet-2'], SecurityGroups: ['sg-1'] })).LoadBalancers[0];
    expect(lb.AvailabilityZones).toEqual([{ ZoneName: 'us-east-1a', SubnetId: 'subnet-1' }, { ZoneName: 'us-east-1b', SubnetId: 'subnet-2' }]);
    expect(lb.SecurityGroups).toEqual(['sg-1']);
    expect(lb.DNSName).toMatch(/^internal-in-\d+\./);
  });

  it('returns the existing load balancer when asked again with the same settings', async () => {
    const h = elbHarness();
    const a = (await h.call('CreateLoadBalancer', { Name: 'web' })).LoadBalancers[0];
    const b = (await h.call('CreateLoadBalancer', { Name: 'web' })).LoadBalancers[0];
    expect(b).toEqual(a);
  });

  it('refuses another load balancer of the same name with other settings', async () => {
    const h = elbHarness();
    await h.call('CreateLoadBalancer', { Name: 'web' });
    await h.refused('CreateLoadBalancer', { Name: 'web', Scheme: 'internal' }, 'DuplicateLoadBalancerName', "A load balancer with the name 'web' already exists");
  });

  it.each([
    [{ Name: 'net', Type: 'network' }, 'ValidationError', /Load balancer type 'network' is not supported: Berth serves application load balancers/],
    [{ Name: 'gw', Type: 'gateway' }, 'ValidationError', /type 'gateway' is not supported/],
    [{ Name: 'a'.repeat(33) }, 'ValidationError', /cannot be longer than '32' characters/],
    [{ Name: '-web' }, 'ValidationError', /cannot begin or end with '-' character/],
    [{ Name: 'web_1' }, 'ValidationError', /alphanumeric characters or hyphens/],
    [{ Name: 'internal-web' }, 'ValidationError', /cannot begin with 'internal-'/],
    [{ Name: '' }, 'ValidationError', /name cannot be empty/],
    [{ Name: 'web', IpAddressType: 'dualstack' }, 'ValidationError', /IP address type 'dualstack' is not supported/],
    [{ Name: 'web', Scheme: 'public' }, 'ValidationError', /Value 'public' at 'Scheme' failed to satisfy constraint: Member must satisfy enum value set/],
    [{ Name: 'web', Tags: [{ Key: 'a' }, { Key: 'a' }] }, 'DuplicateTagKeys', "Tag key 'a' is duplicated"],
    [{ Name: 'web', Tags: [{ Key: 'aws:x' }] }, 'ValidationError', /reserved/],
    [{ Name: 'web', Tags: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}` })) }, 'TooManyTags', /at most 50 tags/],
    [{ Name: 'web', SubnetMappings: [{ SubnetId: 'x' }] }, 'ValidationError', "Parameter 'SubnetMappings' is not supported: this server does not serve that feature."],
    [{ Name: 'web', Certificates: [{ CertificateArn: 'x' }] }, 'ValidationError', "Unknown parameter 'Certificates'."],
    [{}, 'ValidationError', "1 validation error detected: Value null at 'Name' failed to satisfy constraint: Member must not be null"],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    await h.refused('CreateLoadBalancer', input, code, message);
  });

  it('refuses a 51st load balancer', async () => {
    const h = elbHarness();
    for (let i = 0; i < 50; i++) await h.call('CreateLoadBalancer', { Name: `lb-${i}` });
    await h.refused('CreateLoadBalancer', { Name: 'lb-50' }, 'TooManyLoadBalancers', /limit of 50 load balancers/);
  });

  it('creates exactly one load balancer of a name under concurrent calls', async () => {
    const h = elbHarness();
    const results = await Promise.allSettled(['internet-facing', 'internal', 'internet-facing', 'internal'].map((Scheme) => h.call('CreateLoadBalancer', { Name: 'race', Scheme })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(new Set(ok.map((r) => (r as PromiseFulfilledResult<{ LoadBalancers: { LoadBalancerArn: string }[] }>).value.LoadBalancers[0]!.LoadBalancerArn)).size).toBe(1);
    expect((await h.call('DescribeLoadBalancers')).LoadBalancers).toHaveLength(1);
  });
});

describe('DescribeLoadBalancers', () => {
  it('lists all, by name or by ARN, and pages with Marker and PageSize', async () => {
    const h = elbHarness();
    const arns: string[] = [];
    for (const name of ['a', 'b', 'c']) arns.push((await h.call('CreateLoadBalancer', { Name: name })).LoadBalancers[0].LoadBalancerArn);
    expect((await h.call('DescribeLoadBalancers')).LoadBalancers.map((lb: { LoadBalancerName: string }) => lb.LoadBalancerName).sort()).toEqual(['a', 'b', 'c']);
    expect((await h.call('DescribeLoadBalancers', { Names: ['b'] })).LoadBalancers.map((lb: { LoadBalancerArn: string }) => lb.LoadBalancerArn)).toEqual([arns[1]]);
    expect((await h.call('DescribeLoadBalancers', { LoadBalancerArns: [arns[2]] })).LoadBalancers[0].LoadBalancerName).toBe('c');
    const first = await h.call('DescribeLoadBalancers', { PageSize: 2 });
    expect(first.LoadBalancers).toHaveLength(2);
    expect(first.NextMarker).toBeTypeOf('string');
    const second = await h.call('DescribeLoadBalancers', { PageSize: 2, Marker: first.NextMarker });
    expect(second.LoadBalancers).toHaveLength(1);
    expect(second.NextMarker).toBeUndefined();
    const names = [...first.LoadBalancers, ...second.LoadBalancers].map((lb: { LoadBalancerName: string }) => lb.LoadBalancerName).sort();
    expect(names).toEqual(['a', 'b', 'c']);
  });

  it('answers an empty list when there are none', async () => {
    const h = elbHarness();
    expect(await h.call('DescribeLoadBalancers')).toEqual({ LoadBalancers: '' });
  });

  it.each([
    [{ Names: ['nope'] }, 'LoadBalancerNotFound', "Load balancers '[nope]' not found"],
    [{ LoadBalancerArns: ['arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef'] }, 'LoadBalancerNotFound', /not found/],
    [{ LoadBalancerArns: ['not-an-arn'] }, 'ValidationError', "'not-an-arn' is not a valid load balancer ARN"],
    [{ Names: ['a'], LoadBalancerArns: ['arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef'] }, 'ValidationError', /cannot be specified at the same time/],
    [{ Marker: 'bogus' }, 'ValidationError', /Marker 'bogus' is not valid/],
    [{ PageSize: 0 }, 'ValidationError', /Member must have value greater than or equal to 1/],
    [{ PageSize: 401 }, 'ValidationError', /less than or equal to 400/],
    [{ PageSize: 'x' }, 'ValidationError', /Member must be an integer/],
    [{ Names: Array.from({ length: 21 }, (_, i) => `n${i}`) }, 'ValidationError', /at most 20 members/],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    await h.call('CreateLoadBalancer', { Name: 'a' });
    await h.refused('DescribeLoadBalancers', input, code, message);
  });
});

describe('DeleteLoadBalancer', () => {
  it('deletes the load balancer with its listeners and rules, keeping its target groups', async () => {
    const h = elbHarness();
    const { lbArn, tgArn, listenerArn } = await basicSetup(h);
    await h.call('CreateRule', { ListenerArn: listenerArn, Priority: 1, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }], Actions: [{ Type: 'forward', TargetGroupArn: tgArn }] });
    await h.call('DeleteLoadBalancer', { LoadBalancerArn: lbArn });
    await h.refused('DescribeLoadBalancers', { LoadBalancerArns: [lbArn] }, 'LoadBalancerNotFound');
    await h.refused('DescribeListeners', { ListenerArns: [listenerArn] }, 'ListenerNotFound');
    expect((await h.store.range('/elbv2/rules/')).count).toBe(0);
    expect((await h.call('DescribeTargetGroups', { TargetGroupArns: [tgArn] })).TargetGroups[0].LoadBalancerArns).toBe('');
    // The port is free again.
    const lb2 = (await h.call('CreateLoadBalancer', { Name: 'web2' })).LoadBalancers[0];
    await h.call('CreateListener', { LoadBalancerArn: lb2.LoadBalancerArn, Protocol: 'HTTP', Port: 8000, DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn }] });
  });

  it('succeeds for a load balancer that does not exist, changing nothing', async () => {
    const h = elbHarness();
    const before = await h.snapshot();
    await h.call('DeleteLoadBalancer', { LoadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef' });
    expect(await h.snapshot()).toEqual(before);
  });

  it('refuses while deletion protection is on, and deletes once it is off', async () => {
    const h = elbHarness();
    const arn = (await h.call('CreateLoadBalancer', { Name: 'web' })).LoadBalancers[0].LoadBalancerArn;
    await h.call('ModifyLoadBalancerAttributes', { LoadBalancerArn: arn, Attributes: [{ Key: 'deletion_protection.enabled', Value: 'true' }] });
    await h.refused('DeleteLoadBalancer', { LoadBalancerArn: arn }, 'OperationNotPermitted', /deletion protection is enabled/);
    await h.call('ModifyLoadBalancerAttributes', { LoadBalancerArn: arn, Attributes: [{ Key: 'deletion_protection.enabled', Value: 'false' }] });
    await h.call('DeleteLoadBalancer', { LoadBalancerArn: arn });
  });

  it('refuses a malformed ARN', async () => {
    const h = elbHarness();
    await h.refused('DeleteLoadBalancer', { LoadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/x/0123456789abcdef' }, 'ValidationError', /is not a valid load balancer ARN/);
  });
});

describe('load balancer attributes', () => {
  it('describes the defaults and modifies known keys', async () => {
    const h = elbHarness();
    const arn = (await h.call('CreateLoadBalancer', { Name: 'web' })).LoadBalancers[0].LoadBalancerArn;
    const attrs = (await h.call('DescribeLoadBalancerAttributes', { LoadBalancerArn: arn })).Attributes;
    expect(attrs).toContainEqual({ Key: 'idle_timeout.timeout_seconds', Value: '60' });
    expect(attrs).toContainEqual({ Key: 'deletion_protection.enabled', Value: 'false' });
    const modified = (await h.call('ModifyLoadBalancerAttributes', { LoadBalancerArn: arn, Attributes: [{ Key: 'idle_timeout.timeout_seconds', Value: '120' }] })).Attributes;
    expect(modified).toContainEqual({ Key: 'idle_timeout.timeout_seconds', Value: '120' });
    expect((await h.call('DescribeLoadBalancerAttributes', { LoadBalancerArn: arn })).Attributes).toEqual(modified);
  });

  it.each([
    [[{ Key: 'idle_timeout.timeout_seconds', Value: '0' }], 'ValidationError', "Load balancer attribute 'idle_timeout.timeout_seconds' value '0' must be an integer from 1 to 4000"],
    [[{ Key: 'idle_timeout.timeout_seconds', Value: '4001' }], 'ValidationError', /from 1 to 4000/],
    [[{ Key: 'deletion_protection.enabled', Value: 'yes' }], 'ValidationError', /must be 'true' or 'false'/],
    [[{ Key: 'routing.http.xff_header_processing.mode', Value: 'drop' }], 'ValidationError', /must be one of 'append', 'preserve', 'remove'/],
    [[{ Key: 'no.such.key', Value: '1' }], 'ValidationError', /Load balancer attribute key 'no.such.key' is not recognized/],
    [[{ Key: 'access_logs.s3.enabled', Value: 'true' }], 'InvalidConfigurationRequest', /Access logs need 'access_logs.s3.bucket'/],
    [[{ Key: 'routing.http2.enabled', Value: 'true' }, { Key: 'routing.http2.enabled', Value: 'false' }], 'ValidationError', /given more than once/],
    [[], 'ValidationError', /at least one attribute/],
  ])('refuses %j', async (attributes, code, message) => {
    const h = elbHarness();
    const arn = (await h.call('CreateLoadBalancer', { Name: 'web' })).LoadBalancers[0].LoadBalancerArn;
    await h.refused('ModifyLoadBalancerAttributes', { LoadBalancerArn: arn, Attributes: attributes }, code, message);
  });

  it('answers LoadBalancerNotFound for an unknown load balancer', async () => {
    const h = elbHarness();
    const arn = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef';
    await h.refused('DescribeLoadBalancerAttributes', { LoadBalancerArn: arn }, 'LoadBalancerNotFound', `Load balancer '${arn}' not found`);
    await h.refused('ModifyLoadBalancerAttributes', { LoadBalancerArn: arn, Attributes: [{ Key: 'idle_timeout.timeout_seconds', Value: '5' }] }, 'LoadBalancerNotFound');
  });
});
