/**
 * The SQLite schema and statements behind SqliteStore, kept apart so that tests can check their
 * query plans (a prefix range must be an index range scan, never a table scan).
 */

/** Bumped when the tables change shape; stored in meta so a later version can migrate. */
export const SCHEMA_VERSION = 1;

/**
 * kv: the current state, one row per live key, clustered by key (WITHOUT ROWID) so a prefix is
 * one contiguous range of the primary key.
 * event: the history watches catch up from, one row per changed key, clustered by (revision, seq);
 * it also keeps the previous state so a watch can report prevKv without reading old versions.
 * kv_key: the keys alone, a fraction of kv's size, so counting a 100,000-key prefix walks a few
 * hundred pages instead of every value.
 * meta: the store revision, the compacted revision (oldest one still watchable), schema version.
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_key ON kv (key);
CREATE TABLE IF NOT EXISTS event (
  revision INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  create_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  prev_value TEXT,
  prev_create_revision INTEGER,
  prev_mod_revision INTEGER,
  prev_version INTEGER,
  PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  name TEXT NOT NULL PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ${SCHEMA_VERSION}), ('revision', 0), ('compacted', 1);
`;

export interface KvRow {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
  version: number;
}

export interface EventRow {
  revision: number;
  deleted: 0 | 1;
  key: string;
  value: string;
  create_revision: number;
  version: number;
  prev_value: string | null;
  prev_create_revision: number | null;
  prev_mod_revision: number | null;
  prev_version: number | null;
}

export const SQL = {
  getMeta: 'SELECT value FROM meta WHERE name = ?',
  setMeta: 'UPDATE meta SET value = ? WHERE name = ?',
  get: 'SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key = ?',
  put: `INSERT INTO kv (key, value, create_revision, mod_revision, version) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, version = excluded.version`,
  delete: 'DELETE FROM kv WHERE key = ?',
  insertEvent: `INSERT INTO event (revision, seq, deleted, key, value, create_revision, version,
                  prev_value, prev_create_revision, prev_mod_revision, prev_version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  compactEvents: 'DELETE FROM event WHERE revision < ?',
} as const;

/** How a prefix range is bounded: by the prefix's successor (absent for '' and such), by startAfter. */
export interface RangeShape {
  readonly upper: boolean;
  readonly after: boolean;
  readonly descending: boolean;
}

// `key >= ? AND key < ?` rather than LIKE: SQLite turns it into a seek plus a bounded walk of the
// primary key, whatever the key's characters.
function keyBounds(shape: Pick<RangeShape, 'upper'>): string {
  return shape.upper ? 'key >= @lower AND key < @upper' : 'key >= @lower';
}

/** Keys of a prefix range, one page: params lower, upper, after, limit (-1 = none). */
export function rangeSql(shape: RangeShape): string {
  const after = shape.after ? (shape.descending ? ' AND key < @after' : ' AND key > @after') : '';
  return `SELECT key, value, create_revision, mod_revision, version FROM kv
          WHERE ${keyBounds(shape)}${after}
          ORDER BY key ${shape.descending ? 'DESC' : 'ASC'} LIMIT @limit`;
}

/** How many keys a prefix range holds in all: params lower, upper. */
export function countSql(shape: Pick<RangeShape, 'upper'>): string {
  return `SELECT count(*) FROM kv WHERE ${keyBounds(shape)}`;
}

/** The keys a deletePrefix removes, with their state (for the events' prevKv): params lower, upper. */
export function prefixRowsSql(shape: Pick<RangeShape, 'upper'>): string {
  return `SELECT key, value, create_revision, mod_revision, version FROM kv WHERE ${keyBounds(shape)} ORDER BY key`;
}

export function deletePrefixSql(shape: Pick<RangeShape, 'upper'>): string {
  return `DELETE FROM kv WHERE ${keyBounds(shape)}`;
}

/** History for a watch, revisions from..to inclusive, in order: params from, to, lower, upper. */
export function eventsSql(shape: Pick<RangeShape, 'upper'>): string {
  return `SELECT revision, deleted, key, value, create_revision, version,
                 prev_value, prev_create_revision, prev_mod_revision, prev_version
          FROM event WHERE revision >= @from AND revision <= @to AND ${keyBounds(shape)}
          ORDER BY revision, seq`;
}
