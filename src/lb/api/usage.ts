/**
 * What another service (ECS) may ask of a target group it is told to use: whether it exists, its
 * target type, and whether a load balancer forwards to it. Plain reads of the stored model.
 */
import type { Store } from '../../store/store.js';
import { lbIdOf, lbKeys, type ListenerRecord, type RuleRecord, type TargetGroupRecord } from '../model.js';
import { loadBalancersByTargetGroup } from './common.js';

export interface TargetGroupUsage {
  readonly targetType: TargetGroupRecord['TargetType'];
  /** Load balancers whose listeners or rules forward to it. */
  readonly loadBalancerArns: readonly string[];
}

/**
 * The target group the ARN names, or undefined if there is none.
 *
 * @example await targetGroupUsage(store, tgArn) // { targetType: 'ip', loadBalancerArns: ['arn:...:loadbalancer/app/web/...'] }
 */
export async function targetGroupUsage(store: Store, arn: string): Promise<TargetGroupUsage | undefined> {
  const kv = await store.get(lbKeys.targetGroup(lbIdOf(arn)));
  if (kv === undefined) return undefined;
  const tg = JSON.parse(kv.value) as TargetGroupRecord;
  if (tg.TargetGroupArn !== arn) return undefined;
  const [listeners, rules] = await Promise.all([store.range(lbKeys.listeners()), store.range(lbKeys.rules())]);
  const byGroup = loadBalancersByTargetGroup({
    loadBalancers: [],
    targetGroups: [],
    listeners: listeners.kvs.map((x) => JSON.parse(x.value) as ListenerRecord),
    rules: rules.kvs.map((x) => JSON.parse(x.value) as RuleRecord),
  });
  return { targetType: tg.TargetType, loadBalancerArns: [...(byGroup.get(arn) ?? [])].sort() };
}
