/**
 * Container health checks as ECS runs them (Docker's rules): CMD or CMD-SHELL run inside the
 * container every interval through the Driver's exec (runc exec: the container's own user, env,
 * namespaces and capabilities), each bounded by timeout; `retries` failures in a row make it
 * UNHEALTHY, a pass makes it HEALTHY, and failures within startPeriod do not count until a first pass.
 */
import type { HealthCheck } from '../ecs/task-definition-types.js';
import type { ExecOptions, ExecResult } from '../runtime/driver.js';
import { invalidSpec, isRuntimeError } from '../runtime/errors.js';
import type { HealthStatus } from './protocol.js';

/** ECS's defaults, in seconds, for what a task definition leaves out. */
export const HEALTH_CHECK_DEFAULTS = { interval: 30, timeout: 5, retries: 3, startPeriod: 0 } as const;

export interface HealthCheckConfig {
  /** What exec runs: CMD's arguments as given, CMD-SHELL's string through `/bin/sh -c`. */
  readonly command: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

/**
 * The check a container definition asks for; undefined for none (absent, or `NONE`).
 *
 * @example healthCheckConfig({ command: ['CMD-SHELL', 'wget -q -O- localhost:8080 || exit 1'] })
 *   // { command: ['/bin/sh', '-c', 'wget -q -O- localhost:8080 || exit 1'], intervalMs: 30000, timeoutMs: 5000, retries: 3, startPeriodMs: 0 }
 */
export function healthCheckConfig(hc: HealthCheck | undefined): HealthCheckConfig | undefined {
  if (hc === undefined) return undefined;
  const [kind, ...rest] = hc.command ?? [];
  if (kind === 'NONE') return undefined;
  let command: string[];
  if (kind === 'CMD' && rest.length > 0 && rest[0] !== '') command = rest;
  // Docker's CMD-SHELL takes one string; should a definition split it, the shell gets it joined back.
  else if (kind === 'CMD-SHELL' && rest.join(' ').trim() !== '') command = ['/bin/sh', '-c', rest.join(' ')];
  else throw invalidSpec('healthCheck.command', `must be CMD followed by a program, CMD-SHELL followed by a command, or NONE; got ${JSON.stringify(hc.command ?? [])}`);
  const seconds = (v: number | undefined, d: number): number => (v ?? d) * 1000;
  return {
    command,
    intervalMs: seconds(hc.interval, HEALTH_CHECK_DEFAULTS.interval),
    timeoutMs: seconds(hc.timeout, HEALTH_CHECK_DEFAULTS.timeout),
    retries: Math.max(1, hc.retries ?? HEALTH_CHECK_DEFAULTS.retries),
    startPeriodMs: seconds(hc.startPeriod, HEALTH_CHECK_DEFAULTS.startPeriod),
  };
}

/** The outcome of one check. */
export interface HealthCheckResult {
  readonly at: number;
  readonly exitCode: number;
  readonly output: string;
  readonly timedOut: boolean;
}

export interface HealthState {
  readonly status: HealthStatus;
  /** Failed checks in a row that counted (those in the start period did not). */
  readonly failingStreak: number;
  /** A check passed once: the start period is over whatever the clock says. */
  readonly passedOnce: boolean;
  /** When status last changed (epoch ms). */
  readonly since?: number;
  readonly last?: HealthCheckResult;
}

export const INITIAL_HEALTH: HealthState = { status: 'UNKNOWN', failingStreak: 0, passedOnce: false };

/**
 * The health after one more check of a container that started at `startedAt`.
 *
 * @example nextHealth(INITIAL_HEALTH, { at: 5000, exitCode: 0, output: '', timedOut: false }, 0, config).status // 'HEALTHY'
 */
export function nextHealth(state: HealthState, result: HealthCheckResult, startedAt: number, config: Pick<HealthCheckConfig, 'retries' | 'startPeriodMs'>): HealthState {
  const changed = (status: HealthStatus): Pick<HealthState, 'status' | 'since'> =>
    status === state.status ? { status, ...(state.since === undefined ? {} : { since: state.since }) } : { status, since: result.at };
  if (result.exitCode === 0 && !result.timedOut) {
    return { ...changed('HEALTHY'), failingStreak: 0, passedOnce: true, last: result };
  }
  const inStartPeriod = !state.passedOnce && result.at < startedAt + config.startPeriodMs;
  if (inStartPeriod) return { ...state, last: result };
  const failingStreak = state.failingStreak + 1;
  return { ...changed(failingStreak >= config.retries ? 'UNHEALTHY' : state.status), failingStreak, passedOnce: state.passedOnce, last: result };
}

export interface HealthChecks {
  readonly state: HealthState;
  /** No check starts after this; one under way is let finish and ignored. */
  stop(): void;
}

export interface HealthCheckOptions {
  /** Runs the command in the container (the Driver's exec, bound to the container's id). */
  readonly exec: (args: readonly string[], options: ExecOptions) => Promise<ExecResult>;
  readonly config: HealthCheckConfig;
  /** When the container's process started (epoch ms): the start period counts from there. */
  readonly startedAt: number;
  /** Called after every check with the new state (compare `status` to see a change). */
  readonly onCheck: (state: HealthState) => void;
  /** A check that could not be run at all (it counts as a failure). */
  readonly onError?: (err: unknown) => void;
  /** Where to resume from, after an agent restart. */
  readonly initial?: HealthState;
  readonly now?: () => number;
}

/**
 * Runs checks every interval (the first one interval after this call, as Docker does), each one
 * after the previous finished, until stop().
 *
 * @example const checks = runHealthChecks({ exec: (args, o) => driver.exec(id, args, o), config, startedAt, onCheck: report });
 */
export function runHealthChecks(options: HealthCheckOptions): HealthChecks {
  const now = options.now ?? Date.now;
  let state = options.initial ?? INITIAL_HEALTH;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const check = async (): Promise<void> => {
    let result: HealthCheckResult;
    try {
      const r = await options.exec(options.config.command, { timeoutMs: options.config.timeoutMs });
      result = { at: now(), exitCode: r.exitCode, output: r.output, timedOut: r.timedOut };
    } catch (err) {
      // The container stopped between checks: its owner stops us; that is not a failed check.
      if (isRuntimeError(err, 'Conflict')) return;
      options.onError?.(err);
      result = { at: now(), exitCode: -1, output: err instanceof Error ? err.message : String(err), timedOut: false };
    }
    if (stopped) return;
    state = nextHealth(state, result, options.startedAt, options.config);
    options.onCheck(state);
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      check().then(schedule, (err: unknown) => {
        // onCheck threw: the owner's bug, reported where it can be seen, and checks go on.
        options.onError?.(err);
        schedule();
      });
    }, options.config.intervalMs);
  };
  schedule();
  return {
    get state() {
      return state;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
