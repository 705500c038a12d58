/** Pure placement: feasibility reasons, never over-committing, deterministic choice. */
import { describe, expect, it } from 'vitest';
import { placeTasks, refusal, type PlacementCandidate, type TaskNeeds } from './place.js';

const instance = (id: string, over: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
  id,
  status: 'ACTIVE',
  cpu: 1024,
  memory: 2048,
  tcpPorts: [22, 2375, 2376, 51678, 51679],
  udpPorts: [],
  attributes: {},
  ...over,
});
const needs = (over: Partial<TaskNeeds> = {}): TaskNeeds => ({ cpu: 256, memory: 512, tcpPorts: [], udpPorts: [], ...over });

describe('refusal', () => {
  it('accepts an ACTIVE instance with room', () => {
    expect(refusal(instance('a'), needs())).toBeUndefined();
  });
  it('accepts a task that uses exactly what is left', () => {
    expect(refusal(instance('a', { cpu: 256, memory: 512 }), needs())).toBeUndefined();
  });
  it('names the first resource that does not fit, cheapest check first', () => {
    expect(refusal(instance('a', { cpu: 100, memory: 100 }), needs())).toBe('RESOURCE:CPU');
    expect(refusal(instance('a', { memory: 511 }), needs())).toBe('RESOURCE:MEMORY');
    expect(refusal(instance('a'), needs({ tcpPorts: [22] }))).toBe('RESOURCE:PORTS');
    expect(refusal(instance('a', { udpPorts: [53] }), needs({ udpPorts: [53] }))).toBe('RESOURCE:PORTS_UDP');
  });
  it('keeps TCP and UDP ports apart', () => {
    expect(refusal(instance('a', { udpPorts: [80] }), needs({ tcpPorts: [80] }))).toBeUndefined();
  });
  it('refuses instances that are not ACTIVE', () => {
    expect(refusal(instance('a', { status: 'DRAINING' }), needs())).toBe('DRAINING');
    expect(refusal(instance('a', { status: 'INACTIVE' }), needs())).toBe('INACTIVE');
    expect(refusal(instance('a', { status: 'REGISTERING' }), needs())).toBe('INACTIVE');
  });
});

describe('placeTasks', () => {
  it('places every copy when there is room, and reports no failures', () => {
    const out = placeTasks([instance('a')], needs(), 4);
    expect(out).toEqual({ placements: ['a', 'a', 'a', 'a'], failures: [] });
  });

  it('never over-commits: copies in one call see what earlier copies took', () => {
    const out = placeTasks([instance('a', { cpu: 1024, memory: 1200 })], needs(), 3);
    expect(out.placements).toEqual(['a', 'a']);
    expect(out.failures).toEqual([{ instanceId: 'a', reason: 'RESOURCE:MEMORY' }]);
  });

  it('a static host port fits once per instance', () => {
    const out = placeTasks([instance('a'), instance('b')], needs({ tcpPorts: [80] }), 3);
    expect([...out.placements].sort()).toEqual(['a', 'b']);
    expect(out.failures).toEqual([
      { instanceId: 'a', reason: 'RESOURCE:PORTS' },
      { instanceId: 'b', reason: 'RESOURCE:PORTS' },
    ]);
  });

  it('spreads by free memory, ties broken by id', () => {
    const out = placeTasks([instance('b'), instance('a'), instance('c', { memory: 4096 })], needs({ memory: 1024 }), 4);
    // c: 4096 → 3072 → 2048; then all three have 2048 free, so ids decide: a, then b.
    expect(out.placements).toEqual(['c', 'c', 'a', 'b']);
  });

  it('skips instances that are not ACTIVE and reports them when short', () => {
    const out = placeTasks([instance('a', { status: 'DRAINING' }), instance('b', { memory: 512 })], needs(), 2);
    expect(out.placements).toEqual(['b']);
    expect(out.failures).toEqual([
      { instanceId: 'a', reason: 'DRAINING' },
      { instanceId: 'b', reason: 'RESOURCE:MEMORY' },
    ]);
  });

  it('with no candidates places nothing and has nobody to blame', () => {
    expect(placeTasks([], needs(), 1)).toEqual({ placements: [], failures: [] });
  });

  it('count 0 places nothing and reports nothing', () => {
    expect(placeTasks([instance('a')], needs(), 0)).toEqual({ placements: [], failures: [] });
  });

  it('does not change its inputs', () => {
    const a = instance('a');
    const snapshot = JSON.stringify(a);
    placeTasks([a], needs({ tcpPorts: [80] }), 2);
    expect(JSON.stringify(a)).toBe(snapshot);
  });
});
