/**
 * Parser for ECS's cluster query language (ListContainerInstances filters, memberOf placement
 * constraints). Hand-written recursive descent, so that every error names what was expected and
 * where: "memberOf expression: expected an operator after 'attribute:zone' at position 15, found 'x'".
 *
 * Grammar (positions in messages are 0-based offsets into the expression):
 *
 *   expression := or
 *   or         := and (('||' | 'or') and)*
 *   and        := unary (('&&' | 'and') unary)*          -- and binds tighter than or
 *   unary      := ('!' | 'not') unary | '(' or ')' | comparison
 *   comparison := subject operator [argument]
 *   subject    := agentConnected | agentVersion | attribute:<name> | ec2InstanceId | registeredAt
 *                 | runningTasksCount | task:group
 *   operator   := == equals | != not_equals | > greater_than | >= greater_than_equal | < less_than
 *                 | <= less_than_equal | exists | !exists not_exists | in | !in not_in
 *                 | =~ matches | !~ not_matches
 *   argument   := value | '[' value (',' value)* ']'      -- a list for in / not_in only
 *   value      := 'single quoted' | "double quoted" | bare
 *
 * A bare value runs to whitespace, a bracket, a parenthesis, a comma, a quote, '&&' or '||'. A bare
 * pattern (after =~ / !~) may also hold balanced parentheses and character classes, so `t2.(micro|small)`
 * needs no quotes. Keywords and subjects are case-sensitive, as in the ECS documentation.
 */
import type { CompareOperator, Comparison, Operator, QueryExpr, Subject } from './ast.js';
import { OPERATOR_SYMBOL, OPERATORS_BY_SUBJECT, subjectText } from './ast.js';
import { compilePattern, parseCount, parseQueryDate } from './values.js';

/** A parse failure: `message` is `<label>: <detail>`, ready to hand to a caller as is. */
export class QuerySyntaxError extends Error {
  /** 0-based offset of the offending character in the expression. */
  readonly position: number;
  /** The message without its label, e.g. "expected an operator after 'x' at position 3". */
  readonly detail: string;

  constructor(label: string, detail: string, position: number) {
    super(`${label}: ${detail}`);
    this.name = 'QuerySyntaxError';
    this.position = position;
    this.detail = detail;
  }
}

export interface ParseOptions {
  /** Names the expression in error messages, e.g. 'memberOf expression' or 'filter'. */
  readonly label?: string;
}

/** How deep parentheses and negations may nest; guards the recursion against hostile input. */
export const MAX_NESTING = 100;

/**
 * Parses a cluster query expression, or throws QuerySyntaxError.
 *
 * @example parseQuery('attribute:ecs.instance-type =~ t2.* and runningTasksCount < 5', { label: 'filter' })
 */
export function parseQuery(text: string, options?: ParseOptions): QueryExpr {
  return new Parser(text, options?.label ?? 'query expression').parse();
}

const WORD_OPERATORS: Readonly<Record<string, Operator>> = {
  equals: 'equals',
  not_equals: 'not_equals',
  greater_than: 'greater_than',
  greater_than_equal: 'greater_than_equal',
  less_than: 'less_than',
  less_than_equal: 'less_than_equal',
  exists: 'exists',
  not_exists: 'not_exists',
  in: 'in',
  not_in: 'not_in',
  matches: 'matches',
  not_matches: 'not_matches',
};

/** Longest first, so that '>=' is not read as '>' followed by '='. */
const SYMBOL_OPERATORS: ReadonlyArray<readonly [string, Operator, boolean]> = [
  // [symbol, operator, must end at a word boundary]
  ['!exists', 'not_exists', true],
  ['!in', 'not_in', true],
  ['!=', 'not_equals', false],
  ['!~', 'not_matches', false],
  ['==', 'equals', false],
  ['=~', 'matches', false],
  ['>=', 'greater_than_equal', false],
  ['<=', 'less_than_equal', false],
  ['>', 'greater_than', false],
  ['<', 'less_than', false],
];

const SIMPLE_SUBJECTS: Readonly<Record<string, Subject>> = {
  agentConnected: { kind: 'agentConnected' },
  agentVersion: { kind: 'agentVersion' },
  ec2InstanceId: { kind: 'ec2InstanceId' },
  registeredAt: { kind: 'registeredAt' },
  runningTasksCount: { kind: 'runningTasksCount' },
};

const SUBJECT_LIST = 'agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group';
const DATE_FORMATS = '2018-06-18, 2018-06-18T22:28:28, 2018-06-18T22:28:28Z or 2018-06-18T22:28:28+00:00';

const isWordChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
/** Attribute names: letters, numbers, hyphens, underscores, slashes, back slashes and periods (ECS's rule). */
const isAttributeNameChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_\-./\\]/.test(c);
const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string, private readonly label: string) {}

  parse(): QueryExpr {
    const expr = this.parseOr(undefined);
    this.skipSpace();
    if (!this.atEnd()) this.expected("'and', 'or' or the end of the expression", this.pos);
    return expr;
  }

  // ---- errors ------------------------------------------------------------------------------

  private fail(detail: string, position: number): never {
    throw new QuerySyntaxError(this.label, detail, position);
  }

  /** "expected X at position N, found 'tok'" (or "..., but the expression ended"). */
  private expected(what: string, at: number): never {
    const token = /^\S{1,24}/.exec(this.text.slice(at).trimStart())?.[0];
    const found = token === undefined ? ', but the expression ended' : `, found '${token}'`;
    return this.fail(`expected ${what} at position ${at}${found}`, at);
  }

  // ---- characters --------------------------------------------------------------------------

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  private peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }

  private skipSpace(): void {
    while (isSpace(this.peek())) this.pos++;
  }

  private readWord(): string {
    const start = this.pos;
    while (isWordChar(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** Consumes `keyword` if it stands here as a whole word. */
  private acceptKeyword(keyword: string): boolean {
    if (!this.text.startsWith(keyword, this.pos) || isWordChar(this.text[this.pos + keyword.length])) return false;
    this.pos += keyword.length;
    return true;
  }

  private acceptSymbol(symbol: string): boolean {
    if (!this.text.startsWith(symbol, this.pos)) return false;
    this.pos += symbol.length;
    return true;
  }

  // ---- expressions -------------------------------------------------------------------------

  /** `openedAt` is the position of the '(' this level sits in, for the message if it is not closed. */
  private parseOr(openedAt: number | undefined): QueryExpr {
    let left = this.parseAnd();
    for (;;) {
      this.skipSpace();
      if (!(this.acceptSymbol('||') || this.acceptKeyword('or'))) break;
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    if (openedAt !== undefined) {
      this.skipSpace();
      if (!this.acceptSymbol(')')) this.expected(`'and', 'or' or ')' to close the '(' at position ${openedAt}`, this.pos);
    }
    return left;
  }

  private parseAnd(): QueryExpr {
    let left = this.parseUnary();
    for (;;) {
      this.skipSpace();
      if (!(this.acceptSymbol('&&') || this.acceptKeyword('and'))) break;
      left = { kind: 'and', left, right: this.parseUnary() };
    }
    return left;
  }

  private parseUnary(): QueryExpr {
    this.skipSpace();
    const at = this.pos;
    if (this.acceptSymbol('!') || this.acceptKeyword('not')) {
      this.enter(at);
      const operand = this.parseUnary();
      this.depth--;
      return { kind: 'not', operand };
    }
    if (this.acceptSymbol('(')) {
      this.enter(at);
      const inner = this.parseOr(at);
      this.depth--;
      return inner;
    }
    return this.parseComparison();
  }

  private enter(at: number): void {
    if (this.depth >= MAX_NESTING) this.fail(`the expression nests deeper than ${MAX_NESTING} levels at position ${at}`, at);
    this.depth++;
  }

  // ---- comparisons -------------------------------------------------------------------------

  private parseSubject(): Subject {
    const start = this.pos;
    const word = this.readWord();
    if (word === '') this.expected("a subject, '(' or 'not'", start);
    if (word === 'attribute' && this.peek() === ':') {
      this.pos++;
      const nameStart = this.pos;
      while (isAttributeNameChar(this.peek())) this.pos++;
      if (this.pos === nameStart) this.expected("an attribute name after 'attribute:'", nameStart);
      return { kind: 'attribute', name: this.text.slice(nameStart, this.pos) };
    }
    if (word === 'task' && this.peek() === ':') {
      this.pos++;
      const group = this.readWord();
      if (group === 'group') return { kind: 'taskGroup' };
      this.fail(`unknown subject 'task:${group}' at position ${start}; expected ${SUBJECT_LIST}`, start);
    }
    const simple = SIMPLE_SUBJECTS[word];
    if (simple === undefined) this.fail(`unknown subject '${word}' at position ${start}; expected ${SUBJECT_LIST}`, start);
    return simple;
  }

  private parseOperator(): { operator: Operator; text: string } | undefined {
    for (const [symbol, operator, wordBoundary] of SYMBOL_OPERATORS) {
      if (!this.text.startsWith(symbol, this.pos)) continue;
      if (wordBoundary && isWordChar(this.text[this.pos + symbol.length])) continue;
      this.pos += symbol.length;
      return { operator, text: symbol };
    }
    const start = this.pos;
    const word = this.readWord();
    const operator = WORD_OPERATORS[word];
    if (operator === undefined) {
      this.pos = start;
      return undefined;
    }
    return { operator, text: word };
  }

  private parseComparison(): Comparison {
    const subjectStart = this.pos;
    const subject = this.parseSubject();
    const written = this.text.slice(subjectStart, this.pos);
    this.skipSpace();
    const operatorAt = this.pos;
    const op = this.parseOperator() ?? this.expected(`an operator after '${written}'`, operatorAt);
    const allowed = OPERATORS_BY_SUBJECT[subject.kind];
    if (!allowed.includes(op.operator)) {
      const list = allowed.map((o) => OPERATOR_SYMBOL[o]).join(', ');
      this.fail(`operator '${op.text}' is not valid for ${subjectText(subject)} at position ${operatorAt}; use one of ${list}`, operatorAt);
    }
    const context = `'${written} ${op.text}'`;
    switch (op.operator) {
      case 'exists':
      case 'not_exists':
        return { kind: 'exists', subject, negated: op.operator === 'not_exists' };
      case 'in':
      case 'not_in':
        return { kind: 'in', subject, negated: op.operator === 'not_in', values: this.parseList(subject, context) };
      case 'matches':
      case 'not_matches':
        return { kind: 'match', subject, negated: op.operator === 'not_matches', pattern: this.parsePattern(context) };
      case 'equals':
      case 'not_equals':
      case 'greater_than':
      case 'greater_than_equal':
      case 'less_than':
      case 'less_than_equal': {
        const operator: CompareOperator = op.operator;
        return { kind: 'compare', subject, operator, value: this.parseTypedValue(subject, `a value after ${context}`) };
      }
    }
  }

  // ---- arguments ---------------------------------------------------------------------------

  private parseList(subject: Subject, context: string): string[] {
    this.skipSpace();
    const openedAt = this.pos;
    if (!this.acceptSymbol('[')) this.expected(`'[' to start the list of values after ${context}`, openedAt);
    const values: string[] = [];
    for (;;) {
      values.push(this.parseTypedValue(subject, 'a value in the list'));
      this.skipSpace();
      if (this.acceptSymbol(',')) continue;
      if (this.acceptSymbol(']')) return values;
      this.expected(`',' or ']' to close the list opened at position ${openedAt}`, this.pos);
    }
  }

  /** A value, checked against what the subject can compare with (dates, counts, booleans). */
  private parseTypedValue(subject: Subject, what: string): string {
    this.skipSpace();
    const at = this.pos;
    const value = this.parseValue(what);
    switch (subject.kind) {
      case 'registeredAt':
        if (parseQueryDate(value) === undefined) {
          this.fail(`invalid date '${value}' for registeredAt at position ${at}; use ${DATE_FORMATS}`, at);
        }
        break;
      case 'runningTasksCount':
        if (parseCount(value) === undefined) {
          this.fail(`invalid count '${value}' for runningTasksCount at position ${at}; expected a whole number`, at);
        }
        break;
      case 'agentConnected':
        if (value !== 'true' && value !== 'false') {
          this.fail(`invalid value '${value}' for agentConnected at position ${at}; expected true or false`, at);
        }
        break;
      case 'attribute':
      case 'agentVersion':
      case 'ec2InstanceId':
      case 'taskGroup':
        break;
    }
    return value;
  }

  private parseValue(what: string): string {
    this.skipSpace();
    const c = this.peek();
    if (c === "'" || c === '"') return this.parseQuoted();
    const start = this.pos;
    while (!this.atEnd()) {
      const ch = this.peek()!;
      if (isSpace(ch) || '()[],\'"'.includes(ch)) break;
      if (this.text.startsWith('&&', this.pos) || this.text.startsWith('||', this.pos)) break;
      this.pos++;
    }
    if (this.pos === start) this.expected(what, start);
    return this.text.slice(start, this.pos);
  }

  /** A quoted value; a backslash before the quote character keeps it in the value. */
  private parseQuoted(): string {
    const quote = this.peek()!;
    const openedAt = this.pos;
    this.pos++;
    let value = '';
    for (;;) {
      if (this.atEnd()) this.fail(`the quoted value opened at position ${openedAt} is not closed`, openedAt);
      const ch = this.peek()!;
      if (ch === '\\' && this.peek(1) === quote) {
        value += quote;
        this.pos += 2;
        continue;
      }
      this.pos++;
      if (ch === quote) return value;
      value += ch;
    }
  }

  private parsePattern(context: string): string {
    this.skipSpace();
    const at = this.pos;
    let pattern: string;
    if (this.peek() === "'" || this.peek() === '"') {
      pattern = this.parseQuoted();
    } else {
      // Parentheses outside a character class nest; whitespace or a ')' at depth 0 ends the pattern.
      let depth = 0;
      let inClass = false;
      while (!this.atEnd()) {
        const ch = this.peek()!;
        if (ch === '\\') {
          this.pos += Math.min(2, this.text.length - this.pos);
          continue;
        }
        if (!inClass && depth === 0) {
          if (isSpace(ch) || ch === ')' || ch === "'" || ch === '"') break;
          if (this.text.startsWith('&&', this.pos) || this.text.startsWith('||', this.pos)) break;
        }
        if (inClass) {
          if (ch === ']') inClass = false;
        } else if (ch === '[') {
          inClass = true;
        } else if (ch === '(') {
          depth++;
        } else if (ch === ')') {
          depth--;
        }
        this.pos++;
      }
      pattern = this.text.slice(at, this.pos);
      if (pattern === '') this.expected(`a pattern after ${context}`, at);
    }
    try {
      // Checked bare first: wrapping can hide an error ('a)(b' is invalid, '^(?:a)(b)$' is not).
      new RegExp(pattern);
      compilePattern(pattern);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.fail(`invalid pattern '${pattern}' at position ${at}: ${why}`, at);
    }
    return pattern;
  }
}
