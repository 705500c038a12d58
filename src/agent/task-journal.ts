/**
 * A task's state file: task.jsonl, one whole state per line, appended on every change; the last
 * whole line is the state. Past a size the file is rewritten with the last state only.
 *
 * Why appends and not a rewrite (tmp + rename): on ext4 a rename over an existing file makes the
 * kernel start writing the new file out at once (auto_da_alloc), a wait on the disk at every state
 * change of every task, several of them on the path of each start. An append costs a few
 * microseconds. A crash mid-append leaves a torn last line, which lastState passes over (and a
 * later append starts a new line after it).
 */
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const JOURNAL_FILE = 'task.jsonl';
export const JOURNAL_MAX_BYTES = 256 << 10;

/** What the writer keeps between appends: the bytes appended since the file was last rewritten. */
export interface JournalCursor {
  bytes?: number;
}

/**
 * Appends one state (a JSON text without newlines) to `dir`/task.jsonl, or rewrites the file with
 * it alone once the file would pass `maxBytes`.
 *
 * @example appendState(dir, JSON.stringify(state), rec) // rec.bytes counts what was written
 */
export function appendState(dir: string, text: string, cursor: JournalCursor, maxBytes = JOURNAL_MAX_BYTES): void {
  // A torn line left by a crash has no newline: this one starts afresh after it.
  const line = `\n${text}\n`;
  const bytes = Buffer.byteLength(line);
  if ((cursor.bytes ?? 0) + bytes > maxBytes) {
    writeFileSync(join(dir, `.${JOURNAL_FILE}.tmp`), line);
    renameSync(join(dir, `.${JOURNAL_FILE}.tmp`), join(dir, JOURNAL_FILE));
    cursor.bytes = bytes;
    return;
  }
  appendFileSync(join(dir, JOURNAL_FILE), line);
  cursor.bytes = (cursor.bytes ?? 0) + bytes;
}

/**
 * The last line of `text` that parses as JSON (the state); undefined when none does.
 *
 * @example lastState('{"a":1}\n{"a":2}\n{"a":') // { a: 2 }
 */
export function lastState(text: string): unknown {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (line === '') continue;
    try {
      return JSON.parse(line) as unknown;
    } catch {
      // torn by a crash mid-append: the one before is whole
    }
  }
  return undefined;
}
