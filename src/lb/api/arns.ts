/**
 * ELBv2 ARNs: built from names and random 16-hex ids, and read back into the store ids model.ts
 * keys by (the ARN's resource part after its type: `app/web/50dc6c495c0c9188`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { BerthError } from '../../protocols/index.js';

export interface Partition {
  readonly region: string;
  readonly accountId: string;
}

export type ResourceKind = 'loadbalancer' | 'targetgroup' | 'listener' | 'listener-rule';

/** How each kind's resource part looks after `<kind>/`. */
const RESOURCE_PATTERNS: Readonly<Record<ResourceKind, RegExp>> = {
  loadbalancer: /^app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
  targetgroup: /^[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
  listener: /^app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}\/[0-9a-f]{16}$/,
  'listener-rule': /^app\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}\/[0-9a-f]{16}\/[0-9a-f]{16}$/,
};

const KIND_WORDS: Readonly<Record<ResourceKind, string>> = {
  loadbalancer: 'load balancer',
  targetgroup: 'target group',
  listener: 'listener',
  'listener-rule': 'rule',
};

/** A fresh 16-hex-digit id, as AWS's. */
export const newHexId = (): string => randomBytes(8).toString('hex');

export const arnPrefix = (p: Partition): string => `arn:aws:elasticloadbalancing:${p.region}:${p.accountId}:`;

export const loadBalancerArn = (p: Partition, name: string, hex: string) => `${arnPrefix(p)}loadbalancer/app/${name}/${hex}`;
export const targetGroupArn = (p: Partition, name: string, hex: string) => `${arnPrefix(p)}targetgroup/${name}/${hex}`;
/** A listener's ARN continues its load balancer's: listener/app/<lb>/<lb hex>/<hex>. */
export const listenerArn = (lbArn: string, hex: string) => `${lbArn.replace(':loadbalancer/', ':listener/')}/${hex}`;
export const ruleArn = (lnArn: string, hex: string) => `${lnArn.replace(':listener/', ':listener-rule/')}/${hex}`;

/**
 * The listener's default rule is not stored: its ARN is derived from the listener's, so it is the
 * same on every call and on every server.
 */
export const defaultRuleArn = (lnArn: string): string => ruleArn(lnArn, createHash('sha256').update(`default-rule ${lnArn}`).digest('hex').slice(0, 16));

/** The kind of an ELBv2 ARN of this partition, or undefined if it is none of Berth's. */
export function arnKind(arn: string, p: Partition): ResourceKind | undefined {
  const prefix = arnPrefix(p);
  if (!arn.startsWith(prefix)) return undefined;
  const rest = arn.slice(prefix.length);
  const slash = rest.indexOf('/');
  const kind = rest.slice(0, slash) as ResourceKind;
  return Object.hasOwn(RESOURCE_PATTERNS, kind) && RESOURCE_PATTERNS[kind].test(rest.slice(slash + 1)) ? kind : undefined;
}

/**
 * The store id of an ARN of `kind`. A string that is not such an ARN is refused with
 * ValidationError, as ELBv2 does ("'x' is not a valid load balancer ARN"); an ARN of another
 * region or account is well formed but names nothing here (the caller reports not found).
 *
 * @example resourceId('arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef', 'targetgroup') // 'web/0123456789abcdef'
 */
export function resourceId(arn: string, kind: ResourceKind): string {
  const m = /^arn:aws:elasticloadbalancing:[a-z0-9-]+:\d{12}:([a-z-]+)\/(.+)$/.exec(arn);
  if (m === null || m[1] !== kind || !RESOURCE_PATTERNS[kind].test(m[2]!)) {
    throw new BerthError('ValidationException', `'${arn}' is not a valid ${KIND_WORDS[kind]} ARN`);
  }
  return m[2]!;
}

/** The load balancer ARN a listener or rule ARN belongs to. */
export function loadBalancerArnOf(arn: string): string {
  const m = /^(arn:aws:elasticloadbalancing:[^:]+:[^:]+:)(?:listener|listener-rule)\/(app\/[^/]+\/[0-9a-f]{16})/.exec(arn);
  if (m === null) throw new Error(`not a listener or rule ARN: ${arn}`);
  return `${m[1]}loadbalancer/${m[2]}`;
}
