/**
 * The Driver on the Docker Engine API: a container is a docker container created from its rootfs
 * (imported as an image of its own), labelled with the driver's state and the spec's id, so a new
 * driver over the same state finds it again by label. Docker keeps statuses and exit codes; the
 * driver's state dir keeps the log files (copied from Docker's log, see log-copy.ts).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  CONTAINER_ID_PATTERN, type ContainerSpec, type ContainerState, type ContainerStats, type Driver, type ExecOptions,
  type ExecResult, type ExitStatus, type LogPaths, type NetworkCounters,
} from '../driver.js';
import { invalidSpec, isRuntimeError, RuntimeError } from '../errors.js';
import { resolveProcess, stopSignal } from '../process.js';
import { ALL_CAPABILITIES } from '../runc/bundle.js';
import { readFileInRoot } from '../runc/rootfs.js';
import { checkSpecOnHost } from '../runc/runc-driver.js';
import { stopWithTimeout } from '../stop.js';
import { dockerCreateBody, type DockerCreateBody, LABELS, specLabels } from './container-config.js';
import { DockerEngine, EngineError, readAll } from './engine.js';
import { copyLogs, copying } from './log-copy.js';

export interface DockerDriverOptions {
  /** Where containers' log files live (`containers/<id>/`); created when missing. */
  readonly stateDir: string;
  /** The daemon's socket (default /var/run/docker.sock). */
  readonly socketPath?: string;
}

/** The parts of the Engine API's container inspect the driver reads. */
interface Inspect {
  readonly Created: string;
  readonly State: {
    readonly Status: string;
    readonly Pid: number;
    readonly ExitCode: number;
    readonly Error: string;
    readonly OOMKilled: boolean;
    readonly StartedAt: string;
    readonly FinishedAt: string;
  };
  readonly Config: { readonly Labels: Record<string, string> | null };
}

interface DockerStats {
  readonly read: string;
  readonly cpu_stats?: { readonly cpu_usage?: { readonly total_usage?: number } };
  readonly memory_stats?: { readonly usage?: number; readonly limit?: number; readonly stats?: Readonly<Record<string, number>> };
  readonly pids_stats?: { readonly current?: number };
  readonly networks?: Readonly<Record<string, {
    rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number;
    tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number;
  }>>;
}

/** Docker's "never" for a time. */
const ZERO_TIME = /^0001-01-01/;
const dateOf = (s: string | undefined): Date | undefined => (s === undefined || s === '' || ZERO_TIME.test(s) ? undefined : new Date(s));

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * @example
 *   const driver = new DockerDriver({ stateDir: '/var/lib/berth/docker', socketPath: '/run/docker.sock' });
 *   await driver.create({ id: 'web-1', rootfs, image, network: { mode: 'none' } });
 *   await driver.start('web-1');
 */
export class DockerDriver implements Driver {
  readonly name = 'docker';
  readonly stateDir: string;
  readonly engine: DockerEngine;
  /** Names this driver's containers and images apart from other drivers' on the same daemon. */
  readonly stateKey: string;
  private hostCaps: { caps: string[]; full: boolean } | undefined;
  /** Capabilities the daemon said it does not know (names without CAP_). */
  private readonly unknownCaps = new Set<string>();

  constructor(options: DockerDriverOptions) {
    this.stateDir = options.stateDir;
    this.engine = new DockerEngine(options.socketPath ?? '/var/run/docker.sock');
    this.stateKey = createHash('sha256').update(resolve(options.stateDir)).digest('hex').slice(0, 12);
  }

  private dir(id: string): string {
    if (!CONTAINER_ID_PATTERN.test(id)) throw new RuntimeError('NotFound', `no container "${id}" (not a valid id)`);
    return join(this.stateDir, 'containers', id);
  }

  /** The docker container's name: the driver's key, then the id. */
  containerName(id: string): string {
    return `berth-${this.stateKey}-${id}`;
  }

  /** The image a container's rootfs is imported as (one per container, removed with it). */
  imageRef(id: string): string {
    return `berth-rootfs-${this.stateKey}:${id}`;
  }

  /** The host's bounding set, and whether it holds every capability the kernel knows. */
  private async hostCapabilities(): Promise<{ caps: string[]; full: boolean }> {
    if (this.hostCaps === undefined) {
      const status = await readFile('/proc/self/status', 'utf8');
      const mask = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0'}`);
      const last = Number((await readFile('/proc/sys/kernel/cap_last_cap', 'utf8')).trim());
      const caps = ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
      this.hostCaps = { caps, full: mask === (1n << BigInt(last + 1)) - 1n };
    }
    return this.hostCaps;
  }

  async create(spec: ContainerSpec): Promise<ContainerState> {
    // Decide everything first: a spec that breaks a rule leaves nothing behind.
    checkSpecOnHost(spec);
    const [passwd, group] = [readFileInRoot(spec.rootfs, '/etc/passwd'), readFileInRoot(spec.rootfs, '/etc/group')];
    const proc = resolveProcess(spec, { ...(passwd === undefined ? {} : { passwd }), ...(group === undefined ? {} : { group }) });
    const signal = stopSignal(spec.image);
    const host = await this.hostCapabilities();
    const body = dockerCreateBody(spec, {
      process: proc,
      image: this.imageRef(spec.id),
      hostCapabilities: host.caps,
      fullBoundingSet: host.full,
      stopSignal: signal,
      driverLabels: { [LABELS.state]: this.stateKey, [LABELS.id]: spec.id, [LABELS.stopSignal]: signal, [LABELS.network]: spec.network.mode },
    });

    const dir = this.dir(spec.id);
    await mkdir(join(this.stateDir, 'containers'), { recursive: true });
    try {
      await mkdir(dir);
    } catch (err) {
      if (errno(err) === 'EEXIST') throw new RuntimeError('AlreadyExists', `container ${spec.id} already exists`);
      throw err;
    }
    let imported = false;
    try {
      await Promise.all([writeFile(join(dir, 'stdout.log'), ''), writeFile(join(dir, 'stderr.log'), '')]);
      await this.importRootfs(spec.id, spec.rootfs);
      imported = true;
      await this.createContainer(spec.id, body);
    } catch (err) {
      if (imported) await this.removeImage(spec.id).catch(() => undefined); // the first error is the one to tell
      await rm(dir, { recursive: true, force: true });
      if (err instanceof EngineError && err.status === 409) throw new RuntimeError('AlreadyExists', `container ${spec.id} already exists in docker`, { cause: err });
      if (err instanceof EngineError && err.status === 400) throw new RuntimeError('InvalidSpec', `container ${spec.id}: docker refused it: ${err.message}`, { cause: err });
      if (isRuntimeError(err)) throw err;
      throw new RuntimeError('RuntimeFailed', `container ${spec.id}: docker could not create it: ${String(err)}`, { cause: err });
    }
    return this.state(spec.id);
  }

  /**
   * Creates the docker container. A daemon that does not know a capability the host has (Docker
   * 20.10 knows none after CAP_AUDIT_READ) refuses it by name: the driver then leaves that one out,
   * for this container and the ones after it.
   */
  private async createContainer(id: string, body: DockerCreateBody): Promise<void> {
    for (;;) {
      const capAdd = body.HostConfig.CapAdd?.filter((c) => !this.unknownCaps.has(c)) ?? null;
      try {
        await this.engine.json('POST', '/containers/create', {
          query: { name: this.containerName(id) },
          json: { ...body, HostConfig: { ...body.HostConfig, CapAdd: capAdd } },
        });
        return;
      } catch (err) {
        const unknown = err instanceof EngineError && err.status === 400 ? /unknown capability: "?(?:CAP_)?([A-Z_]+)"?/.exec(err.message)?.[1] : undefined;
        if (unknown === undefined || this.unknownCaps.has(unknown) || !capAdd?.includes(unknown)) throw err;
        this.unknownCaps.add(unknown);
      }
    }
  }

  /** The rootfs as an image: a tar of the directory (GNU tar, numeric owners) sent to the image import. */
  private async importRootfs(id: string, rootfs: string): Promise<void> {
    const tar = spawn('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tarErr = '';
    tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
    const tarDone = new Promise<number | null>((ok, fail) => {
      tar.once('error', fail);
      tar.once('close', ok);
    });
    const [repo, tag] = this.imageRef(id).split(':') as [string, string];
    const res = await this.engine.stream('POST', '/images/create', { query: { fromSrc: '-', repo, tag }, body: tar.stdout, contentType: 'application/x-tar' });
    const progress = (await readAll(res)).toString('utf8');
    const code = await tarDone;
    if (code !== 0) throw new RuntimeError('RuntimeFailed', `container ${id}: tar of ${rootfs} failed: ${tarErr.trim() || `exit ${code}`}`);
    // The import answers 200 and tells a failure inside its progress stream.
    for (const line of progress.split('\n')) {
      if (!line.trim()) continue;
      const msg = (JSON.parse(line) as { error?: string }).error;
      if (msg) throw new RuntimeError('RuntimeFailed', `container ${id}: docker could not import its rootfs: ${msg}`);
    }
  }

  private async removeImage(id: string): Promise<void> {
    try {
      await this.engine.json('DELETE', `/images/${encodeURIComponent(this.imageRef(id))}`);
    } catch (err) {
      if (!(err instanceof EngineError && err.status === 404)) throw err;
    }
  }

  async start(id: string): Promise<ContainerState> {
    const state = await this.state(id);
    if (state.status !== 'created') throw new RuntimeError('Conflict', `container ${id} is ${state.status}, not created`);
    try {
      const res = await this.engine.send('POST', `/containers/${this.containerName(id)}/start`);
      const text = (await readAll(res)).toString('utf8');
      // 304: another start got there first.
      if (res.statusCode === 304) throw new RuntimeError('Conflict', `container ${id} is already started`);
      if ((res.statusCode ?? 500) >= 400) {
        const after = await this.state(id);
        const why = after.error ?? ((JSON.parse(text || '{}') as { message?: string }).message || `HTTP ${res.statusCode}`);
        throw new RuntimeError('StartFailed', `container ${id}: ${why}`);
      }
    } catch (err) {
      if (isRuntimeError(err)) throw err;
      throw new RuntimeError('RuntimeFailed', `container ${id}: docker start failed: ${String(err)}`, { cause: err });
    }
    void this.followLogs(id);
    return this.state(id);
  }

  /** Starts (or joins) the copy of the container's output into its files; resolves when it is all there. */
  private async followLogs(id: string): Promise<void> {
    try {
      await copyLogs(this.engine, this.containerName(id), await this.logPaths(id));
    } catch (err) {
      // Deleted meanwhile: nothing left to copy. Anything else is told to the next wait().
      if (!(err instanceof EngineError && err.status === 404)) this.logFailures.set(id, err);
    }
  }

  private readonly logFailures = new Map<string, unknown>();

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const state = await this.state(id);
    if (state.status !== 'running') throw new RuntimeError('Conflict', `container ${id} is ${state.status}, not running`);
    try {
      await this.engine.json('POST', `/containers/${this.containerName(id)}/kill`, { query: { signal } });
    } catch (err) {
      if (err instanceof EngineError && err.status === 409) throw new RuntimeError('Conflict', `container ${id} is stopped, not running`, { cause: err });
      if (err instanceof EngineError && err.status === 404) throw new RuntimeError('NotFound', `no container ${id}`, { cause: err });
      throw new RuntimeError('RuntimeFailed', `container ${id}: docker kill ${signal} failed: ${String(err)}`, { cause: err });
    }
  }

  async stop(id: string, timeoutMs: number): Promise<ExitStatus> {
    const info = await this.inspect(id);
    const signal = (info.Config.Labels?.[LABELS.stopSignal] ?? 'SIGTERM') as NodeJS.Signals;
    return stopWithTimeout(this, id, timeoutMs, signal);
  }

  async wait(id: string, options: { signal?: AbortSignal } = {}): Promise<ExitStatus> {
    const { signal } = options;
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      const st = await this.state(id);
      if (st.status === 'stopped') {
        await this.completeLogs(id);
        return {
          ...(st.exitCode === undefined ? {} : { exitCode: st.exitCode }),
          ...(st.finishedAt === undefined ? {} : { finishedAt: st.finishedAt }),
          ...(st.error === undefined ? {} : { error: st.error }),
          ...(st.oomKilled === undefined ? {} : { oomKilled: st.oomKilled }),
        };
      }
      try {
        if (st.status === 'running') {
          // Answers at once if it stopped meanwhile.
          await this.engine.json('POST', `/containers/${this.containerName(id)}/wait`, { query: { condition: 'not-running' }, ...(signal ? { signal } : {}) });
        } else {
          // Created and not started: nothing to wait on in Docker until it is.
          await new Promise<void>((ok) => {
            const timer = setTimeout(ok, 100);
            signal?.addEventListener('abort', () => {
              clearTimeout(timer);
              ok();
            }, { once: true });
          });
        }
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        if (err instanceof EngineError && err.status === 404) throw new RuntimeError('NotFound', `no container ${id}`, { cause: err });
        throw new RuntimeError('RuntimeFailed', `container ${id}: docker wait failed: ${String(err)}`, { cause: err });
      }
    }
  }

  /**
   * Makes the log files whole for a stopped container: joins the running copier, or copies what is
   * missing (the container ended while no driver ran); a marker saves doing it again.
   */
  private async completeLogs(id: string): Promise<void> {
    const marker = join(this.dir(id), 'logs-complete');
    if (existsSync(marker)) return;
    await this.followLogs(id);
    const failure = this.logFailures.get(id);
    if (failure !== undefined) {
      this.logFailures.delete(id);
      throw new RuntimeError('RuntimeFailed', `container ${id}: copying its output failed: ${failure instanceof Error ? failure.message : JSON.stringify(failure)}`, { cause: failure });
    }
    await writeFile(marker, '');
  }

  private async inspect(id: string): Promise<Inspect> {
    this.dir(id); // an id outside the rule is NotFound, and never reaches a URL
    try {
      const info = await this.engine.json<Inspect>('GET', `/containers/${this.containerName(id)}/json`);
      if (info.Config.Labels?.[LABELS.state] !== this.stateKey) throw new RuntimeError('NotFound', `no container ${id}`);
      return info;
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) throw new RuntimeError('NotFound', `no container ${id}`, { cause: err });
      if (isRuntimeError(err)) throw err;
      throw new RuntimeError('RuntimeFailed', `container ${id}: docker inspect failed: ${String(err)}`, { cause: err });
    }
  }

  async state(id: string): Promise<ContainerState> {
    const info = await this.inspect(id);
    const s = info.State;
    const base = { id, createdAt: new Date(info.Created), labels: specLabels(info.Config.Labels) };
    const startedAt = dateOf(s.StartedAt);
    const finishedAt = dateOf(s.FinishedAt);
    switch (s.Status) {
      case 'created':
        // A start that failed leaves Docker's status at created, with the reason.
        if (s.Error) return { ...base, status: 'stopped', error: s.Error, ...(finishedAt ? { finishedAt } : {}) };
        return { ...base, status: 'created' };
      case 'running':
      case 'paused':
      case 'restarting': {
        const running: ContainerState = { ...base, status: 'running', ...(s.Pid > 0 ? { pid: s.Pid } : {}), ...(startedAt ? { startedAt } : {}) };
        // Re-adopted (a new driver): its output goes on into the files.
        if (!copying(await this.logPaths(id))) void this.followLogs(id);
        return running;
      }
      default: {
        // exited, dead, removing
        if (startedAt === undefined) {
          return { ...base, status: 'stopped', error: s.Error || `docker reports it ${s.Status} without having run it`, ...(finishedAt ? { finishedAt } : {}) };
        }
        // Docker stamps StartedAt once it has handled the start, FinishedAt from the exit event: a
        // process that ends at once can seem to finish before it started.
        const finished = finishedAt && finishedAt < startedAt ? startedAt : finishedAt;
        return {
          ...base, status: 'stopped', exitCode: s.ExitCode, startedAt, ...(finished ? { finishedAt: finished } : {}), oomKilled: s.OOMKilled,
          ...(s.Status === 'dead' && s.Error ? { error: s.Error } : {}),
        };
      }
    }
  }

  async list(): Promise<ContainerState[]> {
    const found = await this.engine.json<{ Labels: Record<string, string> | null }[]>('GET', '/containers/json', {
      query: { all: 1, filters: JSON.stringify({ label: [`${LABELS.state}=${this.stateKey}`] }) },
    });
    const ids = found.map((c) => c.Labels?.[LABELS.id]).filter((id): id is string => id !== undefined && CONTAINER_ID_PATTERN.test(id));
    const states: ContainerState[] = [];
    for (const id of ids.sort()) {
      try {
        states.push(await this.state(id));
      } catch (err) {
        if (!isRuntimeError(err, 'NotFound')) throw err; // deleted meanwhile
      }
    }
    return states;
  }

  async exec(id: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (args.length === 0 || args[0] === '') throw invalidSpec('args', 'exec needs a command');
    const state = await this.state(id);
    if (state.status !== 'running') throw new RuntimeError('Conflict', `container ${id} is ${state.status}, not running`);
    const max = options.maxOutputBytes ?? 4096;
    const chunks: Buffer[] = [];
    let kept = 0;
    // Raw terminal output holds up to two bytes per byte kept (\r\n for \n): keep twice as much, cut after.
    const rawMax = 2 * max + 1;
    const keep = (d: Buffer): void => {
      if (kept < rawMax) chunks.push(d.subarray(0, rawMax - kept));
      kept += d.length;
    };
    // Docker runs it with the container's user, environment, working directory and capabilities.
    // On a terminal: Docker copies an exec's stdout and stderr apart and their order is lost, where a
    // terminal keeps them in one stream as written (its \r\n line ends are turned back below).
    const { Id: execId } = await this.engine.json<{ Id: string }>('POST', `/containers/${this.containerName(id)}/exec`, {
      json: { AttachStdout: true, AttachStderr: true, Tty: true, Cmd: [...args] },
    });
    const text = (): string => {
      const raw = Buffer.concat(chunks);
      const out = Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
      return out.subarray(0, max).toString('utf8');
    };
    let timedOut = false;
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    // Docker has no kill for an exec: end its process by its host pid, once Docker has one for it.
    const killWhenStarted = (): void => {
      if (ended) return;
      this.engine.json<{ Pid: number }>('GET', `/exec/${execId}/json`)
        .then(({ Pid }) => {
          if (Pid > 0) process.kill(Pid, 'SIGKILL');
          else timer = setTimeout(killWhenStarted, 20);
        })
        .catch((err: unknown) => keep(Buffer.from(`\n[berth: could not kill the command: ${String(err)}]\n`)));
    };
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        killWhenStarted();
      }, options.timeoutMs);
    }
    try {
      try {
        const res = await this.engine.stream('POST', `/exec/${execId}/start`, { json: { Detach: false, Tty: true } });
        for await (const chunk of res) keep(chunk as Buffer);
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        // The command could not be run at all (no such executable, ...): say why, as a failed status.
        keep(Buffer.from(`${err.message}\n`));
        return { exitCode: 126, output: text(), timedOut };
      }
      for (;;) {
        const info = await this.engine.json<{ Running: boolean; ExitCode: number | null }>('GET', `/exec/${execId}/json`);
        if (!info.Running && info.ExitCode !== null) return { exitCode: info.ExitCode, output: text(), timedOut };
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      ended = true;
      clearTimeout(timer);
    }
  }

  async stats(id: string): Promise<ContainerStats> {
    const info = await this.inspect(id);
    const state = await this.state(id);
    if (state.status !== 'running') throw new RuntimeError('Conflict', `container ${id} is ${state.status}, not running`);
    let s: DockerStats;
    try {
      s = await this.engine.json<DockerStats>('GET', `/containers/${this.containerName(id)}/stats`, { query: { stream: 'false', 'one-shot': 'true' } });
    } catch (err) {
      if (err instanceof EngineError && err.status === 409) throw new RuntimeError('Conflict', `container ${id} stopped while its usage was read`, { cause: err });
      throw new RuntimeError('RuntimeFailed', `container ${id}: docker stats failed: ${String(err)}`, { cause: err });
    }
    const mem = s.memory_stats ?? {};
    const usage: ContainerStats = {
      readAt: dateOf(s.read) ?? new Date(),
      cpuUsageNs: s.cpu_stats?.cpu_usage?.total_usage ?? 0,
      memoryUsageBytes: mem.usage ?? 0,
      // cgroup v1 calls the page cache "cache", v2 "file".
      memoryCacheBytes: mem.stats?.['cache'] ?? mem.stats?.['file'] ?? 0,
      memoryLimitBytes: mem.limit ?? Number.MAX_SAFE_INTEGER,
      pids: s.pids_stats?.current ?? 0,
    };
    // In host mode the interfaces are the host's: none are the container's own.
    if (info.Config.Labels?.[LABELS.network] === 'host') return usage;
    const networks: Record<string, NetworkCounters> = {};
    for (const [name, n] of Object.entries(s.networks ?? {})) {
      networks[name] = {
        rxBytes: n.rx_bytes, rxPackets: n.rx_packets, rxErrors: n.rx_errors, rxDropped: n.rx_dropped,
        txBytes: n.tx_bytes, txPackets: n.tx_packets, txErrors: n.tx_errors, txDropped: n.tx_dropped,
      };
    }
    return { ...usage, networks };
  }

  logPaths(id: string): Promise<LogPaths> {
    const dir = this.dir(id);
    return Promise.resolve({ stdout: join(dir, 'stdout.log'), stderr: join(dir, 'stderr.log') });
  }

  async delete(id: string): Promise<void> {
    const state = await this.state(id);
    if (state.status === 'running') throw new RuntimeError('Conflict', `container ${id} is running; stop it first`);
    try {
      await this.engine.json('DELETE', `/containers/${this.containerName(id)}`, { query: { v: 1 } });
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) throw new RuntimeError('NotFound', `no container ${id}`, { cause: err });
      if (err instanceof EngineError && err.status === 409) throw new RuntimeError('Conflict', `container ${id}: ${err.message}`, { cause: err });
      throw new RuntimeError('RuntimeFailed', `container ${id}: docker could not remove it: ${String(err)}`, { cause: err });
    }
    await this.removeImage(id);
    this.logFailures.delete(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }
}
