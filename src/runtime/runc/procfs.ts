/**
 * What the kernel tells of a process under /proc/<pid>: its stat line (state, parent, CPU times,
 * start time), and the counters of its network namespace (/proc/<pid>/net/dev shows the namespace
 * that process lives in).
 */
import type { NetworkCounters } from '../driver.js';

/**
 * The fields of a /proc/<pid>/stat line after the command name, which may hold spaces and
 * parentheses (they are counted after its last ')'): [0] is the state (field 3 of proc(5)),
 * [1] the parent pid, [11] and [12] utime and stime, [19] starttime. Undefined for no text.
 *
 * @example statFields('42 (sh) S 1 42 42 …')?.[1] // '1'
 */
export function statFields(stat: string | undefined): string[] | undefined {
  if (stat === undefined) return undefined;
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  return stat.slice(close + 2).split(' ');
}

/**
 * Field 22 of /proc/<pid>/stat (starttime, clock ticks after boot), as runc records it; undefined
 * for no text.
 *
 * @example processStartTicks('42 (sh) S 1 42 42 0 -1 4194560 107 0 0 0 0 0 0 0 20 0 1 0 9876 …') // '9876'
 */
export function processStartTicks(stat: string | undefined): string | undefined {
  return statFields(stat)?.[19];
}

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
