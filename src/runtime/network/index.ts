/**
 * Task networks: bridges, per-task or per-container namespaces with link-local addresses, and
 * published host ports (awsvpc and bridge modes; host and none need no namespace of ours).
 */
export * from './bridge-network.js';
export * from './ipam.js';
export { bridgeChains, bridgeRules, portRule, type BridgeChains, type IptablesRule, type Protocol } from './iptables.js';
