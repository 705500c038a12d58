/**
 * Storing a pushed manifest: the one path both the OCI API (PUT /v2/<name>/manifests/<ref>) and
 * ECR's PutImage take, so both check the same things: the body is what its media type says, the
 * digest is the one asked for, and everything it references is in the repository.
 */
import type { BlobStore } from './blob-store.js';
import { digestOf, parseDigest } from './digest.js';
import type { Digest } from './digest.js';
import { RegistryError } from './errors.js';
import { parseManifest, referrerArtifactType } from './manifest.js';
import type { Descriptor, ParsedManifest } from './manifest.js';
import type { ManifestRecord, RegistryMetadata, RepositoryRecord } from './metadata.js';

/** A manifest references blobs or manifests the repository lacks (OCI: MANIFEST_BLOB_UNKNOWN, one error each). */
export class MissingReferencesError extends RegistryError {
  constructor(
    readonly repository: string,
    readonly blobs: readonly Descriptor[],
    readonly manifests: readonly Descriptor[],
  ) {
    const [first, ...rest] = [...blobs, ...manifests].map(
      (d) => new RegistryError('MANIFEST_BLOB_UNKNOWN', `${d.digest} is not in repository '${repository}': push it first`, { detail: { digest: d.digest } }),
    );
    super('MANIFEST_BLOB_UNKNOWN', first?.message ?? 'a referenced blob is unknown', { detail: first?.detail, also: rest });
  }
}

export interface PushManifestInput {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** The Content-Type (or ECR's imageManifestMediaType), if any. */
  readonly contentType?: string;
  readonly tag?: string;
  /** When pushed by digest: the bytes must have it. */
  readonly digest?: Digest;
  /** Create the repository with this record if it does not exist (create-on-push). */
  readonly createRepository?: RepositoryRecord;
}

export interface PushedManifest {
  readonly digest: Digest;
  readonly parsed: ParsedManifest;
  readonly record: ManifestRecord;
  /** False when these exact bytes were already stored in the repository. */
  readonly created: boolean;
  /** True when the tag now names this manifest and did not before. */
  readonly tagMoved: boolean;
}

export async function pushManifest(deps: { meta: RegistryMetadata; blobs: BlobStore; now: () => Date }, input: PushManifestInput): Promise<PushedManifest> {
  const { meta, blobs } = deps;
  const parsed = parseManifest(input.bytes, input.contentType);
  const digest = digestOf(input.bytes, input.digest?.algorithm ?? 'sha256');
  if (input.digest !== undefined && digest.hex !== input.digest.hex) {
    throw new RegistryError('DIGEST_INVALID', `the manifest's digest is ${digest.text}, not ${input.digest.text}`, { detail: { digest: input.digest.text } });
  }
  await checkReferences(meta, blobs, input.name, parsed);
  await blobs.writeBytes(digest, input.bytes);
  const artifactType = referrerArtifactType(parsed);
  const record: ManifestRecord = {
    digest: digest.text,
    mediaType: parsed.mediaType,
    size: input.bytes.byteLength,
    pushedAt: deps.now().toISOString(),
    blobs: parsed.blobs.map((b) => b.digest),
    manifests: parsed.manifests.map((m) => m.digest),
    imageSize: parsed.layers.reduce((sum, l) => sum + l.size, 0),
    ...(parsed.config !== undefined && { configMediaType: parsed.config.mediaType }),
    ...(parsed.artifactType !== undefined && { artifactType: parsed.artifactType }),
    ...(parsed.subject !== undefined && { subject: parsed.subject.digest }),
    ...(parsed.annotations !== undefined && { annotations: parsed.annotations }),
  };
  const referrer: Descriptor | undefined =
    parsed.subject === undefined
      ? undefined
      : {
          mediaType: parsed.mediaType,
          digest: digest.text,
          size: input.bytes.byteLength,
          ...(artifactType !== undefined && { artifactType }),
          ...(parsed.annotations !== undefined && { annotations: parsed.annotations }),
        };
  const stored = await meta.putManifest({
    name: input.name,
    record,
    now: deps.now(),
    ...(input.tag !== undefined && { tag: input.tag }),
    ...(referrer !== undefined && { referrer }),
    ...(input.createRepository !== undefined && { createRepository: input.createRepository }),
  });
  return { digest, parsed, record: stored.record, created: stored.created, tagMoved: stored.tagMoved };
}

/**
 * Every blob a manifest needs must be in the repository (linked, and on disk: claimed against GC
 * by a touch), with the size its descriptor says; every child of an index must be a manifest of
 * the repository. All missing ones are reported at once.
 */
async function checkReferences(meta: RegistryMetadata, blobs: BlobStore, name: string, parsed: ParsedManifest): Promise<void> {
  const missingBlobs: Descriptor[] = [];
  const missingManifests: Descriptor[] = [];
  for (const blob of parsed.blobs) {
    const link = await meta.getBlobLink(name, blob.digest);
    if (link === undefined || !(await blobs.touch(parseDigest(blob.digest)))) {
      missingBlobs.push(blob);
    } else if (link.size !== blob.size) {
      throw new RegistryError('MANIFEST_INVALID', `the descriptor of ${blob.digest} says ${blob.size} bytes; the blob has ${link.size}`, { detail: { digest: blob.digest } });
    }
  }
  for (const child of parsed.manifests) {
    const record = await meta.getManifest(name, child.digest);
    if (record === undefined) missingManifests.push(child);
    else if (record.size !== child.size) {
      throw new RegistryError('MANIFEST_INVALID', `the descriptor of ${child.digest} says ${child.size} bytes; the manifest has ${record.size}`, { detail: { digest: child.digest } });
    }
  }
  if (missingBlobs.length > 0 || missingManifests.length > 0) throw new MissingReferencesError(name, missingBlobs, missingManifests);
}
