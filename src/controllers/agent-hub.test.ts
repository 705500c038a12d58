/**
 * The agent hub for real: an HTTP server on 127.0.0.1 with the edge, the ECS API on an in-memory
 * store and the hub on /agent, driven by the real session client (and by raw WebSockets where a
 * misbehaving agent is the point). Tasks are started and stopped through the signed ECS API.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { agentCapabilities } from '../agent/capabilities.js';
import { PROTOCOL_VERSION, type AgentMessage, type ContainerStateChange, type ServerMessage, type TaskStateChange } from '../agent/protocol.js';
import { connectSession, presignAgentUrl, type AgentSession, type HelloMessage } from '../agent/session-client.js';
import { updateContainerInstance } from '../ecs/container-instances.js';
import { keys } from '../ecs/keys.js';
import { CLOSE_IDLE, CLOSE_REFUSED, CLOSE_REPLACED, parseAgentMessage, InvalidAgentMessage } from './agent-hub.js';
import { startPlatform, startProxy, TEST_KEY, TEST_REGION, waitFor, type Platform } from './testing/platform.js';

type Json = any;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function platform(hub: Parameters<typeof startPlatform>[0] = {}): Promise<Platform> {
  const p = await startPlatform(hub);
  cleanup.push(() => p.close());
  return p;
}

const RESOURCES: HelloMessage['totalResources'] = [
  { name: 'CPU', type: 'INTEGER', integerValue: 2048 },
  { name: 'MEMORY', type: 'INTEGER', integerValue: 4096 },
  { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22'] },
  { name: 'PORTS_UDP', type: 'STRINGSET', stringSetValue: [] },
];

function hello(over: Partial<HelloMessage> = {}): HelloMessage {
  return {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    cluster: 'default',
    totalResources: RESOURCES,
    // A Berth agent's capabilities, so that task definitions with health checks etc. are placed here.
    attributes: [{ name: 'ecs.os-type', value: 'linux' }, { name: 'ecs.cpu-architecture', value: 'x86_64' }, { name: 'team', value: 'blue' }, ...agentCapabilities({ initProcess: false })],
    agentVersion: '0.1.0',
    hostname: 'host-a',
    runningTaskArns: [],
    ...over,
  };
}

/** A fake agent around the real session client: it records what the server says. */
interface Agent {
  readonly session: AgentSession;
  readonly received: ServerMessage[];
  /** The instance ARN from the latest welcome. */
  arn(): string | undefined;
  welcomes(): number;
}

function agent(endpoint: string, over: Partial<HelloMessage> | (() => Partial<HelloMessage>) = {}): Agent {
  const received: ServerMessage[] = [];
  let arn: string | undefined;
  const session = connectSession({
    endpoint,
    credentials: TEST_KEY,
    region: TEST_REGION,
    // As a real agent does, it keeps the ARN it was welcomed as and says so when it reconnects.
    hello: () => hello({ ...(arn === undefined ? {} : { containerInstanceArn: arn }), ...(typeof over === 'function' ? over() : over) }),
    onMessage: (m) => {
      received.push(m);
      if (m.type === 'welcome') arn = m.containerInstanceArn;
    },
    logger: { error: () => undefined, warn: () => undefined, debug: () => undefined },
    backoff: { initialMs: 10, maxMs: 100 },
  });
  cleanup.push(() => session.close());
  return { session, received, arn: () => arn, welcomes: () => received.filter((m) => m.type === 'welcome').length };
}

const connected = async (a: Agent): Promise<string> => {
  await waitFor(() => a.session.connected, 'the agent session to be welcomed');
  return a.arn()!;
};

function message<T extends ServerMessage['type']>(a: Agent, type: T, match: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true, from = 0) {
  return waitFor(
    () => a.received.slice(from).find((m): m is Extract<ServerMessage, { type: T }> => m.type === type && match(m as Extract<ServerMessage, { type: T }>)),
    `a ${type} message`,
  );
}

const idOf = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

async function instance(p: Platform, arn: string): Promise<Json> {
  const res: Json = await p.ecs('DescribeContainerInstances', { containerInstances: [arn] });
  return res.containerInstances[0];
}
const resource = (ci: Json, name: string) => {
  const r = ci.remainingResources.find((x: Json) => x.name === name);
  return r.type === 'STRINGSET' ? r.stringSetValue : r.integerValue;
};
async function task(p: Platform, arn: string): Promise<Json> {
  const res: Json = await p.ecs('DescribeTasks', { tasks: [arn] });
  return res.tasks[0];
}

async function registerWeb(p: Platform, container: Record<string, unknown> = {}): Promise<void> {
  await p.ecs('RegisterTaskDefinition', {
    family: 'web',
    containerDefinitions: [{ name: 'web', image: 'busybox', cpu: 256, memory: 256, portMappings: [{ containerPort: 80, hostPort: 8080 }], ...container }],
  });
}
async function runTask(p: Platform, over: Record<string, unknown> = {}): Promise<string> {
  const res: Json = await p.ecs('RunTask', { taskDefinition: 'web', launchType: 'EC2', ...over });
  expect(res.failures).toEqual([]);
  return res.tasks[0].taskArn;
}

const change = (taskArn: string, status: TaskStateChange['status'], containers: ContainerStateChange[] = [], extra: Partial<TaskStateChange> = {}): AgentMessage => ({
  type: 'taskStateChange',
  change: { taskArn, status, containers, ...extra },
});
const binding = (hostPort: number) => [{ bindIP: '0.0.0.0', containerPort: 80, hostPort, protocol: 'tcp' as const }];

/** A raw WebSocket session, for agents that misbehave. */
async function raw(endpoint: string, sign = true): Promise<{ ws: WebSocket; received: Json[]; closed: Promise<number>; send: (m: unknown) => void }> {
  const target = presignAgentUrl(endpoint, TEST_KEY, TEST_REGION, new Date());
  const ws = new WebSocket(sign ? target.url : endpoint.replace('http', 'ws') + '/agent', { headers: { host: target.host } });
  const received: Json[] = [];
  ws.on('message', (d) => received.push(JSON.parse((d as Buffer).toString('utf8'))));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  cleanup.push(async () => {
    ws.terminate();
    await closed;
  });
  return { ws, received, closed, send: (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m)) };
}

/** What the server answers a WebSocket upgrade with, when it does not upgrade. */
function refusal(url: string, host: string): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { host } });
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) });
        ws.terminate();
      });
    });
    ws.on('error', () => undefined);
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
  });
}

describe('hello', () => {
  it('registers the host as a container instance, marks it connected and welcomes it', async () => {
    const p = await platform();
    const a = agent(p.endpoint);
    const arn = await connected(a);
    expect(arn).toMatch(/^arn:aws:ecs:us-east-1:000000000000:container-instance\/default\/[0-9a-f]{32}$/);
    const welcome = a.received.find((m) => m.type === 'welcome');
    expect(welcome).toEqual({ type: 'welcome', containerInstanceArn: arn, heartbeatMs: 10_000 });
    await waitFor(async () => (await instance(p, arn)).agentConnected === true, 'agentConnected');
    const ci = await instance(p, arn);
    expect(ci).toMatchObject({ status: 'ACTIVE', versionInfo: { agentVersion: '0.1.0' }, runningTasksCount: 0, pendingTasksCount: 0 });
    expect(resource(ci, 'CPU')).toBe(2048);
    expect(ci.attributes).toEqual(expect.arrayContaining([{ name: 'ecs.os-type', value: 'linux' }, { name: 'team', value: 'blue' }]));
  });

  it('a hello naming its instance re-registers it: the same ARN, no second instance', async () => {
    const p = await platform();
    const first = agent(p.endpoint);
    const arn = await connected(first);
    await first.session.close();
    const again = agent(p.endpoint, { containerInstanceArn: arn, agentVersion: '0.2.0' });
    expect(await connected(again)).toBe(arn);
    const list: Json = await p.ecs('ListContainerInstances');
    expect(list.containerInstanceArns).toEqual([arn]);
    expect((await instance(p, arn)).versionInfo.agentVersion).toBe('0.2.0');
  });

  it('a hello the server cannot accept is answered with error and the session closed', async () => {
    const p = await platform();
    const s = await raw(p.endpoint);
    s.send(hello({ cluster: 'nope' }));
    expect(await s.closed).toBe(CLOSE_REFUSED);
    expect(s.received).toEqual([{ type: 'error', code: 'ClusterNotFoundException', message: expect.any(String) }]);

    const v = await raw(p.endpoint);
    v.send(hello({ protocolVersion: 99 }));
    expect(await v.closed).toBe(CLOSE_REFUSED);
    expect(v.received[0]).toMatchObject({ type: 'error', code: 'UnsupportedProtocolVersion' });
    expect((await p.store.range('/ecs/instances/')).count).toBe(0);
  });
});

describe('authentication', () => {
  it('refuses unsigned, wrongly signed and unknown-key upgrades with 403, before any WebSocket', async () => {
    const p = await platform();
    const good = presignAgentUrl(p.endpoint, TEST_KEY, TEST_REGION, new Date());

    const unsigned = await refusal(`ws://${good.host}/agent`, good.host);
    expect(unsigned).toEqual({ status: 403, body: { __type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' } });

    const wrongSecret = presignAgentUrl(p.endpoint, { ...TEST_KEY, secretAccessKey: 'not-the-secret' }, TEST_REGION, new Date());
    expect(await refusal(wrongSecret.url, wrongSecret.host)).toMatchObject({ status: 403, body: { __type: 'InvalidSignatureException' } });

    const unknown = presignAgentUrl(p.endpoint, { ...TEST_KEY, accessKeyId: 'AKIANOBODY0000000000' }, TEST_REGION, new Date());
    expect(await refusal(unknown.url, unknown.host)).toMatchObject({ status: 403, body: { __type: 'UnrecognizedClientException' } });

    const expired = presignAgentUrl(p.endpoint, TEST_KEY, TEST_REGION, new Date(Date.now() - 3600_000), 60);
    expect(await refusal(expired.url, expired.host)).toMatchObject({ status: 403, body: { __type: 'InvalidSignatureException' } });

    // Signed for another host than the one connected to.
    expect(await refusal(good.url, 'example.com')).toMatchObject({ status: 403, body: { __type: 'InvalidSignatureException' } });

    const otherRegion = presignAgentUrl(p.endpoint, TEST_KEY, 'eu-west-1', new Date());
    expect(await refusal(otherRegion.url, otherRegion.host)).toMatchObject({ status: 403 });

    expect((await p.store.range('/ecs/')).count).toBe(0);
  });

  it('the session client keeps retrying a refused upgrade and is never connected', async () => {
    const p = await platform();
    let hellos = 0;
    const session = connectSession({
      endpoint: p.endpoint,
      credentials: { ...TEST_KEY, secretAccessKey: 'wrong' },
      region: TEST_REGION,
      hello: () => {
        hellos++;
        return hello();
      },
      onMessage: () => undefined,
      logger: { error: () => undefined, warn: () => undefined, debug: () => undefined },
      backoff: { initialMs: 5, maxMs: 20 },
    });
    cleanup.push(() => session.close());
    await waitFor(() => p.logs.filter((l) => l.message === 'agent session refused').length >= 3, 'three refused attempts');
    expect(session.connected).toBe(false);
    expect(hellos).toBe(0);
  });
});

describe('tasks: from the API to the agent and back', () => {
  it('RunTask → runTask; PENDING → RUNNING → STOPPED land in the store, counts and reservation follow', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint);
    const arn = await connected(a);
    const taskArn = await runTask(p);

    const run = await message(a, 'runTask');
    expect(run.task).toMatchObject({ taskArn, containerInstanceArn: arn, desiredStatus: 'RUNNING', lastStatus: 'PENDING' });
    expect(run.taskDefinition).toMatchObject({ family: 'web', revision: 1, containerDefinitions: [{ name: 'web', essential: true }] });
    expect(run.taskDefinition).not.toHaveProperty('tags');
    let ci = await instance(p, arn);
    expect(ci).toMatchObject({ pendingTasksCount: 1, runningTasksCount: 0 });
    expect([resource(ci, 'CPU'), resource(ci, 'MEMORY'), resource(ci, 'PORTS')]).toEqual([2048 - 256, 4096 - 256, ['22', '8080']]);

    const t0 = Date.now();
    a.session.send(change(taskArn, 'PENDING', [c('web', 'PENDING')], { pullStartedAt: t0, pullStoppedAt: t0 + 5 }));
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'RUNNING', { runtimeId: 'ctr-1', networkBindings: binding(8080) })], { startedAt: t0 + 10 }));
    await waitFor(async () => (await task(p, taskArn)).lastStatus === 'RUNNING', 'the task to be RUNNING');
    const running = await task(p, taskArn);
    expect(running).toMatchObject({
      desiredStatus: 'RUNNING',
      connectivity: 'CONNECTED',
      pullStartedAt: t0 / 1000,
      pullStoppedAt: (t0 + 5) / 1000,
      startedAt: (t0 + 10) / 1000,
      version: 3,
      containers: [{ name: 'web', lastStatus: 'RUNNING', runtimeId: 'ctr-1', networkBindings: binding(8080) }],
    });
    ci = await instance(p, arn);
    expect(ci).toMatchObject({ pendingTasksCount: 0, runningTasksCount: 1 });

    a.session.send(change(taskArn, 'STOPPED', [c('web', 'STOPPED', { exitCode: 0 })], { executionStoppedAt: t0 + 20 }));
    await waitFor(async () => (await task(p, taskArn)).lastStatus === 'STOPPED', 'the task to be STOPPED');
    expect(await task(p, taskArn)).toMatchObject({
      desiredStatus: 'STOPPED',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      executionStoppedAt: (t0 + 20) / 1000,
      stoppedAt: expect.any(Number),
      containers: [{ lastStatus: 'STOPPED', exitCode: 0 }],
    });
    ci = await instance(p, arn);
    expect(ci).toMatchObject({ pendingTasksCount: 0, runningTasksCount: 0 });
    expect([resource(ci, 'CPU'), resource(ci, 'MEMORY'), resource(ci, 'PORTS')]).toEqual([2048, 4096, ['22']]);
    // The ListTasks index moved with desiredStatus, in the same transaction.
    expect(((await p.ecs('ListTasks', { desiredStatus: 'STOPPED' })) as Json).taskArns).toEqual([taskArn]);
    expect(((await p.ecs('ListTasks', {})) as Json).taskArns).toEqual([]);
    // The agent stopped it itself: nothing to tell it.
    expect(a.received.filter((m) => m.type === 'stopTask')).toEqual([]);
    expect(p.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('StopTask → stopTask; the agent’s STOPPED keeps UserInitiated and releases the reservation', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint);
    const arn = await connected(a);
    const taskArn = await runTask(p);
    await message(a, 'runTask');
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'RUNNING')], { pullStartedAt: Date.now() }));
    await waitFor(async () => (await instance(p, arn)).runningTasksCount === 1, 'the task counted as running');

    await p.ecs('StopTask', { task: taskArn, reason: 'going home' });
    const stop = await message(a, 'stopTask');
    expect(stop).toEqual({ type: 'stopTask', taskArn, reason: 'going home', stopCode: 'UserInitiated' });

    a.session.send(change(taskArn, 'STOPPED', [c('web', 'STOPPED', { exitCode: 143 })]));
    await waitFor(async () => (await task(p, taskArn)).lastStatus === 'STOPPED', 'the task to be STOPPED');
    expect(await task(p, taskArn)).toMatchObject({ stopCode: 'UserInitiated', stoppedReason: 'going home', containers: [{ exitCode: 143 }] });
    const ci = await instance(p, arn);
    expect(ci).toMatchObject({ runningTasksCount: 0, pendingTasksCount: 0 });
    expect(resource(ci, 'CPU')).toBe(2048);
    expect(a.received.filter((m) => m.type === 'stopTask')).toHaveLength(1);
  });

  it('a stop held back by readyToStop (targets draining) is sent when the task is written again and may go', async () => {
    const draining = new Set<string>();
    const p = await platform({ readyToStop: (taskArn) => !draining.has(taskArn) });
    await registerWeb(p, { portMappings: [] });
    const a = agent(p.endpoint);
    await connected(a);
    const taskArn = await runTask(p);
    await message(a, 'runTask');
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'RUNNING')]));
    await waitFor(async () => (await task(p, taskArn)).lastStatus === 'RUNNING', 'the task to run');

    draining.add(taskArn);
    await p.ecs('StopTask', { task: taskArn });
    // The hub handles a cluster's task changes in order: once a later task reaches the agent, the
    // stop would have been sent before it.
    const later = await runTask(p);
    await message(a, 'runTask', (m) => m.task.taskArn === later);
    expect(a.received.filter((m) => m.type === 'stopTask')).toEqual([]);

    draining.delete(taskArn);
    const key = keys.task('default', idOf(taskArn));
    const kv = (await p.store.get(key))!;
    await p.store.txn([], [{ type: 'put', key, value: JSON.stringify({ ...JSON.parse(kv.value), lastStatus: 'STOPPING' }) }]);
    expect(await message(a, 'stopTask')).toMatchObject({ taskArn, stopCode: 'UserInitiated' });
  });

  it('an essential container exiting stops the task: the agent is told to stop the rest', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint);
    await connected(a);
    const taskArn = await runTask(p);
    await message(a, 'runTask');
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'STOPPED', { exitCode: 1 })]));
    const stop = await message(a, 'stopTask');
    expect(stop).toEqual({ type: 'stopTask', taskArn, reason: 'Essential container in task exited', stopCode: 'EssentialContainerExited' });
    expect(await task(p, taskArn)).toMatchObject({ desiredStatus: 'STOPPED', lastStatus: 'RUNNING' });
  });

  it('a task the control plane finished before the agent reported is stopped on the agent', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint);
    await connected(a);
    const taskArn = await runTask(p);
    await message(a, 'runTask');
    // Nothing reported yet: StopTask finishes the task on the spot (and frees its reservation)...
    await p.ecs('StopTask', { task: taskArn });
    expect((await task(p, taskArn)).lastStatus).toBe('STOPPED');
    // ...yet the agent was told to run it, so it is told to stop it.
    expect(await message(a, 'stopTask')).toMatchObject({ taskArn, stopCode: 'UserInitiated' });
    // A late report of the task running changes nothing stored: STOPPED is final.
    const before = await task(p, taskArn);
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'RUNNING')]));
    a.session.send(change(taskArn, 'STOPPED', [c('web', 'STOPPED', { exitCode: 0 })]));
    await waitFor(() => a.session.unacked === 0, 'both reports acked');
    expect(await task(p, taskArn)).toEqual(before);
  });

  it('RunTask on another instance does not reach this agent', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint, { hostname: 'a' });
    const b = agent(p.endpoint, { hostname: 'b' });
    const arnA = await connected(a);
    const arnB = await connected(b);
    const onB = await runTask(p);
    const target = (await task(p, onB)).containerInstanceArn === arnB ? b : a;
    const other = target === a ? b : a;
    await message(target, 'runTask', (m) => m.task.taskArn === onB);
    // The other agent's next message proves it saw the same moment of the store and got nothing.
    const second = await p.ecs('StartTask', { taskDefinition: 'web', containerInstances: [other === a ? arnA : arnB] });
    await message(other, 'runTask', (m) => m.task.taskArn === (second as Json).tasks[0].taskArn);
    expect(other.received.some((m) => m.type === 'runTask' && m.task.taskArn === onB)).toBe(false);
  });

  it('tasks written in one transaction all reach their agent, and agents joining later get only theirs', async () => {
    const p = await platform();
    await registerWeb(p, { portMappings: [{ containerPort: 80, hostPort: 0 }] });
    const a = agent(p.endpoint, { hostname: 'a' });
    const arnA = await connected(a);
    // StartTask writes both tasks at one store revision.
    const both = (await p.ecs('StartTask', { taskDefinition: 'web', containerInstances: [arnA, arnA] })) as Json;
    const arns = both.tasks.map((t: Json) => t.taskArn as string);
    expect(arns).toHaveLength(2);
    for (const arn of arns) await message(a, 'runTask', (m) => m.task.taskArn === arn);
    const b = agent(p.endpoint, { hostname: 'b' });
    const arnB = await connected(b);
    const onB = (await p.ecs('StartTask', { taskDefinition: 'web', containerInstances: [arnB] })) as Json;
    await message(b, 'runTask', (m) => m.task.taskArn === onB.tasks[0].taskArn);
    expect(b.received.filter((m) => m.type === 'runTask')).toHaveLength(1);
    expect(a.received.filter((m) => m.type === 'runTask')).toHaveLength(2);
  });

  it('a burst of reports is stored together and acked in the order sent, a refused one in its place', async () => {
    const p = await platform();
    await registerWeb(p, { portMappings: [] });
    const a = agent(p.endpoint, { hostname: 'a' });
    const arnA = await connected(a);
    const started: Json = await p.ecs('StartTask', { taskDefinition: 'web', containerInstances: [arnA, arnA, arnA] });
    const arns = started.tasks.map((t: Json) => t.taskArn as string);
    await a.session.close();
    // A raw session for the same instance, so that the seqs and the burst are the test's own.
    const r = await raw(p.endpoint);
    r.send(hello({ containerInstanceArn: arnA, hostname: 'a' }));
    await waitFor(() => r.received.find((m) => m.type === 'welcome'), 'the welcome');
    const burst: AgentMessage[] = [
      change(arns[0], 'PENDING', [c('web', 'PENDING')]),
      change(arns[0], 'RUNNING', [c('web', 'RUNNING')]),
      change('arn:aws:ecs:us-east-1:000000000000:task/other-cluster/abc', 'RUNNING'),
      change(arns[1], 'RUNNING', [c('web', 'RUNNING')]),
      change(arns[2], 'RUNNING', [c('web', 'RUNNING')]),
      change(arns[1], 'STOPPED', [c('web', 'STOPPED', { exitCode: 0 })]),
    ];
    burst.forEach((m, i) => r.send({ ...m, seq: i + 1 }));
    await waitFor(() => r.received.filter((m) => m.type === 'ack').length === burst.length, 'every report acked');
    expect(r.received.filter((m) => m.type === 'ack').map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    // The refused report's error comes before its ack, and after the acks of the reports sent before it.
    const kinds = r.received.filter((m) => m.type === 'ack' || m.type === 'error').map((m) => (m.type === 'ack' ? m.seq : m.code));
    expect(kinds.slice(0, 4)).toEqual([1, 2, 'InvalidTaskArn', 3]);
    expect((await task(p, arns[0])).lastStatus).toBe('RUNNING');
    expect((await task(p, arns[1])).lastStatus).toBe('STOPPED');
    expect((await task(p, arns[2])).lastStatus).toBe('RUNNING');
    const ci = await instance(p, arnA);
    expect([ci.runningTasksCount, ci.pendingTasksCount]).toEqual([2, 0]);
  });

  it('a report about another instance’s task is refused (and acked), changing nothing', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint, { hostname: 'a' });
    const b = agent(p.endpoint, { hostname: 'b' });
    await connected(a);
    const arnB = await connected(b);
    const started: Json = await p.ecs('StartTask', { taskDefinition: 'web', containerInstances: [arnB] });
    const onB = started.tasks[0].taskArn as string;
    const before = await task(p, onB);
    a.session.send(change(onB, 'RUNNING', [c('web', 'RUNNING')]));
    expect(await message(a, 'error')).toMatchObject({ code: 'TaskNotOnInstance' });
    await waitFor(() => a.session.unacked === 0, 'the refused report acked');
    a.session.send(change('arn:aws:ecs:us-east-1:000000000000:task/other-cluster/abc', 'RUNNING'));
    expect(await message(a, 'error', (m) => m.code === 'InvalidTaskArn')).toBeDefined();
    a.session.send(change('arn:aws:ecs:us-east-1:000000000000:task/default/0123', 'RUNNING'));
    expect(await message(a, 'error', (m) => m.code === 'TaskNotFound')).toBeDefined();
    expect(await task(p, onB)).toEqual(before);
  });

  it('a task whose task definition is gone fails to start instead of waiting forever', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint);
    const arn = await connected(a);
    await a.session.close();
    await waitFor(async () => (await instance(p, arn)).agentConnected === false, 'agentConnected false');
    // Placement needs a connected agent: the task is placed as if the server had not yet noticed the
    // disconnect (the window this test is about), and the agent is told nothing until it is back.
    await updateContainerInstance(p.store, 'default', arn.slice(arn.lastIndexOf('/') + 1), (ci) => ({ ...ci, agentConnected: true }));
    const taskArn = await runTask(p);
    await p.store.txn([], [{ type: 'delete', key: keys.taskDefinition('web', 1) }]);
    const b = agent(p.endpoint, { containerInstanceArn: arn });
    await connected(b);
    await waitFor(async () => (await task(p, taskArn)).lastStatus === 'STOPPED', 'the task to fail');
    expect(await task(p, taskArn)).toMatchObject({ stopCode: 'TaskFailedToStart', stoppedReason: expect.stringContaining('task-definition/web:1') });
    expect(b.received.some((m) => m.type === 'runTask')).toBe(false);
    expect((await instance(p, arn)).pendingTasksCount).toBe(0);
  });
});

describe('reconnects', () => {
  it('disconnect marks the instance disconnected; a reconnect reporting the task running gets no runTask for it', async () => {
    const p = await platform();
    await registerWeb(p, { portMappings: [{ containerPort: 80, hostPort: 0 }] });
    const a = agent(p.endpoint);
    const arn = await connected(a);
    const t1 = await runTask(p);
    await message(a, 'runTask');
    a.session.send(change(t1, 'RUNNING', [c('web', 'RUNNING')], { pullStartedAt: Date.now() }));
    await waitFor(async () => (await task(p, t1)).lastStatus === 'RUNNING', 'RUNNING');

    await a.session.close();
    await waitFor(async () => (await instance(p, arn)).agentConnected === false, 'agentConnected false');

    const b = agent(p.endpoint, { containerInstanceArn: arn, runningTaskArns: [t1] });
    await connected(b);
    await waitFor(async () => (await instance(p, arn)).agentConnected === true, 'agentConnected true');
    // Messages on one session arrive in order: once the runTask of a later task is here, the
    // comparison made at connect time has long been sent.
    const t2 = await runTask(p);
    await message(b, 'runTask', (m) => m.task.taskArn === t2);
    expect(b.received.filter((m) => m.type === 'runTask').map((m) => (m as Json).task.taskArn)).toEqual([t2]);

    // The control: an agent that does not report t1 running is told to run it again.
    await b.session.close();
    const c2 = agent(p.endpoint, { containerInstanceArn: arn, runningTaskArns: [] });
    await connected(c2);
    await message(c2, 'runTask', (m) => m.task.taskArn === t1);
    await message(c2, 'runTask', (m) => m.task.taskArn === t2);
  });

  it('a task the agent runs but the control plane does not place there is stopped', async () => {
    const p = await platform();
    const ghost = 'arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef';
    const a = agent(p.endpoint, { runningTaskArns: [ghost] });
    await connected(a);
    expect(await message(a, 'stopTask')).toMatchObject({ taskArn: ghost });
  });

  it('changes sent while disconnected arrive after the reconnect, in order', async () => {
    const p = await platform();
    await registerWeb(p, { portMappings: [{ containerPort: 80, hostPort: 0 }], healthCheck: { command: ['CMD', 'true'] } });
    const proxy = await startProxy(p.port);
    cleanup.push(() => proxy.close());
    let running: string[] = [];
    const a = agent(proxy.endpoint, () => ({ runningTaskArns: running }));
    const arn = await connected(a);
    const taskArn = await runTask(p);
    await message(a, 'runTask');
    running = [taskArn];
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'RUNNING', { networkBindings: binding(1000), healthStatus: 'UNKNOWN' })]));
    await waitFor(async () => (await task(p, taskArn)).lastStatus === 'RUNNING', 'RUNNING');
    const before = await task(p, taskArn);

    proxy.block();
    proxy.cut();
    await waitFor(() => !a.session.connected, 'the client to notice');
    await waitFor(async () => (await instance(p, arn)).agentConnected === false, 'the hub to notice');
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'RUNNING', { networkBindings: binding(1001), healthStatus: 'HEALTHY' })]));
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'RUNNING', { networkBindings: binding(1002), healthStatus: 'UNHEALTHY' })]));
    a.session.send(change(taskArn, 'RUNNING', [c('web', 'RUNNING', { networkBindings: binding(1003), healthStatus: 'HEALTHY' })]));
    expect(await task(p, taskArn)).toEqual(before);

    proxy.unblock();
    await waitFor(async () => (await task(p, taskArn)).version === before.version + 3, 'all three changes');
    expect(await task(p, taskArn)).toMatchObject({ healthStatus: 'HEALTHY', containers: [{ networkBindings: binding(1003), healthStatus: 'HEALTHY' }] });
    expect(a.welcomes()).toBe(2);
    expect(a.arn()).toBe(arn);
    // The reconnect reported the task running: it was not started again.
    expect(a.received.filter((m) => m.type === 'runTask')).toHaveLength(1);
    expect(p.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('a second session for the same instance replaces the first; the instance stays connected', async () => {
    const p = await platform();
    const first = await raw(p.endpoint);
    first.send(hello());
    await waitFor(() => first.received.find((m) => m.type === 'welcome'), 'the first welcome');
    const arn = first.received.find((m) => m.type === 'welcome').containerInstanceArn as string;

    const second = await raw(p.endpoint);
    second.send(hello({ containerInstanceArn: arn }));
    expect(await first.closed).toBe(CLOSE_REPLACED);
    await waitFor(() => second.received.find((m) => m.type === 'welcome'), 'the second welcome');
    expect((await instance(p, arn)).agentConnected).toBe(true);
    // Only the owner's end disconnects the instance.
    second.ws.close();
    await second.closed;
    await waitFor(async () => (await instance(p, arn)).agentConnected === false, 'agentConnected false');
  });

  it('a session silent for three heartbeat intervals is closed and its instance disconnected', async () => {
    const p = await platform({ heartbeatMs: 50 });
    const s = await raw(p.endpoint);
    s.send(hello());
    await waitFor(() => s.received.find((m) => m.type === 'welcome'), 'welcome');
    const arn = s.received.find((m) => m.type === 'welcome').containerInstanceArn as string;
    expect(s.received.find((m) => m.type === 'welcome').heartbeatMs).toBe(50);
    expect(await s.closed).toBe(CLOSE_IDLE);
    expect(s.received.some((m) => m.type === 'heartbeat')).toBe(true);
    await waitFor(async () => (await instance(p, arn)).agentConnected === false, 'agentConnected false');
  });

  it('the session client heartbeats keep a quiet agent connected', async () => {
    // Short enough to pass three intervals quickly, long enough that a busy test machine's pauses
    // stay well inside the two intervals of slack the idle rule leaves.
    const p = await platform({ heartbeatMs: 100 });
    const a = agent(p.endpoint);
    await connected(a);
    // A silent session opened after it is closed for idleness: at least three intervals have
    // passed, with nothing but heartbeats from the client — which is still on its first session.
    const silent = await raw(p.endpoint);
    expect(await silent.closed).toBe(CLOSE_IDLE);
    expect(a.session.connected).toBe(true);
    expect(a.welcomes()).toBe(1);
    expect(p.logs.filter((l) => l.message === 'agent connected')).toHaveLength(1);
  });

  it('closing the hub disconnects every instance and refuses new sessions', async () => {
    const p = await platform();
    const a = agent(p.endpoint);
    const arn = await connected(a);
    await p.hub.close();
    expect(JSON.parse((await p.store.get(keys.containerInstance('default', idOf(arn))))!.value).agentConnected).toBe(false);
    const target = presignAgentUrl(p.endpoint, TEST_KEY, TEST_REGION, new Date());
    expect(await refusal(target.url, target.host)).toMatchObject({ status: 503, body: { __type: 'ServiceUnavailableException' } });
  });
});

describe('messages the hub does not expect', () => {
  it('garbage is answered with error; the session and the hub go on', async () => {
    const p = await platform();
    const s = await raw(p.endpoint);
    s.send('this is not json');
    s.send({ type: 'launchMissiles' });
    s.send({ type: 'taskStateChange', change: { taskArn: 'x', status: 'RUNNING', containers: [] } });
    s.send(hello({ totalResources: [{ name: 'CPU', type: 'INTEGER', integerValue: -1 }] }));
    s.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await waitFor(() => s.received.length >= 5 && s.received, 'five answers');
    expect(s.received.map((m) => [m.type, m.code])).toEqual([
      ['error', 'InvalidMessage'],
      ['error', 'InvalidMessage'],
      ['error', 'HelloRequired'],
      ['error', 'InvalidMessage'],
      ['error', 'InvalidMessage'],
    ]);
    expect(s.received[3].message).toMatch(/hello\.totalResources\[0\]\.integerValue must be an integer/);
    s.send(hello());
    await waitFor(() => s.received.find((m) => m.type === 'welcome'), 'a welcome after all that');
    const other = agent(p.endpoint, { hostname: 'b' });
    await connected(other);
    expect(p.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('parseAgentMessage names the field and the rule', () => {
    const fails = (m: unknown) => {
      try {
        parseAgentMessage(JSON.stringify(m));
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidAgentMessage);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(fails([])).toBe('message must be an object.');
    expect(fails({ type: 'heartbeat' })).toBe('heartbeat.at must be a number from 0 to 9007199254740991.');
    expect(fails({ type: 'taskStateChange', change: { taskArn: 'a', status: 'BORED', containers: [] } })).toMatch(/^taskStateChange\.change\.status must be one of PROVISIONING/);
    expect(fails({ type: 'taskStateChange', change: { taskArn: 'a', status: 'RUNNING', containers: [{ containerName: 'w', status: 'RUNNING', networkBindings: [{ bindIP: '0.0.0.0', containerPort: 80, hostPort: 70000, protocol: 'tcp' }] }] } })).toBe(
      'taskStateChange.change.containers[0].networkBindings[0].hostPort must be an integer from 0 to 65535.',
    );
    expect(fails({ type: 'taskStateChange', change: { taskArn: 'a', status: 'RUNNING', containers: [{ containerName: 'w', status: 'RUNNING', exitCode: 1.5 }] } })).toMatch(/exitCode must be an integer/);
    expect(fails({ type: 'stats', at: 1, tasks: [{ taskArn: 'a', containers: [{ containerName: 'w', cpuNanos: 'lots', memoryBytes: 1 }] }] })).toMatch(/^stats\.tasks\[0\]\.containers\[0\]\.cpuNanos/);
    expect(fails({ ...hello(), runningTaskArns: [1] })).toBe('hello.runningTaskArns[0] must be a string.');
    // Unknown fields are dropped, known ones kept.
    expect(parseAgentMessage(JSON.stringify({ type: 'heartbeat', at: 5, extra: true }))).toEqual({ type: 'heartbeat', at: 5 });
    const full = change('arn', 'RUNNING', [c('w', 'RUNNING', { exitCode: 0, networkBindings: binding(1), healthStatus: 'HEALTHY', runtimeId: 'r', imageDigest: 'd', reason: 'x' })], {
      reason: 'r',
      stopCode: 'UserInitiated',
      healthStatus: 'HEALTHY',
      privateIPv4Address: '10.0.0.1',
      pullStartedAt: 1,
      pullStoppedAt: 2,
      startedAt: 3,
      executionStoppedAt: 4,
    });
    expect(parseAgentMessage(JSON.stringify({ ...full, seq: 7 }))).toEqual({ ...full, seq: 7 });
    expect(parseAgentMessage(JSON.stringify(hello()))).toEqual(hello());
  });
});

describe('stats', () => {
  it('keeps the latest usage of the instance’s own running tasks only', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint);
    await connected(a);
    const taskArn = await runTask(p);
    await message(a, 'runTask');
    const foreign = 'arn:aws:ecs:us-east-1:000000000000:task/default/ffffffffffffffffffffffffffffffff';
    const usage = (cpuNanos: number) => [{ containerName: 'web', cpuNanos, memoryBytes: 1 << 20 }];
    a.session.send({ type: 'stats', at: 1, tasks: [{ taskArn, containers: usage(10) }, { taskArn: foreign, containers: usage(99) }] });
    a.session.send({ type: 'stats', at: 2, tasks: [{ taskArn, containers: usage(20) }] });
    const latest = await waitFor(() => p.hub.usage(taskArn)?.at === 2 && p.hub.usage(taskArn), 'the latest usage');
    expect(latest).toEqual({ at: 2, containerInstanceArn: a.arn(), containers: usage(20) });
    expect(p.hub.usage(foreign)).toBeUndefined();
    a.session.send(change(taskArn, 'STOPPED', [c('web', 'STOPPED', { exitCode: 0 })]));
    await waitFor(() => p.hub.usage(taskArn) === undefined, 'usage dropped once the task stopped');
  });

  it('forgets the usage of a host that disconnected', async () => {
    const p = await platform();
    await registerWeb(p);
    const a = agent(p.endpoint);
    await connected(a);
    const taskArn = await runTask(p);
    await message(a, 'runTask');
    a.session.send({ type: 'stats', at: 1, tasks: [{ taskArn, containers: [{ containerName: 'web', cpuNanos: 1, memoryBytes: 1 }] }] });
    await waitFor(() => p.hub.usage(taskArn), 'usage');
    await a.session.close();
    await waitFor(() => p.hub.usage(taskArn) === undefined, 'usage dropped with the session');
  });
});

function c(containerName: string, status: ContainerStateChange['status'], extra: Partial<ContainerStateChange> = {}): ContainerStateChange {
  return { containerName, status, ...extra };
}
