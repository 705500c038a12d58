/**
 * ECS's cluster query language: parse once, evaluate against many container instances. Used by
 * ListContainerInstances filters and by the scheduler's memberOf placement constraints.
 */
export type { Comparison, CompareOperator, Operator, QueryExpr, Subject, SubjectKind } from './ast.js';
export { OPERATORS_BY_SUBJECT, OPERATOR_SYMBOL, operatorOf, subjectText } from './ast.js';
export { MAX_NESTING, QuerySyntaxError, parseQuery, type ParseOptions } from './parser.js';
export { evaluateQuery, type QuerySubject } from './evaluate.js';
export { formatQuery } from './format.js';
export { parseQueryDate, type QueryDate } from './values.js';
