/**
 * task-plan: the reconciler driven by a harness that plays the task manager (applies each action's
 * effect, then lets the test say what the world did) and records every decision with its time.
 */
import { describe, expect, it } from 'vitest';
import type { HealthStatus } from './protocol.js';
import {
  containerStatusOf, DEFAULT_STOP_TIMEOUT_MS, dependencyVerdict, type NetworkPhase, type Plan, type PlanContainer, type PlanDependency,
  type PlanTask, planTask, taskHealth,
} from './task-plan.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Spec {
  essential?: boolean;
  dependsOn?: PlanDependency[];
  stopTimeoutMs?: number;
  startTimeoutMs?: number;
  hasHealthCheck?: boolean;
}

/**
 * A task as the task manager would hold it. `step()` plans at the current time, applies the
 * actions' immediate effects and records one line: `t=<ms> <STATUS> <action> …`.
 */
class Harness {
  now = 0;
  readonly log: string[] = [];
  readonly task: Mutable<PlanTask>;
  readonly containers = new Map<string, Mutable<PlanContainer>>();
  stopCode: string | undefined;
  stopReason: string | undefined;
  last: Plan | undefined;

  constructor(specs: Record<string, Spec>, options: { networkMode?: PlanTask['networkMode']; network?: NetworkPhase } = {}) {
    for (const [name, s] of Object.entries(specs)) {
      this.containers.set(name, {
        name, essential: s.essential ?? true, dependsOn: s.dependsOn ?? [], stopTimeoutMs: s.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
        ...(s.startTimeoutMs === undefined ? {} : { startTimeoutMs: s.startTimeoutMs }),
        hasHealthCheck: s.hasHealthCheck ?? false, phase: 'waiting', since: 0,
      });
    }
    this.task = { desiredStatus: 'RUNNING', networkMode: options.networkMode ?? 'bridge', network: options.network ?? 'pending', containers: [] };
  }

  c(name: string): Mutable<PlanContainer> {
    const c = this.containers.get(name);
    if (!c) throw new Error(`no container ${name}`);
    return c;
  }

  private set(name: string, change: Partial<PlanContainer>): void {
    Object.assign(this.c(name), change);
  }

  step(): Plan {
    this.task.containers = [...this.containers.values()];
    const plan = planTask(this.task, this.now);
    this.last = plan;
    for (const a of plan.actions) {
      switch (a.type) {
        case 'provision': this.task.network = 'provisioning'; break;
        case 'release': this.task.network = 'releasing'; break;
        case 'pull': this.set(a.container, { phase: 'pulling', since: this.now }); break;
        case 'start': this.set(a.container, { phase: 'starting', since: this.now }); break;
        case 'signal': this.set(a.container, { phase: 'stopping', since: this.now, signalledAt: this.now }); break;
        case 'kill': this.set(a.container, { killedAt: this.now }); break;
        case 'abandon': this.set(a.container, { phase: 'stopped', since: this.now, ...(a.reason === undefined ? {} : { reason: a.reason }) }); break;
        case 'stopTask':
          this.task.desiredStatus = 'STOPPED';
          this.stopCode = a.stopCode;
          this.stopReason = a.reason;
          break;
      }
    }
    const words = plan.actions.map((a) => {
      if (a.type === 'stopTask') return `stopTask(${a.stopCode})`;
      return 'container' in a ? `${a.type}:${a.container}` : a.type;
    });
    this.log.push([`t=${this.now}`, plan.taskStatus, ...words].join(' '));
    return plan;
  }

  at(ms: number): this {
    this.now = ms;
    return this;
  }

  // What the world did, as the task manager would record it.
  provisioned(ok = true): this {
    this.task.network = ok ? 'ready' : 'failed';
    if (!ok) this.task.networkError = 'no free address';
    return this;
  }
  released(): this {
    this.task.network = 'released';
    return this;
  }
  pulled(...names: string[]): this {
    for (const n of names) this.set(n, { phase: 'pulled', since: this.now });
    return this;
  }
  pullFailed(name: string): this {
    this.set(name, { phase: 'stopped', since: this.now, reason: 'CannotPullContainerError: not found' });
    return this;
  }
  started(...names: string[]): this {
    for (const n of names) this.set(n, { phase: 'running', since: this.now, startedAt: this.now });
    return this;
  }
  startFailed(name: string): this {
    this.set(name, { phase: 'stopped', since: this.now, reason: 'CannotStartContainerError: exec: no such file' });
    return this;
  }
  exited(name: string, exitCode: number): this {
    this.set(name, { phase: 'stopped', since: this.now, exitCode });
    return this;
  }
  health(name: string, health: HealthStatus): this {
    this.set(name, { health });
    return this;
  }
  stop(): this {
    this.task.desiredStatus = 'STOPPED';
    return this;
  }

  /** Runs every container through pull and start as the plan asks, until it asks nothing more. */
  bringUp(): this {
    for (let i = 0; i < 10; i++) {
      const plan = this.step();
      if (plan.actions.length === 0) break;
      for (const a of plan.actions) {
        if (a.type === 'provision') this.provisioned();
        if (a.type === 'pull') this.pulled(a.container);
        if (a.type === 'start') this.started(a.container);
      }
    }
    return this;
  }
}

describe('bringing a task up', () => {
  it('provisions, pulls every image at once, starts, and reports RUNNING once the essential containers run', () => {
    const h = new Harness({ web: {}, sidecar: { essential: false } });
    h.step();
    h.provisioned().pulled('web').step();
    h.pulled('sidecar').step();
    h.started('web').step();
    h.started('sidecar').step();
    expect(h.log).toEqual([
      't=0 PENDING provision pull:web pull:sidecar',
      't=0 PENDING start:web',
      't=0 PENDING start:sidecar',
      't=0 RUNNING',
      't=0 RUNNING',
    ]);
  });

  it('starts nothing until the network is ready, and shows PROVISIONING meanwhile in awsvpc', () => {
    const h = new Harness({ web: {} }, { networkMode: 'awsvpc' });
    h.step();
    h.pulled('web').step();
    h.provisioned().step();
    h.started('web').step();
    expect(h.log).toEqual(['t=0 PROVISIONING provision pull:web', 't=0 PROVISIONING', 't=0 PENDING start:web', 't=0 RUNNING']);
  });

  it('does not act twice on work under way', () => {
    const h = new Harness({ web: {} });
    h.step();
    expect(h.step().actions).toEqual([]);
    h.provisioned().pulled('web').step();
    expect(h.step().actions).toEqual([]);
  });

  it('keeps a task RUNNING when a non-essential container exits', () => {
    const h = new Harness({ web: {}, job: { essential: false } }).bringUp();
    h.exited('job', 3).step();
    expect(h.log.at(-1)).toBe('t=0 RUNNING');
    expect(h.task.desiredStatus).toBe('RUNNING');
  });

  it('fails a task with no containers', () => {
    const h = new Harness({});
    h.step();
    expect(h.log).toEqual(['t=0 STOPPED stopTask(TaskFailedToStart)']);
    expect(h.stopReason).toBe('The task has no containers');
  });
});

describe('dependsOn', () => {
  it('web waits for init to SUCCEED, then starts', () => {
    const h = new Harness({ init: { essential: false }, web: { dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }] } });
    h.step();
    h.provisioned().pulled('init', 'web').step();
    h.at(100).started('init').step();
    h.at(200).exited('init', 0).step();
    h.at(300).started('web').step();
    expect(h.log).toEqual([
      't=0 PENDING provision pull:init pull:web',
      't=0 PENDING start:init',
      't=100 PENDING',
      't=200 PENDING start:web',
      't=300 RUNNING',
    ]);
  });

  it('START is met once the dependency runs; COMPLETE on any exit; HEALTHY on a healthy running dependency', () => {
    const start = new Harness({ db: {}, app: { dependsOn: [{ containerName: 'db', condition: 'START' }] } });
    start.step();
    start.provisioned().pulled('db', 'app').step();
    start.started('db').step();
    expect(start.log.slice(1)).toEqual(['t=0 PENDING start:db', 't=0 PENDING start:app']);

    const complete = new Harness({ migrate: { essential: false }, app: { dependsOn: [{ containerName: 'migrate', condition: 'COMPLETE' }] } });
    complete.step();
    complete.provisioned().pulled('migrate', 'app').step();
    complete.started('migrate').step();
    complete.exited('migrate', 7).step();
    expect(complete.log.slice(1)).toEqual(['t=0 PENDING start:migrate', 't=0 PENDING', 't=0 PENDING start:app']);

    const healthy = new Harness({ db: { hasHealthCheck: true }, app: { dependsOn: [{ containerName: 'db', condition: 'HEALTHY' }] } });
    healthy.step();
    healthy.provisioned().pulled('db', 'app').step();
    healthy.started('db').health('db', 'UNKNOWN').step();
    healthy.health('db', 'UNHEALTHY').step(); // may still recover: keep waiting
    healthy.health('db', 'HEALTHY').step();
    expect(healthy.log.slice(1)).toEqual(['t=0 PENDING start:db', 't=0 PENDING', 't=0 PENDING', 't=0 PENDING start:app']);
  });

  it('fails the task when an essential container’s condition can never be met (init exits 1 before web needs SUCCESS)', () => {
    const h = new Harness({ init: { essential: false }, web: { dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }] } });
    h.step();
    h.provisioned().pulled('init', 'web').step();
    h.started('init').step();
    h.at(50).exited('init', 1).step();
    expect(h.log.at(-1)).toBe('t=50 DEPROVISIONING abandon:web stopTask(TaskFailedToStart) release');
    expect(h.stopCode).toBe('TaskFailedToStart');
    expect(h.stopReason).toBe('Container web cannot start: its dependency on init (SUCCESS) can never be met: it exited with code 1');
    expect(h.c('web').reason).toBe(h.stopReason);
  });

  it('abandons a non-essential container whose condition fails, and whatever depends on it, the task going on', () => {
    const h = new Harness({
      web: {},
      warm: { essential: false, dependsOn: [{ containerName: 'seed', condition: 'SUCCESS' }] },
      report: { essential: false, dependsOn: [{ containerName: 'warm', condition: 'START' }] },
      seed: { essential: false },
    });
    h.step();
    h.provisioned().pulled('web', 'warm', 'report', 'seed').step();
    h.started('web', 'seed').step();
    h.exited('seed', 2).step();
    expect(h.log.slice(1)).toEqual([
      't=0 PENDING start:web start:seed',
      't=0 RUNNING',
      't=0 RUNNING abandon:warm abandon:report',
    ]);
    expect(h.c('report').reason).toMatch(/dependency on warm \(START\) can never be met: it stopped without starting/);
    expect(h.task.desiredStatus).toBe('RUNNING');
  });

  it('names each way a condition can fail', () => {
    const waiter = { since: 0 };
    const never = (condition: PlanDependency['condition'], dep: Parameters<typeof dependencyVerdict>[2]): string | undefined => {
      const v = dependencyVerdict(waiter, condition, dep, 0);
      return v.met ? 'met' : v.never;
    };
    const stoppedUnstarted = { phase: 'stopped' as const };
    const exited = (exitCode: number) => ({ phase: 'stopped' as const, startedAt: 1, exitCode });
    expect(never('START', undefined)).toBe('it is not a container of the task');
    expect(never('START', stoppedUnstarted)).toBe('it stopped without starting');
    expect(never('START', exited(1))).toBe('met');
    expect(never('COMPLETE', stoppedUnstarted)).toBe('it stopped without starting');
    expect(never('COMPLETE', exited(9))).toBe('met');
    expect(never('SUCCESS', exited(0))).toBe('met');
    expect(never('SUCCESS', exited(137))).toBe('it exited with code 137');
    expect(never('SUCCESS', { phase: 'stopped', startedAt: 1 })).toBe('it exited with code unknown');
    expect(never('SUCCESS', stoppedUnstarted)).toBe('it stopped without starting');
    expect(never('HEALTHY', { phase: 'stopped', startedAt: 1, health: 'HEALTHY' })).toBe('it stopped before it was HEALTHY');
    expect(never('HEALTHY', { phase: 'stopping', startedAt: 1, health: 'HEALTHY' })).toBe('met');
    expect(never('HEALTHY', { phase: 'running', startedAt: 1 })).toBeUndefined();
    expect(never('COMPLETE', { phase: 'running', startedAt: 1 })).toBeUndefined();
  });

  it('gives up on a dependency after its startTimeout, waking the task manager at the deadline', () => {
    const h = new Harness({ db: { startTimeoutMs: 5000, hasHealthCheck: true }, app: { dependsOn: [{ containerName: 'db', condition: 'HEALTHY' }] } });
    h.step();
    h.provisioned().pulled('db').step();
    h.at(1000).pulled('app').started('db');
    expect(h.step().wakeAt).toBe(6000);
    expect(h.at(5999).step().actions).toEqual([]);
    h.at(6000).step();
    expect(h.log.at(-1)).toBe('t=6000 STOPPING abandon:app stopTask(TaskFailedToStart) signal:db');
    expect(h.stopReason).toBe('Container app cannot start: its dependency on db (HEALTHY) can never be met: it did not reach HEALTHY within its startTimeout (5 s)');
  });
});

describe('stopping', () => {
  it('stops the task when an essential container exits: the others get their stop signal, the network is released, STOPPED', () => {
    const h = new Harness({ web: {}, sidecar: { essential: false } }).bringUp();
    h.at(1000).exited('web', 3).step();
    h.at(1100).exited('sidecar', 143).step();
    h.released().step();
    expect(h.log.slice(-3)).toEqual([
      't=1000 STOPPING stopTask(EssentialContainerExited) signal:sidecar',
      't=1100 DEPROVISIONING release',
      't=1100 STOPPED',
    ]);
    expect(h.stopReason).toBe('Essential container in task exited');
  });

  it('sends SIGKILL stopTimeout after the stop signal to a container that ignores it', () => {
    const h = new Harness({ web: { stopTimeoutMs: 2000 } }).bringUp();
    const plan = h.at(500).stop().step();
    expect(plan.wakeAt).toBe(2500);
    expect(h.at(2499).step().actions).toEqual([]);
    h.at(2500).step();
    expect(h.at(2600).step().actions).toEqual([]); // killed once
    h.at(2700).exited('web', 137).step();
    expect(h.log.slice(-5)).toEqual([
      't=500 STOPPING signal:web', 't=2499 STOPPING', 't=2500 STOPPING kill:web', 't=2600 STOPPING', 't=2700 DEPROVISIONING release',
    ]);
  });

  it('kills at once with a stopTimeout of 0', () => {
    const h = new Harness({ web: { stopTimeoutMs: 0 } }).bringUp();
    h.stop().step();
    expect(h.log.at(-1)).toBe('t=0 STOPPING signal:web kill:web');
  });

  it('stops containers in reverse dependency order: dependents first', () => {
    const h = new Harness({
      db: {},
      app: { dependsOn: [{ containerName: 'db', condition: 'START' }] },
      proxy: { dependsOn: [{ containerName: 'app', condition: 'START' }] },
    }).bringUp();
    expect(h.log.at(-1)).toBe('t=0 RUNNING');
    h.at(10).stop().step();
    h.at(20).exited('proxy', 0).step();
    h.at(30).exited('app', 0).step();
    h.at(40).exited('db', 0).step();
    expect(h.log.slice(-4)).toEqual([
      't=10 STOPPING signal:proxy',
      't=20 STOPPING signal:app',
      't=30 STOPPING signal:db',
      't=40 DEPROVISIONING release',
    ]);
  });

  it('abandons containers not started yet, waits for one starting, then stops it', () => {
    const h = new Harness({ web: {}, slow: { essential: false }, late: { essential: false } });
    h.step();
    h.provisioned().pulled('web').step(); // web starting; slow and late still pulling
    h.pulled('late').stop().step();
    expect(h.log.at(-1)).toBe('t=0 STOPPING abandon:slow abandon:late');
    h.started('web').step();
    h.exited('web', 143).step();
    expect(h.log.slice(-2)).toEqual(['t=0 STOPPING signal:web', 't=0 DEPROVISIONING release']);
    expect(h.c('slow')).toMatchObject({ phase: 'stopped' });
    expect(h.c('slow').reason).toBeUndefined();
  });

  it('a task stopped before anything was provisioned is STOPPED at once, with nothing to release', () => {
    const h = new Harness({ web: {} });
    h.stop().step();
    expect(h.log).toEqual(['t=0 STOPPED abandon:web']);
  });

  it('waits for a network being provisioned before releasing it', () => {
    const h = new Harness({ web: {} }, { networkMode: 'awsvpc' });
    h.step();
    h.stop().step();
    expect(h.log.at(-1)).toBe('t=0 DEPROVISIONING abandon:web');
    h.provisioned().step();
    h.released().step();
    expect(h.log.slice(-2)).toEqual(['t=0 DEPROVISIONING release', 't=0 STOPPED']);
  });

  it('does not decide a second stop code once the task is stopping', () => {
    const h = new Harness({ a: {}, b: {} }).bringUp();
    h.exited('a', 1).step();
    h.exited('b', 1).step();
    expect(h.log.slice(-2)).toEqual(['t=0 STOPPING stopTask(EssentialContainerExited) signal:b', 't=0 DEPROVISIONING release']);
  });
});

describe('failures to start', () => {
  it('a pull failure of an essential container fails the task with the pull error as reason', () => {
    const h = new Harness({ web: {}, side: { essential: false } });
    h.step();
    h.provisioned().pullFailed('web').step();
    expect(h.log.at(-1)).toBe('t=0 DEPROVISIONING stopTask(TaskFailedToStart) abandon:side release');
    expect(h.stopReason).toBe('CannotPullContainerError: not found');
  });

  it('a start failure of an essential container fails the task; of a non-essential one, only that container', () => {
    const h = new Harness({ web: {}, side: { essential: false } });
    h.step();
    h.provisioned().pulled('web', 'side').step();
    expect(h.log.at(-1)).toBe('t=0 PENDING start:web start:side');
    h.startFailed('side').step();
    expect(h.task.desiredStatus).toBe('RUNNING');
    h.startFailed('web').step();
    expect(h.stopCode).toBe('TaskFailedToStart');
    expect(h.stopReason).toBe('CannotStartContainerError: exec: no such file');
  });

  it('an essential container stopped without a reason still names itself', () => {
    const h = new Harness({ web: {} });
    h.step();
    h.provisioned().c('web').phase = 'stopped';
    h.step();
    expect(h.stopReason).toBe('Essential container web did not start');
  });

  it('a network that cannot be set up fails the task with ResourceInitializationError', () => {
    const h = new Harness({ web: {} }, { networkMode: 'awsvpc' });
    h.step();
    h.provisioned(false).pulled('web').step();
    expect(h.log.at(-1)).toBe('t=0 DEPROVISIONING stopTask(TaskFailedToStart) abandon:web release');
    expect(h.stopReason).toBe('ResourceInitializationError: no free address');
  });
});

describe('health', () => {
  it('counts only essential containers with a health check', () => {
    expect(taskHealth([])).toBe('UNKNOWN');
    expect(taskHealth([{ essential: true, hasHealthCheck: false }])).toBe('UNKNOWN');
    expect(taskHealth([{ essential: true, hasHealthCheck: true, health: 'HEALTHY' }, { essential: false, hasHealthCheck: true, health: 'UNHEALTHY' }])).toBe('HEALTHY');
    expect(taskHealth([{ essential: true, hasHealthCheck: true, health: 'HEALTHY' }, { essential: true, hasHealthCheck: true, health: 'UNKNOWN' }])).toBe('UNKNOWN');
    expect(taskHealth([{ essential: true, hasHealthCheck: true, health: 'HEALTHY' }, { essential: true, hasHealthCheck: true, health: 'UNHEALTHY' }])).toBe('UNHEALTHY');
    expect(taskHealth([{ essential: true, hasHealthCheck: true }])).toBe('UNKNOWN');
  });

  it('reports the task’s health and does not stop it for an unhealthy container (the service scheduler decides)', () => {
    const h = new Harness({ web: { hasHealthCheck: true } }).bringUp();
    expect(h.health('web', 'HEALTHY').step().healthStatus).toBe('HEALTHY');
    const plan = h.health('web', 'UNHEALTHY').step();
    expect(plan.healthStatus).toBe('UNHEALTHY');
    expect(plan.actions).toEqual([]);
  });
});

describe('containerStatusOf', () => {
  it('maps phases to ECS container statuses', () => {
    expect(['waiting', 'pulling', 'pulled', 'starting', 'running', 'stopping', 'stopped'].map((p) => containerStatusOf(p as PlanContainer['phase'])))
      .toEqual(['PENDING', 'PENDING', 'PENDING', 'PENDING', 'RUNNING', 'RUNNING', 'STOPPED']);
  });
});
