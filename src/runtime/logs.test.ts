/**
 * followLog over a file another writer appends to.
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { followLog } from './logs.js';

describe('followLog', () => {
  let tmp: string;
  let file: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-logs-'));
    file = join(tmp, 'stdout.log');
    await writeFile(file, 'one\n');
  });
  afterEach(() => rm(tmp, { recursive: true, force: true }));

  it('gives what is there, then what is appended, and ends once `until` settles and all is read', async () => {
    let finish!: () => void;
    const until = new Promise<void>((r) => (finish = r));
    const seen: string[] = [];
    for await (const chunk of followLog(file, { until })) {
      seen.push(chunk.toString());
      const text = seen.join('');
      if (text === 'one\n') await appendFile(file, 'two\n');
      if (text === 'one\ntwo\n') {
        await appendFile(file, 'three\n');
        finish(); // written before the end: still read
      }
    }
    expect(seen.join('')).toBe('one\ntwo\nthree\n');
  });

  it('starts at an offset, and stops when aborted', async () => {
    await appendFile(file, 'two\n');
    const ac = new AbortController();
    const seen: string[] = [];
    for await (const chunk of followLog(file, { from: 4, signal: ac.signal })) {
      seen.push(chunk.toString());
      ac.abort();
    }
    expect(seen).toEqual(['two\n']);
  });
});
