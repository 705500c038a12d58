/**
 * ECR's lifecycle policy operations: Put/Get/DeleteLifecyclePolicy and Start/GetLifecyclePolicyPreview.
 * A preview is evaluated when it starts (the same evaluator enforcement uses, over the images of
 * that moment), so it is COMPLETE at once and Get pages through a fixed result.
 */
import { BerthError } from '../protocols/index.js';
import type { Operation, RequestContext } from '../protocols/index.js';
import {
  decodeToken,
  encodeToken,
  existingRepository,
  invalid,
  objectsOf,
  optionalEnum,
  optionalInt,
  optionalList,
  optionalObject,
  optionalString,
  repositoryNotFound,
  requiredString,
} from './ecr-input.js';
import type { EcrDeps } from './ecr-input.js';
import { evaluateLifecyclePolicy, parseLifecyclePolicy } from './lifecycle.js';
import { LifecycleStore, loadLifecycleImages } from './lifecycle-store.js';
import type { LifecyclePreviewRecord, LifecyclePreviewResult } from './lifecycle-store.js';
import type { RepositoryRecord } from './metadata.js';

/** botocore's LifecyclePolicyText: 100 to 30,720 characters. */
const TEXT_LIMITS = { min: 100, max: 30720 } as const;

export function lifecycleNotFound(name: string, accountId: string): BerthError {
  return new BerthError('LifecyclePolicyNotFoundException', `Lifecycle policy does not exist for the repository with name '${name}' in the registry with id '${accountId}'`);
}

function previewNotFound(name: string, accountId: string): BerthError {
  return new BerthError('LifecyclePolicyPreviewNotFoundException', `Lifecycle policy preview does not exist for the repository with name '${name}' in the registry with id '${accountId}'`);
}

/** A policy text read from input, checked for length (the model's bounds) and then as a policy. */
function policyText(input: Record<string, unknown>): string {
  const text = requiredString(input, 'lifecyclePolicyText', TEXT_LIMITS);
  parseLifecyclePolicy(text);
  return text;
}

const previewShape = (r: LifecyclePreviewResult) => ({
  imageDigest: r.imageDigest,
  imageTags: [...r.imageTags],
  imagePushedAt: new Date(r.imagePushedAt),
  action: { type: 'EXPIRE' },
  appliedRulePriority: r.appliedRulePriority,
});

const isPosition = (v: unknown): v is [string, number] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isSafeInteger(v[1]) && (v[1] as number) >= 0;

export function lifecycleOperations(deps: EcrDeps): Record<string, Operation> {
  const meta = deps.registry.metadata;
  const accountId = deps.registry.accountId;
  const policies = new LifecycleStore(meta.store);
  const head = (repo: RepositoryRecord) => ({ registryId: accountId, repositoryName: repo.name });

  /** The repository's policy, or LifecyclePolicyNotFoundException. */
  async function storedPolicy(repo: RepositoryRecord) {
    const policy = await policies.getPolicy(repo);
    if (policy === undefined) throw lifecycleNotFound(repo.name, accountId);
    return policy;
  }

  return {
    // Putting a policy decides what will be deleted: it asks for the right to delete.
    PutLifecyclePolicy: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'delete');
      const text = policyText(input);
      if (!(await policies.putPolicy(repo, text, ctx.now))) throw repositoryNotFound(repo.name, accountId);
      return { ...head(repo), lifecyclePolicyText: text };
    },

    GetLifecyclePolicy: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'pull');
      const { value } = await storedPolicy(repo);
      return { ...head(repo), lifecyclePolicyText: value.text, ...(value.lastEvaluatedAt !== undefined && { lastEvaluatedAt: new Date(value.lastEvaluatedAt) }) };
    },

    DeleteLifecyclePolicy: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'delete');
      const { value, modRevision } = await storedPolicy(repo);
      // Changed meanwhile: the caller deleted a policy that is no longer there.
      if (!(await policies.deletePolicy(repo.name, modRevision))) throw lifecycleNotFound(repo.name, accountId);
      return { ...head(repo), lifecyclePolicyText: value.text, ...(value.lastEvaluatedAt !== undefined && { lastEvaluatedAt: new Date(value.lastEvaluatedAt) }) };
    },

    StartLifecyclePolicyPreview: async (input, ctx) => {
      const repo = await existingRepository(deps, input, ctx, 'pull');
      const text = input['lifecyclePolicyText'] === undefined || input['lifecyclePolicyText'] === null ? (await storedPolicy(repo)).value.text : policyText(input);
      const expiring = evaluateLifecyclePolicy(parseLifecyclePolicy(text), await loadLifecycleImages(meta, repo.name), ctx.now);
      const preview: Omit<LifecyclePreviewRecord, 'repositoryCreatedAt'> = {
        text,
        startedAt: ctx.now.toISOString(),
        results: expiring.map(({ image, rule }) => ({ imageDigest: image.digest, imageTags: image.tags, imagePushedAt: image.pushedAt.toISOString(), appliedRulePriority: rule.rulePriority })),
      };
      if (!(await policies.putPreview(repo, preview))) throw repositoryNotFound(repo.name, accountId);
      return { ...head(repo), lifecyclePolicyText: text, status: 'COMPLETE' };
    },

    GetLifecyclePolicyPreview: async (input, ctx) => getPreview(input, ctx),
  };

  async function getPreview(input: Record<string, unknown>, ctx: RequestContext) {
    const repo = await existingRepository(deps, input, ctx, 'pull');
    const idList = optionalList(input, 'imageIds', { min: 1, max: 100 });
    const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 100 });
    const nextToken = optionalString(input, 'nextToken');
    const filter = optionalObject(input, 'filter');
    const tagStatus = (filter === undefined ? undefined : optionalEnum(filter, 'tagStatus', ['TAGGED', 'UNTAGGED', 'ANY'] as const)) ?? 'ANY';
    if (idList !== undefined && (maxResults !== undefined || nextToken !== undefined)) throw invalid('maxResults and nextToken cannot be used with imageIds.');
    const preview = await policies.getPreview(repo);
    if (preview === undefined) throw previewNotFound(repo.name, accountId);

    let results = preview.results.filter((r) => tagStatus === 'ANY' || (tagStatus === 'TAGGED') === r.imageTags.length > 0);
    if (idList !== undefined) {
      const ids = objectsOf(idList, 'imageIds').map((id, i) => ({
        digest: optionalString(id, 'imageDigest', { path: `imageIds[${i}].imageDigest` }),
        tag: optionalString(id, 'imageTag', { path: `imageIds[${i}].imageTag`, min: 1, max: 300 }),
      }));
      results = results.filter((r) => ids.some((id) => (id.digest !== undefined || id.tag !== undefined) && (id.digest === undefined || id.digest === r.imageDigest) && (id.tag === undefined || r.imageTags.includes(id.tag))));
    }
    // A token is bound to the preview it pages through: a newer preview makes old tokens invalid.
    const after = decodeToken(nextToken, isPosition);
    if (after !== undefined && after[0] !== preview.startedAt) throw invalid('The nextToken is not valid: a newer preview has started since.');
    const start = after?.[1] ?? 0;
    const page = idList === undefined ? results.slice(start, start + (maxResults ?? 100)) : results;
    const end = start + page.length;
    return {
      ...head(repo),
      lifecyclePolicyText: preview.text,
      status: 'COMPLETE',
      previewResults: page.map(previewShape),
      summary: { expiringImageTotalCount: preview.results.length },
      ...(idList === undefined && end < results.length && { nextToken: encodeToken([preview.startedAt, end]) }),
    };
  }
}
