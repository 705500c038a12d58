import { describe, expect, it } from 'vitest';
import { lbKeys, type TargetHealthRecord } from '../model.js';
import { arnResourceId } from './haproxy-syntax.js';
import { emptyModel, type LbModel } from './model-view.js';
import { desiredServers, diffServers, serverOptions, type ServerSpec } from './servers.js';
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
    expect(s).toMatchObject({ address: '10.0.0.7', port: 8080, draining: false, knownHealthy: false, healthKey: lbKeys.health(arnResourceId(tg.TargetGroupArn), '10.0.0.7', 8080) });
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
    const key = lbKeys.health(arnResourceId(tg.TargetGroupArn), '10.0.0.7', 80);
    const health = (State: TargetHealthRecord['State']) => new Map([[key, { State, UpdatedAt: 1 }]]);
    expect([...desiredServers(model({ targets: [t], health: health('healthy') }), 0).values()][0]?.knownHealthy).toBe(true);
    expect([...desiredServers(model({ targets: [t], health: health('unhealthy') }), 0).values()][0]?.knownHealthy).toBe(false);
  });
});

describe('diffServers', () => {
  it('does nothing when HAProxy has what it should', () => {
    expect(diffServers(byId(spec('a'), spec('b')), byId(spec('a'), spec('b')))).toEqual([]);
  });

  it('adds a new server, enables its checks and forces its health down so it must pass the healthy threshold first', () => {
    expect(diffServers(byId(spec('a')), new Map())).toEqual([
      {
        kind: 'add',
        server: spec('a'),
        lines: ['add server tg_a/a 10.0.0.1:80 check inter 5000ms rise 3 fall 2 weight 100', 'enable health tg_a/a; enable server tg_a/a; set server tg_a/a health down'],
      },
    ]);
  });

  it('lets a server the store knew healthy take traffic at once', () => {
    expect(diffServers(byId(spec('a', { knownHealthy: true })), new Map())[0]?.lines[1]).toBe('enable health tg_a/a; enable server tg_a/a');
  });

  it('adds a server without checks without touching health', () => {
    expect(diffServers(byId(spec('a', { options: 'weight 100' })), new Map())[0]?.lines).toEqual(['add server tg_a/a 10.0.0.1:80 weight 100', 'enable server tg_a/a']);
  });

  it('adds a draining server already draining', () => {
    expect(diffServers(byId(spec('a', { draining: true })), new Map())[0]?.lines[1]).toBe('enable health tg_a/a; enable server tg_a/a; set server tg_a/a health down; set server tg_a/a state drain');
  });

  it('removes a gone server: out of rotation, sessions shut, then deleted', () => {
    expect(diffServers(new Map(), byId(spec('a')))).toEqual([
      { kind: 'remove', server: spec('a'), lines: ['disable server tg_a/a; shutdown sessions server tg_a/a', 'del server tg_a/a'] },
    ]);
  });

  it('drains and undrains in place', () => {
    expect(diffServers(byId(spec('a', { draining: true })), byId(spec('a')))).toEqual([{ kind: 'drain', server: spec('a', { draining: true }), lines: ['set server tg_a/a state drain'] }]);
    expect(diffServers(byId(spec('a')), byId(spec('a', { draining: true })))).toEqual([{ kind: 'undrain', server: spec('a'), lines: ['set server tg_a/a state ready'] }]);
  });

  it.each([
    ['address', { address: '10.0.0.2' }],
    ['port', { port: 81 }],
    ['options', { options: 'weight 100' }],
  ])('replaces a server whose %s changed (remove first, then add)', (_what, change) => {
    const ops = diffServers(byId(spec('a', change)), byId(spec('a')));
    expect(ops.map((o) => o.kind)).toEqual(['remove', 'add']);
  });

  it('does not replace a server only because the store now knows it healthy', () => {
    expect(diffServers(byId(spec('a', { knownHealthy: true })), byId(spec('a')))).toEqual([]);
  });

  it('orders removals, then additions, then drains, each by server id', () => {
    const ops = diffServers(byId(spec('c'), spec('a'), spec('d', { draining: true })), byId(spec('x'), spec('b'), spec('d')));
    expect(ops.map((o) => `${o.kind} ${o.server.name}`)).toEqual(['remove b', 'remove x', 'add a', 'add c', 'drain d']);
  });
});
