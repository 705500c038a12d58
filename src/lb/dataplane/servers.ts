/**
 * Targets as HAProxy servers: what each registered target should be (desiredServers), and the
 * Runtime API commands that take HAProxy from the servers it has to the servers it should have
 * (planServers). Both are pure; the data plane runs the commands and records what took effect.
 * Targets come and go with every task start and stop, so they change without a reload.
 */
import { lbIdOf, lbKeys, type TargetGroupRecord } from '../model.js';
import { backendName, serverName } from './haproxy-syntax.js';
import { tgAttribute, type LbModel } from './model-view.js';

/** Every server gets this weight: ELBv2 targets are equal, and slow start needs room to ramp. */
export const SERVER_WEIGHT = 100;

export interface ServerSpec {
  readonly backend: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** The `server`/`add server` keywords after the address (checks, weight, slow start). */
  readonly options: string;
  readonly draining: boolean;
  /** The store key of this target's health record. */
  readonly healthKey: string;
  /**
   * The store last saw this target healthy: it may take traffic at once when added, instead of
   * passing its healthy threshold first (a restarted data plane keeps serving).
   */
  readonly knownHealthy: boolean;
}

/** `${backend}/${name}`: a target's identity among servers (its slot may change). */
export const serverId = (s: { readonly backend: string; readonly name: string }) => `${s.backend}/${s.name}`;

/** The server keywords that follow from a target group's health check and attributes. */
export function serverOptions(tg: TargetGroupRecord): string {
  const words: string[] = [];
  if (tg.HealthCheckEnabled) {
    words.push('check', 'inter', ms(tg.HealthCheckIntervalSeconds), 'rise', String(tg.HealthyThresholdCount), 'fall', String(tg.UnhealthyThresholdCount));
    if (tg.HealthCheckPort !== 'traffic-port') words.push('port', String(Number(tg.HealthCheckPort)));
  }
  words.push('weight', String(SERVER_WEIGHT));
  const slowStart = Number(tgAttribute(tg, 'slow_start.duration_seconds'));
  if (Number.isFinite(slowStart) && slowStart > 0) words.push('slowstart', ms(slowStart));
  return words.join(' ');
}

/** Seconds (the model's unit; tests use fractions) as HAProxy milliseconds. */
export const ms = (seconds: number) => `${Math.max(1, Math.round(seconds * 1000))}ms`;

/**
 * The servers HAProxy should have now: one per registered or draining target of a known target
 * group, except draining targets whose deregistration delay has run out (`now`, epoch ms).
 */
export function desiredServers(model: LbModel, now: number): Map<string, ServerSpec> {
  const groups = new Map(model.targetGroups.map((tg) => [tg.TargetGroupArn, tg]));
  const out = new Map<string, ServerSpec>();
  for (const t of model.targets) {
    const tg = groups.get(t.TargetGroupArn);
    if (tg === undefined) continue;
    if (t.State === 'draining' && t.DrainUntil !== undefined && t.DrainUntil <= now) continue;
    const healthKey = lbKeys.health(lbIdOf(t.TargetGroupArn), t.Id, t.Port);
    const spec: ServerSpec = {
      backend: backendName(t.TargetGroupArn),
      name: serverName(t.Id, t.Port),
      address: t.Address,
      port: t.Port,
      options: serverOptions(tg),
      draining: t.State === 'draining',
      healthKey,
      knownHealthy: model.health.get(healthKey)?.State === 'healthy',
    };
    out.set(serverId(spec), spec);
  }
  return out;
}

/**
 * Slots: each backend is rendered with a number of server slots, and a target takes a free one at
 * runtime (`set server addr`, `enable server`). HAProxy 2.6 keeps no idle connections for servers
 * added with `add server`, so every request through one would open a new connection to its target
 * (measured: a third of the throughput); slots written in the config keep their connections.
 * A backend grows (a reload) only when its targets outnumber its slots.
 */
export const MIN_SLOTS = 8;

/** `s1`, `s2`, ...: the name of slot i (0-based) in every backend. */
export const slotName = (index: number) => `s${index + 1}`;

/** A target in its slot, as HAProxy has it. */
export interface AppliedServer {
  readonly spec: ServerSpec;
  readonly slot: number;
}

/**
 * Slots per backend: what each had (never fewer: shrinking would mean a reload for nothing), at
 * least MIN_SLOTS, doubled until the backend's targets fit.
 */
export function slotCapacities(backends: Iterable<string>, desired: ReadonlyMap<string, ServerSpec>, current: ReadonlyMap<string, number>): Map<string, number> {
  const need = new Map<string, number>();
  for (const s of desired.values()) need.set(s.backend, (need.get(s.backend) ?? 0) + 1);
  const out = new Map<string, number>();
  for (const backend of backends) {
    let cap = Math.max(MIN_SLOTS, current.get(backend) ?? 0);
    while (cap < (need.get(backend) ?? 0)) cap *= 2;
    out.set(backend, cap);
  }
  return out;
}

/** A change to one target's server: Runtime API command lines (each may hold several commands, ';'-joined). */
export interface ServerOp {
  readonly kind: 'add' | 'remove' | 'drain' | 'undrain';
  readonly server: ServerSpec;
  /** The slot it takes (add) or holds. */
  readonly slot: number;
  readonly lines: readonly string[];
}

/** True when a server must be replaced rather than adjusted. */
const replaced = (a: ServerSpec, b: ServerSpec) => a.address !== b.address || a.port !== b.port || a.options !== b.options;

/**
 * The operations that turn `applied` into `desired`: removals first (freeing slots; a replaced
 * server is removed, then added), then additions into the lowest free slots of their backends,
 * then drain changes; each group in target order. A target whose backend has no free slot (or no
 * slots: its target group is not rendered yet) waits: the caller grows the backend and reloads.
 *
 * An added server is enabled with its health forced down, so it takes no traffic before passing
 * its healthy threshold (ELBv2's `initial`), unless the store already knew it healthy. Health-down
 * must follow `enable server` (in maintenance it does not stick) and shares its line, so no check
 * or request falls between them.
 */
export function planServers(desired: ReadonlyMap<string, ServerSpec>, applied: ReadonlyMap<string, AppliedServer>, capacity: ReadonlyMap<string, number>): ServerOp[] {
  const used = new Map<string, Set<number>>();
  for (const a of applied.values()) {
    if (!used.has(a.spec.backend)) used.set(a.spec.backend, new Set());
    used.get(a.spec.backend)!.add(a.slot);
  }
  const removes: ServerOp[] = [];
  const adds: ServerOp[] = [];
  const drains: ServerOp[] = [];
  for (const id of [...applied.keys()].sort()) {
    const have = applied.get(id)!;
    const want = desired.get(id);
    if (want === undefined || replaced(want, have.spec)) {
      removes.push(removeOp(have));
      used.get(have.spec.backend)!.delete(have.slot);
    }
  }
  for (const id of [...desired.keys()].sort()) {
    const want = desired.get(id)!;
    const have = applied.get(id);
    if (have === undefined || replaced(want, have.spec)) {
      const taken = used.get(want.backend) ?? new Set<number>();
      used.set(want.backend, taken);
      let slot = 0;
      while (taken.has(slot)) slot++;
      if (slot >= (capacity.get(want.backend) ?? 0)) continue;
      taken.add(slot);
      adds.push(addOp(want, slot));
    } else if (want.draining !== have.spec.draining) {
      const server = `${want.backend}/${slotName(have.slot)}`;
      drains.push({ kind: want.draining ? 'drain' : 'undrain', server: want, slot: have.slot, lines: [`set server ${server} state ${want.draining ? 'drain' : 'ready'}`] });
    }
  }
  return [...removes, ...adds, ...drains];
}

function addOp(s: ServerSpec, slot: number): ServerOp {
  const id = `${s.backend}/${slotName(slot)}`;
  const checked = s.options.startsWith('check');
  const enable = [...(checked ? [`enable health ${id}`] : []), `enable server ${id}`];
  if (checked && !s.knownHealthy) enable.push(`set server ${id} health down`);
  if (s.draining) enable.push(`set server ${id} state drain`);
  return { kind: 'add', server: s, slot, lines: [`set server ${id} addr ${s.address} port ${s.port}`, enable.join('; ')] };
}

/** Out of rotation and its connections closed (ELBv2 closes them when the delay ends); the slot is free again. */
function removeOp(a: AppliedServer): ServerOp {
  const id = `${a.spec.backend}/${slotName(a.slot)}`;
  // Its fail-open twin (see twinName) leaves with it, before the slot can take another target.
  const twin = a.spec.options.startsWith('check') ? `; disable server ${a.spec.backend}/${twinName(a.slot)}` : '';
  return { kind: 'remove', server: a.spec, slot: a.slot, lines: [`disable server ${id}; shutdown sessions server ${id}${twin}`] };
}

/**
 * Fail-open, as ALB does it: when every target of a group is unhealthy, the group routes to all of
 * them regardless of health. Each slot of a checked backend has a twin named `f<n>`: a backup server
 * without checks (the backend has `option allbackups`), which HAProxy uses only while no primary
 * server is up. A twin points at its slot's target and is enabled while that target is unhealthy
 * (not `initial`: a group of targets that never passed answers 503, as ALB's does) and not
 * draining; otherwise it is in maintenance.
 */
export const twinName = (index: number) => `f${index + 1}`;

/** `${backend}/${twinName(slot)}` → `${address}:${port}`: the twins that should be enabled. */
export function desiredTwins(applied: ReadonlyMap<string, AppliedServer>, health: ReadonlyMap<string, { readonly State: string }>): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of applied.values()) {
    if (!a.spec.options.startsWith('check') || a.spec.draining || health.get(a.spec.healthKey)?.State !== 'unhealthy') continue;
    out.set(`${a.spec.backend}/${twinName(a.slot)}`, `${a.spec.address}:${a.spec.port}`);
  }
  return out;
}

/**
 * Runtime API lines that take the twins from `current` to `desired`. With `current` unknown (after
 * a start or reload, which may restore twins from the server-state file), every twin of the checked
 * backends (`capacity`: their slot counts) that should be off is put in maintenance.
 */
export function planTwins(desired: ReadonlyMap<string, string>, current: ReadonlyMap<string, string> | undefined, checkedCapacity: ReadonlyMap<string, number>): string[] {
  const lines: string[] = [];
  const off = current === undefined ? [...checkedCapacity].flatMap(([backend, n]) => Array.from({ length: n }, (_, i) => `${backend}/${twinName(i)}`)) : [...current.keys()];
  for (const id of off.sort()) {
    const want = desired.get(id);
    if (want === undefined || (current !== undefined && want !== current.get(id))) lines.push(`disable server ${id}`);
  }
  for (const [id, target] of [...desired].sort(([a], [b]) => a.localeCompare(b))) {
    if (current?.get(id) === target) continue;
    const colon = target.lastIndexOf(':');
    lines.push(`set server ${id} addr ${target.slice(0, colon)} port ${target.slice(colon + 1)}; enable server ${id}`);
  }
  return lines;
}
