/**
 * Task networks for real: a bridge, namespaces on it, busybox httpd served from them through runc,
 * reached from the host at the namespace's address and through published ports on 127.0.0.1.
 * Only this run's bridge, namespaces, chains and containers are touched, and all are removed.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { get } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../driver.js';
import { isRuntimeError } from '../errors.js';
import { cgroupDirs, detectCgroupLayout } from '../runc/cgroups.js';
import { RuncDriver } from '../runc/runc-driver.js';
import { busyboxRootfs } from '../testing/busybox.js';
import { attachmentFor, BridgeNetwork, macAddress } from './bridge-network.js';
import { bridgeRules, portRule, publishedRuleOf } from './iptables.js';
import { contains, gatewayAddress, parseSubnet, RESERVED_ADDRESSES, subnetSize, taskAddresses } from './ipam.js';

describe('ipam', () => {
  it('parses subnets and refuses host bits and odd prefixes', () => {
    expect(parseSubnet('169.254.172.0/22')).toEqual({ network: 0xa9feac00, prefixLength: 22 });
    expect(() => parseSubnet('169.254.172.1/22')).toThrow(/host bits set \(did you mean 169\.254\.172\.0\/22\?\)/);
    for (const bad of ['169.254.0.0', '169.254.0.0/31', '169.254.0.0/7', '169.254.0.0/x', 'a.b.c.d/24']) expect(() => parseSubnet(bad)).toThrow();
  });

  it('gives the bridge the first address and tasks the rest, never the network, broadcast or reserved ones', () => {
    const s = parseSubnet('169.254.170.0/24');
    expect(gatewayAddress(s)).toBe('169.254.170.1');
    const all = [...taskAddresses(s)];
    expect(all[0]).toBe('169.254.170.3'); // .2 is the ECS credentials endpoint
    expect(all.at(-1)).toBe('169.254.170.254');
    expect(all).not.toContain('169.254.170.23');
    expect(all).toHaveLength(subnetSize(s) - 3 - 2);
    expect([...taskAddresses(parseSubnet('169.254.169.0/24'))]).not.toContain('169.254.169.254');
    for (const r of RESERVED_ADDRESSES) expect(contains(parseSubnet('169.254.172.0/22'), r)).toBe(false);
  });
});

describe('iptables rules', () => {
  it('sends traffic to local addresses through the DNAT chain and masquerades loopback sources onto the bridge', () => {
    expect(bridgeRules('berth0', '169.254.176.0/22', false)).toEqual([
      { table: 'nat', chain: 'PREROUTING', spec: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'BERTH-DNAT-berth0'] },
      { table: 'nat', chain: 'OUTPUT', spec: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'BERTH-DNAT-berth0'] },
      { table: 'nat', chain: 'POSTROUTING', spec: ['-j', 'BERTH-POST-berth0'] },
      { table: 'nat', chain: 'BERTH-POST-berth0', spec: ['-s', '127.0.0.0/8', '-o', 'berth0', '-j', 'MASQUERADE'] },
      { table: 'filter', chain: 'FORWARD', spec: ['-j', 'BERTH-FWD-berth0'] },
      { table: 'filter', chain: 'BERTH-FWD-berth0', spec: ['-o', 'berth0', '-j', 'ACCEPT'] },
      { table: 'filter', chain: 'BERTH-FWD-berth0', spec: ['-i', 'berth0', '-j', 'ACCEPT'] },
    ]);
    expect(bridgeRules('berth0', '169.254.176.0/22', true).at(-1)).toEqual(
      { table: 'nat', chain: 'BERTH-POST-berth0', spec: ['-s', '169.254.176.0/22', '!', '-o', 'berth0', '-j', 'MASQUERADE'] },
    );
  });

  it('reads the owner of a published-port rule from iptables -S, and the rule to delete it by', () => {
    const line = '-A BERTH-DNAT-b0 -p tcp -m tcp --dport 49153 -m comment --comment "berth:t-1" -j DNAT --to-destination 169.254.176.2:80';
    expect(publishedRuleOf('BERTH-DNAT-b0', line)).toEqual({
      owner: 't-1',
      rule: { table: 'nat', chain: 'BERTH-DNAT-b0', spec: ['-p', 'tcp', '-m', 'tcp', '--dport', '49153', '-m', 'comment', '--comment', 'berth:t-1', '-j', 'DNAT', '--to-destination', '169.254.176.2:80'] },
    });
    expect(publishedRuleOf('BERTH-DNAT-b0', '-N BERTH-DNAT-b0')).toBeUndefined();
    expect(publishedRuleOf('BERTH-DNAT-b0', '-A BERTH-DNAT-b1 -p tcp --dport 1 -m comment --comment berth:x -j DNAT --to-destination 1.2.3.4:1')).toBeUndefined();
    expect(publishedRuleOf('BERTH-DNAT-b0', '-A BERTH-DNAT-b0 -p tcp --dport 1 -j DNAT --to-destination 1.2.3.4:1')).toBeUndefined();
  });

  it('publishes one port with one DNAT rule tagged with its owner', () => {
    expect(portRule('berth0', 'task-1', '169.254.176.2', { protocol: 'udp', hostPort: 49153, containerPort: 53 })).toEqual({
      table: 'nat', chain: 'BERTH-DNAT-berth0',
      spec: ['-p', 'udp', '--dport', '49153', '-m', 'comment', '--comment', 'berth:task-1', '-j', 'DNAT', '--to-destination', '169.254.176.2:53'],
    });
  });
});

describe('macAddress', () => {
  it("is Docker's 02:42 followed by the address's four bytes", () => {
    expect(macAddress('169.254.172.3')).toBe('02:42:a9:fe:ac:03');
    expect(macAddress('10.0.255.16')).toBe('02:42:0a:00:ff:10');
  });
});

describe('attachmentFor', () => {
  it('maps ECS network modes to what a container joins', () => {
    expect(attachmentFor('host')).toEqual({ mode: 'host' });
    expect(attachmentFor('none')).toEqual({ mode: 'none' });
    const a = { owner: 't', netnsPath: '/run/netns/x', ipv4Address: '169.254.172.3', prefixLength: 22, gateway: '169.254.172.1', hostInterface: 'vb1', ports: [] };
    expect(attachmentFor('awsvpc', a)).toEqual({ mode: 'netns', path: '/run/netns/x', ipv4Address: '169.254.172.3' });
    expect(() => attachmentFor('bridge')).toThrow(/needs a namespace/);
  });
});

async function within<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A port nobody listens on right now (the kernel's pick). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '0.0.0.0', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** GETs a URL once; undefined when nothing answers yet. */
function fetchOnce(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

describe('BridgeNetwork with runc', () => {
  // Names of this run only: a bridge, a /24 of link-local space, a cgroup parent.
  const tag = process.pid % 100000;
  const bridge = `bt${tag}`;
  const subnet = `169.254.${180 + (process.pid % 60)}.0/24`;
  const cgroupParent = `/berth-nettest-${process.pid}`;
  const portBase = 20000 + (process.pid % 1000) * 20;
  let tmp: string;
  let net: BridgeNetwork;
  let driver: RuncDriver;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-net-'));
    net = new BridgeNetwork({ bridge, subnet, stateDir: join(tmp, 'net'), outbound: false, hostPortRange: [portBase, portBase + 19] });
    driver = new RuncDriver({ stateDir: join(tmp, 'runtime'), cgroupParent });
  });

  afterEach(async () => {
    for (const c of await driver.list()) {
      if (c.status === 'running') {
        await driver.kill(c.id, 'SIGKILL');
        await driver.wait(c.id);
      }
      await driver.delete(c.id);
    }
    for (const a of await net.list()) await net.detach(a.owner);
  });

  afterAll(async () => {
    try {
      await net.destroy();
      for (const dir of cgroupDirs(await detectCgroupLayout(), cgroupParent)) if (existsSync(dir)) await rmdir(dir);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  async function httpd(id: string, netns: { path: string; ipv4Address: string }, over: Partial<ContainerSpec> = {}): Promise<void> {
    await driver.create({
      id: `${id}-${tag}`,
      rootfs: await busyboxRootfs(join(tmp, `rootfs-${id}`)),
      image: { Env: ['PATH=/bin'], Entrypoint: ['/bin/httpd'], Cmd: ['-f', '-p', '8080', '-h', '/www'] },
      network: { mode: 'netns', ...netns },
      ...over,
    });
    await driver.start(`${id}-${tag}`);
  }

  it('serves from a namespace at its own address, reached from the host through the bridge', async () => {
    const a = await net.attach(`web-${tag}`);
    expect(existsSync(a.netnsPath)).toBe(true);
    expect(a.gateway).toBe(gatewayAddress(parseSubnet(subnet)));
    expect(contains(parseSubnet(subnet), a.ipv4Address)).toBe(true);
    await httpd('web', attachmentFor('awsvpc', a) as { path: string; ipv4Address: string });
    expect(await within('httpd', () => fetchOnce(`http://${a.ipv4Address}:8080/`))).toBe('hello from busybox\n');
    // The container's stats count that traffic on its eth0.
    const { networks } = await driver.stats(`web-${tag}`);
    expect(Object.keys(networks ?? {})).toEqual(['eth0']);
    expect(networks!.eth0!.rxBytes).toBeGreaterThan(0);
    expect(networks!.eth0!.txBytes).toBeGreaterThan('hello from busybox\n'.length);
  });

  it('publishes container ports on 127.0.0.1, static or from the range, and refuses a port taken', async () => {
    const a = await net.attach(`pub-${tag}`);
    let fixed = await freePort();
    while (fixed >= portBase && fixed <= portBase + 19) fixed = await freePort(); // keep it out of the dynamic range
    const bindings = await net.publish(`pub-${tag}`, [{ containerPort: 8080 }, { containerPort: 8080, hostPort: fixed }]);
    const dynamic = bindings[0]!.hostPort;
    expect(dynamic).toBeGreaterThanOrEqual(portBase);
    expect(dynamic).toBeLessThanOrEqual(portBase + 19);
    expect(bindings).toEqual([
      { containerPort: 8080, hostPort: dynamic, protocol: 'tcp', bindIP: '0.0.0.0' },
      { containerPort: 8080, hostPort: fixed, protocol: 'tcp', bindIP: '0.0.0.0' },
    ]);
    expect((await net.attachment(`pub-${tag}`))!.ports).toEqual(bindings);
    await httpd('pub', { path: a.netnsPath, ipv4Address: a.ipv4Address });
    expect(await within('the dynamic port', () => fetchOnce(`http://127.0.0.1:${dynamic}/`))).toBe('hello from busybox\n');
    expect(await fetchOnce(`http://127.0.0.1:${fixed}/`)).toBe('hello from busybox\n');

    const other = await net.attach(`other-${tag}`);
    expect(other.ipv4Address).not.toBe(a.ipv4Address);
    const err = await net.publish(`other-${tag}`, [{ containerPort: 80 }, { containerPort: 80, hostPort: fixed }]).catch((e: unknown) => e);
    expect(isRuntimeError(err, 'Conflict')).toBe(true);
    // All or nothing: the dynamic port claimed before the conflict was given back.
    expect((await net.attachment(`other-${tag}`))!.ports).toEqual([]);
    const [next] = await net.publish(`other-${tag}`, [{ containerPort: 80 }]);
    expect(next!.hostPort).not.toBe(dynamic);
    expect(await readdir(join(tmp, 'net', 'host-ports'))).toEqual(expect.arrayContaining([`tcp-${dynamic}`, `tcp-${fixed}`, `tcp-${next!.hostPort}`]));
  });

  it("shares one namespace between a task's containers (awsvpc): same address, same localhost", async () => {
    const a = await net.attach(`task-${tag}`);
    const netns = { path: a.netnsPath, ipv4Address: a.ipv4Address };
    await httpd('app', netns);
    const id = `sidecar-${tag}`;
    await driver.create({
      id,
      rootfs: await busyboxRootfs(join(tmp, 'rootfs-sidecar')),
      image: { Env: ['PATH=/bin'] },
      entryPoint: ['/bin/sh', '-c', 'ip -4 -o addr show eth0; until wget -q -O - http://127.0.0.1:8080/; do sleep 0.05; done'],
      network: { mode: 'netns', ...netns },
    });
    await driver.start(id);
    expect((await driver.wait(id)).exitCode).toBe(0);
    const out = await readFile((await driver.logPaths(id)).stdout, 'utf8');
    expect(out).toContain(`inet ${a.ipv4Address}/24`);
    expect(out).toContain('hello from busybox');
    expect(await readFile(join(tmp, 'runtime', 'containers', id, 'hosts'), 'utf8')).toContain(`${a.ipv4Address}\t${id}`);
  });

  it('detach removes the rules, namespace, veth and address; a new instance finds what is attached', async () => {
    const owner = `gone-${tag}`;
    const a = await net.attach(owner);
    await net.publish(owner, [{ containerPort: 80 }]);
    expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).toContain(`berth:${owner}`);

    const again = new BridgeNetwork({ bridge, subnet, stateDir: join(tmp, 'net'), outbound: false, hostPortRange: [portBase, portBase + 19] });
    expect(await again.attach(owner)).toEqual(await net.attachment(owner));
    expect(existsSync(`/sys/class/net/${a.hostInterface}`)).toBe(true);

    await again.detach(owner);
    expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).not.toContain(`berth:${owner}`);
    expect(existsSync(a.netnsPath)).toBe(false);
    expect(existsSync(`/sys/class/net/${a.hostInterface}`)).toBe(false);
    expect(await readdir(join(tmp, 'net', 'addresses'))).not.toContain(a.ipv4Address);
    expect(await net.attachment(owner)).toBeUndefined();
    await again.detach(owner); // twice is fine
    // The freed address is the first one handed out again.
    expect((await net.attach(`next-${tag}`)).ipv4Address).toBe(a.ipv4Address);
  });

  it("a reused address reaches its new namespace at once: the host's stale neighbour entry is flushed", async () => {
    const neighbour = (address: string): string => execFileSync('ip', ['neigh', 'show', 'to', address, 'dev', bridge], { encoding: 'utf8' }).trim();
    const mac = (ns: string): string => /link\/ether (\S+)/.exec(execFileSync('ip', ['-n', ns, 'link', 'show', 'eth0'], { encoding: 'utf8' }))?.[1] ?? '';
    // Another namespace keeps the bridge's carrier up (when its last port goes, the kernel flushes its entries anyway).
    await net.attach(`keep-${tag}`);
    const old = await net.attach(`old-${tag}`);
    await httpd('old', { path: old.netnsPath, ipv4Address: old.ipv4Address });
    expect(await within('httpd', () => fetchOnce(`http://${old.ipv4Address}:8080/`))).toBe('hello from busybox\n');
    // Talking to it left the host an entry for the address, with the namespace's MAC.
    const oldMac = mac(net.netnsName(`old-${tag}`));
    expect(neighbour(old.ipv4Address)).toContain(oldMac);
    await driver.kill(`old-${tag}`, 'SIGKILL');
    await driver.wait(`old-${tag}`);
    await net.detach(`old-${tag}`);
    // Nothing else clears it: the bridge keeps its MAC while ports come and go.
    expect(neighbour(old.ipv4Address)).toContain(oldMac);
    expect(execFileSync('ip', ['link', 'show', bridge], { encoding: 'utf8' })).toContain(`link/ether ${macAddress(old.gateway)} `);

    const reused = await net.attach(`new-${tag}`);
    expect(reused.ipv4Address).toBe(old.ipv4Address);
    expect(neighbour(reused.ipv4Address)).toBe('');
    // The MAC comes from the address, so a cache elsewhere on the bridge is right for the new owner too.
    expect(mac(net.netnsName(`new-${tag}`))).toBe(macAddress(reused.ipv4Address));
    await httpd('new', { path: reused.netnsPath, ipv4Address: reused.ipv4Address });
    expect(await within('httpd at the reused address', () => fetchOnce(`http://${reused.ipv4Address}:8080/`))).toBe('hello from busybox\n');
  });

  it('drops at start the published ports of owners that are gone (no attachment here, no process in their namespace) and keeps the others', async () => {
    // Another agent's network on the same bridge, with state of its own.
    const elsewhere = new BridgeNetwork({ bridge, subnet, stateDir: join(tmp, 'elsewhere'), outbound: false, hostPortRange: [portBase, portBase + 19] });
    const [live, idle, vanished, mine] = ['live', 'idle', 'vanished', 'mine'].map((n) => `${n}-${tag}`) as [string, string, string, string];
    const a = await elsewhere.attach(live);
    await elsewhere.publish(live, [{ containerPort: 8080 }]);
    await httpd('live', { path: a.netnsPath, ipv4Address: a.ipv4Address });
    await elsewhere.attach(idle);
    await elsewhere.publish(idle, [{ containerPort: 80 }]);
    await elsewhere.attach(vanished);
    await elsewhere.publish(vanished, [{ containerPort: 80 }]);
    execFileSync('ip', ['netns', 'delete', elsewhere.netnsName(vanished)]);
    await net.attach(mine); // no process yet: a container about to start
    await net.publish(mine, [{ containerPort: 80 }]);
    try {
      const restarted = new BridgeNetwork({ bridge, subnet, stateDir: join(tmp, 'net'), outbound: false, hostPortRange: [portBase, portBase + 19] });
      await restarted.ensure();
      const nat = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
      expect(nat).toContain(`berth:${live}`);
      expect(nat).toContain(`berth:${mine}`);
      expect(nat).not.toContain(`berth:${idle}`);
      expect(nat).not.toContain(`berth:${vanished}`);
      expect(await restarted.pruneStalePorts()).toEqual([]); // nothing more to drop
    } finally {
      for (const owner of [live, idle, vanished]) await elsewhere.detach(owner);
    }
  });

  it("sets up its bridge and chains once, and destroy() removes them all", async () => {
    const scratch = new BridgeNetwork({ bridge: `bx${tag}`, subnet: `169.254.${120 + (process.pid % 60)}.0/24`, stateDir: join(tmp, 'scratch'), outbound: false });
    const saved = (): string => execFileSync('iptables-save', { encoding: 'utf8' });
    try {
      await scratch.attach(`x-${tag}`);
      await scratch.publish(`x-${tag}`, [{ containerPort: 80 }]);
      await new BridgeNetwork({ bridge: `bx${tag}`, subnet: `169.254.${120 + (process.pid % 60)}.0/24`, stateDir: join(tmp, 'scratch'), outbound: false }).ensure();
      expect(saved().match(new RegExp(`-j BERTH-DNAT-bx${tag}\\b`, 'g'))).toHaveLength(2); // PREROUTING and OUTPUT, not twice each
      expect(saved()).toContain(`-A BERTH-FWD-bx${tag} -o bx${tag} -j ACCEPT`);
      expect(existsSync(`/sys/class/net/bx${tag}`)).toBe(true);
    } finally {
      await scratch.destroy();
    }
    expect(saved()).not.toContain(`bx${tag}`);
    expect(existsSync(`/sys/class/net/bx${tag}`)).toBe(false);
    expect(existsSync(`/run/netns/bx${tag}-x-${tag}`)).toBe(false);
  });
});
