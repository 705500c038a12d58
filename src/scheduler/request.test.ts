/** compileRequest: defaults, strategy fields as ECS spells them, and a precise error for each bad input. */
import { describe, expect, it } from 'vitest';
import { compileRequest, InvalidPlacementRequest, type PlacementRequest } from './request.js';

const base: PlacementRequest = { group: 'service:web', cpu: 256, memory: 512 };
const fails = (over: Record<string, unknown>, message: string | RegExp) =>
  expect(() => compileRequest({ ...base, ...over })).toThrow(message instanceof RegExp ? message : new InvalidPlacementRequest(message));

describe('compileRequest', () => {
  it('fills in the lists and zero GPUs', () => {
    expect(compileRequest(base)).toEqual({
      group: 'service:web', cpu: 256, memory: 512, gpus: 0, tcpPorts: [], udpPorts: [], launchType: undefined,
      requiresCompatibilities: [], requiresAttributes: [], distinctInstance: false, memberOf: [], strategy: [],
    });
  });

  it('reads strategies as ECS spells them; host is instanceId', () => {
    const c = compileRequest({
      ...base,
      strategy: [{ type: 'spread', field: 'attribute:ecs.availability-zone' }, { type: 'spread', field: 'host' }, { type: 'binpack', field: 'cpu' }, { type: 'random', field: 'ignored' }],
    });
    expect(c.strategy).toEqual([
      { type: 'spread', field: 'attribute', attribute: 'ecs.availability-zone' },
      { type: 'spread', field: 'instanceId' },
      { type: 'binpack', field: 'cpu' },
      { type: 'random' },
    ]);
  });

  it('parses memberOf expressions once and keeps their text; distinctInstance is a flag', () => {
    const c = compileRequest({ ...base, constraints: [{ type: 'distinctInstance' }, { type: 'memberOf', expression: '  attribute:zone == a ' }] });
    expect(c.distinctInstance).toBe(true);
    expect(c.memberOf).toEqual([{ expression: 'attribute:zone == a', query: { kind: 'compare', subject: { kind: 'attribute', name: 'zone' }, operator: 'equals', value: 'a' } }]);
  });

  it('drops repeated ports', () => {
    expect(compileRequest({ ...base, tcpPorts: [80, 80, 443] }).tcpPorts).toEqual([80, 443]);
  });

  it.each<[string, Partial<PlacementRequest> | Record<string, unknown>, string]>([
    ['an empty group', { group: '' }, 'group must be a non-empty task group name.'],
    ['negative cpu', { cpu: -1 }, 'cpu must be a non-negative number, not -1.'],
    ['NaN memory', { memory: Number.NaN }, 'memory must be a non-negative number, not NaN.'],
    ['fractional GPUs', { gpus: 1.5 }, 'gpus must be a whole number, not 1.5.'],
    ['a port out of range', { tcpPorts: [70000] }, 'tcpPorts holds 70000, which is not a port (1-65535).'],
    ['a binpack field', { strategy: [{ type: 'binpack', field: 'disk' }] }, "strategy[0].field 'disk' is not valid for binpack; use cpu or memory."],
    ['a spread field', { strategy: [{ type: 'random' }, { type: 'spread', field: 'attribute:' }] }, "strategy[1].field 'attribute:' is not valid for spread; use instanceId, host or attribute:<name>."],
    ['a strategy type', { strategy: [{ type: 'pack' }] }, "strategy[0].type 'pack' is not random, spread or binpack."],
    ['a constraint type', { constraints: [{ type: 'sameZone' }] }, "constraints[0].type 'sameZone' is not distinctInstance or memberOf."],
    ['a memberOf without expression', { constraints: [{ type: 'memberOf', expression: ' ' }] }, 'constraints[0]: a memberOf constraint requires an expression.'],
  ])('refuses %s', (_, over, message) => fails(over, message));

  it("passes the query parser's message on for a bad expression", () => {
    fails({ constraints: [{ type: 'distinctInstance' }, { type: 'memberOf', expression: 'attribute:zone ==' }] }, /^constraints\[1\]\.expression: /);
    try {
      compileRequest({ ...base, constraints: [{ type: 'memberOf', expression: 'attribute:zone ~~ a' }] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidPlacementRequest);
      expect((err as Error).cause).toBeDefined();
    }
  });
});
