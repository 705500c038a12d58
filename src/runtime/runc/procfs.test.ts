/**
 * parseNetDev on the kernel's /proc/net/dev layout; a process's start time from its stat line.
 */
import { describe, expect, it } from 'vitest';
import { parseNetDev, processStartTicks } from './procfs.js';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     560       8    0    0    0     0          0         0      560       8    0    0    0     0       0          0
  eth0:1234567     890    1    2    0     0          0         0   765432     321    3    4    0     0       0          0
`;

describe('parseNetDev', () => {
  it('reads each interface but loopback, including counters glued to the colon', () => {
    expect(parseNetDev(NET_DEV)).toEqual({
      eth0: { rxBytes: 1234567, rxPackets: 890, rxErrors: 1, rxDropped: 2, txBytes: 765432, txPackets: 321, txErrors: 3, txDropped: 4 },
    });
    expect(parseNetDev('')).toEqual({});
  });
});

describe('processStartTicks', () => {
  it('reads a process start time past a command name with spaces and parentheses', () => {
    expect(processStartTicks('42 (a) b) c) S 1 42 42 0 -1 4194560 107 0 0 0 0 0 0 0 20 0 1 0 9876 1234 56')).toBe('9876');
    expect(processStartTicks(undefined)).toBeUndefined();
    expect(processStartTicks('garbage')).toBeUndefined();
  });
});
