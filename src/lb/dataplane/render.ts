/**
 * The ELBv2 model as an HAProxy configuration: one frontend per listener, one backend per target
 * group. Pure: given the model and where things live, it returns the config text and the files the
 * config names (error pages, fixed-response bodies). The data plane writes both and reloads.
 *
 * Rules keep ELBv2's priority order by deciding everything in `http-request` rules, evaluated in
 * order: a forward sets `txn.be` (and every later rule is guarded by "nothing decided yet"), a
 * fixed-response or redirect ends the request there, and `use_backend %[var(txn.be)]` follows the
 * decision. A weighted forward draws per request: line i takes the request with probability
 * w_i / (w_i + ... + w_n), so the groups get w_i / W of the traffic.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ActionRecord, ListenerRecord, LoadBalancerRecord, RedirectConfig, RuleConditionRecord, RuleRecord, TargetGroupRecord } from '../model.js';
import { backendName, hasWildcard, isPrintable, quoteWord, wildcardRegex } from './haproxy-syntax.js';
import { idleTimeoutSeconds, tgAttribute, type LbModel } from './model-view.js';
import { MIN_SLOTS, ms, serverOptions, slotName, twinName, type ServerSpec } from './servers.js';

export interface RenderOptions {
  /** The address every listener binds (`berth up --bind`). */
  readonly bindAddress: string;
  /** The Runtime API socket (admin level). */
  readonly runtimeSocket: string;
  /** Where server states are saved before a reload and loaded after it. */
  readonly serverStateFile: string;
  /** Where the error pages and fixed-response bodies are written. */
  readonly filesDir: string;
  /**
   * Log every listener's requests (HAProxy's HTTP log format) to the master's stdout. Otherwise a
   * load balancer's listeners log when its attribute access_logs.s3.enabled is 'true' (ELBv2's
   * switch, off by default; Berth writes the log to a file instead of S3).
   */
  readonly accessLog: boolean;
  /**
   * Each backend's server slots, by backend name: a target in its slot (written with its address,
   * so that a reload keeps it) or a free slot (disabled). A backend not named gets MIN_SLOTS free.
   */
  readonly slots: ReadonlyMap<string, readonly (ServerSpec | undefined)[]>;
}

export interface RenderedConfig {
  readonly config: string;
  /** Absolute path → content, for every file the config names. */
  readonly files: ReadonlyMap<string, string>;
  /** Parts of the model left out, and why (the API should have refused them). */
  readonly warnings: readonly string[];
}

/** The backend of last resort: no servers, so HAProxy answers 503 as ELBv2 does. */
export const UNAVAILABLE_BACKEND = 'berth_unavailable';
const DECIDED = '{ var(txn.be) -m found }';
const UNDECIDED = `!${DECIDED}`;

/** ELBv2's own error pages (nginx-shaped, served by `awselb/2.0`). */
const ERROR_PAGES: Readonly<Record<number, string>> = {
  502: '502 Bad Gateway',
  503: '503 Service Temporarily Unavailable',
  504: '504 Gateway Time-out',
};

export function errorPage(status: number): string {
  const title = ERROR_PAGES[status]!;
  const body = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
  return (
    `HTTP/1.1 ${title}\r\nServer: awselb/2.0\r\nContent-Type: text/html\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n` + body
  );
}

/**
 * Renders the configuration.
 *
 * @example renderConfig(readModel(kvs), { bindAddress: '127.0.0.1', ..., servers: new Map() }).config
 */
export function renderConfig(model: LbModel, options: RenderOptions): RenderedConfig {
  const files = new Map<string, string>();
  const warnings: string[] = [];
  for (const status of Object.keys(ERROR_PAGES)) files.set(join(options.filesDir, `${status}.http`), errorPage(Number(status)));

  const lbs = new Map(model.loadBalancers.map((lb) => [lb.LoadBalancerArn, lb]));
  const groups = new Map(model.targetGroups.map((tg) => [tg.TargetGroupArn, tg]));
  const out: string[] = [
    '# Written by Berth from the ELBv2 model; rewritten on every change.',
    'global',
    `  stats socket ${quoteWord(options.runtimeSocket)} mode 600 level admin`,
    `  server-state-file ${quoteWord(options.serverStateFile)}`,
    // Old workers finish their requests after a reload, but an idle WebSocket must not keep one forever.
    '  hard-stop-after 10m',
    '  log stdout format raw local0',
    '',
    'defaults',
    '  mode http',
    '  option forwardfor',
    // After a reload the old worker answers an idle keep-alive client's next request (saying
    // `Connection: close`) instead of closing under it: no client races a close it cannot see.
    '  option idle-close-on-response',
    '  http-reuse safe',
    '  load-server-state-from-file global',
    '  retries 2',
    '  option redispatch',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout tunnel 60s',
    '  timeout http-request 60s',
    '  timeout http-keep-alive 60s',
    '  timeout queue 10s',
    '  timeout check 5s',
    ...Object.keys(ERROR_PAGES).map((status) => `  errorfile ${status} ${quoteWord(join(options.filesDir, `${status}.http`))}`),
    '',
  ];

  // Internal listener: HAProxy will not start without one, and Berth may have no listeners yet.
  out.push('frontend berth_idle', `  bind ${quoteWord(`unix@${join(options.filesDir, 'idle.sock')}`)} mode 600`, `  default_backend ${UNAVAILABLE_BACKEND}`, '');

  // A target group serves one load balancer in ELBv2; its backend takes that load balancer's idle timeout.
  const idleOfGroup = new Map<string, number>();
  const byPort = new Map<number, ListenerRecord>();
  for (const listener of [...model.listeners].sort((a, b) => a.Port - b.Port || a.ListenerArn.localeCompare(b.ListenerArn))) {
    const taken = byPort.get(listener.Port);
    if (taken !== undefined) {
      warnings.push(`listener ${listener.ListenerArn}: port ${listener.Port} is already bound by ${taken.ListenerArn}; left out`);
      continue;
    }
    byPort.set(listener.Port, listener);
    const lb = lbs.get(listener.LoadBalancerArn);
    const idle = idleTimeoutSeconds(lb);
    const rules = model.rules.filter((r) => r.ListenerArn === listener.ListenerArn).sort((a, b) => Number(a.Priority) - Number(b.Priority));
    for (const action of [...rules.flatMap((r) => r.Actions), ...listener.DefaultActions]) {
      for (const tg of action.ForwardConfig?.TargetGroups ?? []) idleOfGroup.set(tg.TargetGroupArn, Math.max(idle, idleOfGroup.get(tg.TargetGroupArn) ?? 0));
    }
    out.push(...renderFrontend(listener, lb, rules, groups, options, files, warnings), '');
  }

  for (const tg of [...model.targetGroups].sort((a, b) => a.TargetGroupArn.localeCompare(b.TargetGroupArn))) {
    out.push(...renderBackend(tg, idleOfGroup.get(tg.TargetGroupArn) ?? 60, options.slots, warnings), '');
  }
  out.push(`backend ${UNAVAILABLE_BACKEND}`, '');
  return { config: out.join('\n'), files, warnings };
}

function renderFrontend(
  listener: ListenerRecord,
  lb: LoadBalancerRecord | undefined,
  rules: readonly RuleRecord[],
  groups: ReadonlyMap<string, TargetGroupRecord>,
  options: RenderOptions,
  files: Map<string, string>,
  warnings: string[],
): string[] {
  const idle = idleTimeoutSeconds(lb);
  const lines = [
    `frontend listener_${listener.Port}`,
    `  # ${listener.ListenerArn}`,
    `  bind ${options.bindAddress}:${listener.Port}`,
    `  timeout client ${ms(idle)}`,
    `  timeout http-keep-alive ${ms(idle)}`,
    ...(options.accessLog || lb?.Attributes['access_logs.s3.enabled'] === 'true' ? ['  log global', '  option httplog'] : []),
    '  http-request set-header X-Forwarded-Proto http',
    `  http-request set-header X-Forwarded-Port ${listener.Port}`,
  ];
  for (const rule of rules) {
    const acls: string[] = [];
    const names: string[] = [];
    rule.Conditions.forEach((condition, j) => {
      const name = `rule${rule.Priority}_${j}`;
      names.push(name);
      acls.push(...conditionAcls(name, condition, rule.RuleArn, warnings));
    });
    lines.push(`  # rule ${rule.Priority}: ${rule.RuleArn}`, ...acls);
    lines.push(...actionLines(terminalAction(rule.Actions), names.join(' '), listener, groups, options, files, warnings));
  }
  // A default forward to one group needs no decision: it is the default backend (the hot path,
  // spared a variable per request). Anything else decides as rules do.
  const fallback = terminalAction(listener.DefaultActions);
  const plain = fallback?.Type === 'forward' ? forwardLines(fallback, groups, warnings) : [];
  const defaultBackend = plain.length === 1 && plain[0]!.draw.length === 0 ? plain[0]!.backend : undefined;
  lines.push('  # default actions');
  if (defaultBackend === undefined) lines.push(...actionLines(fallback, '', listener, groups, options, files, warnings));
  if (lines.some((l) => l.includes('set-var(txn.tgttl)'))) {
    lines.push(`  http-response add-header Set-Cookie ${quoteWord('AWSALBTG=%[var(txn.be)]; Max-Age=%[var(txn.tgttl)]; Path=/')} if { var(txn.tgttl) -m found }`);
  }
  lines.push(`  use_backend %[var(txn.be)] if ${DECIDED}`, `  default_backend ${defaultBackend ?? UNAVAILABLE_BACKEND}`);
  return lines;
}

/** The action that answers: the last by Order (ELBv2's terminal action; earlier ones would authenticate). */
function terminalAction(actions: readonly ActionRecord[]): ActionRecord | undefined {
  return [...actions].sort((a, b) => (a.Order ?? 0) - (b.Order ?? 0)).at(-1);
}

/** ACL lines for one condition; several lines of one name match if any does (ELBv2: any value). */
export function conditionAcls(name: string, c: RuleConditionRecord, ruleArn: string, warnings: string[]): string[] {
  const lines: string[] = [];
  const acl = (text: string) => lines.push(`  acl ${name} ${text}`);
  const usable = (values: readonly string[]) =>
    values.filter((v) => {
      if (isPrintable(v)) return true;
      warnings.push(`rule ${ruleArn}: ${c.Field} value ${JSON.stringify(v)} has control characters; left out`);
      return false;
    });
  switch (c.Field) {
    case 'path-pattern':
      // Exact and prefix patterns (the common ones) match without a regex.
      for (const v of usable(c.PathPatternConfig?.Values ?? [])) {
        if (!hasWildcard(v)) acl(`path -m str ${quoteWord(v)}`);
        else if (v.endsWith('*') && !hasWildcard(v.slice(0, -1))) acl(`path -m beg ${quoteWord(v.slice(0, -1))}`);
        else acl(`path -m reg ${quoteWord(`^${wildcardRegex(v)}$`)}`);
      }
      break;
    case 'host-header':
      // Host names compare case-insensitively, and a client may add the port.
      for (const v of usable(c.HostHeaderConfig?.Values ?? [])) acl(`req.hdr(host) -m reg -i ${quoteWord(`^${wildcardRegex(v)}(:[0-9]+)?$`)}`);
      break;
    case 'http-header': {
      const header = c.HttpHeaderConfig?.HttpHeaderName ?? '';
      if (!/^[A-Za-z0-9!#$%&*+.^_`|~-]+$/.test(header)) {
        warnings.push(`rule ${ruleArn}: header name ${JSON.stringify(header)} is not an HTTP token; the condition never matches`);
        break;
      }
      // fhdr: the whole value of each occurrence (hdr would split at commas).
      for (const v of usable(c.HttpHeaderConfig?.Values ?? [])) {
        acl(`${quoteWord(`req.fhdr(${header})`)} ${hasWildcard(v) ? `-m reg -i ${quoteWord(`^${wildcardRegex(v)}$`)}` : `-m str -i ${quoteWord(v)}`}`);
      }
      break;
    }
    case 'query-string':
      // One key=value pair of the query; a value alone matches the value of any key.
      for (const kv of c.QueryStringConfig?.Values ?? []) {
        if (usable([kv.Key ?? '', kv.Value]).length < 2) continue;
        const key = kv.Key === undefined || kv.Key === '' ? '([^&=]*=)?' : `${wildcardRegex(kv.Key, '[^&=]')}=`;
        acl(`query -m reg -i ${quoteWord(`(^|&)${key}${wildcardRegex(kv.Value, '[^&]')}(&|$)`)}`);
      }
      break;
    case 'http-request-method':
      for (const v of usable(c.HttpRequestMethodConfig?.Values ?? [])) acl(`method -m str ${quoteWord(v)}`);
      break;
    case 'source-ip':
      for (const v of usable(c.SourceIpConfig?.Values ?? [])) acl(`src ${quoteWord(v)}`);
      break;
  }
  // A condition left with no value must not match everything.
  if (lines.length === 0) acl('always_false');
  return lines;
}

function actionLines(
  action: ActionRecord | undefined,
  conditions: string,
  listener: ListenerRecord,
  groups: ReadonlyMap<string, TargetGroupRecord>,
  options: RenderOptions,
  files: Map<string, string>,
  warnings: string[],
): string[] {
  const when = (...extra: string[]) => ` if ${[UNDECIDED, conditions, ...extra].filter((s) => s !== '').join(' ')}`;
  if (action === undefined) return [`  http-request set-var(txn.be) str(${UNAVAILABLE_BACKEND})${when()}`];
  switch (action.Type) {
    case 'forward': {
      const draws = forwardLines(action, groups, warnings);
      const sticky = action.ForwardConfig?.TargetGroupStickinessConfig;
      if (sticky?.Enabled !== true || draws.length < 2) return draws.map(({ backend, draw }) => `  http-request set-var(txn.be) str(${backend})${when(...draw)}`);
      // Target-group stickiness (AWSALBTG): a client that holds a group's cookie goes back to it
      // while the group is in the forward; the others draw, and the answer carries the cookie.
      const ttl = Math.max(1, Math.trunc(sticky.DurationSeconds ?? 3600));
      return [
        `  http-request set-var(txn.tgttl) int(${ttl})${when()}`,
        ...draws.map(({ backend }) => `  http-request set-var(txn.be) str(${backend})${when(`{ req.cook(AWSALBTG) -m str ${backend} }`)}`),
        ...draws.map(({ backend, draw }) => `  http-request set-var(txn.be) str(${backend})${when(...draw)}`),
      ];
    }
    case 'fixed-response': {
      const cfg = action.FixedResponseConfig;
      const status = Number(cfg?.StatusCode);
      const code = Number.isInteger(status) && status >= 200 && status <= 599 ? status : 503;
      const body = cfg?.MessageBody ?? '';
      if (body === '') return [`  http-request return status ${code}${when()}`];
      // Bodies go in files: they may hold newlines and quotes that no config word can.
      const file = join(options.filesDir, `body-${createHash('sha256').update(body).digest('hex').slice(0, 16)}.txt`);
      files.set(file, body);
      return [`  http-request return status ${code} content-type ${quoteWord(cfg?.ContentType ?? 'text/plain')} file ${quoteWord(file)}${when()}`];
    }
    case 'redirect': {
      const cfg = action.RedirectConfig ?? { StatusCode: 'HTTP_301' };
      const code = cfg.StatusCode === 'HTTP_302' ? 302 : 301;
      return redirectLocations(cfg, listener.Port).map(({ location, query }) => `  http-request redirect code ${code} location ${quoteWord(location)}${when(...query)}`);
    }
  }
}

interface Draw {
  readonly backend: string;
  /** The extra condition that draws this group's share (none for the last). */
  readonly draw: readonly string[];
}

/** The weighted choice of a forward, as sequential draws (see the file's opening comment). */
export function forwardLines(action: ActionRecord, groups: ReadonlyMap<string, TargetGroupRecord>, warnings: string[]): Draw[] {
  const weighted = (action.ForwardConfig?.TargetGroups ?? (action.TargetGroupArn ? [{ TargetGroupArn: action.TargetGroupArn }] : []))
    .map((tg) => ({ arn: tg.TargetGroupArn, weight: tg.Weight ?? 1 }))
    .filter((tg) => {
      if (groups.has(tg.arn)) return tg.weight > 0;
      warnings.push(`forward to unknown target group ${tg.arn}; its share answers 503`);
      return tg.weight > 0;
    });
  if (weighted.length === 0) return [{ backend: UNAVAILABLE_BACKEND, draw: [] }];
  let remaining = weighted.reduce((sum, tg) => sum + tg.weight, 0);
  return weighted.map((tg, i) => {
    const backend = groups.has(tg.arn) ? backendName(tg.arn) : UNAVAILABLE_BACKEND;
    const draw = i === weighted.length - 1 ? [] : [`{ rand(${remaining}) lt ${tg.weight} }`];
    remaining -= tg.weight;
    return { backend, draw };
  });
}

/** Literal text inside an HAProxy log-format string. */
const lfLiteral = (s: string) => s.replaceAll('%', '%%');

/**
 * ELBv2's redirect URL as HAProxy log-format strings: #{protocol} and #{port} are the listener's
 * (known now), #{host}, #{path} (without its leading '/') and #{query} the request's. The port is
 * left out when it is the protocol's default; '?' only when a query remains. Each location comes
 * with the condition that picks it (a query that may be empty needs two).
 */
export function redirectLocations(cfg: RedirectConfig, listenerPort: number): { location: string; query: string[] }[] {
  const substitute = (template: string, dynamic: boolean) =>
    template
      .split(/(#\{(?:protocol|host|port|path|query)\})/)
      .map((part) => {
        switch (part) {
          case '#{protocol}':
            return 'http';
          case '#{port}':
            return String(listenerPort);
          case '#{host}':
            return dynamic ? '%[req.hdr(host),regsub(:[0-9]+$,)]' : part;
          case '#{path}':
            return dynamic ? '%[path,regsub(^/,)]' : part;
          case '#{query}':
            return dynamic ? '%[query]' : part;
          default:
            return dynamic ? lfLiteral(part) : part;
        }
      })
      .join('');
  const protocol = substitute(cfg.Protocol ?? '#{protocol}', false).toLowerCase();
  const port = substitute(cfg.Port ?? '#{port}', false);
  const defaultPort = (protocol === 'http' && port === '80') || (protocol === 'https' && port === '443');
  const base = `${lfLiteral(protocol)}://${substitute(cfg.Host ?? '#{host}', true)}${defaultPort ? '' : `:${lfLiteral(port)}`}${substitute(cfg.Path ?? '/#{path}', true)}`;
  const query = cfg.Query ?? '#{query}';
  if (!query.includes('#{query}')) return [{ location: query === '' ? base : `${base}?${substitute(query, true)}`, query: [] }];
  const withoutQuery = substitute(query.replaceAll('#{query}', ''), true);
  return [
    { location: `${base}?${substitute(query, true)}`, query: ['{ query -m len 1: }'] },
    { location: withoutQuery === '' ? base : `${base}?${withoutQuery}`, query: ['!{ query -m len 1: }'] },
  ];
}

function renderBackend(tg: TargetGroupRecord, idle: number, slots: RenderOptions['slots'], warnings: string[]): string[] {
  const name = backendName(tg.TargetGroupArn);
  const lines = [`backend ${name}`, `  # ${tg.TargetGroupArn}`, `  timeout server ${ms(idle)}`, `  timeout tunnel ${ms(idle)}`];
  const sticky = tgAttribute(tg, 'stickiness.enabled') === 'true' && tgAttribute(tg, 'stickiness.type') === 'lb_cookie';
  if (sticky) {
    // HAProxy 2.6 gives runtime-added servers no cookie, so the AWSALB cookie is a random key
    // hashed onto a consistent ring: a client keeps its target while the target stays.
    const maxAge = Number(tgAttribute(tg, 'stickiness.lb_cookie.duration_seconds')) || 86400;
    lines.push(
      '  balance hash var(txn.awsalb)',
      '  hash-type consistent',
      '  http-request set-var(txn.awsalb) req.cook(AWSALB)',
      '  http-request set-var(txn.awsalb) uuid() if !{ var(txn.awsalb) -m found }',
      `  http-response add-header Set-Cookie ${quoteWord(`AWSALB=%[var(txn.awsalb)]; Max-Age=${maxAge}; Path=/`)}`,
    );
  } else {
    lines.push(`  balance ${tgAttribute(tg, 'load_balancing.algorithm.type') === 'least_outstanding_requests' ? 'leastconn' : 'roundrobin'}`);
  }
  if (tg.HealthCheckEnabled) {
    let matcher = tg.Matcher.HttpCode;
    if (!/^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$/.test(matcher)) {
      warnings.push(`target group ${tg.TargetGroupArn}: matcher ${JSON.stringify(matcher)} is not codes or ranges; 200 used`);
      matcher = '200';
    }
    const path = isPrintable(tg.HealthCheckPath) && tg.HealthCheckPath.startsWith('/') ? tg.HealthCheckPath : '/';
    lines.push(
      '  option httpchk',
      `  http-check send meth GET uri ${quoteWord(path)} ver HTTP/1.1 hdr Host elb-healthchecker hdr User-Agent ELB-HealthChecker/2.0`,
      `  http-check expect status ${matcher}`,
      `  timeout check ${ms(tg.HealthCheckTimeoutSeconds)}`,
    );
  }
  const options = serverOptions(tg);
  const backendSlots = slots.get(name) ?? new Array<undefined>(MIN_SLOTS).fill(undefined);
  backendSlots.forEach((s, i) => {
    // A free slot points nowhere and stays in maintenance until a target takes it.
    lines.push(s === undefined ? `  server ${slotName(i)} 127.0.0.1:1 ${options} disabled` : `  server ${slotName(i)} ${s.address}:${s.port} ${s.options}  # ${s.name}`);
  });
  if (tg.HealthCheckEnabled) {
    // Fail-open twins (servers.ts, twinName): backups without checks, enabled at runtime.
    lines.push('  option allbackups', ...backendSlots.map((_, i) => `  server ${twinName(i)} 127.0.0.1:1 backup disabled`));
  }
  return lines;
}
