/**
 * Controllers: the server-side loops that move stored state towards what is desired: the agent hub
 * (agent sessions: tasks out to hosts, their reports back into the store) and the service controller
 * (services kept at their desired state and rolled out, through the pure service reconciler), and
 * the attachment controller (service tasks registered with load balancers and Cloud Map).
 */
export {
  createAgentHub,
  parseAgentMessage,
  InvalidAgentMessage,
  DEFAULT_HEARTBEAT_MS,
  IDLE_HEARTBEATS,
  DEFAULT_MAX_MESSAGE_BYTES,
  CLOSE_IDLE,
  CLOSE_REFUSED,
  CLOSE_REPLACED,
} from './agent-hub.js';
export type { AgentHub, AgentHubOptions, TaskUsage } from './agent-hub.js';
export {
  applyTaskStateChange,
  instanceEffect,
  taskHealth,
  taskStatusRank,
  TASK_LIFECYCLE,
  ESSENTIAL_CONTAINER_EXITED_REASON,
  TASK_FAILED_TO_START_REASON,
} from './task-state.js';
export type { InstanceEffect } from './task-state.js';
export {
  createServiceController,
  DEFAULT_SERVICE_CONTROLLER_SETTINGS,
  instanceStateOf,
  launchOf,
  placementRequestOf,
} from './service-controller.js';
export type { ServiceController, ServiceControllerOptions, ServiceControllerSettings } from './service-controller.js';
export { AgentDisconnections, lostTask, stopLostTask } from './host-loss.js';
export type { LossOutcome } from './host-loss.js';
export { reconcileService, recordPlacements, SERVICE_SCHEDULER_INITIATED } from './service-reconciler.js';
export type {
  InstanceView,
  PlacementResult,
  ReconcileInput,
  ReconcileSettings,
  ServiceDecision,
  StopCause,
  TaskLoss,
  TaskStart,
  TaskStop,
} from './service-reconciler.js';
export { createAttachmentController, attachmentKeys } from './attachment-controller.js';
export type { AttachmentController, AttachmentControllerOptions, AttachmentPorts } from './attachment-controller.js';
export { desiredAttachments, diffAttachments } from './attachments.js';
export type { DesiredInstance, DesiredTarget, TaskAttachments } from './attachments.js';
