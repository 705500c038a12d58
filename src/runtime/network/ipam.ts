/**
 * Address arithmetic for task networks: a subnet, its gateway (the bridge) and the addresses tasks
 * may get, never the ones AWS reserves in link-local space for instance and task metadata.
 */
import { isIP } from 'node:net';
import { RuntimeError } from '../errors.js';

/** Link-local addresses with a meaning on AWS (instance metadata, the ECS/EKS credential endpoints). */
export const RESERVED_ADDRESSES = ['169.254.169.254', '169.254.169.253', '169.254.169.123', '169.254.170.2', '169.254.170.23'] as const;

/** ECS's own task bridge range (the ecs-bridge of awsvpc task networking on EC2). */
export const DEFAULT_AWSVPC_SUBNET = '169.254.172.0/22';
/** Berth's bridge-mode range, beside the awsvpc one and clear of the reserved addresses. */
export const DEFAULT_BRIDGE_SUBNET = '169.254.176.0/22';

export interface Subnet {
  /** The network address as an unsigned 32-bit number. */
  readonly network: number;
  readonly prefixLength: number;
}

export function ipToNumber(ip: string): number {
  if (isIP(ip) !== 4) throw new RuntimeError('InvalidSpec', `"${ip}" is not an IPv4 address`);
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * @example parseSubnet('169.254.172.0/22') // { network: 2851055616, prefixLength: 22 }
 */
export function parseSubnet(cidr: string): Subnet {
  const [ip = '', bits = '', ...rest] = cidr.split('/');
  const prefixLength = Number(bits);
  if (rest.length || !/^\d+$/.test(bits) || prefixLength < 8 || prefixLength > 30) {
    throw new RuntimeError('InvalidSpec', `subnet "${cidr}" must be an IPv4 CIDR with a prefix from /8 to /30`);
  }
  const network = ipToNumber(ip);
  if (network % 2 ** (32 - prefixLength) !== 0) {
    throw new RuntimeError('InvalidSpec', `subnet "${cidr}" has host bits set (did you mean ${numberToIp(network - (network % 2 ** (32 - prefixLength)))}/${prefixLength}?)`);
  }
  return { network, prefixLength };
}

export function subnetSize(s: Subnet): number {
  return 2 ** (32 - s.prefixLength);
}

/** The bridge's own address: the first after the network address. */
export function gatewayAddress(s: Subnet): string {
  return numberToIp(s.network + 1);
}

export function contains(s: Subnet, ip: string): boolean {
  const n = ipToNumber(ip);
  return n >= s.network && n < s.network + subnetSize(s);
}

/** Addresses a task may get, in order: after the gateway, before broadcast, none of the reserved. */
export function* taskAddresses(s: Subnet): Generator<string> {
  const reserved = new Set<string>(RESERVED_ADDRESSES);
  for (let n = s.network + 2; n < s.network + subnetSize(s) - 1; n++) {
    const ip = numberToIp(n);
    if (!reserved.has(ip)) yield ip;
  }
}
