/**
 * The session client against a scripted server on 127.0.0.1 (a ws server that checks the presigned
 * URL with the edge's own verifier): hello on every connect, in-order delivery of unacked changes
 * across reconnects, heartbeats both ways, backoff bounds, and close.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifySigV4, type SigningCredential } from '../edge/sigv4.js';
import { PROTOCOL_VERSION, type AgentMessage, type ServerMessage } from './protocol.js';
import { backoffDelay, connectSession, parseServerMessage, presignAgentUrl, type AgentSession, type HelloMessage, type SessionClientOptions } from './session-client.js';

type Json = any;

const KEY: SigningCredential = { accessKeyId: 'AKIACLIENTTEST000001', secretAccessKey: 'client-secret', accountId: '000000000000' };
const REGION = 'us-east-1';
const quiet = { error: () => undefined, warn: () => undefined, debug: () => undefined };

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function waitFor<T>(condition: () => T | undefined | false, what: string, limitMs = 5000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Connection {
  readonly ws: WebSocket;
  readonly messages: Json[];
  readonly closed: Promise<void>;
  send(m: ServerMessage): void;
}

/** A scripted server: it verifies every upgrade, records every connection and answers nothing unless told. */
async function fakeServer(script: { refuse?: () => boolean; onConnection?: (c: Connection) => void } = {}) {
  const connections: Connection[] = [];
  const refusals: string[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    verifySigV4({ method: 'GET', url: req.url!, headers, body: new Uint8Array() }, { region: REGION, service: 'ecs', now: new Date(), lookup: (id) => Promise.resolve(id === KEY.accessKeyId ? KEY : undefined) })
      .then(() => {
        if (script.refuse?.()) throw new Error('refused by script');
        wss.handleUpgrade(req, socket, head, (ws) => {
          const messages: Json[] = [];
          const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
          const c: Connection = { ws, messages, closed, send: (m) => ws.send(JSON.stringify(m)) };
          ws.on('message', (d) => messages.push(JSON.parse((d as Buffer).toString('utf8'))));
          connections.push(c);
          script.onConnection?.(c);
        });
      })
      .catch((err: Error) => {
        refusals.push(err.message);
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  cleanup.push(async () => {
    for (const c of connections) c.ws.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { endpoint: `http://127.0.0.1:${port}`, connections, refusals };
}

const HELLO: HelloMessage = {
  type: 'hello',
  protocolVersion: PROTOCOL_VERSION,
  cluster: 'default',
  totalResources: [],
  attributes: [],
  agentVersion: '0.1.0',
  hostname: 'h',
  runningTaskArns: [],
};
const welcome = (heartbeatMs = 10_000): ServerMessage => ({ type: 'welcome', containerInstanceArn: 'arn:aws:ecs:us-east-1:000000000000:container-instance/default/x', heartbeatMs });
const stateChange = (n: number): AgentMessage => ({ type: 'taskStateChange', change: { taskArn: `arn:task/${n}`, status: 'RUNNING', containers: [] } });

function client(endpoint: string, over: Partial<SessionClientOptions> = {}): { session: AgentSession; received: ServerMessage[] } {
  const received: ServerMessage[] = [];
  const session = connectSession({
    endpoint,
    credentials: KEY,
    region: REGION,
    hello: () => HELLO,
    onMessage: (m) => received.push(m),
    logger: quiet,
    backoff: { initialMs: 5, maxMs: 50 },
    ...over,
  });
  cleanup.push(() => session.close());
  return { session, received };
}

describe('presignAgentUrl', () => {
  const at = new Date('2026-03-04T05:06:07Z');
  const verify = (url: string, host: string, now = at, key: SigningCredential = KEY) => {
    const u = new URL(url);
    return verifySigV4(
      { method: 'GET', url: `${u.pathname}${u.search}`, headers: [['Host', host]], body: new Uint8Array() },
      { region: REGION, service: 'ecs', now, lookup: (id) => Promise.resolve(id === key.accessKeyId ? key : undefined) },
    );
  };

  it('signs a GET of /agent that the edge’s verifier accepts, in presigned form for ecs', async () => {
    const { url, host } = presignAgentUrl('http://127.0.0.1:4566', KEY, REGION, at);
    expect(host).toBe('127.0.0.1:4566');
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:4566\/agent\?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIACLIENTTEST000001%2F20260304%2Fus-east-1%2Fecs%2Faws4_request&X-Amz-Date=20260304T050607Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=[0-9a-f]{64}$/);
    expect(await verify(url, host)).toEqual({ accessKeyId: KEY.accessKeyId, accountId: KEY.accountId, service: 'ecs', region: REGION, form: 'presigned' });
  });

  it('https endpoints give wss URLs; a default port is left out of the signed host', async () => {
    const { url, host } = presignAgentUrl('https://berth.example:443/', KEY, REGION, at);
    expect(host).toBe('berth.example');
    expect(url.startsWith('wss://berth.example/agent?')).toBe(true);
    await expect(verify(url, host)).resolves.toMatchObject({ form: 'presigned' });
  });

  it('carries a session token for temporary credentials (encoded as SigV4 wants it)', async () => {
    const temp = { ...KEY, sessionToken: "tok+en/with=odd!'()*chars" };
    const { url, host } = presignAgentUrl('http://127.0.0.1:1', temp, REGION, at);
    expect(url).toContain('X-Amz-Security-Token=tok%2Ben%2Fwith%3Dodd%21%27%28%29%2Achars');
    await expect(verify(url, host, at, temp)).resolves.toMatchObject({ accessKeyId: KEY.accessKeyId });
    // Without the token the key does not verify.
    const { url: bare } = presignAgentUrl('http://127.0.0.1:1', KEY, REGION, at);
    await expect(verify(bare, host, at, temp)).rejects.toMatchObject({ code: 'UnrecognizedClientException' });
  });

  it('is refused once expired, with another secret, or for another host', async () => {
    const { url, host } = presignAgentUrl('http://127.0.0.1:4566', KEY, REGION, at, 60);
    await expect(verify(url, host, new Date(at.getTime() + 61_000))).rejects.toMatchObject({ code: 'InvalidSignatureException' });
    await expect(verify(url, '127.0.0.1:4567')).rejects.toMatchObject({ code: 'InvalidSignatureException' });
    const forged = presignAgentUrl('http://127.0.0.1:4566', { ...KEY, secretAccessKey: 'guess' }, REGION, at);
    await expect(verify(forged.url, forged.host)).rejects.toMatchObject({ code: 'InvalidSignatureException' });
  });

  it('refuses an endpoint that is not http(s)', () => {
    expect(() => presignAgentUrl('ftp://127.0.0.1', KEY, REGION, at)).toThrow(/http\(s\)/);
  });
});

describe('backoffDelay', () => {
  it('doubles from initialMs, is capped at maxMs, and jitters within the upper half of its step', () => {
    const b = { initialMs: 100, maxMs: 10_000 };
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, b, () => 1))).toEqual([100, 200, 400, 800]);
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, b, () => 0))).toEqual([50, 100, 200, 400]);
    expect(backoffDelay(7, b, () => 1)).toBe(10_000);
    expect(backoffDelay(1000, b, () => 1)).toBe(10_000);
    expect(backoffDelay(1000, b, () => 0)).toBe(5_000);
    for (let n = 0; n < 50; n++) {
      const d = backoffDelay(n);
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(10_000);
    }
  });
});

describe('connectSession', () => {
  it('sends hello first on every connect, built afresh each time; connected only once welcomed', async () => {
    const server = await fakeServer();
    let n = 0;
    const { session } = client(server.endpoint, { hello: () => ({ ...HELLO, runningTaskArns: [`t${++n}`] }) });
    const first = await waitFor(() => server.connections[0]?.messages[0] !== undefined && server.connections[0], 'a first hello');
    expect(first.messages).toEqual([{ ...HELLO, runningTaskArns: ['t1'] }]);
    expect(session.connected).toBe(false);
    first.send(welcome());
    await waitFor(() => session.connected, 'connected');
    first.ws.terminate();
    await waitFor(() => !session.connected, 'the drop noticed');
    const second = await waitFor(() => server.connections[1]?.messages[0] !== undefined && server.connections[1], 'a second hello');
    expect(second.messages).toEqual([{ ...HELLO, runningTaskArns: ['t2'] }]);
  });

  it('delivers task state changes once welcomed, in order, and resends the unacked after a reconnect', async () => {
    const server = await fakeServer();
    const { session } = client(server.endpoint);
    // Sent before any session exists: held.
    session.send(stateChange(1));
    const first = await waitFor(() => server.connections[0]?.messages.length === 1 && server.connections[0], 'hello');
    session.send(stateChange(2));
    first.send(welcome());
    await waitFor(() => first.messages.length === 3, 'the two held changes');
    expect(first.messages.map((m) => [m.type, m.seq, m.change?.taskArn])).toEqual([
      ['hello', undefined, undefined],
      ['taskStateChange', 1, 'arn:task/1'],
      ['taskStateChange', 2, 'arn:task/2'],
    ]);
    session.send(stateChange(3));
    await waitFor(() => first.messages.length === 4, 'a change sent live');
    expect(first.messages[3]).toMatchObject({ seq: 3, change: { taskArn: 'arn:task/3' } });
    first.send({ type: 'ack', seq: 1 });
    await waitFor(() => session.unacked === 2, 'the ack applied');

    first.ws.terminate();
    await waitFor(() => !session.connected, 'the drop noticed');
    session.send(stateChange(4));
    session.send({ type: 'stats', at: 1, tasks: [] }); // dropped: stale by the time it could go
    const second = await waitFor(() => server.connections[1]?.messages.length === 1 && server.connections[1], 'the reconnect hello');
    second.send(welcome());
    await waitFor(() => second.messages.length === 4, 'the resent changes');
    expect(second.messages.map((m) => [m.type, m.seq])).toEqual([
      ['hello', undefined],
      ['taskStateChange', 2],
      ['taskStateChange', 3],
      ['taskStateChange', 4],
    ]);
    second.send({ type: 'ack', seq: 4 });
    await waitFor(() => session.unacked === 0, 'all acked');
    session.send({ type: 'stats', at: 2, tasks: [] });
    await waitFor(() => second.messages.length === 5, 'live stats');
    expect(second.messages[4]).toEqual({ type: 'stats', at: 2, tasks: [] });
  });

  it('hands the agent welcome, runTask, stopTask and error, keeping heartbeats and acks to itself', async () => {
    const server = await fakeServer({ onConnection: (c) => c.send(welcome()) });
    let calls = 0;
    const { session, received } = client(server.endpoint, {
      onMessage: (m) => {
        calls++;
        received.push(m);
        if (calls === 2) throw new Error('an agent bug must not break the session');
      },
    });
    const conn = await waitFor(() => server.connections[0], 'a connection');
    await waitFor(() => session.connected, 'welcomed');
    conn.send({ type: 'heartbeat', at: 1 });
    conn.send({ type: 'ack', seq: 0 });
    conn.send({ type: 'stopTask', taskArn: 'a' });
    conn.ws.send('{"type":"fromTheFuture"}');
    conn.ws.send('not json');
    conn.send({ type: 'error', code: 'X', message: 'y' });
    conn.send({ type: 'stopTask', taskArn: 'b', reason: 'r', stopCode: 'UserInitiated' });
    await waitFor(() => received.length === 4, 'four messages');
    expect(received.map((m) => m.type)).toEqual(['welcome', 'stopTask', 'error', 'stopTask']);
    expect(session.connected).toBe(true);
    expect(server.connections).toHaveLength(1);
  });

  it('heartbeats at the server’s interval, and reconnects when the server goes silent', async () => {
    const server = await fakeServer();
    const { session } = client(server.endpoint);
    const first = await waitFor(() => server.connections[0]?.messages.length === 1 && server.connections[0], 'hello');
    first.send(welcome(50));
    // The server never says anything again: after three intervals the client gives up on it.
    const second = await waitFor(() => server.connections[1], 'a reconnect after silence');
    expect(first.messages.filter((m) => m.type === 'heartbeat').length).toBeGreaterThanOrEqual(1);
    expect(first.messages.every((m) => m.type === 'hello' || (m.type === 'heartbeat' && typeof m.at === 'number'))).toBe(true);
    await first.closed;
    expect(second).toBeDefined();
    expect(session.connected).toBe(false);
  });

  it('keeps retrying a server that refuses it, then connects when it relents', async () => {
    let refuse = true;
    const server = await fakeServer({ refuse: () => refuse, onConnection: (c) => c.send(welcome()) });
    const { session } = client(server.endpoint);
    await waitFor(() => server.refusals.length >= 3, 'three refusals');
    expect(session.connected).toBe(false);
    refuse = false;
    await waitFor(() => session.connected, 'connected at last');
  });

  it('retries with a fresh signature: a clock-skewed first attempt does not doom the session', async () => {
    const server = await fakeServer({ onConnection: (c) => c.send(welcome()) });
    let first = true;
    const { session } = client(server.endpoint, {
      now: () => {
        const t = first ? new Date(Date.now() - 3600_000) : new Date();
        first = false;
        return t;
      },
    });
    await waitFor(() => session.connected, 'connected');
    expect(server.refusals).toHaveLength(1);
  });

  it('close() ends the session for good', async () => {
    const server = await fakeServer({ onConnection: (c) => c.send(welcome()) });
    const { session } = client(server.endpoint);
    await waitFor(() => session.connected, 'connected');
    await session.close();
    await server.connections[0]!.closed;
    expect(session.connected).toBe(false);
    expect(() => session.send(stateChange(1))).toThrow(/closed/);
    // Were it reconnecting, a connection would come within a few backoff steps; a client that is
    // still closed after a fresh client has connected and been welcomed did not come back.
    const other = client(server.endpoint);
    await waitFor(() => other.session.connected, 'another client');
    expect(server.connections).toHaveLength(2);
  });

  it('refuses to send hello itself: the session owns it', async () => {
    const server = await fakeServer();
    const { session } = client(server.endpoint);
    expect(() => session.send(HELLO)).toThrow(/hello itself/);
  });
});

describe('parseServerMessage', () => {
  it('accepts the protocol and names what is missing', () => {
    expect(parseServerMessage(JSON.stringify(welcome()))).toEqual(welcome());
    expect(() => parseServerMessage('[]')).toThrow(/JSON object/);
    expect(() => parseServerMessage('{"type":"welcome","containerInstanceArn":"a","heartbeatMs":0}')).toThrow(/positive heartbeatMs/);
    expect(() => parseServerMessage('{"type":"runTask","task":{}}')).toThrow(/taskDefinition/);
    expect(() => parseServerMessage('{"type":"stopTask"}')).toThrow(/taskArn/);
    expect(() => parseServerMessage('{"type":"ack"}')).toThrow(/seq/);
    expect(() => parseServerMessage('{"type":"error","code":"x"}')).toThrow(/code and a message/);
    expect(() => parseServerMessage('{"type":"nope"}')).toThrow(/unknown server message type "nope"/);
  });
});
