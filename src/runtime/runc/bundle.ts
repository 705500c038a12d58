/**
 * The OCI runtime config (config.json) runc runs a container from, decided from a ContainerSpec with
 * Docker's defaults (capabilities, mounts, masked paths). Pure: every host fact comes in BundleContext.
 */
import type { ContainerSpec } from '../driver.js';
import { invalidSpec } from '../errors.js';
import type { ResolvedProcess } from '../process.js';
import { type OciSeccomp, seccompProfile } from './seccomp.js';

/** Every capability Linux defines up to 6.x (CAP_CHECKPOINT_RESTORE is 40), in number order. */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** Docker's default set (moby oci/caps/defaults.go): what a container keeps unless asked otherwise. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
] as const;

/** Docker's masked paths: kernel information and knobs a container has no business reading. */
export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
] as const;

/** Docker's read-only paths under /proc. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] as const;

/** Where initProcessEnabled's init binary appears inside the container (Docker's path). */
export const INIT_PATH = '/sbin/docker-init';

const MIB = 1024 * 1024;
const DEFAULT_SHM_MIB = 64;

/** The ECS ulimit names, each an RLIMIT_ of the same name. */
const ULIMIT_NAMES = new Set([
  'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime',
  'sigpending', 'stack',
]);

/** mount(8) options ECS accepts for tmpfs (a `name=value` form is checked by its name). */
const TMPFS_OPTIONS = new Set([
  'defaults', 'ro', 'rw', 'suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'sync', 'async', 'dirsync', 'remount',
  'mand', 'nomand', 'atime', 'noatime', 'diratime', 'nodiratime', 'bind', 'rbind', 'unbindable', 'runbindable',
  'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'relatime', 'norelatime', 'strictatime',
  'nostrictatime', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol', 'size',
]);

/** Sysctls that belong to a container's own namespaces (Docker's list); others would change the host. */
const NAMESPACED_SYSCTLS = /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\..+|net\..+)$/;

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciCapabilities { bounding: string[]; effective: string[]; permitted: string[] }
export interface OciRlimit { type: string; hard: number; soft: number }
export interface OciNamespace { type: string; path?: string }

/** The parts of the OCI runtime spec (1.0.2) Berth writes. */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: OciCapabilities;
    rlimits?: OciRlimit[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: OciNamespace[];
    cgroupsPath: string;
    resources: {
      devices: { allow: boolean; access: string }[];
      memory?: { limit?: number; reservation?: number; swap?: number; swappiness?: number };
      cpu?: { shares: number };
      pids?: { limit: number };
    };
    sysctl?: Record<string, string>;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    seccomp?: OciSeccomp;
  };
}

/** Host facts and per-container paths the bundle refers to; the driver gathers them. */
export interface BundleContext {
  readonly process: ResolvedProcess;
  /** Absolute cgroup path, the same in every v1 hierarchy (e.g. /berth/web-1). */
  readonly cgroupsPath: string;
  /** Host files bound over the container's /etc/hosts, /etc/hostname and /etc/resolv.conf. */
  readonly etcFiles: { readonly hosts: string; readonly hostname: string; readonly resolvConf: string };
  /** Capabilities this host can give ("CAP_…", its bounding set): privileged gets all of them. */
  readonly hostCapabilities: readonly string[];
  /** A static init on the host (tini) for initProcessEnabled; absent when the host has none. */
  readonly initBinary?: string;
  /** The host's architecture as Node names it (process.arch): the seccomp filter covers its ABIs. */
  readonly arch: string;
}

/**
 * @example ociSpec(spec, ctx).process.capabilities.effective // Docker's 14 defaults unless privileged
 */
export function ociSpec(spec: ContainerSpec, ctx: BundleContext): OciSpec {
  const privileged = spec.privileged === true;
  const lp = spec.linuxParameters ?? {};
  const caps = capabilities(spec, ctx.hostCapabilities);

  let args = [...ctx.process.args];
  const extraMounts: OciMount[] = [];
  if (lp.initProcessEnabled) {
    if (!ctx.initBinary) {
      throw invalidSpec('linuxParameters.initProcessEnabled', 'this host has no init binary (install the tini package)');
    }
    // tini as PID 1 forwards signals to the process and reaps orphans, as `docker run --init` does.
    args = [INIT_PATH, '--', ...args];
    extraMounts.push(bind(ctx.initBinary, INIT_PATH, true));
  }

  const oci: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: {
        uid: ctx.process.user.uid,
        gid: ctx.process.user.gid,
        ...(ctx.process.user.additionalGids.length ? { additionalGids: [...ctx.process.user.additionalGids] } : {}),
      },
      args,
      env: [...ctx.process.env],
      cwd: ctx.process.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      // Safe default: setuid binaries and file capabilities cannot raise privileges. A privileged
      // container is asked to have every power, so it keeps the classic exec semantics.
      noNewPrivileges: !privileged,
    },
    root: { path: spec.rootfs, readonly: spec.readonlyRootFilesystem === true },
    ...(ctx.process.hostname === undefined ? {} : { hostname: ctx.process.hostname }),
    mounts: [...defaultMounts(spec), ...extraMounts, ...userMounts(spec, ctx)],
    linux: {
      namespaces: namespaces(spec, ctx.process.hostname !== undefined),
      cgroupsPath: ctx.cgroupsPath,
      resources: resources(spec),
      ...(privileged
        ? {}
        : { maskedPaths: [...MASKED_PATHS], readonlyPaths: [...READONLY_PATHS], seccomp: seccompProfile(caps, ctx.arch) }),
    },
  };
  const rlimits = ulimits(spec);
  if (rlimits.length) oci.process.rlimits = rlimits;
  const sysctl = sysctls(spec);
  if (Object.keys(sysctl).length) oci.linux.sysctl = sysctl;
  const annotations = { ...(spec.image?.Labels ?? {}), ...(spec.dockerLabels ?? {}) };
  if (Object.keys(annotations).length) oci.annotations = annotations;
  return oci;
}

function normalizeCap(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(ALL_CAPABILITIES as readonly string[]).includes(full)) throw invalidSpec(field, `"${name}" is not a Linux capability`);
  return full;
}

/**
 * Docker's rule (moby TweakCapabilities): privileged gets all; "ALL" in add gives all but the drops;
 * "ALL" in drop gives only the adds; otherwise the defaults less the drops plus the adds.
 * Everything is cut to what the host can give; an explicit add the host cannot give is an error.
 */
export function capabilities(spec: ContainerSpec, hostCapabilities: readonly string[]): string[] {
  const host = new Set(hostCapabilities);
  const ordered = (set: Set<string>): string[] => ALL_CAPABILITIES.filter((c) => set.has(c) && host.has(c));
  if (spec.privileged) return ordered(new Set(ALL_CAPABILITIES));
  const c = spec.linuxParameters?.capabilities ?? {};
  const add = (c.add ?? []).map((n, i) => normalizeCap(n, `linuxParameters.capabilities.add[${i}]`));
  const drop = (c.drop ?? []).map((n, i) => normalizeCap(n, `linuxParameters.capabilities.drop[${i}]`));
  for (const [i, cap] of add.entries()) {
    if (cap !== 'ALL' && !host.has(cap)) {
      throw invalidSpec(`linuxParameters.capabilities.add[${i}]`, `this host cannot grant ${cap} (not in its bounding set)`);
    }
  }
  let set: Set<string>;
  if (add.includes('ALL')) set = new Set(ALL_CAPABILITIES.filter((x) => !drop.includes(x)));
  else if (drop.includes('ALL')) set = new Set(add);
  else set = new Set([...DEFAULT_CAPABILITIES.filter((x) => !drop.includes(x)), ...add]);
  return ordered(set);
}

function namespaces(spec: ContainerSpec, ownHostname: boolean): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }];
  if (ownHostname) ns.push({ type: 'uts' });
  switch (spec.network.mode) {
    case 'host':
      break;
    case 'none':
      // A fresh namespace; runc brings its loopback up.
      ns.push({ type: 'network' });
      break;
    case 'netns':
      if (!spec.network.path.startsWith('/')) throw invalidSpec('network.path', `"${spec.network.path}" must be an absolute path`);
      ns.push({ type: 'network', path: spec.network.path });
      break;
  }
  return ns;
}

/** Docker's default filesystems; /dev/shm sized by sharedMemorySize; /sys writable only when privileged. */
function defaultMounts(spec: ContainerSpec): OciMount[] {
  const shm = spec.linuxParameters?.sharedMemorySize ?? DEFAULT_SHM_MIB;
  if (!Number.isInteger(shm) || shm <= 0) throw invalidSpec('linuxParameters.sharedMemorySize', 'must be a positive whole number of MiB');
  const sysMode = spec.privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts', type: 'devpts', source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', sysMode] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', sysMode] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm', type: 'tmpfs', source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm * MIB}`],
    },
  ];
}

function bind(source: string, destination: string, readOnly: boolean): OciMount {
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate', ...(readOnly ? ['ro'] : [])] };
}

const RESERVED_DESTINATIONS = new Set(['/', '/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue']);

function checkPath(p: string, field: string): string {
  if (!p.startsWith('/')) throw invalidSpec(field, `"${p}" must be an absolute path`);
  if (p.split('/').includes('..')) throw invalidSpec(field, `"${p}" must not contain '..'`);
  const clean = p.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  if (RESERVED_DESTINATIONS.has(clean) && field.includes('containerPath')) throw invalidSpec(field, `"${p}" is reserved for the runtime`);
  return clean;
}

/**
 * Tmpfs mounts, bind mounts and the /etc files, sorted by depth so a parent is mounted before what
 * lies inside it (Docker's order); a path given twice is an error, as in Docker.
 */
function userMounts(spec: ContainerSpec, ctx: BundleContext): OciMount[] {
  const mounts: OciMount[] = [];
  const seen = new Set<string>();
  const claim = (dest: string, field: string): void => {
    if (seen.has(dest)) throw invalidSpec(field, `"${dest}" is mounted twice`);
    seen.add(dest);
  };
  for (const [i, t] of (spec.linuxParameters?.tmpfs ?? []).entries()) {
    const field = `linuxParameters.tmpfs[${i}]`;
    const dest = checkPath(t.containerPath, `${field}.containerPath`);
    claim(dest, `${field}.containerPath`);
    if (!Number.isInteger(t.size) || t.size <= 0) throw invalidSpec(`${field}.size`, 'must be a positive whole number of MiB');
    for (const [j, o] of (t.mountOptions ?? []).entries()) {
      if (!TMPFS_OPTIONS.has(o.split('=')[0] ?? '')) throw invalidSpec(`${field}.mountOptions[${j}]`, `"${o}" is not a tmpfs mount option`);
    }
    // Docker's --tmpfs defaults; the caller's options come after, and a later option wins in mount(8).
    const options = ['nosuid', 'nodev', 'noexec', ...(t.mountOptions ?? []).filter((o) => o !== 'defaults'), `size=${t.size * MIB}`];
    mounts.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options });
  }
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    const field = `mounts[${i}]`;
    checkPath(m.sourcePath, `${field}.sourcePath`);
    const dest = checkPath(m.containerPath, `${field}.containerPath`);
    claim(dest, `${field}.containerPath`);
    mounts.push(bind(m.sourcePath, dest, m.readOnly === true));
  }
  // The /etc files: one per container, so a container's edits never reach another; a mount point
  // the caller gave for one of them wins (as a bind over /etc/hosts does in Docker).
  const etcRo = spec.readonlyRootFilesystem === true;
  const etc: [string, string][] = [
    ['/etc/hosts', ctx.etcFiles.hosts],
    ['/etc/hostname', ctx.etcFiles.hostname],
    ['/etc/resolv.conf', ctx.etcFiles.resolvConf],
  ];
  for (const [dest, source] of etc) if (!seen.has(dest)) mounts.push(bind(source, dest, etcRo));
  const depth = (m: OciMount): number => m.destination.split('/').length;
  return mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i).map(({ m }) => m);
}

function resources(spec: ContainerSpec): OciSpec['linux']['resources'] {
  const r: OciSpec['linux']['resources'] = {
    // Deny all, then runc adds its default allow-list (null, zero, full, tty, random, urandom, pts, ptmx).
    devices: [spec.privileged ? { allow: true, access: 'rwm' } : { allow: false, access: 'rwm' }],
  };
  const mib = (v: number | undefined, field: string): number | undefined => {
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || v <= 0) throw invalidSpec(field, 'must be a positive whole number of MiB');
    return v * MIB;
  };
  const limit = mib(spec.memory, 'memory');
  const reservation = mib(spec.memoryReservation, 'memoryReservation');
  if (limit !== undefined && reservation !== undefined && reservation > limit) {
    throw invalidSpec('memoryReservation', 'must not exceed memory');
  }
  const lp = spec.linuxParameters ?? {};
  const memory: NonNullable<OciSpec['linux']['resources']['memory']> = {};
  if (limit !== undefined) memory.limit = limit;
  if (reservation !== undefined) memory.reservation = reservation;
  if (lp.maxSwap !== undefined) {
    if (!Number.isInteger(lp.maxSwap) || lp.maxSwap < 0) throw invalidSpec('linuxParameters.maxSwap', 'must be a whole number of MiB, 0 or more');
    // The cgroup counts memory+swap together: the limit plus the swap allowed on top of it.
    if (limit !== undefined) memory.swap = limit + lp.maxSwap * MIB;
  }
  if (lp.swappiness !== undefined) {
    if (!Number.isInteger(lp.swappiness) || lp.swappiness < 0 || lp.swappiness > 100) {
      throw invalidSpec('linuxParameters.swappiness', 'must be a whole number from 0 to 100');
    }
    memory.swappiness = lp.swappiness;
  }
  if (Object.keys(memory).length) r.memory = memory;
  if (spec.cpu !== undefined) {
    if (!Number.isInteger(spec.cpu) || spec.cpu < 0) throw invalidSpec('cpu', 'must be a whole number of CPU units, 0 or more');
    // As the ECS agent: 0 and 1 become 2 (Linux refuses 1 share, and Docker would read 0 as 1024).
    r.cpu = { shares: Math.max(2, spec.cpu) };
  }
  if (spec.pidsLimit !== undefined) {
    if (!Number.isInteger(spec.pidsLimit) || spec.pidsLimit <= 0) throw invalidSpec('pidsLimit', 'must be a positive whole number');
    r.pids = { limit: spec.pidsLimit };
  }
  return r;
}

function ulimits(spec: ContainerSpec): OciRlimit[] {
  const seen = new Set<string>();
  return (spec.ulimits ?? []).map((u, i) => {
    const field = `ulimits[${i}]`;
    if (!ULIMIT_NAMES.has(u.name)) throw invalidSpec(`${field}.name`, `"${u.name}" is not a ulimit name`);
    if (seen.has(u.name)) throw invalidSpec(`${field}.name`, `"${u.name}" is given twice`);
    seen.add(u.name);
    for (const k of ['softLimit', 'hardLimit'] as const) {
      if (!Number.isInteger(u[k]) || u[k] < 0) throw invalidSpec(`${field}.${k}`, 'must be a whole number, 0 or more');
    }
    if (u.softLimit > u.hardLimit) throw invalidSpec(`${field}.softLimit`, 'must not exceed hardLimit');
    return { type: `RLIMIT_${u.name.toUpperCase()}`, hard: u.hardLimit, soft: u.softLimit };
  });
}

function sysctls(spec: ContainerSpec): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, s] of (spec.systemControls ?? []).entries()) {
    const field = `systemControls[${i}].namespace`;
    if (!NAMESPACED_SYSCTLS.test(s.namespace)) throw invalidSpec(field, `"${s.namespace}" is not a namespaced sysctl`);
    if (s.namespace.startsWith('net.') && spec.network.mode === 'host') {
      throw invalidSpec(field, `"${s.namespace}" would change the host's network settings (host network mode)`);
    }
    out[s.namespace] = s.value;
  }
  return out;
}

