/** Parser of the cluster query language: every subject, operator spelling, grouping rule and error. */
import { describe, expect, it } from 'vitest';
import type { Operator, QueryExpr, Subject } from './ast.js';
import { OPERATORS_BY_SUBJECT } from './ast.js';
import { formatQuery } from './format.js';
import { MAX_NESTING, QuerySyntaxError, parseQuery } from './parser.js';

const attr = (name: string): Subject => ({ kind: 'attribute', name });
const eq = (subject: Subject, value: string): QueryExpr => ({ kind: 'compare', subject, operator: 'equals', value });

/** The parse error for `text`, so that tests can look at message and position together. */
function errorOf(text: string, label?: string): QuerySyntaxError {
  try {
    parseQuery(text, label === undefined ? undefined : { label });
  } catch (err) {
    if (err instanceof QuerySyntaxError) return err;
    throw err;
  }
  throw new Error(`expected '${text}' to be rejected`);
}

describe('subjects', () => {
  it.each([
    ['agentConnected == true', { kind: 'agentConnected' }, 'true'],
    ['agentVersion == 1.14.5', { kind: 'agentVersion' }, '1.14.5'],
    ['attribute:ecs.instance-type == t2.small', attr('ecs.instance-type'), 't2.small'],
    ['ec2InstanceId == i-0123456789abcdef0', { kind: 'ec2InstanceId' }, 'i-0123456789abcdef0'],
    ['registeredAt == 2018-06-18', { kind: 'registeredAt' }, '2018-06-18'],
    ['runningTasksCount == 0', { kind: 'runningTasksCount' }, '0'],
    ['task:group == service:production', { kind: 'taskGroup' }, 'service:production'],
  ] as const)('%s', (text, subject, value) => {
    expect(parseQuery(text)).toEqual({ kind: 'compare', subject, operator: 'equals', value });
  });

  it('reads attribute names with every character ECS allows in them', () => {
    expect(parseQuery('attribute:A-z_0.9/x\\y exists')).toEqual({ kind: 'exists', subject: attr('A-z_0.9/x\\y'), negated: false });
  });

  it('ends an attribute name at an operator written without spaces', () => {
    expect(parseQuery('attribute:stack==prod')).toEqual(eq(attr('stack'), 'prod'));
    expect(parseQuery('attribute:stack!=prod')).toEqual({ kind: 'compare', subject: attr('stack'), operator: 'not_equals', value: 'prod' });
  });
});

describe('operators, in both spellings', () => {
  const cases: Array<[string, string, Operator]> = [
    ['==', 'equals', 'equals'],
    ['!=', 'not_equals', 'not_equals'],
    ['>', 'greater_than', 'greater_than'],
    ['>=', 'greater_than_equal', 'greater_than_equal'],
    ['<', 'less_than', 'less_than'],
    ['<=', 'less_than_equal', 'less_than_equal'],
  ];
  it.each(cases)('%s and %s', (symbol, word, operator) => {
    const want = { kind: 'compare', subject: attr('cpu'), operator, value: '4' };
    expect(parseQuery(`attribute:cpu ${symbol} 4`)).toEqual(want);
    expect(parseQuery(`attribute:cpu ${word} 4`)).toEqual(want);
    // Symbols need no surrounding spaces.
    expect(parseQuery(`attribute:cpu${symbol}4`)).toEqual(want);
  });

  it.each([
    ['exists', false],
    ['!exists', true],
    ['not_exists', true],
  ] as const)('%s', (op, negated) => {
    expect(parseQuery(`attribute:gpu ${op}`)).toEqual({ kind: 'exists', subject: attr('gpu'), negated });
  });

  it.each([
    ['in', false],
    ['!in', true],
    ['not_in', true],
  ] as const)('%s', (op, negated) => {
    expect(parseQuery(`attribute:ecs.availability-zone ${op} [us-east-1a, us-east-1b]`)).toEqual({
      kind: 'in',
      subject: attr('ecs.availability-zone'),
      negated,
      values: ['us-east-1a', 'us-east-1b'],
    });
    expect(parseQuery(`attribute:z ${op}[a,b]`)).toEqual({ kind: 'in', subject: attr('z'), negated, values: ['a', 'b'] });
  });

  it.each([
    ['=~', false],
    ['matches', false],
    ['!~', true],
    ['not_matches', true],
  ] as const)('%s', (op, negated) => {
    expect(parseQuery(`attribute:ecs.instance-type ${op} t2.*`)).toEqual({
      kind: 'match',
      subject: attr('ecs.instance-type'),
      negated,
      pattern: 't2.*',
    });
  });

  it('lets every subject take exactly the operators ECS documents for it', () => {
    const argument = (subject: Subject, op: Operator): string => {
      if (op === 'exists' || op === 'not_exists') return '';
      const value = { agentConnected: 'true', registeredAt: '2018-06-18', runningTasksCount: '1' }[subject.kind as string] ?? 'x';
      return op === 'in' || op === 'not_in' ? `[${value}]` : value;
    };
    const subjects: Array<[string, Subject]> = [
      ['agentConnected', { kind: 'agentConnected' }],
      ['agentVersion', { kind: 'agentVersion' }],
      ['attribute:a', attr('a')],
      ['ec2InstanceId', { kind: 'ec2InstanceId' }],
      ['registeredAt', { kind: 'registeredAt' }],
      ['runningTasksCount', { kind: 'runningTasksCount' }],
      ['task:group', { kind: 'taskGroup' }],
    ];
    const all: Operator[] = [...OPERATORS_BY_SUBJECT.attribute];
    for (const [text, subject] of subjects) {
      for (const op of all) {
        const expr = `${text} ${op} ${argument(subject, op)}`;
        if (OPERATORS_BY_SUBJECT[subject.kind].includes(op)) expect(() => parseQuery(expr), expr).not.toThrow();
        else expect(errorOf(expr).detail, expr).toMatch(/^operator '.+' is not valid for /);
      }
    }
  });
});

describe('arguments', () => {
  it('reads single- and double-quoted values, with an escaped quote inside', () => {
    expect(parseQuery(`ec2InstanceId in ['i-abcd1234', "i-wxyz5678"]`)).toEqual({
      kind: 'in',
      subject: { kind: 'ec2InstanceId' },
      negated: false,
      values: ['i-abcd1234', 'i-wxyz5678'],
    });
    expect(parseQuery(`attribute:motd == 'it\\'s (a) [b], c && d'`)).toEqual(eq(attr('motd'), "it's (a) [b], c && d"));
    expect(parseQuery(`attribute:empty == ''`)).toEqual(eq(attr('empty'), ''));
  });

  it('ends a bare value at && and || even without spaces', () => {
    expect(parseQuery('attribute:a==x&&attribute:b==y')).toEqual({ kind: 'and', left: eq(attr('a'), 'x'), right: eq(attr('b'), 'y') });
    expect(parseQuery('attribute:a==x||attribute:b==y')).toEqual({ kind: 'or', left: eq(attr('a'), 'x'), right: eq(attr('b'), 'y') });
  });

  it('keeps balanced parentheses and character classes in a bare pattern', () => {
    expect(parseQuery('attribute:t =~ t2.(micro|small)')).toMatchObject({ pattern: 't2.(micro|small)' });
    expect(parseQuery('attribute:t =~ [(a-c)]+x')).toMatchObject({ pattern: '[(a-c)]+x' });
    expect(parseQuery('attribute:t =~ a\\ b')).toMatchObject({ pattern: 'a\\ b' });
    expect(parseQuery('not(attribute:t =~ (a|b))')).toEqual({
      kind: 'not',
      operand: { kind: 'match', subject: attr('t'), negated: false, pattern: '(a|b)' },
    });
    expect(parseQuery("attribute:t =~ 'a b|c'")).toMatchObject({ pattern: 'a b|c' });
  });

  it.each(['2018-06-18T22:28:28+00:00', '2018-06-18T22:28:28Z', '2018-06-18T22:28:28', '2018-06-18', '2018-06-18T22:28:28.5-07:30'])(
    'accepts the date %s',
    (date) => {
      expect(parseQuery(`registeredAt < ${date}`)).toEqual({ kind: 'compare', subject: { kind: 'registeredAt' }, operator: 'less_than', value: date });
    },
  );
});

describe('combining', () => {
  const a = eq(attr('a'), '1');
  const b = eq(attr('b'), '2');
  const c = eq(attr('c'), '3');

  it.each(['&&', 'and'])('%s', (op) => {
    expect(parseQuery(`attribute:a == 1 ${op} attribute:b == 2`)).toEqual({ kind: 'and', left: a, right: b });
  });

  it.each(['||', 'or'])('%s', (op) => {
    expect(parseQuery(`attribute:a == 1 ${op} attribute:b == 2`)).toEqual({ kind: 'or', left: a, right: b });
  });

  it.each(['!', 'not ', 'not', '! '])('negation written %j', (op) => {
    expect(parseQuery(`${op}(attribute:a == 1)`)).toEqual({ kind: 'not', operand: a });
  });

  it('negates a bare comparison without parentheses', () => {
    expect(parseQuery('not task:group == database')).toEqual({ kind: 'not', operand: eq({ kind: 'taskGroup' }, 'database') });
    expect(parseQuery('!attribute:a == 1')).toEqual({ kind: 'not', operand: a });
  });

  it('binds and tighter than or, on either side', () => {
    expect(parseQuery('attribute:a == 1 or attribute:b == 2 and attribute:c == 3')).toEqual({
      kind: 'or',
      left: a,
      right: { kind: 'and', left: b, right: c },
    });
    expect(parseQuery('attribute:a == 1 and attribute:b == 2 or attribute:c == 3')).toEqual({
      kind: 'or',
      left: { kind: 'and', left: a, right: b },
      right: c,
    });
  });

  it('binds not tighter than and', () => {
    expect(parseQuery('not attribute:a == 1 and attribute:b == 2')).toEqual({ kind: 'and', left: { kind: 'not', operand: a }, right: b });
  });

  it('groups with parentheses, and chains left to right', () => {
    expect(parseQuery('(attribute:a == 1 or attribute:b == 2) and attribute:c == 3')).toEqual({
      kind: 'and',
      left: { kind: 'or', left: a, right: b },
      right: c,
    });
    expect(parseQuery('attribute:a == 1 or attribute:b == 2 or attribute:c == 3')).toEqual({
      kind: 'or',
      left: { kind: 'or', left: a, right: b },
      right: c,
    });
  });

  it('nests parentheses and ignores spaces around them', () => {
    expect(parseQuery('  ( ( attribute:a == 1 ) )  ')).toEqual(a);
    expect(parseQuery('not (not (attribute:a == 1))')).toEqual({ kind: 'not', operand: { kind: 'not', operand: a } });
  });

  it('does not take a word that merely starts with a keyword for one', () => {
    expect(errorOf('attribute:a == 1 andy attribute:b == 2').detail).toBe(
      "expected 'and', 'or' or the end of the expression at position 17, found 'andy'",
    );
  });

  it(`accepts ${MAX_NESTING} levels of nesting and refuses one more`, () => {
    const nested = (n: number) => '('.repeat(n) + 'attribute:a == 1' + ')'.repeat(n);
    expect(parseQuery(nested(MAX_NESTING))).toEqual(a);
    expect(errorOf(nested(MAX_NESTING + 1)).detail).toBe(`the expression nests deeper than ${MAX_NESTING} levels at position ${MAX_NESTING}`);
    expect(errorOf('!'.repeat(MAX_NESTING + 1) + 'attribute:a exists').position).toBe(MAX_NESTING);
  });
});

describe('round trip through formatQuery', () => {
  it.each([
    'attribute:a == 1 || attribute:b == 2 && attribute:c == 3',
    '(attribute:a == 1 || attribute:b == 2) && !(attribute:c exists)',
    "ec2InstanceId !in ['i-1', \"i 2\"]",
    'attribute:t =~ t2.(micro|small) and task:group !~ "db.*"',
    'registeredAt >= 2018-06-18T22:28:28Z or runningTasksCount <= 3 or agentVersion > 1.9 or agentConnected != false',
    "attribute:q == 'it\\'s' && attribute:r == ''",
  ])('%s', (text) => {
    const expr = parseQuery(text);
    expect(parseQuery(formatQuery(expr))).toEqual(expr);
  });

  it('prints the grouping the parser chose', () => {
    expect(formatQuery(parseQuery('attribute:a == 1 or attribute:b == 2 and not attribute:c exists'))).toBe(
      'attribute:a == 1 || (attribute:b == 2 && !(attribute:c exists))',
    );
  });
});

describe('errors', () => {
  it('names the expression and the position, as the scheduler reports them', () => {
    const err = errorOf('attribute:zone foo', 'memberOf expression');
    expect(err.message).toBe("memberOf expression: expected an operator after 'attribute:zone' at position 15, found 'foo'");
    expect(err.position).toBe(15);
    expect(err.name).toBe('QuerySyntaxError');
  });

  it.each([
    ['', "expected a subject, '(' or 'not' at position 0, but the expression ended"],
    ['   ', "expected a subject, '(' or 'not' at position 3, but the expression ended"],
    ['== 1', "expected a subject, '(' or 'not' at position 0, found '=='"],
    [')', "expected a subject, '(' or 'not' at position 0, found ')'"],
    ['not', "expected a subject, '(' or 'not' at position 3, but the expression ended"],
    ['attribute:a == 1 and', "expected a subject, '(' or 'not' at position 20, but the expression ended"],
    ['attribute:a == 1 or ()', "expected a subject, '(' or 'not' at position 21, found ')'"],
    [
      'foo == 1',
      "unknown subject 'foo' at position 0; expected agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group",
    ],
    [
      'AgentConnected == true',
      "unknown subject 'AgentConnected' at position 0; expected agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group",
    ],
    [
      'task:name == x',
      "unknown subject 'task:name' at position 0; expected agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group",
    ],
    ['attribute: == x', "expected an attribute name after 'attribute:' at position 10, found '=='"],
    ['attribute:', "expected an attribute name after 'attribute:' at position 10, but the expression ended"],
    ['attribute:zone', "expected an operator after 'attribute:zone' at position 14, but the expression ended"],
    ['attribute:zone = a', "expected an operator after 'attribute:zone' at position 15, found '='"],
    ['attribute:zone !inx [a]', "expected an operator after 'attribute:zone' at position 15, found '!inx'"],
    ['agentConnected:x == true', "expected an operator after 'agentConnected' at position 14, found ':x'"],
    ['ec2InstanceId > i-1', "operator '>' is not valid for ec2InstanceId at position 14; use one of ==, !=, in, !in, =~, !~"],
    [
      'runningTasksCount exists',
      "operator 'exists' is not valid for runningTasksCount at position 18; use one of ==, !=, >, >=, <, <=",
    ],
    ['attribute:a ==', "expected a value after 'attribute:a ==' at position 14, but the expression ended"],
    ['attribute:a equals )', "expected a value after 'attribute:a equals' at position 19, found ')'"],
    ['attribute:a == 1 2', "expected 'and', 'or' or the end of the expression at position 17, found '2'"],
    ['attribute:a == 1)', "expected 'and', 'or' or the end of the expression at position 16, found ')'"],
    ['(attribute:a == 1', "expected 'and', 'or' or ')' to close the '(' at position 0 at position 17, but the expression ended"],
    ['((attribute:a == 1) x', "expected 'and', 'or' or ')' to close the '(' at position 0 at position 20, found 'x'"],
    ['attribute:a in a', "expected '[' to start the list of values after 'attribute:a in' at position 15, found 'a'"],
    ['attribute:a in', "expected '[' to start the list of values after 'attribute:a in' at position 14, but the expression ended"],
    ['attribute:a in []', "expected a value in the list at position 16, found ']'"],
    ['attribute:a in [a,]', "expected a value in the list at position 18, found ']'"],
    ['attribute:a in [a b]', "expected ',' or ']' to close the list opened at position 15 at position 18, found 'b]'"],
    ['attribute:a in [a, b', "expected ',' or ']' to close the list opened at position 15 at position 20, but the expression ended"],
    ["attribute:a == 'abc", 'the quoted value opened at position 15 is not closed'],
    ['attribute:a in ["x]', 'the quoted value opened at position 16 is not closed'],
    ['attribute:a =~', "expected a pattern after 'attribute:a =~' at position 14, but the expression ended"],
    ['attribute:a =~ )', "expected a pattern after 'attribute:a =~' at position 15, found ')'"],
    ['registeredAt > yesterday', "invalid date 'yesterday' for registeredAt at position 15; use 2018-06-18, 2018-06-18T22:28:28, 2018-06-18T22:28:28Z or 2018-06-18T22:28:28+00:00"],
    ['registeredAt > 2018-02-30', "invalid date '2018-02-30' for registeredAt at position 15; use 2018-06-18, 2018-06-18T22:28:28, 2018-06-18T22:28:28Z or 2018-06-18T22:28:28+00:00"],
    ['registeredAt > 2018-06-18T25:00:00', "invalid date '2018-06-18T25:00:00' for registeredAt at position 15; use 2018-06-18, 2018-06-18T22:28:28, 2018-06-18T22:28:28Z or 2018-06-18T22:28:28+00:00"],
    ['runningTasksCount < many', "invalid count 'many' for runningTasksCount at position 20; expected a whole number"],
    ['runningTasksCount < -1', "invalid count '-1' for runningTasksCount at position 20; expected a whole number"],
    ['runningTasksCount < 1.5', "invalid count '1.5' for runningTasksCount at position 20; expected a whole number"],
    ['agentConnected == yes', "invalid value 'yes' for agentConnected at position 18; expected true or false"],
    ['agentConnected in [true, maybe]', "invalid value 'maybe' for agentConnected at position 25; expected true or false"],
  ])('%j', (text, detail) => {
    const err = errorOf(text);
    expect(err.detail).toBe(detail);
    expect(err.message).toBe(`query expression: ${detail}`);
    expect(detail).toContain(`position ${err.position}`);
  });

  it.each([
    ['attribute:a =~ (abc', 15],
    ["attribute:a =~ 'a)(b'", 15],
    ["attribute:a =~ '*x'", 15],
  ])('rejects the invalid pattern in %j', (text, position) => {
    const err = errorOf(text);
    expect(err.detail).toMatch(new RegExp(`^invalid pattern '.+' at position ${position}: Invalid regular expression`));
    expect(err.position).toBe(position);
  });
});
