/**
 * ociSpec, field by field: each ContainerSpec member lands where runc reads it, Docker's defaults
 * hold unless asked otherwise, and each rule the bundle enforces has its error.
 */
import { describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../driver.js';
import { isRuntimeError } from '../errors.js';
import { resolveProcess } from '../process.js';
import {
  ALL_CAPABILITIES, type BundleContext, capabilities, DEFAULT_CAPABILITIES, INIT_PATH, MASKED_PATHS, ociSpec, type OciSpec,
  READONLY_PATHS,
} from './bundle.js';
import { seccompProfile } from './seccomp.js';

const MIB = 1024 * 1024;
const HOST_CAPS = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'); // as on the test host

const base: ContainerSpec = { id: 'web-1', rootfs: '/snap/web-1/rootfs', network: { mode: 'none' }, image: { Cmd: ['httpd'] } };

function ctx(spec: ContainerSpec, over: Partial<BundleContext> = {}): BundleContext {
  return {
    process: resolveProcess(spec, {}),
    cgroupsPath: '/berth/web-1',
    etcFiles: { hosts: '/state/web-1/hosts', hostname: '/state/web-1/hostname', resolvConf: '/state/web-1/resolv.conf' },
    hostCapabilities: HOST_CAPS,
    initBinary: '/usr/bin/tini-static',
    arch: 'x64',
    ...over,
  };
}

function oci(over: Partial<ContainerSpec> = {}, ctxOver: Partial<BundleContext> = {}): OciSpec {
  const spec = { ...base, ...over };
  return ociSpec(spec, ctx(spec, ctxOver));
}

function invalid(over: Partial<ContainerSpec>, field: string, ctxOver: Partial<BundleContext> = {}): void {
  let err: unknown;
  try {
    oci(over, ctxOver);
  } catch (e) {
    err = e;
  }
  expect(isRuntimeError(err, 'InvalidSpec'), String(err)).toBe(true);
  expect((err as Error).message.startsWith(`${field}:`), (err as Error).message).toBe(true);
}

const mount = (o: OciSpec, dest: string) => o.mounts.filter((m) => m.destination === dest);

describe('ociSpec defaults', () => {
  const o = oci();

  it('runs the resolved process, without a terminal, with no_new_privileges', () => {
    expect(o.ociVersion).toBe('1.0.2');
    expect(o.process).toMatchObject({
      terminal: false, args: ['httpd'], cwd: '/', user: { uid: 0, gid: 0 }, noNewPrivileges: true,
    });
    expect(o.process.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=web-1', 'HOME=/']);
    expect(o.process.user.additionalGids).toBeUndefined();
    expect(o.process.rlimits).toBeUndefined();
  });

  it("keeps Docker's 14 default capabilities in the bounding, effective and permitted sets", () => {
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    expect([...o.process.capabilities.effective].sort()).toEqual([...DEFAULT_CAPABILITIES].sort());
    expect(o.process.capabilities.bounding).toEqual(o.process.capabilities.effective);
    expect(o.process.capabilities.permitted).toEqual(o.process.capabilities.effective);
    expect(Object.keys(o.process.capabilities).sort()).toEqual(['bounding', 'effective', 'permitted']); // no inheritable (CVE-2022-24769)
  });

  it('uses the rootfs writable, the hostname, and fresh pid, ipc, mount, uts and network namespaces', () => {
    expect(o.root).toEqual({ path: '/snap/web-1/rootfs', readonly: false });
    expect(o.hostname).toBe('web-1');
    expect(o.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }, { type: 'uts' }, { type: 'network' }]);
  });

  it("mounts Docker's filesystems, then the container's own /etc files", () => {
    expect(o.mounts).toEqual([
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${64 * MIB}`] },
      { destination: '/etc/hosts', type: 'bind', source: '/state/web-1/hosts', options: ['rbind', 'rprivate'] },
      { destination: '/etc/hostname', type: 'bind', source: '/state/web-1/hostname', options: ['rbind', 'rprivate'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: '/state/web-1/resolv.conf', options: ['rbind', 'rprivate'] },
    ]);
  });

  it("masks Docker's paths, filters syscalls, denies devices (runc adds its default allow-list) and sets no limits", () => {
    expect(o.linux.seccomp).toEqual(seccompProfile(o.process.capabilities.effective, 'x64'));
    expect(o.linux.maskedPaths).toEqual([...MASKED_PATHS]);
    expect(o.linux.readonlyPaths).toEqual([...READONLY_PATHS]);
    expect(o.linux.cgroupsPath).toBe('/berth/web-1');
    expect(o.linux.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
    expect(o.linux.sysctl).toBeUndefined();
    expect(o.annotations).toBeUndefined();
  });
});

describe('ociSpec fields', () => {
  it('privileged: every host capability, all devices, no masks, writable /sys, classic exec', () => {
    const o = oci({ privileged: true });
    expect(o.process.capabilities.effective).toEqual(HOST_CAPS);
    expect(o.process.noNewPrivileges).toBe(false);
    expect(o.linux.resources.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(o.linux.maskedPaths).toBeUndefined();
    expect(o.linux.readonlyPaths).toBeUndefined();
    expect(o.linux.seccomp).toBeUndefined();
    expect(mount(o, '/sys')[0]!.options).toContain('rw');
    expect(mount(o, '/sys/fs/cgroup')[0]!.options).toContain('rw');
  });

  it('readonlyRootFilesystem: a read-only root and /etc files', () => {
    const o = oci({ readonlyRootFilesystem: true });
    expect(o.root.readonly).toBe(true);
    for (const f of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) expect(mount(o, f)[0]!.options).toEqual(['rbind', 'rprivate', 'ro']);
  });

  it('initProcessEnabled: tini bound read-only at /sbin/docker-init, in front of the args', () => {
    const o = oci({ linuxParameters: { initProcessEnabled: true } });
    expect(o.process.args).toEqual([INIT_PATH, '--', 'httpd']);
    expect(mount(o, INIT_PATH)).toEqual([{ destination: INIT_PATH, type: 'bind', source: '/usr/bin/tini-static', options: ['rbind', 'rprivate', 'ro'] }]);
    invalid({ linuxParameters: { initProcessEnabled: true } }, 'linuxParameters.initProcessEnabled', { initBinary: undefined });
  });

  it('sharedMemorySize: the size of /dev/shm in MiB', () => {
    expect(mount(oci({ linuxParameters: { sharedMemorySize: 256 } }), '/dev/shm')[0]!.options).toContain(`size=${256 * MIB}`);
    invalid({ linuxParameters: { sharedMemorySize: 0 } }, 'linuxParameters.sharedMemorySize');
    invalid({ linuxParameters: { sharedMemorySize: 1.5 } }, 'linuxParameters.sharedMemorySize');
  });

  it("tmpfs: Docker's safe options, the caller's after them (later wins), and the size", () => {
    const o = oci({ linuxParameters: { tmpfs: [{ containerPath: '/run', size: 8, mountOptions: ['exec', 'mode=1777', 'defaults'] }] } });
    expect(mount(o, '/run')).toEqual([
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'exec', 'mode=1777', `size=${8 * MIB}`] },
    ]);
    invalid({ linuxParameters: { tmpfs: [{ containerPath: 'run', size: 8 }] } }, 'linuxParameters.tmpfs[0].containerPath');
    invalid({ linuxParameters: { tmpfs: [{ containerPath: '/run', size: 0 }] } }, 'linuxParameters.tmpfs[0].size');
    invalid({ linuxParameters: { tmpfs: [{ containerPath: '/run', size: 1, mountOptions: ['bogus'] }] } }, 'linuxParameters.tmpfs[0].mountOptions[0]');
    invalid({ linuxParameters: { tmpfs: [{ containerPath: '/proc', size: 1 }] } }, 'linuxParameters.tmpfs[0].containerPath');
  });

  it('mounts: rbind, rprivate, ro when asked, parents before children', () => {
    const o = oci({
      mounts: [
        { sourcePath: '/host/logs', containerPath: '/data/logs/' },
        { sourcePath: '/host/data', containerPath: '/data', readOnly: true },
      ],
    });
    const dests = o.mounts.map((m) => m.destination);
    expect(dests.indexOf('/data')).toBeLessThan(dests.indexOf('/data/logs'));
    expect(mount(o, '/data')).toEqual([{ destination: '/data', type: 'bind', source: '/host/data', options: ['rbind', 'rprivate', 'ro'] }]);
    expect(mount(o, '/data/logs')[0]!.options).toEqual(['rbind', 'rprivate']);
    invalid({ mounts: [{ sourcePath: 'rel', containerPath: '/x' }] }, 'mounts[0].sourcePath');
    invalid({ mounts: [{ sourcePath: '/a', containerPath: 'x' }] }, 'mounts[0].containerPath');
    invalid({ mounts: [{ sourcePath: '/a', containerPath: '/x/../etc' }] }, 'mounts[0].containerPath');
    invalid({ mounts: [{ sourcePath: '/a', containerPath: '/' }] }, 'mounts[0].containerPath');
    invalid({ mounts: [{ sourcePath: '/a', containerPath: '/x' }, { sourcePath: '/b', containerPath: '/x/' }] }, 'mounts[1].containerPath');
    invalid({ mounts: [{ sourcePath: '/a', containerPath: '/x' }], linuxParameters: { tmpfs: [{ containerPath: '/x', size: 1 }] } }, 'mounts[0].containerPath');
  });

  it("a mount over one of the /etc files replaces the container's own", () => {
    const o = oci({ mounts: [{ sourcePath: '/host/hosts', containerPath: '/etc/hosts' }] });
    expect(mount(o, '/etc/hosts')).toEqual([{ destination: '/etc/hosts', type: 'bind', source: '/host/hosts', options: ['rbind', 'rprivate'] }]);
    expect(mount(o, '/etc/hostname')).toHaveLength(1);
  });

  it('ulimits: one RLIMIT_ each', () => {
    const o = oci({ ulimits: [{ name: 'nofile', softLimit: 1024, hardLimit: 4096 }, { name: 'core', softLimit: 0, hardLimit: 0 }] });
    expect(o.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }]);
    invalid({ ulimits: [{ name: 'files', softLimit: 1, hardLimit: 1 }] }, 'ulimits[0].name');
    invalid({ ulimits: [{ name: 'nofile', softLimit: 1, hardLimit: 1 }, { name: 'nofile', softLimit: 1, hardLimit: 1 }] }, 'ulimits[1].name');
    invalid({ ulimits: [{ name: 'nofile', softLimit: 2, hardLimit: 1 }] }, 'ulimits[0].softLimit');
    invalid({ ulimits: [{ name: 'nofile', softLimit: -1, hardLimit: 1 }] }, 'ulimits[0].softLimit');
  });

  it('dockerLabels over the image Labels become annotations', () => {
    expect(oci({ image: { Cmd: ['x'], Labels: { a: '1', b: '1' } }, dockerLabels: { b: '2' } }).annotations).toEqual({ a: '1', b: '2' });
  });

  it('network host: no network namespace, and the host UTS namespace unless a hostname is given', () => {
    const o = oci({ network: { mode: 'host' } });
    expect(o.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }]);
    expect(o.hostname).toBeUndefined();
    const named = oci({ network: { mode: 'host' }, hostname: 'edge' });
    expect(named.linux.namespaces).toContainEqual({ type: 'uts' });
    expect(named.hostname).toBe('edge');
  });

  it('network netns: joins the namespace at its path', () => {
    expect(oci({ network: { mode: 'netns', path: '/run/netns/task-1' } }).linux.namespaces).toContainEqual({ type: 'network', path: '/run/netns/task-1' });
    invalid({ network: { mode: 'netns', path: 'task-1' } }, 'network.path');
  });

  it('cpu: shares from CPU units, at least 2', () => {
    expect(oci({ cpu: 1024 }).linux.resources.cpu).toEqual({ shares: 1024 });
    expect(oci({ cpu: 256 }).linux.resources.cpu).toEqual({ shares: 256 });
    expect(oci({ cpu: 1 }).linux.resources.cpu).toEqual({ shares: 2 });
    expect(oci({ cpu: 0 }).linux.resources.cpu).toEqual({ shares: 2 });
    invalid({ cpu: -1 }, 'cpu');
    invalid({ cpu: 0.5 }, 'cpu');
  });

  it('memory and memoryReservation: hard and soft limits in bytes; maxSwap and swappiness', () => {
    expect(oci({ memory: 512, memoryReservation: 128 }).linux.resources.memory).toEqual({ limit: 512 * MIB, reservation: 128 * MIB });
    expect(oci({ memoryReservation: 128 }).linux.resources.memory).toEqual({ reservation: 128 * MIB });
    expect(oci({ memory: 512, linuxParameters: { maxSwap: 0, swappiness: 10 } }).linux.resources.memory)
      .toEqual({ limit: 512 * MIB, swap: 512 * MIB, swappiness: 10 });
    expect(oci({ memory: 512, linuxParameters: { maxSwap: 256 } }).linux.resources.memory).toEqual({ limit: 512 * MIB, swap: 768 * MIB });
    invalid({ memory: 0 }, 'memory');
    invalid({ memoryReservation: -4 }, 'memoryReservation');
    invalid({ memory: 128, memoryReservation: 256 }, 'memoryReservation');
    invalid({ memory: 128, linuxParameters: { maxSwap: -1 } }, 'linuxParameters.maxSwap');
    invalid({ linuxParameters: { swappiness: 101 } }, 'linuxParameters.swappiness');
  });

  it('pidsLimit: the pids cgroup limit', () => {
    expect(oci({ pidsLimit: 100 }).linux.resources.pids).toEqual({ limit: 100 });
    invalid({ pidsLimit: 0 }, 'pidsLimit');
  });

  it('systemControls: namespaced sysctls only, and no net.* on the host network', () => {
    expect(oci({ systemControls: [{ namespace: 'net.ipv4.ip_unprivileged_port_start', value: '0' }, { namespace: 'kernel.shmmax', value: '1' }] }).linux.sysctl)
      .toEqual({ 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shmmax': '1' });
    invalid({ systemControls: [{ namespace: 'kernel.panic', value: '1' }] }, 'systemControls[0].namespace');
    invalid({ network: { mode: 'host' }, systemControls: [{ namespace: 'net.core.somaxconn', value: '1' }] }, 'systemControls[0].namespace');
  });
});

describe('capabilities', () => {
  const caps = (c: { add?: string[]; drop?: string[] }, host: readonly string[] = HOST_CAPS): string[] =>
    capabilities({ ...base, linuxParameters: { capabilities: c } }, host);

  it('adds and drops from the defaults, in either spelling', () => {
    const got = caps({ add: ['NET_ADMIN', 'cap_sys_ptrace'], drop: ['CHOWN', 'NET_RAW'] });
    expect(got).toContain('CAP_NET_ADMIN');
    expect(got).toContain('CAP_SYS_PTRACE');
    expect(got).not.toContain('CAP_CHOWN');
    expect(got).not.toContain('CAP_NET_RAW');
    expect(got).toHaveLength(14);
  });

  it("follows Docker: an add beats a drop; ALL in add keeps all but the drops; ALL in drop keeps only the adds", () => {
    expect(caps({ add: ['CHOWN'], drop: ['CHOWN'] })).toContain('CAP_CHOWN');
    expect(caps({ add: ['ALL'], drop: ['SYS_ADMIN'] })).toEqual(HOST_CAPS.filter((c) => c !== 'CAP_SYS_ADMIN'));
    expect(caps({ drop: ['ALL'], add: ['KILL'] })).toEqual(['CAP_KILL']);
    expect(caps({ drop: ['all'] })).toEqual([]);
  });

  it('gives only what the host has, and refuses an explicit add it lacks', () => {
    expect(caps({}, ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'])).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    expect(capabilities({ ...base, privileged: true }, ['CAP_KILL'])).toEqual(['CAP_KILL']);
    invalid({ linuxParameters: { capabilities: { add: ['SYS_RESOURCE'] } } }, 'linuxParameters.capabilities.add[0]');
    invalid({ linuxParameters: { capabilities: { drop: ['NOT_A_CAP'] } } }, 'linuxParameters.capabilities.drop[0]');
  });
});
