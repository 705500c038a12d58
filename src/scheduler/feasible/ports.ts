/**
 * Static host ports (host network mode, or bridge with a fixed hostPort): each may be taken once per
 * instance and protocol. A copy this plan already put on the instance holds the same ports.
 */
import type { WorkingCluster } from '../working.js';
import { agree, mostCommon, type FeasibilityChecker } from './checker.js';

function portsChecker(w: WorkingCluster, protocol: 'tcp' | 'udp'): FeasibilityChecker | undefined {
  const wanted = protocol === 'tcp' ? w.request.tcpPorts : w.request.udpPorts;
  if (wanted.length === 0) return undefined;
  const taken = (i: number): number[] => {
    if (w.placed[i]! > 0) return [...wanted];
    const reserved = w.instances[i]!.reservedPorts[protocol];
    return wanted.filter((p) => reserved.has(p));
  };
  const label = (p: number) => `${p}/${protocol}`;
  return {
    name: protocol === 'tcp' ? 'ports' : 'portsUdp',
    cost: 'cheap',
    feasible: (i) => {
      if (w.placed[i]! > 0) return false;
      const reserved = w.instances[i]!.reservedPorts[protocol];
      for (const p of wanted) if (reserved.has(p)) return false;
      return true;
    },
    reason: () => (protocol === 'tcp' ? 'RESOURCE:PORTS' : 'RESOURCE:PORTS_UDP'),
    detail: (i) => `host ${agree(taken(i).length, 'port', 'ports')} ${taken(i).map(label).join(', ')} in use`,
    summarize: (refused) => `${agree(refused.length, 'has', 'have')} host port ${mostCommon(refused.flatMap((i) => taken(i).map(label)))} in use`,
  };
}

export const tcpPortsChecker = (w: WorkingCluster) => portsChecker(w, 'tcp');
export const udpPortsChecker = (w: WorkingCluster) => portsChecker(w, 'udp');
