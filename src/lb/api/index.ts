/**
 * The ELBv2 API (control plane): the query service for the edge, the functions the ECS service
 * controller registers targets and reads their health with, and the draining sweep.
 */
export { createElbv2Service, ELBV2_VERSION } from './service.js';
export type { Elbv2ServiceOptions } from './service.js';
export type { ElbContext, ResolveInstance } from './common.js';
export { registerTargets, deregisterTargets, describeTargetHealth, targetHealth, expiredTargets, sweepDrainedTargets } from './targets.js';
export type { TargetDescription, TargetHealthDescription, TargetHealthState } from './targets.js';
export { CONFIG_SERIAL_KEY } from './txn.js';
export { targetGroupUsage } from './usage.js';
export type { TargetGroupUsage } from './usage.js';
