/**
 * A private Docker daemon for tests and benchmarks: Debian's dockerd on its own socket, data root
 * and exec root under one directory, with no bridge and no iptables rules, so it changes nothing
 * of the host's networking and never meets another daemon. Stopped by its PID.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerEngine } from './engine.js';

export const DOCKERD = '/usr/sbin/dockerd';

const run = promisify(execFile);

export interface PrivateDockerd {
  readonly socketPath: string;
  readonly pid: number;
  /** SIGTERM to the daemon (it stops its containerd), SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Unmounts whatever is still mounted under `dir` (deepest first), so the directory can go. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', [m]);
}

/** Why a private dockerd cannot run here, or undefined when it can. */
export function dockerdMissing(): string | undefined {
  return existsSync(DOCKERD) ? undefined : `${DOCKERD} is not installed (Debian package docker.io)`;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * @example
 *   const d = await startDockerd(await mkdtemp(join(tmpdir(), 'dockerd-')));
 *   const driver = new DockerDriver({ stateDir, socketPath: d.socketPath });
 *   ...
 *   await d.stop();
 */
export async function startDockerd(root: string, options: { readyTimeoutMs?: number } = {}): Promise<PrivateDockerd> {
  await mkdir(root, { recursive: true });
  const socketPath = join(root, 'docker.sock');
  const log = await open(join(root, 'dockerd.log'), 'a');
  const child = spawn(DOCKERD, [
    '--bridge=none', '--iptables=false', '--ip-forward=false', '--ip-masq=false',
    '-H', `unix://${socketPath}`,
    '--data-root', join(root, 'data'), '--exec-root', join(root, 'exec'), '--pidfile', join(root, 'docker.pid'),
  ], { stdio: ['ignore', log.fd, log.fd], detached: false });
  const spawned = new Promise<void>((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', fail);
  });
  await log.close();
  await spawned;
  const pid = child.pid!;
  let exited = false;
  child.once('exit', () => (exited = true));

  const stop = async (graceMs = 30_000): Promise<void> => {
    if (exited || !alive(pid)) return;
    const gone = new Promise<void>((ok) => child.once('exit', () => ok()));
    process.kill(pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }, graceMs);
    await gone;
    clearTimeout(timer);
    // dockerd leaves the host's network namespace bound under its exec root.
    await unmountUnder(root);
  };

  const engine = new DockerEngine(socketPath);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exited) throw new Error(`dockerd exited before it was ready: ${(await readFile(join(root, 'dockerd.log'), 'utf8')).slice(-2000)}`);
      try {
        const res = await engine.send('GET', '/_ping');
        res.resume();
        if (res.statusCode === 200) break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`dockerd did not answer /_ping on ${socketPath} in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop(5_000);
    throw err;
  } finally {
    engine.close();
  }
  return { socketPath, pid, stop };
}
