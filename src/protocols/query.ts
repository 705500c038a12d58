/**
 * The AWS query protocol (ELBv2 and later CloudWatch's older clients): form-encoded `Action=`
 * requests in, `<ErrorResponse>` XML out. For now only the error shape, form decoding and the
 * service contract; ELBv2 brings the result encoder when it lands.
 */
import { BerthError } from './errors.js';
import type { ErrorCode } from './errors.js';
import type { WireResponse } from './json.js';
import type { RequestContext } from './types.js';

/** The namespace AWS's own front end uses for errors no particular service claims. */
export const AWS_FAULT_XMLNS = 'http://webservices.amazon.com/AWSFault/2005-15-09';

/** A decoded query-protocol request: the action, the API version and every other parameter. */
export interface QueryRequest {
  readonly action: string;
  readonly version: string | undefined;
  /** All form parameters except Action and Version, flattened as sent (`Names.member.1`, ...). */
  readonly params: Readonly<Record<string, string>>;
}

/** One action: decoded parameters in, a complete XML reply body out. */
export type QueryOperation = (params: Readonly<Record<string, string>>, ctx: RequestContext) => Promise<string>;

/**
 * A query-protocol service as the edge sees it. All of them share `POST /`, so the edge tells
 * them apart by the SigV4 credential scope's service (`elasticloadbalancing`), then by `Action`.
 */
export interface QueryService {
  /** The SigV4 service name, e.g. 'elasticloadbalancing'. */
  readonly signingName: string;
  /** The reply namespace, e.g. 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/'. */
  readonly xmlns: string;
  readonly operations: Readonly<Record<string, QueryOperation>>;
}

/** True when a Content-Type names a form body (parameters such as charset ignored). */
export function isFormContentType(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

/**
 * Decodes a form body into Action, Version and the rest. A body without Action is refused with
 * InvalidAction, the code AWS query services use for a request they cannot dispatch.
 *
 * @example decodeQueryForm('Action=DescribeLoadBalancers&Version=2015-12-01')
 */
export function decodeQueryForm(body: Uint8Array | string): QueryRequest {
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const params: Record<string, string> = {};
  let action: string | undefined;
  let version: string | undefined;
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === 'Action') action = value;
    else if (key === 'Version') version = value;
    else params[key] = value;
  }
  if (action === undefined || action === '') {
    throw new BerthError('InvalidAction', 'The request must contain the parameter Action.');
  }
  return { action, version, params };
}

/**
 * Query services name the same failures differently from JSON services (`InvalidClientTokenId`
 * where JSON says `UnrecognizedClientException`), and signature failures are 403 there. Codes
 * not listed drop their "Exception" suffix, as ELBv2's do (`TargetGroupNotFound`).
 */
const QUERY_CODES: Partial<Record<ErrorCode, { readonly code: string; readonly status?: number }>> = {
  MissingAuthenticationTokenException: { code: 'MissingAuthenticationToken', status: 403 },
  IncompleteSignatureException: { code: 'IncompleteSignature' },
  InvalidSignatureException: { code: 'SignatureDoesNotMatch', status: 403 },
  UnrecognizedClientException: { code: 'InvalidClientTokenId', status: 403 },
  SerializationException: { code: 'MalformedQueryString' },
  UnknownOperationException: { code: 'InvalidAction' },
  ThrottlingException: { code: 'Throttling' },
  ValidationException: { code: 'ValidationError' },
  ServerException: { code: 'InternalFailure' },
};

/** The code and status a BerthError carries on the query-protocol wire. */
export function queryErrorCode(err: BerthError): { code: string; status: number } {
  const mapped = QUERY_CODES[err.code];
  if (mapped !== undefined) return { code: mapped.code, status: mapped.status ?? err.status };
  const code = err.code.endsWith('Exception') ? err.code.slice(0, -'Exception'.length) : err.code;
  return { code, status: err.status };
}

const XML_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/**
 * Escapes text for XML content and attributes. Characters XML 1.0 forbids outright (most C0
 * controls, lone surrogates) become U+FFFD, since an error message may echo user input and one
 * stray byte would make the whole reply unparseable for botocore.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/[&<>"']/g, (c) => XML_ENTITIES[c] ?? c);
}

/**
 * Encodes an error in the query protocol's shape. `Type` is Sender for client errors and
 * Receiver for faults; the RequestId sits in the body as well as the x-amzn-RequestId header.
 *
 * @example encodeQueryError(new BerthError('InvalidAction', 'No such action.'), requestId, ELB_XMLNS)
 */
export function encodeQueryError(err: BerthError, requestId: string, xmlns: string = AWS_FAULT_XMLNS, status?: number): WireResponse {
  const wire = queryErrorCode(err);
  const httpStatus = status ?? wire.status;
  const type = httpStatus >= 500 ? 'Receiver' : 'Sender';
  const body =
    `<ErrorResponse xmlns="${escapeXml(xmlns)}">` +
    `<Error><Type>${type}</Type><Code>${escapeXml(wire.code)}</Code><Message>${escapeXml(err.message)}</Message></Error>` +
    `<RequestId>${escapeXml(requestId)}</RequestId>` +
    `</ErrorResponse>`;
  return { status: httpStatus, headers: { 'content-type': 'text/xml' }, body };
}
