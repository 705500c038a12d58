/**
 * The OCI distribution client: manifests and blobs over HTTP(S) with node:http, anonymous, Basic and
 * bearer-token auth (the `WWW-Authenticate` dance, a 401 retried once), redirects for blobs, and
 * bounded manifest reads. It only fetches; verification of blobs happens where they are stored.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { basicAuthorization, parseChallenges, parseTokenResponse, pullScope, TokenCache, type Challenge, type RegistryCredentials } from './auth.js';
import { digestOf, parseDigest, verifyBytes } from './digest.js';
import { ImageError } from './errors.js';
import { MANIFEST_ACCEPT, parseManifest, type Descriptor, type ImageIndex, type ImageManifest } from './manifest.js';
import { DOCKER_HUB, formatReference, manifestReference, type ImageReference } from './reference.js';

export interface RegistryClientOptions {
  /**
   * Base URLs by registry host, e.g. `{ 'docker.io': 'http://127.0.0.1:5000' }` for a mirror, or
   * `{ 'reg:5000': 'https://reg:5000' }` to force a scheme. Others use https, or http when insecure.
   */
  endpoints?: Record<string, string>;
  /** Registry hosts reached over plain http. Loopback hosts (127.0.0.0/8, ::1, localhost) always are. */
  insecureRegistries?: string[];
  /**
   * Whether a Docker Hub name without an `endpoints['docker.io']` mirror may go to Docker Hub.
   * Off by default: a Berth host is often offline, and it should say so rather than hang.
   */
  dockerHub?: boolean;
  /** Largest manifest or index accepted, in bytes (default 4 MiB, containerd's bound). */
  maxManifestBytes?: number;
  /** A socket idle this long fails the request (default 60 s). */
  idleTimeoutMs?: number;
  /** The clock for token expiry. */
  now?: () => number;
  userAgent?: string;
}

export interface RequestOptions {
  credentials?: RegistryCredentials;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  manifest: ImageIndex | ImageManifest;
}

const DEFAULT_MAX_MANIFEST = 4 << 20;
const MAX_REDIRECTS = 5;

function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

interface RegistryErrorBody {
  errors?: Array<{ code?: string; message?: string }>;
}

export class RegistryClient {
  private readonly tokens: TokenCache;
  private readonly challenges = new Map<string, Challenge>(); // per registry: how it asked to be authenticated
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent = new https.Agent({ keepAlive: true });
  private readonly maxManifest: number;
  private readonly idleTimeout: number;

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.tokens = new TokenCache(options.now ?? Date.now);
    this.maxManifest = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
    this.idleTimeout = options.idleTimeoutMs ?? 60_000;
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** The base URL for a registry, or a clear refusal for Docker Hub without a mirror. */
  baseUrl(ref: ImageReference): string {
    const mapped = this.options.endpoints?.[ref.registry];
    if (mapped !== undefined) return mapped.replace(/\/+$/, '');
    if (ref.registry === DOCKER_HUB) {
      if (!this.options.dockerHub) {
        throw new ImageError(
          'Unreachable',
          `${formatReference(ref)} is a Docker Hub image (the name has no registry host), and this Berth host does not contact Docker Hub: ` +
            `push the image to a registry it can reach and use that name (e.g. 127.0.0.1:5000/${ref.repository.replace(/^library\//, '')}), or configure a docker.io mirror`,
        );
      }
      return 'https://registry-1.docker.io';
    }
    const insecure = isLoopback(ref.registry) || (this.options.insecureRegistries ?? []).includes(ref.registry);
    return `${insecure ? 'http' : 'https'}://${ref.registry}`;
  }

  /**
   * Fetches a manifest or index by the reference's tag or digest, or by `descriptor` (an index
   * entry), verified: by digest when one is known, and against the registry's
   * Docker-Content-Digest otherwise.
   *
   * @example const { digest, manifest } = await client.getManifest(parseReference('127.0.0.1:5000/web:1'));
   */
  async getManifest(ref: ImageReference, options: RequestOptions & { descriptor?: Descriptor } = {}): Promise<FetchedManifest> {
    const { wanted, byDigest, path, what } = manifestTarget(ref, options.descriptor);
    if (options.descriptor !== undefined && options.descriptor.size > this.maxManifest) {
      throw new ImageError('TooLarge', `${what} is ${options.descriptor.size} bytes, above the ${this.maxManifest}-byte bound`);
    }
    const res = await this.request(ref, path, { Accept: MANIFEST_ACCEPT }, options.credentials, what);
    const bytes = await readBounded(res, this.maxManifest, what);
    let digest: string;
    if (byDigest) {
      verifyBytes(bytes, wanted, options.descriptor?.size, what);
      digest = wanted;
    } else {
      const header = res.headers['docker-content-digest'];
      if (typeof header === 'string' && header !== '') {
        parseDigest(header, `${what} Docker-Content-Digest`);
        verifyBytes(bytes, header, undefined, what);
        digest = header;
      } else {
        digest = digestOf(bytes);
      }
    }
    const manifest = parseManifest(bytes, res.headers['content-type'], what);
    return { digest, mediaType: manifest.mediaType, bytes, manifest };
  }

  /**
   * The digest a manifest reference names at the registry now, from a HEAD's Docker-Content-Digest
   * (nothing fetched); undefined when the registry answers without one or refuses (a GET then says
   * why, with the registry's error body).
   */
  async headManifest(ref: ImageReference, options: RequestOptions = {}): Promise<string | undefined> {
    const { path, what } = manifestTarget(ref);
    let res: IncomingMessage;
    try {
      res = await this.request(ref, path, { Accept: MANIFEST_ACCEPT }, options.credentials, what, 'HEAD');
    } catch (err) {
      if (err instanceof ImageError && err.code !== 'Unreachable') return undefined;
      throw err;
    }
    res.resume();
    const header = res.headers['docker-content-digest'];
    if (typeof header !== 'string' || header === '') return undefined;
    parseDigest(header, `${what} Docker-Content-Digest`);
    return header;
  }

  /**
   * Opens a blob's byte stream. Callers must verify it (ContentStore.ingest does, as it streams).
   * A Content-Length that differs from the descriptor's size is refused before any byte is read.
   */
  async openBlob(ref: ImageReference, descriptor: Descriptor, options: RequestOptions = {}): Promise<IncomingMessage> {
    const what = `blob ${ref.registry}/${ref.repository}@${descriptor.digest}`;
    const res = await this.request(ref, `/v2/${ref.repository}/blobs/${descriptor.digest}`, {}, options.credentials, what);
    const length = res.headers['content-length'];
    if (length !== undefined && Number(length) !== descriptor.size) {
      res.destroy();
      throw new ImageError('SizeMismatch', `${what} is served as ${length} bytes, its descriptor says ${descriptor.size}; refused`);
    }
    return res;
  }

  /** GET with authentication: up front when the registry's scheme is known, else on its first 401. */
  private async request(ref: ImageReference, path: string, headers: Record<string, string>, creds: RegistryCredentials | undefined, what: string, method: 'GET' | 'HEAD' = 'GET'): Promise<IncomingMessage> {
    const base = this.baseUrl(ref);
    const scope = pullScope(ref.repository);
    let authorization = await this.authorization(ref.registry, scope, creds, undefined, what);
    for (let attempt = 0; ; attempt++) {
      const res = await this.get(`${base}${path}`, { ...headers, ...(authorization ? { Authorization: authorization } : {}) }, what, method);
      if (res.statusCode === 401 && attempt === 0) {
        const header = res.headers['www-authenticate'];
        res.resume();
        const challenge = parseChallenges(Array.isArray(header) ? header.join(', ') : (header ?? '')).find((c) => c.scheme === 'bearer' || c.scheme === 'basic');
        if (challenge === undefined) throw new ImageError('Unauthorized', `${what}: the registry answered 401 without a Bearer or Basic challenge`);
        this.challenges.set(ref.registry, challenge);
        const retryScope = challenge.params.scope ?? scope;
        if (challenge.params.realm !== undefined) this.tokens.delete(TokenCache.key(challenge.params.realm, challenge.params.service, retryScope, creds?.username));
        authorization = await this.authorization(ref.registry, retryScope, creds, challenge, what);
        if (authorization === undefined) {
          throw new ImageError('Unauthorized', `${what}: the registry asks for ${challenge.scheme === 'basic' ? 'Basic' : 'Bearer'} authentication and no credentials were given`);
        }
        continue;
      }
      if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) return res;
      throw await registryError(res, what);
    }
  }

  /** The Authorization header for a request, fetching a bearer token when the registry wants one. */
  private async authorization(registry: string, scope: string, creds: RegistryCredentials | undefined, fresh: Challenge | undefined, what: string): Promise<string | undefined> {
    const challenge = fresh ?? this.challenges.get(registry);
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') return creds ? basicAuthorization(creds) : undefined;
    const realm = challenge.params.realm;
    if (realm === undefined) throw new ImageError('RegistryError', `${what}: the bearer challenge names no realm`);
    const key = TokenCache.key(realm, challenge.params.service, scope, creds?.username);
    const cached = this.tokens.get(key);
    if (cached !== undefined) return `Bearer ${cached}`;

    let url: URL;
    try {
      url = new URL(realm);
    } catch (err) {
      throw new ImageError('RegistryError', `${what}: the token realm ${JSON.stringify(realm)} is not a URL`, { cause: err });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ImageError('RegistryError', `${what}: the token realm ${realm} is not http(s)`);
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', scope);
    if (creds) url.searchParams.set('account', creds.username);
    const tokenWhat = `token for ${what} from ${url.origin}${url.pathname}`;
    const res = await this.get(url.toString(), creds ? { Authorization: basicAuthorization(creds) } : {}, tokenWhat);
    if (res.statusCode === 401 || res.statusCode === 403) {
      res.resume();
      throw new ImageError(res.statusCode === 401 ? 'Unauthorized' : 'Denied', `${tokenWhat}: the token server refused ${creds ? `the credentials of ${creds.username}` : 'an anonymous request'} (${res.statusCode})`);
    }
    if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) throw await registryError(res, tokenWhat);
    const body = await readBounded(res, 1 << 20, tokenWhat);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new ImageError('RegistryError', `${tokenWhat}: the answer is not JSON`, { cause: err });
    }
    const token = parseTokenResponse(parsed, (this.options.now ?? Date.now)());
    if (token === undefined) throw new ImageError('RegistryError', `${tokenWhat}: the answer has no token`);
    this.tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  /** One GET, following redirects (blob stores do); Authorization is dropped when the origin changes. */
  private async get(url: string, headers: Record<string, string>, what: string, method: 'GET' | 'HEAD' = 'GET'): Promise<IncomingMessage> {
    let current = new URL(url);
    const origin = current.origin;
    for (let hop = 0; ; hop++) {
      const sameOrigin = current.origin === origin;
      const sent: Record<string, string> = { 'User-Agent': this.options.userAgent ?? 'berth', ...headers };
      if (!sameOrigin) delete sent.Authorization;
      const res = await this.once(current, sent, what, method);
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location !== undefined) {
        res.resume();
        if (hop >= MAX_REDIRECTS) throw new ImageError('RegistryError', `${what}: more than ${MAX_REDIRECTS} redirects`);
        current = new URL(res.headers.location, current);
        if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new ImageError('RegistryError', `${what}: redirected to ${current.protocol} URL`);
        continue;
      }
      return res;
    }
  }

  private once(url: URL, headers: Record<string, string>, what: string, method: 'GET' | 'HEAD'): Promise<IncomingMessage> {
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent }, resolve);
      req.setTimeout(this.idleTimeout, () => req.destroy(new ImageError('Unreachable', `${what}: no answer from ${url.host} for ${this.idleTimeout} ms`)));
      req.on('error', (err) => {
        if (err instanceof ImageError) reject(err);
        else reject(new ImageError('Unreachable', `${what}: cannot reach ${url.host}: ${err.message}`, { cause: err }));
      });
      req.end();
    });
  }
}

/** Reads a whole body, refusing more than `max` bytes without buffering them. */
async function readBounded(res: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const length = Number(res.headers['content-length']);
  if (Number.isFinite(length) && length > max) {
    res.destroy();
    throw new ImageError('TooLarge', `${what} is ${length} bytes, above the ${max}-byte bound`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      total += chunk.byteLength;
      if (total > max) {
        res.destroy();
        throw new ImageError('TooLarge', `${what} is larger than the ${max}-byte bound`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ImageError) throw err;
    throw new ImageError('Unreachable', `${what}: the connection failed mid-answer: ${(err as Error).message}`, { cause: err });
  }
  return Buffer.concat(chunks);
}

/** Where a manifest is asked for (the reference's tag or digest, or an index entry's digest), and how errors name it. */
function manifestTarget(ref: ImageReference, descriptor?: Descriptor): { wanted: string; byDigest: boolean; path: string; what: string } {
  const wanted = descriptor?.digest ?? manifestReference(ref);
  const byDigest = descriptor !== undefined || ref.digest !== undefined;
  return { wanted, byDigest, path: `/v2/${ref.repository}/manifests/${wanted}`, what: `manifest ${ref.registry}/${ref.repository}${byDigest ? '@' : ':'}${wanted}` };
}

/** Turns a non-success answer into an ImageError, quoting the registry's own error message. */
async function registryError(res: IncomingMessage, what: string): Promise<ImageError> {
  const status = res.statusCode ?? 0;
  let detail = '';
  try {
    const body = await readBounded(res, 64 << 10, what);
    const parsed = JSON.parse(body.toString('utf8')) as RegistryErrorBody;
    const first = parsed.errors?.[0];
    if (first) detail = `: ${first.code ?? 'ERROR'} ${first.message ?? ''}`.trimEnd();
  } catch {
    // A body that is not the registry error JSON adds nothing; the status says enough.
  }
  switch (status) {
    case 404:
      return new ImageError('NotFound', `${what} not found (404${detail})`);
    case 401:
      return new ImageError('Unauthorized', `${what}: still unauthorized after authenticating (401${detail})`);
    case 403:
      return new ImageError('Denied', `${what}: access denied (403${detail})`);
    default:
      return new ImageError('RegistryError', `${what}: the registry answered ${status}${detail}`);
  }
}
