/**
 * The scheduler's face: pure placement of ECS tasks on container instances. A pipeline of
 * feasibility checkers → rankers → limit → select over a read-only ClusterState (see README.md).
 */
export type { ClusterState, InstanceState } from './state.js';
export { NO_PORTS } from './state.js';
export type { CompiledRequest, MemberOf, PlacementConstraint, PlacementRequest, PlacementStrategy, RequiredAttribute, Strategy } from './request.js';
export { InvalidPlacementRequest, compileRequest } from './request.js';
export type { FailureReason, FeasibilityChecker } from './feasible/checker.js';
export type { Ranker } from './rank/ranker.js';
export type { Explanation, PlacementFailure, RefusalGroup } from './explain.js';
export { PlacementStack, type StackOptions } from './stack.js';
export { planPlacement, type PlacementPlan } from './plan.js';
export { DEFAULT_MAX_ATTEMPTS, StalePlanError, placeWithRetry, type Planner } from './retry.js';
export { defaultLimit } from './limit.js';
export { seededRandom, type Random } from './rng.js';
export { placeTasks, refusal, afterPlacing, type PlacementCandidate, type TaskNeeds, type PlacementOutcome } from './place.js';
