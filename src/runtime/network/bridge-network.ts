/**
 * A Berth bridge and the network namespaces attached to it: awsvpc gives each task one (its
 * containers share it), bridge mode gives each container one plus published ports. Modes `host`
 * and `none` need nothing here (see attachmentFor). State lives in files, so a restarted agent
 * finds its namespaces, addresses and ports again and changes none of them.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NetworkAttachment } from '../driver.js';
import { CONTAINER_ID_PATTERN } from '../driver.js';
import { RuntimeError } from '../errors.js';
import { gatewayAddress, parseSubnet, type Subnet, taskAddresses } from './ipam.js';
import {
  bridgeChains, bridgeRules, ensureChain, ensureRule, listRules, portRule, type Protocol, publishedRuleOf, removeChain, removeRule,
} from './iptables.js';

const run = promisify(execFile);

/** ECS's default dynamic host port range (the agent's, and Linux's upper ephemeral ports). */
export const DEFAULT_HOST_PORT_RANGE: readonly [number, number] = [49153, 65535];

export interface BridgeNetworkOptions {
  /** The bridge device (at most 15 characters): also names the namespaces and iptables chains. */
  readonly bridge: string;
  /** The IPv4 range: the bridge takes the first address, namespaces the rest. */
  readonly subnet: string;
  /** Where this network's addresses, attachments and host ports are recorded. */
  readonly stateDir: string;
  /**
   * Where host port claims are recorded (default `<stateDir>/host-ports`). Networks of one host
   * should share it: a DNAT rule holds no socket, so only these files tell a port is taken.
   */
  readonly hostPortsDir?: string;
  /** Range dynamic host ports come from, inclusive. */
  readonly hostPortRange?: readonly [number, number];
  /**
   * Let namespaces reach beyond the host (masquerade, and the host-wide ip_forward). Off in tests,
   * which must not change how the host forwards traffic.
   */
  readonly outbound?: boolean;
}

/** A container port to publish; hostPort absent or 0 means "any free one in the range". */
export interface PortMapping {
  readonly containerPort: number;
  readonly hostPort?: number;
  readonly protocol?: Protocol;
}

/** A published port, as ECS reports it in networkBindings. */
export interface PortBinding {
  readonly containerPort: number;
  readonly hostPort: number;
  readonly protocol: Protocol;
  readonly bindIP: string;
}

/** A namespace on the bridge: what containers join (netnsPath) and how to reach it. */
export interface Attachment {
  readonly owner: string;
  readonly netnsPath: string;
  readonly ipv4Address: string;
  readonly prefixLength: number;
  readonly gateway: string;
  /** The host end of the veth pair. */
  readonly hostInterface: string;
  readonly ports: readonly PortBinding[];
}

/**
 * The NetworkAttachment a container gets for an ECS network mode: `host` and `none` need no
 * namespace from us; `bridge` and `awsvpc` join the attachment's namespace.
 *
 * @example attachmentFor('awsvpc', await net.attach(taskId)) // { mode: 'netns', path: '/run/netns/…', ipv4Address }
 */
export function attachmentFor(mode: 'host' | 'none' | 'bridge' | 'awsvpc', attachment?: Attachment): NetworkAttachment {
  if (mode === 'host' || mode === 'none') return { mode };
  if (!attachment) throw new RuntimeError('InvalidSpec', `network mode ${mode} needs a namespace attached to a bridge`);
  return { mode: 'netns', path: attachment.netnsPath, ipv4Address: attachment.ipv4Address };
}

/**
 * The MAC a namespace's eth0 gets: fixed by its address (Docker's 02:42 + the IPv4 bytes), so a
 * neighbour cache anywhere on the bridge that still holds an entry for a reused address holds the
 * right MAC for its new owner.
 *
 * @example macAddress('169.254.172.3') // '02:42:a9:fe:ac:03'
 */
export function macAddress(ipv4: string): string {
  return ['02', '42', ...ipv4.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

/** The network namespaces some process is in (`net:[inode]`, as /proc/<pid>/ns/net reads). */
async function namespacesInUse(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const link = await readlink(`/proc/${pid}/ns/net`).catch(() => undefined);
    if (link !== undefined) out.add(link);
  }
  return out;
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;
const stderrOf = (err: unknown): string => ((err as { stderr?: string }).stderr ?? String(err)).trim();

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new RuntimeError('RuntimeFailed', `ip ${args.join(' ')}: ${stderrOf(err)}`, { cause: err });
  }
}

/** Runs `ip -batch -` with the given lines (one process for many changes); `prefix` goes before -batch. */
async function ipBatch(lines: string[], prefix: string[] = []): Promise<void> {
  const child = spawn('ip', [...prefix, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  child.stdin.end(`${lines.join('\n')}\n`);
  const code = await done;
  if (code !== 0) throw new RuntimeError('RuntimeFailed', `ip ${prefix.join(' ')} -batch: ${stderr.trim() || `exit ${code}`}`);
}

async function isFree(port: number, protocol: Protocol): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const sock = createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '0.0.0.0', () => sock.close(() => resolve(true)));
      return;
    }
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * @example
 *   const net = new BridgeNetwork({ bridge: 'berth-task', subnet: DEFAULT_AWSVPC_SUBNET, stateDir });
 *   const a = await net.attach('task-1');            // /run/netns/berth-task-task-1, 169.254.172.2
 *   await net.publish('task-1', [{ containerPort: 80 }]); // host port 49153 → 169.254.172.2:80
 *   await net.detach('task-1');
 */
export class BridgeNetwork {
  readonly bridge: string;
  readonly subnet: Subnet;
  readonly gateway: string;
  private readonly cidr: string;
  private readonly stateDir: string;
  private readonly hostPortsDir: string;
  private readonly hostPortRange: readonly [number, number];
  private readonly outbound: boolean;
  private ready: Promise<void> | undefined;

  constructor(options: BridgeNetworkOptions) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(options.bridge)) {
      throw new RuntimeError('InvalidSpec', `bridge "${options.bridge}" must be 1-15 letters, digits, '_', '.' or '-'`);
    }
    this.bridge = options.bridge;
    this.subnet = parseSubnet(options.subnet);
    this.cidr = options.subnet;
    this.gateway = gatewayAddress(this.subnet);
    this.stateDir = options.stateDir;
    this.hostPortsDir = options.hostPortsDir ?? join(options.stateDir, 'host-ports');
    const [lo, hi] = options.hostPortRange ?? DEFAULT_HOST_PORT_RANGE;
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && lo <= hi && hi <= 65535)) {
      throw new RuntimeError('InvalidSpec', `hostPortRange [${lo}, ${hi}] must be whole ports with 1 ≤ first ≤ last ≤ 65535`);
    }
    this.hostPortRange = [lo, hi];
    this.outbound = options.outbound ?? true;
  }

  /** The namespace's name under /run/netns. */
  netnsName(owner: string): string {
    return `${this.bridge}-${owner}`;
  }

  /** The host end of the owner's veth: short (15 characters at most) and the same after a restart. */
  hostInterface(owner: string): string {
    return `vb${createHash('sha256').update(`${this.bridge}/${owner}`).digest('hex').slice(0, 11)}`;
  }

  /** Creates the bridge, its address and its NAT rules unless they exist. */
  ensure(): Promise<void> {
    this.ready ??= (async () => {
      if (!existsSync(`/sys/class/net/${this.bridge}`)) {
        try {
          await ip(['link', 'add', 'name', this.bridge, 'type', 'bridge']);
        } catch (err) {
          if (!existsSync(`/sys/class/net/${this.bridge}`)) throw err; // lost a race with another creator: fine
        }
      }
      await ip(['addr', 'replace', `${this.gateway}/${this.subnet.prefixLength}`, 'dev', this.bridge]);
      // A bridge left to itself takes its lowest port's MAC, so ports coming and going change it:
      // the kernel then flushes the bridge's neighbours and every namespace's entry for the
      // gateway goes stale. A MAC set once stays.
      await ip(['link', 'set', 'dev', this.bridge, 'address', macAddress(this.gateway)]);
      await ip(['link', 'set', this.bridge, 'up']);
      // Lets DNAT send connections made to 127.0.0.1 onto the bridge (with the masquerade rule).
      await writeFile(`/proc/sys/net/ipv4/conf/${this.bridge}/route_localnet`, '1');
      if (this.outbound) await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
      const chains = bridgeChains(this.bridge);
      await ensureChain('nat', chains.dnat);
      await ensureChain('nat', chains.postrouting);
      await ensureChain('filter', chains.forward);
      for (const rule of bridgeRules(this.bridge, this.cidr, this.outbound)) await ensureRule(rule);
      await this.pruneStalePorts();
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  /**
   * Drops the published-port rules of owners that are gone: no attachment of this network's state,
   * and no namespace or none with a process in it. A host whose agent died and whose state was
   * wiped keeps such rules in the kernel, and each would shadow a new task given the same host
   * port. An owner of another agent on the same bridge that still runs is left alone. Returns the
   * owners whose rules went.
   */
  async pruneStalePorts(): Promise<string[]> {
    const chain = bridgeChains(this.bridge).dnat;
    const rules = (await listRules('nat', chain)).map((line) => publishedRuleOf(chain, line)).filter((r) => r !== undefined);
    if (rules.length === 0) return [];
    const ours = new Set((await this.list()).map((a) => a.owner));
    let inUse: Set<string> | undefined;
    const gone = new Set<string>();
    for (const { owner, rule } of rules) {
      if (ours.has(owner)) continue;
      const ns = await stat(`/run/netns/${this.netnsName(owner)}`).catch(() => undefined);
      if (ns !== undefined) {
        inUse ??= await namespacesInUse();
        if (inUse.has(`net:[${ns.ino}]`)) continue;
      }
      await removeRule(rule);
      gone.add(owner);
    }
    return [...gone].sort();
  }

  /**
   * A namespace for `owner` (a task for awsvpc, a container for bridge mode) with the next free
   * address, loopback up and a default route through the bridge. Attaching an owner that is already
   * attached gives the existing attachment.
   */
  async attach(owner: string): Promise<Attachment> {
    if (!CONTAINER_ID_PATTERN.test(owner)) throw new RuntimeError('InvalidSpec', `owner "${owner}" must be an id (letters, digits, '_', '.', '-')`);
    const existing = await this.attachment(owner);
    if (existing) return existing;
    await this.ensure();
    const address = await this.claimAddress(owner);
    const ns = this.netnsName(owner);
    const veth = this.hostInterface(owner);
    const attachment: Attachment = {
      owner, netnsPath: `/run/netns/${ns}`, ipv4Address: address, prefixLength: this.subnet.prefixLength,
      gateway: this.gateway, hostInterface: veth, ports: [],
    };
    try {
      await ipBatch([
        `netns add ${ns}`,
        `link add ${veth} type veth peer name eth0 address ${macAddress(address)} netns ${ns}`,
        `link set ${veth} master ${this.bridge} up`,
        // The address may have been another namespace's a moment ago: the host's neighbour (ARP)
        // cache would send its traffic to that one's MAC until the entry ages out.
        `neigh flush to ${address} dev ${this.bridge}`,
      ]);
      await ipBatch([
        'link set lo up',
        `addr add ${address}/${this.subnet.prefixLength} dev eth0`,
        'link set eth0 up',
        `route add default via ${this.gateway}`,
      ], ['-n', ns]);
      await this.record(attachment);
    } catch (err) {
      await this.teardown(attachment);
      throw err;
    }
    return attachment;
  }

  /**
   * Publishes container ports of an attached owner on every host address (127.0.0.1 too). A static
   * hostPort must be free; otherwise the first free port of the range is taken. All or nothing.
   */
  async publish(owner: string, mappings: readonly PortMapping[]): Promise<PortBinding[]> {
    const attachment = await this.attachment(owner);
    if (!attachment) throw new RuntimeError('NotFound', `no namespace attached for ${owner} on ${this.bridge}`);
    const added: PortBinding[] = [];
    try {
      for (const [i, m] of mappings.entries()) {
        const protocol = m.protocol ?? 'tcp';
        if (!Number.isInteger(m.containerPort) || m.containerPort < 1 || m.containerPort > 65535) {
          throw new RuntimeError('InvalidSpec', `portMappings[${i}].containerPort: ${m.containerPort} is not a port`);
        }
        const hostPort = await this.claimHostPort(owner, protocol, m.hostPort ?? 0, i);
        const binding: PortBinding = { containerPort: m.containerPort, hostPort, protocol, bindIP: '0.0.0.0' };
        added.push(binding);
        await ensureRule(portRule(this.bridge, owner, attachment.ipv4Address, binding));
      }
      await this.record({ ...attachment, ports: [...attachment.ports, ...added] });
    } catch (err) {
      for (const b of added) {
        await removeRule(portRule(this.bridge, owner, attachment.ipv4Address, b));
        await rm(this.portFile(b.protocol, b.hostPort), { force: true });
      }
      throw err;
    }
    return added;
  }

  /** Removes the owner's ports, namespace, veth and address. Detaching an unknown owner does nothing. */
  async detach(owner: string): Promise<void> {
    const attachment = await this.attachment(owner);
    if (attachment) await this.teardown(attachment);
  }

  async attachment(owner: string): Promise<Attachment | undefined> {
    try {
      return JSON.parse(await readFile(join(this.stateDir, 'attachments', `${owner}.json`), 'utf8')) as Attachment;
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(): Promise<Attachment[]> {
    let names: string[];
    try {
      names = await readdir(join(this.stateDir, 'attachments'));
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw err;
    }
    const out: Attachment[] = [];
    for (const n of names.filter((f) => f.endsWith('.json')).sort()) {
      const a = await this.attachment(n.slice(0, -'.json'.length));
      if (a) out.push(a);
    }
    return out;
  }

  /** Detaches everyone and removes the bridge and its rules: for uninstalling, and for tests. */
  async destroy(): Promise<void> {
    for (const a of await this.list()) await this.teardown(a);
    for (const rule of bridgeRules(this.bridge, this.cidr, true)) {
      if (['PREROUTING', 'OUTPUT', 'POSTROUTING', 'FORWARD'].includes(rule.chain)) await removeRule(rule);
    }
    const chains = bridgeChains(this.bridge);
    await removeChain('nat', chains.dnat);
    await removeChain('nat', chains.postrouting);
    await removeChain('filter', chains.forward);
    if (existsSync(`/sys/class/net/${this.bridge}`)) await ip(['link', 'del', this.bridge]);
    this.ready = undefined;
  }

  private async teardown(a: Attachment): Promise<void> {
    for (const b of a.ports) {
      await removeRule(portRule(this.bridge, a.owner, a.ipv4Address, b));
      await rm(this.portFile(b.protocol, b.hostPort), { force: true });
    }
    if (existsSync(a.netnsPath)) await ip(['netns', 'delete', this.netnsName(a.owner)]);
    // Deleting the namespace takes its veth end with it, and so the pair; a namespace some process
    // still holds keeps it, so the host end goes explicitly.
    if (existsSync(`/sys/class/net/${a.hostInterface}`)) await ip(['link', 'del', a.hostInterface]).catch((err: unknown) => {
      if (existsSync(`/sys/class/net/${a.hostInterface}`)) throw err;
    });
    await rm(join(this.stateDir, 'addresses', a.ipv4Address), { force: true });
    await rm(join(this.stateDir, 'attachments', `${a.owner}.json`), { force: true });
  }

  private async record(a: Attachment): Promise<void> {
    const dir = join(this.stateDir, 'attachments');
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${a.owner}.json.tmp`);
    await writeFile(tmp, JSON.stringify(a));
    await rename(tmp, join(dir, `${a.owner}.json`));
  }

  /** Takes the first address nobody holds; the exclusive create makes two claimers never share one. */
  private async claimAddress(owner: string): Promise<string> {
    const dir = join(this.stateDir, 'addresses');
    await mkdir(dir, { recursive: true });
    for (const address of taskAddresses(this.subnet)) {
      if (await this.claimFile(join(dir, address), owner)) return address;
    }
    throw new RuntimeError('Exhausted', `no free address left in ${this.cidr} on ${this.bridge}`);
  }

  private portFile(protocol: Protocol, port: number): string {
    return join(this.hostPortsDir, `${protocol}-${port}`);
  }

  private async claimHostPort(owner: string, protocol: Protocol, wanted: number, index: number): Promise<number> {
    await mkdir(this.hostPortsDir, { recursive: true });
    if (wanted !== 0) {
      if (!Number.isInteger(wanted) || wanted < 1 || wanted > 65535) {
        throw new RuntimeError('InvalidSpec', `portMappings[${index}].hostPort: ${wanted} is not a port`);
      }
      if (!(await isFree(wanted, protocol)) || !(await this.claimFile(this.portFile(protocol, wanted), owner))) {
        throw new RuntimeError('Conflict', `host port ${wanted}/${protocol} is already in use`);
      }
      return wanted;
    }
    const [lo, hi] = this.hostPortRange;
    for (let port = lo; port <= hi; port++) {
      if (existsSync(this.portFile(protocol, port)) || !(await isFree(port, protocol))) continue;
      if (await this.claimFile(this.portFile(protocol, port), owner)) return port;
    }
    throw new RuntimeError('Exhausted', `no free ${protocol} host port in ${lo}-${hi}`);
  }

  private async claimFile(file: string, owner: string): Promise<boolean> {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(owner);
      await fh.close();
      return true;
    } catch (err) {
      if (errno(err) === 'EEXIST') return false;
      throw err;
    }
  }
}
