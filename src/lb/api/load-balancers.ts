/**
 * Load balancers: application load balancers that share this host's address (each listener is a
 * port on it), with ELBv2's name rules, idempotent create, attributes and cascading delete.
 */
import { BerthError } from '../../protocols/index.js';
import type { Store } from '../../store/index.js';
import { lbKeys } from '../model.js';
import type { LoadBalancerRecord, Tag } from '../model.js';
import { loadBalancerArn, newHexId, resourceId } from './arns.js';
import { checkFilterLength, loadBalancerToWire, mustGet, page, readConfig } from './common.js';
import type { ElbContext } from './common.js';
import { LIMITS, LOAD_BALANCER_ATTRIBUTES, applyAttributes, checkName, checkTags, defaultAttributes } from './rules-check.js';
import { inTxn } from './txn.js';

/** There is no VPC, subnet or hosted zone behind a Berth load balancer: these say so. */
export const LOCAL_VPC_ID = 'vpc-berth-local';
export const LOCAL_SUBNET_ID = 'subnet-berth-local';
export const LOCAL_HOSTED_ZONE_ID = 'ZBERTHLOCAL';

export interface CreateLoadBalancerInput {
  readonly Name: string;
  readonly Subnets?: readonly string[];
  readonly SecurityGroups?: readonly string[];
  readonly Scheme?: 'internet-facing' | 'internal';
  readonly Tags?: readonly Tag[];
  readonly Type?: string;
  readonly IpAddressType?: string;
}

export async function createLoadBalancer(store: Store, ctx: ElbContext, input: CreateLoadBalancerInput) {
  const type = input.Type ?? 'application';
  if (type !== 'application') throw new BerthError('ValidationException', `Load balancer type '${type}' is not supported: Berth serves application load balancers (Type application)`);
  checkName(input.Name, 'Load balancer');
  const ipAddressType = input.IpAddressType ?? 'ipv4';
  if (ipAddressType !== 'ipv4') throw new BerthError('ValidationException', `IP address type '${ipAddressType}' is not supported: Berth's load balancers listen on IPv4`);
  const tags = input.Tags ?? [];
  checkTags(tags);
  const scheme = input.Scheme ?? 'internet-facing';
  const subnets = input.Subnets ?? [];
  const securityGroups = input.SecurityGroups ?? [];
  return inTxn(store, async (tx) => {
    const config = await readConfig(tx);
    const same = config.loadBalancers.find((lb) => lb.LoadBalancerName === input.Name);
    if (same !== undefined) {
      // ELBv2: creating a load balancer again with the same settings returns the existing one.
      if (same.Scheme === scheme && same.IpAddressType === ipAddressType) return { LoadBalancers: [loadBalancerToWire(same)] };
      throw new BerthError('DuplicateLoadBalancerNameException', `A load balancer with the name '${input.Name}' already exists`);
    }
    if (config.loadBalancers.length >= LIMITS['application-load-balancers']) {
      throw new BerthError('TooManyLoadBalancersException', `The limit of ${LIMITS['application-load-balancers']} load balancers has been reached`);
    }
    const hex = newHexId();
    const arn = loadBalancerArn(ctx, input.Name, hex);
    const digits = String(parseInt(hex.slice(0, 8), 16)).padStart(10, '0');
    const record: LoadBalancerRecord = {
      LoadBalancerArn: arn,
      DNSName: `${scheme === 'internal' ? 'internal-' : ''}${input.Name}-${digits}.${ctx.region}.elb.localhost`,
      CanonicalHostedZoneId: LOCAL_HOSTED_ZONE_ID,
      CreatedTime: ctx.now.getTime(),
      LoadBalancerName: input.Name,
      Scheme: scheme,
      VpcId: LOCAL_VPC_ID,
      // Nothing to provision: the listeners are ports on this host, opened when they are created.
      State: { Code: 'active' },
      Type: 'application',
      AvailabilityZones: (subnets.length > 0 ? subnets : [LOCAL_SUBNET_ID]).map((SubnetId, i) => ({ ZoneName: `${ctx.region}${'abcdef'[i % 6]}`, SubnetId })),
      SecurityGroups: securityGroups,
      IpAddressType: 'ipv4',
      Attributes: defaultAttributes(LOAD_BALANCER_ATTRIBUTES),
      Tags: tags,
    };
    tx.put(lbKeys.loadBalancer(resourceId(arn, 'loadbalancer')), record);
    return { LoadBalancers: [loadBalancerToWire(record)] };
  });
}

export interface DescribeLoadBalancersInput {
  readonly LoadBalancerArns?: readonly string[];
  readonly Names?: readonly string[];
  readonly Marker?: string;
  readonly PageSize?: number;
}

export async function describeLoadBalancers(store: Store, _ctx: ElbContext, input: DescribeLoadBalancersInput) {
  checkFilterLength(input.LoadBalancerArns, 'LoadBalancerArns');
  checkFilterLength(input.Names, 'Names');
  if (input.LoadBalancerArns !== undefined && input.Names !== undefined) {
    throw new BerthError('ValidationException', 'Load balancer names and load balancer ARNs cannot be specified at the same time');
  }
  for (const arn of input.LoadBalancerArns ?? []) resourceId(arn, 'loadbalancer');
  return inTxn(store, async (tx) => {
    let lbs = (await readConfig(tx)).loadBalancers;
    if (input.Names !== undefined) {
      const names = input.Names;
      const missing = names.filter((n) => !lbs.some((lb) => lb.LoadBalancerName === n));
      if (missing.length > 0) throw new BerthError('LoadBalancerNotFoundException', `Load balancers '[${missing.join(', ')}]' not found`);
      lbs = lbs.filter((lb) => names.includes(lb.LoadBalancerName));
    }
    if (input.LoadBalancerArns !== undefined) {
      const arns = input.LoadBalancerArns;
      const missing = arns.filter((a) => !lbs.some((lb) => lb.LoadBalancerArn === a));
      if (missing.length > 0) throw new BerthError('LoadBalancerNotFoundException', `Load balancers '[${missing.join(', ')}]' not found`);
      lbs = lbs.filter((lb) => arns.includes(lb.LoadBalancerArn));
    }
    const { items, NextMarker } = page(lbs, (lb) => lb.LoadBalancerArn, input.Marker, input.PageSize);
    return { LoadBalancers: items.map(loadBalancerToWire), NextMarker };
  });
}

/**
 * Deletes a load balancer with its listeners and their rules (its target groups stay). Deleting
 * one that does not exist succeeds, as in ELBv2; deletion protection refuses.
 */
export async function deleteLoadBalancer(store: Store, _ctx: ElbContext, input: { readonly LoadBalancerArn: string }) {
  const key = lbKeys.loadBalancer(resourceId(input.LoadBalancerArn, 'loadbalancer'));
  return inTxn(store, async (tx) => {
    const lb = await tx.get<LoadBalancerRecord>(key);
    if (lb === undefined || lb.LoadBalancerArn !== input.LoadBalancerArn) return {};
    if (lb.Attributes['deletion_protection.enabled'] === 'true') {
      throw new BerthError('OperationNotPermittedException', `Load balancer '${lb.LoadBalancerArn}' cannot be deleted because deletion protection is enabled`);
    }
    const config = await readConfig(tx);
    const listeners = config.listeners.filter((l) => l.LoadBalancerArn === lb.LoadBalancerArn);
    const listenerArns = new Set(listeners.map((l) => l.ListenerArn));
    for (const r of config.rules) if (listenerArns.has(r.ListenerArn)) tx.delete(lbKeys.rule(resourceId(r.RuleArn, 'listener-rule')));
    for (const l of listeners) tx.delete(lbKeys.listener(resourceId(l.ListenerArn, 'listener')));
    tx.delete(key);
    return {};
  });
}

const attributeList = (attributes: Readonly<Record<string, string>>) => Object.entries(attributes).map(([Key, Value]) => ({ Key, Value }));

export async function describeLoadBalancerAttributes(store: Store, _ctx: ElbContext, input: { readonly LoadBalancerArn: string }) {
  return inTxn(store, async (tx) => ({ Attributes: attributeList((await mustGet(tx, 'loadbalancer', input.LoadBalancerArn)).Attributes) }));
}

export async function modifyLoadBalancerAttributes(
  store: Store,
  _ctx: ElbContext,
  input: { readonly LoadBalancerArn: string; readonly Attributes: readonly { Key?: string; Value?: string }[] },
) {
  return inTxn(store, async (tx) => {
    const lb = await mustGet(tx, 'loadbalancer', input.LoadBalancerArn);
    const attributes = applyAttributes(lb.Attributes, input.Attributes, LOAD_BALANCER_ATTRIBUTES, 'Load balancer');
    tx.put(lbKeys.loadBalancer(resourceId(lb.LoadBalancerArn, 'loadbalancer')), { ...lb, Attributes: attributes });
    return { Attributes: attributeList(attributes) };
  });
}

export { attributeList };
