/**
 * The content of a container's own /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker writes
 * them. Pure: the host's files come in as text.
 */
import { isIP } from 'node:net';
import type { ContainerSpec } from '../driver.js';
import { invalidSpec } from '../errors.js';

/** The host facts the files start from. */
export interface HostNameFacts {
  /** The host's /etc/hosts (host network mode starts from it). */
  readonly hosts: string;
  /** The host's /etc/resolv.conf. */
  readonly resolvConf: string;
  /** The host's hostname (host network mode without a hostname). */
  readonly hostname: string;
}

export interface EtcFiles { readonly hosts: string; readonly hostname: string; readonly resolvConf: string }

const LOCAL_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/** Docker's fallback when the host only names resolvers on its own loopback, unreachable from a netns. */
const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

/**
 * @example etcFiles({ id: 'web', ..., extraHosts: [{ hostname: 'db', ipAddress: '10.0.0.5' }] }, 'web', host)
 *   .hosts // '127.0.0.1\tlocalhost\n…\n10.0.0.5\tdb\n'
 */
export function etcFiles(spec: ContainerSpec, hostname: string | undefined, host: HostNameFacts): EtcFiles {
  const hostMode = spec.network.mode === 'host';
  const lines = hostMode ? host.hosts.replace(/\n+$/, '').split('\n') : [...LOCAL_HOSTS];
  if (spec.network.mode === 'netns' && spec.network.ipv4Address !== undefined && hostname !== undefined) {
    if (isIP(spec.network.ipv4Address) !== 4) throw invalidSpec('network.ipv4Address', `"${spec.network.ipv4Address}" is not an IPv4 address`);
    lines.push(`${spec.network.ipv4Address}\t${hostname}`);
  }
  for (const [i, h] of (spec.extraHosts ?? []).entries()) {
    if (isIP(h.ipAddress) === 0) throw invalidSpec(`extraHosts[${i}].ipAddress`, `"${h.ipAddress}" is not an IP address`);
    if (h.hostname === '' || /[\s#]/.test(h.hostname)) {
      throw invalidSpec(`extraHosts[${i}].hostname`, `"${h.hostname}" must be non-empty, without spaces or '#'`);
    }
    lines.push(`${h.ipAddress}\t${h.hostname}`);
  }
  return {
    hosts: `${lines.join('\n')}\n`,
    hostname: `${hostname ?? host.hostname}\n`,
    resolvConf: resolvConf(spec, host.resolvConf),
  };
}

function resolvConf(spec: ContainerSpec, hostResolv: string): string {
  for (const [i, s] of (spec.dnsServers ?? []).entries()) {
    if (isIP(s) === 0) throw invalidSpec(`dnsServers[${i}]`, `"${s}" is not an IP address`);
  }
  for (const [i, d] of (spec.dnsSearchDomains ?? []).entries()) {
    if (d === '' || /\s/.test(d)) throw invalidSpec(`dnsSearchDomains[${i}]`, `"${d}" must be a domain without spaces`);
  }
  const hostLines = hostResolv.split('\n').map((l) => l.trim());
  const hostServers = hostLines.filter((l) => /^nameserver\s/.test(l)).map((l) => l.split(/\s+/)[1] ?? '');
  const loopback = (ip: string): boolean => ip.startsWith('127.') || ip === '::1';
  let servers = spec.dnsServers ? [...spec.dnsServers] : hostServers;
  if (!spec.dnsServers && spec.network.mode !== 'host') {
    // The host's loopback is not the container's: drop such resolvers, as Docker does.
    servers = servers.filter((s) => !loopback(s));
    if (servers.length === 0) servers = [...FALLBACK_NAMESERVERS];
  }
  const search = spec.dnsSearchDomains
    ? [...spec.dnsSearchDomains]
    : hostLines.filter((l) => /^search\s/.test(l)).flatMap((l) => l.split(/\s+/).slice(1));
  const options = hostLines.filter((l) => /^options\s/.test(l));
  const out = [...servers.map((s) => `nameserver ${s}`)];
  if (search.length) out.push(`search ${search.join(' ')}`);
  out.push(...options);
  return `${out.join('\n')}\n`;
}
