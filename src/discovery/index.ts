/**
 * Cloud Map (AWS servicediscovery 2017-03-14, JSON 1.1) and Berth's DNS server for it.
 *
 * The API keeps namespaces, services, instances and operations in the Store under
 * `/servicediscovery/`; the DNS server watches that prefix and answers A and SRV queries for the
 * healthy instances of private DNS namespaces. ECS's service controller registers tasks with the
 * plain functions registerInstance, deregisterInstance and setInstanceHealth.
 *
 * @example
 * const discovery = createServiceDiscoveryService({ store, region, accountId });
 * const edge = createEdge({ services: [ecs, discovery], ... });
 * const dns = await startDnsServer({ store, address: '127.0.0.1', port: 8053, logger });
 */
import type { JsonService, Operation } from '../protocols/index.js';
import { instanceOperations } from './instances.js';
import { namespaceOperations, type DiscoveryDeps } from './namespaces.js';
import { operationOperations } from './operations.js';
import { serviceOperations } from './services.js';
import { tagOperations } from './tags.js';

export const SERVICE_DISCOVERY_TARGET_PREFIX = 'Route53AutoNaming_v20170314';
export const SERVICE_DISCOVERY_SIGNING_NAME = 'servicediscovery';

export type { DiscoveryDeps } from './namespaces.js';
export { registerInstance, deregisterInstance, setInstanceHealth, MAX_INSTANCES_PER_SERVICE } from './instances.js';
export type { DiscoveryContext, RegisterInstanceRequest } from './instances.js';
export { pruneDiscoveryHistory, OPERATION_TTL_SECONDS } from './operations.js';
export { ATTR, instanceHealth, keys as discoveryKeys, namespaceArn, serviceArn } from './model.js';
export type { CustomHealthStatus, HealthStatus, InstanceRecord, NamespaceRecord, ServiceRecord } from './model.js';
export { startDnsServer } from './dns/server.js';
export type { DnsServer, DnsServerOptions } from './dns/server.js';

/** The servicediscovery API as the edge serves it. */
export function createServiceDiscoveryService(deps: DiscoveryDeps): JsonService {
  const operations: Record<string, Operation> = {
    ...namespaceOperations(deps),
    ...serviceOperations(deps),
    ...instanceOperations(deps),
    ...operationOperations(deps),
    ...tagOperations(deps),
  };
  return { signingName: SERVICE_DISCOVERY_SIGNING_NAME, targetPrefix: SERVICE_DISCOVERY_TARGET_PREFIX, operations };
}
