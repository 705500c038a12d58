/**
 * The Driver contract as tests: every driver (runc/, docker/) runs this suite unchanged, so the
 * agent can rely on each container-definition field reaching the container whatever runs it.
 *
 * `makeDriver(stateDir)` must give a driver keeping its state under stateDir; calling it again with
 * the same dir stands for an agent restart. Containers run a busybox rootfs built from the host's
 * busybox-static, and report what they see on their stdout, which the tests read from the logs.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerSpec, Driver, ExitStatus } from './driver.js';
import { isRuntimeError, type RuntimeErrorCode } from './errors.js';
import { followLog } from './logs.js';
import { busyboxRootfs } from './testing/busybox.js';

/** Docker's default capability set as a CapEff mask (CHOWN … AUDIT_WRITE, SETFCAP). */
const DEFAULT_CAP_MASK = 0xa80425fbn;
const CAP_CHOWN = 0;
const CAP_NET_ADMIN = 12;
const MIB = 1024 * 1024;

async function within<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function expectCode(promise: Promise<unknown>, code: RuntimeErrorCode): Promise<void> {
  const err = await promise.then(
    (v) => new Error(`expected RuntimeError(${code}), got ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
  if (!isRuntimeError(err, code)) throw err;
}

const capEff = (status: string): bigint => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? 'x'}`);
const bit = (mask: bigint, n: number): boolean => ((mask >> BigInt(n)) & 1n) === 1n;

/** The host directory of the cgroup a container printed /proc/self/cgroup for (v1 memory, or v2). */
function hostCgroupDir(procSelfCgroup: string): string {
  const v1 = /^\d+:memory:(\S+)$/m.exec(procSelfCgroup)?.[1];
  if (v1 !== undefined) return join('/sys/fs/cgroup/memory', v1);
  return join('/sys/fs/cgroup', /^0::(\S+)$/m.exec(procSelfCgroup)?.[1] ?? '/unknown');
}

export function driverSuite(name: string, makeDriver: (stateDir: string) => Driver): void {
  describe(`Driver contract: ${name}`, () => {
    let tmp: string;
    let stateDir: string;
    let driver: Driver;
    let seq = 0;

    beforeEach(async () => {
      tmp = await mkdtemp(join(tmpdir(), 'berth-driver-'));
      stateDir = join(tmp, 'state');
      driver = makeDriver(stateDir);
    });

    afterEach(async () => {
      // A fresh driver, so even a test that lost its own cleans up all it made.
      const d = makeDriver(stateDir);
      try {
        for (const c of await d.list()) {
          if (c.status === 'running') {
            await d.kill(c.id, 'SIGKILL').catch((e: unknown) => {
              if (!isRuntimeError(e, 'Conflict')) throw e;
            });
            await d.wait(c.id);
          }
          await d.delete(c.id);
        }
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });

    /** A spec for a fresh busybox rootfs; PATH=/bin as the image sets it. */
    async function spec(over: Partial<ContainerSpec> = {}): Promise<ContainerSpec> {
      const id = `bt-${process.pid}-${Date.now().toString(36)}-${++seq}`;
      const rootfs = await busyboxRootfs(join(tmp, `rootfs-${seq}`));
      return { id, rootfs, network: { mode: 'none' }, image: { Env: ['PATH=/bin'] }, ...over };
    }
    const sh = (script: string): Partial<ContainerSpec> => ({ entryPoint: ['/bin/sh', '-c', script] });

    async function logs(id: string): Promise<{ stdout: string; stderr: string }> {
      const p = await driver.logPaths(id);
      return { stdout: await readFile(p.stdout, 'utf8'), stderr: await readFile(p.stderr, 'utf8') };
    }

    async function runToExit(s: ContainerSpec): Promise<ExitStatus & { stdout: string; stderr: string }> {
      await driver.create(s);
      await driver.start(s.id);
      const status = await driver.wait(s.id);
      return { ...status, ...(await logs(s.id)) };
    }

    async function output(over: Partial<ContainerSpec>): Promise<string> {
      const r = await runToExit(await spec(over));
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      return r.stdout;
    }

    /** Starts a container and waits until its stdout holds `marker`. */
    async function startUntil(s: ContainerSpec, marker = 'ready'): Promise<void> {
      await driver.create(s);
      await driver.start(s.id);
      await within(`"${marker}" from ${s.id}`, async () => ((await logs(s.id)).stdout.includes(marker) ? true : undefined));
    }

    describe('process', () => {
      it('runs the process, keeping stdout and stderr apart, and goes created → running → stopped', async () => {
        const s = await spec(sh('echo out; echo err >&2'));
        const created = await driver.create(s);
        expect(created.status).toBe('created');
        expect(created.pid).toBeUndefined();
        const started = await driver.start(s.id);
        expect(['running', 'stopped']).toContain(started.status);
        const exit = await driver.wait(s.id);
        expect(exit.exitCode).toBe(0);
        expect(await logs(s.id)).toEqual({ stdout: 'out\n', stderr: 'err\n' });
        const st = await driver.state(s.id);
        expect(st.status).toBe('stopped');
        expect(st.exitCode).toBe(0);
        expect(st.startedAt!.getTime()).toBeLessThanOrEqual(st.finishedAt!.getTime());
        expect(st.createdAt.getTime()).toBeLessThanOrEqual(st.startedAt!.getTime() + 1000);
      });

      it('lets a reader follow the output while the container runs, to its last byte', async () => {
        const dir = join(tmp, 'gate');
        await mkdir(dir);
        const s = await spec({ ...sh('echo first; while [ ! -e /gate/go ]; do sleep 0.05; done; echo second; echo last'), mounts: [{ sourcePath: dir, containerPath: '/gate' }] });
        await driver.create(s);
        await driver.start(s.id);
        let text = '';
        for await (const chunk of followLog((await driver.logPaths(s.id)).stdout, { until: driver.wait(s.id) })) {
          text += chunk.toString();
          if (text === 'first\n') await writeFile(join(dir, 'go'), '');
        }
        expect(text).toBe('first\nsecond\nlast\n');
      });

      it('keeps the exit code', async () => {
        expect((await runToExit(await spec(sh('exit 7')))).exitCode).toBe(7);
      });

      it('runs the image Entrypoint+Cmd; command replaces Cmd; entryPoint replaces both', async () => {
        const image = { Env: ['PATH=/bin'], Entrypoint: ['/bin/echo', 'ep'], Cmd: ['from-image'] };
        expect(await output({ image })).toBe('ep from-image\n');
        expect(await output({ image, command: ['from-command'] })).toBe('ep from-command\n');
        expect(await output({ image, entryPoint: ['/bin/echo', 'own'] })).toBe('own\n');
        expect(await output({ image, entryPoint: ['/bin/echo', 'own'], command: ['cmd'] })).toBe('own cmd\n');
      });

      it('merges environment over the image Env and adds PATH, HOSTNAME and HOME', async () => {
        const out = await output({
          image: { Env: ['A=image', 'B=image', 'PATH=/bin'] },
          environment: [{ name: 'A', value: 'spec' }, { name: 'C', value: 'with space' }],
          hostname: 'envhost',
          ...sh('echo "$A|$B|$C|$PATH|$HOSTNAME|$HOME"'),
        });
        expect(out).toBe('spec|image|with space|/bin|envhost|/root\n');
      });

      it('starts in workingDirectory, else the image WorkingDir', async () => {
        expect(await output({ image: { Env: ['PATH=/bin'], WorkingDir: '/www' }, ...sh('pwd') })).toBe('/www\n');
        expect(await output({ image: { Env: ['PATH=/bin'], WorkingDir: '/www' }, workingDirectory: '/tmp', ...sh('pwd') })).toBe('/tmp\n');
      });

      it('runs as the user: numbers, names from /etc/passwd and /etc/group, and root by default', async () => {
        const ids = sh('echo "$(id -u) $(id -g) $(id -G) $HOME"');
        expect(await output(ids)).toBe('0 0 0 /root\n');
        expect(await output({ ...ids, user: '1000:1000' })).toBe('1000 1000 1000 2000 /home/app\n');
        expect(await output({ ...ids, user: 'app' })).toBe('1000 1000 1000 2000 /home/app\n');
        expect(await output({ ...ids, user: 'app:extra' })).toBe('1000 2000 2000 /home/app\n');
        expect(await output({ ...ids, user: '4242' })).toBe('4242 0 0 /\n');
        expect(await output({ ...ids, image: { Env: ['PATH=/bin'], User: 'nobody' } })).toBe('65534 65534 65534 /nonexistent\n');
      });

      it('refuses a user the image does not know, leaving nothing behind', async () => {
        const s = await spec({ ...sh('true'), user: 'ghost' });
        await expectCode(driver.create(s), 'InvalidSpec');
        await expectCode(driver.state(s.id), 'NotFound');
        expect(await driver.list()).toEqual([]);
      });

      it('reports an executable that does not exist as StartFailed and the container as stopped', async () => {
        const s = await spec({ entryPoint: ['/no/such/binary'] });
        await driver.create(s);
        await expectCode(driver.start(s.id), 'StartFailed');
        const st = await driver.state(s.id);
        expect(st.status).toBe('stopped');
        expect(st.exitCode).toBeUndefined();
        expect(st.error).toMatch(/no such file|not found/i);
      });

      it('keeps dockerLabels and the image Labels as labels', async () => {
        const s = await spec({ ...sh('true'), image: { Labels: { a: 'image', b: 'image' } }, dockerLabels: { b: 'spec', c: 'spec' } });
        const st = await driver.create(s);
        expect(st.labels).toEqual({ a: 'image', b: 'spec', c: 'spec' });
        expect((await driver.list()).map((c) => c.labels)).toEqual([{ a: 'image', b: 'spec', c: 'spec' }]);
      });
    });

    describe('errors', () => {
      it('refuses a second container with the same id, a second start, and unknown ids', async () => {
        const s = await spec(sh('echo ready; sleep 1000'));
        await driver.create(s);
        await expectCode(driver.create(s), 'AlreadyExists');
        await driver.start(s.id);
        await expectCode(driver.start(s.id), 'Conflict');
        await expectCode(driver.state('no-such-container'), 'NotFound');
        await expectCode(driver.start('no-such-container'), 'NotFound');
        await expectCode(driver.kill('no-such-container', 'SIGKILL'), 'NotFound');
        await expectCode(driver.delete('no-such-container'), 'NotFound');
      });

      it('refuses to kill or read stats of a container that is not running', async () => {
        const s = await spec(sh('true'));
        await driver.create(s);
        await expectCode(driver.kill(s.id, 'SIGTERM'), 'Conflict');
        await expectCode(driver.stats(s.id), 'Conflict');
        await expectCode(driver.stop(s.id, 100), 'Conflict');
        await driver.start(s.id);
        await driver.wait(s.id);
        await expectCode(driver.kill(s.id, 'SIGTERM'), 'Conflict');
      });
    });

    describe('security defaults', () => {
      it("keeps Docker's default capabilities, with no_new_privs", async () => {
        const out = await output(sh('cat /proc/self/status'));
        expect(capEff(out)).toBe(DEFAULT_CAP_MASK);
        expect(out).toMatch(/^NoNewPrivs:\s*1$/m);
      });

      it("filters system calls as Docker's default profile does, letting the matching capability through", async () => {
        const status = await output(sh('cat /proc/self/status'));
        expect(status).toMatch(/^Seccomp:\s*2$/m);
        // A user namespace needs no capability from the kernel; the filter refuses it without CAP_SYS_ADMIN.
        const refused = await runToExit(await spec(sh('unshare -U true')));
        expect(refused.exitCode).not.toBe(0);
        expect(refused.stderr).toMatch(/operation not permitted/i);
        expect(await output({ ...sh('unshare -U true && echo ok'), linuxParameters: { capabilities: { add: ['SYS_ADMIN'] } } })).toBe('ok\n');
        expect(await output({ ...sh('cat /proc/self/status'), privileged: true })).toMatch(/^Seccomp:\s*0$/m);
      });

      it('adds and drops capabilities as asked', async () => {
        const out = await output({ ...sh('cat /proc/self/status'), linuxParameters: { capabilities: { add: ['NET_ADMIN'], drop: ['CHOWN'] } } });
        const eff = capEff(out);
        expect(bit(eff, CAP_NET_ADMIN)).toBe(true);
        expect(bit(eff, CAP_CHOWN)).toBe(false);
        expect(eff & ~(1n << BigInt(CAP_NET_ADMIN))).toBe(DEFAULT_CAP_MASK & ~(1n << BigInt(CAP_CHOWN)));
        const none = await output({ ...sh('cat /proc/self/status'), linuxParameters: { capabilities: { drop: ['ALL'] } } });
        expect(capEff(none)).toBe(0n);
      });

      it('gives a privileged container every capability the host has', async () => {
        const host = capEff(await readFile('/proc/self/status', 'utf8'));
        const out = await output({ ...sh('cat /proc/self/status'), privileged: true });
        expect(capEff(out)).toBe(host);
      });

      it('masks kernel files and makes /proc/sys read-only', async () => {
        const out = await output(sh('wc -c < /proc/keys; { echo 1 > /proc/sys/kernel/ns_last_pid; } 2>/dev/null && echo writable || echo refused'));
        expect(out).toBe('0\nrefused\n');
      });

      it('refuses writes to a read-only root filesystem, but not to its tmpfs', async () => {
        const r = await runToExit(await spec({ ...sh('touch /newfile'), readonlyRootFilesystem: true }));
        expect(r.exitCode).not.toBe(0);
        expect(r.stderr).toMatch(/read-only file system/i);
        expect(await output({ ...sh('touch /newfile && echo ok'), readonlyRootFilesystem: false })).toBe('ok\n');
        expect(
          await output({
            ...sh('touch /scratch/f && echo ok'), readonlyRootFilesystem: true,
            linuxParameters: { tmpfs: [{ containerPath: '/scratch', size: 4 }] },
          }),
        ).toBe('ok\n');
      });
    });

    describe('limits', () => {
      const cgroupFile = (v1: string, v2: string): string => `cat /sys/fs/cgroup/${v1} 2>/dev/null || cat /sys/fs/cgroup/${v2}`;

      it('applies the memory hard limit and the reservation', async () => {
        const out = await output({
          ...sh(`${cgroupFile('memory/memory.limit_in_bytes', 'memory.max')}; ${cgroupFile('memory/memory.soft_limit_in_bytes', 'memory.low')}`),
          memory: 64, memoryReservation: 32,
        });
        expect(out).toBe(`${64 * MIB}\n${32 * MIB}\n`);
      });

      it('OOM-kills a container that goes over its memory limit, and says so', async () => {
        // dd fills a 64 MiB buffer, four times the limit; no swap is allowed beyond it.
        const r = await runToExit(await spec({ ...sh('dd if=/dev/zero of=/dev/null bs=64M count=1'), memory: 16, linuxParameters: { maxSwap: 0 } }));
        expect(r.exitCode).toBe(137);
        expect(r.oomKilled).toBe(true);
        const s = await spec({ ...sh('echo ready; sleep 1000 & wait'), memory: 16 });
        await startUntil(s);
        await driver.kill(s.id, 'SIGKILL');
        // The same status from a plain SIGKILL is not an OOM kill.
        expect(await driver.wait(s.id)).toMatchObject({ exitCode: 137, oomKilled: false });
      });

      it('turns cpu units into cpu shares, at least 2', async () => {
        const read = sh(cgroupFile('cpu/cpu.shares', 'cpu.weight'));
        const [half, zero] = [await output({ ...read, cpu: 512 }), await output({ ...read, cpu: 0 })];
        // v1 shows the shares; v2 the weight runc derives from them.
        expect([`512\n`, '20\n']).toContain(half);
        expect(['2\n', '1\n']).toContain(zero);
      });

      it('applies the pids limit', async () => {
        expect(await output({ ...sh(cgroupFile('pids/pids.max', 'pids.max')), pidsLimit: 32 })).toBe('32\n');
        // Forking past the limit fails inside the container.
        const r = await runToExit(await spec({ ...sh('for i in $(seq 40); do sleep 1000 & done; echo forked'), pidsLimit: 16 }));
        expect(r.stderr).toMatch(/can't fork|resource temporarily unavailable/i);
      });

      it('applies ulimits', async () => {
        const out = await output({ ...sh('ulimit -n; ulimit -Hn'), ulimits: [{ name: 'nofile', softLimit: 100, hardLimit: 200 }] });
        expect(out).toBe('100\n200\n');
      });

      it('mounts tmpfs mounts and /dev/shm at their sizes', async () => {
        const mounts = (out: string, path: string): string => out.split('\n').find((l) => l.split(' ')[1] === path) ?? '';
        const sized = await output({
          ...sh('cat /proc/mounts'),
          linuxParameters: { tmpfs: [{ containerPath: '/scratch', size: 4, mountOptions: ['exec'] }], sharedMemorySize: 128 },
        });
        expect(mounts(sized, '/scratch')).toMatch(/^tmpfs \/scratch tmpfs .*size=4096k/);
        expect(mounts(sized, '/scratch')).not.toMatch(/noexec/);
        expect(mounts(sized, '/dev/shm')).toMatch(/size=131072k/);
        expect(mounts(await output(sh('cat /proc/mounts')), '/dev/shm')).toMatch(/size=65536k/);
      });
    });

    describe('names and files', () => {
      it('sets the hostname and writes extraHosts into /etc/hosts', async () => {
        const out = await output({
          ...sh('hostname; cat /etc/hostname; cat /etc/hosts'),
          hostname: 'web-host',
          extraHosts: [{ hostname: 'db.internal', ipAddress: '10.1.2.3' }],
        });
        const [h1, h2, ...hosts] = out.split('\n');
        expect([h1, h2]).toEqual(['web-host', 'web-host']);
        expect(hosts).toContain('10.1.2.3\tdb.internal');
        expect(hosts.some((l) => /^127\.0\.0\.1\s+localhost/.test(l))).toBe(true);
      });

      it('binds host paths read-write and read-only', async () => {
        const rw = join(tmp, 'rw');
        const ro = join(tmp, 'ro');
        await mkdir(rw);
        await mkdir(ro);
        await writeFile(join(ro, 'given'), 'from host\n');
        const r = await runToExit(await spec({
          ...sh('echo written > /data/out; cat /config/given; echo x > /config/new || echo refused'),
          mounts: [{ sourcePath: rw, containerPath: '/data' }, { sourcePath: ro, containerPath: '/config', readOnly: true }],
        }));
        expect(await readFile(join(rw, 'out'), 'utf8')).toBe('written\n');
        expect(r.stdout).toBe('from host\nrefused\n');
        expect(existsSync(join(ro, 'new'))).toBe(false);
      });

      it("gives network mode none a namespace of its own with only a loopback, and host the host's namespace", async () => {
        const hostNs = await readlink('/proc/self/ns/net');
        const ifaces = (dev: string): string[] => dev.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
        const [noneNs, ...noneDev] = (await output(sh('readlink /proc/self/ns/net; cat /proc/net/dev'))).split('\n');
        expect(noneNs).not.toBe(hostNs);
        expect(ifaces(noneDev.join('\n'))).toEqual(['lo']);
        expect(await output({ ...sh('readlink /proc/self/ns/net'), network: { mode: 'host' } })).toBe(`${hostNs}\n`);
      });
    });

    describe('signals and stop', () => {
      it('delivers a signal the process handles', async () => {
        const s = await spec(sh('trap "echo got-term; exit 42" TERM; echo ready; sleep 1000 & wait'));
        await startUntil(s);
        expect((await driver.state(s.id)).status).toBe('running');
        await driver.kill(s.id, 'SIGTERM');
        expect((await driver.wait(s.id)).exitCode).toBe(42);
        expect((await logs(s.id)).stdout).toBe('ready\ngot-term\n');
      });

      it('stop() escalates to SIGKILL when the process ignores SIGTERM', async () => {
        const s = await spec(sh("trap '' TERM; echo ready; while :; do sleep 1; done"));
        await startUntil(s);
        expect((await driver.stop(s.id, 200)).exitCode).toBe(137);
        // A stopped container's stop gives the same outcome again.
        expect((await driver.stop(s.id, 200)).exitCode).toBe(137);
      });

      it('stop() with an init process ends a process that does not handle SIGTERM itself, by SIGTERM', async () => {
        const s = await spec({ ...sh('echo ready; sleep 1000'), linuxParameters: { initProcessEnabled: true } });
        await startUntil(s);
        // Without the init the shell is PID 1, which ignores an unhandled SIGTERM: that would end in 137.
        expect((await driver.stop(s.id, 15_000)).exitCode).toBe(143);
      });

      it("uses the image's StopSignal", async () => {
        const s = await spec({ image: { Env: ['PATH=/bin'], StopSignal: 'SIGUSR1' }, ...sh('trap "exit 11" USR1; trap "" TERM; echo ready; sleep 1000 & wait') });
        await startUntil(s);
        expect((await driver.stop(s.id, 15_000)).exitCode).toBe(11);
      });
    });

    describe('agent restarts', () => {
      it('a new driver over the same state sees a created container as created, and starts it', async () => {
        const s = await spec(sh('exit 4'));
        await driver.create(s);
        const restarted = makeDriver(stateDir);
        expect((await restarted.list()).map((c) => [c.id, c.status])).toEqual([[s.id, 'created']]);
        const started = await restarted.start(s.id);
        expect(['running', 'stopped']).toContain(started.status);
        expect((await restarted.wait(s.id)).exitCode).toBe(4);
        // The first driver sees the same: the state lives outside either.
        expect((await driver.state(s.id)).status).toBe('stopped');
        await expectCode(driver.start(s.id), 'Conflict');
      });

      it('a new driver over the same state re-adopts a running container and sees its later exit', async () => {
        const dir = join(tmp, 'shared');
        await mkdir(dir);
        const s = await spec({ ...sh('echo ready; while [ ! -e /shared/go ]; do sleep 0.05; done; exit 5'), mounts: [{ sourcePath: dir, containerPath: '/shared' }] });
        await startUntil(s);
        const before = await driver.state(s.id);

        const restarted = makeDriver(stateDir);
        const adopted = await restarted.list();
        expect(adopted.map((c) => [c.id, c.status, c.pid])).toEqual([[s.id, 'running', before.pid]]);
        // Creating the driver killed nothing.
        expect(() => process.kill(before.pid!, 0)).not.toThrow();
        await writeFile(join(dir, 'go'), '');
        expect((await restarted.wait(s.id)).exitCode).toBe(5);
      });

      it('a container that exits while no driver exists has its exit code kept', async () => {
        const dir = join(tmp, 'shared');
        await mkdir(dir);
        const s = await spec({ ...sh('echo ready; while [ ! -e /shared/go ]; do sleep 0.05; done; exit 3'), mounts: [{ sourcePath: dir, containerPath: '/shared' }] });
        await startUntil(s);
        const { pid } = await driver.state(s.id);
        await writeFile(join(dir, 'go'), '');
        // No driver call until its process is gone.
        await within('the process to exit', () => {
          try {
            process.kill(pid!, 0);
            return Promise.resolve(undefined);
          } catch {
            return Promise.resolve(true);
          }
        });
        const later = makeDriver(stateDir);
        expect((await later.wait(s.id)).exitCode).toBe(3);
        expect((await later.state(s.id)).status).toBe('stopped');
      });
    });

    describe('exec', () => {
      it('runs a command inside a running container as its process runs, giving status and output', async () => {
        const s = await spec({ ...sh('echo ready; sleep 1000 & wait'), user: '1000', environment: [{ name: 'X', value: 'from-spec' }], hostname: 'exechost' });
        await startUntil(s);
        const both = await driver.exec(s.id, ['/bin/sh', '-c', 'echo "$(id -u) $X $(hostname)"; echo to-stderr >&2; echo more-stdout; exit 3']);
        expect([both.exitCode, both.timedOut]).toEqual([3, false]);
        // The two streams are copied apart (by runc, or Docker's multiplexer): each keeps its own order.
        const lines = both.output.split('\n');
        expect(lines.filter((l) => l !== 'to-stderr')).toEqual(['1000 from-spec exechost', 'more-stdout', '']);
        expect(lines.filter((l) => l === 'to-stderr')).toHaveLength(1);
        const long = await driver.exec(s.id, ['/bin/sh', '-c', 'yes | head -c 10000'], { maxOutputBytes: 100 });
        expect([long.exitCode, long.output]).toEqual([0, 'y\n'.repeat(50)]);
        const missing = await driver.exec(s.id, ['/no/such/command']);
        expect(missing.exitCode).not.toBe(0);
        expect(missing.output).toMatch(/no such file|not found/i);
      });

      it('kills a command that runs past its timeout', async () => {
        const s = await spec(sh('echo ready; sleep 1000 & wait'));
        await startUntil(s);
        const r = await driver.exec(s.id, ['/bin/sh', '-c', 'echo started; exec sleep 999'], { timeoutMs: 300 });
        expect(r).toMatchObject({ timedOut: true, output: 'started\n' });
        expect(r.exitCode).toBe(137);
        expect((await driver.exec(s.id, ['/bin/sh', '-c', 'ps -o args | grep -c "^sleep 999" || true'])).output).toBe('0\n');
        expect((await driver.state(s.id)).status).toBe('running');
      });

      it('refuses to exec in a container that is not running', async () => {
        const s = await spec(sh('true'));
        await driver.create(s);
        await expectCode(driver.exec(s.id, ['true']), 'Conflict');
      });
    });

    describe('stats and delete', () => {
      it('reads cpu, memory and pids usage of a running container', async () => {
        const s = await spec({ ...sh('i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; sleep 1000 & wait'), memory: 64 });
        await startUntil(s);
        const st = await driver.stats(s.id);
        expect(st.memoryLimitBytes).toBe(64 * MIB);
        expect(st.memoryUsageBytes).toBeGreaterThan(0);
        expect(st.cpuUsageNs).toBeGreaterThan(0);
        expect(st.pids).toBeGreaterThanOrEqual(2);
        // Network mode none: a namespace with only a loopback, which stats leave out.
        expect(st.networks).toEqual({});
      });

      it('delete refuses a running container, then removes state, logs and cgroups', async () => {
        const s = await spec(sh('cat /proc/self/cgroup; echo ready; sleep 1000'));
        await startUntil(s);
        const cgroup = hostCgroupDir((await logs(s.id)).stdout);
        expect(existsSync(cgroup)).toBe(true);
        const paths = await driver.logPaths(s.id);
        await expectCode(driver.delete(s.id), 'Conflict');
        await driver.kill(s.id, 'SIGKILL');
        expect((await driver.wait(s.id)).exitCode).toBe(137);
        await driver.delete(s.id);
        await expectCode(driver.state(s.id), 'NotFound');
        expect(await driver.list()).toEqual([]);
        expect(existsSync(paths.stdout)).toBe(false);
        expect(existsSync(cgroup)).toBe(false);
        // The id is free again.
        await driver.create({ ...s, ...sh('true') });
      });

      it('a created container that never ran can be deleted', async () => {
        const s = await spec(sh('true'));
        await driver.create(s);
        await driver.delete(s.id);
        await expectCode(driver.state(s.id), 'NotFound');
      });
    });
  });
}
