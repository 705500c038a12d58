/**
 * The launcher on this host, both ways: through its perl helper and through Node's child_process
 * fallback. Real mounts (tmpfs, overlayfs), real detached processes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Launcher, LauncherError } from './launcher.js';
import { statFields } from './runc/procfs.js';

async function within<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const isMounted = async (path: string): Promise<boolean> =>
  (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === path);

/** Fields of /proc/PID/stat after the command name: state is [0], session id is [3]. */
const statFieldsOf = async (pid: number): Promise<string[]> => statFields(await readFile(`/proc/${pid}/stat`, 'utf8'))!;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-launcher-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each([
  ['the perl helper', () => new Launcher()],
  ['the child_process fallback', () => new Launcher({ perl: null })],
])('launcher through %s', (_name, make) => {
  let launcher: Launcher;
  let base: string;
  const started: number[] = [];
  beforeAll(async () => {
    launcher = make();
    base = await mkdtemp(join(dir, 'case-'));
  });
  afterEach(async () => {
    for (const pid of started.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const m of ['tmp', 'overlay/rootfs']) if (await isMounted(join(base, m))) execFileSync('umount', ['-l', join(base, m)]);
  });
  afterAll(() => launcher.close());

  it('mounts and unmounts a tmpfs', async () => {
    const target = join(base, 'tmp');
    await mkdir(target, { recursive: true });
    await launcher.mount({ source: 'tmpfs', target, fstype: 'tmpfs', data: 'size=1m,mode=0700', cwd: '/' });
    expect(await isMounted(target)).toBe(true);
    await writeFile(join(target, 'f'), 'x');
    await launcher.unmount(target);
    expect(await isMounted(target)).toBe(false);
    expect(existsSync(join(target, 'f'))).toBe(false);
  });

  it('mounts an overlay whose lower dirs are relative to the cwd given', async () => {
    const o = join(base, 'overlay');
    for (const d of ['layers/a', 'layers/b', 'upper', 'work', 'rootfs']) await mkdir(join(o, d), { recursive: true });
    await writeFile(join(o, 'layers/a/from-a'), 'a');
    await writeFile(join(o, 'layers/b/from-b'), 'b');
    await launcher.mount({
      source: 'overlay', target: join(o, 'rootfs'), fstype: 'overlay',
      data: `lowerdir=b:a,upperdir=${join(o, 'upper')},workdir=${join(o, 'work')}`, cwd: join(o, 'layers'),
    });
    expect((await readFile(join(o, 'rootfs/from-a'), 'utf8')) + (await readFile(join(o, 'rootfs/from-b'), 'utf8'))).toBe('ab');
    await writeFile(join(o, 'rootfs/new'), 'n');
    expect(await readFile(join(o, 'upper/new'), 'utf8')).toBe('n');
    await launcher.unmount(join(o, 'rootfs'), { detach: true });
    expect(await isMounted(join(o, 'rootfs'))).toBe(false);
  });

  it('refuses a mount on a missing target, saying what failed', async () => {
    const err = await launcher.mount({ source: 'tmpfs', target: join(base, 'missing'), fstype: 'tmpfs', data: '', cwd: '/' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LauncherError);
    expect((err as LauncherError).message).toContain(join(base, 'missing'));
  });

  it('refuses an unmount of what is not a mount point', async () => {
    await mkdir(join(base, 'plain'), { recursive: true });
    await expect(launcher.unmount(join(base, 'plain'))).rejects.toBeInstanceOf(LauncherError);
  });

  it('starts a detached process in its own session with its argv0, env and cwd, stdio on /dev/null', async () => {
    const work = await mkdtemp(join(base, 'spawn-'));
    const pid = await launcher.spawnDetached({
      file: '/bin/sh',
      // `touch` runs in a child: once `ready` exists, sh's own redirect of fd 1 to `out` is undone.
      argv: ['my-name', '-c', 'echo "$0 $GREETING $(pwd)" > out; touch ready; exec sleep 30'],
      cwd: work,
      env: { GREETING: 'hello world', PATH: '/usr/bin:/bin' },
    });
    started.push(pid);
    await within('ready', () => Promise.resolve(existsSync(join(work, 'ready')) || undefined));
    expect(await readFile(join(work, 'out'), 'utf8')).toBe(`my-name hello world ${work}\n`);
    const fields = await statFieldsOf(pid);
    expect(Number(fields[3])).toBe(pid); // session leader
    expect(await readlink(`/proc/${pid}/fd/0`)).toBe('/dev/null');
    expect(await readlink(`/proc/${pid}/fd/1`)).toBe('/dev/null');
    expect(await readlink(`/proc/${pid}/fd/2`)).toBe('/dev/null');
  });

  it("gives what it starts SIGCHLD at its default, so it can wait for its own children's status", async () => {
    const work = await mkdtemp(join(base, 'wait-'));
    const pid = await launcher.spawnDetached({
      file: '/bin/sh', argv: ['sh', '-c', 'sh -c "exit 7" & wait $!; echo $? > status'], cwd: work, env: { PATH: '/usr/bin:/bin' },
    });
    started.push(pid);
    expect(await within('status', async () => (await readFile(join(work, 'status'), 'utf8')) || undefined)).toBe('7\n');
  });

  it('refuses to start a missing program or in a missing directory, with the errno', async () => {
    const missing = await launcher.spawnDetached({ file: join(base, 'no-such-program'), argv: ['x'], cwd: '/', env: {} }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'ENOENT' });
    const noCwd = await launcher.spawnDetached({ file: '/bin/true', argv: ['true'], cwd: join(base, 'no-such-dir'), env: {} }).catch((e: unknown) => e);
    expect(noCwd).toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a NUL in an argument, and an empty argv', async () => {
    await expect(launcher.spawnDetached({ file: '/bin/true', argv: ['true', 'a\0b'], cwd: '/', env: {} })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(launcher.spawnDetached({ file: '/bin/true', argv: [], cwd: '/', env: {} })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('answers requests made at once, each with its own result', async () => {
    const work = await mkdtemp(join(base, 'many-'));
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => i % 4 === 3
      ? launcher.spawnDetached({ file: join(base, 'missing'), argv: ['m'], cwd: '/', env: {} })
      : launcher.spawnDetached({ file: '/bin/sh', argv: ['sh', '-c', `echo ${i} > f${i}`], cwd: work, env: {} })));
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? 'rejected' : 'fulfilled')));
    for (let i = 0; i < 20; i++) {
      if (i % 4 !== 3) expect(await within(`f${i}`, async () => (await readFile(join(work, `f${i}`), 'utf8')) || undefined)).toBe(`${i}\n`);
    }
  });
});

describe('the perl helper process', () => {
  it('is started again after it dies, failing only what it had in hand', async () => {
    const launcher = new Launcher();
    expect(launcher.helper).toBe(true);
    await launcher.spawnDetached({ file: '/bin/true', argv: ['true'], cwd: '/', env: {} });
    const first = launcher.helperPid!;
    process.kill(first, 'SIGKILL');
    await within('the helper to be gone', () => Promise.resolve(launcher.helperPid === undefined ? true : undefined));
    await launcher.spawnDetached({ file: '/bin/true', argv: ['true'], cwd: '/', env: {} });
    expect(launcher.helperPid).not.toBe(first);
    launcher.close();
    await expect(launcher.spawnDetached({ file: '/bin/true', argv: ['true'], cwd: '/', env: {} })).rejects.toThrow(/closed/);
  });

  it('holds a process open while it has a request in hand, and not after', async () => {
    const script = join(dir, 'only-a-request.mts');
    await writeFile(script, [
      `import { Launcher } from ${JSON.stringify(join(import.meta.dirname, 'launcher.ts'))};`,
      "const pid = await new Launcher().spawnDetached({ file: '/bin/true', argv: ['true'], cwd: '/', env: {} });",
      "console.log(pid > 0 ? 'answered' : 'no pid');",
    ].join('\n'));
    // Exits by itself (the helper is not waited for), having printed the answer.
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
    expect(out.trim()).toBe('answered');
  });

  it('is not used on an architecture whose system call numbers it does not know', () => {
    expect(new Launcher({ arch: 'mips' }).helper).toBe(false);
  });
});
