/**
 * The data plane's view of the stored ELBv2 model: the records under /elbv2/ as the store holds
 * them, read into plain lists. Pure; the data plane keeps a mirror of the keys and rebuilds this
 * view from it after each burst of watch events.
 */
import {
  lbKeys,
  type ListenerRecord,
  type LoadBalancerRecord,
  type RuleRecord,
  type TargetGroupRecord,
  type TargetHealthRecord,
  type TargetRecord,
} from '../model.js';

export interface LbModel {
  readonly loadBalancers: readonly LoadBalancerRecord[];
  readonly listeners: readonly ListenerRecord[];
  readonly rules: readonly RuleRecord[];
  readonly targetGroups: readonly TargetGroupRecord[];
  readonly targets: readonly TargetRecord[];
  /** Health records by their store key. */
  readonly health: ReadonlyMap<string, TargetHealthRecord>;
}

export const emptyModel: LbModel = { loadBalancers: [], listeners: [], rules: [], targetGroups: [], targets: [], health: new Map() };

/**
 * Reads the model out of store keys and values. A value that is not JSON is skipped and reported
 * (the API writes whole records in one transaction, so this means a bug elsewhere, not a race).
 */
export function readModel(kvs: ReadonlyMap<string, string>, onBadRecord: (key: string, err: unknown) => void = () => {}): LbModel {
  const loadBalancers: LoadBalancerRecord[] = [];
  const listeners: ListenerRecord[] = [];
  const rules: RuleRecord[] = [];
  const targetGroups: TargetGroupRecord[] = [];
  const targets: TargetRecord[] = [];
  const health = new Map<string, TargetHealthRecord>();
  // Map iteration order is insertion order; sort so that the view (and the config) is deterministic.
  for (const key of [...kvs.keys()].sort()) {
    const value = kvs.get(key)!;
    let record: unknown;
    try {
      record = JSON.parse(value);
    } catch (err) {
      onBadRecord(key, err);
      continue;
    }
    if (key.startsWith(lbKeys.loadBalancers())) loadBalancers.push(record as LoadBalancerRecord);
    else if (key.startsWith(lbKeys.listeners())) listeners.push(record as ListenerRecord);
    else if (key.startsWith(lbKeys.rules())) rules.push(record as RuleRecord);
    else if (key.startsWith(lbKeys.targetGroups())) targetGroups.push(record as TargetGroupRecord);
    else if (key.startsWith(lbKeys.targets())) targets.push(record as TargetRecord);
    else if (key.startsWith(lbKeys.healths())) health.set(key, record as TargetHealthRecord);
  }
  return { loadBalancers, listeners, rules, targetGroups, targets, health };
}

/** A target group attribute, or its ELBv2 default when the record lacks it. */
export function tgAttribute(tg: TargetGroupRecord, key: string): string {
  return tg.Attributes[key] ?? TG_ATTRIBUTE_DEFAULTS[key] ?? '';
}

const TG_ATTRIBUTE_DEFAULTS: Readonly<Record<string, string>> = {
  'deregistration_delay.timeout_seconds': '300',
  'stickiness.enabled': 'false',
  'stickiness.type': 'lb_cookie',
  'stickiness.lb_cookie.duration_seconds': '86400',
  'load_balancing.algorithm.type': 'round_robin',
  'slow_start.duration_seconds': '0',
};

/** The load balancer's idle timeout in seconds (ELBv2 default 60). */
export function idleTimeoutSeconds(lb: LoadBalancerRecord | undefined): number {
  const n = Number(lb?.Attributes['idle_timeout.timeout_seconds'] ?? '60');
  return Number.isFinite(n) && n > 0 ? n : 60;
}
