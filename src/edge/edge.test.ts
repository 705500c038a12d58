/**
 * The edge end to end: in-process requests signed by the SDK's signer against a fake service that
 * records its calls, and a real @aws-sdk/client-ecs client against a real socket. Every refusal
 * checks that the operation was never called.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { ClusterNotFoundException, DescribeClustersCommand, ECSClient, ECSServiceException, ListClustersCommand } from '@aws-sdk/client-ecs';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError } from '../protocols/index.js';
import type { JsonService, OperationInput, QueryService, RequestContext } from '../protocols/index.js';
import { createEdge } from './edge.js';
import type { Edge, EdgeOptions, EdgeRequestInit } from './edge.js';
import type { Logger } from './logger.js';
import type { SigningCredential } from './sigv4.js';

const ACCOUNT = '000000000000';
const KEY: SigningCredential = { accessKeyId: 'AKIAEDGETEST00000001', secretAccessKey: 'edge-secret', accountId: ACCOUNT };
const FOREIGN: SigningCredential = { accessKeyId: 'AKIAFOREIGN000000001', secretAccessKey: 'foreign-secret', accountId: '999999999999' };
const NOW = new Date('2026-01-01T00:00:00Z');
const ECS = 'AmazonEC2ContainerServiceV20141113';
const ELB_XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Call {
  readonly operation: string;
  readonly input: OperationInput | Readonly<Record<string, string>>;
  readonly ctx: RequestContext;
}

/** A fake ECS and a fake ELBv2 that record every call, and a logger that records every line. */
function harness(over: Partial<EdgeOptions> = {}) {
  const calls: Call[] = [];
  const logs: { level: string; message: string; fields: Record<string, unknown> | undefined }[] = [];
  const logger: Logger = {
    error: (message, fields) => logs.push({ level: 'error', message, fields }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
    debug: (message, fields) => logs.push({ level: 'debug', message, fields }),
  };
  const record = (operation: string) => (input: OperationInput, ctx: RequestContext) => {
    calls.push({ operation, input, ctx });
    return Promise.resolve();
  };
  const ecs: JsonService = {
    signingName: 'ecs',
    targetPrefix: ECS,
    operations: {
      ListClusters: async (input, ctx) => {
        await record('ListClusters')(input, ctx);
        return { clusterArns: [] };
      },
      DescribeClusters: async (input, ctx) => {
        await record('DescribeClusters')(input, ctx);
        const [name] = (input['clusters'] as string[] | undefined) ?? ['default'];
        throw new BerthError('ClusterNotFoundException', `Cluster not found: ${name}.`);
      },
      CreateCluster: async (input, ctx) => {
        await record('CreateCluster')(input, ctx);
        throw new Error('disk on fire');
      },
    },
  };
  const elb: QueryService = {
    signingName: 'elasticloadbalancing',
    xmlns: ELB_XMLNS,
    operations: {
      DescribeLoadBalancers: (params, ctx) => {
        calls.push({ operation: 'DescribeLoadBalancers', input: params, ctx });
        return Promise.resolve(`<DescribeLoadBalancersResponse xmlns="${ELB_XMLNS}"><DescribeLoadBalancersResult/></DescribeLoadBalancersResponse>`);
      },
    },
  };
  const keys = new Map([KEY, FOREIGN].map((k) => [k.accessKeyId, k]));
  const edge = createEdge({
    services: [ecs],
    queryServices: [elb],
    region: 'us-east-1',
    accountId: ACCOUNT,
    credentials: (id) => Promise.resolve(keys.get(id)),
    now: () => NOW,
    logger,
    ...over,
  });
  return { edge, calls, logs };
}

interface Sign {
  /** null: no X-Amz-Target at all (query protocol). */
  target?: string | null;
  body?: string;
  contentType?: string;
  host?: string;
  path?: string;
  credential?: Partial<SigningCredential>;
  region?: string;
  service?: string;
  at?: Date;
  headers?: Record<string, string>;
  unsignableHeaders?: Set<string>;
}

function httpRequestFor(s: Sign): HttpRequest {
  const headers: Record<string, string> = {
    host: s.host ?? 'localhost:4566',
    'content-type': s.contentType ?? 'application/x-amz-json-1.1',
    ...s.headers,
  };
  if (s.target !== null) headers['x-amz-target'] = s.target ?? `${ECS}.ListClusters`;
  return new HttpRequest({ method: 'POST', protocol: 'http:', hostname: 'localhost', port: 4566, path: s.path ?? '/', headers, body: s.body ?? '{}' });
}

function signerFor(s: Sign): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: KEY.accessKeyId, secretAccessKey: KEY.secretAccessKey, ...s.credential },
    region: s.region ?? 'us-east-1',
    service: s.service ?? 'ecs',
    sha256: Sha256,
  });
}

/** Signs like the SDK does and returns the arguments for edge.request. */
async function signed(s: Sign = {}): Promise<[string, EdgeRequestInit]> {
  const req = (await signerFor(s).sign(httpRequestFor(s), { signingDate: s.at ?? NOW, unsignableHeaders: s.unsignableHeaders })) as HttpRequest;
  return [req.path, { method: 'POST', headers: req.headers, body: s.body ?? '{}' }];
}

async function presigned(s: Sign = {}, expiresIn = 300): Promise<[string, EdgeRequestInit]> {
  const req = (await signerFor(s).presign(httpRequestFor(s), {
    signingDate: s.at ?? NOW,
    expiresIn,
    unhoistableHeaders: new Set(['x-amz-target']),
  })) as HttpRequest;
  const query = Object.entries(req.query)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return [`${req.path}?${query}`, { method: 'POST', headers: req.headers, body: s.body ?? '{}' }];
}

const withHeaders = ([url, init]: [string, EdgeRequestInit], headers: Record<string, string | undefined>): [string, EdgeRequestInit] => {
  const base = { ...(init.headers as Record<string, string>) };
  for (const [name, value] of Object.entries(headers)) {
    for (const key of Object.keys(base)) if (key.toLowerCase() === name) delete base[key];
    if (value !== undefined) base[name] = value;
  }
  return [url, { ...init, headers: base }];
};

describe('edge: a signed request reaches its operation', () => {
  it('routes by X-Amz-Target, passes the context, and answers in JSON 1.1', async () => {
    const { edge, calls } = harness();
    const res = await edge.request(...(await signed({ body: '{"maxResults":10}' })));
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ clusterArns: [] });
    expect(res.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(res.headers['x-amzn-requestid']).toMatch(UUID);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual({
      operation: 'ListClusters',
      input: { maxResults: 10 },
      ctx: { requestId: res.headers['x-amzn-requestid'], caller: { accessKeyId: KEY.accessKeyId, accountId: ACCOUNT }, region: 'us-east-1', now: NOW },
    });
  });

  it('gives every request its own request id', async () => {
    const { edge } = harness();
    const a = await edge.request(...(await signed()));
    const b = await edge.request(...(await signed()));
    expect(a.headers['x-amzn-requestid']).not.toBe(b.headers['x-amzn-requestid']);
  });

  it('takes an empty body as {}', async () => {
    const { edge, calls } = harness();
    const res = await edge.request(...(await signed({ body: '' })));
    expect(res.status).toBe(200);
    expect(calls[0]!.input).toEqual({});
  });

  it('routes by target whatever the Host header (botocore host prefixes such as data-)', async () => {
    const { edge, calls } = harness();
    const res = await edge.request(...(await signed({ host: 'data-127.0.0.1:4566' })));
    expect(res.status).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it('answers JSON 1.0 requests in JSON 1.0', async () => {
    const { edge } = harness();
    const res = await edge.request(...(await signed({ contentType: 'application/x-amz-json-1.0; charset=utf-8' })));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-amz-json-1.0');
  });

  it('accepts the presigned form', async () => {
    const { edge, calls } = harness();
    const res = await edge.request(...(await presigned()));
    expect(res.status).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it('turns a domain error into its wire shape', async () => {
    const { edge, calls } = harness();
    const res = await edge.request(...(await signed({ target: `${ECS}.DescribeClusters`, body: '{"clusters":["prod"]}' })));
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ __type: 'ClusterNotFoundException', message: 'Cluster not found: prod.' });
    expect(calls).toHaveLength(1);
  });
});

describe('edge: refusals never reach an operation', () => {
  let calls: Call[] = [];
  let edge: Edge;
  let logs: ReturnType<typeof harness>['logs'];
  const fresh = (over: Partial<EdgeOptions> = {}) => ({ edge, calls, logs } = harness(over));
  afterEach(() => {
    expect(calls).toEqual([]);
    // A refusal is the client's error: nothing for the operator's error log.
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  async function expectError(args: [string, EdgeRequestInit], status: number, type: string, message?: string | RegExp) {
    const res = await edge.request(...args);
    expect(res.headers['x-amzn-requestid']).toMatch(UUID);
    expect({ status: res.status, type: (res.json() as { __type: string }).__type }).toEqual({ status, type });
    if (typeof message === 'string') expect((res.json() as { message: string }).message).toBe(message);
    else if (message !== undefined) expect((res.json() as { message: string }).message).toMatch(message);
    return res;
  }

  it('no auth', async () => {
    fresh();
    const args = withHeaders(await signed(), { authorization: undefined });
    await expectError(args, 403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  });

  it('unknown access key', async () => {
    fresh();
    await expectError(await signed({ credential: { accessKeyId: 'AKIANOBODY0000000001' } }), 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  });

  it('a key of another account', async () => {
    fresh();
    await expectError(await signed({ credential: FOREIGN }), 400, 'UnrecognizedClientException');
  });

  it('wrong secret', async () => {
    fresh();
    await expectError(await signed({ credential: { secretAccessKey: 'guess' } }), 400, 'InvalidSignatureException', /^The request signature we calculated does not match/);
  });

  it('tampered body', async () => {
    fresh();
    const [url, init] = await signed({ body: '{"maxResults":1}' });
    await expectError([url, { ...init, body: '{"maxResults":100}' }], 400, 'InvalidSignatureException');
  });

  it('tampered signed header', async () => {
    fresh();
    await expectError(withHeaders(await signed(), { 'x-amz-target': `${ECS}.CreateCluster` }), 400, 'InvalidSignatureException');
  });

  it('expired presigned request', async () => {
    fresh({ now: () => new Date(NOW.getTime() + 61_000) });
    await expectError(await presigned({}, 60), 400, 'InvalidSignatureException', /^Request has expired/);
  });

  it('clock skew beyond 5 minutes', async () => {
    fresh();
    await expectError(await signed({ at: new Date(NOW.getTime() - 6 * 60_000) }), 400, 'InvalidSignatureException', /^Signature expired: 20251231T235400Z is now earlier than/);
  });

  it('credential scoped to another region', async () => {
    fresh();
    await expectError(await signed({ region: 'eu-west-1' }), 400, 'InvalidSignatureException', 'Credential should be scoped to a valid region.');
  });

  it('credential scoped to another service', async () => {
    fresh();
    await expectError(await signed({ service: 'ecr' }), 400, 'InvalidSignatureException', "Credential should be scoped to correct service: 'ecs'.");
  });

  it('host missing from SignedHeaders', async () => {
    fresh();
    await expectError(await signed({ unsignableHeaders: new Set(['host']) }), 400, 'InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  });

  it('malformed Authorization header', async () => {
    fresh();
    const args = withHeaders(await signed(), { authorization: `AWS4-HMAC-SHA256 Credential=${KEY.accessKeyId}/20260101/us-east-1/ecs/aws4_request` });
    await expectError(args, 400, 'IncompleteSignatureException', /^Authorization header requires 'Signature' parameter\. Authorization header requires 'SignedHeaders' parameter\./);
  });

  it('body over the limit, declared by Content-Length: refused before reading', async () => {
    fresh({ maxBodyBytes: 16 });
    const body = '{"a":"0123456789abcdef"}';
    const [url, init] = await signed({ body, headers: { 'content-length': String(body.length) } });
    let pulled = false;
    const chunks = (async function* () {
      await Promise.resolve();
      pulled = true;
      yield Buffer.from(body);
    })();
    const res = await expectError([url, { ...init, body: chunks }], 413, 'RequestEntityTooLargeException', 'Request body is larger than the limit of 16 bytes.');
    expect(pulled).toBe(false);
    expect(res.headers['connection']).toBe('close');
  });

  it('body over the limit, streamed without Content-Length: refused as it passes the limit', async () => {
    fresh({ maxBodyBytes: 1024 });
    const [url, init] = await signed();
    let served = 0;
    const chunks = (async function* () {
      for (let i = 0; i < 10; i++) {
        await Promise.resolve(); // chunks arrive one by one, as from a socket
        served++;
        yield Buffer.alloc(600, 0x20);
      }
    })();
    await expectError([url, { ...init, body: chunks }], 413, 'RequestEntityTooLargeException');
    // 600 + 600 passes 1024: the third chunk is never asked for, so nothing past the limit is held.
    expect(served).toBe(2);
  });

  it('malformed JSON', async () => {
    fresh();
    await expectError(await signed({ body: '{"maxResults":' }), 400, 'SerializationException', /^Request body is not valid JSON: /);
  });

  it('a JSON array body', async () => {
    fresh();
    await expectError(await signed({ body: '[1,2]' }), 400, 'SerializationException', 'Request body must be a JSON object, got an array.');
  });

  it('wrong content type', async () => {
    fresh();
    await expectError(await signed({ contentType: 'application/json' }), 415, 'UnsupportedMediaTypeException', /got Content-Type 'application\/json'/);
  });

  it('unknown target prefix', async () => {
    fresh();
    await expectError(await signed({ target: 'AmazonSQS.ListQueues' }), 400, 'UnknownOperationException', "No service has the target prefix 'AmazonSQS' (X-Amz-Target: AmazonSQS.ListQueues).");
  });

  it('unknown operation, including names every object has', async () => {
    fresh();
    await expectError(await signed({ target: `${ECS}.ListWidgets` }), 400, 'UnknownOperationException', `Unknown operation 'ListWidgets' for ${ECS} (X-Amz-Target: ${ECS}.ListWidgets).`);
    await expectError(await signed({ target: `${ECS}.constructor` }), 400, 'UnknownOperationException');
    await expectError(await signed({ target: `${ECS}.__proto__` }), 400, 'UnknownOperationException');
  });

  it('an unknown target is not revealed before authentication', async () => {
    fresh();
    const args = withHeaders(await signed({ target: 'AmazonSQS.ListQueues' }), { authorization: undefined });
    await expectError(args, 403, 'MissingAuthenticationTokenException');
  });
});

describe('edge: faults', () => {
  it('a thrown plain Error becomes ServerException 500, logged with its cause', async () => {
    const { edge, calls, logs } = harness();
    const res = await edge.request(...(await signed({ target: `${ECS}.CreateCluster` })));
    expect(res.status).toBe(500);
    expect(res.json()).toEqual({ __type: 'ServerException', message: 'An internal error occurred.' });
    expect(calls.map((c) => c.operation)).toEqual(['CreateCluster']);
    const errors = logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fields!['requestId']).toBe(res.headers['x-amzn-requestid']);
    const logged = errors[0]!.fields!['error'] as BerthError;
    expect(logged.code).toBe('ServerException');
    expect((logged.cause as Error).message).toBe('disk on fire');
  });

  it('client errors are not logged as errors', async () => {
    const { edge, logs } = harness();
    await edge.request(...(await signed({ target: `${ECS}.DescribeClusters` })));
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('edge: paths outside the APIs', () => {
  it('GET /healthz answers without auth, 200 when ready and 503 before', async () => {
    let ready = false;
    const { edge } = harness({ isReady: () => ready });
    const before = await edge.request('/healthz');
    expect([before.status, before.json()]).toEqual([503, { status: 'starting' }]);
    ready = true;
    const after = await edge.request('/healthz');
    expect([after.status, after.json()]).toEqual([200, { status: 'ok' }]);
    expect(after.headers['x-amzn-requestid']).toMatch(UUID);
  });

  it('GET / says what the endpoint is', async () => {
    const { edge } = harness();
    const res = await edge.request('/');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ service: 'berth' });
  });

  it('anything else is a 404 in the JSON error shape', async () => {
    const { edge, calls } = harness();
    for (const [url, method] of [
      ['/nope', 'GET'],
      ['/', 'PUT'],
      ['/', 'POST'],
    ] as const) {
      const res = await edge.request(url, { method, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: method === 'GET' ? undefined : '{}' });
      expect(res.status).toBe(404);
      expect((res.json() as { __type: string }).__type).toBe('UnknownOperationException');
      expect(res.headers['x-amzn-requestid']).toMatch(UUID);
    }
    expect(calls).toEqual([]);
  });
});

describe('edge: query protocol', () => {
  async function form(body: string, s: Sign = {}) {
    return signed({ service: 'elasticloadbalancing', target: null, contentType: 'application/x-www-form-urlencoded; charset=utf-8', body, ...s });
  }

  it('routes a form POST by the signing service and Action', async () => {
    const { edge, calls } = harness();
    const res = await edge.request(...(await form('Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=web')));
    expect(res.status).toBe(200);
    expect(res.body).toContain('<DescribeLoadBalancersResult/>');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.input).toEqual({ 'Names.member.1': 'web' });
    expect(calls[0]!.ctx.requestId).toBe(res.headers['x-amzn-requestid']);
  });

  it('an unknown Action gets a query-shaped InvalidAction carrying the request id', async () => {
    const { edge, calls } = harness();
    const res = await edge.request(...(await form('Action=DescribeWidgets&Version=2015-12-01')));
    const id = res.headers['x-amzn-requestid']!;
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('text/xml');
    expect(res.body).toBe(
      `<ErrorResponse xmlns="${ELB_XMLNS}"><Error><Type>Sender</Type><Code>InvalidAction</Code>` +
        `<Message>The action DescribeWidgets is not valid for this web service (signed for &apos;elasticloadbalancing&apos;).</Message></Error>` +
        `<RequestId>${id}</RequestId></ErrorResponse>`,
    );
    expect(calls).toEqual([]);
  });

  it('a form signed for a service with no query API gets InvalidAction', async () => {
    const { edge, calls } = harness();
    const res = await edge.request(...(await form('Action=ListQueues', { service: 'sqs' })));
    expect(res.status).toBe(400);
    expect(res.body).toContain('<Code>InvalidAction</Code>');
    expect(calls).toEqual([]);
  });

  it('auth failures come back in the query shape', async () => {
    const { edge, calls } = harness();
    const noAuth = await edge.request(...withHeaders(await form('Action=DescribeLoadBalancers'), { authorization: undefined }));
    expect(noAuth.status).toBe(403);
    expect(noAuth.body).toContain('<Code>MissingAuthenticationToken</Code><Message>Missing Authentication Token</Message>');
    const badKey = await edge.request(...(await form('Action=DescribeLoadBalancers', { credential: { secretAccessKey: 'guess' } })));
    expect(badKey.status).toBe(403);
    expect(badKey.body).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(calls).toEqual([]);
  });
});

describe('edge: mounts', () => {
  it('refuses to mount the API root or the same prefix twice', () => {
    const { edge } = harness();
    expect(() => edge.mount('/', () => undefined)).toThrow(/API's own/);
    edge.mount('/v2/', () => undefined);
    expect(() => edge.mount('/v2', () => undefined)).toThrow(/already mounted/);
    expect(() => edge.mount('v3/', () => undefined)).toThrow(/must start with/);
  });

  it('in-process requests to a mounted path are refused, not silently routed to the API', async () => {
    const { edge } = harness();
    edge.mount('/v2/', () => undefined);
    await expect(edge.request('/v2/')).rejects.toThrow(/mounted/);
  });
});

// ---------------------------------------------------------------------------------------------
// Over a real socket.

async function listen(edge: Edge) {
  const server = createServer(edge).on('upgrade', edge.upgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

describe('edge over HTTP: the AWS SDK for JavaScript', () => {
  function client(endpoint: string, credential: Partial<SigningCredential> = {}) {
    return new ECSClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: KEY.accessKeyId, secretAccessKey: KEY.secretAccessKey, ...credential },
      maxAttempts: 1,
    });
  }

  it('SDK-signed requests pass and results parse', async () => {
    const { edge, calls } = harness({ now: () => new Date() });
    await using srv = await listen(edge);
    const out = await client(srv.endpoint).send(new ListClustersCommand({ maxResults: 5 }));
    expect(out.clusterArns).toEqual([]);
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(out.$metadata.requestId).toMatch(UUID);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.input).toEqual({ maxResults: 5 });
    expect(calls[0]!.ctx.requestId).toBe(out.$metadata.requestId);
  });

  it('our errors become the SDK’s typed exceptions with our message', async () => {
    const { edge } = harness({ now: () => new Date() });
    await using srv = await listen(edge);
    const err: unknown = await client(srv.endpoint)
      .send(new DescribeClustersCommand({ clusters: ['prod'] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterNotFoundException);
    expect((err as ClusterNotFoundException).message).toBe('Cluster not found: prod.');
    expect((err as ClusterNotFoundException).$metadata.httpStatusCode).toBe(400);
    expect((err as ClusterNotFoundException).$metadata.requestId).toMatch(UUID);
  });

  it('the SDK reports auth failures by their AWS names, and nothing is called', async () => {
    const { edge, calls } = harness({ now: () => new Date() });
    await using srv = await listen(edge);
    const err: unknown = await client(srv.endpoint, { secretAccessKey: 'guess' })
      .send(new ListClustersCommand({}))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ECSServiceException);
    expect((err as ECSServiceException).name).toBe('InvalidSignatureException');
    expect((err as ECSServiceException).message).toMatch(/^The request signature we calculated does not match/);
    expect(calls).toEqual([]);
  });
});

/** Sends raw HTTP, for what a client library will not do on purpose. */
function rawResponse(port: number, head: string, body?: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const lines = head.split('\r\n');
    const [method, path] = lines[0]!.split(' ') as [string, string];
    const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode!, headers: res.headers, body: text });
      });
    });
    // The server may close while we are still sending: that is the point, not a failure.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    // Never end(): the server must answer while the body is still (supposedly) on its way.
    if (body !== undefined) req.write(body);
    else req.flushHeaders();
  });
}

describe('edge over HTTP: the body limit on a real socket', () => {
  it('a Content-Length over the limit is answered 413 before any body is sent', async () => {
    const { edge, calls } = harness({ maxBodyBytes: 1024 });
    await using srv = await listen(edge);
    const res = await rawResponse(srv.port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: ${ECS}.ListClusters\r\nContent-Length: 10485760`);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ __type: 'RequestEntityTooLargeException' });
    expect(res.headers['connection']).toBe('close');
    expect(res.headers['x-amzn-requestid']).toMatch(UUID);
    expect(calls).toEqual([]);
  });

  it('a chunked body is answered 413 once it passes the limit, while the client is still sending', async () => {
    const { edge, calls } = harness({ maxBodyBytes: 1024 });
    await using srv = await listen(edge);
    const res = await rawResponse(
      srv.port,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: ${ECS}.ListClusters\r\nTransfer-Encoding: chunked`,
      Buffer.alloc(4096, 0x20),
    );
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ __type: 'RequestEntityTooLargeException' });
    expect(res.headers['connection']).toBe('close');
    expect(calls).toEqual([]);
  });
});

describe('edge over HTTP: mounts', () => {
  it('a mounted prefix gets its requests, with a request id, and nothing else', async () => {
    const { edge } = harness();
    const seen: string[] = [];
    edge.mount('/v2/', (req, res, { requestId }) => {
      seen.push(req.url!);
      res.writeHead(200, { 'content-type': 'text/plain', 'x-seen-id': requestId }).end('registry');
    });
    await using srv = await listen(edge);
    const base = await fetch(`${srv.endpoint}/v2/`);
    expect([base.status, await base.text()]).toEqual([200, 'registry']);
    expect(base.headers.get('x-amzn-requestid')).toBe(base.headers.get('x-seen-id'));
    const blob = await fetch(`${srv.endpoint}/v2/library/alpine/blobs/sha256:abc`);
    expect(blob.status).toBe(200);
    const other = await fetch(`${srv.endpoint}/v2x`);
    expect(other.status).toBe(404);
    expect(seen).toEqual(['/v2/', '/v2/library/alpine/blobs/sha256:abc']);
  });

  it('a failing mount handler answers 500 and is logged', async () => {
    const { edge, logs } = harness();
    edge.mount('/v2/', () => Promise.reject(new Error('blob store gone')));
    await using srv = await listen(edge);
    const res = await fetch(`${srv.endpoint}/v2/`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { __type: string }).__type).toBe('ServerException');
    const logged = logs.find((l) => l.level === 'error')!;
    expect((logged.fields!['error'] as Error).message).toBe('blob store gone');
  });

  it('upgrades go to their mount; others are refused with 404', async () => {
    const { edge } = harness();
    edge.mountUpgrade('/agent', (_req, socket) => {
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    await using srv = await listen(edge);
    const upgradeTo = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(srv.port, '127.0.0.1', () => {
          socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
        });
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (c: string) => (text += c));
        socket.on('end', () => resolve(text.split('\r\n')[0]!));
        socket.on('error', reject);
      });
    expect(await upgradeTo('/agent')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await upgradeTo('/agent/session?id=1')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await upgradeTo('/elsewhere')).toBe('HTTP/1.1 404 Not Found');
  });
});
