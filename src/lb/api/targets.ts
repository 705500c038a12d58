/**
 * Target registration and health: what RegisterTargets, DeregisterTargets and DescribeTargetHealth
 * do, exported for the ECS service controller to call with the same rules (it registers a task's
 * host and port, deregisters it with draining when the task stops, and reads health to count a
 * task healthy). Draining targets are removed after their deregistration delay by
 * `sweepDrainedTargets`, which the server runs on a timer.
 */
import { BerthError } from '../../protocols/index.js';
import type { Store } from '../../store/index.js';
import { lbKeys } from '../model.js';
import type { TargetGroupRecord, TargetHealthRecord, TargetRecord } from '../model.js';
import { resourceId } from './arns.js';
import { loadBalancersByTargetGroup, mustGet, readConfig } from './common.js';
import type { ElbContext } from './common.js';
import { LIMITS, isIpv4Address } from './rules-check.js';
import { inTxn } from './txn.js';

/** A target as ELBv2's TargetDescription names it; Port defaults to the group's. */
export interface TargetDescription {
  readonly Id: string;
  readonly Port?: number;
  readonly AvailabilityZone?: string;
}

export type TargetHealthState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';

export interface TargetHealthDescription {
  readonly Target: { readonly Id: string; readonly Port: number; readonly AvailabilityZone?: string };
  readonly HealthCheckPort: string;
  readonly TargetHealth: { readonly State: TargetHealthState; readonly Reason?: string; readonly Description?: string };
}

const targetKey = (tg: TargetGroupRecord, id: string, port: number) => lbKeys.target(resourceId(tg.TargetGroupArn, 'targetgroup'), id, port);
const healthKey = (tg: TargetGroupRecord, id: string, port: number) => lbKeys.health(resourceId(tg.TargetGroupArn, 'targetgroup'), id, port);
const shown = (targets: readonly { Id: string; Port: number }[]) => targets.map((t) => `'${t.Id}:${t.Port}'`).join(', ');

function checkTargetList(targets: readonly TargetDescription[]): void {
  if (targets.length === 0) throw new BerthError('ValidationException', 'Targets must contain at least one target');
  for (const [i, t] of targets.entries()) {
    if (t.Id === '') throw new BerthError('ValidationException', `Targets.member.${i + 1}.Id cannot be empty`);
  }
}

/**
 * Registers targets in a target group: `ip` targets must be IPv4 addresses, `instance` targets
 * are resolved to an address with `ctx.resolveInstance` (unknown instance: InvalidTarget). A
 * target registered already stays as it is; a draining one is registered again.
 *
 * @example await registerTargets(store, { region, accountId, now, resolveInstance }, tgArn, [{ Id: 'i-0abc', Port: 32768 }])
 */
export async function registerTargets(store: Store, ctx: ElbContext, targetGroupArn: string, targets: readonly TargetDescription[]): Promise<void> {
  checkTargetList(targets);
  const tgKey = lbKeys.targetGroup(resourceId(targetGroupArn, 'targetgroup'));
  const first = await store.get(tgKey);
  const tg0 = first === undefined ? undefined : (JSON.parse(first.value) as TargetGroupRecord);
  if (tg0 === undefined || tg0.TargetGroupArn !== targetGroupArn) throw new BerthError('TargetGroupNotFoundException', `Target group '${targetGroupArn}' not found`);
  // Resolve instances before the transaction: it is I/O, and a target type never changes.
  const resolved: { Id: string; Port: number; Address: string; AvailabilityZone?: string }[] = [];
  const invalidIps: string[] = [];
  const unknownInstances: string[] = [];
  for (const t of targets) {
    const port = t.Port ?? tg0.Port;
    if (tg0.TargetType === 'ip') {
      if (isIpv4Address(t.Id)) resolved.push({ Id: t.Id, Port: port, Address: t.Id, ...(t.AvailabilityZone !== undefined && { AvailabilityZone: t.AvailabilityZone }) });
      else invalidIps.push(t.Id);
    } else {
      const where = ctx.resolveInstance === undefined ? undefined : await ctx.resolveInstance(t.Id);
      if (where === undefined) unknownInstances.push(t.Id);
      else {
        const zone = t.AvailabilityZone ?? where.availabilityZone;
        resolved.push({ Id: t.Id, Port: port, Address: where.address, ...(zone !== undefined && { AvailabilityZone: zone }) });
      }
    }
  }
  if (invalidIps.length > 0) {
    throw new BerthError('InvalidTargetException', `The following targets are not valid IPv4 addresses for a target group of target type 'ip': ${invalidIps.map((i) => `'${i}'`).join(', ')}`);
  }
  if (unknownInstances.length > 0) {
    throw new BerthError('InvalidTargetException', `The following targets are not known instances: ${unknownInstances.map((i) => `'${i}'`).join(', ')}`);
  }
  await inTxn(
    store,
    async (tx) => {
      const tg = await mustGet(tx, 'targetgroup', targetGroupArn);
      const fresh = new Set<string>();
      const seen = new Set<string>();
      for (const t of resolved) {
        const key = targetKey(tg, t.Id, t.Port);
        if (seen.has(key)) continue;
        seen.add(key);
        // Guarded either way: on the record read, or on the key still being absent.
        const current = await tx.get<TargetRecord>(key);
        if (current === undefined) fresh.add(key);
        if (current?.State === 'registered' && current.Address === t.Address) continue;
        const record: TargetRecord = {
          TargetGroupArn: tg.TargetGroupArn,
          Id: t.Id,
          Port: t.Port,
          Address: t.Address,
          State: 'registered',
          RegisteredAt: current?.State === 'registered' ? current.RegisteredAt : ctx.now.getTime(),
          ...(t.AvailabilityZone !== undefined && { AvailabilityZone: t.AvailabilityZone }),
        };
        tx.put(key, record);
      }
      const existing = fresh.size === 0 ? 0 : await tx.count(lbKeys.targets(resourceId(tg.TargetGroupArn, 'targetgroup')));
      const max = LIMITS['targets-per-target-group'];
      if (existing + fresh.size > max) {
        throw new BerthError('TooManyTargetsException', `A target group can have at most ${max} targets; registering these would make ${existing + fresh.size}`);
      }
    },
    { config: false },
  );
}

/**
 * Deregisters targets: each moves to draining until now + the group's deregistration delay, when
 * `sweepDrainedTargets` removes it (a delay of 0 removes it at once). A target that is not
 * registered is passed over, as ELBv2 does (it answers 200 and changes nothing, so a retried
 * deregistration is harmless); `ignoreUnregistered: false` refuses the call with InvalidTarget.
 *
 * @example await deregisterTargets(store, ctx, tgArn, [{ Id: '169.254.1.7', Port: 8080 }])
 */
export async function deregisterTargets(
  store: Store,
  ctx: ElbContext,
  targetGroupArn: string,
  targets: readonly TargetDescription[],
  options: { readonly ignoreUnregistered?: boolean } = {},
): Promise<void> {
  checkTargetList(targets);
  resourceId(targetGroupArn, 'targetgroup');
  await inTxn(
    store,
    async (tx) => {
      const tg = await mustGet(tx, 'targetgroup', targetGroupArn);
      const delaySeconds = Number(tg.Attributes['deregistration_delay.timeout_seconds'] ?? '300');
      const missing: { Id: string; Port: number }[] = [];
      const done = new Set<string>();
      for (const t of targets) {
        const port = t.Port ?? tg.Port;
        const key = targetKey(tg, t.Id, port);
        if (done.has(key)) continue;
        done.add(key);
        const current = await tx.get<TargetRecord>(key);
        if (current === undefined) {
          missing.push({ Id: t.Id, Port: port });
          continue;
        }
        if (current.State === 'draining') continue;
        if (delaySeconds === 0) {
          tx.delete(key);
          tx.delete(healthKey(tg, t.Id, port));
        } else {
          tx.put(key, { ...current, State: 'draining', DrainUntil: ctx.now.getTime() + delaySeconds * 1000 } satisfies TargetRecord);
        }
      }
      if (missing.length > 0 && options.ignoreUnregistered === false) {
        throw new BerthError('InvalidTargetException', `The following targets are not registered in target group '${tg.TargetGroupArn}': ${shown(missing)}`);
      }
    },
    { config: false },
  );
}

const DESCRIPTIONS = {
  notInUse: 'Target group is not configured to receive traffic from the load balancer',
  draining: 'Target deregistration is in progress',
  registering: 'Target registration is in progress',
  disabled: 'Health checks are disabled for this target group',
  notRegistered: 'Target is not registered to the target group',
} as const;

/**
 * The health of a group's targets (or of `targets`, reporting those not registered as unused /
 * Target.NotRegistered), merging registrations with the data plane's health records: no listener
 * or rule forwards to the group → unused; draining → draining; health checks off → unavailable;
 * no record yet → initial; otherwise the record's state.
 *
 * @example const [d] = await describeTargetHealth(store, ctx, tgArn); d.TargetHealth.State // 'healthy'
 */
export async function describeTargetHealth(store: Store, _ctx: ElbContext, targetGroupArn: string, targets?: readonly TargetDescription[]): Promise<TargetHealthDescription[]> {
  resourceId(targetGroupArn, 'targetgroup');
  return inTxn(store, async (tx) => {
    const tg = await mustGet(tx, 'targetgroup', targetGroupArn);
    const id = resourceId(tg.TargetGroupArn, 'targetgroup');
    const [registered, healths, config] = await Promise.all([
      tx.list<TargetRecord>(lbKeys.targets(id)),
      tx.list<TargetHealthRecord>(lbKeys.healths(id)),
      readConfig(tx),
    ]);
    const inUse = (loadBalancersByTargetGroup(config).get(tg.TargetGroupArn)?.size ?? 0) > 0;
    const healthOf = new Map(healths.map((h) => [h.key.slice(lbKeys.healths(id).length), h.value]));
    const describe = (t: TargetRecord): TargetHealthDescription => {
      const health = healthOf.get(lbKeys.target(id, t.Id, t.Port).slice(lbKeys.targets(id).length));
      return {
        Target: { Id: t.Id, Port: t.Port, ...(t.AvailabilityZone !== undefined && { AvailabilityZone: t.AvailabilityZone }) },
        HealthCheckPort: tg.HealthCheckPort === 'traffic-port' ? String(t.Port) : tg.HealthCheckPort,
        TargetHealth: targetHealth(tg, t, health, inUse),
      };
    };
    const all = registered.map((r) => r.value);
    if (targets === undefined || targets.length === 0) return all.map(describe);
    return targets.flatMap((want): TargetHealthDescription[] => {
      const matches = all.filter((t) => t.Id === want.Id && (want.Port === undefined || t.Port === want.Port));
      if (matches.length > 0) return matches.map(describe);
      const port = want.Port ?? tg.Port;
      return [
        {
          Target: { Id: want.Id, Port: port, ...(want.AvailabilityZone !== undefined && { AvailabilityZone: want.AvailabilityZone }) },
          HealthCheckPort: tg.HealthCheckPort === 'traffic-port' ? String(port) : tg.HealthCheckPort,
          TargetHealth: { State: 'unused', Reason: 'Target.NotRegistered', Description: DESCRIPTIONS.notRegistered },
        },
      ];
    });
  });
}

/** One registered target's health, by the precedence describeTargetHealth documents. Pure. */
export function targetHealth(tg: TargetGroupRecord, target: TargetRecord, health: TargetHealthRecord | undefined, inUse: boolean): TargetHealthDescription['TargetHealth'] {
  if (!inUse) return { State: 'unused', Reason: 'Target.NotInUse', Description: DESCRIPTIONS.notInUse };
  if (target.State === 'draining') return { State: 'draining', Reason: 'Target.DeregistrationInProgress', Description: DESCRIPTIONS.draining };
  if (!tg.HealthCheckEnabled) return { State: 'unavailable', Reason: 'Target.HealthCheckDisabled', Description: DESCRIPTIONS.disabled };
  if (health === undefined) return { State: 'initial', Reason: 'Elb.RegistrationInProgress', Description: DESCRIPTIONS.registering };
  return {
    State: health.State,
    ...(health.Reason !== undefined && { Reason: health.Reason }),
    ...(health.Description !== undefined && { Description: health.Description }),
  };
}

/**
 * The draining targets whose deregistration delay is over at `now` (epoch ms or a Date). Pure.
 *
 * @example expiredTargets(records, Date.now()).length
 */
export function expiredTargets<T extends TargetRecord>(records: readonly T[], now: number | Date): T[] {
  const at = typeof now === 'number' ? now : now.getTime();
  return records.filter((r) => r.State === 'draining' && r.DrainUntil !== undefined && r.DrainUntil <= at);
}

/**
 * Removes every draining target whose delay is over, with its health record; each removal is
 * guarded on the target being unchanged (a target registered again meanwhile stays). Health
 * records left without a target (written by the data plane just after a removal) go too, guarded
 * on the target still being absent. Returns how many targets were removed. Safe to run from
 * several servers at once.
 *
 * @example setInterval(() => void sweepDrainedTargets(store, new Date()), 1000)
 */
export async function sweepDrainedTargets(store: Store, now: Date | number): Promise<number> {
  const [targets, healths] = await Promise.all([store.range(lbKeys.targets()), store.range(lbKeys.healths())]);
  const records = targets.kvs.map((kv) => ({ ...(JSON.parse(kv.value) as TargetRecord), kv }));
  let removed = 0;
  for (const r of expiredTargets(records, now)) {
    const healthKey = lbKeys.healths() + r.kv.key.slice(lbKeys.targets().length);
    const done = await store.txn([{ key: r.kv.key, target: 'mod', op: '=', value: r.kv.modRevision }], [
      { type: 'delete', key: r.kv.key },
      { type: 'delete', key: healthKey },
    ]);
    if (done.succeeded) removed++;
  }
  const present = new Set(targets.kvs.map((kv) => kv.key.slice(lbKeys.targets().length)));
  for (const h of healths.kvs) {
    const suffix = h.key.slice(lbKeys.healths().length);
    if (present.has(suffix)) continue;
    await store.txn(
      [
        { key: lbKeys.targets() + suffix, target: 'mod', op: '=', value: 0 },
        { key: h.key, target: 'mod', op: '=', value: h.modRevision },
      ],
      [{ type: 'delete', key: h.key }],
    );
  }
  return removed;
}
