/**
 * Evaluates a parsed cluster query against one container instance, seen through QuerySubject —
 * a narrow read-only view, so that ListContainerInstances (stored instances) and the scheduler
 * (its own state snapshot, for memberOf constraints) can both use it.
 */
import type { Comparison, QueryExpr, Subject } from './ast.js';
import { compareValues, compareVersions, compilePattern, parseQueryDate, truncateTo, type QueryDate } from './values.js';

/** What a query can ask about a container instance. */
export interface QuerySubject {
  /**
   * The value of the named attribute: undefined when the instance has no such attribute, null when
   * it has it without a value (ECS capability attributes such as `ecs.capability.task-eni`).
   */
  attribute(name: string): string | null | undefined;
  readonly ec2InstanceId: string | undefined;
  readonly registeredAt: Date | undefined;
  /** Tasks on the instance with desiredStatus RUNNING, as ContainerInstance.runningTasksCount. */
  readonly runningTasksCount: number;
  readonly agentConnected: boolean;
  readonly agentVersion: string | undefined;
  /** The `group` of each task on the instance that has not stopped (duplicates allowed). */
  readonly taskGroups: Iterable<string>;
}

/**
 * True when `subject` satisfies `expr`.
 *
 * Semantics: a comparison holds when some value of its subject passes it — a task:group has one
 * value per task, a missing attribute has none, so `attribute:x == a` is false when x is absent.
 * Negated operators (`!=`, `!in`, `!~`, `!exists`) are exactly the negation of their positive
 * forms, so `task:group != db` means "no task of group db" and holds for an absent attribute.
 *
 * @example evaluateQuery(parseQuery('runningTasksCount == 0'), instanceView) // → true on an idle instance
 */
export function evaluateQuery(expr: QueryExpr, subject: QuerySubject): boolean {
  switch (expr.kind) {
    case 'and':
      return evaluateQuery(expr.left, subject) && evaluateQuery(expr.right, subject);
    case 'or':
      return evaluateQuery(expr.left, subject) || evaluateQuery(expr.right, subject);
    case 'not':
      return !evaluateQuery(expr.operand, subject);
    case 'compare':
    case 'in':
    case 'match':
    case 'exists':
      return evaluateComparison(expr, subject);
  }
}

function evaluateComparison(node: Comparison, subject: QuerySubject): boolean {
  switch (node.kind) {
    case 'exists': {
      const present =
        node.subject.kind === 'attribute' ? subject.attribute(node.subject.name) !== undefined : valuesOf(node.subject, subject).length > 0;
      return present !== node.negated;
    }
    case 'in': {
      const found = valuesOf(node.subject, subject).some((v) => node.values.includes(v));
      return found !== node.negated;
    }
    case 'match': {
      const re = patternOf(node);
      const found = valuesOf(node.subject, subject).some((v) => re.test(v));
      return found !== node.negated;
    }
    case 'compare': {
      if (node.subject.kind === 'registeredAt') return compareDate(node, subject.registeredAt);
      const values = valuesOf(node.subject, subject);
      const order = orderFor(node.subject);
      switch (node.operator) {
        case 'equals':
          return values.some((v) => order(v, node.value) === 0);
        case 'not_equals':
          return !values.some((v) => order(v, node.value) === 0);
        case 'greater_than':
          return values.some((v) => order(v, node.value) > 0);
        case 'greater_than_equal':
          return values.some((v) => order(v, node.value) >= 0);
        case 'less_than':
          return values.some((v) => order(v, node.value) < 0);
        case 'less_than_equal':
          return values.some((v) => order(v, node.value) <= 0);
      }
    }
  }
}

/** The subject's values as text: none when absent, several for task:group. */
function valuesOf(s: Subject, subject: QuerySubject): string[] {
  switch (s.kind) {
    case 'attribute': {
      const v = subject.attribute(s.name);
      return v === undefined || v === null ? [] : [v];
    }
    case 'agentConnected':
      return [String(subject.agentConnected)];
    case 'agentVersion':
      return subject.agentVersion === undefined ? [] : [subject.agentVersion];
    case 'ec2InstanceId':
      return subject.ec2InstanceId === undefined ? [] : [subject.ec2InstanceId];
    case 'registeredAt':
      return subject.registeredAt === undefined ? [] : [subject.registeredAt.toISOString()];
    case 'runningTasksCount':
      return [String(subject.runningTasksCount)];
    case 'taskGroup':
      return [...subject.taskGroups];
  }
}

const stringOrder = (a: string, b: string) => (a === b ? 0 : a < b ? -1 : 1);

/** ECS calls == "string equality"; ordering is numeric where the values are numbers. */
function orderFor(s: Subject): (value: string, argument: string) => number {
  switch (s.kind) {
    case 'agentVersion':
      return compareVersions;
    case 'runningTasksCount':
      return (a, b) => Math.sign(Number(a) - Number(b));
    case 'attribute':
      return (a, b) => (a === b ? 0 : compareValues(a, b) || stringOrder(a, b));
    case 'agentConnected':
    case 'ec2InstanceId':
    case 'registeredAt':
    case 'taskGroup':
      return stringOrder;
  }
}

function compareDate(node: Extract<Comparison, { kind: 'compare' }>, registeredAt: Date | undefined): boolean {
  const argument = dateOf(node);
  if (registeredAt === undefined) return node.operator === 'not_equals';
  const d = Math.sign(truncateTo(registeredAt.getTime(), argument.unit) - argument.epochMs);
  switch (node.operator) {
    case 'equals':
      return d === 0;
    case 'not_equals':
      return d !== 0;
    case 'greater_than':
      return d > 0;
    case 'greater_than_equal':
      return d >= 0;
    case 'less_than':
      return d < 0;
    case 'less_than_equal':
      return d <= 0;
  }
}

// The parser has already checked patterns and dates; these caches make a query compiled once per
// parse, however many instances it is evaluated against.
const patterns = new WeakMap<object, RegExp>();
const dates = new WeakMap<object, QueryDate>();

function patternOf(node: Extract<Comparison, { kind: 'match' }>): RegExp {
  let re = patterns.get(node);
  if (re === undefined) {
    re = compilePattern(node.pattern);
    patterns.set(node, re);
  }
  return re;
}

function dateOf(node: Extract<Comparison, { kind: 'compare' }>): QueryDate {
  let d = dates.get(node);
  if (d === undefined) {
    d = parseQueryDate(node.value);
    if (d === undefined) throw new TypeError(`registeredAt argument '${node.value}' is not a date; parse with parseQuery`);
    dates.set(node, d);
  }
  return d;
}
