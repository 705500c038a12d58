/**
 * The body of the Engine API's container create, decided from a ContainerSpec. Pure. The spec is
 * first decided exactly as the runc driver decides it (runc/bundle.ts's ociSpec): the same refusals
 * with the same field names, and the same capability set, limits, ulimits, sysctls, tmpfs and bind
 * mounts, which are then spelled as Docker's HostConfig spells them.
 */
import type { ContainerSpec } from '../driver.js';
import { invalidSpec } from '../errors.js';
import type { ResolvedProcess } from '../process.js';
import { ociSpec } from '../runc/bundle.js';
import { etcFiles } from '../runc/etc-files.js';

/** Labels the driver keeps on its containers, apart from the spec's own (left out of `labels`). */
export const LABEL_PREFIX = 'io.berth.driver.';
export const LABELS = {
  /** Which driver state the container belongs to (a hash of the state dir). */
  state: `${LABEL_PREFIX}state`,
  /** The spec's id. */
  id: `${LABEL_PREFIX}id`,
  /** The image's stop signal, decided at create. */
  stopSignal: `${LABEL_PREFIX}stop-signal`,
  /** The spec's network mode: stats of a host-mode container name no interfaces. */
  network: `${LABEL_PREFIX}network`,
} as const;

export interface DockerContainerContext {
  readonly process: ResolvedProcess;
  /** The image the container's rootfs was imported as. */
  readonly image: string;
  /** Capabilities this host can give ("CAP_…"). */
  readonly hostCapabilities: readonly string[];
  /**
   * False when the host's bounding set lacks a capability its kernel knows: Docker 20.10's
   * privileged mode asks for all of them and runc then fails, so privileged is spelled out instead.
   */
  readonly fullBoundingSet: boolean;
  readonly stopSignal: NodeJS.Signals;
  /** Driver labels (LABELS) to add. */
  readonly driverLabels: Readonly<Record<string, string>>;
}

/** The members of the create body Berth sets (Engine API ContainerConfig + HostConfig). */
export interface DockerCreateBody {
  Image: string;
  Entrypoint: string[];
  Cmd: string[] | null;
  Env: string[];
  WorkingDir: string;
  User: string;
  Hostname?: string;
  Labels: Record<string, string>;
  StopSignal: string;
  Tty: false;
  OpenStdin: false;
  AttachStdin: false;
  AttachStdout: false;
  AttachStderr: false;
  HostConfig: {
    NetworkMode: 'none' | 'host';
    ReadonlyRootfs: boolean;
    Privileged: boolean;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    SecurityOpt: string[];
    DeviceCgroupRules?: string[];
    MaskedPaths?: string[];
    ReadonlyPaths?: string[];
    GroupAdd: string[];
    Init: boolean;
    ShmSize: number;
    Tmpfs: Record<string, string>;
    Ulimits: { Name: string; Soft: number; Hard: number }[];
    ExtraHosts: string[];
    Dns: string[];
    DnsSearch: string[];
    Mounts: { Type: 'bind'; Source: string; Target: string; ReadOnly: boolean; BindOptions: { Propagation: 'rprivate' } }[];
    Sysctls: Record<string, string>;
    CpuShares?: number;
    Memory?: number;
    MemoryReservation?: number;
    MemorySwap?: number;
    MemorySwappiness?: number;
    PidsLimit?: number;
    LogConfig: { Type: 'json-file'; Config: Record<string, string> };
    RestartPolicy: { Name: 'no' };
  };
}

const MIB = 1024 * 1024;
const DEFAULT_SHM_MIB = 64;

/**
 * @example dockerCreateBody({ id: 'web', rootfs, network: { mode: 'none' }, memory: 64 }, ctx).HostConfig.Memory // 67108864
 */
export function dockerCreateBody(spec: ContainerSpec, ctx: DockerContainerContext): DockerCreateBody {
  if (spec.network.mode === 'netns') {
    // The Engine API joins only its own networks or another container's namespace, never a path.
    throw invalidSpec('network.mode', 'the docker driver runs containers in network mode none or host only: Docker cannot join a namespace by path (use the runc driver for awsvpc and bridge)');
  }
  // The same decisions (and refusals) as runc's; the paths given here are placeholders never used.
  etcFiles(spec, ctx.process.hostname, { hosts: '', resolvConf: '', hostname: 'host' });
  const oci = ociSpec(spec, {
    process: ctx.process,
    cgroupsPath: '/unused',
    etcFiles: { hosts: '/unused', hostname: '/unused', resolvConf: '/unused' },
    hostCapabilities: ctx.hostCapabilities,
    initBinary: '/sbin/docker-init',
    arch: process.arch,
  });

  const lp = spec.linuxParameters ?? {};
  const privileged = spec.privileged === true;
  const dockerPrivileged = privileged && ctx.fullBoundingSet;
  const tmpfs: Record<string, string> = {};
  for (const t of lp.tmpfs ?? []) {
    // Docker adds its own defaults (noexec, nosuid, nodev) before these, as runc's bundle does.
    tmpfs[t.containerPath] = [...(t.mountOptions ?? []).filter((o) => o !== 'defaults'), `size=${t.size * MIB}`].join(',');
  }
  const r = oci.linux.resources;
  const hostConfig: DockerCreateBody['HostConfig'] = {
    NetworkMode: spec.network.mode,
    ReadonlyRootfs: spec.readonlyRootFilesystem === true,
    Privileged: dockerPrivileged,
    // The exact set runc's driver gives (Docker's defaults, adds, drops, cut to the host's).
    CapAdd: dockerPrivileged ? null : oci.process.capabilities.effective.map((c) => c.replace(/^CAP_/, '')),
    CapDrop: dockerPrivileged ? null : ['ALL'],
    // Privileged without Docker's flag: no filter, no masked paths, every device.
    SecurityOpt: dockerPrivileged ? [] : privileged ? ['seccomp=unconfined', 'apparmor=unconfined'] : ['no-new-privileges'],
    ...(privileged && !dockerPrivileged ? { DeviceCgroupRules: ['a *:* rwm'], MaskedPaths: [], ReadonlyPaths: [] } : {}),
    Init: lp.initProcessEnabled === true,
    ShmSize: (lp.sharedMemorySize ?? DEFAULT_SHM_MIB) * MIB,
    Tmpfs: tmpfs,
    Ulimits: (oci.process.rlimits ?? []).map((l) => ({ Name: l.type.replace(/^RLIMIT_/, '').toLowerCase(), Soft: l.soft, Hard: l.hard })),
    // Docker looks supplementary groups up only for a user given by name: give them as resolved.
    GroupAdd: ctx.process.user.additionalGids.map(String),
    ExtraHosts: (spec.extraHosts ?? []).map((h) => `${h.hostname}:${h.ipAddress}`),
    Dns: [...(spec.dnsServers ?? [])],
    DnsSearch: [...(spec.dnsSearchDomains ?? [])],
    Mounts: (spec.mounts ?? []).map((m) => ({
      Type: 'bind', Source: m.sourcePath, Target: m.containerPath, ReadOnly: m.readOnly === true, BindOptions: { Propagation: 'rprivate' },
    })),
    Sysctls: { ...(oci.linux.sysctl ?? {}) },
    ...(r.cpu ? { CpuShares: r.cpu.shares } : {}),
    ...(r.memory?.limit !== undefined ? { Memory: r.memory.limit } : {}),
    ...(r.memory?.reservation !== undefined ? { MemoryReservation: r.memory.reservation } : {}),
    // Without maxSwap the host's default, as runc's driver leaves it (-1; Docker's own is twice the limit).
    ...(r.memory?.swap !== undefined ? { MemorySwap: r.memory.swap } : r.memory?.limit !== undefined ? { MemorySwap: -1 } : {}),
    ...(r.memory?.swappiness !== undefined ? { MemorySwappiness: r.memory.swappiness } : {}),
    ...(r.pids ? { PidsLimit: r.pids.limit } : {}),
    // The driver copies this log into its own files (see logs.ts); no rotation, so nothing is lost.
    LogConfig: { Type: 'json-file', Config: {} },
    RestartPolicy: { Name: 'no' },
  };
  const { user } = ctx.process;
  return {
    Image: ctx.image,
    // The process as decided (entrypoint and command already merged): Docker adds nothing to it.
    Entrypoint: [...ctx.process.args],
    Cmd: null,
    Env: [...ctx.process.env],
    WorkingDir: ctx.process.cwd,
    // Numbers, resolved from the rootfs as runc's driver does.
    User: `${user.uid}:${user.gid}`,
    ...(ctx.process.hostname === undefined ? {} : { Hostname: ctx.process.hostname }),
    Labels: { ...(oci.annotations ?? {}), ...ctx.driverLabels },
    StopSignal: ctx.stopSignal,
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    HostConfig: hostConfig,
  };
}

/** The spec's own labels out of a container's labels (the driver's are left out). */
export function specLabels(labels: Readonly<Record<string, string>> | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => !k.startsWith(LABEL_PREFIX)));
}
