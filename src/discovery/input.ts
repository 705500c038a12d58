/**
 * Reading Cloud Map requests with precise errors (InvalidInput naming the field and the rule), and
 * the small Store helpers the operations share: typed reads, CreatorRequestId claims, paging.
 *
 * @example const name = str(input, 'Name', { required: true, max: 253 });
 */
import { createHash } from 'node:crypto';
import { BerthError } from '../protocols/index.js';
import type { Compare, Op, Store } from '../store/index.js';
import { keys, type Tag } from './model.js';

export type Obj = Record<string, unknown>;

export const invalid = (message: string): BerthError => new BerthError('InvalidInput', message);

function typeError(field: string, expected: string, got: unknown): BerthError {
  const kind = got === null ? 'null' : Array.isArray(got) ? 'list' : typeof got;
  return new BerthError('SerializationException', `Invalid type for parameter ${field}: expected ${expected}, got ${kind}.`);
}

interface StrRule {
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: RegExp;
  /** The rule in words, for the message when `pattern` fails. */
  readonly rule?: string;
  /** The field's full path in messages (e.g. DnsConfig.RoutingPolicy). */
  readonly path?: string;
}

export function str(input: Obj, field: string, rule: StrRule & { required: true }): string;
export function str(input: Obj, field: string, rule?: StrRule): string | undefined;
export function str(input: Obj, field: string, rule: StrRule = {}): string | undefined {
  const v = input[field];
  const name = rule.path ?? field;
  if (v === undefined || v === null) {
    if (rule.required) throw invalid(`${name} is required.`);
    return undefined;
  }
  if (typeof v !== 'string') throw typeError(name, 'a string', v);
  if (rule.min !== undefined && v.length < rule.min) throw invalid(`${name} must be at least ${rule.min} characters long.`);
  if (rule.max !== undefined && v.length > rule.max) throw invalid(`${name} must be at most ${rule.max} characters long; got ${v.length}.`);
  if (rule.pattern !== undefined && !rule.pattern.test(v)) throw invalid(`${name} '${v}' is not valid: ${rule.rule ?? `it must match ${rule.pattern.source}`}.`);
  return v;
}

export function oneOf<const T extends string>(input: Obj, field: string, values: readonly T[], path?: string): T | undefined {
  const v = str(input, field, path === undefined ? {} : { path });
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) throw invalid(`${path ?? field} must be one of ${values.join(', ')}; got '${v}'.`);
  return v as T;
}

export function int(input: Obj, field: string, rule: { min?: number; max?: number; path?: string } = {}): number | undefined {
  const v = input[field];
  const name = rule.path ?? field;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(name, 'an integer', v);
  if (rule.min !== undefined && v < rule.min) throw invalid(`${name} must be at least ${rule.min}; got ${v}.`);
  if (rule.max !== undefined && v > rule.max) throw invalid(`${name} must be at most ${rule.max}; got ${v}.`);
  return v;
}

export function obj(input: Obj, field: string, path?: string): Obj | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw typeError(path ?? field, 'a structure', v);
  return v as Obj;
}

export function list(input: Obj, field: string, rule: { min?: number; max?: number; path?: string } = {}): unknown[] | undefined {
  const v = input[field];
  const name = rule.path ?? field;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw typeError(name, 'a list', v);
  if (rule.min !== undefined && v.length < rule.min) throw invalid(`${name} must have at least ${rule.min} item(s).`);
  if (rule.max !== undefined && v.length > rule.max) throw invalid(`${name} can have at most ${rule.max} items; got ${v.length}.`);
  return v as unknown[];
}

export function objAt(items: readonly unknown[], i: number, path: string): Obj {
  const v = items[i];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw typeError(`${path}[${i}]`, 'a structure', v);
  return v as Obj;
}

/** Tags as Cloud Map takes them: at most 200, keys 1–128 and values 0–256 characters, keys distinct. */
export function readTags(input: Obj, field = 'Tags', required = false): Tag[] | undefined {
  const items = list(input, field);
  if (items === undefined) {
    if (required) throw invalid(`${field} is required.`);
    return undefined;
  }
  if (items.length > 200) throw new BerthError('TooManyTagsException', `A resource can have at most 200 tags; got ${items.length}.`);
  const seen = new Set<string>();
  return items.map((_, i) => {
    const tag = objAt(items, i, field);
    const Key = str(tag, 'Key', { required: true, min: 1, max: 128, path: `${field}[${i}].Key` });
    const Value = str(tag, 'Value', { required: true, max: 256, path: `${field}[${i}].Value` });
    if (seen.has(Key)) throw invalid(`${field} has the key '${Key}' twice.`);
    seen.add(Key);
    return { Key, Value };
  });
}

/** A string-to-string map (Attributes, QueryParameters), with Cloud Map's key and value rules. */
export function readAttributes(input: Obj, field: string, rule: { required?: boolean; max?: number } = {}): Record<string, string> | undefined {
  const m = obj(input, field);
  if (m === undefined) {
    if (rule.required) throw invalid(`${field} is required.`);
    return undefined;
  }
  const entries = Object.entries(m);
  if (rule.max !== undefined && entries.length > rule.max) throw invalid(`${field} can have at most ${rule.max} attributes; got ${entries.length}.`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > 255 || !/^[!-~]+$/.test(k)) throw invalid(`${field} key '${k}' is not valid: 1 to 255 printable ASCII characters, no spaces.`);
    if (typeof v !== 'string') throw typeError(`${field}.${k}`, 'a string', v);
    if (v.length > 1024) throw invalid(`${field}.${k} must be at most 1024 characters long.`);
    if (v !== '' && !/^[!-~](?:[ \t!-~]*[!-~])?$/.test(v)) {
      throw invalid(`${field}.${k} is not valid: printable ASCII that neither starts nor ends with a space.`);
    }
    out[k] = v;
  }
  return out;
}

// --- Store helpers ------------------------------------------------------------------------------

export interface Stored<T> {
  readonly value: T;
  readonly modRevision: number;
}

export async function readJson<T>(store: Store, key: string): Promise<Stored<T> | undefined> {
  const kv = await store.get(key);
  return kv && { value: JSON.parse(kv.value) as T, modRevision: kv.modRevision };
}

export async function listJson<T>(store: Store, prefix: string): Promise<Array<Stored<T> & { key: string }>> {
  const res = await store.range(prefix);
  return res.kvs.map((kv) => ({ key: kv.key, value: JSON.parse(kv.value) as T, modRevision: kv.modRevision }));
}

export const putOp = (key: string, value: unknown): Op => ({ type: 'put', key, value: JSON.stringify(value) });
export const isAt = (key: string, modRevision: number): Compare => ({ key, target: 'mod', op: '=', value: modRevision });

const MAX_ATTEMPTS = 20;

/**
 * Runs `attempt` until its transaction succeeds (it returns a result) or it gives up by throwing;
 * `undefined` means "lost a race, read again". Bounded, so a hot key cannot spin a request forever.
 */
export async function retrying<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const result = await attempt();
    if (result !== undefined) return result;
  }
  throw new BerthError('ServerException', `Too many concurrent changes to ${what}; try again.`);
}

// --- CreatorRequestId ---------------------------------------------------------------------------

/** What a CreatorRequestId stood for: the request (by fingerprint) and what it produced. */
export interface RequestRecord<R> {
  readonly fingerprint: string;
  readonly result: R;
  readonly createdAt: number;
}

/** A request's identity: its members in key order, the token itself left out. */
export function fingerprintOf(request: Obj, tokenField: string): string {
  const canonical = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
    if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v as Obj)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
    }
    return JSON.stringify(v) ?? 'null';
  };
  const { [tokenField]: _token, ...rest } = request;
  return createHash('sha256').update(canonical(rest)).digest('hex');
}

export type RequestClaim<R> =
  | { readonly kind: 'none' }
  | { readonly kind: 'replay'; readonly record: RequestRecord<R> }
  | { readonly kind: 'fresh'; readonly guard: Compare; readonly put: (result: R) => Op };

/** How long a CreatorRequestId is remembered (EC2's window, as ECS's clientToken uses). */
export const REQUEST_ID_TTL_SECONDS = 24 * 60 * 60;

/**
 * Looks a CreatorRequestId up. A fresh claim's guard holds only while no one else has used the
 * token, so of two concurrent requests with one token one creates and the other replays. A token
 * older than REQUEST_ID_TTL_SECONDS is free again.
 */
export async function claimRequestId<R>(store: Store, operation: string, token: string | undefined, fingerprint: string, now: Date): Promise<RequestClaim<R>> {
  if (token === undefined) return { kind: 'none' };
  const key = keys.requestId(operation, token);
  const cur = await readJson<RequestRecord<R>>(store, key);
  const createdAt = now.getTime() / 1000;
  if (cur !== undefined && createdAt - cur.value.createdAt < REQUEST_ID_TTL_SECONDS) return { kind: 'replay', record: cur.value };
  return { kind: 'fresh', guard: isAt(key, cur?.modRevision ?? 0), put: (result) => putOp(key, { fingerprint, result, createdAt } satisfies RequestRecord<R>) };
}

// --- paging -------------------------------------------------------------------------------------

/** A NextToken is the last id returned, base64url'd so callers treat it as opaque. */
export function pageOf<T>(items: readonly T[], idOf: (item: T) => string, input: Obj, defaultMax = 100, maxMax = 100): { page: T[]; NextToken?: string } {
  const max = int(input, 'MaxResults', { min: 1, max: maxMax }) ?? defaultMax;
  const token = str(input, 'NextToken', { max: 4096 });
  let start = 0;
  if (token !== undefined) {
    const after = Buffer.from(token, 'base64url').toString('utf8');
    if (token === '' || Buffer.from(after, 'utf8').toString('base64url') !== token) throw invalid(`NextToken '${token}' is not a token this API returned.`);
    start = items.findIndex((item) => idOf(item) > after);
    if (start < 0) start = items.length;
  }
  const page = items.slice(start, start + max);
  const more = start + max < items.length;
  return more ? { page, NextToken: Buffer.from(idOf(page[page.length - 1]!), 'utf8').toString('base64url') } : { page };
}
