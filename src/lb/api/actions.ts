/**
 * Listener and rule actions and rule conditions: read from a decoded request, checked against
 * ELBv2's rules, normalised to the stored form model.ts promises the data plane (a forward always
 * has ForwardConfig; conditions always their *Config form; redirects their defaults filled in).
 * Pure: whether the target groups exist is the caller's business.
 */
import { BerthError } from '../../protocols/index.js';
import type { ActionRecord, RuleConditionRecord } from '../model.js';
import { resourceId } from './arns.js';
import { LIMITS, isCidr } from './rules-check.js';

const invalid = (message: string) => new BerthError('ValidationException', message);
const badAction = (message: string) => new BerthError('InvalidLoadBalancerActionException', message);

export interface ActionInput {
  readonly Type: string;
  readonly TargetGroupArn?: string;
  readonly Order?: number;
  readonly RedirectConfig?: { readonly Protocol?: string; readonly Port?: string; readonly Host?: string; readonly Path?: string; readonly Query?: string; readonly StatusCode: string };
  readonly FixedResponseConfig?: { readonly MessageBody?: string; readonly StatusCode: string; readonly ContentType?: string };
  readonly ForwardConfig?: {
    readonly TargetGroups?: readonly { readonly TargetGroupArn?: string; readonly Weight?: number }[];
    readonly TargetGroupStickinessConfig?: { readonly Enabled?: boolean; readonly DurationSeconds?: number };
  };
}

const CONTENT_TYPES = ['text/plain', 'text/css', 'text/html', 'application/javascript', 'application/json'];
const CONFIG_OF_TYPE = { forward: 'ForwardConfig', redirect: 'RedirectConfig', 'fixed-response': 'FixedResponseConfig' } as const;

/**
 * Reads a listener's DefaultActions or a rule's Actions. Berth serves the terminal actions
 * (forward, redirect, fixed-response), so a list holds exactly one of them.
 *
 * @example readActions([{ Type: 'forward', TargetGroupArn: tg }], 'DefaultActions')
 */
export function readActions(inputs: readonly ActionInput[], field: 'DefaultActions' | 'Actions'): ActionRecord[] {
  if (inputs.length === 0) throw invalid(`At least one action must be specified in '${field}'`);
  for (const a of inputs) {
    if (a.Type !== 'forward' && a.Type !== 'redirect' && a.Type !== 'fixed-response') {
      throw invalid(`Action type '${a.Type}' is not supported: Berth's listeners serve forward, redirect and fixed-response actions`);
    }
  }
  if (inputs.length > 1) {
    throw new BerthError('TooManyActionsException', `'${field}' can have only one action of type forward, redirect or fixed-response; ${inputs.length} were given`);
  }
  return inputs.map((a) => readAction(a, field));
}

function readAction(a: ActionInput, field: string): ActionRecord {
  const type = a.Type as keyof typeof CONFIG_OF_TYPE;
  for (const config of Object.values(CONFIG_OF_TYPE)) {
    if (config !== CONFIG_OF_TYPE[type] && a[config] !== undefined) throw invalid(`An action of type '${type}' in '${field}' cannot have ${config}`);
  }
  if (type !== 'forward' && a.TargetGroupArn !== undefined) throw invalid(`An action of type '${type}' in '${field}' cannot have TargetGroupArn`);
  const order = a.Order === undefined ? {} : { Order: a.Order };
  switch (type) {
    case 'forward':
      return { Type: 'forward', ...order, ...readForward(a, field) };
    case 'redirect':
      return { Type: 'redirect', ...order, RedirectConfig: readRedirect(a.RedirectConfig, field) };
    case 'fixed-response':
      return { Type: 'fixed-response', ...order, FixedResponseConfig: readFixedResponse(a.FixedResponseConfig, field) };
  }
}

function readForward(a: ActionInput, field: string): Pick<ActionRecord, 'TargetGroupArn' | 'ForwardConfig'> {
  const listed = a.ForwardConfig?.TargetGroups ?? [];
  if (a.TargetGroupArn === undefined && listed.length === 0) throw invalid(`A forward action in '${field}' needs a TargetGroupArn or ForwardConfig.TargetGroups`);
  const max = LIMITS['target-groups-per-action-on-application-load-balancer'];
  if (listed.length > max) throw invalid(`A forward action can name at most ${max} target groups; ${listed.length} were given`);
  const groups = listed.map((g, i) => {
    if (g.TargetGroupArn === undefined) throw invalid(`ForwardConfig.TargetGroups.member.${i + 1}.TargetGroupArn is required`);
    resourceId(g.TargetGroupArn, 'targetgroup');
    const weight = g.Weight ?? 1;
    if (weight < 0 || weight > 999) throw invalid(`Target group weight '${weight}' must be from 0 to 999`);
    return { TargetGroupArn: g.TargetGroupArn, Weight: weight };
  });
  if (new Set(groups.map((g) => g.TargetGroupArn)).size !== groups.length) throw invalid('A forward action cannot name the same target group twice');
  if (a.TargetGroupArn !== undefined) {
    resourceId(a.TargetGroupArn, 'targetgroup');
    if (groups.length === 0) groups.push({ TargetGroupArn: a.TargetGroupArn, Weight: 1 });
    else if (groups.length !== 1 || groups[0]!.TargetGroupArn !== a.TargetGroupArn) {
      throw badAction('TargetGroupArn and ForwardConfig.TargetGroups must name the same single target group when both are given');
    }
  }
  const sticky = a.ForwardConfig?.TargetGroupStickinessConfig;
  const enabled = sticky?.Enabled ?? false;
  if (sticky?.DurationSeconds !== undefined && (sticky.DurationSeconds < 1 || sticky.DurationSeconds > 604800)) {
    throw invalid(`Target group stickiness duration '${sticky.DurationSeconds}' must be from 1 to 604800 seconds`);
  }
  if (enabled && sticky?.DurationSeconds === undefined) throw invalid('Target group stickiness needs DurationSeconds when enabled');
  const stickiness = enabled ? { Enabled: true, DurationSeconds: sticky!.DurationSeconds! } : { Enabled: false };
  return {
    ...(groups.length === 1 && { TargetGroupArn: groups[0]!.TargetGroupArn }),
    ForwardConfig: { TargetGroups: groups, TargetGroupStickinessConfig: stickiness },
  };
}

function readRedirect(r: ActionInput['RedirectConfig'], field: string): NonNullable<ActionRecord['RedirectConfig']> {
  if (r === undefined) throw invalid(`A redirect action in '${field}' needs a RedirectConfig`);
  const protocol = r.Protocol ?? '#{protocol}';
  if (!/^(HTTPS?|#\{protocol\})$/.test(protocol)) throw invalid(`Redirect protocol '${protocol}' must be HTTP, HTTPS or #{protocol}`);
  const port = r.Port ?? '#{port}';
  if (port !== '#{port}' && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) throw invalid(`Redirect port '${port}' must be from 1 to 65535 or #{port}`);
  const host = r.Host ?? '#{host}';
  if (host.length < 1 || host.length > 128) throw invalid('Redirect host must be 1 to 128 characters long');
  const path = r.Path ?? '/#{path}';
  if (path.length < 1 || path.length > 128 || !path.startsWith('/')) throw invalid(`Redirect path '${path}' must start with '/' and be at most 128 characters long`);
  const query = r.Query ?? '#{query}';
  if (query.length > 128 || query.startsWith('?')) throw invalid("Redirect query must be at most 128 characters long and not start with '?'");
  if (protocol === '#{protocol}' && port === '#{port}' && host === '#{host}' && path === '/#{path}' && query === '#{query}') {
    throw badAction('The redirect configuration is not valid because it creates a loop: change at least one of protocol, port, host, path or query');
  }
  return { Protocol: protocol, Port: port, Host: host, Path: path, Query: query, StatusCode: r.StatusCode as 'HTTP_301' | 'HTTP_302' };
}

function readFixedResponse(f: ActionInput['FixedResponseConfig'], field: string): NonNullable<ActionRecord['FixedResponseConfig']> {
  if (f === undefined) throw invalid(`A fixed-response action in '${field}' needs a FixedResponseConfig`);
  if (!/^[245]\d\d$/.test(f.StatusCode)) throw invalid(`Fixed response status code '${f.StatusCode}' must be a 2XX, 4XX or 5XX code`);
  if (f.ContentType !== undefined && !CONTENT_TYPES.includes(f.ContentType)) throw invalid(`Fixed response content type '${f.ContentType}' must be one of ${CONTENT_TYPES.join(', ')}`);
  if (f.MessageBody !== undefined && f.MessageBody.length > 1024) throw invalid('Fixed response message body can be at most 1024 characters long');
  return { StatusCode: f.StatusCode, ...(f.ContentType !== undefined && { ContentType: f.ContentType }), ...(f.MessageBody !== undefined && { MessageBody: f.MessageBody }) };
}

/** The target groups an action list forwards to. */
export const forwardedTargetGroups = (actions: readonly ActionRecord[]): string[] =>
  actions.flatMap((a) => (a.Type === 'forward' ? (a.ForwardConfig?.TargetGroups ?? []).map((g) => g.TargetGroupArn) : []));

export interface ConditionInput {
  readonly Field?: string;
  readonly Values?: readonly string[];
  readonly HostHeaderConfig?: { readonly Values?: readonly string[] };
  readonly PathPatternConfig?: { readonly Values?: readonly string[] };
  readonly HttpHeaderConfig?: { readonly HttpHeaderName?: string; readonly Values?: readonly string[] };
  readonly QueryStringConfig?: { readonly Values?: readonly { readonly Key?: string; readonly Value?: string }[] };
  readonly HttpRequestMethodConfig?: { readonly Values?: readonly string[] };
  readonly SourceIpConfig?: { readonly Values?: readonly string[] };
}

const CONFIG_OF_FIELD = {
  'path-pattern': 'PathPatternConfig',
  'host-header': 'HostHeaderConfig',
  'http-header': 'HttpHeaderConfig',
  'query-string': 'QueryStringConfig',
  'http-request-method': 'HttpRequestMethodConfig',
  'source-ip': 'SourceIpConfig',
} as const;
type Field = keyof typeof CONFIG_OF_FIELD;
/** Fields a rule may name once; http-header and query-string may repeat. */
const ONCE: readonly Field[] = ['path-pattern', 'host-header', 'http-request-method', 'source-ip'];

const PATH_CHARS = /^[A-Za-z0-9_\-.$/~"'@:+&*?]+$/;
const HOST_CHARS = /^[A-Za-z0-9\-.*?]+$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const METHOD_CHARS = /^[A-Z_-]+$/;

/**
 * Reads a rule's conditions, legacy `Values` or the *Config form, into the *Config form, with
 * ELBv2's limits: at most 5 condition values and 5 wildcards (`*`, `?`) in all, values at most 128
 * characters of the field's alphabet.
 *
 * @example readConditions([{ Field: 'path-pattern', Values: ['/api/*'] }]) // [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } }]
 */
export function readConditions(inputs: readonly ConditionInput[]): RuleConditionRecord[] {
  if (inputs.length === 0) throw invalid('A rule must have at least one condition');
  const seen = new Set<Field>();
  let valueCount = 0;
  let wildcards = 0;
  const countWildcards = (text: string) => (wildcards += [...text].filter((c) => c === '*' || c === '?').length);
  const out = inputs.map((c, i): RuleConditionRecord => {
    const where = `Conditions.member.${i + 1}`;
    if (c.Field === undefined) throw invalid(`${where}.Field is required`);
    if (!Object.hasOwn(CONFIG_OF_FIELD, c.Field)) throw invalid(`Condition field '${c.Field}' must be one of ${Object.keys(CONFIG_OF_FIELD).join(', ')}`);
    const field = c.Field as Field;
    const configName = CONFIG_OF_FIELD[field];
    for (const other of Object.values(CONFIG_OF_FIELD)) {
      if (other !== configName && c[other] !== undefined) throw invalid(`A '${field}' condition cannot have ${other}`);
    }
    if (ONCE.includes(field)) {
      if (seen.has(field)) throw invalid(`A rule can have only one '${field}' condition`);
      seen.add(field);
    }
    const config = c[configName];
    if (c.Values !== undefined && config !== undefined) throw invalid(`A '${field}' condition takes Values or ${configName}, not both`);
    if (c.Values !== undefined && field !== 'path-pattern' && field !== 'host-header') throw invalid(`A '${field}' condition needs ${configName}; Values is only for path-pattern and host-header`);
    switch (field) {
      case 'path-pattern':
      case 'host-header':
      case 'http-request-method':
      case 'source-ip': {
        const values = c.Values ?? (config as { Values?: readonly string[] } | undefined)?.Values ?? [];
        if (values.length === 0) throw invalid(`A '${field}' condition needs at least one value`);
        for (const v of values) {
          checkConditionValue(field, v);
          if (field === 'path-pattern' || field === 'host-header') countWildcards(v);
        }
        valueCount += values.length;
        return { Field: field, [configName]: { Values: [...values] } };
      }
      case 'http-header': {
        const h = c.HttpHeaderConfig;
        const name = h?.HttpHeaderName;
        if (name === undefined || name === '') throw invalid("An 'http-header' condition needs HttpHeaderConfig.HttpHeaderName");
        if (name.length > 40 || !HEADER_NAME.test(name)) throw invalid(`HTTP header name '${name}' must be at most 40 characters of a header name's characters`);
        const values = h?.Values ?? [];
        if (values.length === 0) throw invalid("An 'http-header' condition needs at least one value");
        for (const v of values) {
          if (v.length < 1 || v.length > 128) throw invalid(`HTTP header value '${v}' must be 1 to 128 characters long`);
          countWildcards(v);
        }
        valueCount += values.length;
        return { Field: field, HttpHeaderConfig: { HttpHeaderName: name, Values: [...values] } };
      }
      case 'query-string': {
        const pairs = c.QueryStringConfig?.Values ?? [];
        if (pairs.length === 0) throw invalid("A 'query-string' condition needs at least one key/value pair");
        const values = pairs.map((p, j) => {
          if (p.Value === undefined || p.Value === '') throw invalid(`${where}.QueryStringConfig.Values.member.${j + 1}.Value is required`);
          if (p.Value.length > 128 || (p.Key?.length ?? 0) > 128) throw invalid('Query string keys and values can be at most 128 characters long');
          countWildcards(p.Value);
          if (p.Key !== undefined) countWildcards(p.Key);
          return p.Key === undefined ? { Value: p.Value } : { Key: p.Key, Value: p.Value };
        });
        valueCount += values.length;
        return { Field: field, QueryStringConfig: { Values: values } };
      }
    }
  });
  const maxValues = LIMITS['condition-values-per-alb-rule'];
  if (valueCount > maxValues) throw invalid(`A rule can have at most '${maxValues}' condition values in all; this one has ${valueCount}`);
  const maxWildcards = LIMITS['condition-wildcards-per-alb-rule'];
  if (wildcards > maxWildcards) throw invalid(`A rule can have at most '${maxWildcards}' wildcards in its conditions; this one has ${wildcards}`);
  return out;
}

function checkConditionValue(field: 'path-pattern' | 'host-header' | 'http-request-method' | 'source-ip', v: string): void {
  switch (field) {
    case 'path-pattern':
      if (v.length > 128) throw invalid(`Path pattern '${v}' can be at most 128 characters long`);
      if (!PATH_CHARS.test(v)) throw invalid(`Path pattern '${v}' may contain only A-Z, a-z, 0-9, _ - . $ / ~ " ' @ : + & and the wildcards * and ?`);
      return;
    case 'host-header':
      if (v.length > 128) throw invalid(`Host header '${v}' can be at most 128 characters long`);
      if (!HOST_CHARS.test(v)) throw invalid(`Host header '${v}' may contain only A-Z, a-z, 0-9, - . and the wildcards * and ?`);
      return;
    case 'http-request-method':
      if (v.length > 40 || !METHOD_CHARS.test(v)) throw invalid(`HTTP request method '${v}' must be at most 40 characters of A-Z, _ and -`);
      return;
    case 'source-ip':
      if (!isCidr(v)) throw invalid(`Source IP '${v}' must be a CIDR block such as 10.0.0.0/16 or 2001:db8::/32`);
      return;
  }
}
