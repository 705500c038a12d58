/**
 * Prints a query tree back as an expression, fully parenthesised so that the grouping the parser
 * chose is visible: for error messages, logs, and round-trip tests of the parser.
 */
import type { Comparison, QueryExpr } from './ast.js';
import { OPERATOR_SYMBOL, operatorOf, subjectText } from './ast.js';

/**
 * @example formatQuery(parseQuery('a:x == 1 or not b:y exists and c:z exists'))
 * // "attribute:x == 1 || (!(attribute:y exists) && attribute:z exists)" (for attribute subjects)
 */
export function formatQuery(expr: QueryExpr): string {
  switch (expr.kind) {
    case 'and':
      return `${group(expr.left, 'and')} && ${group(expr.right, 'and')}`;
    case 'or':
      return `${group(expr.left, 'or')} || ${group(expr.right, 'or')}`;
    case 'not':
      return `!(${formatQuery(expr.operand)})`;
    case 'compare':
    case 'in':
    case 'match':
    case 'exists':
      return formatComparison(expr);
  }
}

/** A child of a binary node keeps parentheses unless it is a comparison, a negation, or the same operator. */
function group(child: QueryExpr, parent: 'and' | 'or'): string {
  const text = formatQuery(child);
  return child.kind === 'and' || child.kind === 'or' ? (child.kind === parent ? text : `(${text})`) : text;
}

function formatComparison(node: Comparison): string {
  const head = `${subjectText(node.subject)} ${OPERATOR_SYMBOL[operatorOf(node)]}`;
  switch (node.kind) {
    case 'exists':
      return head;
    case 'in':
      return `${head} [${node.values.map(quoteIfNeeded).join(', ')}]`;
    case 'match':
      return `${head} ${quoteIfNeeded(node.pattern)}`;
    case 'compare':
      return `${head} ${quoteIfNeeded(node.value)}`;
  }
}

/** Bare when the parser would read the text back unchanged as a bare value, else single-quoted. */
function quoteIfNeeded(value: string): string {
  if (value !== '' && !/[\s()[\],'"]|&&|\|\|/.test(value)) return value;
  return `'${value.replaceAll("'", "\\'")}'`;
}
