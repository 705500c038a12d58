/**
 * Target health from HAProxy's checks, in ELBv2's words. Pure: parses `show stat` and decides each
 * target's TargetHealthRecord from its server's row and the record the store already has.
 */
import type { TargetHealthRecord } from '../model.js';

/** The columns of one server row of `show stat` that health is read from. */
export interface ServerStat {
  readonly backend: string;
  readonly server: string;
  /** 'UP', 'UP 1/3', 'DOWN', 'DOWN 1/2', 'NOLB', 'DRAIN', 'MAINT', 'no check', ... */
  readonly status: string;
  /** 'INI', 'L4OK', 'L7OK', 'L7STS', 'L4TOUT', 'L7TOUT', 'L4CON', 'SOCKERR', 'L7RSP', ... ('' without checks). */
  readonly checkStatus: string;
  /** The HTTP status of the last check, when it got one. */
  readonly checkCode: string;
  readonly checkDesc: string;
}

/** Server rows of `show stat` CSV output (frontend and backend summary rows are left out). */
export function parseShowStat(csv: string): ServerStat[] {
  const lines = csv.split('\n');
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  const [px, sv, status, check, code, desc] = [col('pxname'), col('svname'), col('status'), col('check_status'), col('check_code'), col('check_desc')];
  if (px < 0 || sv < 0 || status < 0) throw new Error(`show stat: unexpected header ${JSON.stringify(lines[0] ?? '')}`);
  const out: ServerStat[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const f = line.split(',');
    const server = f[sv] ?? '';
    if (server === 'FRONTEND' || server === 'BACKEND') continue;
    out.push({ backend: f[px] ?? '', server, status: f[status] ?? '', checkStatus: f[check] ?? '', checkCode: f[code] ?? '', checkDesc: f[desc] ?? '' });
  }
  return out;
}

/** The check results that are failures, and ELBv2's reason for each. */
function failureReason(checkStatus: string, checkCode: string): Pick<TargetHealthRecord, 'Reason' | 'Description'> | undefined {
  switch (checkStatus) {
    case 'L7STS':
      return { Reason: 'Target.ResponseCodeMismatch', Description: `Health checks failed with these codes: [${checkCode}]` };
    case 'L4TOUT':
    case 'L6TOUT':
    case 'L7TOUT':
      return { Reason: 'Target.Timeout', Description: 'Request timed out' };
    case 'L4CON':
    case 'L6RSP':
    case 'L7RSP':
    case 'L7OKC':
    case 'SOCKERR':
    case 'PROCERR':
    case 'PROCTOUT':
      return { Reason: 'Target.FailedHealthChecks', Description: 'Health checks failed' };
    default:
      return undefined;
  }
}

/**
 * The target's health now, or undefined when there is nothing to say (a server in maintenance is
 * on its way out). A server that has not yet passed its healthy threshold is `initial` until it
 * does, or until a check fails; a target that was unhealthy stays so (same reason) until it is up.
 * Without checks, ELBv2 reports the target `unavailable` (here: healthy with
 * Target.HealthCheckDisabled: it takes traffic).
 */
export function judgeHealth(stat: ServerStat, previous: TargetHealthRecord | undefined, now: number): TargetHealthRecord | undefined {
  const state = stat.status.split(' ')[0] ?? '';
  if (state === 'MAINT') return undefined;
  if (stat.status === 'no check') return { State: 'healthy', Reason: 'Target.HealthCheckDisabled', Description: 'Health checks are disabled', UpdatedAt: now };
  if (state === 'UP' || state === 'DRAIN' || state === 'NOLB') return { State: 'healthy', UpdatedAt: now };
  if (state !== 'DOWN') return undefined;
  const failed = failureReason(stat.checkStatus, stat.checkCode);
  if (failed !== undefined) return { State: 'unhealthy', ...failed, UpdatedAt: now };
  if (previous?.State === 'unhealthy') return { ...previous, UpdatedAt: now };
  return { State: 'initial', Reason: 'Elb.InitialHealthChecking', Description: 'Initial health checking in progress', UpdatedAt: now };
}

/** True when two records say the same thing (the time they were seen aside). */
export function sameHealth(a: TargetHealthRecord | undefined, b: TargetHealthRecord | undefined): boolean {
  return a?.State === b?.State && a?.Reason === b?.Reason && a?.Description === b?.Description;
}
