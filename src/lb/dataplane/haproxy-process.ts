/**
 * One HAProxy in master-worker mode, as a child of this process: started, reloaded through its
 * master CLI, stopped. Its stdout (the access log) goes to a file; its stderr to the logger.
 * Whether it must be restarted when it dies is the data plane's call (see `exited`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import type { Logger } from '../../edge/logger.js';
import { runtimeCommand } from './runtime-api.js';

export interface HaproxyPaths {
  readonly configFile: string;
  readonly masterSocket: string;
  readonly runtimeSocket: string;
  readonly pidFile: string;
  readonly accessLogFile: string;
}

const READY_TIMEOUT_MS = 10_000;
const SETPRIV = '/usr/bin/setpriv';
const STOP_GRACE_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class HaproxyMaster {
  /** Settles when the master exits, for whatever reason. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stopping = false;
  private constructor(
    private readonly child: ChildProcess,
    private readonly paths: HaproxyPaths,
    private readonly logger: Logger,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts HAProxy on the config already written, and waits until its worker answers. */
  static async start(haproxyPath: string, paths: HaproxyPaths, logger: Logger): Promise<HaproxyMaster> {
    const log = openSync(paths.accessLogFile, 'a');
    let child: ChildProcess;
    try {
      const args = ['-W', '-S', `${paths.masterSocket},mode,600`, '-f', paths.configFile, '-p', paths.pidFile];
      // If this process dies without stopping it (kill -9), HAProxy goes too instead of holding the
      // listener ports: setpriv (util-linux) sets the parent-death signal, kept across HAProxy's
      // re-exec on reload.
      child = existsSync(SETPRIV)
        ? spawn(SETPRIV, ['--pdeathsig', 'SIGTERM', haproxyPath, ...args], { stdio: ['ignore', log, 'pipe'] })
        : spawn(haproxyPath, args, { stdio: ['ignore', log, 'pipe'] });
    } finally {
      closeSync(log);
    }
    const master = new HaproxyMaster(child, paths, logger);
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4096);
      // HAProxy says "ALERT" and "WARNING" of routine events (a server going down); what matters
      // (a start or reload refused, an exit) reaches the data plane, which logs it as an error.
      for (const line of chunk.split('\n')) if (line.trim() !== '') logger.debug('haproxy', { line });
    });
    child.on('error', (err) => logger.error('haproxy could not be started', { haproxyPath, err }));
    const exitedEarly = master.exited.then(({ code, signal }) => {
      throw new Error(`haproxy exited while starting (code ${code}, signal ${signal}): ${stderr.trim()}`);
    });
    exitedEarly.catch(() => {}); // observed by the race below, or moot once started
    await Promise.race([master.waitForWorker(undefined), exitedEarly]);
    return master;
  }

  /** The current worker's pid, as its Runtime API says; undefined while none answers. */
  async workerPid(): Promise<number | undefined> {
    try {
      const info = await runtimeCommand(this.paths.runtimeSocket, 'show info', { timeoutMs: 2_000 });
      const m = /^Pid: (\d+)$/m.exec(info);
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined; // not listening yet (starting, or between workers)
    }
  }

  /** Waits until a worker other than `previous` answers on the runtime socket. */
  private async waitForWorker(previous: number | undefined, failedBefore?: number): Promise<number> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const pid = await this.workerPid();
      if (pid !== undefined && pid !== previous) return pid;
      // The master's socket is away while it re-executes itself; that tells nothing.
      if (failedBefore !== undefined && (await this.failedReloads().catch(() => failedBefore)) > failedBefore) {
        throw new Error('haproxy refused the new configuration (see its alerts)');
      }
      await sleep(20);
    }
    throw new Error(`haproxy: no ${previous === undefined ? '' : 'new '}worker answered on ${this.paths.runtimeSocket} within ${READY_TIMEOUT_MS} ms`);
  }

  /** How many reloads the master counts as failed (`show proc`: "0 [failed: N]"). */
  private async failedReloads(): Promise<number> {
    const proc = await runtimeCommand(this.paths.masterSocket, 'show proc', { untilBlankLine: true, timeoutMs: 2_000 });
    return Number(/\[failed: (\d+)\]/.exec(proc)?.[1] ?? 0);
  }

  /**
   * Reloads the configuration file: the master starts a new worker on it, the old one finishes its
   * connections. Resolves with the new worker's pid; rejects if HAProxy refuses the config (the
   * old worker then keeps serving).
   */
  async reload(): Promise<number> {
    const before = await this.workerPid();
    const failedBefore = await this.failedReloads();
    // The master re-executes itself on `reload` and drops the connection: no answer to wait for.
    await runtimeCommand(this.paths.masterSocket, 'reload', { timeoutMs: 5_000 }).catch((err: unknown) => {
      this.logger.debug('haproxy reload: master connection', { err });
    });
    return this.waitForWorker(before, failedBefore);
  }

  /** Stops HAProxy (master and workers): SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killed = await Promise.race([this.exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
    if (!killed) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** True once stop() was called: an exit after it is expected. */
  get stopped(): boolean {
    return this.stopping;
  }
}

/**
 * Stops an HAProxy master left behind by an earlier run (its pid file in the state directory),
 * but only if that process is an haproxy running this config: a pid may have been reused.
 */
export async function stopLeftover(pidFile: string, configFile: string, logger: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline: string[];
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return; // gone
  }
  if (!cmdline[0]?.endsWith('haproxy') || !cmdline.includes(configFile)) return;
  logger.warn('stopping haproxy left by an earlier run', { pid });
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100; i++) {
    await sleep(50);
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
  process.kill(pid, 'SIGKILL');
}
