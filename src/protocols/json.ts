/**
 * The AWS JSON 1.1 (and 1.0) codec: request bodies in, results and BerthErrors out. The edge calls
 * it after authentication; domain code never sees bytes or status codes.
 */
import { BerthError } from './errors.js';
import type { OperationInput } from './types.js';

export const AMZ_JSON_1_1 = 'application/x-amz-json-1.1';
export const AMZ_JSON_1_0 = 'application/x-amz-json-1.0';
export type AmzJsonMediaType = typeof AMZ_JSON_1_1 | typeof AMZ_JSON_1_0;

/** A reply ready for the wire: the edge adds x-amzn-RequestId and writes it. */
export interface WireResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * Checks a request's Content-Type and returns the media type to answer with (1.0 is answered in
 * 1.0). Parameters such as `; charset=utf-8` are ignored, as Smithy's protocol tests require.
 *
 * Anything else is refused with UnsupportedMediaTypeException (415): Smithy's malformed-request
 * protocol tests answer a wrong Content-Type with exactly that code and status, clients render
 * `__type` + `message` whatever the status, and a 415 tells a curl user precisely what to fix —
 * where SerializationException would blame a body that may be fine.
 *
 * @example jsonMediaType('application/x-amz-json-1.1; charset=utf-8') // 'application/x-amz-json-1.1'
 */
export function jsonMediaType(contentType: string | undefined): AmzJsonMediaType {
  const mediaType = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (mediaType === AMZ_JSON_1_1 || mediaType === AMZ_JSON_1_0) return mediaType;
  const got = contentType === undefined || mediaType === '' ? 'no Content-Type' : `Content-Type '${contentType}'`;
  throw new BerthError(
    'UnsupportedMediaTypeException',
    `Unsupported media type: got ${got}; AWS JSON requests must be sent as ${AMZ_JSON_1_1} (or ${AMZ_JSON_1_0}).`,
  );
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a request body into an operation's input. An empty body means `{}` (botocore sends
 * nothing for operations without input); anything else must be one JSON object.
 *
 * @example decodeJsonBody(Buffer.from('{"cluster":"default"}')) // { cluster: 'default' }
 */
export function decodeJsonBody(body: Uint8Array | string): OperationInput {
  let text: string;
  try {
    text = typeof body === 'string' ? body : utf8.decode(body);
  } catch (err) {
    throw new BerthError('SerializationException', 'Request body is not valid UTF-8.', { cause: err });
  }
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    // Dropping "__proto__" members keeps a later Object.assign/merge in domain code from
    // rewriting an object's prototype with attacker-chosen JSON.
    value = JSON.parse(text, (key, v: unknown) => (key === '__proto__' ? undefined : v));
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new BerthError('SerializationException', `Request body is not valid JSON: ${detail}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new BerthError('SerializationException', `Request body must be a JSON object, got ${kind}.`);
  }
  return value as OperationInput;
}

/**
 * JSON.stringify with JSON 1.1's timestamp rule: a Date goes out as epoch seconds (a double),
 * which is what botocore and the SDKs parse. The replacer reads the holder because Date.toJSON
 * has already turned `value` into an ISO string by the time a replacer sees it.
 */
function stringify(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    return raw instanceof Date ? raw.getTime() / 1000 : v;
  });
}

/**
 * Encodes an operation's result as a 200 reply; `undefined` (an operation with no output) is `{}`.
 *
 * @example encodeJsonResult({ clusterArns: [] }) // { status: 200, body: '{"clusterArns":[]}', ... }
 */
export function encodeJsonResult(result: unknown, mediaType: AmzJsonMediaType = AMZ_JSON_1_1): WireResponse {
  return { status: 200, headers: { 'content-type': mediaType }, body: stringify(result ?? {}) };
}

/**
 * Encodes an error as AWS JSON does: `{"__type": code, "message": msg, ...fields}` with the code's
 * status (400 client error, 5xx fault). `status` overrides it where the edge knows better (a 404
 * for a path no API serves). `__type` and `message` always win over same-named fields.
 *
 * @example encodeJsonError(new BerthError('ClusterNotFoundException', 'Cluster not found.'))
 */
export function encodeJsonError(err: BerthError, mediaType: AmzJsonMediaType = AMZ_JSON_1_1, status: number = err.status): WireResponse {
  const body: Record<string, unknown> = { __type: err.code, message: err.message };
  for (const [key, value] of Object.entries(err.fields)) {
    if (!(key in body)) body[key] = value;
  }
  return { status, headers: { 'content-type': mediaType }, body: stringify(body) };
}
