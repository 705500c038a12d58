/** Static host ports, TCP and UDP apart, including the copies this plan has placed. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import { tcpPortsChecker, udpPortsChecker } from './ports.js';

const state = clusterOf(instance('a', { tcp: [22, 80], udp: [53] }), instance('b', { tcp: [22] }), instance('c', { udp: [80] }));

describe('port checkers', () => {
  it('do not apply to a task without static host ports', () => {
    expect(tcpPortsChecker(working(state))).toBeUndefined();
    expect(udpPortsChecker(working(state))).toBeUndefined();
  });

  it('refuse an instance where a wanted port is taken, per protocol', () => {
    const w = working(state, request({ tcpPorts: [80, 443], udpPorts: [53] }));
    const tcp = tcpPortsChecker(w)!;
    const udp = udpPortsChecker(w)!;
    expect([0, 1, 2].map((i) => tcp.feasible(i))).toEqual([false, true, true]);
    expect([0, 1, 2].map((i) => udp.feasible(i))).toEqual([false, true, true]);
    expect(tcp.reason(0)).toBe('RESOURCE:PORTS');
    expect(udp.reason(0)).toBe('RESOURCE:PORTS_UDP');
    expect(tcp.detail(0)).toBe('host port 80/tcp in use');
    expect(udp.summarize([0])).toBe('has host port 53/udp in use');
  });

  it('keep TCP and UDP apart', () => {
    const tcp = tcpPortsChecker(working(state, request({ tcpPorts: [80] })))!;
    expect(tcp.feasible(2)).toBe(true);
  });

  it('let a static port be taken once per instance within a plan', () => {
    const w = working(state, request({ tcpPorts: [8080] }));
    const tcp = tcpPortsChecker(w)!;
    expect(tcp.feasible(1)).toBe(true);
    w.reserve(1);
    expect(tcp.feasible(1)).toBe(false);
    expect(tcp.detail(1)).toBe('host port 8080/tcp in use');
    expect(tcp.summarize([1])).toBe('has host port 8080/tcp in use');
  });
});
