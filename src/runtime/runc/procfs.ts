/**
 * Counters the kernel keeps per network namespace, read through a process of the container
 * (/proc/<pid>/net/dev shows the namespace that process lives in).
 */
import type { NetworkCounters } from '../driver.js';

/**
 * Parses /proc/net/dev, leaving out loopback (as Docker's stats do).
 *
 * @example parseNetDev(text).eth0 // { rxBytes: 1234, rxPackets: 12, …, txBytes: 5678, … }
 */
export function parseNetDev(text: string): Record<string, NetworkCounters> {
  const out: Record<string, NetworkCounters> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === 'lo' || f.length < 16 || f.some((n) => Number.isNaN(n))) continue;
    out[name] = {
      rxBytes: f[0]!, rxPackets: f[1]!, rxErrors: f[2]!, rxDropped: f[3]!,
      txBytes: f[8]!, txPackets: f[9]!, txErrors: f[10]!, txDropped: f[11]!,
    };
  }
  return out;
}
