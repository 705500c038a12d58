/**
 * The service controller for real, in-process: an in-memory store, the ECS API behind the edge, the
 * agent hub, and fake agents on real sessions that report what their tasks do (at once, or when the
 * test lets them). Every rollout is watched revision by revision against its percent bounds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type ServerMessage, type TaskStateChange } from '../agent/protocol.js';
import { connectSession, type AgentSession, type HelloMessage } from '../agent/session-client.js';
import { keys } from '../ecs/keys.js';
import type { Service } from '../ecs/service-shape.js';
import type { TaskDefinition } from '../ecs/task-definition-types.js';
import type { Task } from '../ecs/task-shape.js';
import { seededRandom } from '../scheduler/rng.js';
import type { Store, Watch } from '../store/index.js';
import { createServiceController, type ServiceController, type ServiceControllerSettings } from './service-controller.js';
import { startPlatform, TEST_ACCOUNT, TEST_KEY, TEST_REGION, waitFor, type Platform } from './testing/platform.js';

type Json = any;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const quiet = { error: () => undefined, warn: () => undefined, debug: () => undefined };
const LIMIT = 10_000;
const HOST_LOSS_SECONDS = 60;

// ---------------------------------------------------------------------------------------------
// Fake agents: real sessions, no containers.

/** An image name the fake agents cannot start: its tasks fail as a bad image would. */
const BAD_IMAGE = 'registry.invalid/broken';

/**
 * An agent that runs nothing but says what a real one would: RUNNING for a runTask, STOPPED for a
 * stopTask, TaskFailedToStart for a bad image. With holdRuns / holdStops it keeps those answers
 * until flush(), so a test can look at the world between rounds.
 */
class FakeAgent {
  readonly session: AgentSession;
  arn: string | undefined;
  holdRuns = false;
  holdStops = false;
  readonly heldRuns = new Map<string, TaskDefinition>();
  readonly heldStops = new Set<string>();
  readonly running = new Map<string, TaskDefinition>();

  constructor(
    endpoint: string,
    readonly name: string,
    memory = 4096,
  ) {
    this.session = connectSession({
      endpoint,
      credentials: TEST_KEY,
      region: TEST_REGION,
      hello: () => this.hello(memory),
      onMessage: (m) => this.receive(m),
      logger: quiet,
      backoff: { initialMs: 10, maxMs: 100 },
    });
  }

  private hello(memory: number): HelloMessage {
    return {
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      cluster: 'default',
      ...(this.arn === undefined ? {} : { containerInstanceArn: this.arn }),
      totalResources: [
        { name: 'CPU', type: 'INTEGER', integerValue: 4096 },
        { name: 'MEMORY', type: 'INTEGER', integerValue: memory },
        { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22'] },
        { name: 'PORTS_UDP', type: 'STRINGSET', stringSetValue: [] },
      ],
      attributes: [{ name: 'ecs.os-type', value: 'linux' }],
      agentVersion: '0.1.0',
      hostname: this.name,
      runningTaskArns: [...this.running.keys()],
    };
  }

  private receive(m: ServerMessage): void {
    switch (m.type) {
      case 'welcome':
        this.arn = m.containerInstanceArn;
        return;
      case 'runTask':
        if (this.running.has(m.task.taskArn) || this.heldRuns.has(m.task.taskArn)) return;
        if (this.holdRuns) this.heldRuns.set(m.task.taskArn, m.taskDefinition);
        else this.start(m.task.taskArn, m.taskDefinition);
        return;
      case 'stopTask':
        if (this.holdStops && this.running.has(m.taskArn)) this.heldStops.add(m.taskArn);
        else this.stop(m.taskArn);
        return;
      case 'ack':
      case 'heartbeat':
      case 'error':
        return;
    }
  }

  private report(change: TaskStateChange): void {
    this.session.send({ type: 'taskStateChange', change });
  }

  private start(taskArn: string, td: TaskDefinition): void {
    const names = td.containerDefinitions.map((c) => c.name);
    if (td.containerDefinitions.some((c) => c.image === BAD_IMAGE)) {
      const reason = `CannotPullContainerError: ${BAD_IMAGE}: not found`;
      this.report({ taskArn, status: 'STOPPED', stopCode: 'TaskFailedToStart', reason, containers: names.map((containerName) => ({ containerName, status: 'STOPPED', reason })) });
      return;
    }
    this.running.set(taskArn, td);
    this.report({ taskArn, status: 'RUNNING', containers: names.map((containerName) => ({ containerName, status: 'RUNNING' })) });
  }

  private stop(taskArn: string, exitCode = 0): void {
    const td = this.running.get(taskArn) ?? this.heldRuns.get(taskArn);
    this.running.delete(taskArn);
    this.heldRuns.delete(taskArn);
    this.heldStops.delete(taskArn);
    const containers = (td?.containerDefinitions ?? []).map((c) => ({ containerName: c.name, status: 'STOPPED' as const, exitCode }));
    this.report({ taskArn, status: 'STOPPED', containers });
  }

  /** The task's essential container dies (as after `kill -9`). */
  kill(taskArn: string): void {
    this.stop(taskArn, 137);
  }

  /** Answers everything held; says which tasks were started and which stopped. */
  flush(): { runs: string[]; stops: string[] } {
    const runs = [...this.heldRuns.keys()];
    const stops = [...this.heldStops];
    for (const [arn, td] of [...this.heldRuns]) {
      this.heldRuns.delete(arn);
      this.start(arn, td);
    }
    for (const arn of stops) this.stop(arn);
    return { runs, stops };
  }
}

// ---------------------------------------------------------------------------------------------
// The world.

interface World {
  readonly p: Platform;
  readonly agents: FakeAgent[];
  /** Moves the controller's clock (not the hub's). */
  advance(seconds: number): void;
  controller: ServiceController;
  /** Starts a controller (the world starts one); `store` stands in for the platform's, `settings` add to the test's. */
  startController(over?: { store?: Store; settings?: Partial<ServiceControllerSettings>; isLeader?: () => boolean }): ServiceController;
}

async function world(names: readonly string[] = ['a', 'b', 'c'], memory?: number, settings: Partial<ServiceControllerSettings> = {}): Promise<World> {
  const p = await startPlatform();
  cleanup.push(() => p.close());
  await p.ecs('CreateCluster', { clusterName: 'default' });
  const agents = names.map((name) => addAgent(p, name, memory));
  await waitFor(() => agents.every((a) => a.session.connected), 'the agents to be welcomed', LIMIT);
  let offsetMs = 0;
  const w: World = {
    p,
    agents,
    advance: (seconds) => void (offsetMs += seconds * 1000),
    controller: undefined as unknown as ServiceController,
    startController(over = {}) {
      const c = createServiceController({
        store: over.store ?? p.store,
        region: TEST_REGION,
        accountId: TEST_ACCOUNT,
        now: () => new Date(Date.now() + offsetMs),
        logger: quiet,
        random: seededRandom(7),
        ...(over.isLeader === undefined ? {} : { isLeader: over.isLeader }),
        settings: { debounceMs: 2, hostLossTimeoutSeconds: HOST_LOSS_SECONDS, ...settings, ...over.settings },
      });
      cleanup.push(() => c.close());
      w.controller = c;
      return c;
    },
  };
  w.startController();
  return w;
}

function addAgent(p: Platform, name: string, memory?: number): FakeAgent {
  const a = new FakeAgent(p.endpoint, name, memory);
  cleanup.push(() => a.session.close());
  return a;
}

async function register(p: Platform, family: string, image = 'busybox', container: Record<string, unknown> = {}): Promise<string> {
  const res: Json = await p.ecs('RegisterTaskDefinition', {
    family,
    containerDefinitions: [{ name: 'app', image, cpu: 128, memory: 256, portMappings: [{ containerPort: 80, hostPort: 0 }], ...container }],
  });
  return res.taskDefinition.taskDefinitionArn;
}

async function allTasks(store: Store): Promise<Task[]> {
  const res = await store.range(keys.tasks('default'));
  return res.kvs.map((kv) => JSON.parse(kv.value) as Task);
}

const isLive = (t: Task) => t.desiredStatus === 'RUNNING' && t.lastStatus !== 'STOPPED';
const isStopping = (t: Task) => t.desiredStatus === 'STOPPED' && t.lastStatus !== 'STOPPED';
const revisionOf = (t: Task) => Number(t.taskDefinitionArn.slice(t.taskDefinitionArn.lastIndexOf(':') + 1));

async function describe1(p: Platform, name = 'web'): Promise<Service> {
  const res: Json = await p.ecs('DescribeServices', { services: [name] });
  return res.services[0] as Service;
}

/** services-stable as the AWS waiter judges it: one deployment, runningCount == desiredCount. */
const stable = (s: Service) => s.deployments.length === 1 && s.runningCount === s.desiredCount;

async function createService(p: Platform, over: Record<string, unknown> = {}): Promise<Service> {
  const res: Json = await p.ecs('CreateService', { serviceName: 'web', taskDefinition: 'web', desiredCount: 3, launchType: 'EC2', ...over });
  return res.service as Service;
}

async function waitStable(w: World, name = 'web'): Promise<Service> {
  return waitFor(async () => {
    const s = await describe1(w.p, name);
    return stable(s) && s.deployments[0]!.rolloutState === 'COMPLETED' ? s : undefined;
  }, `service ${name} to be stable`, LIMIT);
}

/**
 * Every revision of the cluster's tasks, checked against the bounds of a service's rollout: tasks
 * that hold a place (live or still stopping) never above maxTotal, RUNNING tasks the scheduler
 * keeps never below minHealthy. Also records the extremes, so a test can show the bounds were used.
 */
interface Monitor {
  readonly violations: string[];
  readonly most: number;
  readonly fewestHealthy: number;
  readonly revisions: number;
  close(): void;
}

async function monitor(store: Store, group: string, bounds: { maxTotal: number; minHealthy: number }): Promise<Monitor> {
  const start = await store.range(keys.tasks('default'));
  const tasks = new Map(start.kvs.map((kv) => [kv.key, JSON.parse(kv.value) as Task]));
  const m = { violations: [] as string[], most: 0, fewestHealthy: Infinity, revisions: 0, close: () => watch.close() };
  const check = (revision: number) => {
    const mine = [...tasks.values()].filter((t) => t.group === group);
    const total = mine.filter((t) => isLive(t) || isStopping(t)).length;
    const healthy = mine.filter((t) => isLive(t) && t.lastStatus === 'RUNNING').length;
    m.most = Math.max(m.most, total);
    m.fewestHealthy = Math.min(m.fewestHealthy, healthy);
    m.revisions++;
    if (total > bounds.maxTotal) m.violations.push(`revision ${revision}: ${total} tasks > ${bounds.maxTotal}`);
    if (healthy < bounds.minHealthy) m.violations.push(`revision ${revision}: ${healthy} healthy < ${bounds.minHealthy}`);
  };
  check(start.revision);
  const watch: Watch = store.watch(keys.tasks('default'), { fromRevision: start.revision + 1 });
  void (async () => {
    for await (const batch of watch) {
      for (const e of batch) {
        if (e.type === 'put') tasks.set(e.kv.key, JSON.parse(e.kv.value) as Task);
        else tasks.delete(e.kv.key);
      }
      check(batch[0]!.kv.modRevision);
    }
  })();
  cleanup.push(() => Promise.resolve(watch.close()));
  return m;
}

/**
 * One step of a held rollout: waits until every task in flight has reached its agent, lets the
 * agents answer, and waits until their answers are stored. (The controller reacts to them at once,
 * so what is in flight afterwards is its next round's doing.)
 */
async function releaseAgents(w: World): Promise<void> {
  const held = (t: Task) => w.agents.some((a) => a.heldRuns.has(t.taskArn) || a.heldStops.has(t.taskArn));
  await waitFor(async () => (await allTasks(w.p.store)).every((t) => t.lastStatus === 'STOPPED' || (isLive(t) && t.lastStatus === 'RUNNING') || held(t)), 'every task in flight to reach its agent', LIMIT);
  const answered = w.agents.map((a) => a.flush());
  const runs = new Set(answered.flatMap((a) => a.runs));
  const stops = new Set(answered.flatMap((a) => a.stops));
  await waitFor(async () => (await allTasks(w.p.store)).every((t) => (!runs.has(t.taskArn) || t.lastStatus !== 'PENDING') && (!stops.has(t.taskArn) || t.lastStatus === 'STOPPED')), 'the agents\' answers to be stored', LIMIT);
}

const hold = (w: World, on: boolean) => {
  for (const a of w.agents) {
    a.holdRuns = on;
    a.holdStops = on;
  }
};

/**
 * The store with every watch batch handed over late (as from a distant etcd), and every call of
 * revision() counted: the controller asks for it once per round, so the count says rounds passed.
 */
function slowWatches(store: Store, delayMs: number, onRevision: () => void): Store {
  return {
    get: (key) => store.get(key),
    range: (prefix, options) => store.range(prefix, options),
    txn: (compares, success, failure) => store.txn(compares, success, failure),
    revision: () => {
      onRevision();
      return store.revision();
    },
    compact: (revision) => store.compact(revision),
    close: () => Promise.resolve(),
    watch(prefix, options) {
      const inner = store.watch(prefix, options);
      return {
        close: () => inner.close(),
        async *[Symbol.asyncIterator]() {
          for await (const batch of inner) {
            await new Promise((resolve) => setTimeout(resolve, delayMs));
            yield batch;
          }
        },
      };
    },
  };
}

const instanceOf = async (p: Platform, arn: string): Promise<Json> => ((await p.ecs('DescribeContainerInstances', { containerInstances: [arn] })) as Json).containerInstances[0];
const remaining = (ci: Json, name: string): number => ci.remainingResources.find((r: Json) => r.name === name).integerValue;
const registered = (ci: Json, name: string): number => ci.registeredResources.find((r: Json) => r.name === name).integerValue;

// ---------------------------------------------------------------------------------------------

describe('a service of 3', () => {
  it('creates 3 tasks with their reservations, and reaches a steady state once they run', async () => {
    const w = await world();
    hold(w, true);
    await register(w.p, 'web');
    const created = await createService(w.p, { placementStrategy: [{ type: 'spread', field: 'instanceId' }] });
    await w.controller.resync();

    const tasks = await allTasks(w.p.store);
    expect(tasks).toHaveLength(3);
    for (const t of tasks) {
      expect(t).toMatchObject({ group: 'service:web', startedBy: created.deployments[0]!.id, desiredStatus: 'RUNNING', lastStatus: 'PENDING', launchType: 'EC2' });
    }
    // spread(instanceId): one on each instance, each holding its task's reservation.
    expect(new Set(tasks.map((t) => t.containerInstanceArn)).size).toBe(3);
    for (const a of w.agents) {
      const ci = await instanceOf(w.p, a.arn!);
      expect(registered(ci, 'MEMORY') - remaining(ci, 'MEMORY')).toBe(256);
      expect(registered(ci, 'CPU') - remaining(ci, 'CPU')).toBe(128);
      expect(ci.pendingTasksCount).toBe(1);
    }
    const pending = await describe1(w.p);
    expect(pending).toMatchObject({ runningCount: 0, pendingCount: 3 });
    expect(pending.deployments[0]).toMatchObject({ rolloutState: 'IN_PROGRESS', pendingCount: 3 });
    expect(pending.events[0]!.message).toMatch(/^\(service web\) has started 3 tasks: \(task \w+\) \(task \w+\) \(task \w+\)\.$/);

    await releaseAgents(w);
    const s = await waitStable(w);
    expect(s).toMatchObject({ runningCount: 3, pendingCount: 0, desiredCount: 3 });
    expect(s.deployments[0]).toMatchObject({ status: 'PRIMARY', runningCount: 3, pendingCount: 0, rolloutState: 'COMPLETED' });
    const messages = s.events.map((e) => e.message);
    expect(messages[0]).toBe('(service web) has reached a steady state.');
    expect(messages).toContain(`(service web) (deployment ${created.deployments[0]!.id}) deployment completed.`);
    // Nothing more to do: another pass starts nothing.
    await w.controller.resync();
    expect(await allTasks(w.p.store)).toHaveLength(3);
  });

  it('replaces a task whose container dies', async () => {
    const w = await world();
    await register(w.p, 'web');
    await createService(w.p);
    await waitStable(w);
    const [victim] = (await allTasks(w.p.store)).filter(isLive);
    w.agents.find((a) => a.running.has(victim!.taskArn))!.kill(victim!.taskArn);

    const s = await waitFor(async () => {
      const tasks = await allTasks(w.p.store);
      const gone = tasks.find((t) => t.taskArn === victim!.taskArn)!;
      const s = await describe1(w.p);
      return gone.lastStatus === 'STOPPED' && tasks.filter((t) => isLive(t) && t.lastStatus === 'RUNNING').length === 3 && stable(s) ? s : undefined;
    }, 'a replacement', LIMIT);
    const tasks = await allTasks(w.p.store);
    expect(tasks).toHaveLength(4);
    expect(tasks.find((t) => t.taskArn === victim!.taskArn)).toMatchObject({ stopCode: 'EssentialContainerExited' });
    expect(s.runningCount).toBe(3);
  });

  it('does nothing while it is not the leader, and catches up once it is', async () => {
    const w = await world();
    await w.controller.close();
    let leader = false;
    w.startController({ isLeader: () => leader });
    await register(w.p, 'web');
    await createService(w.p);
    await w.controller.resync();
    expect(await allTasks(w.p.store)).toEqual([]);
    expect(await describe1(w.p)).toMatchObject({ events: [], pendingCount: 0 });
    leader = true;
    await w.controller.resync();
    expect((await allTasks(w.p.store)).filter(isLive)).toHaveLength(3);
  });

  it('says why a task cannot be placed, and places it once an instance with room joins', async () => {
    const w = await world(['small'], 600);
    await register(w.p, 'web');
    await createService(w.p);
    const s = await waitFor(async () => {
      const s = await describe1(w.p);
      return s.runningCount === 2 && s.events.some((e) => e.message.includes('unable to place')) ? s : undefined;
    }, 'two tasks running and a placement failure', LIMIT);
    const event = s.events.find((e) => e.message.includes('unable to place'))!.message;
    expect(event).toMatch(/^\(service web\) was unable to place a task because no container instance met all of its requirements\. .*memory/);
    expect(event).toContain('1 of 1 instance');
    expect((await allTasks(w.p.store)).filter(isLive)).toHaveLength(2);

    w.agents.push(addAgent(w.p, 'big'));
    await waitStable(w);
    expect((await allTasks(w.p.store)).filter(isLive)).toHaveLength(3);
  });
});

describe('rolling deployments', () => {
  it('rolls out a new revision within minimumHealthyPercent 50 and maximumPercent 150, round by round', async () => {
    const w = await world();
    await register(w.p, 'web');
    await createService(w.p, { desiredCount: 4, deploymentConfiguration: { minimumHealthyPercent: 50, maximumPercent: 150 } });
    const first = await waitStable(w);
    const m = await monitor(w.p.store, 'service:web', { maxTotal: 6, minHealthy: 2 });

    hold(w, true);
    const rev2 = await register(w.p, 'web');
    await w.p.ecs('UpdateService', { service: 'web', taskDefinition: rev2 });
    const counts = async () => {
      const tasks = (await allTasks(w.p.store)).filter((t) => t.group === 'service:web');
      return {
        oldLive: tasks.filter((t) => revisionOf(t) === 1 && isLive(t)).length,
        oldStopping: tasks.filter((t) => revisionOf(t) === 1 && isStopping(t)).length,
        newLive: tasks.filter((t) => revisionOf(t) === 2 && isLive(t)).length,
      };
    };

    // Round 1: two old tasks go (4 → 2 healthy, the minimum) and two new start (6 placed, the maximum).
    await w.controller.resync();
    expect(await counts()).toEqual({ oldLive: 2, oldStopping: 2, newLive: 2 });
    const mid = await describe1(w.p);
    expect(mid.deployments.map((d) => [d.status, d.rolloutState])).toEqual([
      ['PRIMARY', 'IN_PROGRESS'],
      ['ACTIVE', 'COMPLETED'],
    ]);
    expect(mid.events[0]!.message).toMatch(/has started 2 tasks/);
    expect(mid.events.some((e) => /has stopped 2 running tasks/.test(e.message))).toBe(true);

    // Then, after each answer from the agents, the next round, until the old revision is gone.
    let rounds = 1;
    for (; rounds < 10; rounds++) {
      await releaseAgents(w);
      await w.controller.resync();
      const c = await counts();
      if (c.oldLive === 0 && c.oldStopping === 0 && c.newLive === 4) break;
    }
    await releaseAgents(w);
    hold(w, false);
    const done = await waitStable(w);
    expect(rounds).toBeLessThan(10);
    expect(done.taskDefinition).toBe(rev2);
    expect(done.deployments[0]!.id).not.toBe(first.deployments[0]!.id);
    expect((await allTasks(w.p.store)).filter(isLive).map(revisionOf)).toEqual([2, 2, 2, 2]);
    // Exactly 4 tasks of revision 2 were ever started: nothing doubled.
    expect((await allTasks(w.p.store)).filter((t) => revisionOf(t) === 2)).toHaveLength(4);

    m.close();
    expect(m.violations).toEqual([]);
    // The bounds were reached, not merely respected from afar.
    expect(m.most).toBe(6);
    expect(m.fewestHealthy).toBe(2);
  });

  it('trips the circuit breaker on a revision whose tasks never start, and rolls back', async () => {
    const w = await world();
    await register(w.p, 'web');
    const created = await createService(w.p, { deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } } });
    await waitStable(w);
    const m = await monitor(w.p.store, 'service:web', { maxTotal: 6, minHealthy: 3 });

    const bad = await register(w.p, 'web', BAD_IMAGE);
    const updated: Json = await w.p.ecs('UpdateService', { service: 'web', taskDefinition: bad });
    const failedId: string = updated.service.deployments[0].id;

    const s = await waitFor(async () => {
      const s = await describe1(w.p);
      return stable(s) && s.deployments[0]!.id === created.deployments[0]!.id && s.deployments[0]!.rolloutState === 'COMPLETED' ? s : undefined;
    }, 'the rollback to complete', LIMIT);
    expect(s.taskDefinition).toBe(created.taskDefinition);
    const messages = s.events.map((e) => e.message);
    expect(messages).toContain(`(service web) (deployment ${failedId}) deployment failed: tasks failed to start.`);
    expect(messages).toContain(`(service web) rolling back to deployment ${created.deployments[0]!.id}.`);

    const tasks = await allTasks(w.p.store);
    const badTasks = tasks.filter((t) => t.taskDefinitionArn === bad);
    expect(badTasks.length).toBeGreaterThanOrEqual(3);
    for (const t of badTasks) expect(t).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'TaskFailedToStart' });
    expect(tasks.filter(isLive).map((t) => t.taskDefinitionArn)).toEqual([created.taskDefinition, created.taskDefinition, created.taskDefinition]);
    // Tripped means tripped: no more bad tasks after it.
    await w.controller.resync();
    expect((await allTasks(w.p.store)).filter((t) => t.taskDefinitionArn === bad)).toHaveLength(badTasks.length);

    m.close();
    expect(m.violations).toEqual([]);
    expect(m.most).toBeGreaterThan(3);
  });

  it('never starts a task twice while its mirror lags behind its own writes (a slow watch, constant resyncs)', async () => {
    const w = await world();
    hold(w, true);
    await w.controller.close();
    let rounds = 0;
    const slow = slowWatches(w.p.store, 25, () => rounds++);
    w.startController({ store: slow, settings: { resyncMs: 5 } });
    await register(w.p, 'web');
    await createService(w.p);
    await waitFor(async () => (await allTasks(w.p.store)).length >= 3, 'the first tasks', LIMIT);
    // Each resync is a round no watch event caused: acting on a mirror without its own starts would start them again.
    const from = rounds;
    await waitFor(() => rounds >= from + 40, 'forty more rounds', LIMIT);
    expect(await allTasks(w.p.store)).toHaveLength(3);
    expect(await describe1(w.p)).toMatchObject({ pendingCount: 3 });
  });

  it('carries on a rollout after a restart of the controller, without doubling a task', async () => {
    const w = await world();
    await register(w.p, 'web');
    await createService(w.p);
    await waitStable(w);
    hold(w, true);
    const rev2 = await register(w.p, 'web');
    await w.p.ecs('UpdateService', { service: 'web', taskDefinition: rev2 });
    await w.controller.resync();
    const started = (await allTasks(w.p.store)).filter((t) => t.taskDefinitionArn === rev2);
    expect(started).toHaveLength(3);

    // A new controller (as after kill -9 and a restart) knows only what is stored.
    await w.controller.close();
    w.startController();
    await w.controller.resync();
    expect((await allTasks(w.p.store)).filter((t) => t.taskDefinitionArn === rev2)).toHaveLength(3);

    hold(w, false);
    await releaseAgents(w);
    const s = await waitStable(w);
    expect(s.taskDefinition).toBe(rev2);
    const tasks = await allTasks(w.p.store);
    expect(tasks.filter((t) => t.taskDefinitionArn === rev2).map((t) => t.taskArn).sort()).toEqual(started.map((t) => t.taskArn).sort());
    expect(tasks.filter(isLive)).toHaveLength(3);
  });
});

describe('hosts', () => {
  it('moves the tasks off a DRAINING instance without going below minimumHealthyPercent', async () => {
    const w = await world();
    await register(w.p, 'web');
    await createService(w.p, { placementStrategy: [{ type: 'spread', field: 'instanceId' }] });
    await waitStable(w);
    const m = await monitor(w.p.store, 'service:web', { maxTotal: 6, minHealthy: 3 });
    const drained = w.agents[0]!.arn!;
    await w.p.ecs('UpdateContainerInstancesState', { containerInstances: [drained], status: 'DRAINING' });

    await waitFor(async () => {
      const live = (await allTasks(w.p.store)).filter(isLive);
      return live.length === 3 && live.every((t) => t.lastStatus === 'RUNNING' && t.containerInstanceArn !== drained) && stable(await describe1(w.p));
    }, 'the tasks to leave the draining instance', LIMIT);
    const moved = (await allTasks(w.p.store)).find((t) => t.containerInstanceArn === drained)!;
    expect(moved).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated' });
    expect(moved.stoppedReason).toMatch(/DRAINING/);
    m.close();
    expect(m.violations).toEqual([]);
    expect(m.most).toBe(4);
  });

  it('declares the tasks of a host lost once its agent stays away past the timeout, and replaces them elsewhere', async () => {
    const w = await world();
    await register(w.p, 'web');
    await createService(w.p, { placementStrategy: [{ type: 'spread', field: 'instanceId' }] });
    await waitStable(w);
    const gone = w.agents[0]!;
    const arn = gone.arn!;
    const stranded = (await allTasks(w.p.store)).find((t) => t.containerInstanceArn === arn)!;
    await gone.session.close();
    await waitFor(async () => (await instanceOf(w.p, arn)).agentConnected === false, 'the hub to mark the agent disconnected', LIMIT);

    // Within the timeout the task is only out of touch: nothing is replaced.
    w.advance(HOST_LOSS_SECONDS - 5);
    await w.controller.resync();
    expect((await allTasks(w.p.store)).filter(isLive).map((t) => t.taskArn)).toContain(stranded.taskArn);
    expect((await allTasks(w.p.store)).filter(isLive)).toHaveLength(3);

    w.advance(10);
    await w.controller.resync();
    const lost = (await allTasks(w.p.store)).find((t) => t.taskArn === stranded.taskArn)!;
    expect(lost).toMatchObject({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated' });
    expect(lost.stoppedReason).toMatch(/^Host lost: container instance \w+ has had no connected agent for more than 60 seconds$/);
    const s = await waitFor(async () => {
      const live = (await allTasks(w.p.store)).filter(isLive);
      const s = await describe1(w.p);
      return live.length === 3 && live.every((t) => t.containerInstanceArn !== arn && t.lastStatus === 'RUNNING') && stable(s) ? s : undefined;
    }, 'a replacement on a connected host', LIMIT);
    expect(s.events.some((e) => e.message.includes('its tasks were declared lost'))).toBe(true);
    // The lost task's reservation went back to its instance.
    const ci = await instanceOf(w.p, arn);
    expect(remaining(ci, 'MEMORY')).toBe(registered(ci, 'MEMORY'));
  });

  it('runs one task of a DAEMON service on each instance, and on an instance that joins', async () => {
    const w = await world(['a', 'b']);
    await register(w.p, 'web');
    await createService(w.p, { desiredCount: undefined, schedulingStrategy: 'DAEMON' });
    await waitFor(async () => (await describe1(w.p)).runningCount === 2, 'a daemon task on each instance', LIMIT);
    w.agents.push(addAgent(w.p, 'c'));
    const s = await waitFor(async () => {
      const s = await describe1(w.p);
      return s.runningCount === 3 && stable(s) ? s : undefined;
    }, 'a daemon task on the new instance', LIMIT);
    expect(s.desiredCount).toBe(3);
    const live = (await allTasks(w.p.store)).filter(isLive);
    expect(new Set(live.map((t) => t.containerInstanceArn)).size).toBe(3);
  });
});

describe('deleting', () => {
  it('stops the tasks of a service deleted with force, then makes it INACTIVE', async () => {
    const w = await world();
    await register(w.p, 'web');
    await createService(w.p);
    await waitStable(w);
    const res: Json = await w.p.ecs('DeleteService', { service: 'web', force: true });
    expect(res.service.status).toBe('DRAINING');
    const s = await waitFor(async () => {
      const s = await describe1(w.p);
      return s.status === 'INACTIVE' ? s : undefined;
    }, 'the service to become INACTIVE', LIMIT);
    expect(s).toMatchObject({ runningCount: 0, pendingCount: 0, desiredCount: 0 });
    const tasks = await allTasks(w.p.store);
    expect(tasks).toHaveLength(3);
    for (const t of tasks) expect(t).toMatchObject({ lastStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated' });
    expect(((await w.p.ecs('ListServices', {})) as Json).serviceArns).toEqual([]);
  });
});
