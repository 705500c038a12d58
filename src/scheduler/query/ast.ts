/**
 * The syntax tree of ECS's cluster query language, as the parser builds it and the evaluator reads
 * it. Plain data (no classes, no compiled regexes), so a parsed memberOf constraint can be stored,
 * compared and printed.
 */

/** What a comparison looks at on a container instance. `taskGroup` is the language's `task:group`. */
export type Subject =
  | { readonly kind: 'attribute'; readonly name: string }
  | { readonly kind: 'agentConnected' | 'agentVersion' | 'ec2InstanceId' | 'registeredAt' | 'runningTasksCount' | 'taskGroup' };

export type SubjectKind = Subject['kind'];

/** Ordering and equality operators, by their word spelling in the ECS documentation. */
export type CompareOperator = 'equals' | 'not_equals' | 'greater_than' | 'greater_than_equal' | 'less_than' | 'less_than_equal';

/** Every operator of the language, by its word spelling (the parser accepts the symbols too). */
export type Operator = CompareOperator | 'exists' | 'not_exists' | 'in' | 'not_in' | 'matches' | 'not_matches';

/**
 * One `subject operator [argument]` test. Negated forms (`!in`, `!~`, `!exists`) carry
 * `negated: true` and mean exactly "not the positive form": for a subject with several values
 * (task:group) or none (a missing attribute), `!in [a]` holds when no value is in the list.
 */
export type Comparison =
  | { readonly kind: 'compare'; readonly subject: Subject; readonly operator: CompareOperator; readonly value: string }
  | { readonly kind: 'in'; readonly subject: Subject; readonly negated: boolean; readonly values: readonly string[] }
  | { readonly kind: 'match'; readonly subject: Subject; readonly negated: boolean; readonly pattern: string }
  | { readonly kind: 'exists'; readonly subject: Subject; readonly negated: boolean };

export type QueryExpr =
  | Comparison
  | { readonly kind: 'and'; readonly left: QueryExpr; readonly right: QueryExpr }
  | { readonly kind: 'or'; readonly left: QueryExpr; readonly right: QueryExpr }
  | { readonly kind: 'not'; readonly operand: QueryExpr };

/** Which operators ECS documents for each subject; attributes accept all of them. */
export const OPERATORS_BY_SUBJECT: Readonly<Record<SubjectKind, readonly Operator[]>> = {
  agentConnected: ['equals', 'not_equals', 'in', 'not_in', 'matches', 'not_matches'],
  agentVersion: ['equals', 'not_equals', 'greater_than', 'greater_than_equal', 'less_than', 'less_than_equal'],
  attribute: [
    'equals', 'not_equals', 'greater_than', 'greater_than_equal', 'less_than', 'less_than_equal',
    'exists', 'not_exists', 'in', 'not_in', 'matches', 'not_matches',
  ],
  ec2InstanceId: ['equals', 'not_equals', 'in', 'not_in', 'matches', 'not_matches'],
  registeredAt: ['equals', 'not_equals', 'greater_than', 'greater_than_equal', 'less_than', 'less_than_equal'],
  runningTasksCount: ['equals', 'not_equals', 'greater_than', 'greater_than_equal', 'less_than', 'less_than_equal'],
  taskGroup: ['equals', 'not_equals', 'in', 'not_in', 'exists', 'not_exists', 'matches', 'not_matches'],
};

/** The symbol each operator is usually written with (`in`, `exists` have none but themselves). */
export const OPERATOR_SYMBOL: Readonly<Record<Operator, string>> = {
  equals: '==',
  not_equals: '!=',
  greater_than: '>',
  greater_than_equal: '>=',
  less_than: '<',
  less_than_equal: '<=',
  exists: 'exists',
  not_exists: '!exists',
  in: 'in',
  not_in: '!in',
  matches: '=~',
  not_matches: '!~',
};

/** How a subject is written in an expression. */
export function subjectText(subject: Subject): string {
  switch (subject.kind) {
    case 'attribute':
      return `attribute:${subject.name}`;
    case 'taskGroup':
      return 'task:group';
    case 'agentConnected':
    case 'agentVersion':
    case 'ec2InstanceId':
    case 'registeredAt':
    case 'runningTasksCount':
      return subject.kind;
  }
}

/** The operator of a comparison node, by its word spelling. */
export function operatorOf(node: Comparison): Operator {
  switch (node.kind) {
    case 'compare':
      return node.operator;
    case 'in':
      return node.negated ? 'not_in' : 'in';
    case 'match':
      return node.negated ? 'not_matches' : 'matches';
    case 'exists':
      return node.negated ? 'not_exists' : 'exists';
  }
}
