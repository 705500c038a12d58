/**
 * Small HTTP backends for data-plane tests and benchmarks, on 127.0.0.1 ephemeral ports: each
 * answers with its name and the headers it got, has a /health endpoint whose answer the test sets,
 * echoes WebSocket messages, and can be told to reset connections or never answer.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export type HealthMode = 'ok' | 'fail' | 'hang';
export type TrafficMode = 'ok' | 'reset' | 'hang';

export interface Backend {
  readonly name: string;
  readonly port: number;
  /** Requests other than /health, in order. */
  readonly requests: { readonly path: string; readonly headers: IncomingHttpHeaders }[];
  health: HealthMode;
  traffic: TrafficMode;
  /** Answers the health checks held while health was 'hang', as health now says. */
  answerHeld(): void;
  close(): Promise<void>;
}

export async function startBackend(name: string): Promise<Backend> {
  const requests: Backend['requests'][number][] = [];
  const held: ServerResponse[] = [];
  const answerHealth = (res: ServerResponse) => res.writeHead(backend.health === 'ok' ? 200 : 500).end(backend.health);
  const server: Server = createServer((req, res) => {
    if (req.url === '/health') {
      if (backend.health === 'hang') return void held.push(res); // the check times out, or waits for answerHeld()
      return void answerHealth(res);
    }
    requests.push({ path: req.url ?? '', headers: req.headers });
    if (backend.traffic === 'reset') return void req.socket.destroy();
    if (backend.traffic === 'hang') return;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name, path: req.url, headers: req.headers }));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data: Buffer) => ws.send(`${name}:${data.toString('utf8')}`)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const backend: Backend = {
    name,
    port: (server.address() as AddressInfo).port,
    requests,
    health: 'ok',
    traffic: 'ok',
    answerHeld: () => {
      for (const res of held.splice(0)) if (!res.destroyed) answerHealth(res);
    },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return backend;
}

/** A port free on 127.0.0.1 right now (the caller binds it next). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
