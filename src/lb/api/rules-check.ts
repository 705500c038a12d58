/**
 * ELBv2's rules for names, tags, health checks and attributes: pure functions that read a decoded
 * request and return what to store, or throw the error ELBv2 gives (a ValidationError naming the
 * field and the rule, unless ELBv2 has a more particular code).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { BerthError } from '../../protocols/index.js';
import type { Tag, TargetGroupRecord } from '../model.js';

const invalid = (message: string) => new BerthError('ValidationException', message);

/** Account-wide limits, as DescribeAccountLimits reports them (AWS's defaults for ALBs). */
export const LIMITS = {
  'application-load-balancers': 50,
  'target-groups': 3000,
  'targets-per-application-load-balancer': 1000,
  'listeners-per-application-load-balancer': 50,
  'rules-per-application-load-balancer': 100,
  'target-groups-per-action-on-application-load-balancer': 5,
  'target-groups-per-application-load-balancer': 100,
  'condition-values-per-alb-rule': 5,
  'condition-wildcards-per-alb-rule': 5,
  'targets-per-target-group': 1000,
  'tags-per-resource': 50,
} as const;

/**
 * Load balancer and target group names: 1-32 alphanumerics and hyphens, not starting or ending
 * with a hyphen; a load balancer's may not start with "internal-" (AWS keeps that prefix for
 * DNS names of internal load balancers).
 */
export function checkName(name: string, what: 'Load balancer' | 'Target group'): void {
  if (name.length === 0) throw invalid(`${what} name cannot be empty`);
  if (name.length > 32) throw invalid(`${what} name '${name}' cannot be longer than '32' characters`);
  if (!/^[A-Za-z0-9-]+$/.test(name)) throw invalid(`${what} name '${name}' can only contain characters that are alphanumeric characters or hyphens(-)`);
  if (name.startsWith('-') || name.endsWith('-')) throw invalid(`${what} name '${name}' cannot begin or end with '-' character`);
  if (what === 'Load balancer' && name.toLowerCase().startsWith('internal-')) throw invalid(`Load balancer name '${name}' cannot begin with 'internal-'`);
}

const TAG_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const MAX_TAGS = LIMITS['tags-per-resource'];

/** Checks tags as given in one request: key and value lengths and characters, no duplicates, no aws: keys. */
export function checkTags(tags: readonly Tag[], field = 'Tags'): void {
  const seen = new Set<string>();
  for (const [i, tag] of tags.entries()) {
    const where = `${field}.member.${i + 1}`;
    if (tag.Key.length < 1 || tag.Key.length > 128) throw invalid(`Tag key at '${where}.Key' must be 1 to 128 characters long`);
    if (!TAG_PATTERN.test(tag.Key)) throw invalid(`Tag key '${tag.Key}' at '${where}.Key' may contain only letters, digits, spaces and _ . : / = + - @`);
    if (tag.Key.toLowerCase().startsWith('aws:')) throw invalid(`Tag key '${tag.Key}': keys starting with 'aws:' are reserved for AWS`);
    if (tag.Value !== undefined) {
      if (tag.Value.length > 256) throw invalid(`Tag value of '${tag.Key}' at '${where}.Value' can be at most 256 characters long`);
      if (!TAG_PATTERN.test(tag.Value)) throw invalid(`Tag value of '${tag.Key}' at '${where}.Value' may contain only letters, digits, spaces and _ . : / = + - @`);
    }
    if (seen.has(tag.Key)) throw new BerthError('DuplicateTagKeysException', `Tag key '${tag.Key}' is duplicated`);
    seen.add(tag.Key);
  }
  if (tags.length > MAX_TAGS) throw new BerthError('TooManyTagsException', `A resource can have at most ${MAX_TAGS} tags; ${tags.length} were given`);
}

/** `existing` with `added` set over it (same key: new value), in first-set order; at most 50. */
export function mergeTags(existing: readonly Tag[], added: readonly Tag[], arn: string): Tag[] {
  const byKey = new Map(existing.map((t) => [t.Key, t]));
  for (const tag of added) byKey.set(tag.Key, tag);
  if (byKey.size > MAX_TAGS) throw new BerthError('TooManyTagsException', `The tag limit of ${MAX_TAGS} for resource '${arn}' would be exceeded (${byKey.size} tags)`);
  return [...byKey.values()];
}

/** The health check members of CreateTargetGroup and ModifyTargetGroup. */
export interface HealthCheckInput {
  readonly HealthCheckProtocol?: string;
  readonly HealthCheckPort?: string;
  readonly HealthCheckEnabled?: boolean;
  readonly HealthCheckPath?: string;
  readonly HealthCheckIntervalSeconds?: number;
  readonly HealthCheckTimeoutSeconds?: number;
  readonly HealthyThresholdCount?: number;
  readonly UnhealthyThresholdCount?: number;
  readonly Matcher?: { readonly HttpCode?: string; readonly GrpcCode?: string };
}

export type HealthCheckSettings = Pick<
  TargetGroupRecord,
  | 'HealthCheckProtocol'
  | 'HealthCheckPort'
  | 'HealthCheckEnabled'
  | 'HealthCheckPath'
  | 'HealthCheckIntervalSeconds'
  | 'HealthCheckTimeoutSeconds'
  | 'HealthyThresholdCount'
  | 'UnhealthyThresholdCount'
  | 'Matcher'
>;

/** ELBv2's defaults for an HTTP target group of instance or ip targets. */
export const DEFAULT_HEALTH_CHECK: HealthCheckSettings = {
  HealthCheckProtocol: 'HTTP',
  HealthCheckPort: 'traffic-port',
  HealthCheckEnabled: true,
  HealthCheckPath: '/',
  HealthCheckIntervalSeconds: 30,
  HealthCheckTimeoutSeconds: 5,
  HealthyThresholdCount: 5,
  UnhealthyThresholdCount: 2,
  Matcher: { HttpCode: '200' },
};

/**
 * The health check settings `input` asks for over `base` (the defaults on create, the group's
 * settings on modify). Bounds of single numbers are the codec's (from the model); here the
 * rules between members and inside strings.
 */
export function resolveHealthCheck(input: HealthCheckInput, base: HealthCheckSettings): HealthCheckSettings {
  if (input.HealthCheckProtocol !== undefined && input.HealthCheckProtocol !== 'HTTP') {
    throw invalid(`Health check protocol '${input.HealthCheckProtocol}' is not supported: Berth's target groups are checked over HTTP`);
  }
  const port = input.HealthCheckPort ?? base.HealthCheckPort;
  if (port !== 'traffic-port' && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    throw invalid(`Health check port '${port}' must be 'traffic-port' or a port number from 1 to 65535`);
  }
  const path = input.HealthCheckPath ?? base.HealthCheckPath;
  if (!path.startsWith('/') || path.length > 1024) throw invalid(`Health check path '${path}' must begin with a '/' character and be at most 1024 characters long`);
  const interval = input.HealthCheckIntervalSeconds ?? base.HealthCheckIntervalSeconds;
  const timeout = input.HealthCheckTimeoutSeconds ?? base.HealthCheckTimeoutSeconds;
  if (timeout >= interval) throw invalid(`Health check timeout '${timeout}' must be smaller than the interval '${interval}'`);
  if (input.Matcher?.GrpcCode !== undefined) throw invalid('Matcher GrpcCode applies to gRPC target groups; an HTTP target group takes Matcher HttpCode');
  const httpCode = input.Matcher === undefined ? base.Matcher.HttpCode : input.Matcher.HttpCode;
  if (httpCode === undefined) throw invalid('Matcher must have an HttpCode for an HTTP target group');
  checkMatcher(httpCode);
  return {
    HealthCheckProtocol: 'HTTP',
    HealthCheckPort: port === 'traffic-port' ? port : String(Number(port)),
    HealthCheckEnabled: input.HealthCheckEnabled ?? base.HealthCheckEnabled,
    HealthCheckPath: path,
    HealthCheckIntervalSeconds: interval,
    HealthCheckTimeoutSeconds: timeout,
    HealthyThresholdCount: input.HealthyThresholdCount ?? base.HealthyThresholdCount,
    UnhealthyThresholdCount: input.UnhealthyThresholdCount ?? base.UnhealthyThresholdCount,
    Matcher: { HttpCode: httpCode },
  };
}

/** Matcher HttpCode: one code, a comma list ('200,202') or a range ('200-299'), codes 200-499. */
export function checkMatcher(httpCode: string): void {
  const inRange = (code: string) => /^\d{3}$/.test(code) && Number(code) >= 200 && Number(code) <= 499;
  const range = /^(\d+)-(\d+)$/.exec(httpCode);
  if (range !== null) {
    if (!inRange(range[1]!) || !inRange(range[2]!)) throw invalid(`Health check matcher HTTP code '${httpCode}' must be within '200-499' range`);
    if (Number(range[1]) > Number(range[2])) throw invalid(`Health check matcher HTTP code range '${httpCode}' must go from the lower code to the higher`);
    return;
  }
  const codes = httpCode.split(',');
  if (httpCode === '' || codes.some((c) => !/^\d+$/.test(c))) {
    throw invalid(`Health check matcher HTTP code '${httpCode}' must be a code ('200'), a list ('200,202') or a range ('200-299')`);
  }
  for (const code of codes) if (!inRange(code)) throw invalid(`Health check matcher HTTP code '${code}' must be within '200-499' range`);
}

interface AttributeRule {
  readonly default: string;
  /** Returns an error message for a bad value, or undefined. */
  readonly check: (value: string) => string | undefined;
}

const bool: AttributeRule['check'] = (v) => (v === 'true' || v === 'false' ? undefined : "must be 'true' or 'false'");
const intIn =
  (min: number, max: number, extra?: (n: number) => string | undefined): AttributeRule['check'] =>
  (v) => {
    if (!/^\d{1,7}$/.test(v) || Number(v) < min || Number(v) > max) return `must be an integer from ${min} to ${max}`;
    return extra?.(Number(v));
  };
const oneOf =
  (...values: string[]): AttributeRule['check'] =>
  (v) => (values.includes(v) ? undefined : `must be one of ${values.map((x) => `'${x}'`).join(', ')}`);
const any: AttributeRule['check'] = (v) => (v.length <= 1024 ? undefined : 'must be at most 1024 characters');

/** The target group attributes Berth's data plane honours, with ELBv2's defaults. */
export const TARGET_GROUP_ATTRIBUTES: Readonly<Record<string, AttributeRule>> = {
  'deregistration_delay.timeout_seconds': { default: '300', check: intIn(0, 3600) },
  'stickiness.enabled': { default: 'false', check: bool },
  'stickiness.type': { default: 'lb_cookie', check: (v) => (v === 'lb_cookie' ? undefined : "must be 'lb_cookie' (Berth's load balancer issues its own cookie; app_cookie is not supported)") },
  'stickiness.lb_cookie.duration_seconds': { default: '86400', check: intIn(1, 604800) },
  'load_balancing.algorithm.type': { default: 'round_robin', check: oneOf('round_robin', 'least_outstanding_requests') },
  'slow_start.duration_seconds': { default: '0', check: intIn(0, 900, (n) => (n === 0 || n >= 30 ? undefined : 'must be 0 (off) or from 30 to 900')) },
};

/** The load balancer attributes of an application load balancer, with ELBv2's defaults. */
export const LOAD_BALANCER_ATTRIBUTES: Readonly<Record<string, AttributeRule>> = {
  'deletion_protection.enabled': { default: 'false', check: bool },
  'idle_timeout.timeout_seconds': { default: '60', check: intIn(1, 4000) },
  'client_keep_alive.seconds': { default: '3600', check: intIn(60, 604800) },
  'access_logs.s3.enabled': { default: 'false', check: bool },
  'access_logs.s3.bucket': { default: '', check: any },
  'access_logs.s3.prefix': { default: '', check: any },
  'routing.http2.enabled': { default: 'true', check: bool },
  'routing.http.drop_invalid_header_fields.enabled': { default: 'false', check: bool },
  'routing.http.desync_mitigation_mode': { default: 'defensive', check: oneOf('monitor', 'defensive', 'strictest') },
  'routing.http.preserve_host_header.enabled': { default: 'false', check: bool },
  'routing.http.x_amzn_tls_version_and_cipher_suite.enabled': { default: 'false', check: bool },
  'routing.http.xff_client_port.enabled': { default: 'false', check: bool },
  'routing.http.xff_header_processing.mode': { default: 'append', check: oneOf('append', 'preserve', 'remove') },
  'waf.fail_open.enabled': { default: 'false', check: bool },
};

export const defaultAttributes = (rules: Readonly<Record<string, AttributeRule>>): Record<string, string> =>
  Object.fromEntries(Object.entries(rules).map(([k, r]) => [k, r.default]));

/**
 * `current` with `changes` applied, every key known and every value valid; keys given twice are
 * refused. `what` names the owner in messages ('Target group', 'Load balancer').
 */
export function applyAttributes(
  current: Readonly<Record<string, string>>,
  changes: readonly { readonly Key?: string; readonly Value?: string }[],
  rules: Readonly<Record<string, AttributeRule>>,
  what: string,
): Record<string, string> {
  if (changes.length === 0) throw invalid('Attributes must contain at least one attribute');
  const next = { ...current };
  const seen = new Set<string>();
  for (const [i, { Key, Value }] of changes.entries()) {
    if (Key === undefined || Key === '') throw invalid(`Attributes.member.${i + 1}.Key is required`);
    const rule = Object.hasOwn(rules, Key) ? rules[Key] : undefined;
    if (rule === undefined) throw invalid(`${what} attribute key '${Key}' is not recognized; Berth supports: ${Object.keys(rules).join(', ')}`);
    if (seen.has(Key)) throw invalid(`${what} attribute key '${Key}' is given more than once`);
    seen.add(Key);
    const value = Value ?? '';
    const problem = rule.check(value);
    if (problem !== undefined) throw invalid(`${what} attribute '${Key}' value '${value}' ${problem}`);
    next[Key] = value;
  }
  if (next['access_logs.s3.enabled'] === 'true' && next['access_logs.s3.bucket'] === '') {
    throw new BerthError('InvalidConfigurationRequestException', "Access logs need 'access_logs.s3.bucket' when 'access_logs.s3.enabled' is 'true'");
  }
  return next;
}

/** True for a dotted-quad IPv4 address. */
export const isIpv4Address = (text: string): boolean => isIPv4(text);

/** A source-ip condition value: an IPv4 or IPv6 CIDR block. */
export function isCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return false;
  const address = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return false;
  if (isIPv4(address)) return Number(bits) <= 32;
  return isIPv6(address) && Number(bits) <= 128;
}
