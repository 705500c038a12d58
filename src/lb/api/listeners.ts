/**
 * Listeners and rules. Every load balancer shares this host's address, so a port serves one
 * listener across all of them (DuplicateListener otherwise). A listener's default rule is its
 * DefaultActions, shown by DescribeRules with Priority 'default' and never stored as a rule.
 */
import { BerthError } from '../../protocols/index.js';
import type { Store } from '../../store/index.js';
import { lbKeys } from '../model.js';
import type { ActionRecord, ListenerRecord, RuleRecord, Tag } from '../model.js';
import { defaultRuleArn, listenerArn, newHexId, resourceId, ruleArn } from './arns.js';
import { forwardedTargetGroups, readActions, readConditions } from './actions.js';
import type { ActionInput, ConditionInput } from './actions.js';
import { checkFilterLength, defaultRule, listenerToWire, loadBalancersByTargetGroup, mustGet, notFound, page, readConfig, ruleToWire } from './common.js';
import type { Config, ElbContext } from './common.js';
import { LIMITS, checkTags } from './rules-check.js';
import { inTxn } from './txn.js';
import type { ElbTxn } from './txn.js';

const invalid = (message: string) => new BerthError('ValidationException', message);

function checkProtocol(protocol: string | undefined): void {
  if (protocol === undefined) throw invalid('A listener protocol must be specified');
  if (protocol !== 'HTTP') throw new BerthError('UnsupportedProtocolException', `Listener protocol '${protocol}' is not supported: Berth's listeners speak HTTP`);
}

/**
 * The target groups `actions` forward to must exist, and may serve no other load balancer (ELBv2
 * associates a target group with one load balancer).
 */
function checkForwardTargets(config: Config, loadBalancerArn: string, actions: readonly ActionRecord[]): void {
  const users = loadBalancersByTargetGroup(config);
  for (const arn of forwardedTargetGroups(actions)) {
    if (!config.targetGroups.some((tg) => tg.TargetGroupArn === arn)) throw notFound('targetgroup', arn);
    const others = [...(users.get(arn) ?? [])].filter((lb) => lb !== loadBalancerArn);
    if (others.length > 0) {
      throw new BerthError(
        'TargetGroupAssociationLimitException',
        `The following target groups cannot be associated with more than one load balancer: '${arn}' (used by '${others[0]}')`,
      );
    }
  }
}

/** No other listener (of any load balancer: they share this host's address) may hold `port`. */
function checkPortFree(config: Config, port: number, except: string | undefined): void {
  const holder = config.listeners.find((l) => l.Port === port && l.ListenerArn !== except);
  if (holder !== undefined) {
    throw new BerthError(
      'DuplicateListenerException',
      `A listener already exists on port ${port} (listener '${holder.ListenerArn}'): Berth's load balancers share this host's address, so a port serves one listener`,
    );
  }
}

export interface CreateListenerInput {
  readonly LoadBalancerArn: string;
  readonly Protocol?: string;
  readonly Port?: number;
  readonly DefaultActions: readonly ActionInput[];
  readonly Tags?: readonly Tag[];
}

export async function createListener(store: Store, _ctx: ElbContext, input: CreateListenerInput) {
  resourceId(input.LoadBalancerArn, 'loadbalancer');
  checkProtocol(input.Protocol);
  if (input.Port === undefined) throw invalid('A listener port must be specified');
  const port = input.Port;
  const actions = readActions(input.DefaultActions, 'DefaultActions');
  const tags = input.Tags ?? [];
  checkTags(tags);
  return inTxn(store, async (tx) => {
    const lb = await mustGet(tx, 'loadbalancer', input.LoadBalancerArn);
    const config = await readConfig(tx);
    const same = config.listeners.find((l) => l.LoadBalancerArn === lb.LoadBalancerArn && l.Port === port);
    // ELBv2: creating a listener again with the same settings returns the existing one.
    if (same !== undefined && JSON.stringify(same.DefaultActions) === JSON.stringify(actions)) return { Listeners: [listenerToWire(same)] };
    checkPortFree(config, port, undefined);
    const max = LIMITS['listeners-per-application-load-balancer'];
    if (config.listeners.filter((l) => l.LoadBalancerArn === lb.LoadBalancerArn).length >= max) {
      throw new BerthError('TooManyListenersException', `Load balancer '${lb.LoadBalancerArn}' has reached the limit of ${max} listeners`);
    }
    checkForwardTargets(config, lb.LoadBalancerArn, actions);
    const arn = listenerArn(lb.LoadBalancerArn, newHexId());
    const record: ListenerRecord = { ListenerArn: arn, LoadBalancerArn: lb.LoadBalancerArn, Port: port, Protocol: 'HTTP', DefaultActions: actions, Tags: tags };
    tx.put(lbKeys.listener(resourceId(arn, 'listener')), record);
    return { Listeners: [listenerToWire(record)] };
  });
}

export interface DescribeListenersInput {
  readonly LoadBalancerArn?: string;
  readonly ListenerArns?: readonly string[];
  readonly Marker?: string;
  readonly PageSize?: number;
}

export async function describeListeners(store: Store, _ctx: ElbContext, input: DescribeListenersInput) {
  if ((input.LoadBalancerArn === undefined) === (input.ListenerArns === undefined)) throw invalid('You must specify either listener ARNs or a load balancer ARN');
  checkFilterLength(input.ListenerArns, 'ListenerArns');
  for (const arn of input.ListenerArns ?? []) resourceId(arn, 'listener');
  return inTxn(store, async (tx) => {
    const config = await readConfig(tx);
    let listeners: readonly ListenerRecord[];
    if (input.LoadBalancerArn !== undefined) {
      const lb = await mustGet(tx, 'loadbalancer', input.LoadBalancerArn);
      listeners = config.listeners.filter((l) => l.LoadBalancerArn === lb.LoadBalancerArn);
    } else {
      const arns = input.ListenerArns ?? [];
      const missing = arns.find((a) => !config.listeners.some((l) => l.ListenerArn === a));
      if (missing !== undefined) throw notFound('listener', missing);
      listeners = config.listeners.filter((l) => arns.includes(l.ListenerArn));
    }
    const { items, NextMarker } = page(listeners, (l) => l.ListenerArn, input.Marker, input.PageSize);
    return { Listeners: items.map(listenerToWire), NextMarker };
  });
}

export interface ModifyListenerInput {
  readonly ListenerArn: string;
  readonly Port?: number;
  readonly Protocol?: string;
  readonly DefaultActions?: readonly ActionInput[];
}

export async function modifyListener(store: Store, _ctx: ElbContext, input: ModifyListenerInput) {
  resourceId(input.ListenerArn, 'listener');
  if (input.Protocol !== undefined) checkProtocol(input.Protocol);
  const actions = input.DefaultActions === undefined ? undefined : readActions(input.DefaultActions, 'DefaultActions');
  return inTxn(store, async (tx) => {
    const listener = await mustGet(tx, 'listener', input.ListenerArn);
    const config = await readConfig(tx);
    if (input.Port !== undefined) checkPortFree(config, input.Port, listener.ListenerArn);
    if (actions !== undefined) checkForwardTargets(config, listener.LoadBalancerArn, actions);
    const next: ListenerRecord = { ...listener, Port: input.Port ?? listener.Port, DefaultActions: actions ?? listener.DefaultActions };
    tx.put(lbKeys.listener(resourceId(listener.ListenerArn, 'listener')), next);
    return { Listeners: [listenerToWire(next)] };
  });
}

/** Deletes a listener and its rules. */
export async function deleteListener(store: Store, _ctx: ElbContext, input: { readonly ListenerArn: string }) {
  return inTxn(store, async (tx) => {
    const listener = await mustGet(tx, 'listener', input.ListenerArn);
    const config = await readConfig(tx);
    for (const r of config.rules) if (r.ListenerArn === listener.ListenerArn) tx.delete(lbKeys.rule(resourceId(r.RuleArn, 'listener-rule')));
    tx.delete(lbKeys.listener(resourceId(listener.ListenerArn, 'listener')));
    return {};
  });
}

/** The listener ARN a rule ARN continues. */
const listenerOfRule = (arn: string): string => arn.replace(':listener-rule/', ':listener/').replace(/\/[0-9a-f]{16}$/, '');

/** True when `arn` is the default rule of its listener (which may or may not exist). */
const isDefaultRuleArn = (arn: string): boolean => defaultRuleArn(listenerOfRule(arn)) === arn;

const byPriority = (a: RuleRecord, b: RuleRecord) => Number(a.Priority) - Number(b.Priority);

function checkPriorityFree(config: Config, listenerArnValue: string, priority: number, except?: string): void {
  if (config.rules.some((r) => r.ListenerArn === listenerArnValue && r.RuleArn !== except && Number(r.Priority) === priority)) {
    throw new BerthError('PriorityInUseException', `Priority '${priority}' is currently in use`);
  }
}

export interface CreateRuleInput {
  readonly ListenerArn: string;
  readonly Conditions: readonly ConditionInput[];
  readonly Priority: number;
  readonly Actions: readonly ActionInput[];
  readonly Tags?: readonly Tag[];
}

export async function createRule(store: Store, _ctx: ElbContext, input: CreateRuleInput) {
  resourceId(input.ListenerArn, 'listener');
  const conditions = readConditions(input.Conditions);
  const actions = readActions(input.Actions, 'Actions');
  const tags = input.Tags ?? [];
  checkTags(tags);
  return inTxn(store, async (tx) => {
    const listener = await mustGet(tx, 'listener', input.ListenerArn);
    const config = await readConfig(tx);
    checkPriorityFree(config, listener.ListenerArn, input.Priority);
    const listenersOfLb = new Set(config.listeners.filter((l) => l.LoadBalancerArn === listener.LoadBalancerArn).map((l) => l.ListenerArn));
    const max = LIMITS['rules-per-application-load-balancer'];
    if (config.rules.filter((r) => listenersOfLb.has(r.ListenerArn)).length >= max) {
      throw new BerthError('TooManyRulesException', `Load balancer '${listener.LoadBalancerArn}' has reached the limit of ${max} rules`);
    }
    checkForwardTargets(config, listener.LoadBalancerArn, actions);
    const arn = ruleArn(listener.ListenerArn, newHexId());
    const record: RuleRecord = { RuleArn: arn, ListenerArn: listener.ListenerArn, Priority: String(input.Priority), Conditions: conditions, Actions: actions, IsDefault: false, Tags: tags };
    tx.put(lbKeys.rule(resourceId(arn, 'listener-rule')), record);
    return { Rules: [ruleToWire(record)] };
  });
}

export interface DescribeRulesInput {
  readonly ListenerArn?: string;
  readonly RuleArns?: readonly string[];
  readonly Marker?: string;
  readonly PageSize?: number;
}

export async function describeRules(store: Store, _ctx: ElbContext, input: DescribeRulesInput) {
  if ((input.ListenerArn === undefined) === (input.RuleArns === undefined)) throw invalid('You must specify either listener ARN or rule ARNs');
  checkFilterLength(input.RuleArns, 'RuleArns');
  for (const arn of input.RuleArns ?? []) resourceId(arn, 'listener-rule');
  return inTxn(store, async (tx) => {
    const config = await readConfig(tx);
    let rules: ReturnType<typeof ruleToWire>[];
    if (input.ListenerArn !== undefined) {
      const listener = await mustGet(tx, 'listener', input.ListenerArn);
      rules = [...config.rules.filter((r) => r.ListenerArn === listener.ListenerArn).sort(byPriority).map(ruleToWire), defaultRule(listener)];
    } else {
      rules = (input.RuleArns ?? []).map((arn) => {
        const stored = config.rules.find((r) => r.RuleArn === arn);
        if (stored !== undefined) return ruleToWire(stored);
        const listener = isDefaultRuleArn(arn) ? config.listeners.find((l) => l.ListenerArn === listenerOfRule(arn)) : undefined;
        if (listener === undefined) throw notFound('listener-rule', arn);
        return defaultRule(listener);
      });
    }
    const { items, NextMarker } = page(rules, (r) => r.RuleArn, input.Marker, input.PageSize);
    return { Rules: items, NextMarker };
  });
}

async function mustGetRule(tx: ElbTxn, arn: string, doing: string): Promise<RuleRecord> {
  resourceId(arn, 'listener-rule');
  if (isDefaultRuleArn(arn)) throw new BerthError('OperationNotPermittedException', `A listener's default rule cannot be ${doing}: change the listener's DefaultActions with ModifyListener`);
  return mustGet(tx, 'listener-rule', arn);
}

export async function modifyRule(store: Store, _ctx: ElbContext, input: { readonly RuleArn: string; readonly Conditions?: readonly ConditionInput[]; readonly Actions?: readonly ActionInput[] }) {
  const conditions = input.Conditions === undefined ? undefined : readConditions(input.Conditions);
  const actions = input.Actions === undefined ? undefined : readActions(input.Actions, 'Actions');
  return inTxn(store, async (tx) => {
    const rule = await mustGetRule(tx, input.RuleArn, 'modified with ModifyRule');
    if (actions !== undefined) {
      const config = await readConfig(tx);
      const listener = config.listeners.find((l) => l.ListenerArn === rule.ListenerArn);
      if (listener !== undefined) checkForwardTargets(config, listener.LoadBalancerArn, actions);
    }
    const next: RuleRecord = { ...rule, Conditions: conditions ?? rule.Conditions, Actions: actions ?? rule.Actions };
    tx.put(lbKeys.rule(resourceId(rule.RuleArn, 'listener-rule')), next);
    return { Rules: [ruleToWire(next)] };
  });
}

export async function deleteRule(store: Store, _ctx: ElbContext, input: { readonly RuleArn: string }) {
  return inTxn(store, async (tx) => {
    const rule = await mustGetRule(tx, input.RuleArn, 'deleted');
    tx.delete(lbKeys.rule(resourceId(rule.RuleArn, 'listener-rule')));
    return {};
  });
}

export async function setRulePriorities(store: Store, _ctx: ElbContext, input: { readonly RulePriorities: readonly { readonly RuleArn?: string; readonly Priority?: number }[] }) {
  if (input.RulePriorities.length === 0) throw invalid('RulePriorities must contain at least one rule');
  const wanted = input.RulePriorities.map((p, i) => {
    if (p.RuleArn === undefined) throw invalid(`RulePriorities.member.${i + 1}.RuleArn is required`);
    if (p.Priority === undefined) throw invalid(`RulePriorities.member.${i + 1}.Priority is required`);
    return { RuleArn: p.RuleArn, Priority: p.Priority };
  });
  if (new Set(wanted.map((w) => w.RuleArn)).size !== wanted.length) throw invalid('A rule can appear only once in RulePriorities');
  return inTxn(store, async (tx) => {
    const changed: RuleRecord[] = [];
    for (const w of wanted) changed.push({ ...(await mustGetRule(tx, w.RuleArn, 'given a priority')), Priority: String(w.Priority) });
    const config = await readConfig(tx);
    const after = config.rules.map((r) => changed.find((c) => c.RuleArn === r.RuleArn) ?? r);
    for (const c of changed) {
      const clash = after.find((r) => r.ListenerArn === c.ListenerArn && r.RuleArn !== c.RuleArn && r.Priority === c.Priority);
      if (clash !== undefined) throw new BerthError('PriorityInUseException', `Priority '${c.Priority}' is currently in use`);
    }
    for (const c of changed) tx.put(lbKeys.rule(resourceId(c.RuleArn, 'listener-rule')), c);
    return { Rules: changed.map(ruleToWire) };
  });
}

export { isDefaultRuleArn, listenerOfRule };
