import { describe, expect, it } from 'vitest';
import { createLimiter, singleFlight } from './limiter.js';

const deferred = () => {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
const tick = () => new Promise((r) => setImmediate(r));

describe('createLimiter', () => {
  it('runs at most `concurrency` at once, the rest in the order asked', async () => {
    const limiter = createLimiter(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      limiter.run(async () => {
        started.push(i);
        await g.promise;
        return i;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect([limiter.active, limiter.queued]).toEqual([2, 2]);
    gates[1]!.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve();
    gates[2]!.resolve();
    gates[3]!.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('gives the slot back when the work fails, and passes the failure on', async () => {
    const limiter = createLimiter(1);
    const failed = limiter.run(() => Promise.reject(new Error('boom')));
    const next = limiter.run(() => Promise.resolve('next'));
    await expect(failed).rejects.toThrow('boom');
    expect(await next).toBe('next');
    expect(limiter.active).toBe(0);
  });

  it('refuses a concurrency that is not a positive integer', () => {
    expect(() => createLimiter(0)).toThrow('concurrency must be a positive integer, got 0');
    expect(() => createLimiter(1.5)).toThrow('concurrency must be a positive integer, got 1.5');
  });
});

describe('singleFlight', () => {
  it('shares the work under way for a key, and starts afresh once it settled', async () => {
    const flight = singleFlight<string>();
    const gate = deferred();
    let calls = 0;
    const work = async () => {
      calls++;
      await gate.promise;
      return `result ${calls}`;
    };
    const a = flight('k', work);
    const b = flight('k', work);
    const other = flight('other', () => Promise.resolve('other'));
    gate.resolve();
    expect(await Promise.all([a, b, other])).toEqual(['result 1', 'result 1', 'other']);
    expect(calls).toBe(1);
    expect(await flight('k', work)).toBe('result 2');
  });

  it('hands a failure to every caller that shared it, and forgets it', async () => {
    const flight = singleFlight<string>();
    const gate = deferred();
    const failing = async () => {
      await gate.promise;
      return 'never';
    };
    const a = flight('k', failing);
    const b = flight('k', failing);
    gate.reject(new Error('registry down'));
    await expect(a).rejects.toThrow('registry down');
    await expect(b).rejects.toThrow('registry down');
    expect(await flight('k', () => Promise.resolve('retried'))).toBe('retried');
  });
});
