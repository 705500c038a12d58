/**
 * Every operation's reply, read by botocore itself: each element must be a member of the model's
 * output shape with a value of its type (botocore silently drops what it does not know, so a
 * misnamed member would vanish without this), and botocore's QueryParser must parse the document.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lbKeys } from '../model.js';
import { resourceId } from './arns.js';
import { basicSetup, elbHarness } from './harness.suite.js';
import { INPUT_SHAPES } from './shapes.js';

const CHECKER = String.raw`
import botocore, botocore.session, botocore.parsers, json, sys, datetime
from xml.etree import ElementTree as ET
session = botocore.session.get_session()
model = session.get_service_model('elbv2')
NS = '{http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/}'
def walk(el, shape, path, errs):
    t = shape.type_name
    if t == 'structure':
        for child in el:
            tag = child.tag.replace(NS, '')
            if tag not in shape.members:
                errs.append(path + '/' + tag + ': not in ' + shape.name)
            else:
                walk(child, shape.members[tag], path + '/' + tag, errs)
    elif t == 'list':
        for child in el:
            tag = child.tag.replace(NS, '')
            if tag != 'member':
                errs.append(path + '/' + tag + ': list items must be <member>')
            else:
                walk(child, shape.member, path + '/member', errs)
    else:
        if len(el):
            errs.append(path + ': scalar with children')
        text = el.text or ''
        if t in ('integer', 'long'):
            try: int(text)
            except ValueError: errs.append(path + ': not an integer: ' + text)
        elif t == 'boolean' and text not in ('true', 'false'):
            errs.append(path + ': not a boolean: ' + text)
        elif t == 'timestamp':
            try: datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%fZ')
            except ValueError: errs.append(path + ': not an ISO timestamp: ' + text)
        elif t == 'string' and shape.enum and text not in shape.enum:
            errs.append(path + ': ' + text + ' not in enum ' + '|'.join(shape.enum))
out = []
for item in json.load(sys.stdin):
    op = model.operation_model(item['op'])
    root = ET.fromstring(item['xml'])
    errs = []
    if root.tag != NS + item['op'] + 'Response':
        errs.append('root element ' + root.tag)
    result = root.find(NS + item['op'] + 'Result')
    if result is None:
        errs.append('no Result element')
    elif op.output_shape is not None:
        walk(result, op.output_shape, item['op'], errs)
    parsed = botocore.parsers.QueryParser().parse({'body': item['xml'].encode(), 'headers': {}, 'status_code': 200}, op.output_shape)
    out.append({'op': item['op'], 'errors': errs, 'parsed': json.loads(json.dumps(parsed, default=str))})
json.dump(out, sys.stdout)
`;

function botocoreCheck(replies: readonly { op: string; xml: string }[]): { op: string; errors: string[]; parsed: any }[] {
  return JSON.parse(execFileSync('python3', ['-c', CHECKER], { input: JSON.stringify(replies), maxBuffer: 64 * 1024 * 1024 }).toString());
}

let haveBotocore = true;
try {
  execFileSync('python3', ['-c', 'import botocore']);
} catch {
  haveBotocore = false;
  console.warn('wire.test.ts skipped: python3 with botocore is needed');
}

describe.skipIf(!haveBotocore)('replies as botocore reads them', () => {
  it('every operation’s reply fits its output shape and parses', async () => {
    const h = elbHarness();
    const { lbArn, tgArn, listenerArn } = await basicSetup(h);
    await h.call('DescribeLoadBalancers', { Names: ['web'] });
    await h.call('DescribeLoadBalancerAttributes', { LoadBalancerArn: lbArn });
    await h.call('ModifyLoadBalancerAttributes', { LoadBalancerArn: lbArn, Attributes: [{ Key: 'idle_timeout.timeout_seconds', Value: '30' }] });
    await h.call('DescribeTargetGroups', { LoadBalancerArn: lbArn });
    await h.call('ModifyTargetGroup', { TargetGroupArn: tgArn, HealthCheckPath: '/health' });
    await h.call('DescribeTargetGroupAttributes', { TargetGroupArn: tgArn });
    await h.call('ModifyTargetGroupAttributes', { TargetGroupArn: tgArn, Attributes: [{ Key: 'stickiness.enabled', Value: 'true' }] });
    await h.call('RegisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1', AvailabilityZone: 'all' }, { Id: '10.0.0.2' }, { Id: '10.0.0.3' }] });
    await h.store.txn([], [{ type: 'put', key: lbKeys.health(resourceId(tgArn, 'targetgroup'), '10.0.0.2', 8080), value: JSON.stringify({ State: 'unhealthy', Reason: 'Target.Timeout', Description: 'Request timed out', UpdatedAt: 1 }) }]);
    await h.call('DeregisterTargets', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.3' }] });
    await h.call('DescribeTargetHealth', { TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }, { Id: '10.0.0.2' }, { Id: '10.0.0.3' }, { Id: '10.9.9.9' }] });
    await h.call('DescribeListeners', { LoadBalancerArn: lbArn });
    await h.call('ModifyListener', { ListenerArn: listenerArn, DefaultActions: [{ Type: 'redirect', RedirectConfig: { Port: '9000', StatusCode: 'HTTP_302' } }] });
    const tg2 = (await h.call('CreateTargetGroup', { Name: 'b', Protocol: 'HTTP', Port: 81, TargetType: 'ip' })).TargetGroups[0].TargetGroupArn;
    const rule = (
      await h.call('CreateRule', {
        ListenerArn: listenerArn,
        Priority: 7,
        Conditions: [
          { Field: 'path-pattern', Values: ['/a/*'] },
          { Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-A', Values: ['1'] } },
          { Field: 'query-string', QueryStringConfig: { Values: [{ Key: 'k', Value: 'v' }, { Value: 'bare' }] } },
          { Field: 'source-ip', SourceIpConfig: { Values: ['10.0.0.0/8'] } },
        ],
        Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgArn, Weight: 2 }, { TargetGroupArn: tg2, Weight: 1 }], TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 30 } } }],
      })
    ).Rules[0].RuleArn;
    const rule2 = (await h.call('CreateRule', { ListenerArn: listenerArn, Priority: 8, Conditions: [{ Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['GET'] } }], Actions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '418', ContentType: 'text/plain', MessageBody: 'teapot' } }] })).Rules[0].RuleArn;
    await h.call('DescribeRules', { ListenerArn: listenerArn });
    await h.call('ModifyRule', { RuleArn: rule, Conditions: [{ Field: 'host-header', Values: ['a.example'] }] });
    await h.call('SetRulePriorities', { RulePriorities: [{ RuleArn: rule, Priority: 9 }, { RuleArn: rule2, Priority: 7 }] });
    await h.call('AddTags', { ResourceArns: [lbArn, tgArn], Tags: [{ Key: 'a', Value: 'b' }] });
    await h.call('DescribeTags', { ResourceArns: [lbArn, tgArn, listenerArn, rule] });
    await h.call('RemoveTags', { ResourceArns: [lbArn], TagKeys: ['a'] });
    await h.call('DescribeAccountLimits', { PageSize: 2 });
    await h.call('DeleteRule', { RuleArn: rule2 });
    await h.call('DeleteListener', { ListenerArn: listenerArn });
    await h.call('DeleteTargetGroup', { TargetGroupArn: tg2 });
    await h.call('DeleteLoadBalancer', { LoadBalancerArn: lbArn });

    expect(new Set(h.replies.map((r) => r.op))).toEqual(new Set(Object.keys(INPUT_SHAPES)));
    const checked = botocoreCheck(h.replies);
    expect(checked.filter((c) => c.errors.length > 0)).toEqual([]);

    const byOp = (op: string) => checked.filter((c) => c.op === op).map((c) => c.parsed);
    const lb = byOp('CreateLoadBalancer')[0].LoadBalancers[0];
    expect(lb.CreatedTime).toBe('2026-03-01 12:00:00+00:00');
    expect(lb.State).toEqual({ Code: 'active' });
    const health = byOp('DescribeTargetHealth')[0].TargetHealthDescriptions;
    expect(health.map((d: any) => [d.Target.Id, d.Target.Port, d.HealthCheckPort, d.TargetHealth.State])).toEqual([
      ['10.0.0.1', 8080, '8080', 'initial'],
      ['10.0.0.2', 8080, '8080', 'unhealthy'],
      ['10.0.0.3', 8080, '8080', 'draining'],
      ['10.9.9.9', 8080, '8080', 'unused'],
    ]);
    const rules = byOp('DescribeRules')[0].Rules;
    expect(rules.map((r: any) => [r.Priority, r.IsDefault])).toEqual([
      ['7', false],
      ['8', false],
      ['default', true],
    ]);
    expect(rules[0].Actions[0].ForwardConfig).toEqual({
      TargetGroups: [
        { TargetGroupArn: tgArn, Weight: 2 },
        { TargetGroupArn: tg2, Weight: 1 },
      ],
      TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 30 },
    });
    expect(rules[0].Conditions[2]).toEqual({ Field: 'query-string', QueryStringConfig: { Values: [{ Key: 'k', Value: 'v' }, { Value: 'bare' }] } });
    expect(byOp('DescribeTargetGroups')[0].TargetGroups[0].LoadBalancerArns).toEqual([lbArn]);
    expect(byOp('DescribeTags')[0].TagDescriptions[1].Tags).toEqual([{ Key: 'a', Value: 'b' }]);
    expect(byOp('DescribeAccountLimits')[0].NextMarker).toBeTypeOf('string');
  });
});
