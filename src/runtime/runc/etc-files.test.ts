/**
 * The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, for each network mode.
 */
import { describe, expect, it } from 'vitest';
import type { ContainerSpec } from '../driver.js';
import { isRuntimeError } from '../errors.js';
import { etcFiles } from './etc-files.js';

const host = {
  hosts: '127.0.0.1 localhost\n10.9.9.9 buildhost\n',
  resolvConf: '# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0 trust-ad\n',
  hostname: 'buildhost',
};
const base: ContainerSpec = { id: 'web-1', rootfs: '/r', network: { mode: 'none' } };

function invalidField(over: Partial<ContainerSpec>): string {
  try {
    etcFiles({ ...base, ...over }, 'web-1', host);
  } catch (err) {
    if (isRuntimeError(err, 'InvalidSpec')) return err.message.split(':')[0]!;
    throw err;
  }
  throw new Error('expected InvalidSpec');
}

describe('etcFiles', () => {
  it("writes Docker's local names, the container's address and name, and extraHosts", () => {
    const f = etcFiles({ ...base, network: { mode: 'netns', path: '/run/netns/t', ipv4Address: '169.254.172.5' }, extraHosts: [{ hostname: 'db', ipAddress: '10.1.1.1' }, { hostname: 'v6', ipAddress: 'fd00::1' }] }, 'web-1', host);
    expect(f.hosts.split('\n')).toEqual([
      '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix',
      'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters', '169.254.172.5\tweb-1', '10.1.1.1\tdb', 'fd00::1\tv6', '',
    ]);
    expect(f.hostname).toBe('web-1\n');
  });

  it("starts from the host's files in host mode, with the host's name when none is given", () => {
    const f = etcFiles({ ...base, network: { mode: 'host' }, extraHosts: [{ hostname: 'db', ipAddress: '10.1.1.1' }] }, undefined, host);
    expect(f.hosts).toBe('127.0.0.1 localhost\n10.9.9.9 buildhost\n10.1.1.1\tdb\n');
    expect(f.hostname).toBe('buildhost\n');
    expect(f.resolvConf).toBe('nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0 trust-ad\n');
  });

  it("drops the host's loopback resolvers in a namespace of its own, falling back to Docker's", () => {
    expect(etcFiles(base, 'web-1', host).resolvConf).toBe('nameserver 10.0.0.2\nsearch corp.example\noptions edns0 trust-ad\n');
    expect(etcFiles(base, 'web-1', { ...host, resolvConf: 'nameserver 127.0.0.53\n' }).resolvConf).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });

  it('uses dnsServers and dnsSearchDomains when given, loopback ones too', () => {
    expect(etcFiles({ ...base, dnsServers: ['127.0.0.11', '10.0.0.9'], dnsSearchDomains: ['svc.local', 'local'] }, 'web-1', host).resolvConf)
      .toBe('nameserver 127.0.0.11\nnameserver 10.0.0.9\nsearch svc.local local\noptions edns0 trust-ad\n');
  });

  it('refuses addresses and names that would break the files', () => {
    expect(invalidField({ extraHosts: [{ hostname: 'db', ipAddress: 'not-an-ip' }] })).toBe('extraHosts[0].ipAddress');
    expect(invalidField({ extraHosts: [{ hostname: 'a b', ipAddress: '10.0.0.1' }] })).toBe('extraHosts[0].hostname');
    expect(invalidField({ extraHosts: [{ hostname: '', ipAddress: '10.0.0.1' }] })).toBe('extraHosts[0].hostname');
    expect(invalidField({ dnsServers: ['dns.example'] })).toBe('dnsServers[0]');
    expect(invalidField({ dnsSearchDomains: ['a b'] })).toBe('dnsSearchDomains[0]');
    expect(invalidField({ network: { mode: 'netns', path: '/n', ipv4Address: 'fd00::1' } })).toBe('network.ipv4Address');
  });
});
