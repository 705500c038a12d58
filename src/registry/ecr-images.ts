/**
 * ECR's image operations: ListImages, DescribeImages, BatchGetImage, BatchDeleteImage, PutImage.
 * An ECR "image" is a manifest of the repository, named by digest and by any of its tags; PutImage
 * goes through the same push path as the OCI API's manifest PUT (push.ts).
 */
import { BerthError } from '../protocols/index.js';
import type { Operation } from '../protocols/index.js';
import { parseDigest } from './digest.js';
import {
  decodeToken,
  encodeToken,
  existingRepository,
  imageDetailShape,
  invalid,
  objectsOf,
  optionalEnum,
  optionalInt,
  optionalList,
  optionalObject,
  optionalString,
  requiredList,
  requiredString,
  stringsOf,
} from './ecr-input.js';
import type { EcrDeps } from './ecr-input.js';
import { RegistryError } from './errors.js';
import { MAX_MANIFEST_BYTES } from './manifest.js';
import { ImmutableTagError } from './metadata.js';
import type { ManifestRecord, RegistryMetadata } from './metadata.js';
import { isTag } from './names.js';
import { MissingReferencesError, pushManifest } from './push.js';

type TagStatus = 'TAGGED' | 'UNTAGGED' | 'ANY';
const TAG_STATUSES: readonly TagStatus[] = ['TAGGED', 'UNTAGGED', 'ANY'];

interface ImageId {
  readonly imageDigest?: string;
  readonly imageTag?: string;
}

type FailureCode = 'InvalidImageDigest' | 'InvalidImageTag' | 'ImageTagDoesNotMatchDigest' | 'ImageNotFound' | 'MissingDigestAndTag' | 'ImageReferencedByManifestList';

interface Failure {
  readonly imageId: ImageId;
  readonly failureCode: FailureCode;
  readonly failureReason: string;
}

/** A repository's images as ECR sees them: manifests with the tags that name them. */
class RepositoryImages {
  private constructor(
    readonly manifests: ReadonlyMap<string, ManifestRecord>,
    readonly tags: ReadonlyMap<string, string>,
  ) {}

  static async load(meta: RegistryMetadata, name: string): Promise<RepositoryImages> {
    const [manifests, tags] = await Promise.all([meta.allManifests(name), meta.allTags(name)]);
    return new RepositoryImages(new Map(manifests.map((m) => [m.digest, m])), new Map(tags.map((t) => [t.tag, t.record.digest])));
  }

  tagsOf(digest: string): string[] {
    return [...this.tags].filter(([, d]) => d === digest).map(([tag]) => tag).sort();
  }

  /** ECR's imageSizeInBytes: the layers' sizes, and for a manifest list the largest of its images. */
  sizeOf(record: ManifestRecord): number {
    if (record.manifests.length === 0) return record.imageSize;
    return Math.max(0, ...record.manifests.map((d) => this.manifests.get(d)?.imageSize ?? 0));
  }

  /** The indexes of this repository that list `digest`. */
  listedBy(digest: string): string[] {
    return [...this.manifests.values()].filter((m) => m.manifests.includes(digest)).map((m) => m.digest);
  }

  resolve(id: ImageId): { ok: true; record: ManifestRecord } | { ok: false; failure: Failure } {
    const fail = (failureCode: FailureCode, failureReason: string) => ({ ok: false as const, failure: { imageId: id, failureCode, failureReason } });
    if (id.imageDigest === undefined && id.imageTag === undefined) return fail('MissingDigestAndTag', 'Invalid request parameters: both tag and digest cannot be null');
    if (id.imageDigest !== undefined) {
      try {
        parseDigest(id.imageDigest);
      } catch {
        return fail('InvalidImageDigest', "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'");
      }
    }
    if (id.imageTag !== undefined && (id.imageTag.length < 1 || id.imageTag.length > 300)) return fail('InvalidImageTag', 'Invalid request parameters: image tag length should be between 1 and 300');
    const byTag = id.imageTag === undefined ? undefined : this.tags.get(id.imageTag);
    if (id.imageTag !== undefined && byTag === undefined) return fail('ImageNotFound', 'Requested image not found');
    if (id.imageDigest !== undefined && byTag !== undefined && byTag !== id.imageDigest) {
      return fail('ImageTagDoesNotMatchDigest', 'Invalid request parameters: given tag does not map to the given digest');
    }
    const record = this.manifests.get(id.imageDigest ?? byTag!);
    return record === undefined ? fail('ImageNotFound', 'Requested image not found') : { ok: true, record };
  }
}

function readImageIds(list: readonly unknown[], field: string): ImageId[] {
  return objectsOf(list, field).map((item, i) => {
    const imageDigest = optionalString(item, 'imageDigest', { path: `${field}[${i}].imageDigest` });
    const imageTag = optionalString(item, 'imageTag', { path: `${field}[${i}].imageTag` });
    return { ...(imageDigest !== undefined && { imageDigest }), ...(imageTag !== undefined && { imageTag }) };
  });
}

function tagStatusOf(input: Record<string, unknown>): TagStatus {
  const filter = optionalObject(input, 'filter');
  return (filter === undefined ? undefined : optionalEnum(filter, 'tagStatus', TAG_STATUSES)) ?? 'ANY';
}

const isPosition = (v: unknown): v is [string, string] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string';
const isString = (v: unknown): v is string => typeof v === 'string';

export function imageOperations(deps: EcrDeps): Record<string, Operation> {
  const { registry } = deps;
  const meta = registry.metadata;
  const accountId = registry.accountId;

  return {
    ListImages: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'pull');
      const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 1000 }) ?? 100;
      const tagStatus = tagStatusOf(input);
      const after = decodeToken(optionalString(input, 'nextToken'), isPosition);
      const images = await RepositoryImages.load(meta, repo.name);
      // One entry per tag, and one per untagged manifest, ordered by (digest, tag) so a token resumes.
      const entries: [string, string][] = [];
      for (const digest of [...images.manifests.keys()].sort()) {
        const tags = images.tagsOf(digest);
        if (tags.length === 0 && tagStatus !== 'TAGGED') entries.push([digest, '']);
        if (tagStatus !== 'UNTAGGED') for (const tag of tags) entries.push([digest, tag]);
      }
      const start = after === undefined ? 0 : entries.findIndex(([d, t]) => d > after[0] || (d === after[0] && t > after[1]));
      const page = start < 0 ? [] : entries.slice(start, start + maxResults);
      const more = start >= 0 && start + maxResults < entries.length;
      return {
        imageIds: page.map(([imageDigest, imageTag]) => ({ imageDigest, ...(imageTag !== '' && { imageTag }) })),
        ...(more && { nextToken: encodeToken(page[page.length - 1]) }),
      };
    },

    DescribeImages: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'pull');
      const idList = optionalList(input, 'imageIds', { min: 1, max: 100 });
      const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 1000 });
      const nextToken = optionalString(input, 'nextToken');
      const images = await RepositoryImages.load(meta, repo.name);
      const detail = (record: ManifestRecord) => imageDetailShape(record, images.tagsOf(record.digest), repo.name, accountId, images.sizeOf(record));
      if (idList !== undefined) {
        if (maxResults !== undefined || nextToken !== undefined || input['filter'] !== undefined) {
          throw invalid('maxResults, nextToken and filter cannot be used with imageIds.');
        }
        const seen = new Set<string>();
        const imageDetails = [];
        for (const id of readImageIds(idList, 'imageIds')) {
          const found = images.resolve(id);
          if (!found.ok) {
            if (found.failure.failureCode === 'ImageNotFound') {
              throw new BerthError(
                'ImageNotFoundException',
                `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist within the repository with name '${repo.name}' in the registry with id '${accountId}'`,
              );
            }
            throw invalid(found.failure.failureReason);
          }
          if (!seen.has(found.record.digest)) imageDetails.push(detail(found.record));
          seen.add(found.record.digest);
        }
        return { imageDetails };
      }
      const tagStatus = tagStatusOf(input);
      const after = decodeToken(nextToken, isString);
      const digests = [...images.manifests.keys()]
        .sort()
        .filter((d) => after === undefined || d > after)
        .filter((d) => tagStatus === 'ANY' || (tagStatus === 'TAGGED') === images.tagsOf(d).length > 0);
      const page = digests.slice(0, maxResults ?? 100);
      const last = page[page.length - 1];
      return {
        imageDetails: page.map((d) => detail(images.manifests.get(d)!)),
        ...(digests.length > page.length && last !== undefined && { nextToken: encodeToken(last) }),
      };
    },

    BatchGetImage: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'pull');
      const ids = readImageIds(requiredList(input, 'imageIds', { min: 1, max: 100 }), 'imageIds');
      const acceptedList = optionalList(input, 'acceptedMediaTypes', { min: 1, max: 100 });
      const accepted = acceptedList === undefined ? undefined : stringsOf(acceptedList, 'acceptedMediaTypes');
      const images = await RepositoryImages.load(meta, repo.name);
      const found = [];
      const failures: Failure[] = [];
      for (const id of ids) {
        const resolved = images.resolve(id);
        if (!resolved.ok) {
          failures.push(resolved.failure);
          continue;
        }
        const { record } = resolved;
        if (accepted !== undefined && !accepted.includes(record.mediaType)) {
          failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: `The image's manifest is ${record.mediaType}, which acceptedMediaTypes does not list` });
          continue;
        }
        const bytes = await registry.blobs.read(parseDigest(record.digest));
        if (bytes === undefined) {
          failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
          continue;
        }
        found.push({
          registryId: accountId,
          repositoryName: repo.name,
          imageId: { imageDigest: record.digest, ...(id.imageTag !== undefined && { imageTag: id.imageTag }) },
          imageManifest: bytes.toString('utf8'),
          imageManifestMediaType: record.mediaType,
        });
      }
      return { images: found, failures };
    },

    BatchDeleteImage: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'delete');
      const ids = readImageIds(requiredList(input, 'imageIds', { min: 1, max: 100 }), 'imageIds');
      const deleted: ImageId[] = [];
      const failures: Failure[] = [];
      for (const id of ids) {
        // Re-read per id: an earlier one in the batch may have changed what this one names.
        const images = await RepositoryImages.load(meta, repo.name);
        const resolved = images.resolve(id);
        if (!resolved.ok) {
          failures.push(resolved.failure);
          continue;
        }
        const { digest } = resolved.record;
        const listedBy = images.listedBy(digest);
        if (id.imageDigest === undefined && id.imageTag !== undefined) {
          // By tag: the tag goes; the image goes with its last tag, as in ECR.
          await meta.deleteTag(repo.name, id.imageTag);
          const lastTag = images.tagsOf(digest).every((t) => t === id.imageTag);
          if (lastTag && listedBy.length === 0) await meta.deleteManifest(repo.name, digest);
          deleted.push({ imageDigest: digest, imageTag: id.imageTag });
          continue;
        }
        if (listedBy.length > 0) {
          failures.push({ imageId: id, failureCode: 'ImageReferencedByManifestList', failureReason: `Requested image referenced by manifest list: [${listedBy.join(', ')}]` });
          continue;
        }
        const tags = images.tagsOf(digest);
        await meta.deleteManifest(repo.name, digest);
        if (tags.length === 0) deleted.push({ imageDigest: digest });
        for (const imageTag of tags) deleted.push({ imageDigest: digest, imageTag });
      }
      return { imageIds: deleted, failures };
    },

    PutImage: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'push');
      const manifest = requiredString(input, 'imageManifest', { min: 1, max: MAX_MANIFEST_BYTES });
      const mediaType = optionalString(input, 'imageManifestMediaType');
      const imageTag = optionalString(input, 'imageTag', { min: 1, max: 300 });
      if (imageTag !== undefined && !isTag(imageTag)) {
        throw invalid(`Invalid parameter at 'imageTag' failed to satisfy constraint: 'must be up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-''`);
      }
      const imageDigest = optionalString(input, 'imageDigest');
      let digest;
      try {
        digest = imageDigest === undefined ? undefined : parseDigest(imageDigest);
      } catch (err) {
        throw invalid(`Invalid parameter at 'imageDigest' failed to satisfy constraint: '${(err as Error).message}'`);
      }
      const bytes = Buffer.from(manifest, 'utf8');
      if (bytes.byteLength > MAX_MANIFEST_BYTES) throw invalid(`The image manifest is ${bytes.byteLength} bytes; the limit is ${MAX_MANIFEST_BYTES}.`);
      let pushed;
      try {
        pushed = await pushManifest(
          { meta, blobs: registry.blobs, now: () => ctx.now },
          {
            name: repo.name,
            bytes,
            ...(mediaType !== undefined && { contentType: mediaType }),
            ...(imageTag !== undefined && { tag: imageTag }),
            ...(digest !== undefined && { digest }),
          },
        );
      } catch (err) {
        throw ecrErrorOf(err, repo.name, accountId);
      }
      if (!pushed.created && !pushed.tagMoved) {
        throw new BerthError(
          'ImageAlreadyExistsException',
          `Image with digest '${pushed.digest.text}' ${imageTag === undefined ? '' : `and tag '${imageTag}' `}already exists in the repository with name '${repo.name}' in registry with id '${accountId}'`,
        );
      }
      return {
        image: {
          registryId: accountId,
          repositoryName: repo.name,
          imageId: { imageDigest: pushed.digest.text, ...(imageTag !== undefined && { imageTag }) },
          imageManifest: manifest,
          imageManifestMediaType: pushed.record.mediaType,
        },
      };
    },
  };
}

/** The OCI push path's refusals in ECR's words. */
function ecrErrorOf(err: unknown, name: string, accountId: string): unknown {
  if (err instanceof ImmutableTagError) return new BerthError('ImageTagAlreadyExistsException', err.message, { cause: err });
  if (err instanceof MissingReferencesError) {
    if (err.blobs.length > 0) {
      return new BerthError(
        'LayersNotFoundException',
        `Layers with digests '[${err.blobs.map((b) => b.digest).join(', ')}]' required for pushing image into repository with name '${name}' in registry with id '${accountId}' do not exist`,
        { cause: err },
      );
    }
    return new BerthError('ReferencedImagesNotFoundException', `Images with digests '[${err.manifests.map((m) => m.digest).join(', ')}]' referenced by the manifest list do not exist in the repository with name '${name}'`, { cause: err });
  }
  if (err instanceof RegistryError) {
    if (err.code === 'DIGEST_INVALID') return new BerthError('ImageDigestDoesNotMatchException', `The digest of the image manifest does not match imageDigest: ${err.message}`, { cause: err });
    if (err.code === 'MANIFEST_INVALID') return new BerthError('InvalidParameterException', `Invalid parameter at 'ImageManifest' failed to satisfy constraint: '${err.message}'`, { cause: err });
    if (err.code === 'NAME_UNKNOWN') return new BerthError('RepositoryNotFoundException', `The repository with name '${name}' does not exist in the registry with id '${accountId}'`, { cause: err });
    return new BerthError('InvalidParameterException', err.message, { cause: err });
  }
  return err;
}
