/** Explanations: refusals counted per check in the chain's order, with numbers, and ECS failures per instance. */
import { describe, expect, it } from 'vitest';
import { explainRefusals } from './explain.js';
import { feasibilityChain } from './feasible/chain.js';
import { clusterOf, instance, request, working } from './testing/cluster.js';

const explain = (...args: Parameters<typeof working>) => {
  const w = working(...args);
  return explainRefusals(w, feasibilityChain(w));
};

describe('explainRefusals', () => {
  it("says why in numbers, as issue 4's example does", () => {
    const state = clusterOf(
      instance('b1', { memory: 256, attributes: { zone: 'b' } }),
      instance('b2', { memory: 128, attributes: { zone: 'b' } }),
      instance('b3', { memory: 0, attributes: { zone: 'b' } }),
      instance('a1', { attributes: { zone: 'a' } }),
      instance('a2', { attributes: { zone: 'a' } }),
    );
    const { explanation } = explain(state, request({ memory: 512, constraints: [{ type: 'memberOf', expression: 'attribute:zone == b' }] }));
    expect(explanation.message).toBe('3 of 5 instances lack memory: need 512 MiB, largest free 256 MiB; 2 excluded by memberOf(attribute:zone == b)');
    expect(explanation.refusals).toEqual([
      { check: 'memory', instances: 3, summary: 'lack memory: need 512 MiB, largest free 256 MiB' },
      { check: 'memberOf(attribute:zone == b)', instances: 2, summary: 'excluded by memberOf(attribute:zone == b)' },
    ]);
  });

  it("gives ECS's failures, one per instance, with the first check that refused it", () => {
    const state = clusterOf(
      instance('d', { status: 'DRAINING', memory: 0 }),
      instance('g', { agentConnected: false }),
      instance('c', { cpu: 100 }),
      instance('p', { tcp: [80] }),
      instance('u', { udp: [53] }),
      instance('x', { groups: { 'service:web': 1 } }),
      instance('gpu', { gpus: 0 }),
    );
    const { failures } = explain(state, request({ tcpPorts: [80], udpPorts: [53], constraints: [{ type: 'distinctInstance' }] }));
    expect(failures).toEqual([
      { instanceId: 'd', reason: 'DRAINING', detail: 'status DRAINING' },
      { instanceId: 'g', reason: 'AGENT', detail: 'agent disconnected' },
      { instanceId: 'c', reason: 'RESOURCE:CPU', detail: 'need 256 CPU units, free 100 CPU units' },
      { instanceId: 'p', reason: 'RESOURCE:PORTS', detail: 'host port 80/tcp in use' },
      { instanceId: 'u', reason: 'RESOURCE:PORTS_UDP', detail: 'host port 53/udp in use' },
      { instanceId: 'x', reason: 'DistinctInstance placement constraint unsatisfied.', detail: '1 task of service:web already there' },
    ]);
    const gpus = explain(clusterOf(instance('gpu', { gpus: 1 })), request({ gpus: 2 }));
    expect(gpus.failures).toEqual([{ instanceId: 'gpu', reason: 'RESOURCE:GPU', detail: 'need 2 GPUs, free 1 GPU' }]);
    expect(gpus.explanation.message).toBe('1 of 1 instance lacks GPUs: need 2 GPUs, largest free 1 GPU');
  });

  it('lists the checks in the order they run, whatever the counts', () => {
    const state = clusterOf(instance('a', { status: 'REGISTERING' }), instance('b', { cpu: 0 }), instance('c', { cpu: 0 }), instance('d', { cpu: 0 }));
    expect(explain(state).explanation.message).toBe('1 of 4 instances is not ACTIVE: REGISTERING; 3 lack CPU: need 256 CPU units, largest free 0 CPU units');
  });

  it('reads the cluster as the plan left it', () => {
    const state = clusterOf(instance('a', { memory: 1200 }));
    const w = working(state, request({ memory: 512 }));
    w.reserve(0);
    w.reserve(0);
    expect(explainRefusals(w, feasibilityChain(w)).explanation.message).toBe('1 of 1 instance lacks memory: need 512 MiB, largest free 176 MiB');
  });

  it('says so when the cluster has no instances, and mentions no instance that could take the task', () => {
    expect(explain(clusterOf()).explanation.message).toBe('The cluster has no container instances.');
    const { failures, explanation } = explain(clusterOf(instance('ok'), instance('full', { memory: 0 })));
    expect(failures.map((f) => f.instanceId)).toEqual(['full']);
    expect(explanation.message).toBe('1 of 2 instances lacks memory: need 512 MiB, largest free 0 MiB');
    expect(explain(clusterOf(instance('ok'))).explanation.message).toBe('The one instance can take the task.');
    expect(explain(clusterOf(instance('a'), instance('b'))).explanation.message).toBe('All 2 instances can take the task.');
  });
});
