/**
 * Test fixture: a distribution token server (the `realm` of a Bearer challenge) on 127.0.0.1. It
 * checks Basic credentials and signs ES256 JWTs that docker-registry verifies against the
 * self-signed certificate made here with openssl (its `rootcertbundle`).
 */
import { execFile } from 'node:child_process';
import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface TokenServer extends AsyncDisposable {
  realm: string;
  service: string;
  issuer: string;
  certPem: string;
  /** Each token request: the scopes asked for and the user (or undefined when anonymous). */
  requests: Array<{ scopes: string[]; user: string | undefined }>;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export async function startTokenServer(dir: string, users: Record<string, string>, expiresIn = 300): Promise<TokenServer> {
  await fs.mkdir(dir, { recursive: true });
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  await exec('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=berth-test-token',
  ]);
  const keyPem = await fs.readFile(keyPath, 'utf8');
  const certPem = await fs.readFile(certPath, 'utf8');
  const certDer = new X509Certificate(certPem).raw;
  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';
  const requests: TokenServer['requests'] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (name === undefined || users[name] !== rest.join(':')) {
        requests.push({ scopes, user: name });
        res.writeHead(401).end('{"details":"bad credentials"}');
        return;
      }
      user = name;
    }
    requests.push({ scopes, user });
    if (user === undefined) {
      res.writeHead(401).end('{"details":"anonymous access refused"}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      const [type, ...mid] = s.split(':');
      const actions = mid.pop();
      return type === 'repository' && actions ? [{ type, name: mid.join(':'), actions: actions.split(',') }] : [];
    });
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: user, aud: service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key: keyPem, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${b64url(signature)}`, expires_in: expiresIn }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  const close = (): Promise<void> =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { realm, service, issuer, certPem, requests, close, [Symbol.asyncDispose]: close };
}
