/**
 * The AWS query protocol's request and result bodies, driven by small shape descriptions: flattened
 * form parameters (`Actions.member.1.ForwardConfig.TargetGroups.member.2.Weight=3`) become typed
 * objects, and result objects become the `<XxxResponse><XxxResult>` XML botocore parses. Generic:
 * nothing here knows ELBv2; shapes.ts describes its operations in this vocabulary.
 */
import { BerthError, escapeXml } from '../../protocols/index.js';

export type Shape = StringShape | IntegerShape | BooleanShape | ListShape | StructureShape;

export interface StringShape {
  readonly type: 'string';
  readonly enum?: readonly string[];
}
export interface IntegerShape {
  readonly type: 'integer';
  readonly min?: number;
  readonly max?: number;
}
export interface BooleanShape {
  readonly type: 'boolean';
}
export interface ListShape {
  readonly type: 'list';
  readonly member: Shape;
}
export interface StructureShape {
  readonly type: 'structure';
  readonly members: Readonly<Record<string, Shape>>;
  readonly required?: readonly string[];
  /** Members the API has but this server does not serve: refused by name as such, not as unknown. */
  readonly unserved?: readonly string[];
}

/** Shape builders, so that an operation's description reads like the botocore model. */
export const shape = {
  string: (values?: readonly string[]): StringShape => (values === undefined ? { type: 'string' } : { type: 'string', enum: values }),
  integer: (min?: number, max?: number): IntegerShape => ({ type: 'integer', ...(min !== undefined && { min }), ...(max !== undefined && { max }) }),
  boolean: (): BooleanShape => ({ type: 'boolean' }),
  list: (member: Shape): ListShape => ({ type: 'list', member }),
  structure: (members: Record<string, Shape>, required: readonly string[] = [], unserved: readonly string[] = []): StructureShape => ({ type: 'structure', members, required, unserved }),
} as const;

interface Node {
  value?: string;
  readonly children: Map<string, Node>;
}

/**
 * Decodes flattened query parameters into an object of `input`'s shape. Lists are `Name.member.N`
 * (1-based; a bare `Name=` is an empty list, as botocore sends one), structures `Name.Field`.
 * Integers and booleans are parsed, enums and integer bounds checked; a parameter the shape does
 * not know, a malformed value or a missing required member is refused with ValidationError in
 * AWS's words ("Value 'x' at 'port' failed to satisfy constraint: ...") and nothing is called.
 *
 * @example decodeQueryInput({ 'Names.member.1': 'web' }, shape.structure({ Names: shape.list(shape.string()) })) // { Names: ['web'] }
 */
export function decodeQueryInput(params: Readonly<Record<string, string>>, input: StructureShape): Record<string, unknown> {
  const root: Node = { children: new Map() };
  for (const [key, value] of Object.entries(params)) {
    let node = root;
    for (const part of key.split('.')) {
      let child = node.children.get(part);
      if (child === undefined) {
        child = { children: new Map() };
        node.children.set(part, child);
      }
      node = child;
    }
    node.value = value;
  }
  return decodeStructure(root, input, '');
}

function decodeNode(node: Node, s: Shape, path: string): unknown {
  switch (s.type) {
    case 'string':
      return decodeString(node, s, path);
    case 'integer':
      return decodeInteger(node, s, path);
    case 'boolean': {
      const text = scalar(node, path);
      if (text !== 'true' && text !== 'false') throw invalid(text, path, 'Member must be a boolean (true or false)');
      return text === 'true';
    }
    case 'list':
      return decodeList(node, s, path);
    case 'structure':
      return decodeStructure(node, s, path);
  }
}

function decodeString(node: Node, s: StringShape, path: string): string {
  const text = scalar(node, path);
  if (s.enum !== undefined && !s.enum.includes(text)) throw invalid(text, path, `Member must satisfy enum value set: [${s.enum.join(', ')}]`);
  return text;
}

function decodeInteger(node: Node, s: IntegerShape, path: string): number {
  const text = scalar(node, path);
  if (!/^-?\d{1,15}$/.test(text)) throw invalid(text, path, 'Member must be an integer');
  const n = Number(text);
  if (s.min !== undefined && n < s.min) throw invalid(text, path, `Member must have value greater than or equal to ${s.min}`);
  if (s.max !== undefined && n > s.max) throw invalid(text, path, `Member must have value less than or equal to ${s.max}`);
  return n;
}

function decodeList(node: Node, s: ListShape, path: string): unknown[] {
  if (node.children.size === 0) {
    if (node.value === '' || node.value === undefined) return [];
    throw new BerthError('ValidationException', `'${path}' is a list: send its items as ${path}.member.1, ${path}.member.2, ...`);
  }
  const members = node.children.get('member');
  if (members === undefined || node.children.size > 1) {
    const stray = [...node.children.keys()].find((k) => k !== 'member') ?? 'member';
    throw new BerthError('ValidationException', `Unknown parameter '${join(path, stray)}': the items of list '${path}' are ${path}.member.N.`);
  }
  const indexed: [number, Node][] = [];
  for (const [key, child] of members.children) {
    if (!/^[1-9]\d{0,5}$/.test(key)) throw new BerthError('ValidationException', `'${join(path, `member.${key}`)}': list items are numbered from 1.`);
    indexed.push([Number(key), child]);
  }
  indexed.sort((a, b) => a[0] - b[0]);
  return indexed.map(([index, child]) => decodeNode(child, s.member, join(path, `member.${index}`)));
}

function decodeStructure(node: Node, s: StructureShape, path: string): Record<string, unknown> {
  if (node.value !== undefined && node.value !== '' && path !== '') {
    throw new BerthError('ValidationException', `'${path}' is a structure: send its fields as ${path}.<Field>.`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, child] of node.children) {
    const member = Object.hasOwn(s.members, key) ? s.members[key] : undefined;
    if (member === undefined) {
      if (s.unserved?.includes(key) === true) throw new BerthError('ValidationException', `Parameter '${join(path, key)}' is not supported: this server does not serve that feature.`);
      throw new BerthError('ValidationException', `Unknown parameter '${join(path, key)}'.`);
    }
    out[key] = decodeNode(child, member, join(path, key));
  }
  for (const name of s.required ?? []) {
    if (out[name] === undefined) throw invalid(null, join(path, name), 'Member must not be null');
  }
  return out;
}

function scalar(node: Node, path: string): string {
  if (node.children.size > 0) {
    throw new BerthError('ValidationException', `Unknown parameter '${join(path, [...node.children.keys()][0]!)}': '${path}' takes a single value.`);
  }
  return node.value ?? '';
}

const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

/** AWS's validation wording; the path names the member as the request spelled it. */
function invalid(value: string | null, path: string, constraint: string): BerthError {
  const shown = value === null ? 'null' : `'${value}'`;
  return new BerthError('ValidationException', `1 validation error detected: Value ${shown} at '${path}' failed to satisfy constraint: ${constraint}`);
}

/**
 * Encodes an operation's result as the query protocol's reply document. Arrays become `<member>`
 * lists, objects nested elements, Dates ISO 8601 timestamps; undefined members are left out.
 *
 * @example encodeQueryResult('DescribeTags', XMLNS, 'req-1', { TagDescriptions: [] })
 */
export function encodeQueryResult(action: string, xmlns: string, requestId: string, result: Readonly<Record<string, unknown>> = {}): string {
  return (
    `<${action}Response xmlns="${escapeXml(xmlns)}">` +
    `<${action}Result>${encodeMembers(result)}</${action}Result>` +
    `<ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata>` +
    `</${action}Response>`
  );
}

function encodeMembers(obj: Readonly<Record<string, unknown>>): string {
  let out = '';
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined) continue;
    out += `<${key}>${encodeValue(value)}</${key}>`;
  }
  return out;
}

function encodeValue(value: unknown): string {
  if (typeof value === 'string') return escapeXml(value);
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => `<member>${encodeValue(item)}</member>`).join('');
  if (value !== null && typeof value === 'object') return encodeMembers(value as Record<string, unknown>);
  throw new Error(`cannot encode ${String(value)} as XML`);
}
