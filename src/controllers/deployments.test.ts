/**
 * The deployment rules: health as deployments count it, the percent bounds, launch outcomes, the
 * circuit breaker (threshold, trip, rollback target) and the launch throttle.
 */
import { describe, expect, it } from 'vitest';
import { newDeployment, type Deployment } from '../ecs/service-shape.js';
import {
  circuitBreakerThreshold,
  deploymentBounds,
  isLive,
  isStopping,
  launchFailures,
  launchOutcome,
  MAX_THROTTLE_SECONDS,
  rollbackTarget,
  rolloutReason,
  taskHealth,
  throttledUntil,
  tripCircuitBreaker,
  type TaskView,
} from './deployments.js';
import { stopReason } from './service-events.js';

const T = 1_700_000_000;
let n = 0;
/** A task RUNNING since T, no health check, unless told otherwise. */
const task = (over: Partial<TaskView> = {}): TaskView => ({
  taskArn: `arn:aws:ecs:us-east-1:000000000000:task/c/${String(++n).padStart(32, '0')}`,
  taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1',
  startedBy: 'ecs-svc/1',
  group: 'service:web',
  lastStatus: 'RUNNING',
  desiredStatus: 'RUNNING',
  healthStatus: 'UNKNOWN',
  createdAt: T - 10,
  startedAt: T,
  containers: [{}],
  ...over,
});
const checked = (health: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN', over: Partial<TaskView> = {}) => task({ healthStatus: health, containers: [{ healthStatus: health }], ...over });
const stopped = (over: Partial<TaskView>) => task({ lastStatus: 'STOPPED', desiredStatus: 'STOPPED', ...over });

describe('isLive / isStopping', () => {
  it('split tasks by what they were told and what their agent reported', () => {
    expect(isLive(task())).toBe(true);
    expect(isLive(task({ lastStatus: 'PENDING' }))).toBe(true);
    expect(isStopping(task({ desiredStatus: 'STOPPED' }))).toBe(true);
    expect(isLive(task({ desiredStatus: 'STOPPED' }))).toBe(false);
    const gone = stopped({});
    expect(isLive(gone) || isStopping(gone)).toBe(false);
  });
});

describe('taskHealth', () => {
  it('needs RUNNING', () => {
    for (const s of ['PROVISIONING', 'PENDING', 'ACTIVATING', 'DEACTIVATING']) expect(taskHealth(task({ lastStatus: s }), T, 0).kind).toBe('starting');
  });

  it('takes RUNNING as healthy for a task without container health checks', () => {
    expect(taskHealth(task(), T, 0).kind).toBe('healthy');
  });

  it('waits for HEALTHY when the task has health checks', () => {
    expect(taskHealth(checked('UNKNOWN'), T, 0).kind).toBe('starting');
    expect(taskHealth(checked('HEALTHY'), T, 0).kind).toBe('healthy');
    expect(taskHealth(checked('UNHEALTHY'), T, 0)).toEqual({ kind: 'unhealthy', failed: 'container' });
  });

  it('believes healthChecked over the containers when given', () => {
    expect(taskHealth(task({ healthChecked: true }), T, 0).kind).toBe('starting');
    expect(taskHealth(checked('UNKNOWN', { healthChecked: false }), T, 0).kind).toBe('healthy');
  });

  it('needs a healthy load balancer target when there is one', () => {
    expect(taskHealth(task({ targetHealth: 'initial' }), T, 0).kind).toBe('starting');
    expect(taskHealth(task({ targetHealth: 'healthy' }), T, 0).kind).toBe('healthy');
    expect(taskHealth(task({ targetHealth: 'unhealthy' }), T, 0)).toEqual({ kind: 'unhealthy', failed: 'target' });
    expect(taskHealth(checked('UNKNOWN', { targetHealth: 'healthy' }), T, 0).kind).toBe('starting');
  });

  it('ignores failing checks during the grace period after the task started, and only then', () => {
    expect(taskHealth(task({ targetHealth: 'unhealthy' }), T + 59, 60).kind).toBe('starting');
    expect(taskHealth(task({ targetHealth: 'unhealthy' }), T + 60, 60).kind).toBe('unhealthy');
    expect(taskHealth(checked('UNHEALTHY'), T + 59, 60).kind).toBe('starting');
    expect(taskHealth(checked('UNHEALTHY'), T + 60, 60).kind).toBe('unhealthy');
    // Grace does not make a task healthy early.
    expect(taskHealth(task({ targetHealth: 'healthy' }), T, 60).kind).toBe('healthy');
  });
});

describe('deploymentBounds', () => {
  it('rounds the minimum up and the maximum down', () => {
    expect(deploymentBounds(3, { minimumHealthyPercent: 50, maximumPercent: 200 })).toEqual({ minHealthy: 2, maxTotal: 6 });
    expect(deploymentBounds(3, { minimumHealthyPercent: 33, maximumPercent: 150 })).toEqual({ minHealthy: 1, maxTotal: 4 });
    expect(deploymentBounds(4, { minimumHealthyPercent: 75, maximumPercent: 125 })).toEqual({ minHealthy: 3, maxTotal: 5 });
    expect(deploymentBounds(1, { minimumHealthyPercent: 100, maximumPercent: 150 })).toEqual({ minHealthy: 1, maxTotal: 1 });
    expect(deploymentBounds(0, { minimumHealthyPercent: 100, maximumPercent: 200 })).toEqual({ minHealthy: 0, maxTotal: 0 });
    expect(deploymentBounds(10, { minimumHealthyPercent: 0, maximumPercent: 100 })).toEqual({ minHealthy: 0, maxTotal: 10 });
  });
});

describe('circuitBreakerThreshold', () => {
  it('is half the desired count, at least 3, at most 200', () => {
    expect([0, 1, 2, 6, 7, 10, 399, 400, 1000].map(circuitBreakerThreshold)).toEqual([3, 3, 3, 3, 4, 5, 200, 200, 200]);
  });
});

describe('launchOutcome', () => {
  it('counts a live task as succeeded once healthy, undecided before', () => {
    expect(launchOutcome(task(), T, 0)).toBe('succeeded');
    expect(launchOutcome(checked('UNKNOWN'), T, 0)).toBe('undecided');
    expect(launchOutcome(task({ lastStatus: 'PENDING', startedAt: undefined }), T, 0)).toBe('undecided');
  });

  it('counts launches that never got going, or went down before healthy, as failed', () => {
    expect(launchOutcome(stopped({ startedAt: undefined, stopCode: 'TaskFailedToStart' }), T, 0)).toBe('failed');
    expect(launchOutcome(stopped({ startedAt: undefined, stopCode: 'EssentialContainerExited' }), T, 0)).toBe('failed');
    expect(launchOutcome(stopped({ startedAt: undefined }), T, 0)).toBe('failed');
    expect(launchOutcome(checked('UNKNOWN', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'EssentialContainerExited' }), T, 0)).toBe('failed');
  });

  it('counts a stop for failed health checks as failed even after RUNNING', () => {
    const reason = stopReason.containerHealth();
    expect(launchOutcome(checked('UNHEALTHY', { desiredStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated', stoppedReason: reason }), T, 0)).toBe('failed');
    expect(launchOutcome(task({ desiredStatus: 'STOPPED', stopCode: 'ServiceSchedulerInitiated', stoppedReason: stopReason.targetHealth('tg') }), T, 0)).toBe('failed');
  });

  it('counts a task that was healthy as succeeded whatever stopped it later', () => {
    expect(launchOutcome(stopped({ stopCode: 'EssentialContainerExited' }), T, 0)).toBe('succeeded');
    expect(launchOutcome(checked('HEALTHY', { lastStatus: 'STOPPED', desiredStatus: 'STOPPED', stopCode: 'EssentialContainerExited' }), T, 0)).toBe('succeeded');
  });

  it('leaves routine stops of unfinished launches out', () => {
    for (const stopCode of ['UserInitiated', 'ServiceSchedulerInitiated', 'SpotInterruption', 'TerminationNotice'] as const) {
      expect(launchOutcome(stopped({ startedAt: undefined, stopCode, stoppedReason: stopReason.scaling('ecs-svc/2') }), T, 0)).toBe('neutral');
    }
  });
});

describe('launchFailures', () => {
  const failed = (at: number, ran = false) => stopped({ startedAt: ran ? at - 5 : undefined, stopCode: ran ? 'EssentialContainerExited' : 'TaskFailedToStart', stoppingAt: at, stoppedAt: at, healthStatus: 'UNKNOWN', containers: [{ healthStatus: 'UNKNOWN' }] });

  it('counts failures in a row since the latest success', () => {
    expect(launchFailures([failed(T + 1), failed(T + 2), failed(T + 3)], T + 10, 0)).toMatchObject({ failed: 3, neverRan: 3, lastNeverRanAt: T + 3 });
    // A task healthy since T+2 (RUNNING then) resets the count: only the failure after it counts.
    const ok = task({ startedAt: T + 2 });
    expect(launchFailures([failed(T + 1), ok, failed(T + 3)], T + 10, 0).failed).toBe(1);
  });

  it('throttles on launches that never ran, not on tasks that crashed after RUNNING', () => {
    const f = launchFailures([failed(T + 1, true), failed(T + 2, true), failed(T + 3, true)], T + 10, 0);
    expect(f.failed).toBe(3);
    expect(f.neverRan).toBe(0);
    expect(throttledUntil(f)).toBeUndefined();
  });

  it('is the same however often it is computed (nothing is accumulated)', () => {
    const ts = [failed(T + 1), failed(T + 2)];
    expect(launchFailures(ts, T + 10, 0)).toEqual(launchFailures(ts, T + 10, 0));
  });
});

describe('throttledUntil', () => {
  it('starts after three launches that never ran, doubles, and stops at 27 minutes', () => {
    expect(throttledUntil({ failed: 2, neverRan: 2, lastNeverRanAt: T })).toBeUndefined();
    expect(throttledUntil({ failed: 3, neverRan: 3, lastNeverRanAt: T })).toBe(T + 15);
    expect(throttledUntil({ failed: 4, neverRan: 4, lastNeverRanAt: T })).toBe(T + 30);
    expect(throttledUntil({ failed: 5, neverRan: 5, lastNeverRanAt: T })).toBe(T + 60);
    expect(throttledUntil({ failed: 50, neverRan: 50, lastNeverRanAt: T })).toBe(T + MAX_THROTTLE_SECONDS);
    expect(throttledUntil({ failed: 5000, neverRan: 5000, lastNeverRanAt: T })).toBe(T + MAX_THROTTLE_SECONDS);
  });
});

describe('the circuit breaker', () => {
  const dep = (id: string, createdAt: number, over: Partial<Deployment> = {}): Deployment => ({
    ...newDeployment(id, { taskDefinition: `td:${id}`, desiredCount: 3, reportsRollout: true }, createdAt),
    ...over,
  });
  const completed = (id: string, at: number) => dep(id, at, { status: 'ACTIVE', rolloutState: 'COMPLETED', rolloutStateReason: rolloutReason.completed(id) });

  it('rolls back to the most recent COMPLETED deployment', () => {
    const failing = dep('new', 300);
    const ds = [failing, completed('older', 100), completed('newer', 200), dep('failed', 250, { status: 'ACTIVE', rolloutState: 'FAILED' })];
    expect(rollbackTarget(ds, 'new')?.id).toBe('newer');
    expect(rollbackTarget([failing, dep('x', 1, { status: 'ACTIVE' })], 'new')).toBeUndefined();
  });

  it('re-opens the target as PRIMARY and IN_PROGRESS, and leaves the failed one ACTIVE and FAILED', () => {
    const failing = dep('new', 300);
    const { deployments, rolledBackTo } = tripCircuitBreaker([failing, completed('old', 100)], failing, { rollback: true, desiredCount: 4, failedTasks: 3, now: T });
    expect(rolledBackTo?.id).toBe('old');
    expect(deployments.map((d) => [d.id, d.status, d.rolloutState, d.rolloutStateReason])).toEqual([
      ['old', 'PRIMARY', 'IN_PROGRESS', 'ECS deployment circuit breaker: rolling back to deploymentId old.'],
      ['new', 'ACTIVE', 'FAILED', 'ECS deployment circuit breaker: tasks failed to start.'],
    ]);
    expect(deployments[0]).toMatchObject({ desiredCount: 4, failedTasks: 0, updatedAt: T, taskDefinition: 'td:old' });
    expect(deployments[1]).toMatchObject({ failedTasks: 3, updatedAt: T });
  });

  it('stalls without rollback, or with nothing COMPLETED to return to', () => {
    const failing = dep('new', 300);
    for (const [rollback, others] of [[false, [completed('old', 100)]], [true, []]] as const) {
      const { deployments, rolledBackTo } = tripCircuitBreaker([failing, ...others], failing, { rollback, desiredCount: 3, failedTasks: 3, now: T });
      expect(rolledBackTo).toBeUndefined();
      expect(deployments[0]).toMatchObject({ id: 'new', status: 'PRIMARY', rolloutState: 'FAILED' });
      expect(deployments.slice(1)).toEqual(others);
    }
  });
});
