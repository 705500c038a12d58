/**
 * Controllers: the server-side loops that move stored state towards what is desired. For now the
 * agent hub (agent sessions: tasks out to hosts, their reports back into the store).
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
