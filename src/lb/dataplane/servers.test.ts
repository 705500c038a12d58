import { describe, expect, it } from 'vitest';
import { lbIdOf, lbKeys, type TargetHealthRecord } from '../model.js';
import { emptyModel, type LbModel } from './model-view.js';
import { desiredServers, desiredTwins, MIN_SLOTS, planServers, planTwins, serverOptions, slotCapacities, slotName, type ServerSpec } from './servers.js';
import { targetGroupRecord, targetRecord } from './testing/fixture.js';

const tg = targetGroupRecord('web', { HealthCheckIntervalSeconds: 5, HealthyThresholdCount: 3, UnhealthyThresholdCount: 2 });
const model = (over: Partial<LbModel>): LbModel => ({ ...emptyModel, targetGroups: [tg], ...over });
const spec = (name: string, over: Partial<ServerSpec> = {}): ServerSpec => ({
  backend: 'tg_a',
  name,
  address: '10.0.0.1',
  port: 80,
  options: 'check inter 5000ms rise 3 fall 2 weight 100',
  draining: false,
  healthKey: `/elbv2/health/x/${name}`,
  knownHealthy: false,
  ...over,
});
const byId = (...specs: ServerSpec[]) => new Map(specs.map((s) => [`${s.backend}/${s.name}`, s]));

describe('serverOptions', () => {
  it('turns the health check settings into check, inter, rise and fall', () => {
    expect(serverOptions(tg)).toBe('check inter 5000ms rise 3 fall 2 weight 100');
  });
  it('checks another port when HealthCheckPort names one', () => {
    expect(serverOptions({ ...tg, HealthCheckPort: '8081' })).toBe('check inter 5000ms rise 3 fall 2 port 8081 weight 100');
  });
  it('has no check when health checks are disabled', () => {
    expect(serverOptions({ ...tg, HealthCheckEnabled: false })).toBe('weight 100');
  });
  it('ramps new targets up over slow_start.duration_seconds', () => {
    expect(serverOptions(targetGroupRecord('s', { HealthCheckEnabled: false }, { 'slow_start.duration_seconds': '30' }))).toBe('weight 100 slowstart 30000ms');
  });
  it('takes fractions of seconds (tests use short intervals)', () => {
    expect(serverOptions({ ...tg, HealthCheckIntervalSeconds: 0.2 })).toContain('inter 200ms');
  });
});

describe('desiredServers', () => {
  it('makes a server of each target of a known target group, named Id:Port in the group backend', () => {
    const t = targetRecord(tg, '10.0.0.7', 8080);
    const out = desiredServers(model({ targets: [t] }), 0);
    const [id, s] = [...out][0]!;
    expect(out.size).toBe(1);
    expect(id).toBe(`${s.backend}/10.0.0.7:8080`);
    expect(s).toMatchObject({ address: '10.0.0.7', port: 8080, draining: false, knownHealthy: false, healthKey: lbKeys.health(lbIdOf(tg.TargetGroupArn), '10.0.0.7', 8080) });
  });

  it('leaves out targets of unknown target groups', () => {
    const other = targetGroupRecord('gone');
    expect(desiredServers(model({ targets: [targetRecord(other, '10.0.0.1', 80)] }), 0).size).toBe(0);
  });

  it('keeps a draining target until its deregistration delay ends', () => {
    const t = targetRecord(tg, '10.0.0.7', 80, { State: 'draining', DrainUntil: 1000 });
    expect([...desiredServers(model({ targets: [t] }), 999).values()][0]?.draining).toBe(true);
    expect(desiredServers(model({ targets: [t] }), 1000).size).toBe(0);
  });

  it('knows a target the store last saw healthy', () => {
    const t = targetRecord(tg, '10.0.0.7', 80);
    const key = lbKeys.health(lbIdOf(tg.TargetGroupArn), '10.0.0.7', 80);
    const health = (State: TargetHealthRecord['State']) => new Map([[key, { State, UpdatedAt: 1 }]]);
    expect([...desiredServers(model({ targets: [t], health: health('healthy') }), 0).values()][0]?.knownHealthy).toBe(true);
    expect([...desiredServers(model({ targets: [t], health: health('unhealthy') }), 0).values()][0]?.knownHealthy).toBe(false);
  });
});

const applied = (...entries: [ServerSpec, number][]) => new Map(entries.map(([spec, slot]) => [`${spec.backend}/${spec.name}`, { spec, slot }]));
const cap = (n: number) => new Map([['tg_a', n]]);

describe('planServers', () => {
  it('does nothing when HAProxy has what it should', () => {
    expect(planServers(byId(spec('a'), spec('b')), applied([spec('a'), 0], [spec('b'), 1]), cap(8))).toEqual([]);
  });

  it('puts a new target in the lowest free slot, enables its checks and forces its health down so it must pass the healthy threshold first', () => {
    expect(planServers(byId(spec('a'), spec('b')), applied([spec('b'), 0]), cap(8))).toEqual([
      {
        kind: 'add',
        server: spec('a'),
        slot: 1,
        lines: ['set server tg_a/s2 addr 10.0.0.1 port 80', 'enable health tg_a/s2; enable server tg_a/s2; set server tg_a/s2 health down'],
      },
    ]);
  });

  it('lets a target the store knew healthy take traffic at once', () => {
    expect(planServers(byId(spec('a', { knownHealthy: true })), new Map(), cap(8))[0]?.lines[1]).toBe('enable health tg_a/s1; enable server tg_a/s1');
  });

  it('enables a target without checks without touching health', () => {
    expect(planServers(byId(spec('a', { options: 'weight 100' })), new Map(), cap(8))[0]?.lines).toEqual(['set server tg_a/s1 addr 10.0.0.1 port 80', 'enable server tg_a/s1']);
  });

  it('adds a draining target already draining', () => {
    expect(planServers(byId(spec('a', { draining: true })), new Map(), cap(8))[0]?.lines[1]).toBe('enable health tg_a/s1; enable server tg_a/s1; set server tg_a/s1 health down; set server tg_a/s1 state drain');
  });

  it('takes a gone target out of rotation and shuts its sessions; its slot is free for the next', () => {
    expect(planServers(byId(spec('b')), applied([spec('a'), 0]), cap(8))).toEqual([
      { kind: 'remove', server: spec('a'), slot: 0, lines: ['disable server tg_a/s1; shutdown sessions server tg_a/s1; disable server tg_a/f1'] },
      { kind: 'add', server: spec('b'), slot: 0, lines: ['set server tg_a/s1 addr 10.0.0.1 port 80', 'enable health tg_a/s1; enable server tg_a/s1; set server tg_a/s1 health down'] },
    ]);
  });

  it('drains and undrains in place', () => {
    expect(planServers(byId(spec('a', { draining: true })), applied([spec('a'), 3]), cap(8))).toEqual([
      { kind: 'drain', server: spec('a', { draining: true }), slot: 3, lines: ['set server tg_a/s4 state drain'] },
    ]);
    expect(planServers(byId(spec('a')), applied([spec('a', { draining: true }), 3]), cap(8))).toEqual([{ kind: 'undrain', server: spec('a'), slot: 3, lines: ['set server tg_a/s4 state ready'] }]);
  });

  it.each([
    ['address', { address: '10.0.0.2' }],
    ['port', { port: 81 }],
    ['options', { options: 'weight 100' }],
  ])('replaces a target whose %s changed (remove first, then add)', (_what, change) => {
    const ops = planServers(byId(spec('a', change)), applied([spec('a'), 2]), cap(8));
    expect(ops.map((o) => `${o.kind} ${o.slot}`)).toEqual(['remove 2', 'add 0']);
  });

  it('does not replace a target only because the store now knows it healthy', () => {
    expect(planServers(byId(spec('a', { knownHealthy: true })), applied([spec('a'), 0]), cap(8))).toEqual([]);
  });

  it('leaves targets waiting when their backend has no free slot (the caller grows it)', () => {
    expect(planServers(byId(spec('a'), spec('b'), spec('c')), new Map(), cap(2)).map((o) => o.server.name)).toEqual(['a', 'b']);
    expect(planServers(byId(spec('a')), new Map(), new Map())).toEqual([]);
  });

  it('orders removals, then additions, then drains, each by target', () => {
    const ops = planServers(byId(spec('c'), spec('a'), spec('d', { draining: true })), applied([spec('x'), 0], [spec('b'), 1], [spec('d'), 2]), cap(8));
    expect(ops.map((o) => `${o.kind} ${o.server.name} ${o.slot}`)).toEqual(['remove b 1', 'remove x 0', 'add a 0', 'add c 1', 'drain d 2']);
  });
});

describe('slotCapacities', () => {
  const many = (n: number) => byId(...Array.from({ length: n }, (_, i) => spec(`t${i}`)));
  it('gives every backend at least MIN_SLOTS', () => {
    expect(slotCapacities(['tg_a', 'tg_b'], new Map(), new Map())).toEqual(new Map([['tg_a', MIN_SLOTS], ['tg_b', MIN_SLOTS]]));
  });
  it('doubles until the targets fit', () => {
    expect(slotCapacities(['tg_a'], many(9), new Map()).get('tg_a')).toBe(16);
    expect(slotCapacities(['tg_a'], many(33), new Map()).get('tg_a')).toBe(64);
  });
  it('never shrinks (that would reload for nothing), and forgets backends that are gone', () => {
    expect(slotCapacities(['tg_a'], many(1), new Map([['tg_a', 32], ['tg_gone', 8]]))).toEqual(new Map([['tg_a', 32]]));
  });
  it('names slots from s1', () => {
    expect([0, 1, 9].map(slotName)).toEqual(['s1', 's2', 's10']);
  });
});

describe('fail-open twins', () => {
  const state = (entries: Record<string, string>) => new Map(Object.entries(entries).map(([name, State]) => [`/elbv2/health/x/${name}`, { State }]));
  it('wants the twin of each unhealthy target on, at its target', () => {
    const on = desiredTwins(applied([spec('a'), 0], [spec('b', { address: '10.0.0.2' }), 3]), state({ a: 'unhealthy', b: 'unhealthy' }));
    expect(on).toEqual(new Map([['tg_a/f1', '10.0.0.1:80'], ['tg_a/f4', '10.0.0.2:80']]));
  });
  it('leaves off the twins of healthy, initial, draining and unchecked targets', () => {
    const on = desiredTwins(
      applied([spec('a'), 0], [spec('b'), 1], [spec('c', { draining: true }), 2], [spec('d', { options: 'weight 100' }), 3], [spec('e'), 4]),
      state({ a: 'healthy', b: 'initial', c: 'unhealthy', d: 'unhealthy' }),
    );
    expect(on).toEqual(new Map());
  });
  it('enables twins that should be on and disables those that should not', () => {
    const lines = planTwins(new Map([['tg_a/f2', '10.0.0.2:80']]), new Map([['tg_a/f1', '10.0.0.1:80']]), cap(8));
    expect(lines).toEqual(['disable server tg_a/f1', 'set server tg_a/f2 addr 10.0.0.2 port 80; enable server tg_a/f2']);
  });
  it('does nothing when the twins are as they should be', () => {
    expect(planTwins(new Map([['tg_a/f1', '10.0.0.1:80']]), new Map([['tg_a/f1', '10.0.0.1:80']]), cap(8))).toEqual([]);
  });
  it('moves a twin whose slot now holds another target', () => {
    expect(planTwins(new Map([['tg_a/f1', '10.0.0.9:81']]), new Map([['tg_a/f1', '10.0.0.1:80']]), cap(8))).toEqual([
      'disable server tg_a/f1',
      'set server tg_a/f1 addr 10.0.0.9 port 81; enable server tg_a/f1',
    ]);
  });
  it('after a start or reload (twins unknown) puts every other twin of the checked backends in maintenance', () => {
    const lines = planTwins(new Map([['tg_a/f2', '10.0.0.2:80']]), undefined, cap(3));
    expect(lines).toEqual(['disable server tg_a/f1', 'disable server tg_a/f3', 'set server tg_a/f2 addr 10.0.0.2 port 80; enable server tg_a/f2']);
  });
});
