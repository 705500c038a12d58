/**
 * bench/cluster: the control plane end to end, and Berth beside Docker Swarm on real containers.
 *
 * (a) simulated: a `berth up --no-agent` child process (the control plane alone, so its RSS is honest)
 *     and BENCH_HOSTS simulated hosts, each a real agent session (the session client over WebSocket,
 *     SigV4-presigned) with a fake driver that "starts" a task at once by reporting it RUNNING. Services
 *     are created through the signed ECS API (CreateService) until BENCH_SERVICES × BENCH_TASKS_PER_SERVICE
 *     tasks are RUNNING (as the services' runningCount says), or BENCH_SECONDS pass: time, tasks/s, RSS.
 * (b) real: a service of BENCH_REAL_TASKS busybox tasks (networkMode none) on a real `berth up` with its
 *     runc agent, from CreateService to steady state, and the same count with `docker service create` on a
 *     private dockerd in swarm mode, in the same run: tasks/s each and the ratio. Each side has the image
 *     on the host before its clock starts (dockerd: `docker load`; Berth: one task that pulled it).
 *
 * Prints one JSON line. BENCH_PART=a|b|ab (default ab); BENCH_REAL_SIDES=berth|swarm|both (default both)
 * picks the sides of (b). BENCH_PROFILE=DIR writes the berth child's --cpu-prof there (either part).
 * BENCH_REAL_AGENT=separate runs (b)'s agent as its own `berth agent` process beside `berth up --no-agent`
 * (default: the agent inside `berth up`).
 * Only one `berth up` with an agent may run on the machine: part (b) waits until no other one runs.
 * Everything listens on 127.0.0.1 only.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { PROTOCOL_VERSION, type ServerMessage } from '../../src/agent/protocol.js';
import { connectSession, type AgentSession, type HelloMessage } from '../../src/agent/session-client.js';
import { agentCapabilities } from '../../src/agent/capabilities.js';
import type { Logger } from '../../src/edge/logger.js';
import { readCredentialsFile } from '../../src/protocols/credentials-file.js';
import { jsonClient, rssMiB, type JsonClient } from '../lib.js';

const ROOT = resolve(import.meta.dirname, '../..');
const T = 'AmazonEC2ContainerServiceV20141113.';
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const PART = process.env['BENCH_PART'] ?? 'ab';
const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// A Berth child process.

interface BerthChild {
  readonly child: ChildProcess;
  /** The agent's own process, when it runs apart from `berth up`. */
  readonly agentChild?: ChildProcess;
  readonly endpoint: string;
  readonly port: number;
  readonly home: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** CPU accounting of its processes and containers (cgroup v1 cpuacct), when the host has it. */
  readonly cpu?: CpuAccount;
  stop(): Promise<void>;
}

/**
 * CPU time, from cgroup v1's cpuacct, of a process tree moved into a group of the bench's own at
 * its start (everything it starts later is in it too: runc, its monitors, haproxy) and of the
 * cgroup its containers are made under. Unlike wall time, this does not move with the machine's
 * other load.
 */
class CpuAccount {
  private readonly group: string;

  private constructor(pids: readonly number[], private readonly containers: string) {
    this.group = join(CPUACCT, `berth-bench-cluster-${process.pid}`);
    mkdirSync(this.group, { recursive: true });
    for (const pid of pids) writeFileSync(join(this.group, 'cgroup.procs'), String(pid));
  }

  /** Accounting for `pids` and the containers under `containersGroup` (e.g. /berth); undefined without cpuacct. */
  static start(pids: readonly number[], containersGroup: string): CpuAccount | undefined {
    if (!existsSync(join(CPUACCT, 'cpuacct.usage'))) return undefined;
    return new CpuAccount(pids, join(CPUACCT, containersGroup));
  }

  /** Nanoseconds used so far: [the process tree, its containers]. */
  read(): [number, number] {
    const usage = (dir: string) => (existsSync(join(dir, 'cpuacct.usage')) ? Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8')) : 0);
    return [usage(this.group), usage(this.containers)];
  }

  /** Milliseconds per task between two reads. */
  perTask(from: [number, number], to: [number, number], tasks: number): Record<string, number> {
    const ms = (ns: number) => round(ns / 1e6 / tasks, 1);
    return { processes: ms(to[0] - from[0]), containers: ms(to[1] - from[1]), total: ms(to[0] - from[0] + to[1] - from[1]) };
  }

  /** Removes the group once its processes are gone (moved back to the root group first). */
  close(): void {
    try {
      for (const pid of readFileSync(join(this.group, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        writeFileSync(join(CPUACCT, 'cgroup.procs'), pid);
      }
      rmdirSync(this.group);
    } catch {
      // Processes still exiting keep it; a later run's name differs.
    }
  }
}

const CPUACCT = '/sys/fs/cgroup/cpuacct';

/**
 * `berth up` from the built CLI when it is there (so that `pgrep -af 'berth.js up'` shows it to the
 * other engineers' benchmarks), else from source through tsx.
 */
async function startBerth(agent: boolean | 'separate', nodeFlags: readonly string[] = []): Promise<BerthChild> {
  const home = mkdtempSync(join(tmpdir(), 'berth-bench-cluster-'));
  const bin = join(ROOT, 'bin/berth.js');
  const useBuilt = process.env['BENCH_FROM_SOURCE'] === undefined && existsSync(join(ROOT, 'dist/cli/main.js'));
  const entry = useBuilt ? [bin] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
  const flags = agent === true ? ['--no-outbound'] : ['--no-agent'];
  // A CLI that serves DNS gets any free port for it: 8053 may be someone else's.
  const cli = readFileSync(useBuilt ? join(ROOT, 'dist/cli/main.js') : join(ROOT, 'src/cli/main.ts'), 'utf8');
  if (cli.includes('--dns-port')) flags.push('--dns-port', '0');
  const child = spawn(process.execPath, [...nodeFlags, ...entry, 'up', '--home', home, '--port', '0', '--output', 'json', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BERTH_HOME: home },
    cwd: ROOT,
  });
  const stderr: string[] = [];
  child.stderr.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    if (stderr.length > 200) stderr.shift();
  });
  const lines = createInterface({ input: child.stdout });
  const info = await new Promise<{ endpoint: string; port: number }>((res, rej) => {
    child.once('exit', (code) => rej(new Error(`berth up exited ${code}: ${stderr.join('')}`)));
    lines.once('line', (line) => res(JSON.parse(line) as { endpoint: string; port: number }));
  });
  lines.close();
  child.stdout.resume();
  const credentials = readCredentialsFile(join(home, 'credentials'));
  const agentChild =
    agent === 'separate'
      ? spawn(
          process.execPath,
          [...nodeFlags, ...entry, 'agent', '--server', info.endpoint, '--home', join(home, 'agent'), '--credentials', join(home, 'credentials'), '--no-outbound'],
          { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BERTH_HOME: home }, cwd: ROOT },
        )
      : undefined;
  agentChild?.stderr?.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    if (stderr.length > 200) stderr.shift();
  });
  // Moved once it answers: its start-up is not what is measured, and what it starts from now on follows it.
  const cpu = CpuAccount.start([child.pid!, ...(agentChild === undefined ? [] : [agentChild.pid!])], '/berth');
  const end = (proc: ChildProcess) =>
    new Promise<void>((res) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return res();
      const timer = setTimeout(() => proc.kill('SIGKILL'), process.env['BENCH_PROFILE'] === undefined ? 30_000 : 300_000);
      proc.once('exit', () => {
        clearTimeout(timer);
        res();
      });
      proc.kill('SIGTERM');
    });
  return {
    child,
    ...(agentChild === undefined ? {} : { agentChild }),
    endpoint: info.endpoint,
    port: info.port,
    home,
    credentials,
    ...(cpu === undefined ? {} : { cpu }),
    stop: async () => {
      if (agentChild !== undefined) await end(agentChild);
      await end(child);
      cpu?.close();
    },
  };
}

async function ok(ecs: JsonClient, op: string, body: unknown): Promise<any> {
  const r = await ecs.call(`${T}${op}`, body);
  if (r.status !== 200) throw new Error(`${op}: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

/** Sum of runningCount / desiredCount over services, 10 names per DescribeServices call. */
async function serviceCounts(ecs: JsonClient, names: readonly string[]): Promise<{ running: number; pending: number; steady: number }> {
  let running = 0;
  let pending = 0;
  let steady = 0;
  const batches: string[][] = [];
  for (let i = 0; i < names.length; i += 10) batches.push(names.slice(i, i + 10));
  const results = await Promise.all(batches.map((b) => ok(ecs, 'DescribeServices', { services: b })));
  for (const res of results) {
    for (const s of res.services as any[]) {
      running += s.runningCount as number;
      pending += s.pendingCount as number;
      if (s.runningCount === s.desiredCount && (s.deployments as any[]).length === 1) steady++;
    }
  }
  return { running, pending, steady };
}

// ---------------------------------------------------------------------------------------------
// (a) Simulated hosts over real sessions.

const quiet = (errors: string[]): Logger => ({
  error: (m) => {
    if (errors.length < 20) errors.push(m);
  },
  warn: () => undefined,
  debug: () => undefined,
});

interface SimHost {
  session: AgentSession;
  running: Set<string>;
}

async function simulated(): Promise<Record<string, unknown>> {
  const hosts = env('BENCH_HOSTS', 2000);
  const services = env('BENCH_SERVICES', 100);
  const perService = env('BENCH_TASKS_PER_SERVICE', 1000);
  const limitSeconds = env('BENCH_SECONDS', 600);
  const target = services * perService;
  const profile = process.env['BENCH_PROFILE'];
  const nodeFlags = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  const berth = await startBerth(false, nodeFlags);
  const ecs = jsonClient(berth.endpoint, berth.credentials);
  const errors: string[] = [];
  const logger = quiet(errors);
  const sims: SimHost[] = [];
  let started = 0;
  let runTasks = 0;
  try {
    const rssIdle = rssMiB(berth.child.pid!);
    // Enough room for the tasks with slack: 64 CPU units and 128 MiB a task.
    const perHost = Math.ceil(target / hosts);
    const cpu = Math.max(1024, Math.ceil((perHost * 64 * 1.5) / 1024) * 1024);
    const memory = Math.max(2048, Math.ceil((perHost * 128 * 1.5) / 1024) * 1024);
    const t0 = performance.now();
    for (let h = 0; h < hosts; h++) {
      const running = new Set<string>();
      const hello = (): HelloMessage => ({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        cluster: 'default',
        totalResources: [
          { name: 'CPU', type: 'INTEGER', integerValue: cpu },
          { name: 'MEMORY', type: 'INTEGER', integerValue: memory },
          { name: 'PORTS', type: 'STRINGSET', stringSetValue: ['22', '2375', '2376', '51678', '51679'] },
          { name: 'PORTS_UDP', type: 'STRINGSET', stringSetValue: [] },
        ],
        attributes: [
          { name: 'ecs.os-type', value: 'linux' },
          { name: 'ecs.cpu-architecture', value: 'x86_64' },
          { name: 'ecs.availability-zone', value: `us-east-1${'abc'[h % 3]!}` },
          ...agentCapabilities({ initProcess: true }),
        ],
        agentVersion: 'bench',
        hostname: `sim-${h}`,
        runningTaskArns: [...running],
      });
      // The fake driver: a task "starts" the moment it arrives, and stops the moment it is told to.
      const onMessage = (m: ServerMessage): void => {
        if (m.type === 'runTask') {
          runTasks++;
          if (running.has(m.task.taskArn)) return;
          running.add(m.task.taskArn);
          const at = Date.now();
          session.send({
            type: 'taskStateChange',
            change: {
              taskArn: m.task.taskArn,
              status: 'RUNNING',
              containers: m.taskDefinition.containerDefinitions.map((c) => ({ containerName: c.name, runtimeId: `sim-${started++}`, status: 'RUNNING' })),
              pullStartedAt: at,
              pullStoppedAt: at,
              startedAt: at,
            },
          });
        } else if (m.type === 'stopTask') {
          running.delete(m.taskArn);
          session.send({ type: 'taskStateChange', change: { taskArn: m.taskArn, status: 'STOPPED', containers: [], stopCode: 'UserInitiated' } });
        }
      };
      const session: AgentSession = connectSession({ endpoint: berth.endpoint, credentials: berth.credentials, region: 'us-east-1', hello, onMessage, logger });
      sims.push({ session, running });
      // Sessions open a batch at a time, as hosts boot: not 2,000 handshakes in one event-loop turn.
      if (h % 100 === 99) {
        const until = Date.now() + 60_000;
        while (sims.some((s) => !s.session.connected) && Date.now() < until) await sleep(50);
      }
    }
    while (sims.some((s) => !s.session.connected)) {
      if ((performance.now() - t0) / 1000 > 120) throw new Error(`only ${sims.filter((s) => s.session.connected).length} of ${hosts} sessions connected`);
      await sleep(100);
    }
    const connectSeconds = (performance.now() - t0) / 1000;
    const rssConnected = rssMiB(berth.child.pid!);

    await ok(ecs, 'RegisterTaskDefinition', {
      family: 'sim',
      containerDefinitions: [{ name: 'app', image: 'busybox', cpu: 64, memory: 128, essential: true }],
    });
    const names = Array.from({ length: services }, (_, i) => `svc-${i}`);
    const c0 = performance.now();
    const deadline = c0 + limitSeconds * 1000;
    // Services are created a few at a time, as a deploy pipeline would; all within the first seconds.
    for (let i = 0; i < names.length; i += 5) {
      await Promise.all(names.slice(i, i + 5).map((serviceName) => ok(ecs, 'CreateService', { serviceName, taskDefinition: 'sim', desiredCount: perService })));
    }
    const createSeconds = (performance.now() - c0) / 1000;
    const timeline: Array<[number, number, number]> = [];
    let counts = { running: 0, pending: 0, steady: 0 };
    let peakRss = rssMiB(berth.child.pid!);
    let reachedAt: number | undefined;
    let storedRunning = 0;
    let storedReachedAt: number | undefined;
    while (performance.now() < deadline) {
      await sleep(2000);
      counts = await serviceCounts(ecs, names);
      peakRss = Math.max(peakRss, rssMiB(berth.child.pid!));
      const at = (performance.now() - c0) / 1000;
      timeline.push([round(at), counts.running, storedRunning]);
      if (storedRunning >= target && storedReachedAt === undefined) storedReachedAt = at;
      // RUNNING as stored: reports the server acked (it acks a change once it is in the store).
      storedRunning = started - sims.reduce((n, s) => n + s.session.unacked, 0);
      if (process.env['BENCH_VERBOSE']) console.error(`t=${round(at)}s running=${counts.running} stored=${storedRunning} pending=${counts.pending} runTasks=${runTasks}`);
      if (counts.running >= target) {
        reachedAt = at;
        break;
      }
    }
    const seconds = reachedAt ?? (performance.now() - c0) / 1000;
    const rssEnd = rssMiB(berth.child.pid!);
    return {
      hosts,
      services,
      tasks_per_service: perService,
      target_tasks: target,
      reached: reachedAt !== undefined,
      running_tasks: counts.running,
      running_tasks_stored: storedRunning,
      seconds_to_all_stored_running: storedReachedAt === undefined ? null : round(storedReachedAt),
      steady_services: counts.steady,
      seconds: round(seconds),
      tasks_per_s: round(counts.running / seconds),
      connect_seconds: round(connectSeconds),
      create_services_seconds: round(createSeconds),
      runtask_messages: runTasks,
      rss_idle_mib: rssIdle,
      rss_connected_mib: rssConnected,
      rss_peak_mib: peakRss,
      rss_end_mib: rssEnd,
      timeline: timeline.filter((_, i) => i % Math.max(1, Math.floor(timeline.length / 20)) === 0),
      session_errors: errors,
    };
  } finally {
    await Promise.all(sims.map((s) => s.session.close()));
    ecs.close();
    await berth.stop();
    rmSync(berth.home, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// (b) Real containers: Berth (runc) beside Docker Swarm.

const BUSYBOX_FIXTURE = resolve(ROOT, '../shared/fixtures/busybox-image.sh');

/** Waits until no other `berth up` with an agent runs here (shared bridge names, metadata port). */
async function waitForNoOtherAgent(limitSeconds: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const list = spawnSync('pgrep', ['-af', 'berth.js up|cli/main.ts up'], { encoding: 'utf8' }).stdout;
    const withAgent = list.split('\n').filter((l) => l.trim() !== '' && !l.includes('--no-agent') && !l.includes('pgrep'));
    if (withAgent.length === 0) return (Date.now() - t0) / 1000;
    if ((Date.now() - t0) / 1000 > limitSeconds) throw new Error(`another berth up with an agent is still running: ${withAgent.join('; ')}`);
    await sleep(5000);
  }
}

function buildBusyboxLayout(dir: string): string {
  const layout = join(dir, 'busybox-layout');
  execFileSync('bash', [BUSYBOX_FIXTURE, layout, 'v1'], { stdio: 'pipe' });
  return layout;
}

/** Where a task's time went, from its own timestamps (seconds): server placement → agent → RUNNING. */
function phases(tasks: readonly any[], t0: number): Record<string, unknown> {
  const stat = (xs: number[]) => {
    const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    const at = (p: number) => round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN, 3);
    return { p50: at(50), p90: at(90), max: at(100) };
  };
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  return {
    // When (after CreateService) the stored tasks were created, the agent began pulling, and each was RUNNING.
    created_at_s: stat(tasks.map((t) => num(t.createdAt) - t0)),
    pull_started_at_s: stat(tasks.map((t) => num(t.pullStartedAt) - t0)),
    started_at_s: stat(tasks.map((t) => num(t.startedAt) - t0)),
    // Per task: created → pull started (server → agent), pull, pulled → RUNNING (create + start).
    to_agent_s: stat(tasks.map((t) => num(t.pullStartedAt) - num(t.createdAt))),
    pull_s: stat(tasks.map((t) => num(t.pullStoppedAt) - num(t.pullStartedAt))),
    pulled_to_running_s: stat(tasks.map((t) => num(t.startedAt) - num(t.pullStoppedAt))),
  };
}

async function berthReal(count: number, layout: string): Promise<Record<string, unknown>> {
  const profile = process.env['BENCH_PROFILE'];
  const separate = process.env['BENCH_REAL_AGENT'] === 'separate';
  const berth = await startBerth(separate ? 'separate' : true, profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`]);
  const ecs = jsonClient(berth.endpoint, berth.credentials);
  const ecr = jsonClient(berth.endpoint, berth.credentials, 'ecr');
  try {
    const ecrOk = async (op: string, body: unknown) => {
      const r = await ecr.call(`AmazonEC2ContainerRegistry_V20150921.${op}`, body);
      if (r.status !== 200) throw new Error(`${op}: ${r.body}`);
      return JSON.parse(r.body);
    };
    await ecrOk('CreateRepository', { repositoryName: 'bench' });
    const token = (await ecrOk('GetAuthorizationToken', {})).authorizationData[0].authorizationToken as string;
    const password = Buffer.from(token, 'base64').toString().slice('AWS:'.length);
    const image = `127.0.0.1:${berth.port}/bench:v1`;
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `AWS:${password}`, `oci:${layout}:v1`, `docker://${image}`], { stdio: 'pipe' });
    // The agent connected and registered.
    const until = Date.now() + 60_000;
    for (;;) {
      const arns = (await ok(ecs, 'ListContainerInstances', {})).containerInstanceArns as string[];
      if (arns.length > 0 && (await ok(ecs, 'DescribeContainerInstances', { containerInstances: arns })).containerInstances[0].agentConnected) break;
      if (Date.now() > until) throw new Error('the agent did not connect');
      await sleep(250);
    }
    await ok(ecs, 'RegisterTaskDefinition', {
      family: 'bench',
      networkMode: 'none',
      // The image's own entrypoint (busybox httpd on 8080, in the task's own network namespace).
      // stopTimeout: httpd ignores SIGTERM, and the cleanup would wait 30 s for each.
      containerDefinitions: [{ name: 'app', image, cpu: 16, memory: 32, essential: true, stopTimeout: 2 }],
    });
    // The image on the host first, as Swarm's side has it loaded into dockerd before its clock starts:
    // one task that pulls it and exits at once.
    await ok(ecs, 'RegisterTaskDefinition', {
      family: 'bench-pull', networkMode: 'none',
      containerDefinitions: [{ name: 'pull', image, cpu: 16, memory: 32, essential: true, entryPoint: ['/bin/true'] }],
    });
    const warm = (await ok(ecs, 'RunTask', { taskDefinition: 'bench-pull' })).tasks[0].taskArn as string;
    for (const until = Date.now() + 60_000; ; await sleep(100)) {
      const t = (await ok(ecs, 'DescribeTasks', { tasks: [warm] })).tasks[0];
      if (t.lastStatus === 'STOPPED') {
        if (t.containers[0]?.exitCode !== 0) throw new Error(`the pull task failed: ${t.stoppedReason} ${JSON.stringify(t.containers)}`);
        break;
      }
      if (Date.now() > until) throw new Error('the pull task did not stop');
    }
    const cpu = berth.cpu;
    const cpu0 = cpu?.read();
    const t0 = performance.now();
    const wall0 = Date.now() / 1000;
    await ok(ecs, 'CreateService', { serviceName: 'bench', taskDefinition: 'bench', desiredCount: count });
    const timeline: Array<[number, number, number]> = [];
    let running = 0;
    let steadyAt: number | undefined;
    let allRunningAt: number | undefined;
    let lastEvent = '';
    let cpuUsed: Record<string, number> | undefined;
    while ((performance.now() - t0) / 1000 < 180) {
      const s = (await ok(ecs, 'DescribeServices', { services: ['bench'] })).services[0];
      lastEvent = s.events[0]?.message ?? '';
      running = s.runningCount as number;
      const at = (performance.now() - t0) / 1000;
      if (timeline.length === 0 || timeline[timeline.length - 1]![1] !== running || timeline[timeline.length - 1]![2] !== s.pendingCount) {
        timeline.push([round(at, 2), running, s.pendingCount as number]);
      }
      if (running >= count && allRunningAt === undefined) {
        allRunningAt = at;
        cpuUsed = cpu === undefined || cpu0 === undefined ? undefined : cpu.perTask(cpu0, cpu.read(), count);
      }
      if (running >= count && s.deployments.length === 1 && s.deployments[0].rolloutState === 'COMPLETED') {
        steadyAt = at;
        break;
      }
      await sleep(100);
    }
    const seconds = allRunningAt ?? (performance.now() - t0) / 1000;
    const described: any[] = [];
    const arns: string[] = [];
    for (let token: string | undefined, first = true; first || token !== undefined; first = false) {
      const page = await ok(ecs, 'ListTasks', { serviceName: 'bench', ...(token === undefined ? {} : { nextToken: token }) });
      arns.push(...(page.taskArns as string[]));
      token = page.nextToken as string | undefined;
    }
    for (let i = 0; i < arns.length; i += 100) described.push(...(await ok(ecs, 'DescribeTasks', { tasks: arns.slice(i, i + 100) })).tasks);
    const result = {
      tasks: count,
      running,
      seconds_to_all_running: round(seconds, 2),
      seconds_to_steady_state: steadyAt === undefined ? null : round(steadyAt, 2),
      tasks_per_s: round(running / seconds),
      ...(cpuUsed === undefined ? {} : { cpu_ms_per_task: cpuUsed }),
      agent: separate ? 'separate process' : 'inside berth up',
      server_and_agent_rss_mib: rssMiB(berth.child.pid!) + (berth.agentChild === undefined ? 0 : rssMiB(berth.agentChild.pid!)),
      phases: phases(described, wall0),
      timeline: timeline.filter((_, i) => i % Math.max(1, Math.floor(timeline.length / 25)) === 0 || i === timeline.length - 1),
      ...(running < count ? { last_event: lastEvent } : {}),
    };
    // Leave nothing running: scale to 0 and delete, then wait for the tasks to stop.
    await ok(ecs, 'UpdateService', { service: 'bench', desiredCount: 0 });
    await ok(ecs, 'DeleteService', { service: 'bench', force: true });
    const stopBy = Date.now() + 120_000;
    while (Date.now() < stopBy && ((await ok(ecs, 'ListTasks', { desiredStatus: 'RUNNING' })).taskArns as string[]).length > 0) await sleep(500);
    const runningContainers = () => {
      const out = spawnSync('runc', ['--root', join(berth.home, 'agent', 'runtime', 'runc'), 'list', '-q'], { encoding: 'utf8' }).stdout;
      return out.split('\n').filter((l) => l.trim() !== '').length;
    };
    while (Date.now() < stopBy && runningContainers() > 0) await sleep(500);
    return result;
  } finally {
    ecs.close();
    ecr.close();
    await berth.stop();
    cleanupBerthHome(berth.home);
  }
}

function cleanupBerthHome(home: string): void {
  const runcRoot = join(home, 'agent', 'runtime', 'runc');
  const list = spawnSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' });
  for (const id of list.stdout.split('\n').filter((l) => l.trim() !== '')) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id]);
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.startsWith(`${home}/`))
    .sort()
    .reverse();
  for (const point of mounts) spawnSync('umount', ['-l', point]);
  rmSync(home, { recursive: true, force: true });
}

async function swarmReal(count: number, layout: string, dir: string): Promise<Record<string, unknown>> {
  const root = join(dir, 'swarm');
  mkdirSync(root, { recursive: true });
  const sock = join(root, 'docker.sock');
  const host = `unix://${sock}`;
  const dockerd = spawn(
    'dockerd',
    [
      '--host', host,
      '--data-root', join(root, 'data'),
      '--exec-root', join(root, 'exec'),
      '--pidfile', join(root, 'docker.pid'),
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const log: string[] = [];
  dockerd.stderr.on('data', (d: Buffer) => {
    log.push(d.toString());
    if (log.length > 100) log.shift();
  });
  const docker = (...args: string[]) => spawnSync('/usr/local/bin/docker', ['--host', host, ...args], { encoding: 'utf8', timeout: 120_000 });
  const dockerOk = (...args: string[]) => {
    const r = docker(...args);
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  try {
    const until = Date.now() + 60_000;
    while (docker('version').status !== 0) {
      if (Date.now() > until || dockerd.exitCode !== null) throw new Error(`dockerd did not start: ${log.join('')}`);
      await sleep(250);
    }
    const archive = join(root, 'busybox.tar');
    execFileSync('skopeo', ['copy', `oci:${layout}:v1`, `docker-archive:${archive}:bench-busybox:v1`], { stdio: 'pipe' });
    dockerOk('load', '-i', archive);
    dockerOk('swarm', 'init', '--listen-addr', '127.0.0.1:2377', '--advertise-addr', '127.0.0.1');
    const t0 = performance.now();
    dockerOk(
      'service', 'create', '--detach', '--name', 'bench', '--replicas', String(count), '--no-resolve-image',
      '--limit-memory', '32m', '--reserve-cpu', '0.015', 'bench-busybox:v1',
    );
    let running = 0;
    let seconds = 0;
    while ((seconds = (performance.now() - t0) / 1000) < 180) {
      const out = docker('service', 'ps', 'bench', '--filter', 'desired-state=running', '--format', '{{.CurrentState}}').stdout;
      running = out.split('\n').filter((l) => l.startsWith('Running')).length;
      if (running >= count) break;
      await sleep(250);
    }
    return { tasks: count, running, seconds_to_all_running: round(seconds, 2), tasks_per_s: round(running / seconds) };
  } finally {
    docker('service', 'rm', 'bench');
    const stopBy = Date.now() + 120_000;
    while (Date.now() < stopBy && docker('ps', '-q').stdout.trim() !== '') await sleep(500);
    docker('swarm', 'leave', '--force');
    await new Promise<void>((res) => {
      if (dockerd.exitCode !== null) return res();
      const timer = setTimeout(() => dockerd.kill('SIGKILL'), 30_000);
      dockerd.once('exit', () => {
        clearTimeout(timer);
        res();
      });
      dockerd.kill('SIGTERM');
    });
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((point) => point.startsWith(`${root}/`))
      .sort()
      .reverse();
    for (const point of mounts) spawnSync('umount', ['-l', point]);
    rmSync(root, { recursive: true, force: true });
  }
}

async function real(): Promise<Record<string, unknown>> {
  const count = env('BENCH_REAL_TASKS', 100);
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-real-'));
  try {
    const layout = buildBusyboxLayout(dir);
    const sides = process.env['BENCH_REAL_SIDES'] ?? 'both';
    const waited = await waitForNoOtherAgent(env('BENCH_WAIT_SECONDS', 900));
    const berth = sides === 'swarm' ? {} : await berthReal(count, layout);
    const swarm = sides === 'berth' ? {} : await swarmReal(count, layout, dir);
    const ratio = typeof berth['tasks_per_s'] === 'number' && typeof swarm['tasks_per_s'] === 'number' ? round(berth['tasks_per_s'] / swarm['tasks_per_s'], 1) : null;
    return { waited_for_other_agent_s: round(waited), berth, swarm, ratio, target_ratio: 10 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const out: Record<string, unknown> = { bench: 'cluster', cores: (await import('node:os')).cpus().length, load1: (await import('node:os')).loadavg()[0] };
if (PART.includes('a')) out['simulated'] = await simulated();
if (PART.includes('b')) out['real'] = await real();
console.log(JSON.stringify(out));
process.exit(0);
