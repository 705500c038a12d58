/** Launch type and requiresCompatibilities against EC2 and EXTERNAL instances. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import { launchTypeChecker } from './launch-type.js';

const state = clusterOf(instance('ec2'), instance('ext', { launchType: 'EXTERNAL' }));

describe('launchTypeChecker', () => {
  it('does not apply when the request names neither', () => {
    expect(launchTypeChecker(working(state))).toBeUndefined();
  });
  it('keeps EC2 tasks off EXTERNAL instances and the other way round', () => {
    const ec2 = launchTypeChecker(working(state, request({ launchType: 'EC2' })))!;
    expect([ec2.feasible(0), ec2.feasible(1)]).toEqual([true, false]);
    const ext = launchTypeChecker(working(state, request({ launchType: 'EXTERNAL' })))!;
    expect([ext.feasible(0), ext.feasible(1)]).toEqual([false, true]);
    expect(ext.reason(0)).toBe('ATTRIBUTE');
    expect(ext.detail(0)).toBe('EC2 instance; the task needs launch type EXTERNAL');
    expect(ext.summarize([0])).toBe('is EC2; the task needs launch type EXTERNAL');
  });
  it("requires the instance's kind among requiresCompatibilities", () => {
    const c = launchTypeChecker(working(state, request({ requiresCompatibilities: ['FARGATE', 'EXTERNAL'] })))!;
    expect([c.feasible(0), c.feasible(1)]).toEqual([false, true]);
    expect(c.detail(0)).toBe('EC2 instance; the task needs requiresCompatibilities [FARGATE, EXTERNAL]');
  });
  it('needs both to agree when both are given', () => {
    const c = launchTypeChecker(working(state, request({ launchType: 'EC2', requiresCompatibilities: ['EXTERNAL'] })))!;
    expect([c.feasible(0), c.feasible(1)]).toEqual([false, false]);
    expect(c.detail(0)).toBe('EC2 instance; the task needs requiresCompatibilities [EXTERNAL]');
    expect(c.detail(1)).toBe('EXTERNAL instance; the task needs launch type EC2');
    expect(c.summarize([0, 1])).toBe('are EC2 (1), EXTERNAL (1); the task needs launch type EC2 (1), requiresCompatibilities [EXTERNAL] (1)');
  });
});
