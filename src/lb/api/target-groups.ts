/**
 * Target groups: HTTP groups of `instance` or `ip` targets with ELBv2's health check defaults and
 * bounds, their attributes (what the data plane honours: deregistration delay, lb_cookie
 * stickiness, algorithm, slow start), and delete refused while a listener or rule forwards to one.
 */
import { BerthError } from '../../protocols/index.js';
import type { Store } from '../../store/index.js';
import { lbKeys } from '../model.js';
import type { Tag, TargetGroupRecord } from '../model.js';
import { newHexId, resourceId, targetGroupArn } from './arns.js';
import { checkFilterLength, loadBalancersByTargetGroup, mustGet, page, readConfig, targetGroupToWire } from './common.js';
import type { ElbContext } from './common.js';
import { LOCAL_VPC_ID, attributeList } from './load-balancers.js';
import { DEFAULT_HEALTH_CHECK, LIMITS, TARGET_GROUP_ATTRIBUTES, applyAttributes, checkName, checkTags, defaultAttributes, resolveHealthCheck } from './rules-check.js';
import type { HealthCheckInput } from './rules-check.js';
import { inTxn } from './txn.js';

const invalid = (message: string) => new BerthError('ValidationException', message);

export interface CreateTargetGroupInput extends HealthCheckInput {
  readonly Name: string;
  readonly Protocol?: string;
  readonly ProtocolVersion?: string;
  readonly Port?: number;
  readonly VpcId?: string;
  readonly TargetType?: string;
  readonly Tags?: readonly Tag[];
  readonly IpAddressType?: string;
}

/** The settings that make two creates of one name the same request (ELBv2 returns the existing group). */
const SAME_SETTINGS = [
  'Protocol',
  'Port',
  'VpcId',
  'TargetType',
  'HealthCheckPort',
  'HealthCheckEnabled',
  'HealthCheckPath',
  'HealthCheckIntervalSeconds',
  'HealthCheckTimeoutSeconds',
  'HealthyThresholdCount',
  'UnhealthyThresholdCount',
] as const;

const targetTypeOf = (t: 'instance' | 'ip'): TargetGroupRecord['TargetType'] => t;

export async function createTargetGroup(store: Store, ctx: ElbContext, input: CreateTargetGroupInput) {
  checkName(input.Name, 'Target group');
  const targetType = input.TargetType ?? 'instance';
  if (targetType !== 'instance' && targetType !== 'ip') throw invalid(`Target type '${targetType}' is not supported: Berth's target groups take 'instance' or 'ip' targets`);
  if (input.Protocol === undefined) throw invalid(`A protocol must be specified for a target group of target type '${targetType}'`);
  if (input.Protocol !== 'HTTP') throw invalid(`Target group protocol '${input.Protocol}' is not supported: Berth's target groups speak HTTP`);
  if (input.Port === undefined) throw invalid(`A port must be specified for a target group of target type '${targetType}'`);
  const protocolVersion = input.ProtocolVersion ?? 'HTTP1';
  if (protocolVersion !== 'HTTP1') throw invalid(`Protocol version '${protocolVersion}' is not supported: Berth's target groups speak HTTP1`);
  const ipAddressType = input.IpAddressType ?? 'ipv4';
  if (ipAddressType !== 'ipv4') throw invalid(`IP address type '${ipAddressType}' is not supported: targets are IPv4`);
  const health = resolveHealthCheck(input, DEFAULT_HEALTH_CHECK);
  const tags = input.Tags ?? [];
  checkTags(tags);
  const record0 = {
    TargetGroupName: input.Name,
    Protocol: 'HTTP' as const,
    Port: input.Port,
    VpcId: input.VpcId ?? LOCAL_VPC_ID,
    ...health,
    TargetType: targetTypeOf(targetType),
    ProtocolVersion: 'HTTP1' as const,
    IpAddressType: 'ipv4' as const,
    Attributes: defaultAttributes(TARGET_GROUP_ATTRIBUTES),
    Tags: tags,
  };
  return inTxn(store, async (tx) => {
    const config = await readConfig(tx);
    const same = config.targetGroups.find((tg) => tg.TargetGroupName === input.Name);
    if (same !== undefined) {
      if (SAME_SETTINGS.every((k) => same[k] === record0[k]) && same.Matcher.HttpCode === record0.Matcher.HttpCode) {
        return { TargetGroups: [targetGroupToWire(same, loadBalancersByTargetGroup(config).get(same.TargetGroupArn))] };
      }
      throw new BerthError('DuplicateTargetGroupNameException', `A target group with the same name '${input.Name}' exists, but with different settings`);
    }
    if (config.targetGroups.length >= LIMITS['target-groups']) throw new BerthError('TooManyTargetGroupsException', `The limit of ${LIMITS['target-groups']} target groups has been reached`);
    const arn = targetGroupArn(ctx, input.Name, newHexId());
    const record: TargetGroupRecord = { TargetGroupArn: arn, ...record0 };
    tx.put(lbKeys.targetGroup(resourceId(arn, 'targetgroup')), record);
    return { TargetGroups: [targetGroupToWire(record, undefined)] };
  });
}

export interface DescribeTargetGroupsInput {
  readonly LoadBalancerArn?: string;
  readonly TargetGroupArns?: readonly string[];
  readonly Names?: readonly string[];
  readonly Marker?: string;
  readonly PageSize?: number;
}

export async function describeTargetGroups(store: Store, _ctx: ElbContext, input: DescribeTargetGroupsInput) {
  checkFilterLength(input.TargetGroupArns, 'TargetGroupArns');
  checkFilterLength(input.Names, 'Names');
  const filters = [input.LoadBalancerArn, input.TargetGroupArns, input.Names].filter((f) => f !== undefined).length;
  if (filters > 1) throw invalid('Specify at most one of LoadBalancerArn, TargetGroupArns and Names');
  for (const arn of input.TargetGroupArns ?? []) resourceId(arn, 'targetgroup');
  return inTxn(store, async (tx) => {
    const config = await readConfig(tx);
    const byTg = loadBalancersByTargetGroup(config);
    let tgs = config.targetGroups;
    if (input.LoadBalancerArn !== undefined) {
      const lb = await mustGet(tx, 'loadbalancer', input.LoadBalancerArn);
      tgs = tgs.filter((tg) => byTg.get(tg.TargetGroupArn)?.has(lb.LoadBalancerArn) === true);
    }
    if (input.Names !== undefined) {
      const names = input.Names;
      const missing = names.filter((n) => !tgs.some((tg) => tg.TargetGroupName === n));
      if (missing.length > 0) throw new BerthError('TargetGroupNotFoundException', `Target groups '[${missing.join(', ')}]' not found`);
      tgs = tgs.filter((tg) => names.includes(tg.TargetGroupName));
    }
    if (input.TargetGroupArns !== undefined) {
      const arns = input.TargetGroupArns;
      const missing = arns.filter((a) => !tgs.some((tg) => tg.TargetGroupArn === a));
      if (missing.length > 0) throw new BerthError('TargetGroupNotFoundException', `Target groups '[${missing.join(', ')}]' not found`);
      tgs = tgs.filter((tg) => arns.includes(tg.TargetGroupArn));
    }
    const { items, NextMarker } = page(tgs, (tg) => tg.TargetGroupArn, input.Marker, input.PageSize);
    return { TargetGroups: items.map((tg) => targetGroupToWire(tg, byTg.get(tg.TargetGroupArn))), NextMarker };
  });
}

export async function modifyTargetGroup(store: Store, _ctx: ElbContext, input: HealthCheckInput & { readonly TargetGroupArn: string }) {
  return inTxn(store, async (tx) => {
    const tg = await mustGet(tx, 'targetgroup', input.TargetGroupArn);
    const next: TargetGroupRecord = { ...tg, ...resolveHealthCheck(input, tg) };
    tx.put(lbKeys.targetGroup(resourceId(tg.TargetGroupArn, 'targetgroup')), next);
    const config = await readConfig(tx);
    return { TargetGroups: [targetGroupToWire(next, loadBalancersByTargetGroup(config).get(tg.TargetGroupArn))] };
  });
}

/**
 * Deletes a target group with its registrations and health. Refused with ResourceInUse while a
 * listener or rule forwards to it; a group that does not exist is deleted already (success).
 */
export async function deleteTargetGroup(store: Store, _ctx: ElbContext, input: { readonly TargetGroupArn: string }) {
  const id = resourceId(input.TargetGroupArn, 'targetgroup');
  return inTxn(store, async (tx) => {
    const tg = await tx.get<TargetGroupRecord>(lbKeys.targetGroup(id));
    if (tg === undefined || tg.TargetGroupArn !== input.TargetGroupArn) return {};
    const users = loadBalancersByTargetGroup(await readConfig(tx)).get(tg.TargetGroupArn);
    if (users !== undefined && users.size > 0) {
      throw new BerthError('ResourceInUseException', `Target group '${tg.TargetGroupArn}' is currently in use by a listener or a rule`);
    }
    tx.delete(lbKeys.targetGroup(id));
    tx.deletePrefix(lbKeys.targets(id));
    tx.deletePrefix(lbKeys.healths(id));
    return {};
  });
}

export async function describeTargetGroupAttributes(store: Store, _ctx: ElbContext, input: { readonly TargetGroupArn: string }) {
  return inTxn(store, async (tx) => ({ Attributes: attributeList((await mustGet(tx, 'targetgroup', input.TargetGroupArn)).Attributes) }));
}

export async function modifyTargetGroupAttributes(
  store: Store,
  _ctx: ElbContext,
  input: { readonly TargetGroupArn: string; readonly Attributes: readonly { Key?: string; Value?: string }[] },
) {
  return inTxn(store, async (tx) => {
    const tg = await mustGet(tx, 'targetgroup', input.TargetGroupArn);
    const attributes = applyAttributes(tg.Attributes, input.Attributes, TARGET_GROUP_ATTRIBUTES, 'Target group');
    tx.put(lbKeys.targetGroup(resourceId(tg.TargetGroupArn, 'targetgroup')), { ...tg, Attributes: attributes });
    return { Attributes: attributeList(attributes) };
  });
}
