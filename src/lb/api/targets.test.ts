/**
 * RegisterTargets, DeregisterTargets (draining and the sweep that ends it) and DescribeTargetHealth
 * merging registrations with the data plane's health records, through the edge; and the same
 * functions as the ECS service controller calls them.
 */
import { describe, expect, it } from 'vitest';
import { lbKeys } from '../model.js';
import type { TargetHealthRecord, TargetRecord } from '../model.js';
import { basicSetup, elbHarness } from './harness.suite.js';
import type { ElbHarness } from './harness.suite.js';
import { deregisterTargets, describeTargetHealth, expiredTargets, registerTargets, sweepDrainedTargets } from './targets.js';
import { resourceId } from './arns.js';

const INSTANCES = { 'i-0aaa': { address: '127.0.0.11', availabilityZone: 'us-east-1a' }, 'i-0bbb': { address: '127.0.0.12' } };

/** Writes a health record as the data plane does. */
async function observe(h: ElbHarness, tgArn: string, id: string, port: number, health: TargetHealthRecord) {
  await h.store.txn([], [{ type: 'put', key: lbKeys.health(resourceId(tgArn, 'targetgroup'), id, port), value: JSON.stringify(health) }]);
}

async function stored(h: ElbHarness): Promise<TargetRecord[]> {
  return (await h.store.range(lbKeys.targets())).kvs.map((kv) => JSON.parse(kv.value) as TargetRecord);
}

const health = async (h: ElbHarness, tgArn: string, targets?: unknown[]) =>
  (await h.call('DescribeTargetHealth', { TargetGroupArn: tgArn, ...(targets !== undefined && { Targets: targets }) })).TargetHealthDescriptions;

describe('RegisterTargets', () => {
  it('registers ip targets with the group port by default, and keeps a registered target as it is', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }, { Id: '10.0.0.2', Port: 9000 }, { Id: '10.0.0.1' }] });
    const records = await stored(h);
    expect(records.map((r) => [r.Id, r.Port, r.Address, r.State])).toEqual([
      ['10.0.0.1', 8080, '10.0.0.1', 'registered'],
      ['10.0.0.2', 9000, '10.0.0.2', 'registered'],
    ]);
    expect(records[0]!.RegisteredAt).toBe(Date.parse('2026-03-01T12:00:00Z'));
    const before = await h.snapshot();
    h.clock = new Date('2026-03-01T12:01:00Z');
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    expect(await h.snapshot()).toEqual(before);
  });

  it('resolves instance targets through resolveInstance', async () => {
    const h = elbHarness({ instances: INSTANCES });
    const { tgArn } = await basicSetup(h, 'instance');
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: 'i-0aaa', Port: 32768 }, { Id: 'i-0bbb', Port: 32769 }] });
    expect((await stored(h)).map((r) => [r.Id, r.Port, r.Address, r.AvailabilityZone])).toEqual([
      ['i-0aaa', 32768, '127.0.0.11', 'us-east-1a'],
      ['i-0bbb', 32769, '127.0.0.12', undefined],
    ]);
  });

  it('refuses targets that are not what the group takes, registering none of the request', async () => {
    const h = elbHarness({ instances: INSTANCES });
    const { tgArn } = await basicSetup(h);
    await h.refused('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }, { Id: 'i-0aaa' }] }, 'InvalidTarget', "The following targets are not valid IPv4 addresses for a target group of target type 'ip': 'i-0aaa'");
    await h.refused('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '::1' }] }, 'InvalidTarget', /not valid IPv4 addresses/);
    await h.refused('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.256' }] }, 'InvalidTarget', /not valid IPv4 addresses/);
    const inst = (await h.call('CreateTargetGroup', { Name: 'inst', Protocol: 'HTTP', Port: 80 })).TargetGroups[0].TargetGroupArn;
    await h.refused('RegisterTargets', { TargetGroupArn: inst, Targets: [{ Id: 'i-0aaa' }, { Id: 'i-0zzz' }] }, 'InvalidTarget', "The following targets are not known instances: 'i-0zzz'");
  });

  it.each([
    [{ Targets: [] }, 'ValidationError', 'Targets must contain at least one target'],
    [{ Targets: [{ Id: '10.0.0.1', Port: 0 }] }, 'ValidationError', /at 'Targets.member.1.Port'.*greater than or equal to 1/],
    [{ Targets: [{ Port: 80 }] }, 'ValidationError', "1 validation error detected: Value null at 'Targets.member.1.Id' failed to satisfy constraint: Member must not be null"],
    [{ Targets: [{ Id: '' }] }, 'ValidationError', 'Targets.member.1.Id cannot be empty'],
  ])('refuses %j', async (input, code, message) => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.refused('RegisterTargets', { TargetGroupArn: tgArn, ...input }, code, message);
  });

  it('answers TargetGroupNotFound for an unknown group', async () => {
    const h = elbHarness();
    const arn = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/nope/0123456789abcdef';
    await h.refused('RegisterTargets', { TargetGroupArn: arn, Targets: [{ Id: '10.0.0.1' }] }, 'TargetGroupNotFound', `Target group '${arn}' not found`);
    await h.refused('DeregisterTargets', { TargetGroupArn: arn, Targets: [{ Id: '10.0.0.1' }] }, 'TargetGroupNotFound');
    await h.refused('DescribeTargetHealth', { TargetGroupArn: arn }, 'TargetGroupNotFound');
  });

  it('refuses more than 1000 targets in a group', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    const targets = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ Id: '10.0.0.1', Port: from + i }));
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: targets(1000, 1000) });
    await h.refused('RegisterTargets', { TargetGroupArn: tgArn, Targets: targets(3000, 1) }, 'TooManyTargets', /at most 1000 targets; registering these would make 1001/);
  });

  it('registers every target of concurrent calls', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await Promise.all(Array.from({ length: 8 }, (_, i) => h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: `10.0.1.${i}` }] })));
    expect((await stored(h)).length).toBe(8);
  });
});

describe('DeregisterTargets and draining', () => {
  it('moves a target to draining for the deregistration delay, then the sweep removes it with its health', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.call('ModifyTargetGroupAttributes', { TargetGroupArn: tgArn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }] });
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }, { Id: '10.0.0.2' }] });
    await observe(h, tgArn, '10.0.0.1', 8080, { State: 'healthy', UpdatedAt: 1 });
    await h.call('DeregisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    const [draining] = await stored(h);
    expect(draining).toMatchObject({ Id: '10.0.0.1', State: 'draining', DrainUntil: Date.parse('2026-03-01T12:00:30Z') });
    expect((await health(h, tgArn))[0].TargetHealth).toEqual({ State: 'draining', Reason: 'Target.DeregistrationInProgress', Description: 'Target deregistration is in progress' });

    // Deregistering again changes nothing; the sweep before DrainUntil removes nothing.
    const before = await h.snapshot();
    await h.call('DeregisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1', Port: 8080 }] });
    expect(await sweepDrainedTargets(h.store, Date.parse('2026-03-01T12:00:29.999Z'))).toBe(0);
    expect(await h.snapshot()).toEqual(before);

    expect(await sweepDrainedTargets(h.store, new Date('2026-03-01T12:00:30Z'))).toBe(1);
    expect((await stored(h)).map((r) => r.Id)).toEqual(['10.0.0.2']);
    expect((await h.store.range(lbKeys.healths())).count).toBe(0);
  });

  it('removes health records left without a target, and keeps those of registered targets', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    await observe(h, tgArn, '10.0.0.1', 8080, { State: 'healthy', UpdatedAt: 1 });
    await observe(h, tgArn, '10.0.0.7', 8080, { State: 'unhealthy', UpdatedAt: 2 });
    expect(await sweepDrainedTargets(h.store, Date.parse('2026-03-01T12:00:00Z'))).toBe(0);
    expect((await h.store.range(lbKeys.healths())).kvs.map((kv) => kv.key.split('/').at(-1))).toEqual(['10.0.0.1:8080']);
  });

  it('removes at once with a delay of 0', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.call('ModifyTargetGroupAttributes', { TargetGroupArn: tgArn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '0' }] });
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    await h.call('DeregisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    expect(await stored(h)).toEqual([]);
  });

  it('registers a draining target again, and the sweep leaves it', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    await h.call('DeregisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    h.clock = new Date('2026-03-01T12:01:00Z');
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    const [r] = await stored(h);
    expect(r).toMatchObject({ State: 'registered', RegisteredAt: Date.parse('2026-03-01T12:01:00Z') });
    expect(r!.DrainUntil).toBeUndefined();
    expect(await sweepDrainedTargets(h.store, Date.parse('2026-03-02T00:00:00Z'))).toBe(0);
  });

  it('passes over targets that are not registered, as ELBv2 does (200, nothing changed)', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    const before = await h.snapshot();
    await h.call('DeregisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.9', Port: 81 }, { Id: '10.0.0.1', Port: 9999 }] });
    expect(await h.snapshot()).toEqual(before);
    await h.call('DeregisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }, { Id: '10.0.0.9' }] });
    expect((await stored(h)).map((r) => r.State)).toEqual(['draining']);
    await h.refused('DeregisterTargets', { TargetGroupArn: tgArn, Targets: [] }, 'ValidationError', 'Targets must contain at least one target');
  });

  it('expiredTargets picks draining targets whose delay is over', () => {
    const base = { TargetGroupArn: 'tg', Port: 80, Address: '10.0.0.1', RegisteredAt: 0 };
    const records: TargetRecord[] = [
      { ...base, Id: 'a', State: 'registered' },
      { ...base, Id: 'b', State: 'draining', DrainUntil: 100 },
      { ...base, Id: 'c', State: 'draining', DrainUntil: 101 },
    ];
    expect(expiredTargets(records, 100).map((r) => r.Id)).toEqual(['b']);
    expect(expiredTargets(records, new Date(101)).map((r) => r.Id)).toEqual(['b', 'c']);
    expect(expiredTargets(records, 99)).toEqual([]);
  });
});

describe('DescribeTargetHealth', () => {
  it('reports unused while no listener or rule forwards to the group', async () => {
    const h = elbHarness();
    const tgArn = (await h.call('CreateTargetGroup', { Name: 'idle', Protocol: 'HTTP', Port: 80, TargetType: 'ip' })).TargetGroups[0].TargetGroupArn;
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] });
    await observe(h, tgArn, '10.0.0.1', 80, { State: 'healthy', UpdatedAt: 1 });
    expect(await health(h, tgArn)).toEqual([
      {
        Target: { Id: '10.0.0.1', Port: '80' },
        HealthCheckPort: '80',
        TargetHealth: { State: 'unused', Reason: 'Target.NotInUse', Description: 'Target group is not configured to receive traffic from the load balancer' },
      },
    ]);
  });

  it('goes initial → the data plane’s healthy / unhealthy, with the health check port', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }, { Id: '10.0.0.2', Port: 9000 }] });
    expect((await health(h, tgArn)).map((d: any) => [d.Target.Id, d.HealthCheckPort, d.TargetHealth.State, d.TargetHealth.Reason])).toEqual([
      ['10.0.0.1', '8080', 'initial', 'Elb.RegistrationInProgress'],
      ['10.0.0.2', '9000', 'initial', 'Elb.RegistrationInProgress'],
    ]);
    await observe(h, tgArn, '10.0.0.1', 8080, { State: 'healthy', UpdatedAt: 1 });
    await observe(h, tgArn, '10.0.0.2', 9000, { State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch', Description: 'Health checks failed with these codes: [500]', UpdatedAt: 2 });
    expect(await health(h, tgArn)).toEqual([
      { Target: { Id: '10.0.0.1', Port: '8080' }, HealthCheckPort: '8080', TargetHealth: { State: 'healthy' } },
      { Target: { Id: '10.0.0.2', Port: '9000' }, HealthCheckPort: '9000', TargetHealth: { State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch', Description: 'Health checks failed with these codes: [500]' } },
    ]);
    await h.call('ModifyTargetGroup', { TargetGroupArn: tgArn, HealthCheckPort: '7000' });
    expect((await health(h, tgArn)).map((d: any) => d.HealthCheckPort)).toEqual(['7000', '7000']);
    await h.call('ModifyTargetGroup', { TargetGroupArn: tgArn, HealthCheckEnabled: false });
    expect((await health(h, tgArn))[0].TargetHealth).toEqual({ State: 'unavailable', Reason: 'Target.HealthCheckDisabled', Description: 'Health checks are disabled for this target group' });
  });

  it('filters by Targets, reporting one not registered as unused / Target.NotRegistered', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }, { Id: '10.0.0.1', Port: 9000 }, { Id: '10.0.0.2' }] });
    const d = await health(h, tgArn, [{ Id: '10.0.0.1' }, { Id: '10.0.0.9', Port: 81 }, { Id: '10.0.0.2', Port: 8080 }]);
    expect(d.map((x: any) => [x.Target.Id, x.Target.Port, x.TargetHealth.State, x.TargetHealth.Reason ?? ''])).toEqual([
      ['10.0.0.1', '8080', 'initial', 'Elb.RegistrationInProgress'],
      ['10.0.0.1', '9000', 'initial', 'Elb.RegistrationInProgress'],
      ['10.0.0.9', '81', 'unused', 'Target.NotRegistered'],
      ['10.0.0.2', '8080', 'initial', 'Elb.RegistrationInProgress'],
    ]);
    expect(d[2].TargetHealth.Description).toBe('Target is not registered to the target group');
  });

  it('answers an empty list for a group with no targets and refuses an unknown Include', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h);
    expect(await h.call('DescribeTargetHealth', { TargetGroupArn: tgArn })).toEqual({ TargetHealthDescriptions: '' });
    await h.refused('DescribeTargetHealth', { TargetGroupArn: tgArn, Include: ['Everything'] }, 'ValidationError', /Value 'Everything' at 'Include.member.1'/);
  });
});

describe('the functions the ECS service controller calls', () => {
  it('register, read health and deregister (refusing targets not registered only when asked) with the API’s rules', async () => {
    const h = elbHarness();
    const { tgArn } = await basicSetup(h, 'instance');
    const ctx = { region: 'us-east-1', accountId: '000000000000', now: new Date('2026-03-01T13:00:00Z'), resolveInstance: (id: string) => Promise.resolve(id === 'i-1' ? { address: '127.0.0.5' } : undefined) };
    await registerTargets(h.store, ctx, tgArn, [{ Id: 'i-1', Port: 32768 }]);
    await expect(registerTargets(h.store, { ...ctx, resolveInstance: undefined }, tgArn, [{ Id: 'i-1' }])).rejects.toThrow(/not known instances: 'i-1'/);
    const [d] = await describeTargetHealth(h.store, ctx, tgArn);
    expect(d).toEqual({ Target: { Id: 'i-1', Port: 32768 }, HealthCheckPort: '32768', TargetHealth: { State: 'initial', Reason: 'Elb.RegistrationInProgress', Description: 'Target registration is in progress' } });
    await expect(deregisterTargets(h.store, ctx, tgArn, [{ Id: 'i-1', Port: 32768 }, { Id: 'i-1', Port: 40000 }], { ignoreUnregistered: false })).rejects.toThrow(
      `The following targets are not registered in target group '${tgArn}': 'i-1:40000'`,
    );
    await deregisterTargets(h.store, ctx, tgArn, [{ Id: 'i-1', Port: 32768 }, { Id: 'i-1', Port: 40000 }], { ignoreUnregistered: true });
    expect((await stored(h))[0]).toMatchObject({ State: 'draining', DrainUntil: Date.parse('2026-03-01T13:05:00Z') });
  });
});
