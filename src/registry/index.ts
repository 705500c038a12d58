/**
 * The registry module: Berth's own image registry (ECR's job). `createRegistry` gives the OCI
 * distribution API to mount on the edge at `/v2/`, garbage collection, and the parts the ECR API
 * builds on; the token functions serve GetAuthorizationToken.
 *
 * @example
 * const registry = await createRegistry({ store, root: join(home, 'registry'), accountId });
 * edge.mount('/v2/', registry.handle);
 * await registry.gc(); // e.g. from a leader-only controller
 */
import type { MountHandler } from '../edge/edge.js';
import { consoleLogger } from '../edge/logger.js';
import type { Logger } from '../edge/logger.js';
import type { Store } from '../store/index.js';
import { TokenValidator, sameAccountAuthorizer, storeAccessKeyLookup } from './auth.js';
import type { AccessKeyLookup, RegistryAuthorizer } from './auth.js';
import { BlobStore } from './blob-store.js';
import { createDistributionHandler } from './distribution.js';
import { DownloadUrlSigner } from './download-urls.js';
import { collectGarbage } from './gc.js';
import type { GcReport } from './gc.js';
import { RegistryMetadata } from './metadata.js';
import { UploadSessions } from './uploads.js';

export { REGISTRY_TOKEN_TTL_MS, REGISTRY_USER, issueRegistryToken, parseBasicAuthorization, purgeExpiredRegistryTokens, sameAccountAuthorizer, storeAccessKeyLookup, validateRegistryToken, TokenValidator } from './auth.js';
export type { AccessKeyLookup, IssuedToken, RegistryAction, RegistryAuthorizer, RegistryCaller, TokenCheck, TokenRecord } from './auth.js';
export { BlobStore } from './blob-store.js';
export { DIGEST_ALGORITHMS, digestOf, parseDigest } from './digest.js';
export { ECR_TARGET_PREFIX, createEcrService } from './ecr.js';
export { DEFAULT_LAYER_PART_SIZE } from './ecr-input.js';
export type { EcrDeps } from './ecr-input.js';
export { DOWNLOAD_URL_TTL_MS, DownloadUrlSigner } from './download-urls.js';
export type { Digest, DigestAlgorithm } from './digest.js';
export { OCI_ERROR_STATUS, RegistryError, isRegistryError } from './errors.js';
export type { OciErrorCode } from './errors.js';
export type { GcReport } from './gc.js';
export { registryKeys } from './keys.js';
export { MAX_LIFECYCLE_RULES, evaluateLifecyclePolicy, parseLifecyclePolicy, selectsImage, tagPatternMatches } from './lifecycle.js';
export type { ExpiredImage, LifecycleCountType, LifecycleImage, LifecyclePolicy, LifecycleRule, LifecycleSelection, LifecycleTagStatus } from './lifecycle.js';
export { enforceLifecyclePolicies } from './lifecycle-enforce.js';
export type { LifecycleExpiry, LifecycleFailure, LifecycleRunReport } from './lifecycle-enforce.js';
export { LifecycleStore, lifecycleKeys, loadLifecycleImages } from './lifecycle-store.js';
export type { LifecyclePolicyRecord, LifecyclePreviewRecord, LifecyclePreviewResult } from './lifecycle-store.js';
export { MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES, MEDIA_TYPE, parseManifest } from './manifest.js';
export type { Descriptor, ManifestMediaType, ParsedManifest } from './manifest.js';
export { RegistryMetadata } from './metadata.js';
export type { BlobLinkRecord, ImageTagMutability, ManifestRecord, RepositoryRecord, TagRecord, UploadRecord } from './metadata.js';
export { MAX_REPOSITORY_NAME_LENGTH, checkRepositoryName, isRepositoryName, isTag } from './names.js';
export { UploadSessions } from './uploads.js';

/** ECR's own per-layer limit is about 52 GB; 10 GiB keeps a single machine's disk safe by default. */
export const DEFAULT_MAX_BLOB_BYTES = 10 * 1024 * 1024 * 1024;
export const DEFAULT_MAX_UPLOAD_SESSIONS = 1000;
/** An unreferenced blob younger than this is kept: its manifest may be on its way. */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;
/** The longest a blob claim stands for later ones (BlobStore's reclaimAfterMs). */
const MAX_RECLAIM_AFTER_MS = 60_000;
/** distribution/distribution purges uploads after a week; a day is plenty for a resumable push. */
export const DEFAULT_UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;

export interface RegistryOptions {
  readonly store: Store;
  /** Where blobs and upload temp files live, e.g. `$BERTH_HOME/registry`. */
  readonly root: string;
  /** The account this server serves: only its tokens are accepted. */
  readonly accountId: string;
  /** Whether a token's access key is still active; the server passes its AccessKeyCache (default: read the Store). */
  readonly lookupAccessKey?: AccessKeyLookup;
  /** Rights on repositories (default: every valid token of the account may do everything). */
  readonly authorize?: RegistryAuthorizer;
  /** A push to a repository that does not exist creates it (default true; false is classic ECR). */
  readonly createRepositoryOnPush?: boolean;
  readonly maxBlobBytes?: number;
  readonly maxUploadSessions?: number;
  readonly gcGraceMs?: number;
  readonly uploadTtlMs?: number;
  /** The Basic auth realm in WWW-Authenticate (default 'berth'). */
  readonly realm?: string;
  readonly now?: () => Date;
  readonly logger?: Logger;
}

export interface Registry {
  /** Mount at '/v2/' on the edge. */
  readonly handle: MountHandler;
  /** Removes unreferenced blobs, idle uploads and expired tokens. */
  gc(): Promise<GcReport>;
  /** Refuses new requests and waits for those in flight. The Store is the caller's to close. */
  close(): Promise<void>;
  /** For the ECR API: the same metadata, bytes and upload sessions the OCI API uses. */
  readonly metadata: RegistryMetadata;
  readonly blobs: BlobStore;
  readonly uploads: UploadSessions;
  readonly downloadUrls: DownloadUrlSigner;
  /** The one rights check; the ECR API asks it too, so both APIs grant the same. */
  readonly authorize: RegistryAuthorizer;
  readonly accountId: string;
  readonly maxBlobBytes: number;
}

export async function createRegistry(options: RegistryOptions): Promise<Registry> {
  const now = options.now ?? (() => new Date());
  const logger = options.logger ?? consoleLogger;
  const maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  const gcGraceMs = options.gcGraceMs ?? DEFAULT_GC_GRACE_MS;
  // A claim stands for later ones a while (blob-store.ts): a tenth of the grace period, at most a minute.
  const blobs = await BlobStore.open(options.root, {
    ...(options.now !== undefined && { now: options.now }),
    reclaimAfterMs: Math.min(MAX_RECLAIM_AFTER_MS, Math.floor(gcGraceMs / 10)),
  });
  const metadata = new RegistryMetadata(options.store);
  const uploads = new UploadSessions(blobs, metadata, { maxBlobBytes, maxSessions: options.maxUploadSessions ?? DEFAULT_MAX_UPLOAD_SESSIONS }, now);
  const lookupAccessKey = options.lookupAccessKey ?? storeAccessKeyLookup(options.store);
  const tokens = new TokenValidator(options.store, options.accountId, lookupAccessKey);
  const authorize = options.authorize ?? sameAccountAuthorizer(options.accountId);
  const downloadUrls = new DownloadUrlSigner(options.store, options.accountId, lookupAccessKey);
  const serve = createDistributionHandler({
    meta: metadata,
    blobs,
    uploads,
    tokens,
    downloadUrls,
    authorize,
    createRepositoryOnPush: options.createRepositoryOnPush ?? true,
    maxBlobBytes,
    realm: options.realm ?? 'berth',
    now,
    logger,
  });

  let closed = false;
  const inFlight = new Set<Promise<void>>();
  const handle: MountHandler = (req, res, ctx) => {
    if (closed) {
      res.writeHead(503, { 'Content-Type': 'application/json', Connection: 'close', 'Docker-Distribution-API-Version': 'registry/2.0' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'the registry is shutting down' }] }));
      return;
    }
    const done = Promise.resolve(serve(req, res, ctx)).finally(() => inFlight.delete(done));
    inFlight.add(done);
    return done;
  };

  return {
    handle,
    gc: () =>
      collectGarbage(
        { meta: metadata, blobs, uploads },
        { now: now(), graceMs: gcGraceMs, uploadTtlMs: options.uploadTtlMs ?? DEFAULT_UPLOAD_TTL_MS },
      ),
    async close() {
      closed = true;
      await Promise.allSettled([...inFlight]);
      await blobs.close();
    },
    metadata,
    blobs,
    uploads,
    downloadUrls,
    authorize,
    accountId: options.accountId,
    maxBlobBytes,
  };
}
