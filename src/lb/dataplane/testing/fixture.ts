/**
 * Model records for data-plane tests, shaped as the ELBv2 API stores them, and a writer that puts
 * them into a Store — so the data plane is tested without the API.
 *
 * @example
 * const m = lbFixture();
 * const tg = m.targetGroup('web', { HealthCheckPath: '/health' });
 * const lb = m.loadBalancer('front');
 * m.listener(lb, 8080, [forward(tg)]);
 * await m.write(store);
 */
import type { Store } from '../../../store/store.js';
import {
  lbIdOf,
  lbKeys,
  type ActionRecord,
  type ListenerRecord,
  type LoadBalancerRecord,
  type RuleConditionRecord,
  type RuleRecord,
  type TargetGroupRecord,
  type TargetRecord,
} from '../../model.js';
import { arnResourceId } from '../haproxy-syntax.js';

const PREFIX = 'arn:aws:elasticloadbalancing:us-east-1:000000000000';
let counter = 0;
const hex = () => (0x1000000000000000n + BigInt(++counter)).toString(16);

export function loadBalancerRecord(name: string, attributes: Record<string, string> = {}): LoadBalancerRecord {
  return {
    LoadBalancerArn: `${PREFIX}:loadbalancer/app/${name}/${hex()}`,
    DNSName: `${name}.elb.localhost`,
    CanonicalHostedZoneId: 'Z35SXDOTRQ7X7K',
    CreatedTime: 0,
    LoadBalancerName: name,
    Scheme: 'internet-facing',
    VpcId: 'vpc-berth',
    State: { Code: 'active' },
    Type: 'application',
    AvailabilityZones: [],
    SecurityGroups: [],
    IpAddressType: 'ipv4',
    Attributes: { 'idle_timeout.timeout_seconds': '60', ...attributes },
    Tags: [],
  };
}

export function targetGroupRecord(name: string, fields: Partial<Omit<TargetGroupRecord, 'Attributes'>> = {}, attributes: Record<string, string> = {}): TargetGroupRecord {
  return {
    TargetGroupArn: `${PREFIX}:targetgroup/${name}/${hex()}`,
    TargetGroupName: name,
    Protocol: 'HTTP',
    Port: 80,
    VpcId: 'vpc-berth',
    HealthCheckProtocol: 'HTTP',
    HealthCheckPort: 'traffic-port',
    HealthCheckEnabled: true,
    HealthCheckIntervalSeconds: 30,
    HealthCheckTimeoutSeconds: 5,
    HealthyThresholdCount: 5,
    UnhealthyThresholdCount: 2,
    HealthCheckPath: '/',
    Matcher: { HttpCode: '200' },
    TargetType: 'ip',
    ProtocolVersion: 'HTTP1',
    IpAddressType: 'ipv4',
    Tags: [],
    ...fields,
    Attributes: {
      'deregistration_delay.timeout_seconds': '300',
      'stickiness.enabled': 'false',
      'stickiness.type': 'lb_cookie',
      'stickiness.lb_cookie.duration_seconds': '86400',
      'load_balancing.algorithm.type': 'round_robin',
      'slow_start.duration_seconds': '0',
      ...attributes,
    },
  };
}

export const forward = (...groups: (TargetGroupRecord | [TargetGroupRecord, number])[]): ActionRecord => ({
  Type: 'forward',
  ForwardConfig: { TargetGroups: groups.map((g) => (Array.isArray(g) ? { TargetGroupArn: g[0].TargetGroupArn, Weight: g[1] } : { TargetGroupArn: g.TargetGroupArn, Weight: 1 })) },
});

/** A weighted forward with target-group stickiness (the AWSALBTG cookie) for `seconds`. */
export const stickyForward = (seconds: number, ...groups: [TargetGroupRecord, number][]): ActionRecord => ({
  Type: 'forward',
  ForwardConfig: { ...forward(...groups).ForwardConfig!, TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: seconds } },
});

export const fixedResponse = (StatusCode: string, MessageBody?: string, ContentType?: string): ActionRecord => ({
  Type: 'fixed-response',
  FixedResponseConfig: { StatusCode, ...(MessageBody !== undefined && { MessageBody }), ...(ContentType !== undefined && { ContentType }) },
});

export const redirect = (config: Omit<NonNullable<ActionRecord['RedirectConfig']>, 'StatusCode'> & { StatusCode?: 'HTTP_301' | 'HTTP_302' }): ActionRecord => ({
  Type: 'redirect',
  RedirectConfig: { StatusCode: 'HTTP_301', ...config },
});

export const pathIs = (...Values: string[]): RuleConditionRecord => ({ Field: 'path-pattern', PathPatternConfig: { Values } });
export const hostIs = (...Values: string[]): RuleConditionRecord => ({ Field: 'host-header', HostHeaderConfig: { Values } });
export const headerIs = (HttpHeaderName: string, ...Values: string[]): RuleConditionRecord => ({ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName, Values } });
export const queryIs = (...Values: { Key?: string; Value: string }[]): RuleConditionRecord => ({ Field: 'query-string', QueryStringConfig: { Values } });
export const methodIs = (...Values: string[]): RuleConditionRecord => ({ Field: 'http-request-method', HttpRequestMethodConfig: { Values } });
export const sourceIs = (...Values: string[]): RuleConditionRecord => ({ Field: 'source-ip', SourceIpConfig: { Values } });

export function listenerRecord(lb: LoadBalancerRecord, port: number, defaultActions: readonly ActionRecord[]): ListenerRecord {
  return {
    ListenerArn: `${PREFIX}:listener/${arnResourceId(lb.LoadBalancerArn).replace(/^loadbalancer\//, '')}/${hex()}`,
    LoadBalancerArn: lb.LoadBalancerArn,
    Port: port,
    Protocol: 'HTTP',
    DefaultActions: defaultActions,
    Tags: [],
  };
}

export function ruleRecord(listener: ListenerRecord, priority: number, conditions: readonly RuleConditionRecord[], actions: readonly ActionRecord[]): RuleRecord {
  return {
    RuleArn: `${listener.ListenerArn.replace(':listener/', ':listener-rule/')}/${hex()}`,
    ListenerArn: listener.ListenerArn,
    Priority: String(priority),
    Conditions: conditions,
    Actions: actions,
    IsDefault: false,
    Tags: [],
  };
}

export function targetRecord(tg: TargetGroupRecord, address: string, port: number, fields: Partial<TargetRecord> = {}): TargetRecord {
  return { TargetGroupArn: tg.TargetGroupArn, Id: address, Port: port, Address: address, State: 'registered', RegisteredAt: 0, ...fields };
}

/** Records are keyed as the API keys them. */
const id = (arn: string) => lbIdOf(arn);

/** Store writes for records, one key each, as the API keys them. */
export async function writeRecords(store: Store, ...records: (LoadBalancerRecord | ListenerRecord | RuleRecord | TargetGroupRecord | TargetRecord)[]): Promise<void> {
  await store.txn([], records.map((r) => ({ type: 'put' as const, key: keyOf(r), value: JSON.stringify(r) })));
}

export async function deleteRecords(store: Store, ...records: (LoadBalancerRecord | ListenerRecord | RuleRecord | TargetGroupRecord | TargetRecord)[]): Promise<void> {
  await store.txn([], records.map((r) => ({ type: 'delete' as const, key: keyOf(r) })));
}

export function keyOf(r: LoadBalancerRecord | ListenerRecord | RuleRecord | TargetGroupRecord | TargetRecord): string {
  if ('RuleArn' in r) return lbKeys.rule(id(r.RuleArn));
  if ('ListenerArn' in r) return lbKeys.listener(id(r.ListenerArn));
  if ('Address' in r) return lbKeys.target(id(r.TargetGroupArn), r.Id, r.Port);
  if ('TargetGroupName' in r) return lbKeys.targetGroup(id(r.TargetGroupArn));
  return lbKeys.loadBalancer(id(r.LoadBalancerArn));
}

