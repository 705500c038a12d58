/**
 * What one copy of a task asks of placement: resources, launch type, required attributes, and the
 * ECS placement constraints and strategies. compileRequest checks it once and parses each memberOf
 * expression once, so that the pipeline evaluates rather than re-reads it per instance.
 */
import { parseQuery, QuerySyntaxError, type QueryExpr } from './query/index.js';

/** ECS placementConstraints[]: distinctInstance takes no expression; memberOf takes a cluster query. */
export interface PlacementConstraint {
  readonly type: 'distinctInstance' | 'memberOf';
  readonly expression?: string;
}

/** ECS placementStrategy[]: applied in order, the first dominates and later ones break its ties. */
export interface PlacementStrategy {
  readonly type: 'random' | 'spread' | 'binpack';
  /** spread: instanceId, host or attribute:<name>; binpack: cpu or memory; random: ignored. */
  readonly field?: string;
}

/** A requiresAttributes entry of a task definition: the attribute must exist (with `value`, if given). */
export interface RequiredAttribute {
  readonly name: string;
  readonly value?: string;
}

export interface PlacementRequest {
  /** The task group (ECS `group`): `service:<name>` for a service's tasks, `family:<family>` by default. */
  readonly group: string;
  /** CPU units and MiB of memory one copy reserves; GPUs it needs (default 0). */
  readonly cpu: number;
  readonly memory: number;
  readonly gpus?: number;
  /** Static host ports one copy takes (host network mode, or bridge with a fixed hostPort). */
  readonly tcpPorts?: readonly number[];
  readonly udpPorts?: readonly number[];
  /** The launch type asked for; instances of the other kind are left out. */
  readonly launchType?: 'EC2' | 'EXTERNAL';
  /** The task definition's requiresCompatibilities: the instance's launch type must be among them. */
  readonly requiresCompatibilities?: readonly string[];
  readonly requiresAttributes?: readonly RequiredAttribute[];
  readonly constraints?: readonly PlacementConstraint[];
  readonly strategy?: readonly PlacementStrategy[];
}

/** A strategy with its field checked: what the rankers are built from. */
export type Strategy =
  | { readonly type: 'random' }
  | { readonly type: 'binpack'; readonly field: 'cpu' | 'memory' }
  | { readonly type: 'spread'; readonly field: 'instanceId' }
  | { readonly type: 'spread'; readonly field: 'attribute'; readonly attribute: string };

/** A memberOf constraint with its expression as written (for explanations) and parsed. */
export interface MemberOf {
  readonly expression: string;
  readonly query: QueryExpr;
}

/** A request checked and normalised: every list present, every expression parsed. */
export interface CompiledRequest {
  readonly group: string;
  readonly cpu: number;
  readonly memory: number;
  readonly gpus: number;
  readonly tcpPorts: readonly number[];
  readonly udpPorts: readonly number[];
  readonly launchType: 'EC2' | 'EXTERNAL' | undefined;
  readonly requiresCompatibilities: readonly string[];
  readonly requiresAttributes: readonly RequiredAttribute[];
  readonly distinctInstance: boolean;
  readonly memberOf: readonly MemberOf[];
  readonly strategy: readonly Strategy[];
}

/** A request placement cannot work with; `message` names the field and the rule. */
export class InvalidPlacementRequest extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidPlacementRequest';
  }
}

const nonNegative = (value: number | undefined, field: string): number => {
  const n = value ?? 0;
  if (!Number.isFinite(n) || n < 0) throw new InvalidPlacementRequest(`${field} must be a non-negative number, not ${String(value)}.`);
  return n;
};

const ports = (list: readonly number[] | undefined, field: string): readonly number[] => {
  for (const p of list ?? []) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InvalidPlacementRequest(`${field} holds ${p}, which is not a port (1-65535).`);
  }
  const unique = [...new Set(list ?? [])];
  return unique;
};

function strategyOf(s: PlacementStrategy, path: string): Strategy {
  switch (s.type) {
    case 'random':
      return { type: 'random' };
    case 'binpack':
      if (s.field === 'cpu' || s.field === 'memory') return { type: 'binpack', field: s.field };
      throw new InvalidPlacementRequest(`${path}.field '${s.field ?? ''}' is not valid for binpack; use cpu or memory.`);
    case 'spread':
      // ECS: host has the same effect as instanceId.
      if (s.field === 'instanceId' || s.field === 'host') return { type: 'spread', field: 'instanceId' };
      if (s.field !== undefined && s.field.startsWith('attribute:') && s.field.length > 'attribute:'.length) {
        return { type: 'spread', field: 'attribute', attribute: s.field.slice('attribute:'.length) };
      }
      throw new InvalidPlacementRequest(`${path}.field '${s.field ?? ''}' is not valid for spread; use instanceId, host or attribute:<name>.`);
  }
}

/**
 * Checks a request and prepares it for the pipeline; throws InvalidPlacementRequest naming the field.
 *
 * @example compileRequest({ group: 'service:web', cpu: 256, memory: 512,
 *   constraints: [{ type: 'memberOf', expression: 'attribute:zone in [a, b]' }],
 *   strategy: [{ type: 'spread', field: 'attribute:zone' }, { type: 'binpack', field: 'memory' }] })
 */
export function compileRequest(request: PlacementRequest): CompiledRequest {
  if (typeof request.group !== 'string' || request.group === '') throw new InvalidPlacementRequest('group must be a non-empty task group name.');
  const gpus = nonNegative(request.gpus, 'gpus');
  if (!Number.isInteger(gpus)) throw new InvalidPlacementRequest(`gpus must be a whole number, not ${gpus}.`);
  let distinctInstance = false;
  const memberOf: MemberOf[] = [];
  (request.constraints ?? []).forEach((c, n) => {
    const path = `constraints[${n}]`;
    switch (c.type) {
      case 'distinctInstance':
        distinctInstance = true;
        return;
      case 'memberOf': {
        const expression = (c.expression ?? '').trim();
        if (expression === '') throw new InvalidPlacementRequest(`${path}: a memberOf constraint requires an expression.`);
        try {
          memberOf.push({ expression, query: parseQuery(expression, { label: `${path}.expression` }) });
        } catch (err) {
          if (err instanceof QuerySyntaxError) throw new InvalidPlacementRequest(err.message, { cause: err });
          throw err;
        }
        return;
      }
      default:
        throw new InvalidPlacementRequest(`${path}.type '${String((c as { type: unknown }).type)}' is not distinctInstance or memberOf.`);
    }
  });
  const strategy = (request.strategy ?? []).map((s, n) => {
    if (s.type !== 'random' && s.type !== 'spread' && s.type !== 'binpack') {
      throw new InvalidPlacementRequest(`strategy[${n}].type '${String(s.type)}' is not random, spread or binpack.`);
    }
    return strategyOf(s, `strategy[${n}]`);
  });
  return {
    group: request.group,
    cpu: nonNegative(request.cpu, 'cpu'),
    memory: nonNegative(request.memory, 'memory'),
    gpus,
    tcpPorts: ports(request.tcpPorts, 'tcpPorts'),
    udpPorts: ports(request.udpPorts, 'udpPorts'),
    launchType: request.launchType,
    requiresCompatibilities: request.requiresCompatibilities ?? [],
    requiresAttributes: request.requiresAttributes ?? [],
    distinctInstance,
    memberOf,
    strategy,
  };
}
