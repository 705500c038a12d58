/**
 * Targets as HAProxy servers: what each registered target should be (desiredServers), and the
 * Runtime API commands that take HAProxy from the servers it has to the servers it should have
 * (diffServers). Both are pure; the data plane runs the commands and records what took effect.
 * Targets come and go with every task start and stop, so they change without a reload.
 */
import { lbKeys, type TargetGroupRecord } from '../model.js';
import { arnResourceId, backendName, serverName } from './haproxy-syntax.js';
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

/** `${backend}/${name}`: how the Runtime API names a server. */
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
    const healthKey = lbKeys.health(arnResourceId(t.TargetGroupArn), t.Id, t.Port);
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

/** A change to one server: Runtime API command lines (each line may hold several commands, ';'-joined). */
export type ServerOp =
  | { readonly kind: 'add'; readonly server: ServerSpec; readonly lines: readonly string[] }
  | { readonly kind: 'remove'; readonly server: ServerSpec; readonly lines: readonly string[] }
  | { readonly kind: 'drain' | 'undrain'; readonly server: ServerSpec; readonly lines: readonly string[] };

/** True when a server must be replaced rather than adjusted (HAProxy cannot change these in place). */
const replaced = (a: ServerSpec, b: ServerSpec) => a.address !== b.address || a.port !== b.port || a.options !== b.options;

/**
 * The operations that turn `applied` into `desired`: removals first (a replaced server is removed,
 * then added), then additions, then drain changes; each group in server-id order.
 *
 * An added server is enabled with its health forced down, so it takes no traffic before passing
 * its healthy threshold (ELBv2's `initial`), unless the store already knew it healthy. Health-down
 * must follow `enable server` (in maintenance it does not stick) and shares its line, so no check
 * or request falls between them.
 */
export function diffServers(desired: ReadonlyMap<string, ServerSpec>, applied: ReadonlyMap<string, ServerSpec>): ServerOp[] {
  const removes: ServerOp[] = [];
  const adds: ServerOp[] = [];
  const drains: ServerOp[] = [];
  for (const id of [...applied.keys()].sort()) {
    const have = applied.get(id)!;
    const want = desired.get(id);
    if (want === undefined || replaced(want, have)) removes.push(removeOp(have));
  }
  for (const id of [...desired.keys()].sort()) {
    const want = desired.get(id)!;
    const have = applied.get(id);
    if (have === undefined || replaced(want, have)) adds.push(addOp(want));
    else if (want.draining !== have.draining) {
      drains.push({ kind: want.draining ? 'drain' : 'undrain', server: want, lines: [`set server ${id} state ${want.draining ? 'drain' : 'ready'}`] });
    }
  }
  return [...removes, ...adds, ...drains];
}

function addOp(s: ServerSpec): ServerOp {
  const id = serverId(s);
  const enable = [...(s.options.startsWith('check') ? [`enable health ${id}`] : []), `enable server ${id}`];
  if (s.options.startsWith('check') && !s.knownHealthy) enable.push(`set server ${id} health down`);
  if (s.draining) enable.push(`set server ${id} state drain`);
  return { kind: 'add', server: s, lines: [`add server ${id} ${s.address}:${s.port} ${s.options}`, enable.join('; ')] };
}

/** Out of rotation first, its connections closed (ELBv2 closes them when the delay ends), then deleted. */
function removeOp(s: ServerSpec): ServerOp {
  const id = serverId(s);
  return { kind: 'remove', server: s, lines: [`disable server ${id}; shutdown sessions server ${id}`, `del server ${id}`] };
}
