/**
 * health: the check commands and defaults a definition gives, Docker's counting rules (retries,
 * start period, timeouts), and the runner's schedule on a fake clock with a scripted exec.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ExecResult } from '../runtime/driver.js';
import { RuntimeError } from '../runtime/errors.js';
import { type HealthCheckResult, healthCheckConfig, type HealthState, INITIAL_HEALTH, nextHealth, runHealthChecks } from './health.js';

describe('healthCheckConfig', () => {
  it('runs CMD as given and CMD-SHELL through /bin/sh -c, with ECS’s defaults in ms', () => {
    expect(healthCheckConfig({ command: ['CMD', '/bin/check', '--quick'] })).toEqual({
      command: ['/bin/check', '--quick'], intervalMs: 30_000, timeoutMs: 5_000, retries: 3, startPeriodMs: 0,
    });
    expect(healthCheckConfig({ command: ['CMD-SHELL', 'wget -q localhost || exit 1'], interval: 5, timeout: 2, retries: 1, startPeriod: 10 })).toEqual({
      command: ['/bin/sh', '-c', 'wget -q localhost || exit 1'], intervalMs: 5_000, timeoutMs: 2_000, retries: 1, startPeriodMs: 10_000,
    });
    expect(healthCheckConfig({ command: ['CMD-SHELL', 'test', '-f /x'] })?.command).toEqual(['/bin/sh', '-c', 'test -f /x']);
  });

  it('has no check for an absent one or NONE', () => {
    expect(healthCheckConfig(undefined)).toBeUndefined();
    expect(healthCheckConfig({ command: ['NONE'] })).toBeUndefined();
  });

  it('refuses anything else, naming the field', () => {
    for (const command of [[], ['CMD'], ['CMD', ''], ['CMD-SHELL'], ['CMD-SHELL', ' '], ['curl', 'localhost']]) {
      expect(() => healthCheckConfig({ command })).toThrow(/^healthCheck\.command: must be CMD/);
    }
    expect(() => healthCheckConfig({})).toThrow(/healthCheck\.command/);
  });
});

const pass = (at: number): HealthCheckResult => ({ at, exitCode: 0, output: 'ok', timedOut: false });
const fail = (at: number, exitCode = 1): HealthCheckResult => ({ at, exitCode, output: 'bad', timedOut: false });
const timeout = (at: number): HealthCheckResult => ({ at, exitCode: 137, output: '', timedOut: true });

function run(results: HealthCheckResult[], config = { retries: 3, startPeriodMs: 0 }, startedAt = 0): HealthState[] {
  const states: HealthState[] = [];
  let s = INITIAL_HEALTH;
  for (const r of results) states.push((s = nextHealth(s, r, startedAt, config)));
  return states;
}

describe('nextHealth', () => {
  it('starts UNKNOWN, turns HEALTHY on a pass, UNHEALTHY after `retries` failures in a row, and back on a pass', () => {
    const states = run([fail(1), fail(2), pass(3), fail(4), fail(5), fail(6), fail(7), pass(8)]);
    expect(states.map((s) => s.status)).toEqual(['UNKNOWN', 'UNKNOWN', 'HEALTHY', 'HEALTHY', 'HEALTHY', 'UNHEALTHY', 'UNHEALTHY', 'HEALTHY']);
    expect(states.map((s) => s.failingStreak)).toEqual([1, 2, 0, 1, 2, 3, 4, 0]);
    // `since` moves only when the status changes.
    expect(states.map((s) => s.since)).toEqual([undefined, undefined, 3, 3, 3, 6, 6, 8]);
    expect(states[7]!.last).toEqual(pass(8));
  });

  it('can go UNHEALTHY straight from UNKNOWN', () => {
    expect(run([fail(1), fail(2), fail(3)]).map((s) => s.status)).toEqual(['UNKNOWN', 'UNKNOWN', 'UNHEALTHY']);
    expect(run([fail(1)], { retries: 1, startPeriodMs: 0 })[0]!.status).toBe('UNHEALTHY');
  });

  it('counts a timed-out check as failed whatever its exit code', () => {
    expect(run([{ ...timeout(1), exitCode: 0 }], { retries: 1, startPeriodMs: 0 })[0]!.status).toBe('UNHEALTHY');
  });

  it('does not count failures in the start period, until a first pass ends it', () => {
    const config = { retries: 1, startPeriodMs: 10 };
    // Started at 100: failures before 110 do not count; the one at 110 does.
    expect(run([fail(101), fail(109), fail(110)], config, 100).map((s) => [s.status, s.failingStreak]))
      .toEqual([['UNKNOWN', 0], ['UNKNOWN', 0], ['UNHEALTHY', 1]]);
    // A pass inside the start period ends it: the next failure counts.
    expect(run([pass(101), fail(102)], config, 100).map((s) => s.status)).toEqual(['HEALTHY', 'UNHEALTHY']);
    // The failure in the start period is still kept as the last result.
    expect(run([fail(101)], config, 100)[0]!.last).toEqual(fail(101));
  });
});

describe('runHealthChecks', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const config = { command: ['/bin/sh', '-c', 'check'], intervalMs: 1000, timeoutMs: 500, retries: 2, startPeriodMs: 0 };
  const result = (exitCode: number, timedOut = false): ExecResult => ({ exitCode, output: `exit ${exitCode}`, timedOut });

  it('checks every interval, one at a time, with the timeout, until stopped', async () => {
    const calls: Array<{ args: readonly string[]; timeoutMs: number | undefined; at: number }> = [];
    const script = [result(0), result(1), result(1), result(0)];
    const states: HealthState[] = [];
    const checks = runHealthChecks({
      exec: (args, o) => {
        calls.push({ args, timeoutMs: o.timeoutMs, at: Date.now() });
        return Promise.resolve(script.shift() ?? result(0));
      },
      config, startedAt: Date.now(), onCheck: (s) => states.push(s),
    });
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toEqual([]); // the first check comes one interval after the start
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([{ args: ['/bin/sh', '-c', 'check'], timeoutMs: 500, at: t0 + 1000 }]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(states.map((s) => s.status)).toEqual(['HEALTHY', 'HEALTHY', 'UNHEALTHY', 'HEALTHY']);
    expect(checks.state.status).toBe('HEALTHY');
    checks.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(4);
  });

  it('waits for a slow check before scheduling the next, and ignores one that ends after stop()', async () => {
    let finish: ((r: ExecResult) => void) | undefined;
    let calls = 0;
    const states: HealthState[] = [];
    const checks = runHealthChecks({
      exec: () => {
        calls++;
        return new Promise((resolve) => (finish = resolve));
      },
      config, startedAt: Date.now(), onCheck: (s) => states.push(s),
    });
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(1);
    finish!(result(0));
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    checks.stop();
    finish!(result(0));
    await vi.advanceTimersByTimeAsync(5000);
    expect(states).toHaveLength(1);
  });

  it('skips a check the container was not running for, and counts one that could not run as failed', async () => {
    const errors: unknown[] = [];
    const states: HealthState[] = [];
    const script: Array<() => Promise<ExecResult>> = [
      () => Promise.reject(new RuntimeError('Conflict', 'container x is stopped, not running')),
      () => Promise.reject(new RuntimeError('RuntimeFailed', 'runc exec failed')),
      () => Promise.reject(new Error('boom')),
    ];
    const checks = runHealthChecks({
      exec: () => (script.shift() ?? (() => Promise.resolve(result(0))))(),
      config, startedAt: Date.now(), onCheck: (s) => states.push(s), onError: (e) => errors.push(e),
    });
    await vi.advanceTimersByTimeAsync(3000);
    checks.stop();
    expect(states.map((s) => [s.status, s.last?.output])).toEqual([['UNKNOWN', 'runc exec failed'], ['UNHEALTHY', 'boom']]);
    expect(errors).toHaveLength(2);
  });

  it('resumes from a given state, and keeps checking when onCheck throws', async () => {
    const errors: unknown[] = [];
    const states: HealthState[] = [];
    const checks = runHealthChecks({
      exec: () => Promise.resolve(result(1)),
      config, startedAt: Date.now(), initial: { status: 'HEALTHY', failingStreak: 1, passedOnce: true, since: 5 },
      onCheck: (s) => {
        states.push(s);
        throw new Error('listener bug');
      },
      onError: (e) => errors.push(e),
    });
    await vi.advanceTimersByTimeAsync(2000);
    checks.stop();
    expect(states.map((s) => s.status)).toEqual(['UNHEALTHY', 'UNHEALTHY']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['listener bug', 'listener bug']);
  });
});
