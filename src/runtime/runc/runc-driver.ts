/**
 * The Driver on runc: a container is a directory under the state dir (bundle, /etc files, logs,
 * pid and exit files) and a detached monitor running `runc run`. Every status is read from those
 * files, so a new driver over the same state dir sees exactly what the old one saw.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, type FSWatcher, mkdirSync, openSync, readFileSync, rmSync, statSync, watch, writeFileSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { constants, hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CONTAINER_ID_PATTERN, type ContainerSpec, type ContainerState, type ContainerStats, type Driver, type ExitStatus,
  type ExecOptions, type ExecResult, type LogPaths,
} from '../driver.js';
import { invalidSpec, isRuntimeError, RuntimeError } from '../errors.js';
import { resolveProcess, stopSignal } from '../process.js';
import { type Launch, sharedLauncher } from '../launcher.js';
import { stopWithTimeout } from '../stop.js';
import { ALL_CAPABILITIES, ociSpec } from './bundle.js';
import { type CgroupLayout, detectCgroupLayout, oomCounterFile, readCgroupStats, removeCgroups } from './cgroups.js';
import { etcFiles } from './etc-files.js';
import { monitorArgs, parseExitFile } from './monitor.js';
import { parseNetDev, processStartTicks } from './procfs.js';
import { readFileInRoot } from './rootfs.js';

const run = promisify(execFile);

export interface RuncDriverOptions {
  /** Where containers' directories live (`containers/<id>/`); created when missing. */
  readonly stateDir: string;
  /** The runc binary (default /usr/sbin/runc, else `runc` from PATH). */
  readonly runc?: string;
  /** runc's own state root (default `<stateDir>/runc`). */
  readonly runcRoot?: string;
  /** Absolute cgroup path containers are grouped under, in every hierarchy (default /berth). */
  readonly cgroupParent?: string;
  /** A static init for initProcessEnabled (default /usr/bin/tini-static when present). */
  readonly initBinary?: string;
  /** How long start() waits for runc to report the process running (default 60 s). */
  readonly startTimeoutMs?: number;
  /** What starts each container's monitor (default: the process-wide launcher helper). */
  readonly launcher?: Pick<Launch, 'spawnDetached'>;
}

/** What a container's directory holds beside the bundle; written once at create. */
interface Meta {
  readonly createdAt: string;
  readonly cgroupsPath: string;
  readonly labels: Record<string, string>;
  readonly stopSignal: NodeJS.Signals;
}

/** Host facts gathered once per driver: they do not change while the agent runs. */
interface HostFacts {
  readonly capabilities: string[];
  readonly cgroups: CgroupLayout;
}

const MONITOR_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Capability names from a /proc/<pid>/status CapBnd mask. */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

// The driver's own files (meta.json, exit, shim.pid, init.pid) and /proc's are a few bytes each and
// read on every state(): synchronous reads cost microseconds, where fs.promises.readFile takes four
// thread-pool round trips (open, fstat, read, close). A hundred starting containers read them often.

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** A /proc file, or undefined when it cannot be read (the process is gone). */
function readQuiet(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function mtime(file: string): Date | undefined {
  try {
    return statSync(file).mtime;
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * @example
 *   const driver = new RuncDriver({ stateDir: '/var/lib/berth/runtime' });
 *   await driver.create({ id: 'web-1', rootfs, image, network: { mode: 'none' } });
 *   await driver.start('web-1');
 *   const { exitCode } = await driver.stop('web-1', 30_000);
 */
export class RuncDriver implements Driver {
  readonly name = 'runc';
  readonly stateDir: string;
  readonly runc: string;
  readonly runcRoot: string;
  readonly cgroupParent: string;
  readonly initBinary: string | undefined;
  private readonly startTimeoutMs: number;
  private readonly launcher: Pick<Launch, 'spawnDetached'>;
  private facts: Promise<HostFacts> | undefined;
  private rootReady: Promise<unknown> | undefined;

  constructor(options: RuncDriverOptions) {
    this.stateDir = options.stateDir;
    this.runc = options.runc ?? (existsSync('/usr/sbin/runc') ? '/usr/sbin/runc' : 'runc');
    this.runcRoot = options.runcRoot ?? join(options.stateDir, 'runc');
    this.cgroupParent = (options.cgroupParent ?? '/berth').replace(/\/+$/, '');
    if (!this.cgroupParent.startsWith('/')) throw invalidSpec('cgroupParent', 'must be an absolute cgroup path');
    this.initBinary = options.initBinary ?? (existsSync('/usr/bin/tini-static') ? '/usr/bin/tini-static' : undefined);
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.launcher = options.launcher ?? sharedLauncher();
  }

  private dir(id: string): string {
    if (!CONTAINER_ID_PATTERN.test(id)) throw new RuntimeError('NotFound', `no container "${id}" (not a valid id)`);
    return join(this.stateDir, 'containers', id);
  }

  private hostFacts(): Promise<HostFacts> {
    this.facts ??= (async () => {
      const status = await readFile('/proc/self/status', 'utf8');
      const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
      return {
        capabilities: capabilitiesFromMask(bnd),
        cgroups: await detectCgroupLayout(),
      };
    })();
    return this.facts;
  }

  async create(spec: ContainerSpec): Promise<ContainerState> {
    // Decide everything first: a spec that breaks a rule leaves nothing behind.
    checkSpecOnHost(spec);
    if (spec.network.mode === 'netns' && !existsSync(spec.network.path)) {
      throw invalidSpec('network.path', `"${spec.network.path}" does not exist`);
    }
    // The host's /etc files are read at each create: DHCP or an operator may change them while the agent runs.
    const [passwd, group, facts] = [readFileInRoot(spec.rootfs, '/etc/passwd'), readFileInRoot(spec.rootfs, '/etc/group'), await this.hostFacts()];
    const [hosts, resolvConf] = [readOptional('/etc/hosts'), readOptional('/etc/resolv.conf')];
    const proc = resolveProcess(spec, { ...(passwd === undefined ? {} : { passwd }), ...(group === undefined ? {} : { group }) });
    const dir = this.dir(spec.id);
    const files = etcFiles(spec, proc.hostname, {
      hosts: hosts ?? '127.0.0.1\tlocalhost\n',
      resolvConf: resolvConf ?? '',
      hostname: osHostname(),
    });
    const cgroupsPath = `${this.cgroupParent}/${spec.id}`;
    const config = ociSpec(spec, {
      process: proc,
      cgroupsPath,
      etcFiles: { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') },
      hostCapabilities: facts.capabilities,
      arch: process.arch,
      ...(this.initBinary === undefined ? {} : { initBinary: this.initBinary }),
    });
    const meta: Meta = {
      createdAt: new Date().toISOString(),
      cgroupsPath,
      labels: config.annotations ?? {},
      stopSignal: stopSignal(spec.image),
    };

    // Synchronous, as the files below: on the path of every container start.
    mkdirSync(join(this.stateDir, 'containers'), { recursive: true });
    try {
      mkdirSync(dir);
    } catch (err) {
      if (errno(err) === 'EEXIST') throw new RuntimeError('AlreadyExists', `container ${spec.id} already exists`);
      throw err;
    }
    try {
      // Small files, written synchronously (see readOptional): one create costs well under a ms so.
      mkdirSync(join(dir, 'bundle'));
      writeFileSync(join(dir, 'bundle', 'config.json'), JSON.stringify(config, null, 2));
      writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec, null, 2));
      writeFileSync(join(dir, 'hosts'), files.hosts);
      writeFileSync(join(dir, 'hostname'), files.hostname);
      writeFileSync(join(dir, 'resolv.conf'), files.resolvConf);
      writeFileSync(join(dir, 'stdout.log'), '');
      writeFileSync(join(dir, 'stderr.log'), '');
      // meta.json last: a directory without it is a create that did not finish.
      writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new RuntimeError('RuntimeFailed', `container ${spec.id}: writing its files failed: ${String(err)}`, { cause: err });
    }
    return { id: spec.id, status: 'created', createdAt: new Date(meta.createdAt), labels: meta.labels };
  }

  async start(id: string): Promise<ContainerState> {
    const dir = this.dir(id);
    const meta = this.meta(id); // NotFound first
    // The claim on shim.pid makes a second start() fail even while the first is under way: only
    // start writes it, so a successful claim also means the container was never started.
    // Synchronous file work, as in create(): this is every task's start.
    let claim: number;
    try {
      claim = openSync(join(dir, 'shim.pid'), 'wx');
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
      const { status } = await this.state(id);
      throw new RuntimeError('Conflict', status === 'created' ? `container ${id} is already starting` : `container ${id} is ${status}, not created`);
    }
    // Watch before the monitor exists, so the pid file's arrival cannot slip past: runc writes
    // it (through a rename) once the process runs, the monitor writes `exit` when runc ends.
    const started = new MonitorWatch(dir);
    try {
      try {
        const [facts] = await Promise.all([this.hostFacts(), this.runcRootReady()]);
        // Its own session (setsid), out of reach of signals to the agent's group; not a child of the agent.
        const pid = await this.launcher.spawnDetached({
          file: '/bin/sh',
          argv: ['sh', ...monitorArgs(dir, this.runc, this.runcRoot, id, oomCounterFile(facts.cgroups, meta.cgroupsPath))],
          cwd: dir,
          env: { PATH: MONITOR_PATH },
        });
        writeSync(claim, String(pid));
        closeSync(claim);
      } catch (err) {
        // Nothing runs: give the claim back so the container can be started (or deleted) again.
        try {
          closeSync(claim);
        } catch {
          // closed already (the write failed after it)
        }
        rmSync(join(dir, 'shim.pid'), { force: true });
        throw new RuntimeError('RuntimeFailed', `container ${id}: could not start its monitor: ${String(err)}`, { cause: err });
      }
      const deadline = Date.now() + this.startTimeoutMs;
      for (;;) {
        // The usual end: the pid file is there and no exit yet. The state is built from what is
        // known here, without the full read (this is every task's start latency).
        const running = runningFromPidFile(dir);
        if (running !== undefined) {
          return { id, createdAt: new Date(meta.createdAt), labels: meta.labels, status: 'running', pid: running.pid, startedAt: running.startedAt };
        }
        // Ended already (or failed to start), or the monitor died: the full read tells which.
        const state = existsSync(join(dir, 'exit')) || started.ticks > 0 ? await this.state(id) : undefined;
        if (state !== undefined && state.status !== 'created') {
          if (state.status === 'stopped' && state.startedAt === undefined) {
            throw new RuntimeError('StartFailed', `container ${id}: ${state.error ?? 'runc failed'}`);
          }
          return state;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new RuntimeError('RuntimeFailed', `container ${id}: runc did not start it within ${this.startTimeoutMs} ms`);
        await started.next(Math.min(500, left));
      }
    } finally {
      started.close();
    }
  }

  /** runc's --root, made once per driver (runc makes its own state dirs under it). */
  private runcRootReady(): Promise<unknown> {
    this.rootReady ??= mkdir(this.runcRoot, { recursive: true }).catch((err: unknown) => {
      this.rootReady = undefined;
      throw err;
    });
    return this.rootReady;
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const state = await this.state(id);
    if (state.status !== 'running') throw new RuntimeError('Conflict', `container ${id} is ${state.status}, not running`);
    if (this.signalInit(id, signal)) return;
    try {
      await run(this.runc, ['--root', this.runcRoot, 'kill', id, signal]);
    } catch (err) {
      // It may have exited between our look and runc's: that is "not running", not a failure.
      if ((await this.state(id)).status === 'stopped') throw new RuntimeError('Conflict', `container ${id} is stopped, not running`);
      throw new RuntimeError('RuntimeFailed', `container ${id}: runc kill ${signal} failed: ${stderrOf(err)}`, { cause: err });
    }
  }

  /**
   * What `runc kill` (without --all) does, without starting runc: the signal goes to the init
   * process runc recorded, once its start time in /proc matches the one runc recorded (so a pid
   * reused by another process is never signalled). False when that cannot be decided here (no
   * state, another format, a process gone or not the same): kill() then asks runc.
   * Starting runc costs a fork of the whole agent and ~10 ms of CPU; a stop of many tasks at once
   * is that many times over.
   */
  private signalInit(id: string, signal: NodeJS.Signals): boolean {
    let recorded: { init_process_pid?: unknown; init_process_start?: unknown };
    try {
      recorded = JSON.parse(readOptional(join(this.runcRoot, id, 'state.json')) ?? 'null') as typeof recorded;
    } catch {
      return false;
    }
    const pid = recorded?.init_process_pid;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) return false;
    if (processStartTicks(readQuiet(`/proc/${pid}/stat`)) !== String(recorded.init_process_start)) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch (err) {
      if (errno(err) === 'ESRCH') return false;
      throw err;
    }
  }

  async stop(id: string, timeoutMs: number): Promise<ExitStatus> {
    return stopWithTimeout(this, id, timeoutMs, this.meta(id).stopSignal);
  }

  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<ExitStatus> {
    const stopped = await this.until(id, (s) => (s.status === 'stopped' ? s : undefined), options);
    if (stopped === undefined) throw options.signal?.reason ?? new Error('aborted');
    return {
      ...(stopped.exitCode === undefined ? {} : { exitCode: stopped.exitCode }),
      ...(stopped.finishedAt === undefined ? {} : { finishedAt: stopped.finishedAt }),
      ...(stopped.error === undefined ? {} : { error: stopped.error }),
      ...(stopped.oomKilled === undefined ? {} : { oomKilled: stopped.oomKilled }),
    };
  }

  state(id: string): Promise<ContainerState> {
    return new Promise((resolve) => resolve(this.stateNow(id))); // a throw rejects
  }

  /** The state from the container's files and /proc, read synchronously (see readOptional). */
  private stateNow(id: string): ContainerState {
    const dir = this.dir(id);
    const meta = this.meta(id);
    const base = { id, createdAt: new Date(meta.createdAt), labels: meta.labels };
    const exited = (): ContainerState | undefined => {
      const exit = readOptional(join(dir, 'exit'));
      if (exit === undefined) return undefined;
      const [finishedAt, startedAt] = [mtime(join(dir, 'exit')), mtime(join(dir, 'init.pid'))];
      if (startedAt === undefined) {
        const { exitCode } = parseExitFile(exit);
        return { ...base, status: 'stopped', ...(finishedAt ? { finishedAt } : {}), error: this.failure(dir, exitCode) };
      }
      const { exitCode, oomKilled } = parseExitFile(exit);
      return { ...base, status: 'stopped', exitCode, startedAt, ...(finishedAt ? { finishedAt } : {}), oomKilled };
    };

    const done = exited();
    if (done) return done;
    const shimPid = Number(readOptional(join(dir, 'shim.pid'))?.trim() || NaN);
    if (Number.isNaN(shimPid)) return { ...base, status: 'created' };
    const pidText = readOptional(join(dir, 'init.pid'));
    const pid = pidText === undefined ? undefined : Number(pidText.trim());
    const startedAt = mtime(join(dir, 'init.pid'));
    const running = { ...base, status: 'running' as const, ...(pid === undefined ? {} : { pid }), ...(startedAt ? { startedAt } : {}) };
    // The process itself decides "running", even if its monitor was killed (it then has no exit code to give).
    if (pid !== undefined && this.inCgroup(pid, meta.cgroupsPath)) return running;
    if (this.monitorAlive(shimPid, dir)) return pid === undefined ? { ...base, status: 'created' } : running;
    // The monitor may have written `exit` and gone between our looks.
    const late = exited();
    if (late) return late;
    return {
      ...base, status: 'stopped', ...(startedAt ? { startedAt } : {}),
      error: 'its monitor ended without recording an exit code (the host restarted or the monitor was killed)',
    };
  }

  async list(): Promise<ContainerState[]> {
    let ids: string[];
    try {
      ids = await readdir(join(this.stateDir, 'containers'));
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw err;
    }
    const states: ContainerState[] = [];
    for (const id of ids.sort()) {
      try {
        states.push(await this.state(id));
      } catch (err) {
        // Deleted meanwhile, or a create that never finished (no meta.json): not a container.
        if (!isRuntimeError(err, 'NotFound')) throw err;
      }
    }
    return states;
  }

  async exec(id: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const dir = this.dir(id);
    if (args.length === 0 || args[0] === '') throw invalidSpec('args', 'exec needs a command');
    const state = await this.state(id);
    if (state.status !== 'running') throw new RuntimeError('Conflict', `container ${id} is ${state.status}, not running`);
    const max = options.maxOutputBytes ?? 4096;
    const pidFile = join(dir, `exec-${randomBytes(6).toString('hex')}.pid`);
    // One pipe for both streams. runc exec (attached, no tty) still copies the command's stdout and
    // stderr through a pipe and a copier of its own each, so lines of one stream keep their order but
    // a line on stderr may land before an earlier one on stdout, as with `docker exec` over two streams.
    const child = spawn('/bin/sh', ['-c', 'exec "$@" 2>&1', 'sh', this.runc, '--root', this.runcRoot, 'exec', '--pid-file', pidFile, id, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (d: Buffer): void => {
      if (kept < max) chunks.push(d.subarray(0, max - kept));
      kept += d.length;
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      // Kill the command itself (runc exec cannot forward SIGKILL); runc exec then returns.
      const pid = readQuiet(pidFile)?.trim();
      try {
        if (pid) process.kill(Number(pid), 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, options.timeoutMs);
    try {
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c, s) => resolve([c, s]));
      });
      const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
      return { exitCode, output: Buffer.concat(chunks).toString('utf8'), timedOut };
    } finally {
      clearTimeout(timer);
      await rm(pidFile, { force: true });
    }
  }

  async stats(id: string): Promise<ContainerStats> {
    const state = await this.state(id);
    if (state.status !== 'running') throw new RuntimeError('Conflict', `container ${id} is ${state.status}, not running`);
    const meta = this.meta(id);
    try {
      const usage = await readCgroupStats((await this.hostFacts()).cgroups, meta.cgroupsPath);
      const spec = JSON.parse(await readFile(join(this.dir(id), 'spec.json'), 'utf8')) as ContainerSpec;
      // In host mode the interfaces are the host's, not the container's: Docker reports none either.
      if (spec.network.mode === 'host' || state.pid === undefined) return usage;
      return { ...usage, networks: parseNetDev(await readFile(`/proc/${state.pid}/net/dev`, 'utf8')) };
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new RuntimeError('Conflict', `container ${id} stopped while its usage was read`);
      throw err;
    }
  }

  logPaths(id: string): Promise<LogPaths> {
    const dir = this.dir(id);
    return Promise.resolve({ stdout: join(dir, 'stdout.log'), stderr: join(dir, 'stderr.log') });
  }

  async delete(id: string): Promise<void> {
    const dir = this.dir(id);
    const state = await this.state(id);
    if (state.status === 'running') throw new RuntimeError('Conflict', `container ${id} is running; stop it first`);
    const shimPid = Number(readOptional(join(dir, 'shim.pid'))?.trim() || NaN);
    if (!Number.isNaN(shimPid) && state.status === 'created' && (this.monitorAlive(shimPid, dir))) {
      throw new RuntimeError('Conflict', `container ${id} is starting`);
    }
    const meta = this.meta(id);
    // The monitor deletes the container from runc after it exits; what is left means the monitor or runc was killed.
    if (existsSync(join(this.runcRoot, id))) {
      try {
        await run(this.runc, ['--root', this.runcRoot, 'delete', '--force', id]);
      } catch (err) {
        throw new RuntimeError('RuntimeFailed', `container ${id}: runc delete failed: ${stderrOf(err)}`, { cause: err });
      }
    }
    await removeCgroups((await this.hostFacts()).cgroups, meta.cgroupsPath);
    await rm(dir, { recursive: true, force: true });
  }

  private meta(id: string): Meta {
    const text = readOptional(join(this.dir(id), 'meta.json'));
    if (text === undefined) throw new RuntimeError('NotFound', `no container ${id}`);
    return JSON.parse(text) as Meta;
  }

  /** True when `pid` is this container's monitor: alive, and its argv names the container's dir. */
  private monitorAlive(pid: number, dir: string): boolean {
    const cmdline = readQuiet(`/proc/${pid}/cmdline`);
    return cmdline !== undefined && cmdline.split('\0').includes(dir);
  }

  /** True when `pid` is alive and in the container's cgroup (so not a reused pid). */
  private inCgroup(pid: number, cgroupsPath: string): boolean {
    const cgroups = readQuiet(`/proc/${pid}/cgroup`);
    return cgroups !== undefined && cgroups.split('\n').some((l) => l.endsWith(`:${cgroupsPath}`));
  }

  /** Why runc stopped before the process ran: its last logged error, else its status. */
  private failure(dir: string, status: number): string {
    const log = readOptional(join(dir, 'runc.log')) ?? '';
    let message: string | undefined;
    for (const line of log.split('\n')) {
      try {
        const entry = JSON.parse(line) as { level?: string; msg?: string };
        if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) message = entry.msg;
      } catch {
        // runc.log may end in a partial line; the lines before it are whole.
      }
    }
    return message ?? `runc exited with status ${status} before the process ran`;
  }

  /**
   * Re-reads the state until `pick` returns something (undefined on timeout or abort): woken when
   * the monitor's files change, and at least every 500 ms (a monitor that dies leaves no file behind).
   */
  private async until<T>(
    id: string, pick: (s: ContainerState) => T | undefined,
    options: { signal?: AbortSignal; timeoutMs?: number },
  ): Promise<T | undefined> {
    const first = pick(await this.state(id)); // NotFound before any watching
    if (first !== undefined) return first;
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    const dir = this.dir(id);
    const changes = new MonitorWatch(dir);
    const poke = () => changes.poke();
    options.signal?.addEventListener('abort', poke);
    try {
      for (let quiet = 0; ; ) {
        if (options.signal?.aborted) return undefined;
        const left = deadline === undefined ? 500 : Math.min(500, deadline - Date.now());
        if (left <= 0) return undefined;
        const ticks = changes.ticks;
        await changes.next(left);
        // Without an event only a dead monitor changes anything (it can write no `exit`): a quiet
        // wait checks that with one signal-0 probe, and reads the whole state every 10th time in
        // case the monitor's pid was reused. A hundred waiting containers then cost next to nothing.
        if (changes.ticks > ticks && ++quiet % 10 !== 0 && monitorStillThere(dir)) continue;
        const found = pick(await this.state(id));
        if (found !== undefined) return found;
      }
    } finally {
      changes.close();
      options.signal?.removeEventListener('abort', poke);
    }
  }
}

/** Whether the container's monitor (shim.pid) still runs and has written no `exit`: nothing to read then. */
function monitorStillThere(dir: string): boolean {
  try {
    if (existsSync(join(dir, 'exit'))) return false;
    const pid = Number(readFileSync(join(dir, 'shim.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // no shim.pid, or no such process: the full read decides
  }
}

/**
 * The pid file runc writes once the container's process runs (its mtime is the start), while the
 * monitor has not yet written `exit`. Read synchronously: two tiny files, cheaper than the
 * thread-pool round trips of asynchronous reads on the path of every start.
 */
function runningFromPidFile(dir: string): { pid: number; startedAt: Date } | undefined {
  try {
    if (existsSync(join(dir, 'exit'))) return undefined;
    const text = readFileSync(join(dir, 'init.pid'), 'utf8').trim();
    const pid = Number(text);
    if (text === '' || !Number.isInteger(pid)) return undefined;
    return { pid, startedAt: statSync(join(dir, 'init.pid')).mtime };
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Wakes a waiter when `init.pid` or `exit` appears or changes in a container's directory (runc's
 * log, the output files and runc's temporary pid file do not: a chatty container would wake a full
 * state read per line), or when a tick passes: a monitor that dies before runc writes anything
 * leaves no file behind, and only the full state read notices. An event that lands while nobody
 * waits is kept for the next wait.
 */
class MonitorWatch {
  private pending = false;
  private wake: (() => void) | undefined;
  private readonly watcher: FSWatcher;
  /** Waits that ended by time rather than by an event. */
  ticks = 0;

  constructor(dir: string) {
    this.watcher = watch(dir, (_event, file) => {
      if (file === null || file === 'init.pid' || file === 'exit') this.poke();
    });
    this.watcher.on('error', () => this.poke());
  }

  poke(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Resolves at the next relevant event (at once if one came since the last call), or after `ms`. */
  async next(ms: number): Promise<void> {
    if (!this.pending) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.ticks++;
          resolve();
        }, ms);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    this.pending = false;
  }

  close(): void {
    this.watcher.close();
  }
}

function stderrOf(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).trim();
}

/**
 * What a spec names on the host: a valid id, a rootfs directory and existing mount sources. Every
 * driver checks these first, so a bad spec leaves nothing behind.
 */
export function checkSpecOnHost(spec: ContainerSpec): void {
  if (!CONTAINER_ID_PATTERN.test(spec.id)) {
    throw invalidSpec('id', `"${spec.id}" must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit`);
  }
  const rootStat = statSync(spec.rootfs, { throwIfNoEntry: false });
  if (!spec.rootfs.startsWith('/') || !rootStat?.isDirectory()) throw invalidSpec('rootfs', `"${spec.rootfs}" is not a directory`);
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    if (m.sourcePath.startsWith('/') && !existsSync(m.sourcePath)) {
      throw invalidSpec(`mounts[${i}].sourcePath`, `"${m.sourcePath}" does not exist on the host`);
    }
  }
}
