/** The load balancer: the stored model, the ELBv2 API (control plane) and the data plane. */
export * from './model.js';
export * from './api/index.js';
export { startLbDataPlane } from './dataplane/dataplane.js';
export type { LbDataPlane, LbDataPlaneOptions } from './dataplane/dataplane.js';
