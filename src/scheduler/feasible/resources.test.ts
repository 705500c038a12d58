/** CPU, memory and GPUs against what is free after the plan's earlier copies, with the numbers in words. */
import { describe, expect, it } from 'vitest';
import { clusterOf, instance, request, working } from '../testing/cluster.js';
import { cpuChecker, gpuChecker, memoryChecker } from './resources.js';

const state = clusterOf(instance('a', { cpu: 1024, memory: 512, gpus: 2 }), instance('b', { cpu: 100, memory: 256 }), instance('c', { cpu: 200, memory: 300, gpus: 1 }));

describe('resource checkers', () => {
  it('accept a copy that uses exactly what is left, refuse one unit more', () => {
    const w = working(state, request({ cpu: 1024, memory: 512 }));
    expect(cpuChecker(w).feasible(0)).toBe(true);
    expect(memoryChecker(w).feasible(0)).toBe(true);
    const more = working(state, request({ cpu: 1025, memory: 513 }));
    expect(cpuChecker(more).feasible(0)).toBe(false);
    expect(memoryChecker(more).feasible(0)).toBe(false);
  });

  it('see the copies already placed in the plan', () => {
    const w = working(state, request({ cpu: 512, memory: 256 }));
    const memory = memoryChecker(w);
    expect(memory.feasible(0)).toBe(true);
    w.reserve(0);
    expect(memory.feasible(0)).toBe(true);
    w.reserve(0);
    expect(memory.feasible(0)).toBe(false);
    expect(memory.detail(0)).toBe('need 256 MiB, free 0 MiB');
  });

  it('name the ECS reason and the largest free amount among the refused', () => {
    const w = working(state, request({ cpu: 256, memory: 512 }));
    const cpu = cpuChecker(w);
    expect(cpu.reason(1)).toBe('RESOURCE:CPU');
    expect(cpu.summarize([1, 2])).toBe('lack CPU: need 256 CPU units, largest free 200 CPU units');
    const memory = memoryChecker(w);
    expect(memory.reason(1)).toBe('RESOURCE:MEMORY');
    expect(memory.summarize([1])).toBe('lacks memory: need 512 MiB, largest free 256 MiB');
  });

  it('check GPUs only for a task that needs them', () => {
    expect(gpuChecker(working(state))).toBeUndefined();
    const gpu = gpuChecker(working(state, request({ gpus: 2 })))!;
    expect([0, 1, 2].map((i) => gpu.feasible(i))).toEqual([true, false, false]);
    expect(gpu.reason(2)).toBe('RESOURCE:GPU');
    expect(gpu.summarize([1, 2])).toBe('lack GPUs: need 2 GPUs, largest free 1 GPU');
  });
});
