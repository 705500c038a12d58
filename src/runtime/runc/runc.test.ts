/**
 * The runc driver against the shared Driver suite on this host's real runc and cgroups, plus what
 * only runc shows: the monitor outliving a killed agent, a killed monitor, and the files kept.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerSpec, ContainerState } from '../driver.js';
import { driverSuite } from '../driver.suite.js';
import { busyboxRootfs } from '../testing/busybox.js';
import { cgroupDirs, detectCgroupLayout } from './cgroups.js';
import { processStartTicks } from './procfs.js';
import { RuncDriver } from './runc-driver.js';

/** A cgroup parent of this run's own, removed at the end from every hierarchy. */
const cgroupParent = `/berth-test-${process.pid}`;

afterAll(async () => {
  for (const dir of cgroupDirs(await detectCgroupLayout(), cgroupParent)) {
    if (existsSync(dir)) await rmdir(dir);
  }
});

execFileSync('runc', ['--version']);

driverSuite('runc', (stateDir) => new RuncDriver({ stateDir, cgroupParent }));

async function within<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('RuncDriver', () => {
  let tmp: string;
  let stateDir: string;
  let driver: RuncDriver;
  const agents: number[] = [];

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-runc-'));
    stateDir = join(tmp, 'state');
    driver = new RuncDriver({ stateDir, cgroupParent });
  });

  afterEach(async () => {
    try {
      for (const pid of agents.splice(0)) if (alive(pid)) process.kill(-pid, 'SIGKILL');
      for (const c of await driver.list()) {
        if (c.status === 'running') {
          await driver.kill(c.id, 'SIGKILL');
          await driver.wait(c.id);
        }
        await driver.delete(c.id);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  /** A container that says "ready" and exits with `code` once the host creates <tmp>/shared/go. */
  async function gated(id: string, code: number): Promise<ContainerSpec> {
    const shared = join(tmp, 'shared');
    await mkdir(shared, { recursive: true });
    return {
      id: `${id}-${process.pid}`,
      rootfs: await busyboxRootfs(join(tmp, `rootfs-${id}`)),
      image: { Env: ['PATH=/bin'] },
      entryPoint: ['/bin/sh', '-c', `echo ready; while [ ! -e /shared/go ]; do sleep 0.05; done; exit ${code}`],
      mounts: [{ sourcePath: shared, containerPath: '/shared' }],
      network: { mode: 'none' },
    };
  }

  it('keeps a container running and its exit code after the agent process is killed with its whole group', async () => {
    const spec = await gated('agentdeath', 9);
    const script = fileURLToPath(new URL('./testdata/agent.ts', import.meta.url));
    const agent = spawn(process.execPath, ['--import', 'tsx', script, stateDir, cgroupParent, JSON.stringify(spec)], {
      detached: true, // its own process group, which the test kills whole, as a supervisor would
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    agents.push(agent.pid!);
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    const [line] = await createInterface({ input: agent.stdout })[Symbol.asyncIterator]().next().then((r) => [r.value as string]);
    const started = JSON.parse(line!) as ContainerState;
    expect(started.status).toBe('running');

    process.kill(-agent.pid!, 'SIGKILL');
    await exited;

    const state = await driver.state(spec.id);
    expect([state.status, state.pid]).toEqual(['running', started.pid]);
    // The monitor leads its own session, apart from the agent's process group.
    const shimPid = Number(await readFile(join(stateDir, 'containers', spec.id, 'shim.pid'), 'utf8'));
    const stat = (await readFile(`/proc/${shimPid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    expect(Number(stat[3])).toBe(shimPid); // session id
    await writeFile(join(tmp, 'shared', 'go'), '');
    expect((await driver.wait(spec.id)).exitCode).toBe(9);
  });

  it('keeps everything about a container in its directory', async () => {
    const spec = await gated('layout', 4);
    await driver.create(spec);
    const dir = join(stateDir, 'containers', spec.id);
    expect((await readdir(dir)).sort()).toEqual(['bundle', 'hostname', 'hosts', 'meta.json', 'resolv.conf', 'spec.json', 'stderr.log', 'stdout.log']);
    expect(JSON.parse(await readFile(join(dir, 'spec.json'), 'utf8'))).toEqual(spec);
    const config = JSON.parse(await readFile(join(dir, 'bundle', 'config.json'), 'utf8')) as { linux: { cgroupsPath: string } };
    expect(config.linux.cgroupsPath).toBe(`${cgroupParent}/${spec.id}`);
    await driver.start(spec.id);
    await writeFile(join(tmp, 'shared', 'go'), '');
    await driver.wait(spec.id);
    expect((await readdir(dir)).sort()).toEqual([
      'bundle', 'exit', 'hostname', 'hosts', 'init.pid', 'meta.json', 'resolv.conf', 'runc.log', 'shim.pid', 'spec.json', 'stderr.log', 'stdout.log',
    ]);
    expect(await readFile(join(dir, 'exit'), 'utf8')).toBe('4 0\n');
    // The monitor deletes the container from runc (state and cgroups) once it has exited.
    expect(existsSync(join(stateDir, 'runc', spec.id))).toBe(false);
    for (const d of cgroupDirs(await detectCgroupLayout(), `${cgroupParent}/${spec.id}`)) expect(existsSync(d)).toBe(false);
  });

  it('a killed monitor leaves the container running; its end is then reported without an exit code', async () => {
    const spec = await gated('lostmonitor', 0);
    await driver.create(spec);
    const { pid } = await driver.start(spec.id);
    const shimPid = Number(await readFile(join(stateDir, 'containers', spec.id, 'shim.pid'), 'utf8'));
    process.kill(shimPid, 'SIGKILL');
    await within('the monitor to die', () => Promise.resolve(alive(shimPid) ? undefined : true));
    const state = await driver.state(spec.id);
    expect([state.status, state.pid]).toEqual(['running', pid]);
    await driver.kill(spec.id, 'SIGKILL');
    const exit = await driver.wait(spec.id);
    expect(exit.exitCode).toBeUndefined();
    expect(exit.error).toMatch(/monitor ended without recording an exit code/);
  });

  it('reports a runc that cannot run as StartFailed, naming its status, and lets the container be deleted', async () => {
    const broken = new RuncDriver({ stateDir, cgroupParent, runc: join(tmp, 'no-runc-here') });
    const spec = await gated('norunc', 0);
    await broken.create(spec);
    await expect(broken.start(spec.id)).rejects.toThrow(/StartFailed|status 127/);
    const state = await broken.state(spec.id);
    expect([state.status, state.exitCode, state.error]).toEqual(['stopped', undefined, 'runc exited with status 127 before the process ran']);
    await broken.delete(spec.id);
    expect(await broken.list()).toEqual([]);
  });

  it('reports a monitor that dies before runc says anything as StartFailed, rather than waiting for the start timeout', async () => {
    // A "runc" that kills its caller, the monitor: no pid file and no exit file ever appear.
    const fake = join(tmp, 'runc-kills-monitor');
    await writeFile(fake, '#!/bin/sh\nkill -9 $PPID\n', { mode: 0o755 });
    const broken = new RuncDriver({ stateDir, cgroupParent, runc: fake, startTimeoutMs: 30_000 });
    const spec = await gated('deadmonitor', 0);
    await broken.create(spec);
    await expect(broken.start(spec.id)).rejects.toThrow(/monitor ended without recording an exit code/);
    expect((await broken.state(spec.id)).status).toBe('stopped');
    await broken.delete(spec.id);
  });

  it('signals the init process itself, without runc, and never a process whose start time is not the one runc recorded', async () => {
    // A runc that notes each command it is given, then is the real one.
    const calls = join(tmp, 'runc-calls');
    const wrapper = join(tmp, 'runc-noting');
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >>${calls}\nexec ${driver.runc} "$@"\n`, { mode: 0o755 });
    const noting = new RuncDriver({ stateDir, cgroupParent, runc: wrapper, runcRoot: driver.runcRoot });
    const spec = await gated('signal', 0);
    await noting.create(spec);
    const { pid } = await noting.start(spec.id);
    const stateFile = join(noting.runcRoot, spec.id, 'state.json');
    const recorded = await readFile(stateFile, 'utf8');
    const ticks = processStartTicks(await readFile(`/proc/${pid!}/stat`, 'utf8'));
    expect(ticks).toMatch(/^\d+$/);
    expect(JSON.parse(recorded)).toMatchObject({ init_process_pid: pid, init_process_start: Number(ticks) });

    // As if the pid now belonged to another process: neither the driver nor runc signals it.
    await writeFile(stateFile, recorded.replace(`"init_process_start":${ticks}`, `"init_process_start":${Number(ticks) + 1}`));
    await expect(noting.kill(spec.id, 'SIGKILL')).rejects.toThrow(/runc kill SIGKILL failed/);
    expect(alive(pid!)).toBe(true);
    expect(await readFile(calls, 'utf8')).toMatch(/ kill /); // the driver could not decide, so runc was asked

    await writeFile(stateFile, recorded);
    await writeFile(calls, '');
    await noting.kill(spec.id, 'SIGKILL');
    expect((await noting.wait(spec.id)).exitCode).toBe(137);
    expect(await readFile(calls, 'utf8')).not.toMatch(/ kill /);
  });

  it('refuses bind sources and a rootfs that do not exist, leaving nothing behind', async () => {
    const spec = await gated('missing', 0);
    await expect(driver.create({ ...spec, mounts: [{ sourcePath: join(tmp, 'nope'), containerPath: '/x' }] })).rejects.toThrow(/mounts\[0\]\.sourcePath/);
    await expect(driver.create({ ...spec, rootfs: join(tmp, 'nope') })).rejects.toThrow(/rootfs/);
    await expect(driver.create({ ...spec, network: { mode: 'netns', path: join(tmp, 'nope') } })).rejects.toThrow(/network\.path/);
    expect(await driver.list()).toEqual([]);
  });
});
