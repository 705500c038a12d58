/**
 * Where lifecycle policies and their previews live in the Store, beside the registry's other
 * metadata (keys.ts), and how a repository's images are read for evaluation.
 *
 *   /registry/lifecycle-policies/<name>   LifecyclePolicyRecord: the policy text, when last run
 *   /registry/lifecycle-previews/<name>   LifecyclePreviewRecord: the last preview's results
 *
 * Each record names the repository's createdAt: DeleteRepository removes both keys, and a record
 * that outlives its repository anyway (a crash between the two deletes) never applies to a new
 * repository of the same name; the runner sweeps such records.
 */
import type { Store } from '../store/index.js';
import type { LifecycleImage } from './lifecycle.js';
import { registryKeys } from './keys.js';
import type { RegistryMetadata, RepositoryRecord } from './metadata.js';

const ROOT = registryKeys.root();

export const lifecycleKeys = {
  policy: (name: string) => `${ROOT}lifecycle-policies/${name}`,
  policies: () => `${ROOT}lifecycle-policies/`,
  preview: (name: string) => `${ROOT}lifecycle-previews/${name}`,
} as const;

export interface LifecyclePolicyRecord {
  /** The policy as the caller wrote it: Get returns these very bytes. */
  readonly text: string;
  /** The createdAt of the repository it was put on. */
  readonly repositoryCreatedAt: string;
  readonly updatedAt: string;
  /** ISO 8601: when the runner last applied it (GetLifecyclePolicy's lastEvaluatedAt). */
  readonly lastEvaluatedAt?: string;
}

export interface LifecyclePreviewResult {
  readonly imageDigest: string;
  readonly imageTags: readonly string[];
  readonly imagePushedAt: string;
  readonly appliedRulePriority: number;
}

export interface LifecyclePreviewRecord {
  readonly text: string;
  readonly repositoryCreatedAt: string;
  readonly startedAt: string;
  /** What would expire, by rule priority then oldest first. */
  readonly results: readonly LifecyclePreviewResult[];
}

export interface Stored<T> {
  readonly value: T;
  readonly modRevision: number;
}

export class LifecycleStore {
  constructor(readonly store: Store) {}

  async getPolicy(repository: RepositoryRecord): Promise<Stored<LifecyclePolicyRecord> | undefined> {
    return this.readFor<LifecyclePolicyRecord>(lifecycleKeys.policy(repository.name), repository);
  }

  /** Sets the policy while the repository still exists; false when it is gone. */
  async putPolicy(repository: RepositoryRecord, text: string, now: Date): Promise<boolean> {
    const record: LifecyclePolicyRecord = { text, repositoryCreatedAt: repository.createdAt, updatedAt: now.toISOString() };
    return this.putWhileRepositoryExists(repository.name, lifecycleKeys.policy(repository.name), record);
  }

  /** Deletes the policy if it is still the one read at `modRevision`. */
  async deletePolicy(name: string, modRevision: number): Promise<boolean> {
    const key = lifecycleKeys.policy(name);
    return (await this.store.txn([{ key, target: 'mod', op: '=', value: modRevision }], [{ type: 'delete', key }])).succeeded;
  }

  /** Records a run, unless the policy changed since it was read (the next run will see the new one). */
  async markEvaluated(name: string, read: Stored<LifecyclePolicyRecord>, now: Date): Promise<boolean> {
    const key = lifecycleKeys.policy(name);
    const value = JSON.stringify({ ...read.value, lastEvaluatedAt: now.toISOString() } satisfies LifecyclePolicyRecord);
    return (await this.store.txn([{ key, target: 'mod', op: '=', value: read.modRevision }], [{ type: 'put', key, value }])).succeeded;
  }

  /** Every stored policy, with the repository name it is filed under (orphans included). */
  async *allPolicies(): AsyncIterable<{ name: string; policy: Stored<LifecyclePolicyRecord> }> {
    const prefix = lifecycleKeys.policies();
    let startAfter: string | undefined;
    for (;;) {
      const res = await this.store.range(prefix, { limit: 500, ...(startAfter !== undefined && { startAfter }) });
      for (const kv of res.kvs) yield { name: kv.key.slice(prefix.length), policy: { value: JSON.parse(kv.value) as LifecyclePolicyRecord, modRevision: kv.modRevision } };
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || last === undefined) return;
      startAfter = last.key;
    }
  }

  async getPreview(repository: RepositoryRecord): Promise<LifecyclePreviewRecord | undefined> {
    return (await this.readFor<LifecyclePreviewRecord>(lifecycleKeys.preview(repository.name), repository))?.value;
  }

  async putPreview(repository: RepositoryRecord, preview: Omit<LifecyclePreviewRecord, 'repositoryCreatedAt'>): Promise<boolean> {
    return this.putWhileRepositoryExists(repository.name, lifecycleKeys.preview(repository.name), { ...preview, repositoryCreatedAt: repository.createdAt });
  }

  /** Removes a repository's policy and preview (DeleteRepository). */
  async forget(name: string): Promise<void> {
    await this.store.txn([], [
      { type: 'delete', key: lifecycleKeys.policy(name) },
      { type: 'delete', key: lifecycleKeys.preview(name) },
    ]);
  }

  private async putWhileRepositoryExists(name: string, key: string, record: object): Promise<boolean> {
    const res = await this.store.txn([{ key: registryKeys.repository(name), target: 'mod', op: '>', value: 0 }], [{ type: 'put', key, value: JSON.stringify(record) }]);
    return res.succeeded;
  }

  /** A record of this repository, not of an earlier one that had its name. */
  private async readFor<T extends { repositoryCreatedAt: string }>(key: string, repository: RepositoryRecord): Promise<Stored<T> | undefined> {
    const kv = await this.store.get(key);
    if (kv === undefined) return undefined;
    const value = JSON.parse(kv.value) as T;
    return value.repositoryCreatedAt === repository.createdAt ? { value, modRevision: kv.modRevision } : undefined;
  }
}

/** A repository's images as lifecycle rules see them: digest, tags, push time, listed images. */
export async function loadLifecycleImages(meta: RegistryMetadata, name: string): Promise<LifecycleImage[]> {
  const [manifests, tags] = await Promise.all([meta.allManifests(name), meta.allTags(name)]);
  const tagsOf = new Map<string, string[]>();
  for (const { tag, record } of tags) {
    const list = tagsOf.get(record.digest);
    if (list === undefined) tagsOf.set(record.digest, [tag]);
    else list.push(tag);
  }
  return manifests.map((m) => ({ digest: m.digest, tags: (tagsOf.get(m.digest) ?? []).sort(), pushedAt: new Date(m.pushedAt), manifests: m.manifests }));
}
