/**
 * Pushing a built image over the OCI distribution API: each blob (layers, then config) HEAD-checked
 * and uploaded only when the registry lacks it (POST an upload, PUT the bytes with their digest),
 * then the manifest PUT under the tag. Basic auth or the bearer-token dance, asking for
 * `pull,push` on the repository — Berth's own registry (user `AWS`, an ECR password), Debian's
 * docker-registry, or any other.
 */
import { createReadStream } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { basicAuthorization, parseChallenges, parseTokenResponse, type RegistryCredentials } from '../auth.js';
import type { ContentStore, LayerRecord } from '../content-store.js';
import type { Descriptor } from '../manifest.js';
import { formatReference, parseReference, type ImageReference } from '../reference.js';
import { BuildError } from './errors.js';

export interface PushOptions {
  readonly credentials?: RegistryCredentials;
  /** Base URLs by registry host, e.g. `{ 'reg:5000': 'https://reg:5000' }`; otherwise https, or http for loopback and `insecureRegistries`. */
  readonly endpoints?: Readonly<Record<string, string>>;
  readonly insecureRegistries?: readonly string[];
  readonly onProgress?: (event: PushProgress) => void;
}

export type PushProgress =
  | { readonly type: 'exists'; readonly digest: string; readonly size: number }
  | { readonly type: 'uploading'; readonly digest: string; readonly size: number }
  | { readonly type: 'uploaded'; readonly digest: string; readonly size: number }
  | { readonly type: 'manifest'; readonly reference: string; readonly digest: string };

/** What is pushed: an image in the content store, by its manifest. */
export interface PushableImage {
  readonly digest: string;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly LayerRecord[];
}

export interface PushResult {
  /** The canonical reference pushed. */
  readonly reference: string;
  readonly digest: string;
  /** Blobs uploaded and blobs the registry already had. */
  readonly uploaded: number;
  readonly skipped: number;
}

interface Response {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** Talks to one repository of one registry, keeping its Authorization once earned. */
class RepositorySession {
  private authorization: string | undefined;
  private readonly agent: http.Agent | https.Agent;

  constructor(
    private readonly base: string,
    private readonly ref: ImageReference,
    private readonly credentials: RegistryCredentials | undefined,
    private readonly what: string,
  ) {
    this.agent = base.startsWith('https:') ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  private once(method: string, url: URL, headers: Record<string, string>, body?: () => Readable | Buffer): Promise<Response> {
    return new Promise((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const req = lib.request(url, { method, headers: { 'User-Agent': 'berth', ...headers, ...(this.authorization ? { Authorization: this.authorization } : {}) }, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (chunks.reduce((n, b) => n + b.length, 0) < 64 << 10) chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.setTimeout(120_000, () => req.destroy(new Error(`no answer from ${url.host} for 120 s`)));
      req.on('error', (err) => reject(new BuildError(`${this.what}: cannot reach ${url.host}: ${err.message}`, undefined, { cause: err })));
      const payload = body?.();
      if (payload === undefined) req.end();
      else if (Buffer.isBuffer(payload)) req.end(payload);
      else {
        payload.on('error', (err) => req.destroy(err));
        payload.pipe(req);
      }
    });
  }

  /** A request, authenticating and retrying once on 401 (the body is re-opened for the retry). */
  async request(method: string, pathOrUrl: string, headers: Record<string, string> = {}, body?: () => Readable | Buffer): Promise<Response> {
    const url = new URL(pathOrUrl, this.base);
    const res = await this.once(method, url, headers, body);
    if (res.status !== 401) return res;
    await this.authenticate(res.headers['www-authenticate']);
    const again = await this.once(method, url, headers, body);
    if (again.status === 401) {
      throw new BuildError(`${this.what}: the registry refused ${this.credentials ? `the credentials of ${this.credentials.username}` : 'an anonymous push (give credentials)'} (401${errorText(again)})`);
    }
    return again;
  }

  private async authenticate(header: string | string[] | undefined): Promise<void> {
    const challenge = parseChallenges(Array.isArray(header) ? header.join(', ') : (header ?? '')).find((c) => c.scheme === 'bearer' || c.scheme === 'basic');
    if (challenge === undefined) throw new BuildError(`${this.what}: the registry answered 401 without a Bearer or Basic challenge`);
    if (challenge.scheme === 'basic') {
      if (this.credentials === undefined) throw new BuildError(`${this.what}: the registry asks for Basic authentication and no credentials were given`);
      this.authorization = basicAuthorization(this.credentials);
      return;
    }
    const realm = challenge.params.realm;
    if (realm === undefined) throw new BuildError(`${this.what}: the bearer challenge names no realm`);
    const url = new URL(realm);
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', `repository:${this.ref.repository}:pull,push`);
    if (this.credentials) url.searchParams.set('account', this.credentials.username);
    this.authorization = undefined;
    const res = await this.once('GET', url, this.credentials ? { Authorization: basicAuthorization(this.credentials) } : {});
    if (res.status !== 200) throw new BuildError(`${this.what}: the token server at ${url.origin} refused (${res.status}${errorText(res)})`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body);
    } catch (err) {
      throw new BuildError(`${this.what}: the token server's answer is not JSON`, undefined, { cause: err });
    }
    const token = parseTokenResponse(parsed, Date.now());
    if (token === undefined) throw new BuildError(`${this.what}: the token server's answer has no token`);
    this.authorization = `Bearer ${token.token}`;
  }
}

/** The registry's own error text, when it sent the distribution error JSON. */
function errorText(res: Response): string {
  try {
    const first = (JSON.parse(res.body) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
    return first === undefined ? '' : `: ${first.code ?? ''} ${first.message ?? ''}`.trimEnd();
  } catch {
    return '';
  }
}

/**
 * Pushes an image from `store` to `target` (a reference with a tag).
 *
 * @example await pushImage(images.content, result, '127.0.0.1:4566/web:1', { credentials: { username: 'AWS', password } })
 */
export async function pushImage(store: ContentStore, image: PushableImage, target: string, options: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(target);
  const reference = formatReference(ref);
  if (ref.tag === undefined) throw new BuildError(`push ${target}: give a tag to push to (REPO:TAG)`);
  const what = `push ${reference}`;
  const emit = options.onProgress ?? (() => undefined);
  const mapped = options.endpoints?.[ref.registry];
  const base = mapped ?? `${isLoopback(ref.registry) || (options.insecureRegistries ?? []).includes(ref.registry) ? 'http' : 'https'}://${ref.registry}`;
  const session = new RepositorySession(base.replace(/\/+$/, ''), ref, options.credentials, what);
  const repo = `/v2/${ref.repository}`;
  let uploaded = 0;
  let skipped = 0;
  try {
    const blobs: Array<{ digest: string; size: number }> = [...image.layers, image.config];
    const seen = new Set<string>();
    for (const blob of blobs) {
      if (seen.has(blob.digest)) continue;
      seen.add(blob.digest);
      const head = await session.request('HEAD', `${repo}/blobs/${blob.digest}`);
      if (head.status === 200) {
        skipped++;
        emit({ type: 'exists', digest: blob.digest, size: blob.size });
        continue;
      }
      if (head.status !== 404) throw failure(what, `checking ${blob.digest}`, head);
      emit({ type: 'uploading', digest: blob.digest, size: blob.size });
      const started = await session.request('POST', `${repo}/blobs/uploads/`, { 'Content-Length': '0' });
      if (started.status !== 202 || typeof started.headers.location !== 'string') throw failure(what, `starting the upload of ${blob.digest}`, started);
      const location = new URL(started.headers.location, `${base}/`);
      location.searchParams.set('digest', blob.digest);
      const put = await session.request(
        'PUT',
        location.toString(),
        { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) },
        () => createReadStream(store.blobPath(blob.digest)),
      );
      if (put.status !== 201) throw failure(what, `uploading ${blob.digest}`, put);
      uploaded++;
      emit({ type: 'uploaded', digest: blob.digest, size: blob.size });
    }
    const manifest = await store.readBlob(image.digest);
    const res = await session.request('PUT', `${repo}/manifests/${ref.tag}`, { 'Content-Type': image.mediaType, 'Content-Length': String(manifest.length) }, () => manifest);
    if (res.status !== 201) throw failure(what, 'putting the manifest', res);
    const stored = res.headers['docker-content-digest'];
    if (typeof stored === 'string' && stored !== '' && stored !== image.digest) {
      throw new BuildError(`${what}: the registry stored the manifest as ${stored}, not ${image.digest}`);
    }
    emit({ type: 'manifest', reference, digest: image.digest });
    return { reference, digest: image.digest, uploaded, skipped };
  } finally {
    session.close();
  }
}

function failure(what: string, doing: string, res: Response): BuildError {
  const reason = res.status === 403 ? 'access denied' : `the registry answered ${res.status}`;
  return new BuildError(`${what}: ${doing}: ${reason}${errorText(res)}`);
}
