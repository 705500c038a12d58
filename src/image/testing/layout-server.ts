/**
 * Test fixture: a read-only registry over HTTP that serves an OCI image layout, with hooks a real
 * registry lacks: tamper with bytes, lie about sizes or digests, count requests, demand auth.
 * It listens on 127.0.0.1 only and closes itself (`await using`).
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Descriptor } from '../manifest.js';

export interface LayoutServerOptions {
  /** Replaces the bytes served for a digest (manifest or blob). */
  tamper?: (digest: string, bytes: Buffer) => Buffer;
  /** Extra headers for a path, e.g. a false Docker-Content-Digest. */
  headers?: (path: string) => Record<string, string>;
  /** Answers a request itself when it returns true (auth checks, redirects, errors). */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export interface LayoutServer extends AsyncDisposable {
  /** `127.0.0.1:PORT`: use as the registry part of a reference. */
  host: string;
  /** Every request path, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `layout` under any repository name: `/v2/<repo>/manifests/<tag|digest>`, `/v2/<repo>/blobs/<digest>`. */
export async function serveLayout(layout: string, options: LayoutServerOptions = {}): Promise<LayoutServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    if (options.intercept?.(req, res)) return;
    void (async () => {
      const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
      if (path === '/v2/' || path === '/v2') {
        res.writeHead(200).end('{}');
        return;
      }
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      const [, , kind, ref] = m as unknown as [string, string, string, string];
      let digest = ref;
      let mediaType = 'application/octet-stream';
      if (kind === 'manifests') {
        const index = JSON.parse(await fs.readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
        const byTag = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === ref);
        if (byTag) digest = byTag.digest;
        const bytes = await fs.readFile(join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''))).catch(() => undefined);
        if (bytes) mediaType = (JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType ?? mediaType;
      }
      let bytes: Buffer;
      try {
        bytes = await fs.readFile(join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
      } catch {
        res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: `unknown ${digest}` }] }));
        return;
      }
      const served = options.tamper ? options.tamper(digest, bytes) : bytes;
      res.writeHead(200, {
        'Content-Type': mediaType,
        'Content-Length': served.length,
        'Docker-Content-Digest': digest,
        ...(options.headers?.(path) ?? {}),
      });
      res.end(served);
    })().catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close, [Symbol.asyncDispose]: close };
}
