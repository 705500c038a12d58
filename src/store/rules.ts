/**
 * The argument rules and comparisons of the Store contract, shared by every backend so that a bad
 * call fails the same way on SQLite and on etcd, and keys sort the same way (by UTF-8 bytes).
 */
import { StoreError, type Compare, type CompareOp, type KeyValue, type Op, type RangeOptions } from './store.js';

const invalid = (message: string): StoreError => new StoreError('invalid', message);

// With the u flag a surrogate pair is one code point, so this matches only a lone surrogate.
const LONE_SURROGATE = /\p{Cs}/u;
const wellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

/**
 * A key is a non-empty, well-formed UTF-16 string. A lone surrogate would be stored as U+FFFD, so
 * two different keys would silently become one.
 */
export function checkKey(key: unknown, field = 'key'): asserts key is string {
  if (typeof key !== 'string' || key === '') throw invalid(`${field} must be a non-empty string`);
  if (!wellFormed(key)) throw invalid(`${field} must be well-formed UTF-16 (no lone surrogates)`);
}

/** A prefix may be empty (it then matches every key). */
export function checkPrefix(prefix: unknown, field = 'prefix'): asserts prefix is string {
  if (typeof prefix !== 'string') throw invalid(`${field} must be a string`);
  if (!wellFormed(prefix)) throw invalid(`${field} must be well-formed UTF-16 (no lone surrogates)`);
}

export function checkValue(value: unknown, field = 'value'): asserts value is string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  if (!wellFormed(value)) throw invalid(`${field} must be well-formed UTF-16 (no lone surrogates)`);
}

function checkPositiveInteger(n: unknown, field: string): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw invalid(`${field} must be a positive integer`);
}

export function checkRangeOptions(options: RangeOptions): void {
  if (options.limit !== undefined) checkPositiveInteger(options.limit, 'limit');
  if (options.startAfter !== undefined) checkPrefix(options.startAfter, 'startAfter');
}

export function checkFromRevision(fromRevision: number | undefined): void {
  if (fromRevision !== undefined) checkPositiveInteger(fromRevision, 'fromRevision');
}

export function checkCompactRevision(revision: unknown): asserts revision is number {
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
    throw invalid('compact revision must be a non-negative integer');
  }
}

const OPS: ReadonlySet<string> = new Set<CompareOp>(['=', '!=', '<', '>']);

/**
 * Checks a whole transaction before anything runs, as etcd does: both branches, because which one
 * runs is only known later. Within a branch a key may be put once, and not also deleted (etcd's
 * "duplicate key given in txn request"); deleting a key twice is allowed.
 */
export function checkTxn(compares: readonly Compare[], success: readonly Op[], failure: readonly Op[]): void {
  compares.forEach((c, i) => {
    checkKey(c.key, `compares[${i}].key`);
    if (!OPS.has(c.op)) throw invalid(`compares[${i}].op must be one of = != < >`);
    switch (c.target) {
      case 'mod':
      case 'create':
      case 'version':
        if (typeof c.value !== 'number' || !Number.isSafeInteger(c.value)) throw invalid(`compares[${i}].value must be an integer for target ${c.target}`);
        break;
      case 'value':
        checkValue(c.value, `compares[${i}].value`);
        break;
      default:
        throw invalid(`compares[${i}].target must be one of mod create version value`);
    }
  });
  checkOps(success, 'success');
  checkOps(failure, 'failure');
}

function checkOps(ops: readonly Op[], branch: string): void {
  const puts = new Set<string>();
  const deletes = new Set<string>();
  const prefixes: string[] = [];
  ops.forEach((op, i) => {
    const field = `${branch}[${i}]`;
    switch (op.type) {
      case 'put':
        checkKey(op.key, `${field}.key`);
        checkValue(op.value, `${field}.value`);
        if (puts.has(op.key)) throw invalid(`${field}: key ${op.key} is put twice in one transaction`);
        puts.add(op.key);
        break;
      case 'delete':
        checkKey(op.key, `${field}.key`);
        deletes.add(op.key);
        break;
      case 'deletePrefix':
        checkPrefix(op.prefix, `${field}.prefix`);
        prefixes.push(op.prefix);
        break;
      default:
        throw invalid(`${field}.type must be one of put delete deletePrefix`);
    }
  });
  for (const key of puts) {
    if (deletes.has(key) || prefixes.some((p) => key.startsWith(p))) {
      throw invalid(`${branch}: key ${key} is both put and deleted in one transaction`);
    }
  }
}

/**
 * Orders strings by their UTF-8 bytes (= by code point), the order etcd and SQLite's BINARY
 * collation use. JavaScript's `<` orders by UTF-16 units, which differs once a surrogate pair
 * meets a character in U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Moves surrogates (D800..DFFF) above E000..FFFF so that units compare in code point order.
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

/**
 * The smallest string above every string that starts with `prefix` (undefined when there is none),
 * so that a prefix range is the index range `prefix <= key < prefixEnd(prefix)`.
 *
 * @example prefixEnd('/a/') // '/a0'
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // Surrogate code points never occur in well-formed strings, so the successor of U+D7FF is U+E000.
      return points.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
    }
  }
  return undefined;
}

/**
 * Whether a compare holds against a key's current state (undefined: absent). As in etcd, an absent
 * key has mod, create and version 0, and every value compare on it fails — even '!='.
 */
export function compareHolds(c: Compare, kv: KeyValue | undefined): boolean {
  let order: number;
  if (c.target === 'value') {
    if (kv === undefined) return false;
    order = compareUtf8(kv.value, c.value);
  } else {
    const actual = kv === undefined ? 0 : c.target === 'mod' ? kv.modRevision : c.target === 'create' ? kv.createRevision : kv.version;
    order = actual - c.value;
  }
  switch (c.op) {
    case '=':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '>':
      return order > 0;
  }
}
