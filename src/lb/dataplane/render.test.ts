import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { ActionRecord, RuleConditionRecord } from '../model.js';
import { backendName } from './haproxy-syntax.js';
import { emptyModel, type LbModel } from './model-view.js';
import { conditionAcls, errorPage, forwardLines, redirectLocations, renderConfig, UNAVAILABLE_BACKEND, type RenderOptions } from './render.js';
import { MIN_SLOTS, type ServerSpec } from './servers.js';
import {
  fixedResponse,
  forward,
  headerIs,
  hostIs,
  listenerRecord,
  loadBalancerRecord,
  methodIs,
  pathIs,
  queryIs,
  redirect,
  ruleRecord,
  sourceIs,
  stickyForward,
  targetGroupRecord,
} from './testing/fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-lb-render-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const options = (over: Partial<RenderOptions> = {}): RenderOptions => ({
  bindAddress: '127.0.0.1',
  runtimeSocket: join(dir, 'runtime.sock'),
  serverStateFile: join(dir, 'servers.state'),
  filesDir: dir,
  accessLog: true,
  slots: new Map(),
  ...over,
});

const lb = loadBalancerRecord('front', { 'idle_timeout.timeout_seconds': '7' });
const web = targetGroupRecord('web', { HealthCheckPath: '/health', Matcher: { HttpCode: '200-299' }, HealthCheckIntervalSeconds: 10, HealthCheckTimeoutSeconds: 3 });
const api = targetGroupRecord('api', {}, { 'load_balancing.algorithm.type': 'least_outstanding_requests', 'slow_start.duration_seconds': '30' });
const sticky = targetGroupRecord('sticky', { HealthCheckEnabled: false }, { 'stickiness.enabled': 'true', 'stickiness.lb_cookie.duration_seconds': '120' });
const listener = listenerRecord(lb, 8080, [fixedResponse('404', "no route\nit's \"here\" 100% $HOME #x")]);
const rules = [
  ruleRecord(listener, 10, [pathIs('/late')], [forward(web)]),
  ruleRecord(listener, 2, [pathIs('/api/*', '/v?/x'), methodIs('GET', 'POST')], [forward([api, 3], [web, 1])]),
  ruleRecord(listener, 3, [hostIs('*.example.com'), headerIs('x-canary', 'yes*')], [forward(sticky)]),
  ruleRecord(listener, 4, [queryIs({ Key: 'v', Value: '2' }, { Value: 'beta' }), sourceIs('127.0.0.0/8', '::1/128')], [fixedResponse('200', 'q')]),
  ruleRecord(listener, 5, [pathIs('/old/*')], [redirect({ Path: '/new/#{path}', StatusCode: 'HTTP_302' })]),
];
const model: LbModel = { ...emptyModel, loadBalancers: [lb], listeners: [listener], rules, targetGroups: [web, api, sticky] };

const lines = (config: string, from: string) => {
  const start = config.indexOf(`\n${from}\n`);
  const end = config.indexOf('\n\n', start + 1);
  return config.slice(start + 1, end).split('\n');
};

describe('renderConfig', () => {
  const rendered = renderConfig(model, options({ slots: new Map([[backendName(web.TargetGroupArn), [undefined, server(web)]]]) }));

  it("renders a config HAProxy accepts (haproxy -c), quoting included", async () => {
    for (const [path, content] of rendered.files) writeFileSync(path, content);
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, rendered.config);
    await expect(promisify(execFile)('/usr/sbin/haproxy', ['-c', '-q', '-f', cfg])).resolves.toBeDefined();
    expect(rendered.warnings).toEqual([]);
  });

  it('binds one frontend per listener at the bind address, with the idle timeout and the forwarded headers', () => {
    const fe = lines(rendered.config, 'frontend listener_8080');
    expect(fe).toContain('  bind 127.0.0.1:8080');
    expect(fe).toContain('  timeout client 7000ms');
    expect(fe).toContain('  http-request set-header X-Forwarded-Proto http');
    expect(fe).toContain('  http-request set-header X-Forwarded-Port 8080');
    expect(rendered.config).toContain('  option forwardfor');
  });

  it('evaluates rules by numeric priority (2 before 10), then the default actions, then follows the decision', () => {
    const fe = lines(rendered.config, 'frontend listener_8080');
    const order = fe.filter((l) => l.startsWith('  # rule') || l === '  # default actions').map((l) => l.split(':')[0]);
    expect(order).toEqual(['  # rule 2', '  # rule 3', '  # rule 4', '  # rule 5', '  # rule 10', '  # default actions']);
    expect(fe.slice(-2)).toEqual(['  use_backend %[var(txn.be)] if { var(txn.be) -m found }', `  default_backend ${UNAVAILABLE_BACKEND}`]);
  });

  it('makes a default forward to one group the default backend, with no decision per request', () => {
    const l = listenerRecord(lb, 82, [forward(web)]);
    const fe = lines(renderConfig({ ...model, listeners: [l], rules: [] }, options()).config, 'frontend listener_82');
    expect(fe.slice(-3)).toEqual(['  # default actions', '  use_backend %[var(txn.be)] if { var(txn.be) -m found }', `  default_backend ${backendName(web.TargetGroupArn)}`]);
  });

  it('draws a weighted default forward as rules do', () => {
    const l = listenerRecord(lb, 83, [forward([web, 1], [api, 1])]);
    const fe = lines(renderConfig({ ...model, listeners: [l], rules: [] }, options()).config, 'frontend listener_83');
    expect(fe).toContain(`  http-request set-var(txn.be) str(${backendName(web.TargetGroupArn)}) if !{ var(txn.be) -m found } { rand(2) lt 1 }`);
    expect(fe.at(-1)).toBe(`  default_backend ${UNAVAILABLE_BACKEND}`);
  });

  it('guards every decision with "nothing decided yet", so an earlier rule wins', () => {
    const decisions = lines(rendered.config, 'frontend listener_8080').filter((l) => /http-request (set-var\(txn\.be\)|return|redirect)/.test(l));
    expect(decisions.length).toBeGreaterThan(5);
    for (const d of decisions) expect(d).toContain(' if !{ var(txn.be) -m found }');
  });

  it('ANDs the conditions of a rule', () => {
    expect(rendered.config).toContain(`  http-request set-var(txn.be) str(${backendName(api.TargetGroupArn)}) if !{ var(txn.be) -m found } rule2_0 rule2_1 { rand(4) lt 3 }`);
    expect(rendered.config).toContain(`  http-request set-var(txn.be) str(${backendName(web.TargetGroupArn)}) if !{ var(txn.be) -m found } rule2_0 rule2_1\n`);
  });

  it('keeps a client on its target group with AWSALBTG when the forward is sticky, and draws the others', () => {
    const l = listenerRecord(lb, 84, [stickyForward(600, [web, 1], [api, 1])]);
    const fe = lines(renderConfig({ ...model, listeners: [l], rules: [] }, options()).config, 'frontend listener_84');
    const [w, a] = [backendName(web.TargetGroupArn), backendName(api.TargetGroupArn)];
    expect(fe.filter((x) => x.includes('txn.tgttl') || x.includes('set-var(txn.be)'))).toEqual([
      '  http-request set-var(txn.tgttl) int(600) if !{ var(txn.be) -m found }',
      `  http-request set-var(txn.be) str(${w}) if !{ var(txn.be) -m found } { req.cook(AWSALBTG) -m str ${w} }`,
      `  http-request set-var(txn.be) str(${a}) if !{ var(txn.be) -m found } { req.cook(AWSALBTG) -m str ${a} }`,
      `  http-request set-var(txn.be) str(${w}) if !{ var(txn.be) -m found } { rand(2) lt 1 }`,
      `  http-request set-var(txn.be) str(${a}) if !{ var(txn.be) -m found }`,
      "  http-response add-header Set-Cookie 'AWSALBTG=%[var(txn.be)]; Max-Age=%[var(txn.tgttl)]; Path=/' if { var(txn.tgttl) -m found }",
    ]);
  });

  it('sets no AWSALBTG cookie for a forward without stickiness', () => {
    expect(rendered.config).not.toContain('AWSALBTG');
  });

  it('answers a fixed response from a file holding the body as given', () => {
    const line = lines(rendered.config, 'frontend listener_8080').find((l) => l.includes('return status 404'))!;
    const file = /file '([^']+)'/.exec(line)![1]!;
    expect(line).toBe(`  http-request return status 404 content-type 'text/plain' file '${file}' if !{ var(txn.be) -m found }`);
    expect(rendered.files.get(file)).toBe("no route\nit's \"here\" 100% $HOME #x");
  });

  it('answers a fixed response without a body without a file', () => {
    const l = listenerRecord(lb, 81, [fixedResponse('204')]);
    expect(renderConfig({ ...model, listeners: [l], rules: [] }, options()).config).toContain('  http-request return status 204 if !{ var(txn.be) -m found }\n');
  });

  it('renders a backend per target group with its balance, checks and idle timeout', () => {
    const be = lines(rendered.config, `backend ${backendName(web.TargetGroupArn)}`);
    expect(be).toEqual([
      `backend ${backendName(web.TargetGroupArn)}`,
      `  # ${web.TargetGroupArn}`,
      '  timeout server 7000ms',
      '  timeout tunnel 7000ms',
      '  balance roundrobin',
      '  option httpchk',
      "  http-check send meth GET uri '/health' ver HTTP/1.1 hdr Host elb-healthchecker hdr User-Agent ELB-HealthChecker/2.0",
      '  http-check expect status 200-299',
      '  timeout check 3000ms',
      '  server s1 127.0.0.1:1 check inter 10000ms rise 5 fall 2 weight 100 disabled',
      '  server s2 10.0.0.9:80 check inter 5000ms rise 5 fall 2 weight 100  # 10.0.0.9:80',
      '  option allbackups',
      '  server f1 127.0.0.1:1 backup disabled',
      '  server f2 127.0.0.1:1 backup disabled',
    ]);
  });

  it('gives a group without health checks no fail-open twins (its targets are always in rotation)', () => {
    const unchecked = { ...web, HealthCheckEnabled: false };
    const be = lines(renderConfig({ ...model, targetGroups: [unchecked] }, options()).config, `backend ${backendName(web.TargetGroupArn)}`);
    expect(be.filter((l) => l.includes('backup') || l.includes('allbackups'))).toEqual([]);
  });

  it('gives a backend without slots MIN_SLOTS free ones, in maintenance until a target takes one', () => {
    const be = lines(rendered.config, `backend ${backendName(api.TargetGroupArn)}`).filter((l) => l.startsWith('  server s'));
    expect(be).toHaveLength(MIN_SLOTS);
    expect(be[0]).toBe('  server s1 127.0.0.1:1 check inter 30000ms rise 5 fall 2 weight 100 slowstart 30000ms disabled');
  });

  it('balances least outstanding requests as leastconn', () => {
    expect(lines(rendered.config, `backend ${backendName(api.TargetGroupArn)}`)).toContain('  balance leastconn');
  });

  it('sticks clients with the AWSALB cookie for stickiness.lb_cookie.duration_seconds, and checks nothing when checks are off', () => {
    const be = lines(rendered.config, `backend ${backendName(sticky.TargetGroupArn)}`);
    expect(be).toContain('  balance hash var(txn.awsalb)');
    expect(be).toContain('  hash-type consistent');
    expect(be).toContain("  http-response add-header Set-Cookie 'AWSALB=%[var(txn.awsalb)]; Max-Age=120; Path=/'");
    expect(be.some((l) => l.includes('httpchk'))).toBe(false);
  });

  it('gives a target group no listener uses the default idle timeout', () => {
    const alone = targetGroupRecord('alone');
    expect(lines(renderConfig({ ...model, targetGroups: [alone] }, options()).config, `backend ${backendName(alone.TargetGroupArn)}`)).toContain('  timeout server 60000ms');
  });

  it('serves ELBv2 error pages for 502, 503 and 504', () => {
    for (const status of [502, 503, 504]) {
      expect(rendered.config).toContain(`  errorfile ${status} '${join(dir, `${status}.http`)}'`);
      expect(rendered.files.get(join(dir, `${status}.http`))).toBe(errorPage(status));
    }
    expect(errorPage(502)).toMatch(/^HTTP\/1.1 502 Bad Gateway\r\nServer: awselb\/2.0\r\n/);
    expect(errorPage(502)).toContain('<center><h1>502 Bad Gateway</h1></center>');
    const body = errorPage(504).split('\r\n\r\n')[1]!;
    expect(errorPage(504)).toContain(`Content-Length: ${Buffer.byteLength(body)}\r\n`);
  });

  it('logs every listener when asked, else those of load balancers with access_logs.s3.enabled', () => {
    expect(rendered.config).toContain('  log stdout format raw local0');
    expect(lines(rendered.config, 'frontend listener_8080')).toEqual(expect.arrayContaining(['  log global', '  option httplog']));
    const quiet = renderConfig(model, options({ accessLog: false })).config;
    expect(quiet).not.toContain('httplog');
    const logging = { ...lb, Attributes: { ...lb.Attributes, 'access_logs.s3.enabled': 'true' } };
    expect(renderConfig({ ...model, loadBalancers: [logging] }, options({ accessLog: false })).config).toContain('  option httplog');
  });

  it('renders the same model the same way (no reload without a change)', () => {
    expect(renderConfig({ ...model, rules: [...rules].reverse(), targetGroups: [sticky, api, web] }, options({ slots: new Map([[backendName(web.TargetGroupArn), [undefined, server(web)]]]) })).config).toBe(rendered.config);
  });

  it('binds one listener per port and says why it left another out', () => {
    const dup = listenerRecord(loadBalancerRecord('other'), 8080, [fixedResponse('200')]);
    const out = renderConfig({ ...model, listeners: [listener, dup] }, options());
    expect(out.config.match(/bind 127\.0\.0\.1:8080/g)).toHaveLength(1);
    expect(out.warnings).toEqual([expect.stringContaining('port 8080 is already bound')]);
  });

  it('renders with no listeners (HAProxy still needs one: an internal unix one)', () => {
    expect(renderConfig(emptyModel, options()).config).toMatch(/frontend berth_idle\n {2}bind 'unix@/);
  });

  it('uses 200 for a matcher that is not codes, and says so', () => {
    const out = renderConfig({ ...emptyModel, targetGroups: [{ ...web, Matcher: { HttpCode: '2xx' } }] }, options());
    expect(out.config).toContain('http-check expect status 200\n');
    expect(out.warnings).toEqual([expect.stringContaining('matcher "2xx"')]);
  });
});

function server(tg: typeof web): ServerSpec {
  return { backend: backendName(tg.TargetGroupArn), name: '10.0.0.9:80', address: '10.0.0.9', port: 80, options: 'check inter 5000ms rise 5 fall 2 weight 100', draining: false, healthKey: 'k', knownHealthy: false };
}

describe('conditionAcls', () => {
  const acls = (c: RuleConditionRecord) => {
    const warnings: string[] = [];
    return { lines: conditionAcls('c', c, 'rule-arn', warnings), warnings };
  };

  it('matches exact paths as strings, prefix patterns as prefixes, others as anchored regexes', () => {
    expect(acls(pathIs('/a', '/b/*', '/c/*.png', '/d?')).lines).toEqual([
      "  acl c path -m str '/a'",
      "  acl c path -m beg '/b/'",
      "  acl c path -m reg '^\\x2fc\\x2f.*\\x2epng$'",
      "  acl c path -m reg '^\\x2fd.$'",
    ]);
  });

  it('matches hosts case-insensitively, with or without a port', () => {
    expect(acls(hostIs('*.Example.com')).lines).toEqual(["  acl c req.hdr(host) -m reg -i '^.*\\x2eExample\\x2ecom(:[0-9]+)?$'"]);
  });

  it('matches whole header values case-insensitively, each occurrence', () => {
    expect(acls(headerIs('X-Canary', 'on', 'b*')).lines).toEqual(["  acl c 'req.fhdr(X-Canary)' -m str -i 'on'", "  acl c 'req.fhdr(X-Canary)' -m reg -i '^b.*$'"]);
  });

  it('never matches a header name that is not a token', () => {
    const out = acls(headerIs('bad name', 'x'));
    expect(out.lines).toEqual(['  acl c always_false']);
    expect(out.warnings).toEqual([expect.stringContaining('not an HTTP token')]);
  });

  it('matches key=value pairs of the query, or a value under any key, wildcards within one parameter', () => {
    expect(acls(queryIs({ Key: 'v', Value: '2*' }, { Value: 'beta' })).lines).toEqual([
      "  acl c query -m reg -i '(^|&)v=2[^&]*(&|$)'",
      "  acl c query -m reg -i '(^|&)([^&=]*=)?beta(&|$)'",
    ]);
    const re = new RegExp('(^|&)v=2[^&]*(&|$)', 'i');
    expect(['v=2', 'a=1&v=20&b=2', 'V=2'].every((q) => re.test(q))).toBe(true);
    expect(['v=12', 'xv=2', 'v=3&w=2'].some((q) => re.test(q))).toBe(false);
  });

  it('matches methods exactly and source addresses by CIDR', () => {
    expect(acls(methodIs('GET')).lines).toEqual(["  acl c method -m str 'GET'"]);
    expect(acls(sourceIs('10.0.0.0/8', '::1/128')).lines).toEqual(["  acl c src '10.0.0.0/8'", "  acl c src '::1/128'"]);
  });

  it('leaves out values with control characters, and a condition left empty never matches', () => {
    const out = acls(pathIs('/a\nb'));
    expect(out.lines).toEqual(['  acl c always_false']);
    expect(out.warnings).toEqual([expect.stringContaining('control characters')]);
  });
});

describe('forwardLines (weighted target groups)', () => {
  const [a, b, c] = [targetGroupRecord('a'), targetGroupRecord('b'), targetGroupRecord('c')];
  const groups = new Map([a, b, c].map((g) => [g.TargetGroupArn, g]));

  /** The share each line gets: its draw `{ rand(R) lt w }` takes w/R of what earlier lines left. */
  function shares(action: ActionRecord): Map<string, number> {
    const out = new Map<string, number>();
    let left = 1;
    for (const { backend, draw } of forwardLines(action, groups, [])) {
      const m = /rand\((\d+)\) lt (\d+)/.exec(draw[0] ?? '');
      const p = m ? Number(m[2]) / Number(m[1]) : 1;
      out.set(backend, (out.get(backend) ?? 0) + left * p);
      left *= 1 - p;
    }
    return out;
  }

  it.each([
    [[3, 1, 0]],
    [[1, 2, 3]],
    [[1, 1, 1]],
    [[999, 0, 1]],
    [[0, 0, 5]],
  ])('splits %j as the weights say, and weight 0 gets nothing', (weights) => {
    const total = weights.reduce((s, w) => s + w, 0);
    const got = shares(forward([a, weights[0]!], [b, weights[1]!], [c, weights[2]!]));
    [a, b, c].forEach((g, i) => expect(got.get(backendName(g.TargetGroupArn)) ?? 0).toBeCloseTo(weights[i]! / total, 12));
    expect([...got.keys()].length).toBe(weights.filter((w) => w > 0).length);
  });

  it('sends everything to a single group without a draw', () => {
    expect(forwardLines(forward(a), groups, [])).toEqual([{ backend: backendName(a.TargetGroupArn), draw: [] }]);
  });

  it('answers 503 when every weight is 0', () => {
    expect(forwardLines(forward([a, 0], [b, 0]), groups, [])).toEqual([{ backend: UNAVAILABLE_BACKEND, draw: [] }]);
  });

  it('gives the share of a group that does not exist to 503, and says so', () => {
    const gone = targetGroupRecord('gone');
    const warnings: string[] = [];
    expect(forwardLines(forward([a, 1], [gone, 1]), groups, warnings)).toEqual([
      { backend: backendName(a.TargetGroupArn), draw: ['{ rand(2) lt 1 }'] },
      { backend: UNAVAILABLE_BACKEND, draw: [] },
    ]);
    expect(warnings).toEqual([expect.stringContaining('unknown target group')]);
  });
});

describe('redirectLocations', () => {
  it('keeps every part by default (ELBv2 defaults: #{protocol}://#{host}:#{port}/#{path}?#{query}), omitting a default port and an empty query', () => {
    expect(redirectLocations({ StatusCode: 'HTTP_301' }, 80)).toEqual([
      { location: 'http://%[req.hdr(host),regsub(:[0-9]+$,)]/%[path,regsub(^/,)]?%[query]', query: ['{ query -m len 1: }'] },
      { location: 'http://%[req.hdr(host),regsub(:[0-9]+$,)]/%[path,regsub(^/,)]', query: ['!{ query -m len 1: }'] },
    ]);
  });

  it('keeps a listener port that is not the default', () => {
    expect(redirectLocations({ StatusCode: 'HTTP_301', Query: '' }, 8080)).toEqual([{ location: 'http://%[req.hdr(host),regsub(:[0-9]+$,)]:8080/%[path,regsub(^/,)]', query: [] }]);
  });

  it('writes the given parts, escaping % for log-format', () => {
    expect(redirectLocations({ StatusCode: 'HTTP_302', Protocol: 'HTTPS', Host: 'example.com', Port: '443', Path: '/a%20b/#{path}', Query: 'x=1' }, 8080)).toEqual([
      { location: 'https://example.com/a%%20b/%[path,regsub(^/,)]?x=1', query: [] },
    ]);
  });

  it('keeps a literal query beside the original one', () => {
    expect(redirectLocations({ StatusCode: 'HTTP_301', Host: 'h', Port: '80', Path: '/', Query: 'a=1&#{query}' }, 80)).toEqual([
      { location: 'http://h/?a=1&%[query]', query: ['{ query -m len 1: }'] },
      { location: 'http://h/?a=1&', query: ['!{ query -m len 1: }'] },
    ]);
  });
});
