/**
 * The ECR API (botocore ecr 2015-09-21, JSON 1.1, signing name `ecr`) over the same repositories,
 * manifests, blobs and upload sessions the OCI API serves. This file holds the service face and the
 * repository operations; images are in ecr-images.ts, layer uploads in ecr-layers.ts, lifecycle
 * policies in lifecycle-ecr.ts.
 *
 * @example
 * const ecr = createEcrService({ registry, registryEndpoint: 'http://127.0.0.1:4566' });
 * createEdge({ services: [ecs, ecr], ... });
 */
import { BerthError } from '../protocols/index.js';
import type { JsonService, Operation, RequestContext } from '../protocols/index.js';
import { issueRegistryToken } from './auth.js';
import { imageOperations } from './ecr-images.js';
import {
  IMAGE_TAG_MUTABILITIES,
  MAX_RESOURCE_TAGS,
  checkRegistryId,
  decodeToken,
  encodeToken,
  exclusionFilters,
  existingRepository,
  invalid,
  optionalBool,
  optionalEnum,
  optionalInt,
  optionalList,
  optionalObject,
  optionalString,
  repositoryName,
  repositoryNotFound,
  repositoryOfArn,
  repositoryShape,
  requiredList,
  requiredString,
  resourceTags,
  stringsOf,
} from './ecr-input.js';
import type { EcrDeps } from './ecr-input.js';
import { layerOperations } from './ecr-layers.js';
import { lifecycleOperations } from './lifecycle-ecr.js';
import { LifecycleStore } from './lifecycle-store.js';
import type { RepositoryRecord } from './metadata.js';

export const ECR_TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921';
export type { EcrDeps } from './ecr-input.js';

export function createEcrService(deps: EcrDeps): JsonService {
  const operations: Record<string, Operation> = {
    ...repositoryOperations(deps),
    ...imageOperations(deps),
    ...layerOperations(deps),
    ...lifecycleOperations(deps),
  };
  return { signingName: 'ecr', targetPrefix: ECR_TARGET_PREFIX, operations };
}

function repositoryOperations(deps: EcrDeps): Record<string, Operation> {
  const meta = deps.registry.metadata;
  const accountId = deps.registry.accountId;
  const shape = (record: RepositoryRecord, ctx: RequestContext) => repositoryShape(record, ctx, deps);

  return {
    CreateRepository: async (input, ctx) => {
      checkRegistryId(input, accountId);
      const name = repositoryName(input);
      const imageTagMutability = optionalEnum(input, 'imageTagMutability', IMAGE_TAG_MUTABILITIES) ?? 'MUTABLE';
      const filters = exclusionFilters(input, imageTagMutability);
      const scanning = optionalObject(input, 'imageScanningConfiguration');
      const scanOnPush = scanning === undefined ? false : (optionalBool(scanning, 'scanOnPush', 'imageScanningConfiguration.scanOnPush') ?? false);
      const encryption = optionalObject(input, 'encryptionConfiguration');
      if (encryption !== undefined) {
        const type = requiredString(encryption, 'encryptionType', { path: 'encryptionConfiguration.encryptionType' });
        if (type !== 'AES256') {
          throw invalid(`encryptionConfiguration.encryptionType ${type} is not available: Berth has no KMS, so repositories use AES256.`);
        }
      }
      const tagList = optionalList(input, 'tags');
      const tags = tagList === undefined ? [] : resourceTags(tagList);
      if (tags.length > MAX_RESOURCE_TAGS) throw new BerthError('TooManyTagsException', `A repository can have at most ${MAX_RESOURCE_TAGS} tags; got ${tags.length}.`);
      const record: RepositoryRecord = {
        name,
        createdAt: ctx.now.toISOString(),
        imageTagMutability,
        ...(filters !== undefined && { imageTagMutabilityExclusionFilters: filters }),
        scanOnPush,
        encryptionType: 'AES256',
        createdBy: 'api',
        ...(tags.length > 0 && { resourceTags: dedupeTags(tags) }),
      };
      if (!(await meta.createRepository(record))) {
        throw new BerthError('RepositoryAlreadyExistsException', `The repository with name '${name}' already exists in the registry with id '${accountId}'`);
      }
      return { repository: shape(record, ctx) };
    },

    DescribeRepositories: async (input, ctx) => {
      checkRegistryId(input, accountId);
      const namesList = optionalList(input, 'repositoryNames', { min: 1, max: 100 });
      const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 1000 });
      const nextToken = optionalString(input, 'nextToken');
      if (namesList !== undefined) {
        if (maxResults !== undefined || nextToken !== undefined) throw invalid('maxResults and nextToken cannot be used with repositoryNames.');
        const repositories = [];
        for (const [i, name] of stringsOf(namesList, 'repositoryNames').entries()) {
          repositoryName({ [`repositoryNames[${i}]`]: name }, `repositoryNames[${i}]`);
          const record = await meta.getRepository(name);
          if (record === undefined) throw repositoryNotFound(name, accountId);
          repositories.push(shape(record, ctx));
        }
        return { repositories };
      }
      const after = decodeToken(nextToken, (v): v is string => typeof v === 'string');
      const page = await meta.listRepositoryRecords(maxResults ?? 100, after);
      const last = page.items[page.items.length - 1];
      return { repositories: page.items.map((r) => shape(r, ctx)), ...(page.more && last !== undefined && { nextToken: encodeToken(last.name) }) };
    },

    DeleteRepository: async (input, ctx) => {
      const record = await existingRepository(deps, input, ctx, 'delete');
      const force = optionalBool(input, 'force') ?? false;
      if (!force && (await meta.countManifests(record.name)) > 0) {
        throw new BerthError(
          'RepositoryNotEmptyException',
          `The repository with name '${record.name}' in registry with id '${accountId}' cannot be deleted because it still contains images`,
        );
      }
      if (!(await meta.deleteRepository(record.name))) throw repositoryNotFound(record.name, accountId);
      // Its lifecycle policy and preview go with it (records of a later namesake are told apart anyway).
      await new LifecycleStore(meta.store).forget(record.name);
      return { repository: shape(record, ctx) };
    },

    GetAuthorizationToken: async (input, ctx) => {
      const ids = optionalList(input, 'registryIds', { min: 1, max: 10 });
      const registryIds = ids === undefined ? [accountId] : stringsOf(ids, 'registryIds');
      for (const id of registryIds) checkRegistryId({ registryId: id }, accountId);
      const { token, expiresAt } = await issueRegistryToken(meta.store, ctx.caller, ctx.now);
      const authorizationToken = Buffer.from(`AWS:${token}`).toString('base64');
      return { authorizationData: registryIds.map(() => ({ authorizationToken, expiresAt, proxyEndpoint: deps.registryEndpoint })) };
    },

    PutImageTagMutability: async (input, ctx) => {
      const record = await existingRepository(deps, input, ctx);
      const imageTagMutability = optionalEnum(input, 'imageTagMutability', IMAGE_TAG_MUTABILITIES);
      if (imageTagMutability === undefined) throw invalid(`Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must not be null'`);
      const filters = exclusionFilters(input, imageTagMutability);
      const updated = await meta.updateRepository(record.name, (current) => {
        const { imageTagMutabilityExclusionFilters: _old, ...rest } = current;
        return { ...rest, imageTagMutability, ...(filters !== undefined && { imageTagMutabilityExclusionFilters: filters }) };
      });
      if (updated === undefined) throw repositoryNotFound(record.name, accountId);
      return {
        registryId: accountId,
        repositoryName: record.name,
        imageTagMutability,
        ...(filters !== undefined && { imageTagMutabilityExclusionFilters: filters }),
      };
    },

    PutImageScanningConfiguration: async (input, ctx) => {
      const record = await existingRepository(deps, input, ctx);
      const scanning = optionalObject(input, 'imageScanningConfiguration');
      if (scanning === undefined) throw invalid(`Invalid parameter at 'imageScanningConfiguration' failed to satisfy constraint: 'Member must not be null'`);
      const scanOnPush = optionalBool(scanning, 'scanOnPush', 'imageScanningConfiguration.scanOnPush') ?? false;
      if ((await meta.updateRepository(record.name, (current) => ({ ...current, scanOnPush }))) === undefined) throw repositoryNotFound(record.name, accountId);
      return { registryId: accountId, repositoryName: record.name, imageScanningConfiguration: { scanOnPush } };
    },

    ListTagsForResource: async (input, ctx) => {
      const name = repositoryOfArn(requiredString(input, 'resourceArn'), ctx, accountId);
      const record = await meta.getRepository(name);
      if (record === undefined) throw repositoryNotFound(name, accountId);
      return { tags: record.resourceTags ?? [] };
    },

    TagResource: async (input, ctx) => {
      const name = repositoryOfArn(requiredString(input, 'resourceArn'), ctx, accountId);
      const tags = resourceTags(requiredList(input, 'tags'));
      const updated = await meta.updateRepository(name, (current) => {
        const merged = dedupeTags([...(current.resourceTags ?? []), ...tags]);
        if (merged.length > MAX_RESOURCE_TAGS) throw new BerthError('TooManyTagsException', `A repository can have at most ${MAX_RESOURCE_TAGS} tags; this would make ${merged.length}.`);
        return { ...current, resourceTags: merged };
      });
      if (updated === undefined) throw repositoryNotFound(name, accountId);
      return {};
    },

    UntagResource: async (input, ctx) => {
      const name = repositoryOfArn(requiredString(input, 'resourceArn'), ctx, accountId);
      const keys = new Set(stringsOf(requiredList(input, 'tagKeys'), 'tagKeys'));
      const updated = await meta.updateRepository(name, (current) => ({ ...current, resourceTags: (current.resourceTags ?? []).filter((t) => !keys.has(t.Key)) }));
      if (updated === undefined) throw repositoryNotFound(name, accountId);
      return {};
    },
  };
}

/** A later value for a key replaces the earlier one, keeping the key's first position. */
function dedupeTags(tags: readonly { Key: string; Value: string }[]): { Key: string; Value: string }[] {
  const byKey = new Map<string, string>();
  for (const t of tags) byKey.set(t.Key, t.Value);
  return [...byKey].map(([Key, Value]) => ({ Key, Value }));
}
