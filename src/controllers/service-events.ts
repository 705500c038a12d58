/**
 * Service events and task stop reasons in ECS's words, for the service reconciler: the texts, and the
 * rule that keeps a repeated cause from flooding the 100 events a service keeps (ECS repeats one
 * only after six hours).
 */
import { createHash } from 'node:crypto';
import { addEvent, serviceEvent, type Service, type ServiceEvent } from '../ecs/service-shape.js';

/** ECS omits a duplicate event until its cause is resolved or this many seconds have passed. */
export const EVENT_REPEAT_SECONDS = 6 * 60 * 60;

/** The id ECS shows for a task in events: the last part of its ARN. */
export const taskIdOf = (taskArn: string): string => taskArn.slice(taskArn.lastIndexOf('/') + 1);

const taskList = (taskArns: readonly string[]): string => taskArns.map((arn) => `(task ${taskIdOf(arn)})`).join(' ');

// ---------------------------------------------------------------------------------------------
// Event texts: what follows `(service NAME) `.

export const eventText = {
  started: (taskArns: readonly string[]) => `has started ${taskArns.length} tasks: ${taskList(taskArns)}.`,
  stopped: (taskArns: readonly string[]) => `has stopped ${taskArns.length} running tasks: ${taskList(taskArns)}.`,
  steadyState: () => 'has reached a steady state.',
  deploymentCompleted: (deploymentId: string) => `(deployment ${deploymentId}) deployment completed.`,
  deploymentFailed: (deploymentId: string) => `(deployment ${deploymentId}) deployment failed: tasks failed to start.`,
  rollingBack: (deploymentId: string) => `rolling back to deployment ${deploymentId}.`,
  containerHealthFailed: (taskArn: string) => `(task ${taskIdOf(taskArn)}) failed container health checks.`,
  targetUnhealthy: (taskArn: string, targetGroupArn: string | undefined) =>
    `(task ${taskIdOf(taskArn)}) is unhealthy in (target-group ${targetGroupArn ?? 'unknown'}) due to (reason Health checks failed).`,
  /** ECS's sentence, then Berth's account of why (numbers per refusal) when the scheduler gives one. */
  unableToPlace: (explanation?: string) =>
    `was unable to place a task because no container instance met all of its requirements.${explanation ? ` ${explanation}` : ''}`,
  throttled: () => 'is unable to consistently start tasks successfully.',
  deploymentBlocked: () =>
    'was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.',
  /** Berth's words: ECS on EC2 never declares a host lost; Berth does after hostLossTimeoutSeconds. */
  hostLost: (instance: string, seconds: number, taskArns: readonly string[]) =>
    `(container-instance ${instance}) has had no connected agent for more than ${seconds} seconds; its tasks were declared lost: ${taskList(taskArns)}.`,
  deregistered: (instance: string, taskArns: readonly string[]) =>
    `(container-instance ${instance}) is no longer registered; its tasks were declared lost: ${taskList(taskArns)}.`,
} as const;

// ---------------------------------------------------------------------------------------------
// Task stop reasons (Task.stoppedReason). The breaker tells failures from routine stops by these.

export const stopReason = {
  /** ECS's reason for every stop of a rollout or scale-in; it names the PRIMARY deployment. */
  scaling: (deploymentId: string) => `Scaling activity initiated by (deployment ${deploymentId})`,
  containerHealth: () => 'Task failed container health checks',
  targetHealth: (targetGroupArn: string | undefined) => `Task failed ELB health checks in (target-group ${targetGroupArn ?? 'unknown'})`,
  /** Berth's words (ECS documents the behaviour, not the text). */
  draining: (instance: string) => `Container instance ${instance} is DRAINING: task moved by the service scheduler`,
  hostLost: (instance: string, seconds: number) => `Host lost: container instance ${instance} has had no connected agent for more than ${seconds} seconds`,
  deregistered: (instance: string) => `Host lost: container instance ${instance} is no longer registered`,
} as const;

/** Whether a stop reason says the task failed its health checks (a failure for the circuit breaker). */
export const isHealthCheckStop = (reason: string | undefined): boolean =>
  reason !== undefined && (reason.startsWith('Task failed container health checks') || reason.startsWith('Task failed ELB health checks'));

// ---------------------------------------------------------------------------------------------
// Appending with ECS's repeat rule.

/**
 * A deterministic event id (UUID-shaped) from what the event is: the reconciler stays pure, and the
 * same decision computed twice (a rerun after a crash) names its events the same way.
 */
export function eventId(serviceArn: string, now: number, index: number, message: string): string {
  const h = createHash('sha256').update(`${serviceArn}\n${now}\n${index}\n${message}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Whether `message` would repeat the service's newest event within the repeat window. Only the
 * newest counts: anything logged since means the cause was resolved in between (a steady state, a
 * change, a success), so the message is news again.
 */
export function isRepeat(events: readonly ServiceEvent[], message: string, now: number): boolean {
  const newest = events[0];
  return newest !== undefined && newest.message === message && now - newest.createdAt < EVENT_REPEAT_SECONDS;
}

/**
 * The service's events after `texts` (oldest first, each without the `(service NAME) ` prefix),
 * newest first and capped as ECS keeps them; a text repeating the newest event within six hours is
 * left out.
 *
 * @example appendEvents(service, ['has reached a steady state.'], now)
 */
export function appendEvents(service: Pick<Service, 'serviceArn' | 'serviceName' | 'events'>, texts: readonly string[], now: number): ServiceEvent[] {
  let events = [...service.events];
  texts.forEach((text, i) => {
    const event = serviceEvent(eventId(service.serviceArn, now, i, text), service.serviceName, text, now);
    if (!isRepeat(events, event.message, now)) events = addEvent(events, event);
  });
  return events;
}
