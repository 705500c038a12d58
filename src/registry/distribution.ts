/**
 * The OCI Distribution Spec v1.1 HTTP API, mounted on the edge at `/v2/`: version check, blobs,
 * uploads (monolithic, chunked, resumable, cross-repository mount), manifests with content
 * negotiation, referrers, tag listing and `_catalog`. Every request authenticates with an ECR-style
 * token (auth.ts) and is authorized per repository before anything else is said about it; errors
 * use the spec's JSON codes (errors.ts).
 *
 * Bytes stream between the socket and the blob store; nothing bigger than a manifest is held in
 * memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MountHandler } from '../edge/edge.js';
import type { Logger } from '../edge/logger.js';
import type { RegistryAction, RegistryAuthorizer, RegistryCaller, TokenValidator } from './auth.js';
import { parseBasicAuthorization } from './auth.js';
import type { BlobStore } from './blob-store.js';
import { BufferPool, sendFileRange } from './blob-send.js';
import { clip, looksLikeDigest, parseDigest } from './digest.js';
import { DownloadUrlSigner } from './download-urls.js';
import type { Digest } from './digest.js';
import { ClientAbortedError, RegistryError } from './errors.js';
import { MAX_MANIFEST_BYTES, MEDIA_TYPE, isIndexMediaType, parseManifest } from './manifest.js';
import { pushManifest } from './push.js';
import type { Descriptor } from './manifest.js';
import type { ManifestRecord, RegistryMetadata, RepositoryRecord } from './metadata.js';
import { checkRepositoryName, checkTag, isRepositoryName } from './names.js';
import type { ChunkRange, UploadSessions } from './uploads.js';
import { isUploadId, uploadRange } from './uploads.js';

/** Distinct Authorization headers whose decoding is remembered (the oldest is forgotten first). */
const MAX_DECODED_HEADERS = 1000;
/** Pages of tags and repositories are at most this long; `n` above it is clamped (with a Link). */
export const MAX_PAGE_SIZE = 10_000;
/**
 * Blob downloads read the file in chunks of this size, two per download in flight (blob-send.ts).
 * Against 1 MiB, 4 MiB chunks cut the server's CPU per 105 MB skopeo pull from ~80 to ~60 ms
 * (a quarter of the reads and of the event-loop turns), which skopeo, sharing the two cores,
 * gets back; memory is 8 MiB per download in flight. (Those reads go to the socket in 32 KiB writes.)
 */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;
/** Read buffers kept between downloads: two downloads' worth. */
const IDLE_READ_BUFFERS = 4;

export interface DistributionDeps {
  readonly meta: RegistryMetadata;
  readonly blobs: BlobStore;
  readonly uploads: UploadSessions;
  readonly tokens: TokenValidator;
  readonly downloadUrls: DownloadUrlSigner;
  readonly authorize: RegistryAuthorizer;
  /** Create a repository on its first push (ECR's create-on-push); otherwise pushes need CreateRepository. */
  readonly createRepositoryOnPush: boolean;
  readonly maxBlobBytes: number;
  /** The Basic auth realm clients are challenged with. */
  readonly realm: string;
  readonly now: () => Date;
  readonly logger: Logger;
}

type Route =
  | { readonly kind: 'base' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'uploads'; readonly name: string }
  | { readonly kind: 'upload'; readonly name: string; readonly id: string }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: string }
  | { readonly kind: 'manifest'; readonly name: string; readonly reference: string }
  | { readonly kind: 'tags'; readonly name: string }
  | { readonly kind: 'referrers'; readonly name: string; readonly digest: string };

/** What a request needs as it is served. */
interface Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly method: string;
  readonly query: URLSearchParams;
  readonly caller: RegistryCaller;
}

const ROUTES: readonly [RegExp, (m: RegExpExecArray) => Route][] = [
  // Names may contain '/', so each pattern anchors on what follows the name; greedy `(.+)` lets a
  // repository itself be called e.g. `x/blobs`.
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

function matchRoute(path: string): Route | undefined {
  if (path === '/v2' || path === '/v2/') return { kind: 'base' };
  for (const [pattern, make] of ROUTES) {
    const m = pattern.exec(path);
    if (m !== null) return make(m);
  }
  return undefined;
}

/**
 * The `/v2/` mount handler.
 *
 * @example edge.mount('/v2/', createDistributionHandler(deps));
 */
export function createDistributionHandler(deps: DistributionDeps): MountHandler {
  const { meta, blobs, uploads, logger } = deps;
  const readBuffers = new BufferPool(READ_CHUNK_BYTES, IDLE_READ_BUFFERS);

  async function serve(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://registry.invalid');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      throw notFound(url.pathname);
    }
    const route = matchRoute(path);
    // Authentication comes before anything is said: an anonymous caller learns nothing, not even
    // which paths exist. A presigned blob URL (GetDownloadUrlForLayer) is its own credential.
    const presigned = route?.kind === 'blob' && (method === 'GET' || method === 'HEAD') && DownloadUrlSigner.isPresigned(url.searchParams);
    const caller = presigned ? await authenticatePresigned(path, url.searchParams) : await authenticate(req);
    const call: Call = { req, res, requestId, method, query: url.searchParams, caller };
    if (route === undefined) throw notFound(path);
    if (route.kind !== 'base' && route.kind !== 'catalog') checkRepositoryName(route.name);
    switch (route.kind) {
      case 'base':
        allow(method, ['GET', 'HEAD']);
        return send(call, 200, { 'Content-Type': 'application/json' }, '{}');
      case 'catalog':
        allow(method, ['GET']);
        return catalog(call);
      case 'uploads':
        allow(method, ['POST']);
        return startUpload(call, route.name);
      case 'upload':
        // Checked first: the id is echoed in headers, and only ids we issued may be.
        if (!isUploadId(route.id)) {
          throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload '${clip(route.id)}' is unknown in repository '${route.name}'`, { detail: { uuid: clip(route.id) } });
        }
        return withUploadHeaders(route.name, route.id, () => {
          switch (allow(method, ['GET', 'PATCH', 'PUT', 'DELETE'])) {
            case 'GET':
              return uploadStatus(call, route.name, route.id);
            case 'PATCH':
              return patchUpload(call, route.name, route.id);
            case 'PUT':
              return completeUpload(call, route.name, route.id);
            case 'DELETE':
              return cancelUpload(call, route.name, route.id);
          }
        });
      case 'blob':
        return allow(method, ['GET', 'HEAD', 'DELETE']) === 'DELETE' ? deleteBlob(call, route.name, route.digest) : getBlob(call, route.name, route.digest);
      case 'manifest': {
        const verb = allow(method, ['GET', 'HEAD', 'PUT', 'DELETE']);
        if (verb === 'PUT') return putManifest(call, route.name, route.reference);
        if (verb === 'DELETE') return deleteManifest(call, route.name, route.reference);
        return getManifest(call, route.name, route.reference);
      }
      case 'tags':
        allow(method, ['GET']);
        return listTags(call, route.name);
      case 'referrers':
        allow(method, ['GET']);
        return referrers(call, route.name, route.digest);
    }
  }

  /** Authorization headers already decoded: a client sends the same one with every request. */
  const decodedHeaders = new Map<string, string | undefined>();

  async function authenticate(req: IncomingMessage): Promise<RegistryCaller> {
    const header = req.headers.authorization;
    let token = header === undefined ? undefined : decodedHeaders.get(header);
    if (header !== undefined && token === undefined) {
      token = parseBasicAuthorization(header);
      if (token !== undefined) {
        if (decodedHeaders.size >= MAX_DECODED_HEADERS) decodedHeaders.delete(decodedHeaders.keys().next().value!);
        decodedHeaders.set(header, token);
      }
    }
    if (token === undefined) {
      throw unauthorized('authentication required: send Basic credentials for the user AWS with the password from `aws ecr get-login-password`');
    }
    const check = await deps.tokens.check(token, deps.now());
    if (check.ok) return check.caller;
    switch (check.reason) {
      case 'expired':
        throw unauthorized('Your authorization token has expired. Reauthenticate and try again.');
      case 'key-inactive':
        throw unauthorized('the access key this token was issued to is no longer active; get a new token');
      case 'foreign-account':
      case 'unknown':
        throw unauthorized('the authorization token is not valid; get a new one with `aws ecr get-login-password`');
    }
  }

  async function authenticatePresigned(path: string, query: URLSearchParams): Promise<RegistryCaller> {
    const caller = await deps.downloadUrls.verify(path, query, deps.now());
    if (caller === undefined) throw unauthorized('the presigned URL is not valid or has expired; ask GetDownloadUrlForLayer for a new one');
    return caller;
  }

  function unauthorized(message: string): RegistryError {
    return new RegistryError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': `Basic realm="${deps.realm}",service="ecr"` } });
  }

  /** Checks the caller's right; DENIED names the action and the repository. */
  async function authorize(call: Call, action: RegistryAction, repository: string): Promise<void> {
    if (!(await deps.authorize({ caller: call.caller, action, repository }))) {
      throw new RegistryError('DENIED', `${call.caller.accessKeyId} may not ${action} ${action === 'push' ? 'to' : action === 'pull' ? 'from' : 'in'} repository '${repository}'`, {
        detail: { name: repository, action },
      });
    }
  }

  async function requireRepository(name: string): Promise<RepositoryRecord> {
    const repo = await meta.getRepository(name);
    if (repo === undefined) throw nameUnknown(name);
    return repo;
  }

  /**
   * For a push: the repository's record to create alongside the first write when it does not exist
   * yet (create-on-push), undefined when it exists; NAME_UNKNOWN when pushes must not create it.
   */
  async function repositoryForPush(name: string): Promise<RepositoryRecord | undefined> {
    if ((await meta.getRepository(name)) !== undefined) return undefined;
    if (!deps.createRepositoryOnPush) throw nameUnknown(name);
    return newRepository(name);
  }

  /** The record of a repository a push creates. */
  function newRepository(name: string): RepositoryRecord {
    return { name, createdAt: deps.now().toISOString(), imageTagMutability: 'MUTABLE', scanOnPush: false, createdBy: 'push' };
  }

  // --- blobs ------------------------------------------------------------------------------------

  async function getBlob(call: Call, name: string, digestText: string): Promise<void> {
    await authorize(call, 'pull', name);
    await requireRepository(name);
    const digest = parseDigest(digestText);
    const link = await meta.getBlobLink(name, digest.text);
    const opened = link === undefined ? undefined : await blobs.openRead(digest);
    if (opened === undefined) throw blobUnknown(digest.text);
    const { handle, size } = opened;
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': digest.text,
      ETag: `"${digest.text}"`,
      'Accept-Ranges': 'bytes',
      // A digest names its bytes forever.
      'Cache-Control': 'max-age=31536000',
    };
    const range = call.method === 'GET' ? parseRangeHeader(call.req.headers.range, size) : undefined;
    if (range === 'unsatisfiable') {
      await handle.close();
      return send(call, 416, { 'Content-Range': `bytes */${size}` });
    }
    if (call.method === 'HEAD') {
      await handle.close();
      return send(call, 200, { ...headers, 'Content-Length': String(size) });
    }
    const status = range === undefined ? 200 : 206;
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    if (range !== undefined) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    call.res.writeHead(status, { ...commonHeaders(call), ...headers, 'Content-Length': String(end - start + 1) });
    if (end < start) {
      await handle.close();
      call.res.end();
      return;
    }
    // A client that stops reading (its download resumes with Range) is a ClientAbortedError:
    // nothing to answer. Anything else (a disk error, a short file) is a fault, logged by the
    // handler, which also drops the connection.
    await sendFileRange(handle, call.res, start, end, readBuffers);
  }

  async function deleteBlob(call: Call, name: string, digestText: string): Promise<void> {
    await authorize(call, 'delete', name);
    await requireRepository(name);
    const digest = parseDigest(digestText);
    if (!(await meta.unlinkBlob(name, digest.text))) throw blobUnknown(digest.text);
    return send(call, 202, {});
  }

  // --- uploads ----------------------------------------------------------------------------------

  async function startUpload(call: Call, name: string): Promise<void> {
    await authorize(call, 'push', name);
    const mount = call.query.get('mount');
    const digestParam = call.query.get('digest');
    // A bare session writes nothing here: with create-on-push, the PUT that ends it creates the
    // repository, so there is nothing to read yet.
    const bare = mount === null && digestParam === null;
    const create = bare && deps.createRepositoryOnPush ? undefined : await repositoryForPush(name);
    if (mount !== null) {
      const mounted = await tryMount(call, name, mount, call.query.get('from'), create);
      if (mounted !== undefined) return blobCreated(call, name, mounted);
    }
    if (digestParam !== null && mount === null) {
      // Monolithic: the whole blob in this one request, verified as it streams in.
      const digest = parseDigest(digestParam);
      const length = declaredLength(call.req);
      if (length !== undefined && length > deps.maxBlobBytes) throw tooLarge(deps.maxBlobBytes);
      const stored = await blobs.write(digest, bodyOf(call.req), { maxBytes: deps.maxBlobBytes, ...(length !== undefined && { expectedLength: length }) });
      await meta.linkBlob(name, digest.text, stored.size, deps.now(), create);
      return blobCreated(call, name, digest);
    }
    const session = await uploads.start(name);
    return send(call, 202, { Location: uploadLocation(name, session.id), Range: uploadRange(0), 'Docker-Upload-UUID': session.id });
  }

  /**
   * Cross-repository mount: links a blob the caller may pull from `from` into `name`. Anything
   * that does not work out (bad arguments, no right, no blob) falls back to a plain upload, as the
   * spec says, so the client just pushes the bytes.
   */
  async function tryMount(call: Call, name: string, mountParam: string, from: string | null, create: RepositoryRecord | undefined): Promise<Digest | undefined> {
    let digest: Digest;
    try {
      digest = parseDigest(mountParam);
    } catch {
      return undefined;
    }
    if (from === null || !isRepositoryName(from)) return undefined;
    if (!(await deps.authorize({ caller: call.caller, action: 'pull', repository: from }))) return undefined;
    const link = await meta.getBlobLink(from, digest.text);
    // Touching claims the bytes against a concurrent GC; false means they are gone.
    if (link === undefined || !(await blobs.touch(digest))) return undefined;
    await meta.linkBlob(name, digest.text, link.size, deps.now(), create);
    return digest;
  }

  async function uploadStatus(call: Call, name: string, id: string): Promise<void> {
    await authorize(call, 'push', name);
    const offset = await uploads.status(name, id);
    return send(call, 204, { Location: uploadLocation(name, id), Range: uploadRange(offset), 'Docker-Upload-UUID': id });
  }

  async function patchUpload(call: Call, name: string, id: string): Promise<void> {
    await authorize(call, 'push', name);
    const range = contentRange(call.req);
    const length = declaredLength(call.req);
    const offset = await uploads.append(name, id, {
      ...(hasBody(call.req) && { body: bodyOf(call.req) }),
      ...(range !== undefined && { range }),
      ...(length !== undefined && { contentLength: length }),
    });
    return send(call, 202, { Location: uploadLocation(name, id), Range: uploadRange(offset), 'Docker-Upload-UUID': id });
  }

  async function completeUpload(call: Call, name: string, id: string): Promise<void> {
    await authorize(call, 'push', name);
    const digestParam = call.query.get('digest');
    if (digestParam === null) throw new RegistryError('DIGEST_INVALID', 'completing an upload needs ?digest=<the blob digest>');
    const digest = parseDigest(digestParam);
    const create = await repositoryForPush(name);
    const range = contentRange(call.req);
    const length = declaredLength(call.req);
    // The session ends and the blob is linked (and the repository created) in one commit.
    const chunk = { ...(hasBody(call.req) && { body: bodyOf(call.req) }), ...(range !== undefined && { range }), ...(length !== undefined && { contentLength: length }) };
    await uploads.complete(name, id, digest, chunk, create);
    return blobCreated(call, name, digest);
  }

  async function cancelUpload(call: Call, name: string, id: string): Promise<void> {
    await authorize(call, 'push', name);
    await uploads.cancel(name, id);
    return send(call, 204, {});
  }

  /** A 416 on an upload tells the client where the upload is, so it can resume (spec). */
  async function withUploadHeaders(name: string, id: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof RegistryError && err.status === 416) {
        throw new RegistryError(err.code, err.message, {
          status: 416,
          detail: err.detail,
          headers: { ...err.headers, Location: uploadLocation(name, id), 'Docker-Upload-UUID': id },
        });
      }
      throw err;
    }
  }

  function blobCreated(call: Call, name: string, digest: Digest): void {
    send(call, 201, { Location: `/v2/${name}/blobs/${digest.text}`, 'Docker-Content-Digest': digest.text });
  }

  // --- manifests --------------------------------------------------------------------------------

  async function getManifest(call: Call, name: string, reference: string): Promise<void> {
    await authorize(call, 'pull', name);
    await requireRepository(name);
    let record = await resolveManifest(name, reference);
    const accept = acceptedTypes(call.req.headers.accept);
    if (!accepts(accept, record.mediaType)) {
      // A client that cannot read indexes gets the index's linux/amd64 image, as distribution does.
      const child = isIndexMediaType(record.mediaType) ? await platformChild(name, record, accept) : undefined;
      if (child === undefined) {
        throw new RegistryError('MANIFEST_UNKNOWN', `the manifest is ${record.mediaType}, which the Accept header does not list`, { status: 404, detail: { mediaType: record.mediaType } });
      }
      record = child;
    }
    const headers = { 'Content-Type': record.mediaType, 'Docker-Content-Digest': record.digest, ETag: `"${record.digest}"` };
    // HEAD is how clients ask "is it there?": the record answers without reading the bytes.
    if (call.method === 'HEAD') return send(call, 200, { ...headers, 'Content-Length': String(record.size) });
    const bytes = await blobs.read(parseDigest(record.digest));
    if (bytes === undefined) {
      logger.error('a manifest record has no bytes on disk', { name, digest: record.digest });
      throw manifestUnknown(reference);
    }
    return send(call, 200, headers, bytes);
  }

  async function resolveManifest(name: string, reference: string): Promise<ManifestRecord> {
    let digest: string;
    if (looksLikeDigest(reference)) {
      digest = parseDigest(reference).text;
    } else {
      checkTag(reference);
      const tag = await meta.getTag(name, reference);
      if (tag === undefined) throw manifestUnknown(reference);
      digest = tag.digest;
    }
    const record = await meta.getManifest(name, digest);
    if (record === undefined) throw manifestUnknown(reference);
    return record;
  }

  async function platformChild(name: string, index: ManifestRecord, accept: readonly string[]): Promise<ManifestRecord | undefined> {
    const bytes = await blobs.read(parseDigest(index.digest));
    if (bytes === undefined) return undefined;
    const parsed = parseManifest(bytes, index.mediaType);
    const fits = (d: Descriptor) => accepts(accept, d.mediaType);
    const isDefault = (d: Descriptor) => d.platform?.['os'] === 'linux' && d.platform['architecture'] === 'amd64';
    const child = parsed.manifests.find((d) => fits(d) && isDefault(d)) ?? parsed.manifests.find(fits);
    return child === undefined ? undefined : meta.getManifest(name, child.digest);
  }

  async function putManifest(call: Call, name: string, reference: string): Promise<void> {
    await authorize(call, 'push', name);
    // With create-on-push, the record goes to pushManifest unread: it creates the repository only
    // if it is absent in the very transaction that stores the manifest.
    const create = deps.createRepositoryOnPush ? newRepository(name) : await repositoryForPush(name);
    const byDigest = looksLikeDigest(reference) ? parseDigest(reference) : undefined;
    if (byDigest === undefined) checkTag(reference);
    const length = declaredLength(call.req);
    if (length !== undefined && length > MAX_MANIFEST_BYTES) throw tooLarge(MAX_MANIFEST_BYTES);
    const bytes = await readBody(call.req, MAX_MANIFEST_BYTES);
    const contentType = call.req.headers['content-type'];
    const pushed = await pushManifest(deps, {
      name,
      bytes,
      ...(contentType !== undefined && { contentType }),
      ...(byDigest === undefined ? { tag: reference } : { digest: byDigest }),
      ...(create !== undefined && { createRepository: create }),
    });
    const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${pushed.digest.text}`, 'Docker-Content-Digest': pushed.digest.text };
    if (pushed.parsed.subject !== undefined) headers['OCI-Subject'] = pushed.parsed.subject.digest;
    return send(call, 201, headers);
  }

  async function deleteManifest(call: Call, name: string, reference: string): Promise<void> {
    await authorize(call, 'delete', name);
    await requireRepository(name);
    let deleted: boolean;
    if (looksLikeDigest(reference)) {
      deleted = await meta.deleteManifest(name, parseDigest(reference).text);
    } else {
      checkTag(reference);
      deleted = await meta.deleteTag(name, reference);
    }
    if (!deleted) throw manifestUnknown(reference);
    return send(call, 202, {});
  }

  // --- listings ---------------------------------------------------------------------------------

  async function listTags(call: Call, name: string): Promise<void> {
    await authorize(call, 'pull', name);
    await requireRepository(name);
    const { n, last } = pageParams(call.query);
    const page = await meta.listTags(name, n, last);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const lastTag = page.items[page.items.length - 1];
    if (page.more && lastTag !== undefined) headers['Link'] = `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(lastTag)}>; rel="next"`;
    return send(call, 200, headers, JSON.stringify({ name, tags: page.items }));
  }

  async function catalog(call: Call): Promise<void> {
    const { n, last } = pageParams(call.query);
    // Only repositories the caller may pull are listed; keep reading until the page is full.
    const names: string[] = [];
    let after = last;
    let more = false;
    while (names.length < n) {
      const page = await meta.listRepositories(n - names.length, after);
      for (const repository of page.items) {
        if (await deps.authorize({ caller: call.caller, action: 'pull', repository })) names.push(repository);
      }
      after = page.items[page.items.length - 1] ?? after;
      more = page.more;
      if (!page.more) break;
    }
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const lastName = names[names.length - 1];
    if (more && lastName !== undefined) headers['Link'] = `</v2/_catalog?n=${n}&last=${encodeURIComponent(lastName)}>; rel="next"`;
    return send(call, 200, headers, JSON.stringify({ repositories: names }));
  }

  async function referrers(call: Call, name: string, digestText: string): Promise<void> {
    await authorize(call, 'pull', name);
    await requireRepository(name);
    const subject = parseDigest(digestText);
    const artifactType = call.query.get('artifactType');
    let manifests = await meta.listReferrers(name, subject.text);
    const headers: Record<string, string> = { 'Content-Type': MEDIA_TYPE.ociIndex };
    if (artifactType !== null) {
      manifests = manifests.filter((d) => d.artifactType === artifactType);
      headers['OCI-Filters-Applied'] = 'artifactType';
    }
    // The spec: an empty index, not 404, when nothing refers to the subject (or it does not exist).
    return send(call, 200, headers, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests }));
  }

  // --- the handler ------------------------------------------------------------------------------

  return async (req, res, { requestId }) => {
    try {
      await serve(req, res, requestId);
    } catch (thrown) {
      if (thrown instanceof ClientAbortedError) {
        logger.debug('registry client went away mid-request', { requestId, path: req.url });
        res.destroy();
        return;
      }
      const err = thrown instanceof RegistryError ? thrown : new RegistryError('UNKNOWN', 'an internal error occurred', { cause: thrown });
      if (err.status >= 500) logger.error('registry request failed', { requestId, method: req.method, path: req.url, error: thrown });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const call = { req, res, requestId, method: (req.method ?? 'GET').toUpperCase() };
      send(call, err.status, { ...err.headers, 'Content-Type': 'application/json' }, JSON.stringify(err));
    }
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.

function commonHeaders(call: Pick<Call, 'requestId'>): Record<string, string> {
  return { 'Docker-Distribution-API-Version': 'registry/2.0', 'x-amzn-RequestId': call.requestId };
}

/**
 * Writes a whole reply. A request body we did not read (a refusal before it) is not drained (it
 * may be gigabytes from someone unauthenticated): the connection closes after the reply instead.
 */
function send(call: Pick<Call, 'req' | 'res' | 'requestId' | 'method'>, status: number, headers: Record<string, string>, body?: string | Buffer): void {
  const out: Record<string, string> = { ...commonHeaders(call), ...headers };
  if (status !== 204 && out['Content-Length'] === undefined) out['Content-Length'] = String(body === undefined ? 0 : Buffer.byteLength(body));
  if (hasBody(call.req) && !call.req.readableEnded) out['Connection'] = 'close';
  call.res.writeHead(status, out);
  call.res.end(call.method === 'HEAD' || status === 204 ? undefined : body);
}

function allow<M extends string>(method: string, allowed: readonly M[]): M {
  if ((allowed as readonly string[]).includes(method)) return method as M;
  throw new RegistryError('UNSUPPORTED', `${method} is not supported here; use ${allowed.join(', ')}`, { headers: { Allow: allowed.join(', ') } });
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length.trim() !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** The declared Content-Length; SIZE_INVALID when it is not a number. */
function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw new RegistryError('SIZE_INVALID', `Content-Length '${clip(raw)}' is not a byte count`);
  return Number(raw.trim());
}

/**
 * The body as it streams in. Leaving the loop early (a refusal) must not destroy the socket: the
 * reply still has to go out on it.
 */
function bodyOf(req: IncomingMessage): AsyncIterable<Uint8Array> {
  return req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
}

/** A small body (a manifest), refused past `limit` without reading further. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of bodyOf(req)) {
      total += chunk.byteLength;
      if (total > limit) throw tooLarge(limit);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new ClientAbortedError(err);
  }
  return Buffer.concat(chunks, total);
}

/**
 * An upload chunk's Content-Range: `<start>-<end>` inclusive (the spec's form; `bytes ` prefixes
 * and a `/total` are tolerated). Malformed ones are 416, as the spec asks.
 */
function contentRange(req: IncomingMessage): ChunkRange | undefined {
  const raw = req.headers['content-range'];
  if (raw === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/.exec(raw.trim());
  const start = m === null ? NaN : Number(m[1]);
  const end = m === null ? NaN : Number(m[2]);
  if (!(end >= start)) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `Content-Range '${clip(raw)}' is not <start>-<end> with end >= start`, { status: 416 });
  }
  return { start, end };
}

/**
 * A blob GET's Range (RFC 9110): one `bytes=` range, suffix ranges included. Anything this does
 * not serve (several ranges, another unit, bad syntax) is ignored and the whole blob sent, as the
 * RFC allows; a range wholly past the end is unsatisfiable.
 */
export function parseRangeHeader(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

function acceptedTypes(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((part) => part.split(';')[0]!.trim().toLowerCase())
    .filter((t) => t !== '');
}

function accepts(accepted: readonly string[], mediaType: string): boolean {
  return accepted.length === 0 || accepted.includes(mediaType) || accepted.includes('*/*') || accepted.includes(`${mediaType.split('/')[0]}/*`);
}

function pageParams(query: URLSearchParams): { n: number; last: string | undefined } {
  const rawN = query.get('n');
  let n = MAX_PAGE_SIZE;
  if (rawN !== null) {
    if (!/^\d{1,9}$/.test(rawN)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be a non-negative integer, not '${clip(rawN)}'`, { detail: { n: clip(rawN) } });
    n = Math.min(Number(rawN), MAX_PAGE_SIZE);
  }
  const last = query.get('last');
  return { n, last: last === null || last === '' ? undefined : last };
}

const uploadLocation = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;

const nameUnknown = (name: string) => new RegistryError('NAME_UNKNOWN', `repository '${name}' does not exist`, { detail: { name } });
const blobUnknown = (digest: string) => new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in this repository`, { detail: { digest } });
const manifestUnknown = (reference: string) => new RegistryError('MANIFEST_UNKNOWN', `manifest '${clip(reference)}' is not in this repository`, { detail: { reference: clip(reference) } });
const tooLarge = (limit: number) => new RegistryError('SIZE_INVALID', `the body exceeds the limit of ${limit} bytes`, { status: 413 });
const notFound = (path: string) => new RegistryError('UNSUPPORTED', `nothing is served at ${clip(path)}`, { status: 404 });
