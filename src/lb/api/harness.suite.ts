/**
 * The ELBv2 tests' set-up: the real edge with the ELBv2 service over an in-memory store, requests
 * signed as botocore signs them (form POST, SigV4 service elasticloadbalancing), XML replies read
 * back into plain objects, and the checks an error path makes (code, message, nothing written).
 * .suite.ts: not built.
 */
/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   replies are read field by field, as a CLI user reads them (Json is any). */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { expect, onTestFinished } from 'vitest';
import { createEdge } from '../../edge/edge.js';
import type { Edge, EdgeResponse } from '../../edge/edge.js';
import { SqliteStore } from '../../store/index.js';
import { createElbv2Service } from './service.js';

export const ACCOUNT = '000000000000';
export const REGION = 'us-east-1';
const KEY = { accessKeyId: 'AKIAELBV2TEST0000001', secretAccessKey: 'elbv2-secret', accountId: ACCOUNT };

/** Results are read field by field, as a CLI user reads them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type Json = any;

/**
 * Flattens a request object into query parameters as botocore does: lists as `Name.member.N`,
 * structures as `Name.Field`, booleans and numbers as text.
 *
 * @example flatten({ Names: ['a'] }) // { 'Names.member.1': 'a' }
 */
export function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (Array.isArray(value)) {
    if (value.length === 0) out[prefix] = '';
    value.forEach((item, i) => flatten(item, `${prefix}.member.${i + 1}`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (v !== undefined) flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else {
    out[prefix] = String(value);
  }
  return out;
}

interface XmlNode {
  readonly name: string;
  readonly children: XmlNode[];
  text: string;
}

/** A small reader for the replies Berth writes (elements and text, no attributes but xmlns). */
export function parseXml(xml: string): XmlNode {
  const root: XmlNode = { name: '#root', children: [], text: '' };
  const stack = [root];
  const re = /<(\/?)([A-Za-z][\w.-]*)([^>]*?)(\/?)>|([^<]+)/g;
  const unescape = (t: string) => t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
  for (const m of xml.matchAll(re)) {
    const top = stack.at(-1)!;
    if (m[5] !== undefined) {
      top.text += unescape(m[5]);
    } else if (m[1] === '/') {
      if (top.name !== m[2]) throw new Error(`bad XML: </${m[2]}> closes <${top.name}>`);
      stack.pop();
    } else {
      const node: XmlNode = { name: m[2]!, children: [], text: '' };
      top.children.push(node);
      if (m[4] !== '/') stack.push(node);
    }
  }
  if (stack.length !== 1) throw new Error('bad XML: unclosed element');
  return root.children[0]!;
}

/** An element as a plain value: `member` children make an array, other children an object, else text. */
export function xmlToJs(node: XmlNode): Json {
  if (node.children.length === 0) return node.text;
  if (node.children.every((c) => c.name === 'member')) return node.children.map(xmlToJs);
  const out: Record<string, Json> = {};
  for (const c of node.children) {
    if (c.name in out) throw new Error(`element ${c.name} repeated in ${node.name}`);
    out[c.name] = xmlToJs(c);
  }
  return out;
}

export interface ElbHarness {
  readonly store: SqliteStore;
  readonly edge: Edge;
  /** The request clock; tests move it. */
  clock: Date;
  /** Every successful reply, for the botocore shape check. */
  readonly replies: { op: string; xml: string }[];
  raw(action: string, params?: Record<string, string>): Promise<EdgeResponse>;
  /** Calls an action; resolves its Result element as a plain object (empty lists as ''). */
  call(action: string, input?: Record<string, unknown>): Promise<Json>;
  /** Expects the call to fail with this wire code (and message) and to change nothing. */
  refused(action: string, input: Record<string, unknown>, code: string, message?: string | RegExp): Promise<string>;
  snapshot(): Promise<unknown>;
}

export function elbHarness(options: { instances?: Record<string, { address: string; availabilityZone?: string }> } = {}): ElbHarness {
  const store = SqliteStore.open(':memory:');
  onTestFinished(() => store.close());
  const instances = new Map(Object.entries(options.instances ?? {}));
  const service = createElbv2Service({ store, region: REGION, accountId: ACCOUNT, resolveInstance: (id) => Promise.resolve(instances.get(id)) });
  const h: ElbHarness = {
    store,
    edge: undefined as unknown as Edge,
    clock: new Date('2026-03-01T12:00:00Z'),
    replies: [],
    async raw(action, params = {}) {
      const body = new URLSearchParams({ Action: action, Version: '2015-12-01', ...params }).toString();
      const req = new HttpRequest({
        method: 'POST',
        protocol: 'http:',
        hostname: 'localhost',
        port: 4566,
        path: '/',
        headers: { host: 'localhost:4566', 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body,
      });
      const signer = new SignatureV4({ credentials: KEY, region: REGION, service: 'elasticloadbalancing', sha256: Sha256 });
      const signed = (await signer.sign(req, { signingDate: h.clock })) as HttpRequest;
      return h.edge.request(signed.path, { method: 'POST', headers: signed.headers, body });
    },
    async call(action, input = {}) {
      const res = await h.raw(action, flatten(input));
      if (res.status !== 200) throw new Error(`${action} failed: ${res.status} ${res.body}`);
      const doc = parseXml(res.body);
      expect(doc.name).toBe(`${action}Response`);
      expect(res.body.startsWith(`<${action}Response xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">`)).toBe(true);
      const [result, metadata] = doc.children;
      expect(result!.name).toBe(`${action}Result`);
      expect(metadata!.name).toBe('ResponseMetadata');
      expect(xmlToJs(metadata!)).toEqual({ RequestId: res.headers['x-amzn-requestid'] });
      h.replies.push({ op: action, xml: res.body });
      return result!.children.length === 0 ? {} : xmlToJs(result!);
    },
    async refused(action, input, code, message) {
      const before = await h.snapshot();
      const res = await h.raw(action, flatten(input));
      expect(res.status, res.body).toBe(400);
      const doc = xmlToJs(parseXml(res.body));
      expect(doc.Error.Type).toBe('Sender');
      expect(doc.Error.Code, doc.Error.Message).toBe(code);
      if (typeof message === 'string') expect(doc.Error.Message).toBe(message);
      else if (message !== undefined) expect(doc.Error.Message).toMatch(message);
      expect(await h.snapshot()).toEqual(before);
      return doc.Error.Message as string;
    },
    async snapshot() {
      const { revision, kvs } = await store.range('');
      return { revision, kvs: kvs.map((kv) => [kv.key, kv.value, kv.modRevision]) };
    },
  };
  (h as { edge: Edge }).edge = createEdge({
    services: [],
    queryServices: [service],
    region: REGION,
    accountId: ACCOUNT,
    credentials: (id) => Promise.resolve(id === KEY.accessKeyId ? KEY : undefined),
    now: () => h.clock,
    logger: { error: (m, f) => console.error(m, f), warn: () => undefined, debug: () => undefined },
  });
  return h;
}

/** A load balancer, a target group and a listener forwarding to it: the usual start. */
export async function basicSetup(h: ElbHarness, targetType: 'ip' | 'instance' = 'ip') {
  const lb = (await h.call('CreateLoadBalancer', { Name: 'web' })).LoadBalancers[0];
  const tg = (await h.call('CreateTargetGroup', { Name: 'web-tg', Protocol: 'HTTP', Port: 8080, TargetType: targetType })).TargetGroups[0];
  const listener = (await h.call('CreateListener', { LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'HTTP', Port: 8000, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg.TargetGroupArn }] })).Listeners[0];
  return { lb, tg, listener, lbArn: lb.LoadBalancerArn as string, tgArn: tg.TargetGroupArn as string, listenerArn: listener.ListenerArn as string };
}
