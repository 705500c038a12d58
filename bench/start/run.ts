/**
 * bench/start: how fast a task starts. RunTask → RUNNING (as DescribeTasks tells it, polled every
 * 5 ms) for a busybox task whose image is cached, in network modes none, host and awsvpc, and the
 * time for 100 tasks on one host to reach RUNNING; side by side with `docker run -d --network none`
 * on Debian's dockerd (a private one: its own socket and data root, no bridge, no iptables), with the
 * same busybox image loaded. Prints one JSON line. Targets: p50 ≤ 60 ms none/host, ≤ 120 ms awsvpc,
 * ≤ 0.3× docker run.
 *
 * Berth side: a real `berth up` with its agent (test/e2e/harness.ts), the fixture image pushed to
 * its registry. Only one agent may run on a machine at a time (bridge names, metadata port).
 * BENCH_START_SAMPLES (default 50: a median that moves less between runs) sets the samples per mode, BENCH_START_BATCH (default 100) the batch.
 * Between the sides it waits for the machine to settle (20 s at least, sync, then a second under 15% busy CPU).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { percentile, jsonClient, settle, type JsonClient } from '../lib.js';
import { pushBusyboxImage, startBerth, waitForAgent } from '../../test/e2e/harness.js';
import { DockerEngine, readAll } from '../../src/runtime/docker/engine.js';
import { dockerdMissing, startDockerd } from '../../src/runtime/docker/dockerd.js';

const SAMPLES = Number(process.env['BENCH_START_SAMPLES'] ?? 50);
const BATCH = Number(process.env['BENCH_START_BATCH'] ?? 100);
const T = 'AmazonEC2ContainerServiceV20141113.';
const FIXTURE = resolve(import.meta.dirname, '../../../shared/fixtures/busybox-image.sh');
const ONLY = process.env['BENCH_START_ONLY']; // 'docker' or 'berth' runs one side
const round = (n: number): number => Math.round(n * 10) / 10;
const started = performance.now();
/** Progress on stderr; the figures go to stdout as one JSON line. */
const progress = (what: string): void => void process.stderr.write(`[bench:start ${((performance.now() - started) / 1000).toFixed(1)}s] ${what}\n`);

interface Latency { samples: number; p50_ms: number; p99_ms: number; min_ms: number; max_ms: number }
function summarize(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b);
  return { samples: s.length, p50_ms: round(percentile(s, 50)), p99_ms: round(percentile(s, 99)), min_ms: round(s[0] ?? NaN), max_ms: round(s.at(-1) ?? NaN) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// docker run on a private dockerd
// ---------------------------------------------------------------------------------------------

async function dockerSide(): Promise<Record<string, unknown>> {
  const missing = dockerdMissing();
  if (missing) return { skipped: missing };
  const root = await mkdtemp(join(tmpdir(), 'berth-bench-dockerd-'));
  const daemon = await startDockerd(root);
  const engine = new DockerEngine(daemon.socketPath);
  try {
    // The fixture image, as a docker archive (skopeo), loaded through the Engine API.
    const layout = join(root, 'layout');
    execFileSync('bash', [FIXTURE, layout, 'v1'], { stdio: 'pipe' });
    const archive = join(root, 'busybox.tar');
    execFileSync('skopeo', ['copy', `oci:${layout}:v1`, `docker-archive:${archive}:berth-bench/busybox:v1`], { stdio: 'pipe' });
    const res = await engine.stream('POST', '/images/load', { query: { quiet: 1 }, body: createReadStream(archive), contentType: 'application/x-tar' });
    await readAll(res);
    const image = 'berth-bench/busybox:v1';
    const env = { ...process.env, DOCKER_HOST: `unix://${daemon.socketPath}` };
    const cli = existsSync('/usr/local/bin/docker') || existsSync('/usr/bin/docker');

    /** `docker run -d --network none IMAGE`: returns once the container runs (the CLI's create + start). */
    const run = (): Promise<void> => {
      if (!cli) return apiRun();
      return new Promise((ok, fail) => {
        const child = spawn('docker', ['run', '-d', '--network', 'none', image], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.once('error', fail);
        child.once('close', (code) => (code === 0 ? ok() : fail(new Error(`docker run exited ${code}: ${err}`))));
      });
    };
    const apiRun = async (): Promise<void> => {
      const { Id } = await engine.json<{ Id: string }>('POST', '/containers/create', { json: { Image: image, HostConfig: { NetworkMode: 'none' } } });
      await engine.json('POST', `/containers/${Id}/start`);
    };
    const removeAll = async (): Promise<void> => {
      const all = await engine.json<{ Id: string }[]>('GET', '/containers/json', { query: { all: 1 } });
      for (const c of all) await engine.json('DELETE', `/containers/${c.Id}`, { query: { force: 1 } });
    };

    progress(`docker: image loaded; ${cli ? 'docker CLI' : 'Engine API'} runs`);
    for (let i = 0; i < 3; i++) await run(); // warm up
    await removeAll();
    const single: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = performance.now();
      await run();
      single.push(performance.now() - t0);
    }
    await removeAll();
    progress(`docker: ${SAMPLES} runs done, p50 ${summarize(single).p50_ms} ms; batch of ${BATCH}`);
    // The batch: BATCH runs, 10 at a time (as RunTask's count of 10 per call).
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (next < BATCH) {
        next++;
        await run();
      }
    }));
    const batchMs = performance.now() - t0;
    await removeAll();
    return { client: cli ? 'docker CLI' : 'Engine API create+start', run_none: summarize(single), [`batch_${BATCH}_ms`]: Math.round(batchMs) };
  } finally {
    engine.close();
    await daemon.stop();
    await rm(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Berth: berth up with its agent
// ---------------------------------------------------------------------------------------------

interface TaskView {
  taskArn: string; lastStatus: string; stopCode?: string; stoppedReason?: string;
  createdAt?: number; pullStartedAt?: number; pullStoppedAt?: number; startedAt?: number;
}

async function call(ecs: JsonClient, op: string, body: unknown): Promise<any> {
  const r = await ecs.call(`${T}${op}`, body);
  if (r.status !== 200) throw new Error(`${op}: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

/**
 * Polls DescribeTasks every 5 ms (a poll starts 5 ms after the one before started, not 5 ms after
 * its answer) until every task is RUNNING, giving them as then described; a task that stops fails
 * the run.
 */
async function untilRunning(ecs: JsonClient, arns: string[], limitMs = 120_000): Promise<TaskView[]> {
  const deadline = Date.now() + limitMs;
  let waiting = arns;
  const running: TaskView[] = [];
  while (waiting.length > 0) {
    const polledAt = performance.now();
    const still: string[] = [];
    for (let i = 0; i < waiting.length; i += 100) {
      const { tasks } = (await call(ecs, 'DescribeTasks', { tasks: waiting.slice(i, i + 100) })) as { tasks: TaskView[] };
      for (const t of tasks) {
        if (t.lastStatus === 'STOPPED') throw new Error(`task ${t.taskArn} stopped: ${t.stopCode} ${t.stoppedReason}`);
        if (t.lastStatus !== 'RUNNING') still.push(t.taskArn);
        else running.push(t);
      }
    }
    waiting = still;
    if (waiting.length === 0) return running;
    if (Date.now() > deadline) throw new Error(`${waiting.length} tasks not RUNNING in time`);
    await sleep(Math.max(0, 5 - (performance.now() - polledAt)));
  }
  return running;
}

/**
 * Where a task's start went, from its own timestamps (epoch seconds): RunTask to the agent's pull,
 * the pull (a manifest check: the image is cached), the container's create and start, and the
 * report back until DescribeTasks showed RUNNING (`seenAt`, epoch ms).
 */
function phases(t: TaskView, seenAt: number): Record<string, number> | undefined {
  const { createdAt, pullStartedAt, pullStoppedAt, startedAt } = t;
  if (createdAt === undefined || pullStartedAt === undefined || pullStoppedAt === undefined || startedAt === undefined) return undefined;
  return {
    dispatch: (pullStartedAt - createdAt) * 1000,
    pull: (pullStoppedAt - pullStartedAt) * 1000,
    create_start: (startedAt - pullStoppedAt) * 1000,
    report_seen: seenAt - startedAt * 1000,
  };
}

/** The median of each phase over the samples. */
function medianPhases(all: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(all[0] ?? {})) out[k] = round(percentile(all.map((p) => p[k]!).sort((a, b) => a - b), 50));
  return out;
}

async function untilStopped(ecs: JsonClient, arns: string[]): Promise<void> {
  for (let i = 0; i < arns.length; i += 10) {
    await Promise.all(arns.slice(i, i + 10).map((task) => call(ecs, 'StopTask', { task, reason: 'bench' })));
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    let left = 0;
    for (let i = 0; i < arns.length; i += 100) {
      const { tasks } = (await call(ecs, 'DescribeTasks', { tasks: arns.slice(i, i + 100) })) as { tasks: TaskView[] };
      left += tasks.filter((t) => t.lastStatus !== 'STOPPED').length;
    }
    if (left === 0) return;
    if (Date.now() > deadline) throw new Error(`${left} tasks did not stop`);
    await sleep(50);
  }
}

async function berthSide(): Promise<Record<string, unknown>> {
  await using berth = await startBerth({ agent: true });
  await waitForAgent(berth);
  const image = pushBusyboxImage(berth, 'bench');
  progress('berth: agent up, image pushed');
  const ecs = jsonClient(berth.endpoint, berth.credentials);
  try {
    // A shell that ends on SIGTERM (httpd as PID 1 ignores it and would hold each stop for 30 s),
    // and holds no port (host mode puts every task on the host's ports).
    const container = {
      name: 'web', image, essential: true, cpu: 10, memoryReservation: 8, stopTimeout: 2,
      entryPoint: ['/bin/sh', '-c'], command: ['trap "exit 0" TERM; sleep 3600 & wait'],
    };
    for (const mode of ['none', 'host', 'awsvpc'] as const) {
      await call(ecs, 'RegisterTaskDefinition', { family: `bench-${mode}`, networkMode: mode, containerDefinitions: [container] });
    }
    const runOne = async (mode: 'none' | 'host' | 'awsvpc'): Promise<string> => {
      const { tasks, failures } = (await call(ecs, 'RunTask', {
        taskDefinition: `bench-${mode}`, count: 1,
        ...(mode === 'awsvpc' ? { networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-bench'] } } } : {}),
      })) as { tasks: TaskView[]; failures: unknown[] };
      if (tasks.length !== 1) throw new Error(`RunTask placed nothing: ${JSON.stringify(failures)}`);
      return tasks[0]!.taskArn;
    };

    // The first task pulls and unpacks the image: not measured.
    const warm = await runOne('none');
    await untilRunning(ecs, [warm]);
    await untilStopped(ecs, [warm]);

    const out: Record<string, unknown> = {};
    // One task at a time; each mode's tasks are stopped together after its samples.
    for (const mode of ['none', 'host', 'awsvpc'] as const) {
      const ms: number[] = [];
      const arns: string[] = [];
      const split: Record<string, number>[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const t0 = performance.now();
        const arn = await runOne(mode);
        const [task] = await untilRunning(ecs, [arn]);
        ms.push(performance.now() - t0);
        const p = phases(task!, Date.now());
        if (p) split.push(p);
        arns.push(arn);
      }
      await untilStopped(ecs, arns);
      out[`run_task_${mode}`] = { ...summarize(ms), phases_p50_ms: medianPhases(split) };
      progress(`berth: ${mode}: p50 ${summarize(ms).p50_ms} ms`);
    }

    // The batch: BATCH tasks in RunTask calls of 10, all at once, until every one is RUNNING.
    const t0 = performance.now();
    const calls = await Promise.all(Array.from({ length: Math.ceil(BATCH / 10) }, (_, i) => call(ecs, 'RunTask', {
      taskDefinition: 'bench-none', count: Math.min(10, BATCH - i * 10),
    }) as Promise<{ tasks: TaskView[]; failures: unknown[] }>));
    const arns = calls.flatMap((c) => c.tasks.map((t) => t.taskArn));
    if (arns.length !== BATCH) throw new Error(`RunTask placed ${arns.length} of ${BATCH}: ${JSON.stringify(calls.flatMap((c) => c.failures)).slice(0, 500)}`);
    await untilRunning(ecs, arns, 300_000);
    out[`batch_${BATCH}_ms`] = Math.round(performance.now() - t0);
    await untilStopped(ecs, arns);
    return out;
  } finally {
    ecs.close();
  }
}

/** The 1-minute load average: this machine is shared, and the figures mean little without it. */
const load = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

const loadBefore = load();
const docker = ONLY === 'berth' ? { skipped: 'BENCH_START_ONLY=berth' } : await dockerSide();
// Docker's side began on a quiet machine; Berth's does too, not amid the kernel's teardown of
// dockerd's namespaces and the flush of its writes.
const settledMs = ONLY === undefined ? await settle() : 0;
if (settledMs > 0) progress(`settled for ${settledMs} ms`);
const berth = ONLY === 'docker' ? { skipped: 'BENCH_START_ONLY=docker' } : await berthSide();
const dockerP50 = (docker['run_none'] as Latency | undefined)?.p50_ms;
const berthP50 = (berth as Record<string, Latency | undefined>)['run_task_none']?.p50_ms;
console.log(JSON.stringify({
  bench: 'start',
  samples: SAMPLES,
  berth,
  docker,
  ratio_none_p50: dockerP50 === undefined || berthP50 === undefined ? null : Math.round((berthP50 / dockerP50) * 100) / 100,
  targets: { none_host_p50_ms: 60, awsvpc_p50_ms: 120, ratio: 0.3 },
  settled_between_sides_ms: settledMs,
  load_avg_1m: { before: loadBefore, after: load() },
  cores: cpus().length,
}));
