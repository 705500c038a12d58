/**
 * The ELBv2 API as a query-protocol service for the edge: each Action's flattened parameters are
 * decoded by its shape (shapes.ts), handed to the operation, and the result encoded as XML.
 */
import type { QueryOperation, QueryService, RequestContext } from '../../protocols/index.js';
import type { Store } from '../../store/index.js';
import { ELBV2_XMLNS } from '../model.js';
import type { ElbContext, ResolveInstance } from './common.js';
import { createListener, createRule, deleteListener, deleteRule, describeListeners, describeRules, modifyListener, modifyRule, setRulePriorities } from './listeners.js';
import { createLoadBalancer, deleteLoadBalancer, describeLoadBalancerAttributes, describeLoadBalancers, modifyLoadBalancerAttributes } from './load-balancers.js';
import { decodeQueryInput, encodeQueryResult } from './query-codec.js';
import { INPUT_SHAPES } from './shapes.js';
import type { Elbv2Action } from './shapes.js';
import { addTags, describeAccountLimits, describeTags, removeTags } from './tags.js';
import {
  createTargetGroup,
  deleteTargetGroup,
  describeTargetGroupAttributes,
  describeTargetGroups,
  modifyTargetGroup,
  modifyTargetGroupAttributes,
} from './target-groups.js';
import { deregisterTargets, describeTargetHealth, registerTargets } from './targets.js';
import type { TargetDescription } from './targets.js';

export const ELBV2_VERSION = '2015-12-01';

export interface Elbv2ServiceOptions {
  readonly store: Store;
  readonly region: string;
  readonly accountId: string;
  /** Maps an `instance` target id to its address (the server wires ECS container instances). */
  readonly resolveInstance: ResolveInstance;
}

// Inputs arrive decoded and checked against their shape; each operation types its own.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type Handler = (store: Store, ctx: ElbContext, input: any) => Promise<Record<string, unknown>> | Record<string, unknown>;

const HANDLERS: Record<Elbv2Action, Handler> = {
  CreateLoadBalancer: createLoadBalancer,
  DescribeLoadBalancers: describeLoadBalancers,
  DeleteLoadBalancer: deleteLoadBalancer,
  DescribeLoadBalancerAttributes: describeLoadBalancerAttributes,
  ModifyLoadBalancerAttributes: modifyLoadBalancerAttributes,
  CreateTargetGroup: createTargetGroup,
  DescribeTargetGroups: describeTargetGroups,
  ModifyTargetGroup: modifyTargetGroup,
  DeleteTargetGroup: deleteTargetGroup,
  DescribeTargetGroupAttributes: describeTargetGroupAttributes,
  ModifyTargetGroupAttributes: modifyTargetGroupAttributes,
  RegisterTargets: async (store, ctx, input: { TargetGroupArn: string; Targets: TargetDescription[] }) => {
    await registerTargets(store, ctx, input.TargetGroupArn, input.Targets);
    return {};
  },
  DeregisterTargets: async (store, ctx, input: { TargetGroupArn: string; Targets: TargetDescription[] }) => {
    await deregisterTargets(store, ctx, input.TargetGroupArn, input.Targets);
    return {};
  },
  DescribeTargetHealth: async (store, ctx, input: { TargetGroupArn: string; Targets?: TargetDescription[] }) => ({
    TargetHealthDescriptions: await describeTargetHealth(store, ctx, input.TargetGroupArn, input.Targets),
  }),
  CreateListener: createListener,
  DescribeListeners: describeListeners,
  ModifyListener: modifyListener,
  DeleteListener: deleteListener,
  CreateRule: createRule,
  DescribeRules: describeRules,
  ModifyRule: modifyRule,
  DeleteRule: deleteRule,
  SetRulePriorities: setRulePriorities,
  AddTags: addTags,
  RemoveTags: removeTags,
  DescribeTags: describeTags,
  DescribeAccountLimits: (_store, ctx, input: { Marker?: string; PageSize?: number }) => describeAccountLimits(ctx, input),
};

/**
 * The ELBv2 query service for the edge's `queryServices`.
 *
 * @example createEdge({ ..., queryServices: [createElbv2Service({ store, region, accountId, resolveInstance })] })
 */
export function createElbv2Service(options: Elbv2ServiceOptions): QueryService {
  const operations: Record<string, QueryOperation> = {};
  for (const [action, handler] of Object.entries(HANDLERS) as [Elbv2Action, Handler][]) {
    operations[action] = async (params: Readonly<Record<string, string>>, req: RequestContext) => {
      const input = decodeQueryInput(params, INPUT_SHAPES[action]);
      const ctx: ElbContext = { region: options.region, accountId: options.accountId, now: req.now, resolveInstance: options.resolveInstance };
      const result = await handler(options.store, ctx, input);
      return encodeQueryResult(action, ELBV2_XMLNS, req.requestId, result);
    };
  }
  return { signingName: 'elasticloadbalancing', xmlns: ELBV2_XMLNS, operations };
}
