/**
 * SigV4 verification against requests signed by the AWS SDK's own signer (@smithy/signature-v4),
 * in both forms, plus AWS's published test vector and every refusal with AWS's wording.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../protocols/index.js';
import { formatAmzDate, signJsonPost, signatureFor, verifySigV4 } from './sigv4.js';
import type { SignedRequest, SigningCredential, VerifyOptions } from './sigv4.js';

const KEY: SigningCredential = { accessKeyId: 'AKIAEXAMPLE000000001', secretAccessKey: 'secret/secret+secret', accountId: '000000000000' };
const SIGNED_AT = new Date('2026-01-01T00:00:00Z');
const HOST = 'localhost:4566';
const BODY = '{"cluster":"default"}';

const lookup = (id: string) => Promise.resolve(id === KEY.accessKeyId ? KEY : undefined);
const options = (over: Partial<VerifyOptions> = {}): VerifyOptions => ({ region: 'us-east-1', service: 'ecs', now: SIGNED_AT, lookup, ...over });

interface ToSign {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  credential?: Partial<SigningCredential>;
  region?: string;
  service?: string;
  at?: Date;
}

/** RFC 3986 strict encoding, as SDKs put query strings on the wire. */
const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function toSignedRequest(req: HttpRequest, body: string): SignedRequest {
  const query = Object.entries(req.query)
    .map(([k, v]) => `${enc(k)}=${enc(String(v))}`)
    .join('&');
  return {
    method: req.method,
    url: query === '' ? req.path : `${req.path}?${query}`,
    headers: Object.entries(req.headers),
    body: Buffer.from(body),
  };
}

function request(s: ToSign): HttpRequest {
  return new HttpRequest({
    method: s.method ?? 'POST',
    protocol: 'http:',
    hostname: 'localhost',
    port: 4566,
    path: s.path ?? '/',
    query: s.query ?? {},
    headers: {
      host: HOST,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonEC2ContainerServiceV20141113.ListClusters',
      ...s.headers,
    },
    body: s.body ?? BODY,
  });
}

function signer(s: ToSign): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: KEY.accessKeyId, secretAccessKey: KEY.secretAccessKey, ...s.credential },
    region: s.region ?? 'us-east-1',
    service: s.service ?? 'ecs',
    sha256: Sha256,
  });
}

async function signHeader(s: ToSign = {}): Promise<SignedRequest> {
  const signed = await signer(s).sign(request(s), { signingDate: s.at ?? SIGNED_AT });
  return toSignedRequest(signed as HttpRequest, s.body ?? BODY);
}

async function presign(s: ToSign = {}, expiresIn = 300): Promise<SignedRequest> {
  const signed = await signer(s).presign(request(s), {
    signingDate: s.at ?? SIGNED_AT,
    expiresIn,
    // Keep the JSON routing header a header: by default the signer hoists every x-amz-* to the query.
    unhoistableHeaders: new Set(['x-amz-target']),
  });
  return toSignedRequest(signed as HttpRequest, s.body ?? BODY);
}

async function refusal(req: SignedRequest, opts: VerifyOptions = options()): Promise<BerthError> {
  try {
    await verifySigV4(req, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected the request to be refused');
}

const withHeader = (req: SignedRequest, name: string, value: string | undefined): SignedRequest => ({
  ...req,
  headers: [...req.headers.filter(([n]) => n.toLowerCase() !== name), ...(value === undefined ? [] : [[name, value] as const])],
});
const authorization = (req: SignedRequest) => req.headers.find(([n]) => n === 'authorization')![1];
const minutes = (n: number) => new Date(SIGNED_AT.getTime() + n * 60_000);

describe('AWS SigV4 test suite vector (get-vanilla)', () => {
  it('accepts the published request and signature', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
    const req: SignedRequest = {
      method: 'GET',
      url: '/',
      headers: [
        ['Host', 'example.amazonaws.com'],
        ['X-Amz-Date', '20150830T123600Z'],
        [
          'Authorization',
          'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
        ],
      ],
      body: new Uint8Array(),
    };
    const known = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: secret, accountId: '111111111111' };
    const who = await verifySigV4(req, {
      region: 'us-east-1',
      service: 'service',
      now: new Date('2015-08-30T12:36:00Z'),
      lookup: (id) => Promise.resolve(id === 'AKIDEXAMPLE' ? known : undefined),
    });
    expect(who).toEqual({ accessKeyId: 'AKIDEXAMPLE', accountId: '111111111111', service: 'service', region: 'us-east-1', form: 'header' });
  });

  it('derives the signing key as AWS documents', () => {
    const sts = 'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63';
    expect(signatureFor('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20150830', 'us-east-1', 'service', sts)).toBe(
      '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });
});

describe('verifySigV4 accepts what the SDK signer produces', () => {
  it('Authorization header form', async () => {
    const who = await verifySigV4(await signHeader(), options());
    expect(who).toEqual({ accessKeyId: KEY.accessKeyId, accountId: '000000000000', service: 'ecs', region: 'us-east-1', form: 'header' });
  });

  it('presigned query form', async () => {
    const req = await presign();
    expect(req.url).toContain('X-Amz-Signature=');
    expect(req.headers.some(([n]) => n.toLowerCase() === 'authorization')).toBe(false);
    expect((await verifySigV4(req, options({ now: minutes(4) }))).form).toBe('presigned');
  });

  it('a path with dot segments, doubled slashes and escapes (encoded twice, as for non-S3 services)', async () => {
    const req = await signHeader({ path: '/a/./b/../c%20d//e~f/' });
    expect(req.url).toBe('/a/./b/../c%20d//e~f/');
    await expect(verifySigV4(req, options())).resolves.toBeDefined();
  });

  it('query parameters in any order, with characters that need encoding', async () => {
    const req = await signHeader({ query: { zeta: '1', alpha: 'x y/z', 'ümlaut': 'ö', empty: '', 'a*b': "it's" } });
    await expect(verifySigV4(req, options())).resolves.toBeDefined();
    // The verifier sorts; shuffling the pairs on the wire changes nothing.
    const [path, query] = req.url.split('?') as [string, string];
    const shuffled = { ...req, url: `${path}?${query.split('&').reverse().join('&')}` };
    await expect(verifySigV4(shuffled, options())).resolves.toBeDefined();
  });

  it('header values with runs of spaces, and a header sent twice', async () => {
    const signed = await signer({}).sign(request({ headers: { 'x-berth-note': '  two   words ', 'x-berth-list': 'a,b' } }), { signingDate: SIGNED_AT });
    const req = toSignedRequest(signed as HttpRequest, BODY);
    await expect(verifySigV4(req, options())).resolves.toBeDefined();
    // On the wire the list header may arrive as two lines; canonically they join with a comma.
    const split: SignedRequest = { ...req, headers: [...req.headers.filter(([n]) => n !== 'x-berth-list'), ['X-Berth-List', 'a'], ['x-berth-list', 'b']] };
    await expect(verifySigV4(split, options())).resolves.toBeDefined();
  });

  it('a session token, when the key is temporary', async () => {
    const temp = { ...KEY, sessionToken: 'token-123' };
    const opts = options({ lookup: () => Promise.resolve(temp) });
    await expect(verifySigV4(await signHeader({ credential: { sessionToken: 'token-123' } }), opts)).resolves.toBeDefined();
    await expect(verifySigV4(await presign({ credential: { sessionToken: 'token-123' } }), opts)).resolves.toBeDefined();
  });

  it('a date within 5 minutes either way', async () => {
    await expect(verifySigV4(await signHeader(), options({ now: minutes(5) }))).resolves.toBeDefined();
    await expect(verifySigV4(await signHeader(), options({ now: minutes(-5) }))).resolves.toBeDefined();
  });

  it('Authorization parameters separated by spaces only, as AWS also allows', async () => {
    const req = await signHeader();
    const spaced = withHeader(req, 'authorization', authorization(req).replace(/, /g, ' '));
    await expect(verifySigV4(spaced, options())).resolves.toBeDefined();
  });

  it('no service check when the target service is not known yet', async () => {
    const who = await verifySigV4(await signHeader({ service: 'elasticloadbalancing' }), options({ service: undefined }));
    expect(who.service).toBe('elasticloadbalancing');
  });
});

describe('verifySigV4 refuses, with AWS’s codes and words', () => {
  it('no auth at all: MissingAuthenticationTokenException', async () => {
    const req = withHeader(await signHeader(), 'authorization', undefined);
    const err = await refusal(req);
    expect([err.code, err.message, err.status]).toEqual(['MissingAuthenticationTokenException', 'Missing Authentication Token', 403]);
  });

  it('unknown access key: UnrecognizedClientException', async () => {
    const err = await refusal(await signHeader({ credential: { accessKeyId: 'AKIAUNKNOWN000000000' } }));
    expect([err.code, err.message]).toEqual(['UnrecognizedClientException', 'The security token included in the request is invalid.']);
  });

  it('wrong secret: InvalidSignatureException', async () => {
    const err = await refusal(await signHeader({ credential: { secretAccessKey: 'not-the-secret' } }));
    expect(err.code).toBe('InvalidSignatureException');
    expect(err.message).toBe(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
    // The canonical request travels in the cause for the debug log, never on the wire.
    expect(String((err.cause as Error).message)).toContain('canonical request:\nPOST\n/\n');
  });

  it('tampered body: the declared payload hash no longer matches', async () => {
    const req = { ...(await signHeader()), body: Buffer.from('{"cluster":"other"}') };
    const err = await refusal(req);
    expect([err.code, err.message]).toEqual(['InvalidSignatureException', "The provided 'x-amz-content-sha256' header does not match what was computed."]);
  });

  it('tampered body without x-amz-content-sha256: the signature no longer matches', async () => {
    const signed = await new SignatureV4({ credentials: KEY, region: 'us-east-1', service: 'ecs', sha256: Sha256, applyChecksum: false }).sign(request({}), {
      signingDate: SIGNED_AT,
    });
    const req = toSignedRequest(signed as HttpRequest, BODY);
    await expect(verifySigV4(req, options())).resolves.toBeDefined();
    const err = await refusal({ ...req, body: Buffer.from('{"cluster":"other"}') });
    expect(err.code).toBe('InvalidSignatureException');
    expect(err.message).toMatch(/^The request signature we calculated does not match/);
  });

  it('tampered signed header', async () => {
    const req = withHeader(await signHeader(), 'x-amz-target', 'AmazonEC2ContainerServiceV20141113.DeleteCluster');
    const err = await refusal(req);
    expect(err.code).toBe('InvalidSignatureException');
    expect(err.message).toMatch(/^The request signature we calculated does not match/);
  });

  it('tampered query parameter', async () => {
    const req = await signHeader({ query: { a: '1' } });
    const err = await refusal({ ...req, url: req.url.replace('a=1', 'a=2') });
    expect(err.code).toBe('InvalidSignatureException');
  });

  it('a signature that is not hex', async () => {
    const req = await signHeader();
    const bad = withHeader(req, 'authorization', authorization(req).replace(/Signature=\w+/, 'Signature=zz'));
    expect((await refusal(bad)).code).toBe('InvalidSignatureException');
  });

  it('UNSIGNED-PAYLOAD unless allowed', async () => {
    const req = await signHeader({ headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    const err = await refusal(req);
    expect([err.code, err.message]).toEqual(['InvalidSignatureException', 'x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted here; the request body must be signed.']);
    await expect(verifySigV4(req, options({ allowUnsignedPayload: true }))).resolves.toBeDefined();
  });

  it('expired presigned request', async () => {
    const req = await presign({}, 60);
    await expect(verifySigV4(req, options({ now: new Date(SIGNED_AT.getTime() + 60_000) }))).resolves.toBeDefined();
    const err = await refusal(req, options({ now: new Date(SIGNED_AT.getTime() + 61_000) }));
    expect(err.code).toBe('InvalidSignatureException');
    expect(err.message).toBe(
      'Request has expired: presigned at 20260101T000000Z for 60 seconds, so valid until 20260101T000100Z; it is now 20260101T000101Z.',
    );
  });

  it('presigned X-Amz-Signature is excluded from the canonical query, everything else is covered', async () => {
    const req = await presign({}, 60);
    const err = await refusal({ ...req, url: req.url.replace('X-Amz-Expires=60', 'X-Amz-Expires=600') });
    expect(err.code).toBe('InvalidSignatureException');
    expect(err.message).toMatch(/^The request signature we calculated does not match/);
  });

  it('presigned request missing its parameters', async () => {
    const req = await presign();
    const url = req.url.replace(/&?X-Amz-Date=[^&]*/, '').replace(/&?X-Amz-SignedHeaders=[^&]*/, '');
    const err = await refusal({ ...req, url });
    expect(err.code).toBe('IncompleteSignatureException');
    expect(err.message).toBe("AWS query-string parameters must include 'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.");
  });

  it('presigned with an expiry beyond a week', async () => {
    const req = await presign();
    const err = await refusal({ ...req, url: req.url.replace('X-Amz-Expires=300', 'X-Amz-Expires=604801') });
    expect(err.code).toBe('IncompleteSignatureException');
    expect(err.message).toContain('X-Amz-Expires');
  });

  it('both forms at once', async () => {
    const pre = await presign();
    const header = await signHeader();
    const err = await refusal({ ...pre, headers: [...pre.headers, ['authorization', authorization(header)]] });
    expect(err.code).toBe('IncompleteSignatureException');
  });

  it('clock skew beyond 5 minutes, past and future, in AWS’s words', async () => {
    const req = await signHeader();
    const past = await refusal(req, options({ now: new Date(SIGNED_AT.getTime() + 5 * 60_000 + 1000) }));
    expect([past.code, past.message]).toEqual([
      'InvalidSignatureException',
      'Signature expired: 20260101T000000Z is now earlier than 20260101T000001Z (20260101T000501Z - 5 min.)',
    ]);
    const future = await refusal(req, options({ now: new Date(SIGNED_AT.getTime() - 5 * 60_000 - 1000) }));
    expect([future.code, future.message]).toEqual([
      'InvalidSignatureException',
      'Signature not yet current: 20260101T000000Z is still later than 20251231T235959Z (20251231T235459Z + 5 min.)',
    ]);
  });

  it('credential scoped to another region', async () => {
    const err = await refusal(await signHeader({ region: 'eu-west-1' }));
    expect([err.code, err.message]).toEqual(['InvalidSignatureException', 'Credential should be scoped to a valid region.']);
  });

  it('credential scoped to another service', async () => {
    const err = await refusal(await signHeader({ service: 'ecr' }));
    expect([err.code, err.message]).toEqual(['InvalidSignatureException', "Credential should be scoped to correct service: 'ecs'."]);
  });

  it('credential scope date not the request date', async () => {
    const req = await signHeader();
    const bad = withHeader(req, 'authorization', authorization(req).replace('/20260101/', '/20251231/'));
    const err = await refusal(bad);
    expect([err.code, err.message]).toEqual([
      'InvalidSignatureException',
      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', from '20260101T000000Z'.",
    ]);
  });

  it('credential scope with a wrong terminator or the wrong number of parts', async () => {
    const req = await signHeader();
    const auth = authorization(req);
    const term = await refusal(withHeader(req, 'authorization', auth.replace('/aws4_request', '/aws5_request')));
    expect([term.code, term.message]).toEqual(['InvalidSignatureException', "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."]);
    const parts = await refusal(withHeader(req, 'authorization', auth.replace('/us-east-1/', '/')));
    expect(parts.code).toBe('IncompleteSignatureException');
    expect(parts.message).toMatch(/^Credential must have exactly 5 slash-delimited elements, e.g. keyid\/date\/region\/service\/term, got '/);
  });

  it('host not among the signed headers', async () => {
    const signed = await signer({}).sign(request({}), { signingDate: SIGNED_AT, unsignableHeaders: new Set(['host']) });
    const req = toSignedRequest(signed as HttpRequest, BODY);
    expect(authorization(req)).not.toMatch(/SignedHeaders=[^,]*host/);
    const err = await refusal(req);
    expect([err.code, err.message]).toEqual(['InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."]);
  });

  it('a signed header missing from the request', async () => {
    const err = await refusal(withHeader(await signHeader(), 'x-amz-target', undefined));
    expect([err.code, err.message]).toEqual(['IncompleteSignatureException', "'x-amz-target' is named as a SignedHeader, but it does not exist in the HTTP request."]);
  });

  it('malformed Authorization headers, naming what is missing', async () => {
    const req = await signHeader();
    const cases: [string, string][] = [
      [
        'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000001/20260101/us-east-1/ecs/aws4_request',
        "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000001/20260101/us-east-1/ecs/aws4_request",
      ],
      [
        'AWS4-HMAC-SHA256',
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256",
      ],
      [
        'AWS4-HMAC-SHA256 Credential= AKIAEXAMPLE000000001/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=ab',
        "'AKIAEXAMPLE000000001/20260101/us-east-1/ecs/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential= AKIAEXAMPLE000000001/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=ab'.",
      ],
      ['Bearer abc', "Unsupported AWS 'algorithm': 'Bearer'; Berth accepts AWS4-HMAC-SHA256 (Signature Version 4) only."],
    ];
    for (const [value, message] of cases) {
      const err = await refusal(withHeader(req, 'authorization', value));
      expect([err.code, err.message]).toEqual(['IncompleteSignatureException', message]);
    }
  });

  it('Authorization without any date header', async () => {
    const err = await refusal(withHeader(await signHeader(), 'x-amz-date', undefined));
    expect(err.code).toBe('IncompleteSignatureException');
    expect(err.message).toMatch(/^Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header\. Authorization=AWS4-HMAC-SHA256 /);
  });

  it('an X-Amz-Date that is not ISO 8601 basic', async () => {
    const err = await refusal(withHeader(await signHeader(), 'x-amz-date', '2026-01-01T00:00:00Z'));
    expect(err.code).toBe('IncompleteSignatureException');
    expect(err.message).toBe("Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601");
    expect((await refusal(withHeader(await signHeader(), 'x-amz-date', '20261340T000000Z'))).code).toBe('IncompleteSignatureException');
  });

  it('session tokens: missing, unexpected or wrong', async () => {
    const temp = { ...KEY, sessionToken: 'token-123' };
    const opts = options({ lookup: () => Promise.resolve(temp) });
    for (const req of [
      await signHeader(),
      await signHeader({ credential: { sessionToken: 'token-456' } }),
      await presign({ credential: { sessionToken: 'token-456' } }),
    ]) {
      expect((await refusal(req, opts)).code).toBe('UnrecognizedClientException');
    }
    expect((await refusal(await signHeader({ credential: { sessionToken: 'token-123' } }))).code).toBe('UnrecognizedClientException');
  });
});

describe('formatAmzDate', () => {
  it('drops separators and milliseconds', () => {
    expect(formatAmzDate(new Date('2026-03-04T05:06:07.890Z'))).toBe('20260304T050607Z');
  });
});

describe('signJsonPost', () => {
  it('signs requests that the verifier accepts, and a changed body does not pass', async () => {
    const credentials = { accessKeyId: 'AKIDSIGNJSONPOST0001', secretAccessKey: 'secret-for-sign-json-post' };
    const now = new Date('2026-11-22T06:00:00Z');
    const payload = '{"cluster":"default"}';
    const headers = signJsonPost({ host: '127.0.0.1:4566', target: 'AmazonEC2ContainerServiceV20141113.ListTasks', payload, credentials, region: 'us-east-1', service: 'ecs', now });
    const lookup = (id: string) => Promise.resolve(id === credentials.accessKeyId ? { ...credentials, accountId: '000000000000' } : undefined);
    const request = (body: string) => ({ method: 'POST', url: '/', headers: Object.entries(headers), body: Buffer.from(body) });
    const ok = await verifySigV4(request(payload), { region: 'us-east-1', service: 'ecs', now, lookup });
    expect(ok.accessKeyId).toBe(credentials.accessKeyId);
    await expect(verifySigV4(request('{"cluster":"other"}'), { region: 'us-east-1', service: 'ecs', now, lookup })).rejects.toMatchObject({ code: 'InvalidSignatureException' });
  });
});
