/**
 * The API edge: one HTTP port in front of every AWS API. It routes by X-Amz-Target (JSON 1.1/1.0)
 * or by a form's Action (query protocol), authenticates with SigV4, calls the operation and writes
 * AWS-shaped replies; path mounts (`/v2/` registry, `/agent` WebSocket) bring their own handling.
 *
 * Every API request passes the same gates, in this order: body size limit → SigV4 over the raw
 * body bytes → routing and decoding → the operation → encoding. Nothing reaches an operation
 * unauthenticated, and nothing about the API (not even whether a target exists) is told to an
 * unauthenticated caller.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  AMZ_JSON_1_1,
  AWS_FAULT_XMLNS,
  BerthError,
  decodeJsonBody,
  decodeQueryForm,
  encodeJsonError,
  encodeJsonResult,
  encodeQueryError,
  isFormContentType,
  jsonMediaType,
  toBerthError,
} from '../protocols/index.js';
import type { AmzJsonMediaType, JsonService, QueryService, RequestContext, WireResponse } from '../protocols/index.js';
import { consoleLogger } from './logger.js';
import type { Logger } from './logger.js';
import { verifySigV4 } from './sigv4.js';
import type { CredentialLookup, SignedRequest, VerifiedRequest } from './sigv4.js';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const REQUEST_ID_HEADER = 'x-amzn-RequestId';

/** Serves a path prefix itself: the registry streams blobs and does its own token auth. */
export type MountHandler = (req: IncomingMessage, res: ServerResponse, ctx: { readonly requestId: string }) => void | Promise<void>;
/** Takes over an HTTP upgrade (WebSocket) on a path prefix: the agent session. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void | Promise<void>;

export interface EdgeOptions {
  /** JSON 1.1/1.0 services, found by the X-Amz-Target prefix. */
  readonly services: readonly JsonService[];
  /** Query-protocol services (ELBv2), found by the credential scope's service, then Action. */
  readonly queryServices?: readonly QueryService[];
  /** The server's region: credential scopes must name it, and operations see it. */
  readonly region: string;
  /**
   * The account this server serves. Keys of any other account are unknown here (so a store
   * restored from another installation cannot act under a foreign account's ARNs).
   */
  readonly accountId: string;
  /** Finds access keys; AccessKeyCache.lookup in the server. */
  readonly credentials: CredentialLookup;
  /** API request bodies above this are refused with 413 (default 1 MiB). Mounts set their own. */
  readonly maxBodyBytes?: number;
  /** The clock; tests pin it. */
  readonly now?: () => Date;
  readonly logger?: Logger;
  /** GET /healthz answers 200 when true, 503 while false (default: always ready). */
  readonly isReady?: () => boolean;
}

/** A request for the in-process helper: no socket, same code path as the listener. */
export interface EdgeRequestInit {
  readonly method?: string;
  /** Sent exactly as given: nothing (not even Host) is added, so a signature sees what it signed. */
  readonly headers?: Readonly<Record<string, string>> | readonly (readonly [string, string])[];
  /** A whole body, or chunks as they would stream in (for the streaming size limit). */
  readonly body?: string | Uint8Array | AsyncIterable<Uint8Array>;
}

export interface EdgeResponse {
  readonly status: number;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  json(): unknown;
}

/**
 * The edge is a node:http request listener (`http.createServer(edge)`) with a few members:
 * `upgrade` for the server's 'upgrade' event, `mount`/`mountUpgrade` to hand path prefixes to
 * their own handlers, and `request` to drive the API in-process in tests.
 */
export interface Edge {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The listener for the server's 'upgrade' event. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * Hands every request under `prefix` to `handler`, before any API routing and without the
   * API's auth or size limit. `'/v2/'` matches `/v2`, `/v2/` and everything below, never `/v2x`.
   */
  mount(prefix: string, handler: MountHandler): void;
  /** Hands HTTP upgrades (WebSocket) under `prefix` to `handler`; others are refused with 404. */
  mountUpgrade(prefix: string, handler: UpgradeHandler): void;
  /** Runs one API request in-process. Mounted paths are served by their handlers, not here. */
  request(url: string, init?: EdgeRequestInit): Promise<EdgeResponse>;
}

/** The API request as the core sees it, whichever way it arrived. */
interface ApiRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: AsyncIterable<Uint8Array>;
  readonly requestId: string;
}

interface ApiResponse extends WireResponse {
  /** The body was not read to its end: the connection cannot carry another request. */
  readonly closeConnection?: boolean;
}

/**
 * Creates the edge.
 *
 * @example
 * const edge = createEdge({ services: [ecs], region: 'us-east-1', accountId, credentials: keys.lookup });
 * const server = http.createServer(edge).on('upgrade', edge.upgrade);
 * edge.mount('/v2/', registry.handle);
 */
export function createEdge(options: EdgeOptions): Edge {
  const logger = options.logger ?? consoleLogger;
  const now = options.now ?? (() => new Date());
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const isReady = options.isReady ?? (() => true);
  const jsonServices = indexBy(options.services, (s) => s.targetPrefix, 'target prefix');
  const queryServices = indexBy(options.queryServices ?? [], (s) => s.signingName, 'signing name');
  const mounts: { prefix: string; handler: MountHandler }[] = [];
  const upgrades: { prefix: string; handler: UpgradeHandler }[] = [];

  // A key of another account is as unknown here as one never issued.
  const lookup: CredentialLookup = async (accessKeyId) => {
    const credential = await options.credentials(accessKeyId);
    return credential?.accountId === options.accountId ? credential : undefined;
  };

  async function handle(req: ApiRequest): Promise<ApiResponse> {
    const { path } = splitTarget(req.url);
    const header = (name: string) => req.headers.find(([n]) => n.toLowerCase() === name)?.[1];
    const method = req.method.toUpperCase();

    if ((method === 'GET' || method === 'HEAD') && path === '/healthz') {
      const ready = isReady();
      return json(ready ? 200 : 503, { status: ready ? 'ok' : 'starting' });
    }
    if ((method === 'GET' || method === 'HEAD') && path === '/') {
      return json(200, {
        service: 'berth',
        message: 'This is the Berth API endpoint: point the AWS CLI or an SDK here with --endpoint-url. GET /healthz reports readiness.',
      });
    }
    const target = header('x-amz-target');
    if (method === 'POST' && target !== undefined) return handleJson(req, target, header('content-type'));
    if (method === 'POST' && isFormContentType(header('content-type'))) return handleQuery(req);
    return encodeJsonError(
      new BerthError(
        'UnknownOperationException',
        `Nothing is served at ${method} ${path}: AWS JSON requests are POSTs with an X-Amz-Target header, query requests are form POSTs with Action=.`,
      ),
      AMZ_JSON_1_1,
      404,
    );
  }

  async function handleJson(req: ApiRequest, target: string, contentType: string | undefined): Promise<ApiResponse> {
    let mediaType: AmzJsonMediaType = AMZ_JSON_1_1;
    try {
      const dot = target.indexOf('.');
      const prefix = dot < 0 ? target : target.slice(0, dot);
      const operationName = dot < 0 ? '' : target.slice(dot + 1);
      const service = jsonServices.get(prefix);
      const { body, time, caller } = await admit(req, service?.signingName);

      if (service === undefined) {
        throw new BerthError('UnknownOperationException', `No service has the target prefix '${prefix}' (X-Amz-Target: ${target}).`);
      }
      const operation = Object.hasOwn(service.operations, operationName) ? service.operations[operationName] : undefined;
      if (operation === undefined) {
        throw new BerthError('UnknownOperationException', `Unknown operation '${operationName}' for ${prefix} (X-Amz-Target: ${target}).`);
      }
      mediaType = jsonMediaType(contentType);
      const input = decodeJsonBody(body);
      const ctx: RequestContext = { requestId: req.requestId, caller, region: options.region, now: time };
      return encodeJsonResult(await operation(input, ctx), mediaType);
    } catch (thrown) {
      const err = report(thrown, req, { target });
      return { ...encodeJsonError(err, mediaType), closeConnection: isTooLarge(err) };
    }
  }

  async function handleQuery(req: ApiRequest): Promise<ApiResponse> {
    let xmlns = AWS_FAULT_XMLNS;
    let action: string | undefined;
    try {
      const { body, time, caller, verified } = await admit(req, undefined);
      const form = decodeQueryForm(body);
      action = form.action;
      const service = queryServices.get(verified.service);
      if (service !== undefined) xmlns = service.xmlns;
      const operation = service !== undefined && Object.hasOwn(service.operations, form.action) ? service.operations[form.action] : undefined;
      if (operation === undefined) {
        throw new BerthError('InvalidAction', `The action ${form.action} is not valid for this web service (signed for '${verified.service}').`);
      }
      const ctx: RequestContext = { requestId: req.requestId, caller, region: options.region, now: time };
      const xml = await operation(form.params, ctx);
      return { status: 200, headers: { 'content-type': 'text/xml' }, body: xml };
    } catch (thrown) {
      const err = report(thrown, req, { action });
      return { ...encodeQueryError(err, req.requestId, xmlns), closeConnection: isTooLarge(err) };
    }
  }

  /** The gates every API request passes before routing: size limit, then SigV4 on the raw bytes. */
  async function admit(req: ApiRequest, signingName: string | undefined) {
    const body = await readBody(req, maxBodyBytes);
    const time = now();
    const signed: SignedRequest = { method: req.method, url: req.url, headers: req.headers, body };
    const verified: VerifiedRequest = await verifySigV4(signed, { region: options.region, service: signingName, now: time, lookup });
    return { body, time, verified, caller: { accessKeyId: verified.accessKeyId, accountId: verified.accountId } };
  }

  /** Turns anything thrown into a BerthError; faults are logged with their cause, never dropped. */
  function report(thrown: unknown, req: ApiRequest, where: Record<string, unknown>): BerthError {
    const err = toBerthError(thrown);
    if (err.isFault) logger.error('request failed', { requestId: req.requestId, ...where, error: err });
    else logger.debug('request refused', { requestId: req.requestId, ...where, code: err.code, message: err.message, cause: err.cause });
    return err;
  }

  function findMount<T extends { prefix: string }>(list: readonly T[], path: string): T | undefined {
    // Longest prefix first, so '/v2/foo/' can be carved out of '/v2/'.
    return list.find((m) => matchesPrefix(m.prefix, path));
  }

  function addMount<T extends { prefix: string }>(list: T[], entry: T): void {
    if (!entry.prefix.startsWith('/')) throw new Error(`mount prefix must start with '/': ${entry.prefix}`);
    if (trimSlash(entry.prefix) === '/') throw new Error("'/' is the API's own; mount a path below it");
    if (list.some((m) => trimSlash(m.prefix) === trimSlash(entry.prefix))) throw new Error(`${entry.prefix} is already mounted`);
    list.push(entry);
    list.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = randomUUID();
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const url = req.url ?? '/';
    const mount = findMount(mounts, splitTarget(url).path);
    if (mount !== undefined) {
      runMount(mount.handler, req, res, requestId);
      return;
    }
    // destroyOnReturn: false — stopping at the size limit only stops reading; the socket must
    // live to carry the 413 (Connection: close ends it after). Node versions differ on whether
    // destroying an unfinished request takes its socket along, so do not ask for it.
    const apiRequest: ApiRequest = {
      method: req.method ?? 'GET',
      url,
      headers: pairs(req.rawHeaders),
      body: req.iterator({ destroyOnReturn: false }),
      requestId,
    };
    handle(apiRequest).then(
      (response) => writeResponse(res, requestId, response),
      (err: unknown) => {
        // handle() answers every error itself; reaching here is a bug in the edge.
        logger.error('edge failed to answer', { requestId, error: err });
        if (!res.headersSent) writeResponse(res, requestId, encodeJsonError(toBerthError(err)));
        else res.destroy();
      },
    );
  };

  function runMount(handler: MountHandler, req: IncomingMessage, res: ServerResponse, requestId: string): void {
    const fail = (err: unknown) => {
      logger.error('mounted handler failed', { requestId, path: req.url, error: err });
      if (!res.headersSent) writeResponse(res, requestId, encodeJsonError(toBerthError(err)));
      else res.destroy(err instanceof Error ? err : undefined);
    };
    try {
      const result = handler(req, res, { requestId });
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const mount = findMount(upgrades, splitTarget(req.url ?? '/').path);
    if (mount === undefined) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const fail = (err: unknown) => {
      logger.error('upgrade handler failed', { path: req.url, error: err });
      socket.destroy();
    };
    try {
      const result = mount.handler(req, socket, head);
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  };

  async function request(url: string, init: EdgeRequestInit = {}): Promise<EdgeResponse> {
    if (findMount(mounts, splitTarget(url).path) !== undefined) {
      throw new Error(`${url} is mounted: test its handler directly or through a real server`);
    }
    const headers = Array.isArray(init.headers)
      ? (init.headers as readonly (readonly [string, string])[])
      : Object.entries((init.headers ?? {}) as Readonly<Record<string, string>>);
    const requestId = randomUUID();
    const response = await handle({ method: init.method ?? 'GET', url, headers, body: chunksOf(init.body), requestId });
    const lower = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    lower[REQUEST_ID_HEADER.toLowerCase()] = requestId;
    if (response.closeConnection) lower['connection'] = 'close';
    return { status: response.status, headers: lower, body: response.body, json: () => JSON.parse(response.body) as unknown };
  }

  return Object.assign(listener, {
    upgrade,
    mount: (prefix: string, handler: MountHandler) => addMount(mounts, { prefix, handler }),
    mountUpgrade: (prefix: string, handler: UpgradeHandler) => addMount(upgrades, { prefix, handler }),
    request,
  });
}

// ---------------------------------------------------------------------------------------------

function isTooLarge(err: BerthError): boolean {
  return err.code === 'RequestEntityTooLargeException';
}

/**
 * Reads an API body up to the limit. A Content-Length over it is refused before a byte is read;
 * a body without one (chunked) is refused as soon as the running total passes the limit, so
 * nothing beyond the limit is ever held in memory.
 */
async function readBody(req: ApiRequest, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new BerthError('RequestEntityTooLargeException', `Request body is larger than the limit of ${limit} bytes.`);
  const declared = req.headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1];
  if (declared !== undefined && /^\d+$/.test(declared.trim()) && Number(declared.trim()) > limit) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of req.body) {
      total += chunk.byteLength;
      if (total > limit) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof BerthError) throw err;
    // The client went away or broke the framing mid-body: its error, not a server fault.
    throw new BerthError('SerializationException', 'The request body ended before it was complete.', { cause: err });
  }
  return Buffer.concat(chunks, total);
}

function writeResponse(res: ServerResponse, requestId: string, response: ApiResponse): void {
  const headers: Record<string, string | number> = {
    ...response.headers,
    [REQUEST_ID_HEADER]: requestId,
    'content-length': Buffer.byteLength(response.body),
  };
  if (response.closeConnection) headers['connection'] = 'close';
  res.writeHead(response.status, headers);
  res.end(response.body);
}

function json(status: number, body: unknown): ApiResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function splitTarget(url: string): { path: string } {
  const q = url.indexOf('?');
  return { path: q < 0 ? url : url.slice(0, q) };
}

const trimSlash = (prefix: string) => (prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);

function matchesPrefix(prefix: string, path: string): boolean {
  const base = trimSlash(prefix);
  return path === base || path.startsWith(`${base}/`);
}

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

async function* chunksOf(body: EdgeRequestInit['body']): AsyncIterable<Uint8Array> {
  if (body === undefined) return;
  if (typeof body === 'string') yield Buffer.from(body, 'utf8');
  else if (body instanceof Uint8Array) yield body;
  else yield* body;
}

function indexBy<T>(items: readonly T[], keyOf: (item: T) => string, what: string): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) {
    const key = keyOf(item);
    if (map.has(key)) throw new Error(`two services share the ${what} '${key}'`);
    map.set(key, item);
  }
  return map;
}
