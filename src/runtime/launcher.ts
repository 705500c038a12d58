/**
 * The launcher: mounts, unmounts and detached process starts for the agent, done by one small
 * long-lived helper process instead of a fork of the agent for each.
 *
 * Why: Node starts every child with a fork of its whole process, then an exec. For an agent of a
 * few hundred MiB that fork copies its page tables, a few ms of CPU per child on the start path of
 * every container (its overlay mount, then its monitor). At a hundred starts at once on two cores,
 * those forks are a good share of all the CPU there is. The launcher is a perl process of a few MiB
 * (perl-base is part of every Debian system): it mounts with the mount(2) system call itself (no
 * mount(8), which reads the mount table and fstab on every call) and forks only itself to start a
 * process.
 *
 * Protocol (stdin): a request is NUL-terminated fields: an id, a field count N, then N fields (the
 * operation first). Fields cannot hold NUL, as no path or argument can. Replies (stdout), one line
 * each: `ID ok VALUE` or `ID err ERRNO MESSAGE`.
 *   mount   SOURCE TARGET FSTYPE DATA CWD      mount(2) with no flags, run in CWD (relative paths in DATA)
 *   umount  TARGET FLAGS                       umount2(2)
 *   spawn   CWD ENVCOUNT ENV... FILE ARGV...   fork, setsid, stdio on /dev/null, exec; VALUE is the pid
 * A spawn replies once the exec happened (or failed: a close-on-exec pipe carries the child's errno),
 * as Node's 'spawn' event does. The launcher never waits for what it starts (SIGCHLD ignored, so the
 * kernel reaps them), and its children get SIGCHLD back at its default so they can wait for theirs.
 *
 * When perl cannot run, or the machine's system call numbers are unknown to this file, every
 * operation falls back to Node's child_process (mount(8), umount(8), spawn with detached: true):
 * slower, same results.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';

/** mount(2) and umount2(2) numbers per Node architecture. */
const SYSCALLS: Partial<Record<NodeJS.Architecture, { mount: number; umount2: number }>> = {
  x64: { mount: 165, umount2: 166 },
  arm64: { mount: 40, umount2: 39 },
};

/** MNT_DETACH: a lazy unmount. */
export const MNT_DETACH = 2;

const LAUNCHER_SCRIPT = String.raw`
use strict; use warnings; use POSIX ();
my ($SYS_mount, $SYS_umount2) = map { int } @ARGV;
$| = 1; $/ = "\0"; binmode STDIN; binmode STDOUT;
$SIG{CHLD} = 'IGNORE';
sub field { my $f = <STDIN>; exit 0 unless defined $f; chomp $f; return $f }
sub fail { my ($id, $n) = @_; my $m = "$!"; $m =~ s/\n/ /g; print "$id err $n $m\n" }
while (1) {
  my $id = field(); my $count = field(); my @f = map { field() } 1 .. $count;
  my $op = shift @f // '';
  if ($op eq 'mount') {
    my ($src, $target, $type, $data, $cwd) = @f;
    if (!chdir $cwd) { fail($id, $! + 0); next }
    my $r = syscall($SYS_mount, $src, $target, $type, 0, $data);
    my $e = $! + 0; chdir '/';
    if ($r == 0) { print "$id ok 0\n" } else { $! = $e; fail($id, $e) }
  } elsif ($op eq 'umount') {
    my ($target, $flags) = @f;
    if (syscall($SYS_umount2, $target, int $flags) == 0) { print "$id ok 0\n" } else { fail($id, $! + 0) }
  } elsif ($op eq 'spawn') {
    my $cwd = shift @f; my $n = shift @f; my @env = splice(@f, 0, $n); my ($file, @argv) = @f;
    my ($r, $w); if (!pipe($r, $w)) { fail($id, $! + 0); next }
    my $pid = fork();
    if (!defined $pid) { fail($id, $! + 0); close $r; close $w; next }
    if ($pid == 0) {
      close $r; $SIG{CHLD} = 'DEFAULT'; POSIX::setsid();
      open(STDIN, '<', '/dev/null'); open(STDOUT, '>', '/dev/null'); open(STDERR, '>', '/dev/null');
      %ENV = map { split(/=/, $_, 2) } @env;
      if (chdir $cwd) { exec { $file } @argv }
      syswrite($w, pack('N', $! + 0)); POSIX::_exit(127);
    }
    close $w; my $got = sysread($r, my $buf, 4); close $r;
    if ($got && $got == 4) { $! = unpack('N', $buf); fail($id, $! + 0) } else { print "$id ok $pid\n" }
  } else {
    print "$id err 22 unknown operation\n";
  }
}
`;

/** An error of the launcher, carrying the system's errno name (ENOENT, EINVAL, …) as `code`. */
export class LauncherError extends Error {
  constructor(message: string, readonly code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LauncherError';
  }
}

export interface MountRequest {
  readonly source: string;
  readonly target: string;
  readonly fstype: string;
  /** The mount's option string (e.g. overlayfs's lowerdir=…,upperdir=…,workdir=…). */
  readonly data: string;
  /** The directory the mount runs in: paths in `data` may be relative to it. */
  readonly cwd: string;
}

export interface SpawnRequest {
  readonly file: string;
  /** The whole argv, argv[0] included. */
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

/** What parts of the agent use of a launcher. */
export interface Launch {
  mount(request: MountRequest): Promise<void>;
  unmount(target: string, options?: { detach?: boolean }): Promise<void>;
  /** Starts a process in its own session, stdio on /dev/null, not waited for; gives its pid once it runs. */
  spawnDetached(request: SpawnRequest): Promise<number>;
}

interface Pending { resolve: (value: string) => void; reject: (err: Error) => void; what: string }

/** Errno numbers the launcher may give, by name (Linux's, the same on x64 and arm64). */
const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV',
  20: 'ENOTDIR', 22: 'EINVAL', 24: 'EMFILE', 36: 'ENAMETOOLONG', 40: 'ELOOP', 8: 'ENOEXEC', 11: 'EAGAIN',
};

/**
 * One launcher helper process, started at first use and again if it dies.
 *
 * @example
 *   const launcher = new Launcher();
 *   await launcher.mount({ source: 'overlay', target: rootfs, fstype: 'overlay', data, cwd: layersDir });
 *   const pid = await launcher.spawnDetached({ file: '/bin/sh', argv: ['sh', '-c', script], cwd, env: { PATH } });
 *   launcher.close();
 */
export class Launcher implements Launch {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = '';
  private closed = false;
  private readonly perl: string | undefined;
  private readonly syscalls: { mount: number; umount2: number } | undefined;

  constructor(options: { perl?: string | null; arch?: NodeJS.Architecture } = {}) {
    this.syscalls = SYSCALLS[options.arch ?? process.arch];
    const perl = options.perl === undefined ? ['/usr/bin/perl', '/bin/perl'].find((p) => existsSync(p)) : options.perl ?? undefined;
    this.perl = this.syscalls === undefined ? undefined : perl;
  }

  /** The helper process's pid while it runs. */
  get helperPid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether operations go through the perl helper (false: Node's child_process fallback). */
  get helper(): boolean {
    return this.perl !== undefined;
  }

  async mount(r: MountRequest): Promise<void> {
    const what = `mount -t ${r.fstype} ${r.source} ${r.target}`;
    noNul(what, [r.source, r.target, r.fstype, r.data, r.cwd]);
    if (this.perl === undefined) return fallbackExec('mount', ['-t', r.fstype, r.source, '-o', r.data, r.target], r.cwd, what);
    await this.request(['mount', r.source, r.target, r.fstype, r.data, r.cwd], what);
  }

  async unmount(target: string, options: { detach?: boolean } = {}): Promise<void> {
    const what = `umount ${target}`;
    noNul(what, [target]);
    if (this.perl === undefined) return fallbackExec('umount', [...(options.detach === true ? ['-l'] : []), target], '/', what);
    await this.request(['umount', target, String(options.detach === true ? MNT_DETACH : 0)], what);
  }

  async spawnDetached(r: SpawnRequest): Promise<number> {
    if (r.argv.length === 0) throw new LauncherError('spawn: argv must hold at least argv[0]', 'EINVAL');
    const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
    const what = `start ${r.file}`;
    noNul(what, [r.file, r.cwd, ...env, ...r.argv]);
    if (this.perl === undefined) return fallbackSpawn(r, what);
    return Number(await this.request(['spawn', r.cwd, String(env.length), ...env, r.file, ...r.argv], what));
  }

  /** Ends the helper process (it also ends on its own when the agent's end of its stdin closes). */
  close(): void {
    this.closed = true;
    this.child?.stdin?.end();
    this.child = undefined;
  }

  private request(fields: string[], what: string): Promise<string> {
    if (this.closed) return Promise.reject(new LauncherError(`${what}: the launcher is closed`, 'ECANCELED'));
    const child = this.ensure();
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      if (this.pending.size === 0) (child.stdout as Socket).ref();
      this.pending.set(id, { resolve, reject, what });
      child.stdin!.write(`${id}\0${fields.length}\0${fields.map((f) => `${f}\0`).join('')}`);
    });
  }

  private ensure(): ChildProcess {
    if (this.child !== undefined) return this.child;
    const { mount, umount2 } = this.syscalls!;
    const child = spawn(this.perl!, ['-e', LAUNCHER_SCRIPT, String(mount), String(umount2)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    child.unref();
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.onData(text));
    const gone = (err?: Error): void => {
      if (this.child === child) this.child = undefined;
      this.buffered = '';
      const all = [...this.pending.values()];
      this.pending.clear();
      for (const p of all) p.reject(new LauncherError(`${p.what}: the launcher ended before answering${err ? ` (${err.message})` : ''}`, 'EPIPE', { cause: err }));
    };
    child.once('error', gone);
    child.once('exit', () => gone());
    child.stdin.on('error', () => undefined); // its end shows as 'exit'
    // The helper holds the event loop open only while it has requests in hand (see holdLoop).
    (child.stdin as Socket).unref();
    (child.stdout as Socket).unref();
    return child;
  }

  private onData(text: string): void {
    this.buffered += text;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const [idText = '', status = '', ...rest] = line.split(' ');
      const p = this.pending.get(Number(idText));
      if (p === undefined) continue;
      this.pending.delete(Number(idText));
      if (this.pending.size === 0) (this.child?.stdout as Socket | undefined)?.unref();
      if (status === 'ok') {
        p.resolve(rest[0] ?? '');
      } else {
        const errno = Number(rest[0]);
        const code = ERRNO_NAMES[errno] ?? `E${errno}`;
        p.reject(new LauncherError(`${p.what}: ${rest.slice(1).join(' ')} (${code})`, code));
      }
    }
  }
}

/** Arguments are C strings: a NUL would cut one short (Node refuses it too, with its own error). */
function noNul(what: string, fields: readonly string[]): void {
  if (fields.some((f) => f.includes('\0'))) throw new LauncherError(`${what}: an argument holds a NUL character`, 'EINVAL');
}

function fallbackExec(cmd: string, args: string[], cwd: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd }, (err, _out, stderr) => {
      if (err) reject(new LauncherError(`${what}: ${stderr.trim() || err.message}`, typeof err.code === 'string' ? err.code : 'EIO', { cause: err }));
      else resolve();
    });
  });
}

function fallbackSpawn(r: SpawnRequest, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(r.file, r.argv.slice(1), { argv0: r.argv[0]!, cwd: r.cwd, env: { ...r.env }, detached: true, stdio: 'ignore' });
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid!);
    });
    child.once('error', (err: NodeJS.ErrnoException) => reject(new LauncherError(`${what}: ${err.message}`, err.code ?? 'EIO', { cause: err })));
  });
}

let shared: Launcher | undefined;

/** The process-wide launcher the runc driver and the snapshotter use unless given their own. */
export function sharedLauncher(): Launcher {
  shared ??= new Launcher();
  return shared;
}
