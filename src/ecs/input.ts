/**
 * Reading request parameters from a decoded JSON body with precise errors. Every reader names the
 * field and the rule it broke; the message is what an AWS CLI user sees.
 *
 * @example const family = requiredString(input, 'family'); const limit = optionalInt(input, 'maxResults', { min: 1, max: 100 });
 */
import { BerthError } from '../protocols/index.js';

type Obj = Record<string, unknown>;

export const invalid = (message: string): BerthError => new BerthError('InvalidParameterException', message);
export const clientError = (message: string): BerthError => new BerthError('ClientException', message);

function typeError(field: string, expected: string, got: unknown): BerthError {
  const kind = got === null ? 'null' : Array.isArray(got) ? 'list' : typeof got;
  return new BerthError('SerializationException', `Invalid type for parameter ${field}: expected ${expected}, got ${kind}.`);
}

export function optionalString(input: Obj, field: string, opts?: { maxLength?: number; path?: string }): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  const name = opts?.path ?? field;
  if (typeof v !== 'string') throw typeError(name, 'a string', v);
  if (opts?.maxLength !== undefined && v.length > opts.maxLength) {
    throw invalid(`${name} must be at most ${opts.maxLength} characters long.`);
  }
  return v;
}

export function requiredString(input: Obj, field: string, opts?: { maxLength?: number; path?: string }): string {
  const v = optionalString(input, field, opts);
  if (v === undefined) throw invalid(`${opts?.path ?? field} is required.`);
  if (v === '') throw invalid(`${opts?.path ?? field} must not be empty.`);
  return v;
}

export function optionalInt(input: Obj, field: string, opts?: { min?: number; max?: number; path?: string }): number | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  const name = opts?.path ?? field;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(name, 'an integer', v);
  if (opts?.min !== undefined && v < opts.min) throw invalid(`${name} must be at least ${opts.min}.`);
  if (opts?.max !== undefined && v > opts.max) throw invalid(`${name} must be at most ${opts.max}.`);
  return v;
}

export function optionalBool(input: Obj, field: string, path?: string): boolean | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw typeError(path ?? field, 'a boolean', v);
  return v;
}

export function optionalEnum<const T extends string>(input: Obj, field: string, values: readonly T[], path?: string): T | undefined {
  const v = optionalString(input, field, path === undefined ? undefined : { path });
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    throw invalid(`${path ?? field} must be one of ${values.join(', ')}; got '${v}'.`);
  }
  return v as T;
}

export function optionalArray(input: Obj, field: string, opts?: { maxItems?: number; path?: string }): unknown[] | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  const name = opts?.path ?? field;
  if (!Array.isArray(v)) throw typeError(name, 'a list', v);
  if (opts?.maxItems !== undefined && v.length > opts.maxItems) {
    throw invalid(`${name} can have at most ${opts.maxItems} items; got ${v.length}.`);
  }
  return v as unknown[];
}

export function optionalStringArray(input: Obj, field: string, opts?: { maxItems?: number; path?: string }): string[] | undefined {
  const arr = optionalArray(input, field, opts);
  if (arr === undefined) return undefined;
  const name = opts?.path ?? field;
  arr.forEach((item, i) => {
    if (typeof item !== 'string') throw typeError(`${name}[${i}]`, 'a string', item);
  });
  return arr as string[];
}

export function optionalObject(input: Obj, field: string, path?: string): Obj | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw typeError(path ?? field, 'a structure', v);
  return v as Obj;
}

/** Each element of a list parameter as a structure, with its index path for errors. */
export function objectsOf(list: readonly unknown[], path: string): Array<{ item: Obj; path: string }> {
  return list.map((item, i) => {
    const p = `${path}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw typeError(p, 'a structure', item);
    return { item: item as Obj, path: p };
  });
}

/** nextToken values are opaque base64 of the last key returned. */
export const encodeNextToken = (lastKey: string): string => Buffer.from(lastKey, 'utf8').toString('base64url');

export function decodeNextToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (!key.startsWith('/') || encodeNextToken(key) !== token) throw invalid('The nextToken is not valid.');
  return key;
}
