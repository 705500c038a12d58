/**
 * The harness's own checks can fail (a wrong reconciler is caught), and the reconciler is safe to
 * rerun and interrupt: rounds whose writes are lost at random, a server that dies part-way through
 * a plan, a restart from the stored state alone — every round within the bounds, every scenario
 * converging with no task lost or doubled.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom, SimWorld, taskDefinitionArn, type Crash, type WorldOptions } from './reconciler-harness.js';
import { reconcileService, type ReconcileInput, type ServiceDecision } from './service-reconciler.js';

const REV1 = taskDefinitionArn('web', 1);
const REV2 = taskDefinitionArn('web', 2);

/** A reconciler that behaves until `wrong` is set, then bends its decision with `bend`. */
function switchable(bend: (d: ServiceDecision, input: ReconcileInput) => ServiceDecision) {
  const state = { wrong: false };
  const reconciler = (input: ReconcileInput) => {
    const d = reconcileService(input);
    return state.wrong ? bend(d, input) : d;
  };
  return { state, reconciler };
}

describe('the harness catches a reconciler that breaks the rules', () => {
  it('starts past maximumPercent', () => {
    const { state, reconciler } = switchable((d) => ({ ...d, starts: d.starts.map((s) => ({ ...s, count: s.count + 1 })) }));
    const w = new SimWorld({ reconciler });
    w.settle();
    w.updateService({ taskDefinition: REV2 });
    state.wrong = true;
    expect(() => w.reconcile()).toThrow('3 tasks hold a place and 4 more would start; the maximum is 6');
  });

  it('stops healthy tasks below minimumHealthyPercent', () => {
    const { state, reconciler } = switchable((d, input) => ({
      ...d,
      stops: input.tasks.filter((t) => t.desiredStatus === 'RUNNING').map((t) => ({ taskArn: t.taskArn, stopCode: 'ServiceSchedulerInitiated' as const, reason: 'x', cause: 'rollout' as const })),
    }));
    const w = new SimWorld({ reconciler });
    w.settle();
    w.updateService({ taskDefinition: REV2 });
    state.wrong = true;
    expect(() => w.reconcile()).toThrow('stops leave 0 healthy tasks; the minimum is 3 (3 before)');
  });

  it('starts tasks of a deployment that is not PRIMARY', () => {
    const { state, reconciler } = switchable((d, input) => ({ ...d, starts: [{ ...d.starts[0]!, deploymentId: input.service.deployments[1]!.id }] }));
    const w = new SimWorld({ reconciler });
    w.settle();
    w.updateService({ taskDefinition: REV2 });
    state.wrong = true;
    expect(() => w.reconcile()).toThrow('starts for a deployment that is not PRIMARY');
  });

  it('puts a second daemon task on an instance', () => {
    const { state, reconciler } = switchable((d, input) => ({
      ...d,
      starts: [{ deploymentId: input.service.deployments[0]!.id, taskDefinition: REV1, count: 1, startedBy: input.service.deployments[0]!.id, group: 'service:web', containerInstanceArn: input.instances[0]!.containerInstanceArn }],
    }));
    const w = new SimWorld({ schedulingStrategy: 'DAEMON', reconciler });
    w.settle();
    state.wrong = true;
    expect(() => w.reconcile()).toThrow('a second daemon task on a');
  });

  it('never settles', () => {
    const w = new SimWorld({ reconciler: (input) => ({ ...reconcileService(input), starts: [] }) });
    expect(() => w.settle(20)).toThrow('not done after 20 steps');
  });
});

describe('the harness records every plan', () => {
  it('one record per round, with the decision, placements and the events it added', () => {
    const w = new SimWorld();
    w.settle();
    expect(w.plans.map((p) => p.step)).toEqual(w.plans.map((_, i) => i + 1));
    expect(w.plans[0]!.placed).toHaveLength(3);
    expect(w.plans[0]!.events[0]).toMatch(/^has started 3 tasks: /);
    expect(w.plans.flatMap((p) => p.events)).toEqual(w.eventLog());
  });

  it('restores a world from its snapshot exactly', () => {
    const w = new SimWorld();
    w.settle();
    expect(SimWorld.restore(w.snapshot()).snapshot()).toBe(w.snapshot());
  });
});

// ---------------------------------------------------------------------------------------------
// Interruptions.

/** Drops each write with probability `p`: CAS writes that fail, or a server that dies between them. */
const randomly = (seed: number, p: number): Crash => {
  const rnd = seededRandom(seed);
  return () => rnd() >= p;
};
/** Lets the first `k` writes of the plan through, then the server dies. */
const diesAfter = (k: number): Crash => {
  let n = 0;
  return () => n++ < k;
};

interface Scenario {
  readonly name: string;
  readonly options: WorldOptions;
  /** What happens to the settled world. */
  readonly act: (w: SimWorld) => void;
  /** The world after it settles again. */
  readonly expect: (w: SimWorld) => void;
}

const scenarios: Scenario[] = [
  {
    name: 'a rolling update (50 % / 150 %)',
    options: { desiredCount: 4, deploymentConfiguration: { minimumHealthyPercent: 50, maximumPercent: 150 } },
    act: (w) => w.updateService({ taskDefinition: REV2 }),
    expect: (w) => expect(w.running().map((t) => t.taskDefinitionArn)).toEqual([REV2, REV2, REV2, REV2]),
  },
  {
    name: 'a rolling update (100 % / 200 %)',
    options: { desiredCount: 3 },
    act: (w) => w.updateService({ taskDefinition: REV2 }),
    expect: (w) => expect(w.running().map((t) => t.taskDefinitionArn)).toEqual([REV2, REV2, REV2]),
  },
  {
    name: 'a drained instance',
    options: { desiredCount: 3 },
    act: (w) => w.drain('a'),
    expect: (w) => {
      expect(w.on('a')).toEqual([]);
      expect(w.running(REV1)).toHaveLength(3);
    },
  },
  {
    name: 'a lost host',
    options: { desiredCount: 3 },
    act: (w) => {
      w.disconnect('c');
      // Until the timeout the tasks there are presumed running and the service is steady.
      w.tick(w.settings.hostLossTimeoutSeconds);
    },
    expect: (w) => {
      expect(w.on('c').filter((t) => t.lastStatus !== 'STOPPED')).toEqual([]);
      expect(w.running(REV1).filter((t) => !t.containerInstanceArn!.endsWith('/c'))).toHaveLength(3);
    },
  },
  {
    name: 'a broken revision rolled back',
    options: { desiredCount: 4, deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } } },
    act: (w) => {
      w.setBehaviour(REV2, 'fails-to-start');
      w.updateService({ taskDefinition: REV2 });
    },
    expect: (w) => {
      expect(w.running(REV1)).toHaveLength(4);
      expect(w.primary()).toMatchObject({ taskDefinition: REV1, rolloutState: 'COMPLETED' });
      expect(w.eventLog().some((e) => e.startsWith('rolling back to deployment'))).toBe(true);
    },
  },
  {
    name: 'a DAEMON update',
    options: { schedulingStrategy: 'DAEMON', instances: ['a', 'b', 'c', 'd'], deploymentConfiguration: { minimumHealthyPercent: 50 } },
    act: (w) => w.updateService({ taskDefinition: REV2 }),
    expect: (w) => expect(['a', 'b', 'c', 'd'].map((i) => w.on(i).map((t) => t.taskDefinitionArn))).toEqual([[REV2], [REV2], [REV2], [REV2]]),
  },
  {
    name: 'a deleted service',
    options: { desiredCount: 3 },
    act: (w) => w.deleteService(),
    expect: (w) => expect(w.live()).toEqual([]),
  },
];

/** After the chaos: settled, exactly the desired tasks, all of the PRIMARY, one deployment. */
function settledCleanly(w: SimWorld): void {
  if (w.service.status !== 'ACTIVE') {
    w.runUntil((x) => x.service.status === 'INACTIVE');
    return;
  }
  w.settle();
  expect(w.service.deployments).toHaveLength(1);
  expect(w.live().every((t) => t.startedBy === w.primary().id)).toBe(true);
  expect(w.live()).toHaveLength(w.service.desiredCount);
}

describe('safe to rerun and interrupt', () => {
  describe.each(scenarios)('$name', (sc) => {
    it('converges with nothing lost', () => {
      const w = new SimWorld(sc.options);
      w.settle();
      sc.act(w);
      settledCleanly(w);
      sc.expect(w);
    });

    it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])('with writes lost at random (seed %i)', (seed) => {
      const w = new SimWorld(sc.options);
      const crash = randomly(seed, 0.4);
      // Creation under chaos too; the harness checks the bounds at every round.
      for (let i = 0; i < 15; i++) w.step(crash);
      w.settle();
      sc.act(w);
      for (let i = 0; i < 40; i++) w.step(crash);
      settledCleanly(w);
      sc.expect(w);
      expect(w.plans.some((p) => p.crashed)).toBe(true);
    });

    it.each([0, 1, 2, 3])('with the server dying after %i writes of each plan for a while', (k) => {
      const w = new SimWorld(sc.options);
      w.settle();
      sc.act(w);
      for (let i = 0; i < 10; i++) w.step(diesAfter(k));
      settledCleanly(w);
      sc.expect(w);
    });

    it('with a restart from the stored state alone, mid-way', () => {
      const w = new SimWorld(sc.options);
      w.settle();
      sc.act(w);
      w.step();
      w.step();
      const restarted = SimWorld.restore(w.snapshot());
      settledCleanly(restarted);
      sc.expect(restarted);
    });
  });

  it('loses no task when the service write is lost but the tasks were created', () => {
    const w = new SimWorld();
    const r = w.reconcile(({ kind }) => kind !== 'service');
    expect(r.placed).toHaveLength(3);
    expect(w.service.pendingCount).toBe(0);
    const next = w.reconcile();
    expect(next.decision.starts).toEqual([]);
    expect(w.service.pendingCount).toBe(3);
    w.settle();
    expect(w.tasks.size).toBe(3);
  });

  it('does the same again when a whole round is lost', () => {
    const w = new SimWorld();
    w.settle();
    w.updateService({ taskDefinition: REV2 });
    const lost = w.reconcile(() => false);
    const again = w.reconcile();
    expect(again.decision).toEqual(lost.decision);
  });
});
