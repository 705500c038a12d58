/**
 * Verifies AWS Signature Version 4 on incoming requests, in both the Authorization-header and the
 * presigned-query form, and fails the way AWS does so that SDKs and the CLI show familiar errors.
 * The edge calls it on every API request before anything is decoded.
 *
 * Canonicalisation follows what botocore and the Smithy signers produce for non-S3 services: the
 * path with dot segments and empty segments removed, then URI-encoded again (so `%` becomes `%25`);
 * query pairs decoded, re-encoded with RFC 3986 unreserved characters kept, and sorted; header
 * values trimmed with inner runs of spaces collapsed and repeated headers joined with commas.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BerthError } from '../protocols/index.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** AWS refuses a header-signed request whose date is more than 5 minutes off the server clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** A presigned request may live at most a week: the signing key is only derived per day anyway. */
export const MAX_PRESIGN_EXPIRES_SECONDS = 604_800;

export const MSG_MISSING_TOKEN = 'Missing Authentication Token';
export const MSG_INVALID_TOKEN = 'The security token included in the request is invalid.';
export const MSG_SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** What the verifier needs to know about an access key. */
export interface SigningCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly accountId: string;
  /** Temporary credentials (task roles) carry a session token the request must present. */
  readonly sessionToken?: string;
}

/** Finds an active access key by id; undefined when unknown or inactive. */
export type CredentialLookup = (accessKeyId: string) => Promise<SigningCredential | undefined>;

/** A request as it arrived, before any decoding: what a signature covers. */
export interface SignedRequest {
  readonly method: string;
  /** The request target as received: path plus optional `?query`, still percent-encoded. */
  readonly url: string;
  /** Header lines as received (any case); a header sent twice appears twice, in order. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
}

export interface VerifyOptions {
  /** The server's region; the credential scope must name it. */
  readonly region: string;
  /** The signing name of the service the request targets; undefined skips the check. */
  readonly service?: string | undefined;
  readonly now: Date;
  readonly lookup: CredentialLookup;
  /**
   * Accept `x-amz-content-sha256: UNSIGNED-PAYLOAD`. Off by default: the JSON and query APIs
   * must have their bodies covered by the signature, and no botocore model for them opts out.
   */
  readonly allowUnsignedPayload?: boolean;
}

/** Who signed a verified request, and for what. */
export interface VerifiedRequest {
  readonly accessKeyId: string;
  readonly accountId: string;
  /** The service and region the credential scope names. */
  readonly service: string;
  readonly region: string;
  readonly form: 'header' | 'presigned';
}

/** The auth parameters, wherever they came from, before any of them is trusted. */
interface AuthParams {
  readonly form: 'header' | 'presigned';
  readonly credential: string;
  readonly signedHeaders: string;
  readonly signature: string;
  /** X-Amz-Date (or the Date header, converted) in ISO 8601 basic format. */
  readonly amzDate: string;
  readonly requestTime: Date;
  readonly expiresSeconds?: number;
  readonly securityToken: string | undefined;
  readonly contentSha256: string | undefined;
}

const incomplete = (message: string) => new BerthError('IncompleteSignatureException', message);
const invalid = (message: string, cause?: unknown) =>
  new BerthError('InvalidSignatureException', message, cause === undefined ? undefined : { cause });

/**
 * Checks a request's SigV4 signature and returns who signed it; throws the BerthError AWS would
 * answer with otherwise. Nothing in the request is trusted until this resolves.
 *
 * @example
 * const who = await verifySigV4(req, { region: 'us-east-1', service: 'ecs', now: new Date(), lookup });
 */
export async function verifySigV4(req: SignedRequest, options: VerifyOptions): Promise<VerifiedRequest> {
  const headers = headerMap(req.headers);
  const { path, query } = splitUrl(req.url);
  const queryPairs = parseQuery(query);
  const auth = readAuthParams(headers, queryPairs);

  // Credential = AKID/date/region/service/aws4_request
  const scope = auth.credential.split('/');
  if (scope.length !== 5) {
    throw incomplete(
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${auth.credential}'`,
    );
  }
  const [accessKeyId, scopeDate, scopeRegion, scopeService, terminator] = scope as [string, string, string, string, string];
  if (terminator !== 'aws4_request') {
    throw invalid(`Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`);
  }
  if (scopeDate !== auth.amzDate.slice(0, 8)) {
    throw invalid(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${auth.amzDate.slice(0, 8)}', from '${auth.amzDate}'.`,
    );
  }
  if (scopeRegion !== options.region) throw invalid('Credential should be scoped to a valid region.');
  if (options.service !== undefined && scopeService !== options.service) {
    throw invalid(`Credential should be scoped to correct service: '${options.service}'.`);
  }

  const signedHeaderNames = auth.signedHeaders.split(';');
  if (!signedHeaderNames.includes('host')) {
    throw invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  for (const name of signedHeaderNames) {
    if (!headers.has(name)) throw incomplete(`'${name}' is named as a SignedHeader, but it does not exist in the HTTP request.`);
  }

  checkTime(auth, options.now);

  const credential = await options.lookup(accessKeyId);
  if (credential === undefined) throw new BerthError('UnrecognizedClientException', MSG_INVALID_TOKEN);
  if (!sameToken(credential.sessionToken, auth.securityToken)) {
    throw new BerthError('UnrecognizedClientException', MSG_INVALID_TOKEN);
  }

  const payloadHash = choosePayloadHash(auth.contentSha256, req.body, options.allowUnsignedPayload === true);
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalUri(path),
    canonicalQuery(queryPairs, auth.form === 'presigned'),
    signedHeaderNames.map((name) => `${name}:${canonicalHeaderValue(headers.get(name) ?? [])}\n`).join(''),
    auth.signedHeaders,
    payloadHash,
  ].join('\n');
  const credentialScope = `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`;
  const stringToSign = [SIGV4_ALGORITHM, auth.amzDate, credentialScope, sha256Hex(canonicalRequest)].join('\n');
  const expected = signatureFor(credential.secretAccessKey, scopeDate, scopeRegion, scopeService, stringToSign);

  if (!sameHex(expected, auth.signature)) {
    // The canonical forms are what a client developer needs to find a signing bug; they go in the
    // cause (logged, never sent) since AWS's JSON services do not echo them.
    throw invalid(MSG_SIGNATURE_MISMATCH, new Error(`canonical request:\n${canonicalRequest}\nstring to sign:\n${stringToSign}`));
  }
  return { accessKeyId, accountId: credential.accountId, service: scopeService, region: scopeRegion, form: auth.form };
}

/**
 * Derives the SigV4 signature for a string to sign: HMAC chain over date, region, service and
 * the terminator, keyed from the secret. Exported for tests and for signing our own requests.
 */
export function signatureFor(secret: string, date: string, region: string, service: string, stringToSign: string): string {
  return createHmac('sha256', signingKey(secret, date, region, service)).update(stringToSign, 'utf8').digest('hex');
}

// A signing key depends only on (secret, day, region, service): deriving it costs four HMACs, so
// every request of a day after the first reuses it. Bounded: cleared whole when full.
const signingKeys = new Map<string, Buffer>();
const MAX_SIGNING_KEYS = 1024;

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${secret}\n${date}\n${region}\n${service}`;
  let key = signingKeys.get(id);
  if (key === undefined) {
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
    if (signingKeys.size >= MAX_SIGNING_KEYS) signingKeys.clear();
    signingKeys.set(id, key);
  }
  return key;
}

/** Formats a time as SigV4 wants it: ISO 8601 basic, UTC, whole seconds (20260101T000000Z). */
export function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// ---------------------------------------------------------------------------------------------
// Reading the auth parameters.

function readAuthParams(headers: Map<string, string[]>, query: readonly QueryPair[]): AuthParams {
  const authorization = headers.get('authorization');
  const algorithmParam = queryParam(query, 'X-Amz-Algorithm');
  if (authorization !== undefined && algorithmParam !== undefined) {
    throw incomplete('Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.');
  }
  if (authorization !== undefined) return readHeaderAuth(authorization.join(','), headers);
  const presignParams = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature'];
  if (presignParams.some((name) => queryParam(query, name) !== undefined)) return readPresignAuth(query, headers);
  throw new BerthError('MissingAuthenticationTokenException', MSG_MISSING_TOKEN);
}

function readHeaderAuth(authorization: string, headers: Map<string, string[]>): AuthParams {
  const trimmed = authorization.trim();
  const space = trimmed.search(/\s/);
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  const rest = space < 0 ? '' : trimmed.slice(space + 1);
  if (algorithm !== SIGV4_ALGORITHM) {
    throw incomplete(`Unsupported AWS 'algorithm': '${algorithm}'; Berth accepts ${SIGV4_ALGORITHM} (Signature Version 4) only.`);
  }
  const params = new Map<string, string>();
  // AWS separates the parameters by commas and/or whitespace: 'Credential= AKID/...' (a pasted
  // key with a stray space) is a Credential with no value followed by a stray token.
  for (const part of rest.split(/[,\s]+/)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) {
      throw incomplete(`'${part}' not a valid key=value pair (missing equal-sign) in Authorization header: '${authorization}'.`);
    }
    params.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const dateHeader = headers.get('x-amz-date')?.[0] ?? headers.get('date')?.[0];
  const problems = (['Credential', 'Signature', 'SignedHeaders'] as const)
    .filter((name) => !params.get(name))
    .map((name) => `Authorization header requires '${name}' parameter.`);
  if (dateHeader === undefined) problems.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  if (problems.length > 0) throw incomplete(`${problems.join(' ')} Authorization=${authorization}`);

  const amzDate = headers.has('x-amz-date') ? parseAmzDate(dateHeader!) : httpDateToAmz(dateHeader!);
  return {
    form: 'header',
    credential: params.get('Credential')!,
    signedHeaders: params.get('SignedHeaders')!,
    signature: params.get('Signature')!,
    amzDate: amzDate.text,
    requestTime: amzDate.time,
    securityToken: headers.get('x-amz-security-token')?.join(','),
    contentSha256: headers.get('x-amz-content-sha256')?.[0],
  };
}

function readPresignAuth(query: readonly QueryPair[], headers: Map<string, string[]>): AuthParams {
  const required = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'];
  const missing = required.filter((name) => !queryParam(query, name));
  if (missing.length > 0) {
    throw incomplete(`AWS query-string parameters must include ${missing.map((m) => `'${m}'`).join(', ')}. Re-examine the query-string parameters.`);
  }
  const algorithm = queryParam(query, 'X-Amz-Algorithm')!;
  if (algorithm !== SIGV4_ALGORITHM) {
    throw incomplete(`Unsupported AWS 'algorithm': '${algorithm}'; Berth accepts ${SIGV4_ALGORITHM} (Signature Version 4) only.`);
  }
  const expiresText = queryParam(query, 'X-Amz-Expires')!;
  const expires = /^\d{1,7}$/.test(expiresText) ? Number(expiresText) : NaN;
  if (!(expires >= 1 && expires <= MAX_PRESIGN_EXPIRES_SECONDS)) {
    throw incomplete(`X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_PRESIGN_EXPIRES_SECONDS} (a week), got '${expiresText}'.`);
  }
  const amzDate = parseAmzDate(queryParam(query, 'X-Amz-Date')!);
  return {
    form: 'presigned',
    credential: queryParam(query, 'X-Amz-Credential')!,
    signedHeaders: queryParam(query, 'X-Amz-SignedHeaders')!,
    signature: queryParam(query, 'X-Amz-Signature')!,
    amzDate: amzDate.text,
    requestTime: amzDate.time,
    expiresSeconds: expires,
    securityToken: queryParam(query, 'X-Amz-Security-Token'),
    contentSha256: headers.get('x-amz-content-sha256')?.[0] ?? queryParam(query, 'X-Amz-Content-Sha256'),
  };
}

function parseAmzDate(text: string): { text: string; time: Date } {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text.trim());
  if (m !== null) {
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    const time = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    // Date.UTC rolls 20261340 over into 2027; a date that does not round-trip is not a date.
    if (formatAmzDate(time) === text.trim()) return { text: text.trim(), time };
  }
  throw incomplete(`Date must be in ISO-8601 'basic format'. Got '${text}'. See http://en.wikipedia.org/wiki/ISO_8601`);
}

function httpDateToAmz(text: string): { text: string; time: Date } {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw incomplete(`Date header is not an HTTP date: '${text}'.`);
  const time = new Date(Math.floor(ms / 1000) * 1000);
  return { text: formatAmzDate(time), time };
}

function checkTime(auth: AuthParams, now: Date): void {
  const skewFloor = new Date(now.getTime() - MAX_CLOCK_SKEW_MS);
  const skewCeiling = new Date(now.getTime() + MAX_CLOCK_SKEW_MS);
  const nowText = formatAmzDate(now);
  if (auth.requestTime > skewCeiling) {
    throw invalid(`Signature not yet current: ${auth.amzDate} is still later than ${formatAmzDate(skewCeiling)} (${nowText} + 5 min.)`);
  }
  if (auth.expiresSeconds === undefined) {
    if (auth.requestTime < skewFloor) {
      throw invalid(`Signature expired: ${auth.amzDate} is now earlier than ${formatAmzDate(skewFloor)} (${nowText} - 5 min.)`);
    }
    return;
  }
  const expiresAt = new Date(auth.requestTime.getTime() + auth.expiresSeconds * 1000);
  if (now > expiresAt) {
    throw invalid(
      `Request has expired: presigned at ${auth.amzDate} for ${auth.expiresSeconds} seconds, so valid until ${formatAmzDate(expiresAt)}; it is now ${nowText}.`,
    );
  }
}

/** Both absent, or both present and equal; compared in constant time. */
function sameToken(expected: string | undefined, given: string | undefined): boolean {
  if (expected === undefined || expected === '') return given === undefined || given === '';
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

function choosePayloadHash(declared: string | undefined, body: Uint8Array, allowUnsigned: boolean): string {
  const actual = sha256Hex(body);
  if (declared === undefined) return actual;
  if (declared === UNSIGNED_PAYLOAD) {
    if (allowUnsigned) return UNSIGNED_PAYLOAD;
    throw invalid(`x-amz-content-sha256: ${UNSIGNED_PAYLOAD} is not accepted here; the request body must be signed.`);
  }
  // The declared hash is what the client signed; holding it to the real body is what makes the
  // signature cover the body at all.
  if (declared !== actual) throw invalid("The provided 'x-amz-content-sha256' header does not match what was computed.");
  return declared;
}

// ---------------------------------------------------------------------------------------------
// Canonical forms.

function headerMap(lines: readonly (readonly [string, string])[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [name, value] of lines) {
    const key = name.toLowerCase();
    const values = map.get(key);
    if (values === undefined) map.set(key, [value]);
    else values.push(value);
  }
  return map;
}

function canonicalHeaderValue(values: readonly string[]): string {
  return values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',');
}

function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  const target = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1).split('#', 1)[0]!;
  // An absolute-form target (`POST http://host/ HTTP/1.1`, as proxies send) signs its path only.
  const path = /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '') : target;
  return { path, query };
}

/** Remove dot segments and empty segments (AWS's rule for non-S3 services), then encode again. */
function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = rawPath.endsWith('/') && segments.length > 0 ? '/' : '';
  const normalized = `/${segments.join('/')}${trailing}`;
  return uriEncode(Buffer.from(normalized, 'utf8'), true);
}

interface QueryPair {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly keyText: string;
}

function parseQuery(query: string): QueryPair[] {
  const pairs: QueryPair[] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = percentDecode(eq < 0 ? part : part.slice(0, eq));
    const value = percentDecode(eq < 0 ? '' : part.slice(eq + 1));
    pairs.push({ key, value, keyText: key.toString('utf8') });
  }
  return pairs;
}

function queryParam(pairs: readonly QueryPair[], name: string): string | undefined {
  const found = pairs.filter((p) => p.keyText === name);
  if (found.length > 1) throw incomplete(`The query-string parameter '${name}' appears more than once.`);
  return found[0]?.value.toString('utf8');
}

function canonicalQuery(pairs: readonly QueryPair[], presigned: boolean): string {
  return pairs
    .filter((p) => !(presigned && p.keyText === 'X-Amz-Signature'))
    .map((p) => [uriEncode(p.key, false), uriEncode(p.value, false)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** Decodes %XX escapes to bytes, leaving everything else (including '+') as its UTF-8 bytes. */
function percentDecode(text: string): Buffer {
  const out: number[] = [];
  const raw = Buffer.from(text, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte === 0x25 && i + 2 < raw.length && isHex(raw[i + 1]!) && isHex(raw[i + 2]!)) {
      out.push(parseInt(String.fromCharCode(raw[i + 1]!, raw[i + 2]!), 16));
      i += 2;
    } else {
      out.push(byte);
    }
  }
  return Buffer.from(out);
}

const isHex = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const isUnreserved = (b: number) =>
  (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;

/** RFC 3986 encoding as SigV4 wants it: unreserved bytes kept, everything else %XX upper-case. */
function uriEncode(bytes: Uint8Array, keepSlash: boolean): string {
  let out = '';
  for (const b of bytes) {
    out += isUnreserved(b) || (keepSlash && b === 0x2f) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** Constant-time comparison of two hex signatures; a malformed one simply does not match. */
function sameHex(expected: string, given: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(given)) return false;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(given, 'hex'));
}

export interface JsonPostSigning {
  /** host[:port] exactly as the Host header will carry it. */
  readonly host: string;
  /** X-Amz-Target, e.g. 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken'. */
  readonly target: string;
  readonly payload: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  readonly region: string;
  readonly service: string;
  readonly now: Date;
}

/**
 * The headers of a SigV4-signed JSON 1.1 `POST /` — what Berth's own clients (the agent, the
 * benchmarks) send. The SDKs sign the same way; the verifier above checks both.
 *
 * @example const headers = signJsonPost({ host: '127.0.0.1:4566', target: 'AmazonEC2ContainerServiceV20141113.ListClusters', payload: '{}', credentials, region: 'us-east-1', service: 'ecs', now: new Date() });
 */
export function signJsonPost(req: JsonPostSigning): Record<string, string> {
  const amzDate = formatAmzDate(req.now);
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${req.region}/${req.service}/aws4_request`;
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.1',
    host: req.host,
    'x-amz-date': amzDate,
    ...(req.credentials.sessionToken === undefined ? {} : { 'x-amz-security-token': req.credentials.sessionToken }),
    'x-amz-target': req.target,
  };
  // Header names are already lower-case and sorted, as the canonical request wants them.
  const names = Object.keys(headers);
  const canonical = ['POST', '/', '', ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), sha256Hex(req.payload)].join('\n');
  const signature = signatureFor(req.credentials.secretAccessKey, day, req.region, req.service, [SIGV4_ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n'));
  headers['authorization'] = `${SIGV4_ALGORITHM} Credential=${req.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  headers['content-length'] = String(Buffer.byteLength(req.payload));
  return headers;
}
