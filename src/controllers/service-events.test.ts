/**
 * Service event texts in ECS's words and the six-hour repeat rule.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SERVICE_EVENTS, type ServiceEvent } from '../ecs/service-shape.js';
import { appendEvents, EVENT_REPEAT_SECONDS, eventId, eventText, isHealthCheckStop, isRepeat, stopReason, taskIdOf } from './service-events.js';

const ARN = 'arn:aws:ecs:us-east-1:000000000000:service/prod/web';
const T = 1_700_000_000;
const svc = (events: ServiceEvent[] = []) => ({ serviceArn: ARN, serviceName: 'web', events });
const TASK_A = 'arn:aws:ecs:us-east-1:000000000000:task/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const TASK_B = 'arn:aws:ecs:us-east-1:000000000000:task/prod/aaaabbbbccccddddeeeeffff00001111';

describe('event texts', () => {
  it('name tasks by the id at the end of their ARN, as ECS does', () => {
    expect(taskIdOf(TASK_A)).toBe('0f1e2d3c4b5a69788796a5b4c3d2e1f0');
    expect(eventText.started([TASK_A, TASK_B])).toBe('has started 2 tasks: (task 0f1e2d3c4b5a69788796a5b4c3d2e1f0) (task aaaabbbbccccddddeeeeffff00001111).');
    expect(eventText.stopped([TASK_A])).toBe('has stopped 1 running tasks: (task 0f1e2d3c4b5a69788796a5b4c3d2e1f0).');
  });

  it('speak of deployments and the circuit breaker as ECS does', () => {
    expect(eventText.steadyState()).toBe('has reached a steady state.');
    expect(eventText.deploymentCompleted('ecs-svc/1234567890123456789')).toBe('(deployment ecs-svc/1234567890123456789) deployment completed.');
    expect(eventText.deploymentFailed('ecs-svc/1')).toBe('(deployment ecs-svc/1) deployment failed: tasks failed to start.');
    expect(eventText.rollingBack('ecs-svc/2')).toBe('rolling back to deployment ecs-svc/2.');
    expect(eventText.throttled()).toBe('is unable to consistently start tasks successfully.');
    expect(eventText.containerHealthFailed(TASK_A)).toBe('(task 0f1e2d3c4b5a69788796a5b4c3d2e1f0) failed container health checks.');
  });

  it("append Berth's explanation to ECS's placement sentence only when there is one", () => {
    const ecs = 'was unable to place a task because no container instance met all of its requirements.';
    expect(eventText.unableToPlace()).toBe(ecs);
    expect(eventText.unableToPlace('')).toBe(ecs);
    expect(eventText.unableToPlace('3 of 5 instances lack memory.')).toBe(`${ecs} 3 of 5 instances lack memory.`);
  });
});

describe('stop reasons', () => {
  it("use ECS's reason for rollouts and scale-in, naming the deployment", () => {
    expect(stopReason.scaling('ecs-svc/42')).toBe('Scaling activity initiated by (deployment ecs-svc/42)');
  });

  it('tell health-check stops (failures for the breaker) from the rest', () => {
    expect(isHealthCheckStop(stopReason.containerHealth())).toBe(true);
    expect(isHealthCheckStop(stopReason.targetHealth('arn:tg'))).toBe(true);
    expect(isHealthCheckStop(stopReason.scaling('ecs-svc/1'))).toBe(false);
    expect(isHealthCheckStop(stopReason.draining('ci-1'))).toBe(false);
    expect(isHealthCheckStop(stopReason.hostLost('ci-1', 300))).toBe(false);
    expect(isHealthCheckStop(undefined)).toBe(false);
  });
});

describe('eventId', () => {
  it('is UUID-shaped and the same for the same event, different otherwise', () => {
    const id = eventId(ARN, T, 0, 'x');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(eventId(ARN, T, 0, 'x')).toBe(id);
    expect(new Set([id, eventId(ARN, T + 1, 0, 'x'), eventId(ARN, T, 1, 'x'), eventId(ARN, T, 0, 'y'), eventId(`${ARN}2`, T, 0, 'x')]).size).toBe(5);
  });
});

describe('appendEvents', () => {
  const steady = '(service web) has reached a steady state.';

  it('puts the newest first, with the service prefix', () => {
    const events = appendEvents(svc(), ['has started 1 tasks: (task a).', 'has reached a steady state.'], T);
    expect(events.map((e) => e.message)).toEqual([steady, '(service web) has started 1 tasks: (task a).']);
    expect(events.every((e) => e.createdAt === T)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
  });

  it('leaves out a repeat of the newest event for six hours, then repeats it', () => {
    const first = appendEvents(svc(), ['has reached a steady state.'], T);
    expect(appendEvents(svc(first), ['has reached a steady state.'], T + EVENT_REPEAT_SECONDS - 1)).toEqual(first);
    const later = appendEvents(svc(first), ['has reached a steady state.'], T + EVENT_REPEAT_SECONDS);
    expect(later).toHaveLength(2);
    expect(later[0]!.createdAt).toBe(T + EVENT_REPEAT_SECONDS);
  });

  it('repeats a message once something else was logged after it (its cause was resolved meanwhile)', () => {
    let events = appendEvents(svc(), ['has reached a steady state.'], T);
    events = appendEvents(svc(events), ['has started 1 tasks: (task a).'], T + 10);
    events = appendEvents(svc(events), ['has reached a steady state.'], T + 20);
    expect(events.map((e) => e.message)).toEqual([steady, '(service web) has started 1 tasks: (task a).', steady]);
  });

  it('does not repeat within one batch either', () => {
    expect(appendEvents(svc(), ['has reached a steady state.', 'has reached a steady state.'], T)).toHaveLength(1);
  });

  it('keeps the newest 100', () => {
    let events: ServiceEvent[] = [];
    for (let i = 0; i < MAX_SERVICE_EVENTS + 5; i++) events = appendEvents(svc(events), [`has started 1 tasks: (task ${i}).`], T + i);
    expect(events).toHaveLength(MAX_SERVICE_EVENTS);
    expect(events[0]!.message).toContain(`(task ${MAX_SERVICE_EVENTS + 4})`);
  });

  it('isRepeat looks only at the newest event', () => {
    const events = appendEvents(svc(appendEvents(svc(), ['a.'], T)), ['b.'], T);
    expect(isRepeat(events, '(service web) b.', T)).toBe(true);
    expect(isRepeat(events, '(service web) a.', T)).toBe(false);
    expect(isRepeat([], '(service web) a.', T)).toBe(false);
  });
});
