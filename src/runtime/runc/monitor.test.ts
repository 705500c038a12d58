/**
 * The monitor's exit file, and its script's shape (it runs for real in runc.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { MONITOR_NAME, MONITOR_SCRIPT, monitorArgs, parseExitFile } from './monitor.js';

describe('monitor', () => {
  it('reads "STATUS OOMKILLS", and a bare status as no OOM kill', () => {
    expect(parseExitFile('137 1\n')).toEqual({ exitCode: 137, oomKilled: true });
    expect(parseExitFile('137 0\n')).toEqual({ exitCode: 137, oomKilled: false });
    expect(parseExitFile('0\n')).toEqual({ exitCode: 0, oomKilled: false });
  });

  it('passes everything as arguments, never inside the script', () => {
    const args = monitorArgs('/state/c/web 1', '/usr/sbin/runc', '/state/runc', 'web', '/cg/memory.oom_control');
    expect(args).toEqual(['-c', MONITOR_SCRIPT, MONITOR_NAME, '/state/c/web 1', '/usr/sbin/runc', '/state/runc', 'web', '/cg/memory.oom_control']);
    expect(MONITOR_SCRIPT).not.toContain('/state');
    // Every expansion is quoted, so a path with spaces stays one word.
    expect(MONITOR_SCRIPT.match(/(?<!")\$(dir|runc|root|id|oomfile)\b/g)).toBeNull();
  });
});
