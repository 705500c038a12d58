/**
 * Lifecycle policy enforcement: the level-triggered runner a leader-only timer calls. It applies
 * every repository's policy at `now` and expires images through BatchDeleteImage itself, so an
 * expiry obeys every rule a user's delete does (an image an index lists stays).
 *
 * @example
 * const report = await enforceLifecyclePolicies(registry, new Date());
 * for (const f of report.failures) logger.warn('lifecycle policy', f);
 */
import { isBerthError } from '../protocols/index.js';
import type { RequestContext } from '../protocols/index.js';
import { imageOperations } from './ecr-images.js';
import type { Registry } from './index.js';
import { evaluateLifecyclePolicy, parseLifecyclePolicy } from './lifecycle.js';
import type { ExpiredImage } from './lifecycle.js';
import { LifecycleStore, loadLifecycleImages } from './lifecycle-store.js';

export interface LifecycleExpiry {
  readonly repositoryName: string;
  readonly imageDigest: string;
  readonly imageTags: readonly string[];
  readonly appliedRulePriority: number;
}

export interface LifecycleFailure {
  readonly repositoryName: string;
  readonly imageDigest?: string;
  /** BatchDeleteImage's failure codes, or InvalidLifecyclePolicy for a stored policy that no longer parses. */
  readonly failureCode: string;
  readonly failureReason: string;
}

export interface LifecycleRunReport {
  /** Repositories whose policy was applied. */
  readonly repositories: number;
  readonly expired: readonly LifecycleExpiry[];
  readonly failures: readonly LifecycleFailure[];
}

/** BatchDeleteImage takes at most this many image ids. */
const DELETE_BATCH = 100;

/**
 * Applies every repository's lifecycle policy at `now`: evaluates it over the repository's images,
 * deletes what it expires (indexes before what they list, so both can go in one run), and stamps
 * the policy's lastEvaluatedAt. Safe to rerun: a second run at the same `now` expires nothing new.
 * Policies left behind by deleted repositories are removed.
 */
export async function enforceLifecyclePolicies(registry: Registry, now: Date): Promise<LifecycleRunReport> {
  const meta = registry.metadata;
  const policies = new LifecycleStore(meta.store);
  // The policy's author was allowed to delete in the repository (PutLifecyclePolicy asks for
  // 'delete'); its expiries are the service acting for them, not a caller to authorize again.
  const batchDelete = imageOperations({ registry: { ...registry, authorize: () => true }, registryEndpoint: '' })['BatchDeleteImage']!;
  const ctx: RequestContext = { requestId: 'berth-lifecycle', caller: { accessKeyId: 'berth-lifecycle', accountId: registry.accountId }, region: 'us-east-1', now };

  let repositories = 0;
  const expired: LifecycleExpiry[] = [];
  const failures: LifecycleFailure[] = [];
  for await (const { name, policy } of policies.allPolicies()) {
    const repository = await meta.getRepository(name);
    if (repository === undefined || repository.createdAt !== policy.value.repositoryCreatedAt) {
      await policies.deletePolicy(name, policy.modRevision);
      continue;
    }
    let evaluated: ExpiredImage[];
    try {
      evaluated = evaluateLifecyclePolicy(parseLifecyclePolicy(policy.value.text), await loadLifecycleImages(meta, name), now);
    } catch (err) {
      // Only a policy stored before a stricter release can fail to parse; say so, and go on with the others.
      if (!isBerthError(err, 'InvalidParameterException')) throw err;
      failures.push({ repositoryName: name, failureCode: 'InvalidLifecyclePolicy', failureReason: err.message });
      continue;
    }
    repositories++;
    const indexesFirst = [...evaluated].sort((a, b) => Number((b.image.manifests?.length ?? 0) > 0) - Number((a.image.manifests?.length ?? 0) > 0));
    const ruleOf = new Map(evaluated.map((e) => [e.image.digest, e]));
    for (let i = 0; i < indexesFirst.length; i += DELETE_BATCH) {
      const batch = indexesFirst.slice(i, i + DELETE_BATCH);
      const res = (await batchDelete({ repositoryName: name, imageIds: batch.map((e) => ({ imageDigest: e.image.digest })) }, ctx)) as {
        imageIds: { imageDigest: string; imageTag?: string }[];
        failures: { imageId: { imageDigest?: string }; failureCode: string; failureReason: string }[];
      };
      for (const digest of new Set(res.imageIds.map((id) => id.imageDigest))) {
        const e = ruleOf.get(digest)!;
        expired.push({ repositoryName: name, imageDigest: digest, imageTags: e.image.tags, appliedRulePriority: e.rule.rulePriority });
      }
      for (const f of res.failures) {
        failures.push({ repositoryName: name, ...(f.imageId.imageDigest !== undefined && { imageDigest: f.imageId.imageDigest }), failureCode: f.failureCode, failureReason: f.failureReason });
      }
    }
    await policies.markEvaluated(name, policy, now);
  }
  return { repositories, expired, failures };
}
