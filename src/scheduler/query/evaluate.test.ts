/** Evaluation of cluster queries against container instances: every subject and operator, both ways. */
import { describe, expect, it } from 'vitest';
import { evaluateQuery, type QuerySubject } from './evaluate.js';
import { parseQuery } from './parser.js';
import { compareVersions, parseQueryDate } from './values.js';

/** A container instance as a query sees it; attributes map to null when present without a value. */
function instance(over: Partial<Omit<QuerySubject, 'attribute'>> & { attributes?: Record<string, string | null> } = {}): QuerySubject {
  const { attributes = {}, ...fields } = over;
  return {
    attribute: (name) => (Object.hasOwn(attributes, name) ? attributes[name] : undefined),
    ec2InstanceId: 'i-0123456789abcdef0',
    registeredAt: new Date('2018-06-18T22:28:28.507Z'),
    runningTasksCount: 2,
    agentConnected: true,
    agentVersion: '1.14.5',
    taskGroups: ['service:web', 'family:batch'],
    ...fields,
  };
}

const holds = (text: string, subject: QuerySubject = instance()) => evaluateQuery(parseQuery(text), subject);

const ci = instance({
  attributes: {
    'ecs.instance-type': 't2.micro',
    'ecs.availability-zone': 'us-east-1a',
    'ecs.capability.task-eni': null,
    cpu: '16',
    weight: '9.5',
  },
});

describe('attribute:<name>', () => {
  it.each([
    ['attribute:ecs.instance-type == t2.micro', true],
    ['attribute:ecs.instance-type equals t2.small', false],
    ['attribute:ecs.instance-type != t2.small', true],
    ['attribute:ecs.instance-type not_equals t2.micro', false],
    ['attribute:ecs.availability-zone in [us-east-1a, us-east-1b]', true],
    ['attribute:ecs.availability-zone in [us-east-1c]', false],
    ['attribute:ecs.availability-zone !in [us-east-1c]', true],
    ['attribute:ecs.availability-zone not_in [us-east-1a]', false],
    ['attribute:ecs.instance-type =~ t2.*', true],
    ['attribute:ecs.instance-type matches t2', false],
    ['attribute:ecs.instance-type =~ micro', false],
    ['attribute:ecs.instance-type !~ m5.*', true],
    ['attribute:ecs.instance-type not_matches t2.(micro|small)', false],
    ['attribute:ecs.capability.task-eni exists', true],
    ['attribute:ecs.capability.task-eni !exists', false],
    ['attribute:gpu exists', false],
    ['attribute:gpu not_exists', true],
  ])('%s → %s', (text, want) => {
    expect(holds(text, ci)).toBe(want);
  });

  it('orders numbers numerically and other values as strings', () => {
    expect(holds('attribute:cpu > 4', ci)).toBe(true); // '16' > '4' as a string would be false
    expect(holds('attribute:cpu greater_than_equal 16', ci)).toBe(true);
    expect(holds('attribute:cpu < 16', ci)).toBe(false);
    expect(holds('attribute:cpu less_than_equal 16.0', ci)).toBe(true);
    expect(holds('attribute:weight >= 10', ci)).toBe(false);
    expect(holds('attribute:ecs.instance-type > t2.a', ci)).toBe(true);
    expect(holds('attribute:ecs.instance-type < t2.a', ci)).toBe(false);
  });

  it('compares == as strings, so 16 and 16.0 differ', () => {
    expect(holds('attribute:cpu == 16.0', ci)).toBe(false);
  });

  it('holds no positive comparison for a missing attribute or one without a value, and every negated one', () => {
    for (const name of ['gpu', 'ecs.capability.task-eni']) {
      for (const op of ['== x', '> 0', '>= 0', '< z', '<= z', 'in [x]', '=~ .*']) expect(holds(`attribute:${name} ${op}`, ci)).toBe(false);
      for (const op of ['!= x', '!in [x]', '!~ .*']) expect(holds(`attribute:${name} ${op}`, ci)).toBe(true);
    }
  });
});

describe('agentConnected', () => {
  it.each([
    ['agentConnected == true', true, true],
    ['agentConnected == true', false, false],
    ['agentConnected != true', false, true],
    ['agentConnected in [false]', false, true],
    ['agentConnected !in [false]', false, false],
    ['agentConnected =~ t.*', true, true],
    ['agentConnected !~ t.*', true, false],
  ])('%s with agentConnected=%s → %s', (text, agentConnected, want) => {
    expect(holds(text, instance({ agentConnected }))).toBe(want);
  });
});

describe('agentVersion', () => {
  it.each([
    ['agentVersion == 1.14.5', true],
    ['agentVersion != 1.14.5', false],
    ['agentVersion > 1.9.0', true], // 14 > 9 as numbers, not as strings
    ['agentVersion >= 1.14.5', true],
    ['agentVersion < 1.100', true],
    ['agentVersion <= 1.14.4', false],
    ['agentVersion == 1.14.5.0', true],
  ])('%s → %s', (text, want) => {
    expect(holds(text)).toBe(want);
  });

  it('holds no ordering when the instance reports no version', () => {
    const noVersion = instance({ agentVersion: undefined });
    expect(holds('agentVersion >= 0', noVersion)).toBe(false);
    expect(holds('agentVersion != 1.0', noVersion)).toBe(true);
  });

  it('orders versions by their numbers, ignoring suffixes', () => {
    expect(compareVersions('1.10.0', '1.9.2')).toBe(1);
    expect(compareVersions('1.14', '1.14.0')).toBe(0);
    expect(compareVersions('v1.2.3-rc1', '1.2.3')).toBe(0);
    expect(compareVersions('abc', 'abd')).toBe(-1);
  });
});

describe('ec2InstanceId', () => {
  it.each([
    ['ec2InstanceId == i-0123456789abcdef0', true],
    ['ec2InstanceId != i-0123456789abcdef0', false],
    ["ec2InstanceId in ['i-abcd1234', 'i-0123456789abcdef0']", true],
    ["ec2InstanceId not_in ['i-abcd1234']", true],
    ['ec2InstanceId =~ i-0123.*', true],
    ['ec2InstanceId !~ i-0123.*', false],
  ])('%s → %s', (text, want) => {
    expect(holds(text)).toBe(want);
  });
});

describe('registeredAt (2018-06-18T22:28:28.507Z)', () => {
  it.each([
    ['registeredAt == 2018-06-18', true], // a date alone compares by day
    ['registeredAt != 2018-06-18', false],
    ['registeredAt > 2018-06-17', true],
    ['registeredAt > 2018-06-18', false],
    ['registeredAt >= 2018-06-18', true],
    ['registeredAt < 2018-06-19', true],
    ['registeredAt <= 2018-06-17', false],
    ['registeredAt == 2018-06-18T22:28:28Z', true], // to the second
    ['registeredAt == 2018-06-18T22:28:28', true], // no zone: UTC
    ['registeredAt == 2018-06-18T22:28:28+00:00', true],
    ['registeredAt == 2018-06-18T23:28:28+01:00', true],
    ['registeredAt == 2018-06-18T22:28:28.5Z', false], // to the millisecond
    ['registeredAt == 2018-06-18T22:28:28.507Z', true],
    ['registeredAt < 2018-06-18T22:28:29Z', true],
    ['registeredAt > 2018-06-18T22:28:27Z', true],
    ['registeredAt greater_than 2018-06-18T22:28:28Z', false],
    ['registeredAt less_than_equal 2018-06-18T22:28:28Z', true],
  ])('%s → %s', (text, want) => {
    expect(holds(text)).toBe(want);
  });

  it('reads each documented format to the right instant', () => {
    expect(parseQueryDate('2018-06-18')).toEqual({ epochMs: Date.UTC(2018, 5, 18), unit: 'day' });
    expect(parseQueryDate('2018-06-18T22:28:28-02:30')).toEqual({ epochMs: Date.UTC(2018, 5, 19, 0, 58, 28), unit: 'second' });
    expect(parseQueryDate('2018-06-18T22:28:28.25')).toEqual({ epochMs: Date.UTC(2018, 5, 18, 22, 28, 28, 250), unit: 'millisecond' });
    expect(parseQueryDate('2018-6-18')).toBeUndefined();
    expect(parseQueryDate('2018-06-18T22:28:28+24:00')).toBeUndefined();
  });
});

describe('runningTasksCount', () => {
  it.each([
    ['runningTasksCount == 2', true],
    ['runningTasksCount != 2', false],
    ['runningTasksCount > 10', false], // numbers, not strings: '2' > '10'
    ['runningTasksCount >= 2', true],
    ['runningTasksCount < 10', true],
    ['runningTasksCount <= 1', false],
    ['runningTasksCount == 0', false],
  ])('%s → %s', (text, want) => {
    expect(holds(text)).toBe(want);
  });
});

describe('task:group', () => {
  it.each([
    ['task:group == service:web', true],
    ['task:group == service:db', false],
    ['task:group != service:db', true], // no task of group service:db
    ['task:group != service:web', false],
    ['task:group in [service:db, family:batch]', true],
    ['task:group !in [service:db, family:batch]', false],
    ['task:group =~ service:.*', true],
    ['task:group !~ service:.*', false],
    ['task:group exists', true],
    ['task:group !exists', false],
  ])('%s → %s', (text, want) => {
    expect(holds(text)).toBe(want);
  });

  it('sees no group on an idle instance', () => {
    const idle = instance({ taskGroups: [] });
    expect(holds('task:group exists', idle)).toBe(false);
    expect(holds('not(task:group == database)', idle)).toBe(true);
    expect(holds('task:group != database', idle)).toBe(true);
  });

  it('reads taskGroups as any iterable', () => {
    expect(holds('task:group == a', instance({ taskGroups: new Set(['a']) }))).toBe(true);
  });
});

describe('combinations', () => {
  it.each([
    ['attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d', true],
    ['attribute:ecs.instance-type =~ t2.* && attribute:cpu < 2', false],
    ['attribute:cpu < 2 or attribute:ecs.instance-type =~ t2.*', true],
    ['attribute:cpu < 2 || attribute:gpu exists', false],
    ['not attribute:gpu exists', true],
    ['!(attribute:cpu > 2)', false],
    // and binds tighter: true || (false && false) = true; (true || false) && false = false
    ['attribute:cpu == 16 or attribute:cpu == 1 and attribute:cpu == 2', true],
    ['(attribute:cpu == 16 or attribute:cpu == 1) and attribute:cpu == 2', false],
    ['not not attribute:cpu == 16', true],
  ])('%s → %s', (text, want) => {
    expect(holds(text, ci)).toBe(want);
  });

  it('evaluates one parsed query against many instances with the same result as parsing each time', () => {
    const query = parseQuery('attribute:t =~ t2.* and runningTasksCount < 3');
    const instances = ['t2.micro', 't3.micro', 't2.large'].map((t, i) => instance({ attributes: { t }, runningTasksCount: i + 1 }));
    expect(instances.map((s) => evaluateQuery(query, s))).toEqual([true, false, false]);
    expect(instances.map((s) => evaluateQuery(query, s))).toEqual([true, false, false]);
  });
});
