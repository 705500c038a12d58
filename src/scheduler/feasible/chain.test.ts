/** The chain's order: cheapest first and ECS's order, so the first refusal is the reason ECS would give. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import { feasibilityChain, firstRefusal } from './chain.js';

describe('feasibilityChain', () => {
  it('holds only the checks that apply, in order', () => {
    expect(feasibilityChain(working(clusterOf(instance('a')))).map((c) => c.name)).toEqual(['status', 'agent', 'cpu', 'memory']);
    const all = request({
      launchType: 'EC2',
      requiresAttributes: [{ name: 'x' }],
      gpus: 1,
      tcpPorts: [80],
      udpPorts: [53],
      constraints: [{ type: 'memberOf', expression: 'attribute:zone == a' }, { type: 'distinctInstance' }],
    });
    expect(feasibilityChain(working(clusterOf(instance('a')), all)).map((c) => c.name)).toEqual([
      'status', 'agent', 'launchType', 'requiresAttributes', 'cpu', 'memory', 'gpu', 'ports', 'portsUdp', 'distinctInstance', 'memberOf(attribute:zone == a)',
    ]);
  });

  it('reports the first check that refuses', () => {
    const state = clusterOf(
      instance('ok', { attributes: { zone: 'a' } }),
      instance('draining-and-full', { status: 'DRAINING', memory: 0 }),
      instance('full-and-excluded', { memory: 0, attributes: { zone: 'b' } }),
      instance('excluded', { attributes: { zone: 'b' } }),
    );
    const w = working(state, request({ constraints: [{ type: 'memberOf', expression: 'attribute:zone == a' }] }));
    const chain = feasibilityChain(w);
    expect([0, 1, 2, 3].map((i) => firstRefusal(chain, i)?.name)).toEqual([undefined, 'status', 'memory', 'memberOf(attribute:zone == a)']);
  });
});
