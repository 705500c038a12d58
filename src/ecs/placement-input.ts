/**
 * The `placementConstraints` and `placementStrategy` parameters of RunTask and CreateService /
 * UpdateService: their shape and values, checked here so that the scheduler only ever sees valid
 * ones. memberOf expressions are parsed with the cluster query language parser.
 */
import { parseQuery, QuerySyntaxError } from '../scheduler/query/index.js';
import { invalid, objectsOf, optionalArray, optionalEnum, optionalString } from './input.js';

export const PLACEMENT_CONSTRAINT_TYPES = ['distinctInstance', 'memberOf'] as const;
export const PLACEMENT_STRATEGY_TYPES = ['random', 'spread', 'binpack'] as const;

export interface PlacementConstraint {
  readonly type: (typeof PLACEMENT_CONSTRAINT_TYPES)[number];
  readonly expression?: string;
}

export interface PlacementStrategy {
  readonly type: (typeof PLACEMENT_STRATEGY_TYPES)[number];
  readonly field?: string;
}

/** ECS limits: 10 constraints per task (its task definition's included), 5 strategy rules. */
export const MAX_CONSTRAINTS = 10;
export const MAX_STRATEGIES = 5;
export const MAX_EXPRESSION_LENGTH = 2000;

/**
 * Reads `placementConstraints`. `fromTaskDefinition` is how many constraints the task definition
 * already carries: ECS counts both against the limit of 10.
 *
 * @example readPlacementConstraints({ placementConstraints: [{ type: 'distinctInstance' }] }, 0)
 */
export function readPlacementConstraints(input: Record<string, unknown>, fromTaskDefinition: number): PlacementConstraint[] | undefined {
  const list = optionalArray(input, 'placementConstraints');
  if (list === undefined) return undefined;
  if (list.length + fromTaskDefinition > MAX_CONSTRAINTS) {
    throw invalid(
      `Too many placement constraints: ${list.length} given and ${fromTaskDefinition} in the task definition; at most ${MAX_CONSTRAINTS} are allowed per task.`,
    );
  }
  return objectsOf(list, 'placementConstraints').map(({ item, path }) => {
    const type = optionalEnum(item, 'type', PLACEMENT_CONSTRAINT_TYPES, `${path}.type`);
    if (type === undefined) throw invalid(`${path}.type is required.`);
    const expression = optionalString(item, 'expression', { path: `${path}.expression` });
    if (type === 'distinctInstance') {
      if (expression !== undefined && expression !== '') {
        throw invalid(`${path}: a distinctInstance constraint takes no expression.`);
      }
      return { type };
    }
    if (expression === undefined || expression.trim() === '') throw invalid(`${path}: a memberOf constraint requires an expression.`);
    if (expression.length > MAX_EXPRESSION_LENGTH) {
      throw invalid(`${path}.expression must be at most ${MAX_EXPRESSION_LENGTH} characters long.`);
    }
    try {
      parseQuery(expression, { label: `${path}.expression` });
    } catch (err) {
      if (err instanceof QuerySyntaxError) throw invalid(err.message);
      throw err;
    }
    return { type, expression };
  });
}

/** The fields each strategy type takes: spread over instances, hosts or an attribute; binpack on a resource. */
function checkStrategyField(type: PlacementStrategy['type'], field: string | undefined, path: string): string | undefined {
  switch (type) {
    case 'random':
      // ECS ignores a field on random; keep what the caller sent so that it is echoed back unchanged.
      return field;
    case 'spread':
      if (field === undefined || field === '') throw invalid(`${path}: a spread strategy requires a field (instanceId, host or attribute:<name>).`);
      if (field === 'instanceId' || field === 'host') return field;
      if (/^attribute:[A-Za-z0-9_./\\-]{1,128}$/.test(field)) return field;
      throw invalid(`${path}.field '${field}' is not valid for spread; use instanceId, host or attribute:<name>.`);
    case 'binpack':
      if (field === 'cpu' || field === 'memory') return field;
      if (field === undefined || field === '') throw invalid(`${path}: a binpack strategy requires a field (cpu or memory).`);
      throw invalid(`${path}.field '${field}' is not valid for binpack; use cpu or memory.`);
  }
}

/**
 * Reads `placementStrategy` (at most 5 rules).
 *
 * @example readPlacementStrategy({ placementStrategy: [{ type: 'spread', field: 'attribute:ecs.availability-zone' }] })
 */
export function readPlacementStrategy(input: Record<string, unknown>): PlacementStrategy[] | undefined {
  const list = optionalArray(input, 'placementStrategy', { maxItems: MAX_STRATEGIES });
  if (list === undefined) return undefined;
  return objectsOf(list, 'placementStrategy').map(({ item, path }) => {
    const type = optionalEnum(item, 'type', PLACEMENT_STRATEGY_TYPES, `${path}.type`);
    if (type === undefined) throw invalid(`${path}.type is required.`);
    const field = checkStrategyField(type, optionalString(item, 'field', { path: `${path}.field` }), path);
    return field === undefined ? { type } : { type, field };
  });
}

/** Fargate places tasks itself: ECS refuses placement constraints and strategies for it. */
export function checkPlacementForLaunchType(
  launchType: string,
  constraints: readonly PlacementConstraint[] | undefined,
  strategy: readonly PlacementStrategy[] | undefined,
): void {
  if (launchType !== 'FARGATE') return;
  if ((constraints?.length ?? 0) > 0) throw invalid('Placement constraints are not supported for tasks using the FARGATE launch type.');
  if ((strategy?.length ?? 0) > 0) throw invalid('Placement strategies are not supported for tasks using the FARGATE launch type.');
}
