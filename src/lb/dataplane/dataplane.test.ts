/**
 * The data plane for real: HAProxy started on a temp SqliteStore holding model records (written
 * here as the API would), Node backends on ephemeral ports, and real HTTP through the listeners.
 * Nothing here asserts on time: every wait polls for a state, bounded by the test's timeout.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Logger } from '../../edge/logger.js';
import { SqliteStore } from '../../store/index.js';
import { lbIdOf, lbKeys, type TargetGroupRecord, type TargetHealthRecord, type TargetRecord } from '../model.js';
import { startLbDataPlane, type LbDataPlane } from './dataplane.js';
import { backendName } from './haproxy-syntax.js';
import { runtimeCommand } from './runtime-api.js';
import { MIN_SLOTS } from './servers.js';
import { freePort, startBackend, type Backend } from './testing/backends.js';
import {
  deleteRecords,
  fixedResponse,
  forward,
  listenerRecord,
  loadBalancerRecord,
  pathIs,
  redirect,
  ruleRecord,
  stickyForward,
  targetGroupRecord,
  targetRecord,
  writeRecords,
} from './testing/fixture.js';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Which backend answered (by the name in its JSON reply). */
const servedBy = async (port: number, path: string, headers: Record<string, string> = {}) => {
  const r = await get(port, path, headers);
  return r.status === 200 ? (JSON.parse(r.body) as { name: string }).name : `status ${r.status}`;
};

/** Polls until `check` holds (returns a truthy value), failing with the last value seen. */
async function until<T>(what: string, check: () => Promise<T> | T): Promise<T> {
  let last: unknown;
  for (;;) {
    try {
      last = await check();
      if (last) return last as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; last: ${String(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
let deadline = 0;

/** One raw keep-alive connection; `ask` sends a GET and gives the whole reply ('' if the connection closed first). */
async function keepAliveClient(port: number): Promise<{ socket: Socket; ask: (path: string) => Promise<string> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  let buffer = '';
  let closed = false;
  socket.on('data', (d: string) => (buffer += d));
  socket.on('close', () => (closed = true));
  socket.on('error', () => (closed = true));
  const complete = () => {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return false;
    const length = Number(/content-length: *(\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
    return buffer.length - end - 4 >= length;
  };
  const ask = async (path: string) => {
    buffer = '';
    if (!closed) socket.write(`GET ${path} HTTP/1.1\r\nHost: kept\r\n\r\n`);
    await until(`a reply to ${path} on the kept connection`, () => closed || complete());
    return complete() ? buffer : '';
  };
  return { socket, ask };
}
const within = () => (deadline = Date.now() + 15_000);

/** Errors the data plane logged: none is expected but the crash the last test causes. */
const errors: string[] = [];
const quiet: Logger = {
  error: (m, f) => {
    errors.push(m);
    console.error(m, f);
  },
  warn: () => {},
  debug: () => {},
};
/** Fast checks so tests see verdicts quickly; the model allows fractional seconds for that. */
const fastChecks = { HealthCheckPath: '/health', HealthCheckIntervalSeconds: 0.1, HealthCheckTimeoutSeconds: 0.3, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2 } as const;

const target = (tg: TargetGroupRecord, b: Backend, over: Partial<TargetRecord> = {}) => targetRecord(tg, '127.0.0.1', b.port, over);
const healthOf = async (store: SqliteStore, tg: TargetGroupRecord, b: Backend) => {
  const kv = await store.get(lbKeys.health(lbIdOf(tg.TargetGroupArn), '127.0.0.1', b.port));
  return kv === undefined ? undefined : (JSON.parse(kv.value) as TargetHealthRecord);
};

describe('the LB data plane on real HAProxy', () => {
  let dir: string;
  let store: SqliteStore;
  let lb: LbDataPlane;
  let port: number;
  let slowPort: number;
  const backends: Record<string, Backend> = {};
  const lbA = loadBalancerRecord('front', { 'access_logs.s3.enabled': 'true' });
  const lbSlow = loadBalancerRecord('slow', { 'idle_timeout.timeout_seconds': '1' });
  const tgA = targetGroupRecord('a', fastChecks);
  const tgB = targetGroupRecord('b', fastChecks);
  const tgEmpty = targetGroupRecord('empty', fastChecks);
  const tgReset = targetGroupRecord('reset', fastChecks);
  const tgSlow = targetGroupRecord('slow', fastChecks);
  const tgSticky = targetGroupRecord('sticky', fastChecks, { 'stickiness.enabled': 'true', 'stickiness.lb_cookie.duration_seconds': '300' });
  const tgHealth = targetGroupRecord('health', { ...fastChecks, Matcher: { HttpCode: '200-299' } });
  const tgDrain = targetGroupRecord('drain', fastChecks);
  // A check that waits for its answer as long as the test likes: the target stays in `initial`.
  const tgInit = targetGroupRecord('init', { ...fastChecks, HealthCheckTimeoutSeconds: 60 });
  const tgOpen = targetGroupRecord('open', fastChecks);

  beforeAll(async () => {
    within();
    dir = await mkdtemp(join(tmpdir(), 'berth-lb-dp-'));
    store = SqliteStore.open(join(dir, 'state.db'));
    for (const name of ['a1', 'a2', 'b1', 'reset', 'slow', 's1', 's2', 'good', 'bad', 'hang', 'd1', 'd2', 'new', 'gate', 'c1', 'o1', 'o2']) backends[name] = await startBackend(name);
    backends['reset']!.traffic = 'reset';
    backends['slow']!.traffic = 'hang';
    backends['bad']!.health = 'fail';
    backends['hang']!.health = 'hang';
    backends['o1']!.health = 'fail';
    backends['o2']!.health = 'fail';
    port = await freePort();
    slowPort = await freePort();
    const listener = listenerRecord(lbA, port, [forward(tgA)]);
    const slowListener = listenerRecord(lbSlow, slowPort, [forward(tgSlow)]);
    await writeRecords(
      store,
      lbA,
      lbSlow,
      tgA,
      tgB,
      tgEmpty,
      tgReset,
      tgSlow,
      tgSticky,
      tgHealth,
      tgDrain,
      tgInit,
      tgOpen,
      listener,
      slowListener,
      ruleRecord(listener, 1, [pathIs('/b/*')], [forward(tgB)]),
      ruleRecord(listener, 2, [pathIs('/split')], [forward([tgA, 3], [tgB, 1])]),
      ruleRecord(listener, 3, [pathIs('/fixed')], [fixedResponse('418', 'short and stout\n', 'text/plain; charset=utf-8')]),
      ruleRecord(listener, 4, [pathIs('/go/*')], [redirect({ Host: 'example.com', Path: '/new/#{path}', StatusCode: 'HTTP_302' })]),
      ruleRecord(listener, 5, [pathIs('/empty/*')], [forward(tgEmpty)]),
      ruleRecord(listener, 6, [pathIs('/reset')], [forward(tgReset)]),
      ruleRecord(listener, 7, [pathIs('/sticky/*')], [forward(tgSticky)]),
      ruleRecord(listener, 8, [pathIs('/health-test/*')], [forward(tgHealth)]),
      ruleRecord(listener, 9, [pathIs('/drain/*')], [forward(tgDrain)]),
      ruleRecord(listener, 10, [pathIs('/init/*')], [forward(tgInit)]),
      ruleRecord(listener, 11, [pathIs('/open/*')], [forward(tgOpen)]),
      ruleRecord(listener, 12, [pathIs('/tg-sticky')], [stickyForward(300, [tgA, 1], [tgB, 1])]),
      target(tgOpen, backends['o1']!),
      target(tgOpen, backends['o2']!),
      target(tgA, backends['a1']!),
      target(tgA, backends['a2']!),
      target(tgB, backends['b1']!),
      target(tgReset, backends['reset']!),
      target(tgSlow, backends['slow']!),
      target(tgSticky, backends['s1']!),
      target(tgSticky, backends['s2']!),
      target(tgHealth, backends['good']!),
      target(tgHealth, backends['bad']!),
      target(tgHealth, backends['hang']!),
      targetRecord(tgHealth, '127.0.0.1', 1), // nothing listens on port 1
      target(tgDrain, backends['d1']!),
      target(tgDrain, backends['d2']!),
    );
    lb = startLbDataPlane({ store, bindAddress: '127.0.0.1', stateDir: join(dir, 'lb'), logger: quiet, healthPollMs: 100 });
    await lb.ready;
    for (const [tg, b] of [
      [tgA, 'a1'],
      [tgA, 'a2'],
      [tgB, 'b1'],
      [tgSticky, 's1'],
      [tgSticky, 's2'],
      [tgDrain, 'd1'],
      [tgDrain, 'd2'],
      [tgSlow, 'slow'],
      [tgReset, 'reset'],
    ] as const) {
      await until(`${b} healthy`, async () => (await healthOf(store, tg, backends[b]!))?.State === 'healthy');
    }
  }, 30_000);

  afterAll(async () => {
    await lb?.close();
    await Promise.all(Object.values(backends).map((b) => b.close()));
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('routes by path rule, and by default action otherwise', async () => {
    within();
    expect(await servedBy(port, '/b/x')).toBe('b1');
    expect(['a1', 'a2']).toContain(await servedBy(port, '/anything'));
    expect(['a1', 'a2']).toContain(await servedBy(port, '/b')); // '/b/*' wants the slash
  });

  it('round-robins over the targets of a group', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(await servedBy(port, '/rr'));
    expect([...seen].sort()).toEqual(['a1', 'a2']);
  });

  it('passes X-Forwarded-For, -Proto and -Port to the target', async () => {
    const r = JSON.parse((await get(port, '/xf', { 'x-forwarded-for': '203.0.113.9' })).body) as { headers: Record<string, string> };
    expect(r.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(r.headers['x-forwarded-proto']).toBe('http');
    expect(r.headers['x-forwarded-port']).toBe(String(port));
  });

  it('splits a weighted forward 3:1 (400 requests; bounds at about 7 standard deviations)', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 400; i++) {
      const name = await servedBy(port, '/split');
      const group = name.startsWith('a') ? 'a' : name;
      counts[group] = (counts[group] ?? 0) + 1;
    }
    expect(Object.keys(counts).sort()).toEqual(['a', 'b1']);
    expect(counts['a']).toBeGreaterThanOrEqual(240);
    expect(counts['a']).toBeLessThanOrEqual(360);
  });

  it('answers a fixed response with its status, type and body', async () => {
    const r = await get(port, '/fixed');
    expect(r.status).toBe(418);
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.body).toBe('short and stout\n');
  });

  it('redirects with the placeholders filled in', async () => {
    const r = await get(port, '/go/x/y?q=1');
    expect(r.status).toBe(302);
    expect(r.headers['location']).toBe(`http://example.com:${port}/new/go/x/y?q=1`);
    expect((await get(port, '/go/z')).headers['location']).toBe(`http://example.com:${port}/new/go/z`);
  });

  it('answers 503 with ELBv2 page when the group has no targets', async () => {
    const r = await get(port, '/empty/x');
    expect(r.status).toBe(503);
    expect(r.headers['server']).toBe('awselb/2.0');
    expect(r.body).toContain('<h1>503 Service Temporarily Unavailable</h1>');
  });

  it('answers 502 when the target resets the connection', async () => {
    const r = await get(port, '/reset');
    expect(r.status).toBe(502);
    expect(r.body).toContain('<center><h1>502 Bad Gateway</h1></center>');
  });

  it('answers 504 when the target does not answer within the idle timeout', async () => {
    const r = await get(slowPort, '/slow');
    expect(r.status).toBe(504);
    expect(r.body).toContain('<h1>504 Gateway Time-out</h1>');
  });

  it('passes a WebSocket upgrade through', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('ping'));
      ws.on('message', (data: Buffer) => resolve(data.toString('utf8')));
      ws.on('error', reject);
    });
    ws.close();
    expect(reply).toMatch(/^a[12]:ping$/);
  });

  it('pins a client to a target with the AWSALB cookie; clients without it spread', async () => {
    const first = await get(port, '/sticky/x');
    const setCookie = String(first.headers['set-cookie']);
    expect(setCookie).toMatch(/^AWSALB=[^;]+; Max-Age=300; Path=\/$/);
    const cookie = setCookie.split(';')[0]!;
    const pinned = (JSON.parse(first.body) as { name: string }).name;
    for (let i = 0; i < 20; i++) expect(await servedBy(port, '/sticky/x', { cookie })).toBe(pinned);
    const spread = new Set<string>();
    for (let i = 0; i < 40; i++) spread.add(await servedBy(port, '/sticky/x'));
    expect([...spread].sort()).toEqual(['s1', 's2']);
  });

  it('marks failing targets unhealthy with ELBv2 reasons, and sends them nothing', async () => {
    within();
    await until('health verdicts', async () => (await healthOf(store, tgHealth, backends['good']!))?.State === 'healthy');
    await until('bad unhealthy', async () => (await healthOf(store, tgHealth, backends['bad']!))?.State === 'unhealthy');
    expect(await healthOf(store, tgHealth, backends['bad']!)).toMatchObject({ State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch', Description: 'Health checks failed with these codes: [500]' });
    await until('hang unhealthy', async () => (await healthOf(store, tgHealth, backends['hang']!))?.State === 'unhealthy');
    expect(await healthOf(store, tgHealth, backends['hang']!)).toMatchObject({ State: 'unhealthy', Reason: 'Target.Timeout' });
    const closedPort = lbKeys.health(lbIdOf(tgHealth.TargetGroupArn), '127.0.0.1', 1);
    await until('closed port unhealthy', async () => (await store.get(closedPort))?.value.includes('Target.FailedHealthChecks'));
    const before = backends['bad']!.requests.length + backends['hang']!.requests.length;
    for (let i = 0; i < 20; i++) expect(await servedBy(port, '/health-test/x')).toBe('good');
    expect(backends['bad']!.requests.length + backends['hang']!.requests.length).toBe(before);
  });

  it('keeps a client on one target group of a sticky weighted forward with the AWSALBTG cookie', async () => {
    within();
    const groupOf = (name: string) => (name.startsWith('a') ? 'a' : name.startsWith('b') ? 'b' : name);
    const seen = new Set<string>();
    const cookies = new Map<string, string>();
    await until('a cookie for each group', async () => {
      const r = await get(port, '/tg-sticky');
      const cookie = ([] as string[]).concat(r.headers['set-cookie'] ?? []).find((c) => c.startsWith('AWSALBTG='));
      expect(cookie).toMatch(/^AWSALBTG=[^;]+; Max-Age=300; Path=\/$/);
      const group = groupOf((JSON.parse(r.body) as { name: string }).name);
      seen.add(group);
      cookies.set(group, cookie!.split(';')[0]!);
      return seen.size === 2;
    });
    for (const [group, cookie] of cookies) {
      for (let i = 0; i < 20; i++) expect(groupOf(await servedBy(port, '/tg-sticky', { cookie }))).toBe(group);
    }
  });

  it('fails open as ALB does: a group whose targets are all unhealthy routes to all of them, until one is healthy again', async () => {
    within();
    const [o1, o2] = [backends['o1']!, backends['o2']!];
    await until('o1 unhealthy', async () => (await healthOf(store, tgOpen, o1))?.State === 'unhealthy');
    await until('o2 unhealthy', async () => (await healthOf(store, tgOpen, o2))?.State === 'unhealthy');
    const open = new Set<string>();
    await until('both serve while all are unhealthy', async () => {
      open.add(await servedBy(port, '/open/x'));
      return open.has('o1') && open.has('o2');
    });
    o1.health = 'ok';
    await until('o1 healthy', async () => (await healthOf(store, tgOpen, o1))?.State === 'healthy');
    await until('o1 alone serves', async () => (await servedBy(port, '/open/x')) === 'o1');
    const before = o2.requests.length;
    for (let i = 0; i < 20; i++) expect(await servedBy(port, '/open/x')).toBe('o1');
    expect(o2.requests.length).toBe(before);
    expect(await healthOf(store, tgOpen, o2)).toMatchObject({ State: 'unhealthy' });
    o1.health = 'fail';
    await until('o1 unhealthy again', async () => (await healthOf(store, tgOpen, o1))?.State === 'unhealthy');
    await until('o2 serves again', async () => (await servedBy(port, '/open/x')) === 'o2');
  });

  it('brings a recovering target back', async () => {
    within();
    backends['bad']!.health = 'ok';
    await until('bad healthy again', async () => (await healthOf(store, tgHealth, backends['bad']!))?.State === 'healthy');
    backends['bad']!.health = 'fail';
    await until('bad unhealthy again', async () => (await healthOf(store, tgHealth, backends['bad']!))?.State === 'unhealthy');
  });

  it('keeps a new target initial, with no traffic, until it passes its healthy threshold', async () => {
    within();
    const gate = backends['gate']!;
    gate.health = 'hang';
    await writeRecords(store, target(tgInit, gate));
    await until('initial', async () => (await healthOf(store, tgInit, gate))?.State === 'initial');
    expect(await healthOf(store, tgInit, gate)).toMatchObject({ State: 'initial', Reason: 'Elb.InitialHealthChecking' });
    expect((await get(port, '/init/x')).status).toBe(503);
    expect(gate.requests).toEqual([]);
    gate.health = 'ok';
    gate.answerHeld();
    await until('healthy', async () => (await healthOf(store, tgInit, gate))?.State === 'healthy');
    expect(await servedBy(port, '/init/x')).toBe('gate');
  });

  it('sends a draining target no new requests', async () => {
    within();
    const d2 = target(tgDrain, backends['d2']!, { State: 'draining', DrainUntil: Date.now() + 600_000 });
    await writeRecords(store, d2);
    const backend = backendName(tgDrain.TargetGroupArn);
    await until('d2 draining in haproxy', async () => (await runtimeCommand(lb.paths.runtimeSocket, 'show stat')).split('\n').some((l) => l.startsWith(`${backend},`) && l.includes(',DRAIN,')));
    const before = backends['d2']!.requests.length;
    for (let i = 0; i < 20; i++) expect(await servedBy(port, '/drain/x')).toBe('d1');
    expect(backends['d2']!.requests.length).toBe(before);
  });

  it('adds and removes targets without a reload, and drops the health of a removed target', async () => {
    within();
    const worker = await lb.workerPid();
    expect(worker).toBeDefined();
    const added = target(tgB, backends['new']!);
    await writeRecords(store, added);
    await until('new target healthy', async () => (await healthOf(store, tgB, backends['new']!))?.State === 'healthy');
    // It passed through initial: the first verdict was not healthy at once (a check had to pass twice).
    await until('new target takes traffic', async () => (await servedBy(port, '/b/y')) === 'new');
    await deleteRecords(store, added);
    await until('health record removed', async () => (await healthOf(store, tgB, backends['new']!)) === undefined);
    for (let i = 0; i < 6; i++) expect(await servedBy(port, '/b/z')).toBe('b1');
    // The freed slot goes to the next target, and its old connections do not come with it.
    const next = target(tgB, backends['c1']!);
    await writeRecords(store, next);
    await until('c1 takes traffic', async () => (await servedBy(port, '/b/c')) === 'c1');
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(await servedBy(port, '/b/c'));
    expect([...seen].sort()).toEqual(['b1', 'c1']);
    await deleteRecords(store, next);
    await until('c1 removed', async () => (await healthOf(store, tgB, backends['c1']!)) === undefined);
    expect(await lb.workerPid()).toBe(worker);
  });

  it('reloads for a new rule, keeping its servers and their health, and answers an idle keep-alive client once more', async () => {
    within();
    const kept = await keepAliveClient(port);
    expect(await kept.ask('/x')).toMatch(/^HTTP\/1\.1 200/);
    const worker = await lb.workerPid();
    const listener = (await store.range(lbKeys.listeners())).kvs.map((kv) => JSON.parse(kv.value) as { ListenerArn: string; Port: number }).find((l) => l.Port === port)!;
    await writeRecords(store, ruleRecord(listener as never, 20, [pathIs('/late')], [fixedResponse('200', 'late')]));
    await until('new rule served', async () => (await get(port, '/late')).body === 'late');
    expect(await lb.workerPid()).not.toBe(worker);
    // Unhealthy stays unhealthy across the reload (no traffic), healthy ones serve at once.
    for (let i = 0; i < 10; i++) expect(await servedBy(port, '/health-test/x')).toBe('good');
    expect(['a1', 'a2']).toContain(await servedBy(port, '/x'));
    expect(await healthOf(store, tgHealth, backends['bad']!)).toMatchObject({ State: 'unhealthy' });
    // The connection that sat idle through the reload is answered by the old worker, which says it closes.
    const last = await kept.ask('/x');
    expect(last).toMatch(/^HTTP\/1\.1 200/);
    expect(last.toLowerCase()).toContain('connection: close');
    kept.socket.destroy();
    expect(errors).toEqual([]);
  });

  it('grows a backend past its slots with one reload, keeping the targets it had', async () => {
    within();
    const worker = await lb.workerPid();
    // Instance targets: ten ids, all at the one backend (the model gives each an address).
    const many = Array.from({ length: MIN_SLOTS + 2 }, (_, i) => targetRecord(tgB, `i-${i}`, backends['c1']!.port, { Address: '127.0.0.1' }));
    await writeRecords(store, ...many);
    const healthy = async () => {
      const kvs = (await store.range(lbKeys.healths(lbIdOf(tgB.TargetGroupArn)))).kvs;
      return kvs.filter((kv) => (JSON.parse(kv.value) as TargetHealthRecord).State === 'healthy').length;
    };
    await until('b1 and ten more healthy', async () => (await healthy()) === many.length + 1);
    expect(await lb.workerPid()).not.toBe(worker);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(await servedBy(port, '/b/many'));
    expect([...seen].sort()).toEqual(['b1', 'c1']);
    await deleteRecords(store, ...many);
    await until('back to b1 alone', async () => (await healthy()) === 1);
  });

  it('writes an access log for the load balancer with access_logs.s3.enabled, and only for it', async () => {
    within();
    await until('log lines', () => readFileSync(lb.paths.accessLogFile, 'utf8').includes('GET /fixed HTTP/1.1'));
    expect(readFileSync(lb.paths.accessLogFile, 'utf8')).not.toContain('GET /slow');
  });

  it('starts HAProxy again when it dies', async () => {
    within();
    const master = lb.masterPid()!;
    const worker = (await lb.workerPid())!;
    process.kill(worker, 'SIGKILL');
    await until('a new master', () => lb.masterPid() !== undefined && lb.masterPid() !== master);
    await until('serving again', async () => ['a1', 'a2'].includes(await servedBy(port, '/again')));
    await until('every group serving again', async () => (await servedBy(port, '/b/again')) === 'b1' && (await servedBy(port, '/drain/again')) === 'd1');
    expect(errors).toEqual(['haproxy exited; starting it again']);
  });
});

/** True while the pid is a live process (a zombie is not). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('the LB data plane, its owner killed', () => {
  it('takes HAProxy down with it when its process dies by SIGKILL (no orphan holding the ports)', async () => {
    within();
    const dir = await mkdtemp(join(tmpdir(), 'berth-lb-dp-'));
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./testing/orphan-child.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8');
      child.stdout.once('data', (d: string) => resolve(d));
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    const { master, worker } = JSON.parse(line) as { master: number; worker: number };
    try {
      expect(alive(master) && alive(worker)).toBe(true);
      child.kill('SIGKILL');
      await until('haproxy gone', () => !alive(master) && !alive(worker));
    } finally {
      if (alive(master)) process.kill(master, 'SIGKILL'); // the test failed: leave no orphan
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('the LB data plane, starting', () => {
  it('fails ready when HAProxy cannot start, and closes cleanly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-lb-dp-'));
    const store = SqliteStore.open(join(dir, 'state.db'));
    const lb = startLbDataPlane({ store, bindAddress: '127.0.0.1', stateDir: join(dir, 'lb'), logger: { ...quiet, error: () => {} }, haproxyPath: join(dir, 'no-such-haproxy') });
    await expect(lb.ready).rejects.toThrow();
    await lb.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a state directory too deep for unix socket paths', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-lb-dp-'));
    const store = SqliteStore.open(join(dir, 'state.db'));
    const lb = startLbDataPlane({ store, bindAddress: '127.0.0.1', stateDir: join(dir, 'x'.repeat(120)), logger: { ...quiet, error: () => {} } });
    await expect(lb.ready).rejects.toThrow(/unix socket path/);
    await lb.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
});


describe('the LB data plane, idle', () => {
  it('asks HAProxy nothing while there is nothing to poll, polls while a target is registered, and stops again once it and its health are gone', async () => {
    within();
    const dir = await mkdtemp(join(tmpdir(), 'berth-lb-dp-'));
    const store = SqliteStore.open(join(dir, 'state.db'));
    const lb = startLbDataPlane({ store, bindAddress: '127.0.0.1', stateDir: join(dir, 'lb'), logger: quiet, healthPollMs: 10 });
    const backend = await startBackend('idle');
    try {
      await lb.ready;
      // Every connection HAProxy accepted, its runtime API's included: each poll is one, and so is each read here.
      const connections = async () => Number(/^CumConns: (\d+)$/m.exec(await runtimeCommand(lb.paths.runtimeSocket, 'show info'))?.[1]);
      /** Lets thirty poll periods pass, then says how many connections HAProxy accepted meanwhile besides the reads. */
      const acceptedOverThirtyPolls = async () => {
        const before = await connections();
        await new Promise((r) => setTimeout(r, 300));
        return (await connections()) - before - 1;
      };
      expect(await acceptedOverThirtyPolls()).toBe(0);

      const front = loadBalancerRecord('idle');
      const tg = targetGroupRecord('idle', fastChecks);
      await writeRecords(store, front, tg, listenerRecord(front, await freePort(), [forward(tg)]), target(tg, backend));
      await until('the target healthy (polls read it)', async () => (await healthOf(store, tg, backend))?.State === 'healthy');
      await until('polls under way', async () => (await acceptedOverThirtyPolls()) > 0);

      await deleteRecords(store, target(tg, backend));
      await until('its health record dropped (by a poll)', async () => (await healthOf(store, tg, backend)) === undefined);
      await until('no more polls', async () => (await acceptedOverThirtyPolls()) === 0);
    } finally {
      await lb.close();
      await backend.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
