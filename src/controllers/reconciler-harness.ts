/**
 * A test helper: a tiny simulated world (instances, one service, its tasks, a clock) in which the
 * service reconciler's decisions are applied and recorded, so tests read as scenarios and every
 * round is checked against the percent bounds by code independent of the reconciler's own.
 */
import { newDeployment, startDeployment, type DeploymentConfiguration, type SchedulingStrategy, type Service } from '../ecs/service-shape.js';
import type { TaskStopCode } from '../ecs/task-shape.js';
import type { TaskView } from './deployments.js';
import {
  reconcileService,
  recordPlacements,
  type InstanceView,
  type PlacementResult,
  type ReconcileInput,
  type ReconcileSettings,
  type ServiceDecision,
  type TaskStart,
} from './service-reconciler.js';

const REGION_ACCOUNT = 'arn:aws:ecs:us-east-1:000000000000';
const CLUSTER = 'sim';

/** How a revision's tasks behave once an agent runs them. */
export type Behaviour =
  /** Has a container health check and passes it. */
  | 'healthy'
  /** No health check: healthy on RUNNING. */
  | 'plain'
  /** Never reaches RUNNING (a bad image): PENDING → STOPPED, TaskFailedToStart. */
  | 'fails-to-start'
  /** Has a health check and fails it. */
  | 'unhealthy'
  /** No health check; its essential container exits right after RUNNING. */
  | 'crashes';

export const taskDefinitionArn = (family: string, revision: number): string => `${REGION_ACCOUNT}:task-definition/${family}:${revision}`;
export const instanceArn = (name: string): string => `${REGION_ACCOUNT}:container-instance/${CLUSTER}/${name}`;

export interface SimInstance {
  readonly name: string;
  status: 'ACTIVE' | 'DRAINING';
  agentConnected: boolean;
  disconnectedSince?: number;
  /** Tasks of this service the instance holds at most (placement refuses beyond). */
  capacity: number;
  daemonEligible: boolean;
  replicaTaskCount: number;
}

type SimTask = { -readonly [K in keyof TaskView]: TaskView[K] };

/** The harness's own, simpler idea of healthy (no load balancers here): RUNNING, and HEALTHY if checked. */
const isHealthy = (t: SimTask): boolean =>
  t.desiredStatus === 'RUNNING' && t.lastStatus === 'RUNNING' && (t.containers.every((c) => c.healthStatus === undefined) || t.healthStatus === 'HEALTHY');

/** What a crash lets through: called for each write of a plan, in order; false drops it. */
export type Crash = (write: { readonly kind: 'lost' | 'stop' | 'start' | 'service'; readonly index: number }) => boolean;

/** One round as recorded: the decision, what was placed, and what survived a crash. */
export interface PlanRecord {
  readonly step: number;
  readonly now: number;
  readonly decision: ServiceDecision;
  readonly placed: readonly string[];
  readonly unplaced: number;
  readonly crashed: boolean;
  /** The events this round added, oldest first. */
  readonly events: readonly string[];
}

export interface WorldOptions {
  readonly desiredCount?: number;
  readonly taskDefinition?: string;
  readonly behaviour?: Behaviour;
  readonly schedulingStrategy?: SchedulingStrategy;
  readonly deploymentConfiguration?: Partial<DeploymentConfiguration>;
  readonly instances?: readonly string[];
  readonly settings?: Partial<ReconcileSettings>;
  /** Seconds each step advances the clock. */
  readonly stepSeconds?: number;
  /** The reconciler under test (a deliberately wrong one shows the bound checks can fail). */
  readonly reconciler?: (input: ReconcileInput) => ServiceDecision;
}

/** A deterministic pseudo-random source (mulberry32) for crash patterns. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A world with one service. Every reconcile checks the bounds and throws on a breach. */
export class SimWorld {
  now = 1_700_000_000;
  service: Service;
  readonly instances = new Map<string, SimInstance>();
  readonly tasks = new Map<string, SimTask>();
  readonly behaviours = new Map<string, Behaviour>();
  readonly plans: PlanRecord[] = [];
  readonly settings: ReconcileSettings;
  readonly stepSeconds: number;
  private readonly reconciler: (input: ReconcileInput) => ServiceDecision;
  private nextTask = 1;
  private nextDeployment = 1;

  constructor(opts: WorldOptions = {}) {
    const strategy = opts.schedulingStrategy ?? 'REPLICA';
    const daemon = strategy === 'DAEMON';
    const td = opts.taskDefinition ?? taskDefinitionArn('web', 1);
    this.behaviours.set(td, opts.behaviour ?? 'healthy');
    this.settings = { hostLossTimeoutSeconds: 300, ...opts.settings };
    this.stepSeconds = opts.stepSeconds ?? 10;
    this.reconciler = opts.reconciler ?? reconcileService;
    for (const name of opts.instances ?? ['a', 'b', 'c']) this.addInstance(name);
    const desiredCount = daemon ? 0 : (opts.desiredCount ?? 3);
    const deploymentConfiguration: DeploymentConfiguration = {
      deploymentCircuitBreaker: { enable: false, rollback: false },
      maximumPercent: daemon ? 100 : 200,
      minimumHealthyPercent: daemon ? 0 : 100,
      strategy: 'ROLLING',
      ...opts.deploymentConfiguration,
    };
    this.service = {
      serviceArn: `${REGION_ACCOUNT}:service/${CLUSTER}/web`,
      serviceName: 'web',
      clusterArn: `${REGION_ACCOUNT}:cluster/${CLUSTER}`,
      loadBalancers: [],
      serviceRegistries: [],
      status: 'ACTIVE',
      desiredCount,
      runningCount: 0,
      pendingCount: 0,
      launchType: 'EC2',
      taskDefinition: td,
      deploymentConfiguration,
      deployments: [newDeployment(this.deploymentId(), { taskDefinition: td, desiredCount, launchType: 'EC2', reportsRollout: true }, this.now)],
      roleArn: 'arn:aws:iam::000000000000:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS',
      events: [],
      createdAt: this.now,
      placementConstraints: [],
      placementStrategy: [],
      schedulingStrategy: strategy,
      deploymentController: { type: 'ECS' },
      tags: [],
      createdBy: 'arn:aws:iam::000000000000:root',
      enableECSManagedTags: false,
      propagateTags: 'NONE',
      enableExecuteCommand: false,
      availabilityZoneRebalancing: 'DISABLED',
    };
  }

  /** Everything the store would hold, as JSON: a restarted server sees only this. */
  snapshot(): string {
    return JSON.stringify({
      now: this.now,
      service: this.service,
      instances: [...this.instances.values()].map((i) => ({ ...i, capacity: Number.isFinite(i.capacity) ? i.capacity : null })),
      tasks: [...this.tasks.values()],
      behaviours: [...this.behaviours],
      nextTask: this.nextTask,
      nextDeployment: this.nextDeployment,
    });
  }

  /** A world that carries on from a snapshot, with nothing else of the one that took it (a restart). */
  static restore(snapshot: string, opts: Pick<WorldOptions, 'settings' | 'stepSeconds' | 'reconciler'> = {}): SimWorld {
    const s = JSON.parse(snapshot) as {
      now: number;
      service: Service;
      instances: Array<Omit<SimInstance, 'capacity'> & { capacity: number | null }>;
      tasks: SimTask[];
      behaviours: Array<[string, Behaviour]>;
      nextTask: number;
      nextDeployment: number;
    };
    const w = new SimWorld({ ...opts, instances: [] });
    w.now = s.now;
    w.service = s.service;
    for (const i of s.instances) w.instances.set(instanceArn(i.name), { ...i, capacity: i.capacity ?? Infinity });
    for (const t of s.tasks) w.tasks.set(t.taskArn, t);
    w.behaviours.clear();
    for (const [td, b] of s.behaviours) w.behaviours.set(td, b);
    w.nextTask = s.nextTask;
    w.nextDeployment = s.nextDeployment;
    return w;
  }

  // ---- the world, as tests change it ----------------------------------------------------------

  addInstance(name: string, opts: Partial<Omit<SimInstance, 'name'>> = {}): void {
    this.instances.set(instanceArn(name), { name, status: 'ACTIVE', agentConnected: true, capacity: Infinity, daemonEligible: true, replicaTaskCount: 0, ...opts });
  }
  /** DeregisterContainerInstance with force: the instance is gone, its tasks are not. */
  removeInstance(name: string): void {
    this.instances.delete(instanceArn(name));
  }
  instance(name: string): SimInstance {
    const i = this.instances.get(instanceArn(name));
    if (i === undefined) throw new Error(`no instance ${name}`);
    return i;
  }
  drain(name: string): void {
    this.instance(name).status = 'DRAINING';
  }
  disconnect(name: string): void {
    const i = this.instance(name);
    i.agentConnected = false;
    i.disconnectedSince = this.now;
  }
  reconnect(name: string): void {
    const i = this.instance(name);
    i.agentConnected = true;
    delete i.disconnectedSince;
  }
  setBehaviour(taskDefinition: string, behaviour: Behaviour): void {
    this.behaviours.set(taskDefinition, behaviour);
  }

  /** UpdateService as services.ts does it: a new task definition starts a new PRIMARY deployment. */
  updateService(change: { taskDefinition?: string; desiredCount?: number; deploymentConfiguration?: Partial<DeploymentConfiguration> }): void {
    const s = this.service;
    const desiredCount = change.desiredCount ?? s.desiredCount;
    let deployments = s.deployments.map((d) => (d.status === 'PRIMARY' ? { ...d, desiredCount, updatedAt: this.now } : d));
    if (change.taskDefinition !== undefined && change.taskDefinition !== s.taskDefinition) {
      const next = newDeployment(this.deploymentId(), { taskDefinition: change.taskDefinition, desiredCount, launchType: 'EC2', reportsRollout: true }, this.now);
      deployments = startDeployment(deployments, next, this.now);
    }
    this.service = {
      ...s,
      desiredCount,
      ...(change.taskDefinition === undefined ? {} : { taskDefinition: change.taskDefinition }),
      deploymentConfiguration: { ...s.deploymentConfiguration, ...change.deploymentConfiguration },
      deployments,
    };
  }

  /** DeleteService with force: DRAINING, desired 0; the reconciler stops the rest. */
  deleteService(): void {
    this.service = {
      ...this.service,
      status: 'DRAINING',
      desiredCount: 0,
      deployments: this.service.deployments.map((d) => (d.status === 'PRIMARY' ? { ...d, desiredCount: 0, updatedAt: this.now } : d)),
    };
  }

  /** The essential container of a running task exits (a killed container). */
  kill(taskArn: string): void {
    this.finish(this.task(taskArn), 'EssentialContainerExited', 'Essential container in task exited');
  }
  setHealth(taskArn: string, health: 'HEALTHY' | 'UNHEALTHY'): void {
    const t = this.task(taskArn);
    t.healthStatus = health;
    t.containers = [{ healthStatus: health }];
  }
  task(taskArn: string): SimTask {
    const t = this.tasks.get(taskArn);
    if (t === undefined) throw new Error(`no task ${taskArn}`);
    return t;
  }

  // ---- reading it -----------------------------------------------------------------------------

  /** Tasks meant to run and not yet stopped. */
  live(): SimTask[] {
    return [...this.tasks.values()].filter((t) => t.desiredStatus === 'RUNNING' && t.lastStatus !== 'STOPPED');
  }
  running(taskDefinition?: string): SimTask[] {
    return this.live().filter((t) => t.lastStatus === 'RUNNING' && (taskDefinition === undefined || t.taskDefinitionArn === taskDefinition));
  }
  on(name: string): SimTask[] {
    return this.live().filter((t) => t.containerInstanceArn === instanceArn(name));
  }
  primary() {
    return this.service.deployments.find((d) => d.status === 'PRIMARY')!;
  }
  /** Event messages, oldest first, without the `(service web) ` prefix. */
  eventLog(): string[] {
    return this.service.events.map((e) => e.message.replace(/^\(service [^)]+\) /, '')).reverse();
  }
  /** What `aws ecs wait services-stable` waits for. */
  stable(): boolean {
    return this.service.deployments.length === 1 && this.service.runningCount === this.service.desiredCount && this.service.pendingCount === 0;
  }

  // ---- time and rounds ------------------------------------------------------------------------

  /** The agents act (one lifecycle move per task), then the clock advances. */
  tick(seconds = this.stepSeconds): void {
    for (const t of [...this.tasks.values()]) {
      const inst = t.containerInstanceArn === undefined ? undefined : this.instances.get(t.containerInstanceArn);
      if (inst === undefined || !inst.agentConnected || t.lastStatus === 'STOPPED') continue;
      this.agentMove(t);
    }
    this.now += seconds;
  }

  private agentMove(t: SimTask): void {
    const b = this.behaviours.get(t.taskDefinitionArn) ?? 'healthy';
    if (t.desiredStatus === 'STOPPED') {
      t.lastStatus = 'STOPPED';
      t.stoppedAt = this.now;
      return;
    }
    if (t.lastStatus === 'PENDING') {
      if (b === 'fails-to-start') return this.finish(t, 'TaskFailedToStart', 'CannotPullContainerError: pull image manifest has been retried 5 time(s)');
      t.lastStatus = 'RUNNING';
      t.startedAt = this.now;
      return;
    }
    if (t.lastStatus !== 'RUNNING') return;
    if (b === 'crashes') return this.finish(t, 'EssentialContainerExited', 'Essential container in task exited');
    if ((b === 'healthy' || b === 'unhealthy') && t.healthStatus === 'UNKNOWN') this.setHealth(t.taskArn, b === 'healthy' ? 'HEALTHY' : 'UNHEALTHY');
  }

  private finish(t: SimTask, stopCode: TaskStopCode, reason: string): void {
    t.lastStatus = 'STOPPED';
    t.desiredStatus = 'STOPPED';
    t.stopCode ??= stopCode;
    t.stoppedReason ??= reason;
    t.stoppingAt ??= this.now;
    t.stoppedAt = this.now;
  }

  /** One round: the agents move, the clock advances, the reconciler decides and its plan is applied. */
  step(crash?: Crash): PlanRecord {
    this.tick();
    return this.reconcile(crash);
  }

  /** Steps until `done` holds after a round; throws after `maxSteps`. Returns the rounds taken. */
  runUntil(done: (w: this) => boolean, maxSteps = 100, crash?: (step: number) => Crash | undefined): number {
    for (let i = 1; i <= maxSteps; i++) {
      this.step(crash?.(i));
      if (done(this)) return i;
    }
    throw new Error(`not done after ${maxSteps} steps; last events:\n${this.eventLog().slice(-8).join('\n')}`);
  }

  /** Steps until a round decides nothing and the service is stable, with its primary no longer IN_PROGRESS. */
  settle(maxSteps = 100): number {
    return this.runUntil((w) => {
      const d = w.plans.at(-1)!.decision;
      const quiet = d.starts.length === 0 && d.stops.length === 0 && d.lost.length === 0;
      return quiet && w.stable() && w.primary().rolloutState !== 'IN_PROGRESS' && w.live().every(isHealthy);
    }, maxSteps);
  }

  /** Runs the reconciler on the world as it is and applies the plan (all of it, or what `crash` lets through). */
  reconcile(crash?: Crash): PlanRecord {
    const decision = this.reconciler({ service: this.service, tasks: [...this.tasks.values()], instances: this.instanceViews(), settings: this.settings, now: this.now });
    this.checkBounds(decision);
    const keep = crash ?? (() => true);
    const before = this.service.events.length === 0 ? undefined : this.service.events[0];

    decision.lost.forEach((l, index) => {
      if (!keep({ kind: 'lost', index })) return;
      const t = this.task(l.taskArn);
      t.lastStatus = 'STOPPED';
      t.desiredStatus = 'STOPPED';
      t.stopCode = l.stopCode;
      t.stoppedReason = l.reason;
      t.stoppingAt ??= this.now;
      t.stoppedAt = this.now;
    });
    decision.stops.forEach((s, index) => {
      if (!keep({ kind: 'stop', index })) return;
      const t = this.task(s.taskArn);
      if (t.desiredStatus === 'STOPPED') return;
      t.desiredStatus = 'STOPPED';
      t.stopCode = s.stopCode;
      t.stoppedReason = s.reason;
      t.stoppingAt = this.now;
    });
    const results: PlacementResult[] = [];
    decision.starts.forEach((start, index) => {
      if (keep({ kind: 'start', index })) results.push(this.place(start));
    });
    const serviceKept = keep({ kind: 'service', index: 0 });
    if (serviceKept) this.service = recordPlacements(decision, results, this.now);

    const events = this.service.events;
    const fresh = before === undefined ? events : events.slice(0, events.indexOf(before) === -1 ? events.length : events.indexOf(before));
    const record: PlanRecord = {
      step: this.plans.length + 1,
      now: this.now,
      decision,
      placed: results.flatMap((r) => r.taskArns),
      unplaced: results.reduce((n, r) => n + r.start.count - r.taskArns.length, 0),
      crashed: crash !== undefined,
      events: fresh.map((e) => e.message.replace(/^\(service [^)]+\) /, '')).reverse(),
    };
    this.plans.push(record);
    return record;
  }

  private instanceViews(): InstanceView[] {
    return [...this.instances].map(([arn, i]) => ({
      containerInstanceArn: arn,
      ec2InstanceId: `i-${i.name}`,
      status: i.status,
      agentConnected: i.agentConnected,
      ...(i.disconnectedSince === undefined ? {} : { disconnectedSince: i.disconnectedSince }),
      daemonEligible: i.daemonEligible,
      replicaTaskCount: i.replicaTaskCount,
    }));
  }

  /** Spread placement: ACTIVE instances with a connected agent and room, fewest of the service's tasks first. */
  private place(start: TaskStart): PlacementResult {
    const taskArns: string[] = [];
    const load = new Map<string, number>();
    for (const t of this.tasks.values()) if (t.lastStatus !== 'STOPPED' && t.containerInstanceArn !== undefined) load.set(t.containerInstanceArn, (load.get(t.containerInstanceArn) ?? 0) + 1);
    const loadOf = (arn: string) => load.get(arn) ?? 0;
    let refused = { draining: 0, disconnected: 0, full: 0 };
    for (let n = 0; n < start.count; n++) {
      refused = { draining: 0, disconnected: 0, full: 0 };
      let chosen: string | undefined;
      for (const [arn, i] of this.instances) {
        if (start.containerInstanceArn !== undefined && arn !== start.containerInstanceArn) continue;
        if (i.status !== 'ACTIVE') refused.draining++;
        else if (!i.agentConnected) refused.disconnected++;
        else if (loadOf(arn) >= i.capacity) refused.full++;
        else if (chosen === undefined || loadOf(arn) < loadOf(chosen) || (loadOf(arn) === loadOf(chosen) && arn < chosen)) chosen = arn;
      }
      if (chosen === undefined) break;
      taskArns.push(this.createTask(start, chosen));
      load.set(chosen, loadOf(chosen) + 1);
    }
    if (taskArns.length === start.count) return { start, taskArns };
    const why = Object.entries(refused).flatMap(([k, v]) => (v > 0 ? [`${k}: ${v}`] : []));
    return { start, taskArns, explanation: `Berth: no instance accepted the task (${why.join(', ') || 'no instances'}).` };
  }

  private occupying(name: string): number {
    return [...this.tasks.values()].filter((t) => t.containerInstanceArn === instanceArn(name) && t.lastStatus !== 'STOPPED').length;
  }

  private createTask(start: TaskStart, containerInstanceArn: string): string {
    const taskArn = `${REGION_ACCOUNT}:task/${CLUSTER}/${String(this.nextTask++).padStart(32, '0')}`;
    const b = this.behaviours.get(start.taskDefinition) ?? 'healthy';
    const checked = b === 'healthy' || b === 'unhealthy';
    this.tasks.set(taskArn, {
      taskArn,
      taskDefinitionArn: start.taskDefinition,
      startedBy: start.startedBy,
      group: start.group,
      lastStatus: 'PENDING',
      desiredStatus: 'RUNNING',
      healthStatus: 'UNKNOWN',
      containerInstanceArn,
      createdAt: this.now,
      containers: [checked ? { healthStatus: 'UNKNOWN' } : {}],
    });
    return taskArn;
  }

  private deploymentId(): string {
    return `ecs-svc/${String(this.nextDeployment++).padStart(19, '0')}`;
  }

  // ---- the bounds, checked independently ------------------------------------------------------

  /**
   * The promises of a rolling update, from the world as it was before the plan: the scheduler's
   * stops leave at least min(ceil(D × min% / 100), healthy before) healthy tasks, its starts never
   * take the tasks that hold a place above floor(D × max% / 100), it starts only for the PRIMARY,
   * and a DAEMON never gets two tasks on one instance.
   */
  private checkBounds(d: ServiceDecision): void {
    const s = this.service;
    const daemon = s.schedulingStrategy === 'DAEMON';
    const homes = [...this.instances.values()].filter((i) => i.status === 'ACTIVE' && i.daemonEligible).length;
    const desired = s.status !== 'ACTIVE' ? 0 : daemon ? homes : s.desiredCount;
    const cfg = s.deploymentConfiguration;
    const minHealthy = Math.ceil((desired * cfg.minimumHealthyPercent) / 100);
    const maxTotal = Math.floor((desired * cfg.maximumPercent) / 100);
    const lost = new Set(d.lost.map((l) => l.taskArn));
    const present = [...this.tasks.values()].filter((t) => !lost.has(t.taskArn) && t.lastStatus !== 'STOPPED');
    const healthyBefore = present.filter(isHealthy).length;
    const stopped = new Set(d.stops.map((x) => x.taskArn));
    const healthyAfter = present.filter((t) => isHealthy(t) && !stopped.has(t.taskArn)).length;
    const where = `step ${this.plans.length + 1} (t=${this.now})`;
    if (healthyAfter < Math.min(minHealthy, healthyBefore)) {
      throw new Error(`${where}: stops leave ${healthyAfter} healthy tasks; the minimum is ${minHealthy} (${healthyBefore} before)`);
    }
    const started = d.starts.reduce((n, x) => n + x.count, 0);
    if (!daemon && started > 0 && present.length + started > maxTotal) {
      throw new Error(`${where}: ${present.length} tasks hold a place and ${started} more would start; the maximum is ${maxTotal}`);
    }
    const primaryId = d.service.deployments.find((x) => x.status === 'PRIMARY')?.id;
    if (d.starts.some((x) => x.deploymentId !== primaryId)) throw new Error(`${where}: starts for a deployment that is not PRIMARY`);
    if (daemon) {
      for (const x of d.starts) {
        const name = this.instances.get(x.containerInstanceArn ?? '')?.name;
        if (name === undefined || x.count !== 1 || this.occupying(name) > 0) throw new Error(`${where}: a second daemon task on ${name ?? '(no instance)'}`);
      }
    }
  }
}
