/** Which strategy's walk feeds the pipeline. */
import { describe, expect, it } from 'vitest';
import type { Strategy } from './request.js';
import { sourceIndex } from './source.js';

const zone: Strategy = { type: 'spread', field: 'attribute', attribute: 'zone' };
const host: Strategy = { type: 'spread', field: 'instanceId' };
const memory: Strategy = { type: 'binpack', field: 'memory' };
const cpu: Strategy = { type: 'binpack', field: 'cpu' };
const random: Strategy = { type: 'random' };

describe('sourceIndex', () => {
  it.each<[string, Strategy[], number]>([
    ['a single strategy', [memory], 0],
    ['binpack first', [cpu, zone], 0],
    ['random first', [random, memory], 0],
    ['spreads only', [zone, host], 0],
    ['spread then binpack: walk by the binpack', [zone, memory], 1],
    ['two spreads then binpack', [zone, host, memory, cpu], 2],
    ['a random between spread and binpack ends the run', [zone, random, memory], 0],
    ['nothing', [], 0],
  ])('%s', (_, strategies, expected) => {
    expect(sourceIndex(strategies)).toBe(expected);
  });
});
