/** The JSON 1.1 codec on its own: bodies in, results and errors out, exactly as botocore reads them. */
import { describe, expect, it } from 'vitest';
import { BerthError } from './errors.js';
import { AMZ_JSON_1_0, AMZ_JSON_1_1, decodeJsonBody, encodeJsonError, encodeJsonResult, jsonMediaType } from './json.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function thrown(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected a BerthError');
}

describe('jsonMediaType', () => {
  it('accepts JSON 1.1 and 1.0, with parameters and in any case', () => {
    expect(jsonMediaType('application/x-amz-json-1.1')).toBe(AMZ_JSON_1_1);
    expect(jsonMediaType('application/x-amz-json-1.1; charset=utf-8')).toBe(AMZ_JSON_1_1);
    expect(jsonMediaType('Application/X-Amz-Json-1.0 ;charset=UTF-8')).toBe(AMZ_JSON_1_0);
  });

  it.each([
    ['application/json', "got Content-Type 'application/json'"],
    ['text/plain', "got Content-Type 'text/plain'"],
    ['application/x-amz-json-1.2', "got Content-Type 'application/x-amz-json-1.2'"],
    [undefined, 'got no Content-Type'],
    ['', 'got no Content-Type'],
  ])('refuses %s with UnsupportedMediaTypeException 415', (ct, detail) => {
    const err = thrown(() => jsonMediaType(ct));
    expect(err.code).toBe('UnsupportedMediaTypeException');
    expect(err.status).toBe(415);
    expect(err.message).toContain(detail);
    expect(err.message).toContain('application/x-amz-json-1.1');
  });
});

describe('decodeJsonBody', () => {
  it('reads an object', () => {
    expect(decodeJsonBody(bytes('{"cluster":"default","count":2}'))).toEqual({ cluster: 'default', count: 2 });
  });

  it('takes an empty body as {}', () => {
    expect(decodeJsonBody(new Uint8Array())).toEqual({});
    expect(decodeJsonBody(' \n')).toEqual({});
  });

  it('refuses malformed JSON with the parser detail', () => {
    const err = thrown(() => decodeJsonBody(bytes('{"cluster": ')));
    expect(err.code).toBe('SerializationException');
    expect(err.message).toMatch(/^Request body is not valid JSON: .+/);
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it.each([
    ['[1,2]', 'an array'],
    ['null', 'null'],
    ['"x"', 'a string'],
    ['42', 'a number'],
    ['true', 'a boolean'],
  ])('refuses %s: not an object', (body, kind) => {
    const err = thrown(() => decodeJsonBody(bytes(body)));
    expect(err.code).toBe('SerializationException');
    expect(err.message).toBe(`Request body must be a JSON object, got ${kind}.`);
  });

  it('refuses bytes that are not UTF-8', () => {
    const err = thrown(() => decodeJsonBody(new Uint8Array([0x7b, 0xff, 0x7d])));
    expect(err.code).toBe('SerializationException');
    expect(err.message).toBe('Request body is not valid UTF-8.');
  });

  it('drops __proto__ members so merges cannot swap prototypes', () => {
    const input = decodeJsonBody(bytes('{"a":1,"__proto__":{"polluted":true},"b":{"__proto__":{"x":1}}}'));
    expect(Object.keys(input)).toEqual(['a', 'b']);
    const merged = Object.assign({}, input, input['b']);
    expect((merged as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
  });
});

describe('encodeJsonResult', () => {
  it('answers 200 in the request media type', () => {
    const res = encodeJsonResult({ clusterArns: [] }, AMZ_JSON_1_0);
    expect(res).toEqual({ status: 200, headers: { 'content-type': AMZ_JSON_1_0 }, body: '{"clusterArns":[]}' });
  });

  it('encodes no output as {}', () => {
    expect(encodeJsonResult(undefined).body).toBe('{}');
  });

  it('sends Dates as epoch seconds, nested too', () => {
    const at = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 500));
    const body = JSON.parse(encodeJsonResult({ createdAt: at, tasks: [{ startedAt: at }] }).body);
    expect(body).toEqual({ createdAt: 1767225600.5, tasks: [{ startedAt: 1767225600.5 }] });
  });
});

describe('encodeJsonError', () => {
  it('writes __type and message with the code status', () => {
    const res = encodeJsonError(new BerthError('ClusterNotFoundException', 'Cluster not found.'));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe(AMZ_JSON_1_1);
    expect(JSON.parse(res.body)).toEqual({ __type: 'ClusterNotFoundException', message: 'Cluster not found.' });
  });

  it('answers faults with 500', () => {
    expect(encodeJsonError(new BerthError('ServerException', 'boom')).status).toBe(500);
  });

  it('carries extra fields, never over __type or message', () => {
    const err = new BerthError('ConflictException', 'In use.', { fields: { resourceIds: ['a'], __type: 'X', message: 'Y' } });
    expect(JSON.parse(encodeJsonError(err).body)).toEqual({ __type: 'ConflictException', message: 'In use.', resourceIds: ['a'] });
  });

  it('takes a status override', () => {
    expect(encodeJsonError(new BerthError('UnknownOperationException', 'No route.'), AMZ_JSON_1_1, 404).status).toBe(404);
  });
});
