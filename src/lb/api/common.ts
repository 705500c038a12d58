/**
 * What the ELBv2 operations share: the calling context, reading the configuration inside a
 * transaction, finding records by ARN (or the precise not-found error), wire forms of records,
 * and Marker/PageSize paging.
 */
import { BerthError } from '../../protocols/index.js';
import type { ErrorCode } from '../../protocols/index.js';
import { lbKeys } from '../model.js';
import type { ListenerRecord, LoadBalancerRecord, RuleRecord, TargetGroupRecord } from '../model.js';
import { defaultRuleArn, resourceId } from './arns.js';
import type { Partition } from './arns.js';
import { forwardedTargetGroups } from './actions.js';
import type { ElbTxn } from './txn.js';

/** Maps an `instance` target's id to the address traffic goes to; undefined when unknown. */
export type ResolveInstance = (instanceId: string) => Promise<{ address: string; availabilityZone?: string } | undefined>;

/**
 * Who and when: the partition ARNs are built in, the request time, and how instance ids resolve
 * (needed only to register `instance` targets).
 */
export interface ElbContext extends Partition {
  readonly now: Date;
  readonly resolveInstance?: ResolveInstance;
}

/** The whole configuration, read inside one transaction (so guarded by the serial). */
export interface Config {
  readonly loadBalancers: readonly LoadBalancerRecord[];
  readonly targetGroups: readonly TargetGroupRecord[];
  readonly listeners: readonly ListenerRecord[];
  readonly rules: readonly RuleRecord[];
}

export async function readConfig(tx: ElbTxn): Promise<Config> {
  const [loadBalancers, targetGroups, listeners, rules] = await Promise.all([
    tx.list<LoadBalancerRecord>(lbKeys.loadBalancers()),
    tx.list<TargetGroupRecord>(lbKeys.targetGroups()),
    tx.list<ListenerRecord>(lbKeys.listeners()),
    tx.list<RuleRecord>(lbKeys.rules()),
  ]);
  return {
    loadBalancers: loadBalancers.map((x) => x.value),
    targetGroups: targetGroups.map((x) => x.value),
    listeners: listeners.map((x) => x.value),
    rules: rules.map((x) => x.value),
  };
}

const NOT_FOUND = {
  loadbalancer: ['LoadBalancerNotFoundException', 'Load balancer'],
  targetgroup: ['TargetGroupNotFoundException', 'Target group'],
  listener: ['ListenerNotFoundException', 'Listener'],
  'listener-rule': ['RuleNotFoundException', 'Rule'],
} as const satisfies Record<string, readonly [ErrorCode, string]>;

export const notFound = (kind: keyof typeof NOT_FOUND, arn: string): BerthError =>
  new BerthError(NOT_FOUND[kind][0], `${NOT_FOUND[kind][1]} '${arn}' not found`);

const ARN_FIELD = { loadbalancer: 'LoadBalancerArn', targetgroup: 'TargetGroupArn', listener: 'ListenerArn', 'listener-rule': 'RuleArn' } as const;
const KEY_OF = { loadbalancer: lbKeys.loadBalancer, targetgroup: lbKeys.targetGroup, listener: lbKeys.listener, 'listener-rule': lbKeys.rule } as const;

interface RecordOf {
  loadbalancer: LoadBalancerRecord;
  targetgroup: TargetGroupRecord;
  listener: ListenerRecord;
  'listener-rule': RuleRecord;
}

/** The store key of an ARN of `kind` (ValidationError if it is no such ARN). */
export const keyOf = (kind: keyof RecordOf, arn: string): string => KEY_OF[kind](resourceId(arn, kind));

/**
 * Reads the record an ARN names, guarding the transaction on it; the kind's not-found error if
 * there is none (or the ARN is of another region or account).
 */
export async function mustGet<K extends keyof RecordOf>(tx: ElbTxn, kind: K, arn: string): Promise<RecordOf[K]> {
  const record = await tx.get<RecordOf[K]>(keyOf(kind, arn));
  if (record === undefined || (record as unknown as Record<string, string>)[ARN_FIELD[kind]] !== arn) throw notFound(kind, arn);
  return record;
}

/** Load balancer ARNs that forward to each target group, through listeners and rules. */
export function loadBalancersByTargetGroup(config: Config): Map<string, Set<string>> {
  const lbOfListener = new Map(config.listeners.map((l) => [l.ListenerArn, l.LoadBalancerArn]));
  const out = new Map<string, Set<string>>();
  const add = (tg: string, lb: string | undefined) => {
    if (lb === undefined) return;
    let set = out.get(tg);
    if (set === undefined) out.set(tg, (set = new Set()));
    set.add(lb);
  };
  for (const l of config.listeners) for (const tg of forwardedTargetGroups(l.DefaultActions)) add(tg, l.LoadBalancerArn);
  for (const r of config.rules) for (const tg of forwardedTargetGroups(r.Actions)) add(tg, lbOfListener.get(r.ListenerArn));
  return out;
}

export const loadBalancerToWire = (lb: LoadBalancerRecord) => ({
  LoadBalancerArn: lb.LoadBalancerArn,
  DNSName: lb.DNSName,
  CanonicalHostedZoneId: lb.CanonicalHostedZoneId,
  CreatedTime: new Date(lb.CreatedTime),
  LoadBalancerName: lb.LoadBalancerName,
  Scheme: lb.Scheme,
  VpcId: lb.VpcId,
  State: lb.State,
  Type: lb.Type,
  AvailabilityZones: lb.AvailabilityZones,
  SecurityGroups: lb.SecurityGroups,
  IpAddressType: lb.IpAddressType,
});

export const targetGroupToWire = (tg: TargetGroupRecord, loadBalancerArns: ReadonlySet<string> | undefined) => ({
  TargetGroupArn: tg.TargetGroupArn,
  TargetGroupName: tg.TargetGroupName,
  Protocol: tg.Protocol,
  Port: tg.Port,
  VpcId: tg.VpcId,
  HealthCheckProtocol: tg.HealthCheckProtocol,
  HealthCheckPort: tg.HealthCheckPort,
  HealthCheckEnabled: tg.HealthCheckEnabled,
  HealthCheckIntervalSeconds: tg.HealthCheckIntervalSeconds,
  HealthCheckTimeoutSeconds: tg.HealthCheckTimeoutSeconds,
  HealthyThresholdCount: tg.HealthyThresholdCount,
  UnhealthyThresholdCount: tg.UnhealthyThresholdCount,
  HealthCheckPath: tg.HealthCheckPath,
  Matcher: tg.Matcher,
  LoadBalancerArns: [...(loadBalancerArns ?? [])].sort(),
  TargetType: tg.TargetType,
  ProtocolVersion: tg.ProtocolVersion,
  IpAddressType: tg.IpAddressType,
});

export const listenerToWire = (l: ListenerRecord) => ({
  ListenerArn: l.ListenerArn,
  LoadBalancerArn: l.LoadBalancerArn,
  Port: l.Port,
  Protocol: l.Protocol,
  DefaultActions: l.DefaultActions,
});

export const ruleToWire = (r: Pick<RuleRecord, 'RuleArn' | 'Priority' | 'Conditions' | 'Actions'> & { readonly IsDefault: boolean }) => ({
  RuleArn: r.RuleArn,
  Priority: r.Priority,
  Conditions: r.Conditions,
  Actions: r.Actions,
  IsDefault: r.IsDefault,
});

/** A listener's default rule as DescribeRules shows it: built from DefaultActions, never stored. */
export const defaultRule = (l: ListenerRecord) => ruleToWire({ RuleArn: defaultRuleArn(l.ListenerArn), Priority: 'default', Conditions: [], Actions: l.DefaultActions, IsDefault: true });

/**
 * One page of `items` after `marker` (an opaque token from an earlier page's NextMarker).
 *
 * @example page(records, (r) => r.LoadBalancerArn, input.Marker, input.PageSize)
 */
export function page<T>(items: readonly T[], idOf: (item: T) => string, marker: string | undefined, pageSize: number | undefined): { items: T[]; NextMarker?: string } {
  let start = 0;
  if (marker !== undefined) {
    const after = Buffer.from(marker, 'base64url').toString('utf8');
    const index = items.findIndex((item) => idOf(item) === after);
    if (marker === '' || index < 0) throw new BerthError('ValidationException', `Marker '${marker}' is not valid: pass the NextMarker of an earlier page of the same request`);
    start = index + 1;
  }
  const size = pageSize ?? 400;
  const slice = items.slice(start, start + size);
  const more = start + size < items.length;
  return { items: slice, ...(more && slice.length > 0 && { NextMarker: Buffer.from(idOf(slice.at(-1)!), 'utf8').toString('base64url') }) };
}

/** Refuses a filter list longer than ELBv2 takes (20 names or ARNs per Describe call). */
export function checkFilterLength(values: readonly string[] | undefined, field: string, max = 20): void {
  if (values !== undefined && values.length > max) throw new BerthError('ValidationException', `'${field}' can have at most ${max} members; ${values.length} were given`);
}
