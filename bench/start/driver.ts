/**
 * bench/start/driver: the runc driver's own share of a task start, without the agent or the control
 * plane: RuncDriver.create and .start of a busybox container (network mode none), side by side with
 * plain `runc run -d` of an equivalent bundle, so the driver's overhead over runc shows. Prints one
 * JSON line. Each start is split by the container's own files: `to_init_pid` is from the start call
 * to runc writing the pid file (the process runs), `noticed` from there to start() returning.
 *
 * Real containers: run under `flock /tmp/berth-runc.lock` on a shared machine.
 * BENCH_DRIVER_SAMPLES (default 40) sets the samples.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { percentile } from '../lib.js';
import { detectCgroupLayout, removeCgroups } from '../../src/runtime/runc/cgroups.js';
import { RuncDriver } from '../../src/runtime/runc/runc-driver.js';
import { busyboxRootfs } from '../../src/runtime/testing/busybox.js';

const SAMPLES = Number(process.env['BENCH_DRIVER_SAMPLES'] ?? 40);
const round = (n: number): number => Math.round(n * 10) / 10;
const load = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

interface Latency { p50_ms: number; p90_ms: number; p99_ms: number; max_ms: number }
function summarize(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b);
  return { p50_ms: round(percentile(s, 50)), p90_ms: round(percentile(s, 90)), p99_ms: round(percentile(s, 99)), max_ms: round(s.at(-1) ?? NaN) };
}

const loadBefore = load();
const tmp = await mkdtemp(join(tmpdir(), 'berth-bench-driver-'));
const cgroupParent = `/berth-bench-${process.pid}`;
const driver = new RuncDriver({ stateDir: join(tmp, 'state'), cgroupParent });
const rootfs = await busyboxRootfs(join(tmp, 'rootfs'));
const out: Record<string, unknown> = {};
try {
  const create: number[] = [];
  const start: number[] = [];
  const toInitPid: number[] = [];
  const noticed: number[] = [];
  const ids: string[] = [];
  for (let i = -3; i < SAMPLES; i++) {
    const id = `bench-${i + 3}`;
    const t0 = Date.now();
    const p0 = performance.now();
    await driver.create({ id, rootfs, network: { mode: 'none' }, entryPoint: ['/bin/sleep', '3600'], cpu: 10, memoryReservation: 8 });
    const p1 = performance.now();
    const s = await driver.start(id);
    const p2 = performance.now();
    const t2 = Date.now();
    if (s.status !== 'running') throw new Error(`${id} is ${s.status}: ${s.error ?? ''}`);
    const initAt = (await stat(join(driver.stateDir, 'containers', id, 'init.pid'))).mtimeMs;
    ids.push(id);
    if (i < 0) continue; // warm-up
    create.push(p1 - p0);
    start.push(p2 - p1);
    // Wall-clock split of start: the pid file's mtime against the calls' own wall clock.
    const startAt = t0 + (p1 - p0);
    toInitPid.push(initAt - startAt);
    noticed.push(t2 - initAt);
  }
  out['driver'] = {
    create: summarize(create), start: summarize(start),
    start_to_init_pid: summarize(toInitPid), init_pid_to_return: summarize(noticed),
  };
  for (const id of ids) await driver.kill(id, 'SIGKILL');
  for (const id of ids) {
    await driver.wait(id);
    await driver.delete(id);
  }

  // Plain runc: the first container's bundle, `runc run -d` (create+start in one call), deleted after.
  const bundle = join(tmp, 'plain-bundle');
  await mkdir(bundle);
  const id0 = 'plain-src';
  await driver.create({ id: id0, rootfs, network: { mode: 'none' }, entryPoint: ['/bin/sleep', '3600'], cpu: 10, memoryReservation: 8 });
  const srcDir = join(driver.stateDir, 'containers', id0);
  // The /etc files it binds move with a copy of the container's dir.
  const text = (await readFile(join(srcDir, 'bundle', 'config.json'), 'utf8')).replaceAll(srcDir, join(tmp, 'plain-files'));
  const config = JSON.parse(text) as { linux: { cgroupsPath: string } };
  await cp(srcDir, join(tmp, 'plain-files'), { recursive: true });
  await driver.delete(id0);
  const root = join(tmp, 'plain-root');
  const plain: number[] = [];
  for (let i = -3; i < SAMPLES; i++) {
    const id = `plain-${i + 3}`;
    config.linux.cgroupsPath = `${cgroupParent}/${id}`;
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
    const p0 = performance.now();
    execFileSync('runc', ['--root', root, 'run', '-d', '--bundle', bundle, id], { stdio: 'ignore' });
    if (i >= 0) plain.push(performance.now() - p0);
    execFileSync('runc', ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
  }
  out['runc_run_detached'] = summarize(plain);
} finally {
  for (const c of await driver.list()) {
    if (c.status === 'running') await driver.kill(c.id, 'SIGKILL').catch(() => undefined);
    if (c.status !== 'stopped') await driver.wait(c.id).catch(() => undefined);
    await driver.delete(c.id).catch(() => undefined);
  }
  await rm(tmp, { recursive: true, force: true });
  // The plain runs' groups, then the parent, in every hierarchy (runc leaves the parent).
  const layout = await detectCgroupLayout();
  for (let i = 0; i < SAMPLES + 3; i++) await removeCgroups(layout, `${cgroupParent}/plain-${i}`);
  await removeCgroups(layout, cgroupParent);
}
console.log(JSON.stringify({ bench: 'start-driver', samples: SAMPLES, ...out, load_avg_1m: { before: loadBefore, after: load() }, cores: cpus().length }));
