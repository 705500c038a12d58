/** The task state file: appends, the last whole line as the state, torn lines, rewriting past a size. */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendState, JOURNAL_FILE, type JournalCursor, lastState } from './task-journal.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const read = () => readFileSync(join(dir, JOURNAL_FILE), 'utf8');

describe('task journal', () => {
  it('appends each state, and the last one is the state', () => {
    const cursor: JournalCursor = {};
    const ino = () => statSync(join(dir, JOURNAL_FILE)).ino;
    appendState(dir, JSON.stringify({ n: 1 }), cursor);
    const first = ino();
    appendState(dir, JSON.stringify({ n: 2 }), cursor);
    expect(lastState(read())).toEqual({ n: 2 });
    expect(ino()).toBe(first); // the same file, appended to
    expect(cursor.bytes).toBe(Buffer.byteLength(read()));
  });

  it('passes over a line torn by a crash, and the next state starts a line of its own', () => {
    const cursor: JournalCursor = {};
    appendState(dir, JSON.stringify({ n: 1 }), cursor);
    appendFileSync(join(dir, JOURNAL_FILE), '{"n":2,"cont'); // the crash
    expect(lastState(read())).toEqual({ n: 1 });
    appendState(dir, JSON.stringify({ n: 3 }), cursor);
    expect(lastState(read())).toEqual({ n: 3 });
  });

  it('rewrites the file with the last state alone once it would pass its bound', () => {
    const cursor: JournalCursor = {};
    const state = (n: number) => JSON.stringify({ n, pad: 'x'.repeat(100) });
    for (let n = 1; n <= 9; n++) appendState(dir, state(n), cursor, 1000);
    // 9 lines of ~120 bytes pass 1000: the 9th rewrote the file.
    expect(read().split('\n').filter((l) => l !== '')).toEqual([state(9)]);
    expect(lastState(read())).toMatchObject({ n: 9 });
    expect(cursor.bytes).toBe(Buffer.byteLength(read()));
  });

  it('reads nothing from an empty or wholly torn file', () => {
    expect(lastState('')).toBeUndefined();
    expect(lastState('{"n":')).toBeUndefined();
  });
});
