/**
 * The docker driver against the shared Driver suite, on a private Debian dockerd this file starts
 * (its own socket and data root, no bridge, no iptables) and stops by PID; plus what only this
 * driver shows: the create body it sends, and its containers kept apart from other drivers'.
 */
import { mkdtempSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../driver.js';
import { driverSuite } from '../driver.suite.js';
import { isRuntimeError } from '../errors.js';
import { resolveProcess } from '../process.js';
import { busyboxRootfs } from '../testing/busybox.js';
import { dockerCreateBody, LABELS, specLabels } from './container-config.js';
import { DockerDriver } from './docker-driver.js';
import { dockerdMissing, type PrivateDockerd, startDockerd } from './dockerd.js';
import { DockerEngine } from './engine.js';

const missing = dockerdMissing();
if (missing) console.warn(`docker driver tests skipped: ${missing}`);

const root = mkdtempSync(join(tmpdir(), 'berth-dockerd-'));
const socketPath = join(root, 'docker.sock');
let daemon: PrivateDockerd | undefined;

/**
 * Why this daemon cannot give a privileged container every capability this host has, if so:
 * Docker before 23 knows no capability after CAP_AUDIT_READ (37), and refuses or drops the rest.
 */
let capabilityGap: string | undefined;

beforeAll(async () => {
  if (missing) return;
  daemon = await startDockerd(root);
  const engine = new DockerEngine(socketPath);
  const { Version } = await engine.json<{ Version: string }>('GET', '/version');
  engine.close();
  const hostEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
  if (Number(Version.split('.')[0]) < 23 && hostEff >> 38n !== 0n) {
    capabilityGap = `dockerd ${Version} knows no capability after CAP_AUDIT_READ, and this host has CAP_PERFMON, CAP_BPF or CAP_CHECKPOINT_RESTORE`;
    console.warn(`docker driver: the suite's privileged-capabilities test is skipped: ${capabilityGap}`);
  }
}, 90_000);

afterAll(async () => {
  await daemon?.stop();
  await rm(root, { recursive: true, force: true });
}, 60_000);

describe.skipIf(missing !== undefined)('docker', () => {
  beforeEach((context) => {
    // The one suite test no driver on such a daemon can pass; every other runs as for runc.
    if (capabilityGap !== undefined && context.task.name === 'gives a privileged container every capability the host has') context.skip();
  });

  driverSuite('docker', (stateDir) => new DockerDriver({ stateDir, socketPath }));

  describe('DockerDriver', () => {
    it('keeps its containers apart from another state dir on the same daemon', async () => {
      const tmp = await mkdtemp(join(tmpdir(), 'berth-docker-'));
      try {
        const a = new DockerDriver({ stateDir: join(tmp, 'a'), socketPath });
        const b = new DockerDriver({ stateDir: join(tmp, 'b'), socketPath });
        const spec: ContainerSpec = { id: 'same-id', rootfs: await busyboxRootfs(join(tmp, 'rootfs')), network: { mode: 'none' }, entryPoint: ['/bin/true'] };
        await a.create(spec);
        await b.create(spec);
        expect((await a.list()).map((c) => c.id)).toEqual(['same-id']);
        expect((await b.list()).map((c) => c.id)).toEqual(['same-id']);
        await a.delete('same-id');
        expect(await a.list()).toEqual([]);
        expect((await b.state('same-id')).status).toBe('created');
        await b.delete('same-id');
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });

    it('refuses a namespace by path: Docker cannot join one', async () => {
      const tmp = await mkdtemp(join(tmpdir(), 'berth-docker-'));
      try {
        const d = new DockerDriver({ stateDir: join(tmp, 'state'), socketPath });
        const err = await d.create({ id: 'ns', rootfs: await busyboxRootfs(join(tmp, 'rootfs')), network: { mode: 'netns', path: '/proc/self/ns/net' }, entryPoint: ['/bin/true'] })
          .catch((e: unknown) => e);
        expect(isRuntimeError(err, 'InvalidSpec')).toBe(true);
        expect((err as Error).message).toMatch(/^network\.mode: /);
        expect(await d.list()).toEqual([]);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });
  });
});

describe('dockerCreateBody', () => {
  const proc = (spec: ContainerSpec) => resolveProcess(spec, { passwd: 'app:x:1000:1000::/home/app:/bin/sh\n' });
  const body = (over: Partial<ContainerSpec> = {}) => {
    const spec: ContainerSpec = { id: 'web', rootfs: '/r', network: { mode: 'none' }, entryPoint: ['/bin/httpd', '-f'], ...over };
    return dockerCreateBody(spec, {
      process: proc(spec), image: 'img:web', hostCapabilities: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'], fullBoundingSet: true,
      stopSignal: 'SIGTERM', driverLabels: { [LABELS.id]: 'web' },
    });
  };

  it('spells every container-definition field as HostConfig does', () => {
    const b = body({
      user: 'app', environment: [{ name: 'A', value: '1' }], workingDirectory: '/srv', hostname: 'h1', readonlyRootFilesystem: true,
      linuxParameters: { capabilities: { add: ['NET_ADMIN'], drop: ['CHOWN'] }, initProcessEnabled: true, sharedMemorySize: 128, tmpfs: [{ containerPath: '/scratch', size: 4, mountOptions: ['exec'] }], maxSwap: 0, swappiness: 10 },
      ulimits: [{ name: 'nofile', softLimit: 100, hardLimit: 200 }], dockerLabels: { team: 'web' },
      extraHosts: [{ hostname: 'db', ipAddress: '10.0.0.5' }], dnsServers: ['10.0.0.2'], dnsSearchDomains: ['corp'],
      mounts: [{ sourcePath: '/data', containerPath: '/data', readOnly: true }], systemControls: [{ namespace: 'net.core.somaxconn', value: '1024' }],
      cpu: 512, memory: 64, memoryReservation: 32, pidsLimit: 50,
    });
    expect(b).toMatchObject({
      Image: 'img:web', Entrypoint: ['/bin/httpd', '-f'], Cmd: null, WorkingDir: '/srv', User: '1000:1000', Hostname: 'h1', StopSignal: 'SIGTERM',
      Labels: { team: 'web', [LABELS.id]: 'web' },
    });
    expect(b.Env).toEqual(['A=1', expect.stringMatching(/^PATH=/), 'HOSTNAME=h1', 'HOME=/home/app']);
    expect(b.HostConfig).toMatchObject({
      NetworkMode: 'none', ReadonlyRootfs: true, Privileged: false, CapAdd: ['KILL', 'NET_ADMIN'], CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'], Init: true, ShmSize: 128 * 1024 * 1024, Tmpfs: { '/scratch': 'exec,size=4194304' },
      Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }], ExtraHosts: ['db:10.0.0.5'], Dns: ['10.0.0.2'], DnsSearch: ['corp'],
      Mounts: [{ Type: 'bind', Source: '/data', Target: '/data', ReadOnly: true, BindOptions: { Propagation: 'rprivate' } }],
      Sysctls: { 'net.core.somaxconn': '1024' }, CpuShares: 512, Memory: 64 << 20, MemoryReservation: 32 << 20, MemorySwap: 64 << 20,
      MemorySwappiness: 10, PidsLimit: 50, RestartPolicy: { Name: 'no' },
    });
  });

  it("gives a privileged container Docker's privileged mode and no filters; cpu 0 becomes 2 shares; no maxSwap leaves swap to the host", () => {
    expect(body({ privileged: true, cpu: 0, memory: 16 }).HostConfig).toMatchObject({
      Privileged: true, CapAdd: null, CapDrop: null, SecurityOpt: [], CpuShares: 2, MemorySwap: -1,
    });
    expect(body({ network: { mode: 'host' } }).Hostname).toBeUndefined();
  });

  it("spells privileged out where Docker's own flag would ask for capabilities the host lacks", () => {
    const spec: ContainerSpec = { id: 'p', rootfs: '/r', network: { mode: 'none' }, entryPoint: ['/bin/sh'], privileged: true };
    const b = dockerCreateBody(spec, {
      process: proc(spec), image: 'img:p', hostCapabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN'], fullBoundingSet: false, stopSignal: 'SIGTERM', driverLabels: {},
    });
    expect(b.HostConfig).toMatchObject({
      Privileged: false, CapAdd: ['CHOWN', 'SYS_ADMIN'], CapDrop: ['ALL'], SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
      DeviceCgroupRules: ['a *:* rwm'], MaskedPaths: [], ReadonlyPaths: [],
    });
  });

  it('gives the supplementary groups as resolved (Docker looks them up only for a name)', () => {
    const spec: ContainerSpec = { id: 'g', rootfs: '/r', network: { mode: 'none' }, entryPoint: ['/bin/sh'], user: 'app' };
    const process = resolveProcess(spec, { passwd: 'app:x:1000:1000::/home/app:/bin/sh\n', group: 'app:x:1000:\nextra:x:2000:app\n' });
    const b = dockerCreateBody(spec, { process, image: 'img:g', hostCapabilities: [], fullBoundingSet: true, stopSignal: 'SIGTERM', driverLabels: {} });
    expect([b.User, b.HostConfig.GroupAdd]).toEqual(['1000:1000', ['2000']]);
  });

  it("refuses what runc's driver refuses, naming the same field", () => {
    const refused = (over: Partial<ContainerSpec>): string => {
      try {
        body(over);
        return 'accepted';
      } catch (err) {
        return isRuntimeError(err, 'InvalidSpec') ? err.message : String(err);
      }
    };
    expect(refused({ memory: 0 })).toMatch(/^memory: /);
    expect(refused({ ulimits: [{ name: 'bogus', softLimit: 1, hardLimit: 1 }] })).toMatch(/^ulimits\[0\]\.name: /);
    expect(refused({ extraHosts: [{ hostname: 'x', ipAddress: 'nope' }] })).toMatch(/^extraHosts\[0\]\.ipAddress: /);
    expect(refused({ linuxParameters: { capabilities: { add: ['SYS_TIME'] } } })).toMatch(/^linuxParameters\.capabilities\.add\[0\]: .*cannot grant/);
    expect(refused({ network: { mode: 'netns', path: '/run/netns/x' } })).toMatch(/^network\.mode: /);
  });

  it('keeps only the spec’s labels', () => {
    expect(specLabels({ a: '1', [LABELS.state]: 'k', [LABELS.id]: 'x' })).toEqual({ a: '1' });
    expect(specLabels(null)).toEqual({});
  });
});
