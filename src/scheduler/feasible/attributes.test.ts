/** requiresAttributes: present, with the value when one is named; null-valued capability attributes count. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import { attributesChecker } from './attributes.js';

const state = clusterOf(
  instance('eni', { attributes: { 'ecs.capability.task-eni': null, 'ecs.os-type': 'linux' } }),
  instance('plain', { attributes: { 'ecs.os-type': 'linux' } }),
  instance('win', { attributes: { 'ecs.capability.task-eni': null, 'ecs.os-type': 'windows' } }),
);

describe('attributesChecker', () => {
  it('does not apply when nothing is required', () => {
    expect(attributesChecker(working(state))).toBeUndefined();
  });
  it('needs every required attribute, and its value when given', () => {
    const c = attributesChecker(working(state, request({ requiresAttributes: [{ name: 'ecs.capability.task-eni' }, { name: 'ecs.os-type', value: 'linux' }] })))!;
    expect([0, 1, 2].map((i) => c.feasible(i))).toEqual([true, false, false]);
    expect(c.reason(1)).toBe('ATTRIBUTE');
    expect(c.detail(1)).toBe('missing attribute ecs.capability.task-eni');
    expect(c.detail(2)).toBe('missing attribute ecs.os-type=linux');
    expect(c.summarize([1, 2])).toBe('lack required attribute ecs.capability.task-eni (1), ecs.os-type=linux (1)');
  });
  it('does not take an inherited property for an attribute', () => {
    const c = attributesChecker(working(state, request({ requiresAttributes: [{ name: 'toString' }] })))!;
    expect(c.feasible(0)).toBe(false);
  });
});
