/**
 * ECR's layer operations: BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart,
 * CompleteLayerUpload and GetDownloadUrlForLayer. They drive the same upload sessions and blob
 * links as the OCI API, so a layer pushed either way is the same blob in the same repository.
 */
import { BerthError } from '../protocols/index.js';
import type { Operation } from '../protocols/index.js';
import { parseDigest } from './digest.js';
import type { Digest } from './digest.js';
import { DEFAULT_LAYER_PART_SIZE, existingRepository, invalid, requiredInt, requiredList, requiredString, stringsOf } from './ecr-input.js';
import type { EcrDeps } from './ecr-input.js';
import { RegistryError } from './errors.js';
import { isUploadId } from './uploads.js';

/** ECR's own limit for one UploadLayerPart blob. */
const MAX_PART_BYTES = 20 * 1024 * 1024;
/** What BatchCheckLayerAvailability reports: ECR does not keep a layer's media type either. */
const LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export function layerOperations(deps: EcrDeps): Record<string, Operation> {
  const { registry } = deps;
  const meta = registry.metadata;
  const accountId = registry.accountId;
  const partSize = deps.layerPartSize ?? DEFAULT_LAYER_PART_SIZE;

  const uploadId = (input: Record<string, unknown>): string => {
    const id = requiredString(input, 'uploadId');
    if (!isUploadId(id.toLowerCase())) throw invalid(`Invalid parameter at 'uploadId' failed to satisfy constraint: 'must be an upload id from InitiateLayerUpload'`);
    return id.toLowerCase();
  };
  const uploadNotFound = (id: string, name: string) =>
    new BerthError('UploadNotFoundException', `The upload with id '${id}' does not exist in the repository with name '${name}' in the registry with id '${accountId}'`);
  const layerDigest = (text: string, field: string): Digest => {
    try {
      return parseDigest(text);
    } catch (err) {
      throw invalid(`Invalid parameter at '${field}' failed to satisfy constraint: '${(err as Error).message}'`);
    }
  };

  return {
    BatchCheckLayerAvailability: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'pull');
      const digests = stringsOf(requiredList(input, 'layerDigests', { min: 1, max: 100 }), 'layerDigests');
      const layers = [];
      const failures = [];
      for (const text of digests) {
        let digest: Digest;
        try {
          digest = parseDigest(text);
        } catch {
          failures.push({ layerDigest: text, failureCode: 'InvalidLayerDigest', failureReason: 'Invalid layer digest' });
          continue;
        }
        const link = await meta.getBlobLink(repo.name, digest.text);
        const onDisk = link !== undefined && (await registry.blobs.stat(digest)) !== undefined;
        if (!onDisk) {
          failures.push({ layerDigest: text, failureCode: 'MissingLayerDigest', failureReason: 'Could not find layer' });
          continue;
        }
        layers.push({ layerDigest: digest.text, layerAvailability: 'AVAILABLE', layerSize: link.size, mediaType: LAYER_MEDIA_TYPE });
      }
      return { layers, failures };
    },

    InitiateLayerUpload: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'push');
      const session = await registry.uploads.start(repo.name);
      return { uploadId: session.id, partSize };
    },

    UploadLayerPart: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'push');
      const id = uploadId(input);
      const first = requiredInt(input, 'partFirstByte', { min: 0 });
      const last = requiredInt(input, 'partLastByte', { min: 0 });
      const encoded = requiredString(input, 'layerPartBlob');
      if (encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw invalid(`Invalid parameter at 'layerPartBlob' failed to satisfy constraint: 'must be base64'`);
      const blob = Buffer.from(encoded, 'base64');
      if (blob.byteLength > MAX_PART_BYTES) throw invalid(`Invalid parameter at 'layerPartBlob' failed to satisfy constraint: 'Member must have length less than or equal to ${MAX_PART_BYTES}'`);
      const invalidPart = async (message: string, cause: unknown) => {
        const offset = await registry.uploads.status(repo.name, id).catch(() => 0);
        return new BerthError('InvalidLayerPartException', message, {
          cause,
          fields: { registryId: accountId, repositoryName: repo.name, uploadId: id, lastValidByteReceived: offset - 1 },
        });
      };
      if (last - first + 1 !== blob.byteLength) {
        throw await invalidPart(`The part is ${blob.byteLength} bytes, but partFirstByte ${first} to partLastByte ${last} is ${last - first + 1}.`, undefined);
      }
      try {
        await registry.uploads.append(repo.name, id, { body: once(blob), range: { start: first, end: last }, contentLength: blob.byteLength });
      } catch (err) {
        if (err instanceof RegistryError) {
          if (err.code === 'BLOB_UPLOAD_UNKNOWN') throw uploadNotFound(id, repo.name);
          if (err.code === 'BLOB_UPLOAD_INVALID') throw await invalidPart(`The part must start right after the last byte received: ${err.message}`, err);
          if (err.code === 'SIZE_INVALID') throw new BerthError('LimitExceededException', err.message, { cause: err });
        }
        throw err;
      }
      return { registryId: accountId, repositoryName: repo.name, uploadId: id, lastByteReceived: last };
    },

    CompleteLayerUpload: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'push');
      const id = uploadId(input);
      const digests = stringsOf(requiredList(input, 'layerDigests', { min: 1, max: 100 }), 'layerDigests');
      if (new Set(digests).size !== 1) throw invalid('layerDigests must name the one layer this upload holds.');
      const digest = layerDigest(digests[0]!, 'layerDigests');
      let offset: number;
      try {
        offset = await registry.uploads.status(repo.name, id);
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'BLOB_UPLOAD_UNKNOWN') throw uploadNotFound(id, repo.name);
        throw err;
      }
      if (offset === 0) throw new BerthError('EmptyUploadException', 'The specified layer upload does not contain any layer parts.');
      if ((await meta.getBlobLink(repo.name, digest.text)) !== undefined && (await registry.blobs.touch(digest))) {
        await registry.uploads.cancel(repo.name, id);
        throw new BerthError('LayerAlreadyExistsException', `The layer with digest '${digest.text}' already exists in the repository with name '${repo.name}' in the registry with id '${accountId}'`);
      }
      try {
        // Links the layer into the repository as the session ends.
        await registry.uploads.complete(repo.name, id, digest, {});
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'DIGEST_INVALID') {
          throw new BerthError('InvalidLayerException', `The layer digest calculated upon receipt does not match the digest specified: ${err.message}`, { cause: err });
        }
        if (err instanceof RegistryError && err.code === 'BLOB_UPLOAD_UNKNOWN') throw uploadNotFound(id, repo.name);
        throw err;
      }
      return { registryId: accountId, repositoryName: repo.name, uploadId: id, layerDigest: digest.text };
    },

    GetDownloadUrlForLayer: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'pull');
      const digest = layerDigest(requiredString(input, 'layerDigest'), 'layerDigest');
      const link = await meta.getBlobLink(repo.name, digest.text);
      if (link === undefined || (await registry.blobs.stat(digest)) === undefined) {
        throw new BerthError('LayersNotFoundException', `The image layer with digest '${digest.text}' does not exist in the repository with name '${repo.name}' in the registry with id '${accountId}'`);
      }
      const { path } = await registry.downloadUrls.sign({ name: repo.name, digest: digest.text, accessKeyId: ctx.caller.accessKeyId }, ctx.now);
      return { downloadUrl: `${deps.registryEndpoint.replace(/\/+$/, '')}${path}`, layerDigest: digest.text };
    },
  };
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield await Promise.resolve(bytes);
}
