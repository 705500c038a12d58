import { describe, expect, it } from 'vitest';
import { judgeHealth, parseShowStat, sameHealth, type ServerStat } from './health.js';

const HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc';
const row = (px: string, sv: string, status: string, check: string, code: string, desc: string) => {
  const names = HEADER.slice(2).split(',');
  const f = new Array<string>(names.length).fill('');
  const set = (name: string, value: string) => (f[names.indexOf(name)] = value);
  set('pxname', px);
  set('svname', sv);
  set('status', status);
  set('check_status', check);
  set('check_code', code);
  set('check_desc', desc);
  return f.join(',');
};

describe('parseShowStat', () => {
  it('reads server rows by their header, leaving out frontend and backend rows', () => {
    const csv = [HEADER, row('f', 'FRONTEND', 'OPEN', '', '', ''), row('tg_a', '10.0.0.1:80', 'UP', 'L7OK', '200', 'Layer7 check passed'), row('tg_a', 'BACKEND', 'UP', '', '', ''), ''].join('\n');
    expect(parseShowStat(csv)).toEqual([{ backend: 'tg_a', server: '10.0.0.1:80', status: 'UP', checkStatus: 'L7OK', checkCode: '200', checkDesc: 'Layer7 check passed' }]);
  });

  it('fails on output that is not show stat', () => {
    expect(() => parseShowStat('Unknown command\n')).toThrow(/unexpected header/);
  });
});

const stat = (status: string, checkStatus = '', checkCode = ''): ServerStat => ({ backend: 'b', server: 's', status, checkStatus, checkCode, checkDesc: '' });
const NOW = 1000;

describe('judgeHealth', () => {
  it.each(['UP', 'UP 1/2', 'DRAIN', 'NOLB'])('%s is healthy', (status) => {
    expect(judgeHealth(stat(status, 'L7OK', '200'), undefined, NOW)).toEqual({ State: 'healthy', UpdatedAt: NOW });
  });

  it.each([
    ['L7STS', '500', 'Target.ResponseCodeMismatch', 'Health checks failed with these codes: [500]'],
    ['L4TOUT', '', 'Target.Timeout', 'Request timed out'],
    ['L7TOUT', '', 'Target.Timeout', 'Request timed out'],
    ['L4CON', '', 'Target.FailedHealthChecks', 'Health checks failed'],
    ['L7RSP', '', 'Target.FailedHealthChecks', 'Health checks failed'],
    ['SOCKERR', '', 'Target.FailedHealthChecks', 'Health checks failed'],
  ])('DOWN after %s is unhealthy with %s', (check, code, reason, description) => {
    expect(judgeHealth(stat('DOWN', check, code), { State: 'healthy', UpdatedAt: 1 }, NOW)).toEqual({ State: 'unhealthy', Reason: reason, Description: description, UpdatedAt: NOW });
  });

  it('a new target down without a failed check is initial (still passing its healthy threshold)', () => {
    const initial = { State: 'initial', Reason: 'Elb.InitialHealthChecking', Description: 'Initial health checking in progress', UpdatedAt: NOW } as const;
    expect(judgeHealth(stat('DOWN', 'INI'), undefined, NOW)).toEqual(initial);
    expect(judgeHealth(stat('DOWN 1/3', 'L7OK', '200'), undefined, NOW)).toEqual(initial);
    expect(judgeHealth(stat('DOWN 2/3', 'L7OK', '200'), { ...initial, UpdatedAt: 1 }, NOW)).toEqual(initial);
  });

  it('a new target whose checks fail is unhealthy', () => {
    expect(judgeHealth(stat('DOWN', 'L7STS', '404'), { State: 'initial', Reason: 'Elb.InitialHealthChecking', UpdatedAt: 1 }, NOW)?.Reason).toBe('Target.ResponseCodeMismatch');
  });

  it('an unhealthy target recovering stays unhealthy, with its reason, until it is up', () => {
    const prev = { State: 'unhealthy', Reason: 'Target.Timeout', Description: 'Request timed out', UpdatedAt: 1 } as const;
    expect(judgeHealth(stat('DOWN 1/3', 'L7OK', '200'), prev, NOW)).toEqual({ ...prev, UpdatedAt: NOW });
    expect(judgeHealth(stat('UP', 'L7OK', '200'), prev, NOW)?.State).toBe('healthy');
  });

  it('without checks a target takes traffic, and says checks are disabled', () => {
    expect(judgeHealth(stat('no check'), undefined, NOW)).toEqual({ State: 'healthy', Reason: 'Target.HealthCheckDisabled', Description: 'Health checks are disabled', UpdatedAt: NOW });
  });

  it('says nothing of a server in maintenance (on its way out) or in a state it does not know', () => {
    expect(judgeHealth(stat('MAINT', 'L7OK'), undefined, NOW)).toBeUndefined();
    expect(judgeHealth(stat('MAINT (resolution)'), undefined, NOW)).toBeUndefined();
    expect(judgeHealth(stat('?'), undefined, NOW)).toBeUndefined();
  });
});

describe('sameHealth', () => {
  it('compares what a record says, not when', () => {
    expect(sameHealth({ State: 'healthy', UpdatedAt: 1 }, { State: 'healthy', UpdatedAt: 2 })).toBe(true);
    expect(sameHealth({ State: 'unhealthy', Reason: 'Target.Timeout', UpdatedAt: 1 }, { State: 'unhealthy', Reason: 'Target.FailedHealthChecks', UpdatedAt: 1 })).toBe(false);
    expect(sameHealth(undefined, { State: 'initial', UpdatedAt: 1 })).toBe(false);
    expect(sameHealth(undefined, undefined)).toBe(true);
  });
});
