/**
 * How a container's process is decided from its image config and its spec, as Docker decides it
 * (entrypoint/cmd overrides, env merge, working dir, user lookup). Pure: the caller reads the files.
 */
import { constants } from 'node:os';
import { CONTAINER_ID_PATTERN, type ContainerSpec } from './driver.js';
import { invalidSpec } from './errors.js';

/** Docker's PATH for images that set none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ProcessUser {
  readonly uid: number;
  readonly gid: number;
  /** Groups of /etc/group that list the user by name, besides its primary group. */
  readonly additionalGids: readonly number[];
  readonly home: string;
}

export interface ResolvedProcess {
  readonly args: readonly string[];
  /** NAME=value, image's order first, then the spec's new names, then defaults (PATH, HOSTNAME, HOME). */
  readonly env: readonly string[];
  readonly cwd: string;
  readonly user: ProcessUser;
  /** The UTS hostname; absent means the container shares the host's (host network, no hostname asked). */
  readonly hostname?: string;
}

/** The rootfs files user lookup needs; absent files mean only numeric users resolve. */
export interface UserDatabase { readonly passwd?: string; readonly group?: string }

/**
 * @example resolveProcess({ id: 'web', rootfs: '/r', network: { mode: 'none' }, image: { Cmd: ['httpd'] } }, {})
 *   // → { args: ['httpd'], env: ['PATH=…', 'HOSTNAME=web', 'HOME=/'], cwd: '/', user: { uid: 0, … }, hostname: 'web' }
 */
export function resolveProcess(spec: ContainerSpec, users: UserDatabase): ResolvedProcess {
  if (!CONTAINER_ID_PATTERN.test(spec.id)) {
    throw invalidSpec('id', `"${spec.id}" must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit`);
  }
  const image = spec.image ?? {};
  // Docker: an entryPoint override also drops the image's Cmd; a command override keeps the image's Entrypoint.
  const entrypoint = spec.entryPoint ?? image.Entrypoint ?? [];
  const cmd = spec.command ?? (spec.entryPoint === undefined ? image.Cmd ?? [] : []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw invalidSpec('command', 'no process to run: the image has no Entrypoint or Cmd and neither entryPoint nor command is given');
  }
  if (args[0] === '') throw invalidSpec(spec.entryPoint ? 'entryPoint' : 'command', 'the executable must not be empty');

  const cwd = spec.workingDirectory ?? (image.WorkingDir || '/');
  if (!cwd.startsWith('/')) throw invalidSpec('workingDirectory', `"${cwd}" must be an absolute path`);

  const hostname = containerHostname(spec);
  const user = resolveUser(spec.user ?? image.User ?? '', users);
  return { args, env: mergeEnv(spec, hostname, user.home), cwd, user, ...(hostname === undefined ? {} : { hostname }) };
}

/** The hostname a container gets: its own, else its id (at most 63 characters); none in host mode. */
export function containerHostname(spec: ContainerSpec): string | undefined {
  if (spec.hostname !== undefined) {
    if (spec.hostname === '' || spec.hostname.length > 63 || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(spec.hostname)) {
      throw invalidSpec('hostname', `"${spec.hostname}" must be 1-63 letters, digits, '.' or '-', not starting or ending with '.' or '-'`);
    }
    return spec.hostname;
  }
  if (spec.network.mode === 'host') return undefined;
  return spec.id.slice(0, 63).replace(/[^A-Za-z0-9.-]/g, '-').replace(/[.-]+$/, '') || 'container';
}

function mergeEnv(spec: ContainerSpec, hostname: string | undefined, home: string): string[] {
  const env = new Map<string, string>();
  for (const entry of spec.image?.Env ?? []) {
    const eq = entry.indexOf('=');
    // An image entry without '=' sets nothing (Docker keeps it, but the kernel's env has no such form).
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  for (const [i, { name, value }] of (spec.environment ?? []).entries()) {
    if (name === '' || name.includes('=') || name.includes('\0')) {
      throw invalidSpec(`environment[${i}].name`, `"${name}" must be non-empty and hold no '=' or NUL`);
    }
    if (value.includes('\0')) throw invalidSpec(`environment[${i}].value`, 'must hold no NUL');
    env.set(name, value);
  }
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  if (!env.has('HOSTNAME') && hostname !== undefined) env.set('HOSTNAME', hostname);
  if (!env.has('HOME')) env.set('HOME', home);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const isId = (s: string): boolean => /^\d+$/.test(s) && Number(s) <= 0xffffffff - 1;

/**
 * Docker's (libcontainer's) user rules: names need an entry, numbers need none; without a group the
 * user's passwd gid (or 0); supplementary groups are those of /etc/group naming the user.
 */
export function resolveUser(user: string, db: UserDatabase): ProcessUser {
  const passwd = parsePasswd(db.passwd ?? '');
  const groups = parseGroup(db.group ?? '');
  const [u = '', g, ...rest] = user.split(':');
  if (rest.length > 0) throw invalidSpec('user', `"${user}" must be "user" or "user:group"`);

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (u === '') {
    uid = 0;
    entry = passwd.find((p) => p.uid === 0);
  } else if (isId(u)) {
    uid = Number(u);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === u);
    if (!entry) throw invalidSpec('user', `no user "${u}" in the image's /etc/passwd`);
    uid = entry.uid;
  }

  let gid: number;
  if (g === undefined || g === '') {
    gid = entry?.gid ?? 0;
  } else if (isId(g)) {
    gid = Number(g);
  } else {
    const group = groups.find((gr) => gr.name === g);
    if (!group) throw invalidSpec('user', `no group "${g}" in the image's /etc/group`);
    gid = group.gid;
  }

  const name = entry?.name;
  const additionalGids = name === undefined
    ? []
    : [...new Set(groups.filter((gr) => gr.gid !== gid && gr.members.includes(name)).map((gr) => gr.gid))];
  return { uid, gid, additionalGids, home: entry?.home || '/' };
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#') || !isId(f[2] ?? '') || !isId(f[3] ?? '')) continue;
    out.push({ name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#') || !isId(f[2] ?? '')) continue;
    out.push({ name: f[0] ?? '', gid: Number(f[2]), members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/**
 * The signal stop() sends first: the image's StopSignal ("SIGQUIT", "QUIT" or "3"), else SIGTERM.
 *
 * @example stopSignal({ StopSignal: 'QUIT' }) // 'SIGQUIT'
 */
export function stopSignal(image: ContainerSpec['image']): NodeJS.Signals {
  const raw = image?.StopSignal?.trim().toUpperCase();
  if (!raw) return 'SIGTERM';
  const signals = constants.signals as Record<string, number>;
  if (/^\d+$/.test(raw)) {
    const found = Object.entries(signals).find(([, n]) => n === Number(raw));
    if (found) return found[0] as NodeJS.Signals;
  } else {
    const name = raw.startsWith('SIG') ? raw : `SIG${raw}`;
    if (name in signals) return name as NodeJS.Signals;
  }
  throw invalidSpec('image.StopSignal', `"${image?.StopSignal}" is not a signal`);
}
