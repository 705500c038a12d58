/**
 * The registry's metadata over the Store (layout: keys.ts): repositories, manifests, tags, blob
 * links, referrers and upload sessions. Every read-modify-write is compare-and-swap, so server
 * replicas sharing one store agree; nothing here touches the disk.
 */
import { StoreError } from '../store/index.js';
import type { Compare, KeyValue, Op, Store, TxnResult } from '../store/index.js';
import { RegistryError } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { registryKeys as keys, lastPart, splitRepositoryKey } from './keys.js';
import type { Descriptor, ManifestMediaType } from './manifest.js';

export type ImageTagMutability = 'MUTABLE' | 'IMMUTABLE' | 'IMMUTABLE_WITH_EXCLUSION' | 'MUTABLE_WITH_EXCLUSION';

/** ECR's exclusions from the mutability setting: tags matching a wildcard (`*`) pattern. */
export interface TagMutabilityExclusion {
  readonly filterType: 'WILDCARD';
  readonly filter: string;
}

/** A repository's resource tag (ECR's TagResource), not an image tag. */
export interface ResourceTag {
  readonly Key: string;
  readonly Value: string;
}

export interface RepositoryRecord {
  readonly name: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ECR's setting: IMMUTABLE refuses to move an existing tag to another manifest. */
  readonly imageTagMutability: ImageTagMutability;
  /** With the *_WITH_EXCLUSION settings: the tags that behave the other way. */
  readonly imageTagMutabilityExclusionFilters?: readonly TagMutabilityExclusion[];
  readonly scanOnPush: boolean;
  /** ECR's encryptionConfiguration.encryptionType (only AES256 is accepted). */
  readonly encryptionType?: 'AES256';
  readonly resourceTags?: readonly ResourceTag[];
  /** 'push' when a push created it (create-on-push), 'api' when CreateRepository did. */
  readonly createdBy: 'push' | 'api';
}

export interface ManifestRecord {
  readonly digest: string;
  readonly mediaType: ManifestMediaType;
  /** The manifest's own length in bytes. */
  readonly size: number;
  /** ISO 8601; the first push (re-pushing the same bytes keeps it). */
  readonly pushedAt: string;
  readonly configMediaType?: string;
  readonly artifactType?: string;
  /** The digest of the manifest this one refers to (referrers API). */
  readonly subject?: string;
  /** Blobs this manifest needs: config and distributable layers (what GC keeps). */
  readonly blobs: readonly string[];
  /** Child manifests (indexes). */
  readonly manifests: readonly string[];
  /** The layers' sizes summed, as ECR's imageSizeInBytes counts them (0 for an index). */
  readonly imageSize: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface TagRecord {
  readonly digest: string;
  readonly updatedAt: string;
}

export interface BlobLinkRecord {
  readonly size: number;
  readonly linkedAt: string;
}

export interface UploadRecord {
  readonly id: string;
  readonly repository: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  /** Bytes received so far, as of the last request that ended (the temp file is the truth). */
  readonly offset: number;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** True when more entries follow the last one returned. */
  readonly more: boolean;
}

/** Concurrent writers of one key each win in turn; this bounds a burst of them. */
const MAX_CAS_ATTEMPTS = 32;
/** Store reads page by this many keys when a scan may be long (GC, filtered listings). */
export const SCAN_BATCH = 500;

export class RegistryMetadata {
  /** Writes of concurrent pushes share commits (group-commit.ts). */
  private readonly commits: GroupCommit;

  constructor(readonly store: Store) {
    this.commits = new GroupCommit(store);
  }

  // --- repositories ---------------------------------------------------------------------------

  async getRepository(name: string): Promise<RepositoryRecord | undefined> {
    return (await this.read<RepositoryRecord>(keys.repository(name)))?.value;
  }

  /** Creates a repository; false when one of that name exists. */
  async createRepository(record: RepositoryRecord): Promise<boolean> {
    const key = keys.repository(record.name);
    const res = await this.txn([absent(key)], [{ type: 'put', key, value: JSON.stringify(record) }]);
    return res.succeeded;
  }

  /** Replaces a repository's record (settings); false when it does not exist. */
  async updateRepository(name: string, change: (current: RepositoryRecord) => RepositoryRecord): Promise<RepositoryRecord | undefined> {
    const key = keys.repository(name);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const cur = await this.read<RepositoryRecord>(key);
      if (cur === undefined) return undefined;
      const next = change(cur.value);
      const res = await this.txn([{ key, target: 'mod', op: '=', value: cur.modRevision }], [{ type: 'put', key, value: JSON.stringify(next) }]);
      if (res.succeeded) return next;
    }
    throw tooContended(key);
  }

  /** Deletes a repository and everything in it (manifests, tags, links, referrers). */
  async deleteRepository(name: string): Promise<boolean> {
    const key = keys.repository(name);
    const res = await this.txn(
      [{ key, target: 'mod', op: '>', value: 0 }],
      [
        { type: 'delete', key },
        { type: 'deletePrefix', prefix: keys.manifests(name) },
        { type: 'deletePrefix', prefix: keys.tags(name) },
        { type: 'deletePrefix', prefix: keys.blobLinks(name) },
        { type: 'deletePrefix', prefix: keys.referrers(name) },
      ],
    );
    return res.succeeded;
  }

  /** One page of repository records in name order, after the name `last`. */
  async listRepositoryRecords(n: number, last?: string): Promise<Page<RepositoryRecord>> {
    if (n <= 0) return { items: [], more: false };
    const prefix = keys.repositories();
    const res = await this.store.range(prefix, { limit: n, ...(last !== undefined && { startAfter: prefix + last }) });
    return { items: res.kvs.map((kv) => JSON.parse(kv.value) as RepositoryRecord), more: res.more };
  }

  /** How many manifests a repository holds. */
  async countManifests(name: string): Promise<number> {
    return (await this.store.range(keys.manifests(name), { countOnly: true })).count;
  }

    /** One page of repository names in lexical order, after `last`. */
  async listRepositories(n: number, last?: string): Promise<Page<string>> {
    return this.pageOfKeys(keys.repositories(), n, last, (key) => key.slice(keys.repositories().length));
  }

  // --- blobs ------------------------------------------------------------------------------------

  async getBlobLink(name: string, digest: string): Promise<BlobLinkRecord | undefined> {
    return (await this.read<BlobLinkRecord>(keys.blobLink(name, digest)))?.value;
  }

  /**
   * Makes a blob visible in a repository. With `createRepository`, the repository is created in the
   * same transaction if it does not exist yet (create-on-push).
   */
  async linkBlob(name: string, digest: string, size: number, now: Date, createRepository?: RepositoryRecord): Promise<void> {
    const link: Op = { type: 'put', key: keys.blobLink(name, digest), value: JSON.stringify({ size, linkedAt: now.toISOString() } satisfies BlobLinkRecord) };
    if (createRepository === undefined) {
      await this.commits.submit({ compares: [], success: [link] });
      return;
    }
    const repoKey = keys.repository(name);
    await this.commits.submit({ compares: [absent(repoKey)], success: [{ type: 'put', key: repoKey, value: JSON.stringify(createRepository) }, link], failure: [link] });
  }

  /**
   * Ends an upload session (deleting its record, if it has one) and links its blob into `name` in
   * one transaction (one commit, where deleting and then linking took two), creating the
   * repository as linkBlob does.
   */
  async finishUpload(session: { id: string; recorded: boolean }, name: string, digest: string, size: number, now: Date, createRepository?: RepositoryRecord): Promise<void> {
    const ops: Op[] = [{ type: 'put', key: keys.blobLink(name, digest), value: JSON.stringify({ size, linkedAt: now.toISOString() } satisfies BlobLinkRecord) }];
    if (session.recorded) ops.push({ type: 'delete', key: keys.upload(session.id) });
    if (createRepository === undefined) {
      await this.commits.submit({ compares: [], success: ops });
      return;
    }
    const repoKey = keys.repository(name);
    await this.commits.submit({ compares: [absent(repoKey)], success: [{ type: 'put', key: repoKey, value: JSON.stringify(createRepository) }, ...ops], failure: ops });
  }

  async unlinkBlob(name: string, digest: string): Promise<boolean> {
    const key = keys.blobLink(name, digest);
    const res = await this.txn([{ key, target: 'mod', op: '>', value: 0 }], [{ type: 'delete', key }]);
    return res.succeeded;
  }

  /** Every blob link of every repository, in pages (GC). */
  async *allBlobLinks(): AsyncIterable<{ key: string; modRevision: number; name: string; digest: string; record: BlobLinkRecord }> {
    for await (const kv of this.scan(keys.blobLinks())) {
      const parts = splitRepositoryKey(keys.blobLinks(), kv.key);
      if (parts !== undefined) yield { key: kv.key, modRevision: kv.modRevision, name: parts.name, digest: parts.rest, record: JSON.parse(kv.value) as BlobLinkRecord };
    }
  }

  /** Deletes a key only if nobody wrote it since `modRevision` was read. */
  async deleteIfUnchanged(key: string, modRevision: number): Promise<boolean> {
    return (await this.txn([{ key, target: 'mod', op: '=', value: modRevision }], [{ type: 'delete', key }])).succeeded;
  }

  // --- manifests and tags -----------------------------------------------------------------------

  async getManifest(name: string, digest: string): Promise<ManifestRecord | undefined> {
    return (await this.read<ManifestRecord>(keys.manifest(name, digest)))?.value;
  }

  async getTag(name: string, tag: string): Promise<TagRecord | undefined> {
    return (await this.read<TagRecord>(keys.tag(name, tag)))?.value;
  }

  /**
   * Stores a manifest in a repository, points `tag` at it, and indexes it as a referrer of its
   * subject, atomically. A re-push of stored bytes keeps the first push time. A tag the
   * repository holds immutable is not moved to another digest (ImmutableTagError).
   */
  async putManifest(args: {
    name: string;
    record: ManifestRecord;
    tag?: string;
    referrer?: Descriptor;
    now: Date;
    createRepository?: RepositoryRecord;
  }): Promise<{ record: ManifestRecord; created: boolean; tagMoved: boolean }> {
    const { name, tag, now } = args;
    const repoKey = keys.repository(name);
    const manifestKey = keys.manifest(name, args.record.digest);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const [repo, existing, current] = await Promise.all([
        this.read<RepositoryRecord>(repoKey),
        this.read<ManifestRecord>(manifestKey),
        tag === undefined ? undefined : this.read<TagRecord>(keys.tag(name, tag)),
      ]);
      if (repo === undefined && args.createRepository === undefined) {
        throw new RegistryError('NAME_UNKNOWN', `repository '${name}' does not exist`, { detail: { name } });
      }
      const repository = repo?.value ?? args.createRepository!;
      if (tag !== undefined && current !== undefined && current.value.digest !== args.record.digest && isTagImmutable(repository, tag)) {
        throw new ImmutableTagError(name, tag);
      }
      const record: ManifestRecord = existing === undefined ? args.record : { ...args.record, pushedAt: existing.value.pushedAt };
      const compares: Compare[] = [
        { key: repoKey, target: 'mod', op: '=', value: repo?.modRevision ?? 0 },
        { key: manifestKey, target: 'mod', op: '=', value: existing?.modRevision ?? 0 },
      ];
      const ops: Op[] = [{ type: 'put', key: manifestKey, value: JSON.stringify(record) }];
      if (repo === undefined) ops.push({ type: 'put', key: repoKey, value: JSON.stringify(args.createRepository) });
      if (tag !== undefined) {
        compares.push({ key: keys.tag(name, tag), target: 'mod', op: '=', value: current?.modRevision ?? 0 });
        // A tag re-pushed at the digest it already names is left as it is (no new revision).
        if (current?.value.digest !== record.digest) {
          ops.push({ type: 'put', key: keys.tag(name, tag), value: JSON.stringify({ digest: record.digest, updatedAt: now.toISOString() } satisfies TagRecord) });
        }
      }
      if (args.referrer !== undefined && record.subject !== undefined) {
        ops.push({ type: 'put', key: keys.referrer(name, record.subject, record.digest), value: JSON.stringify(args.referrer) });
      }
      const res = await this.txn(compares, ops);
      if (res.succeeded) return { record, created: existing === undefined, tagMoved: tag !== undefined && current?.value.digest !== record.digest };
    }
    throw tooContended(manifestKey);
  }

  /**
   * Deletes a manifest, every tag that names it and its referrer entry. False when it is not in
   * the repository.
   */
  async deleteManifest(name: string, digest: string): Promise<boolean> {
    const manifestKey = keys.manifest(name, digest);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const cur = await this.read<ManifestRecord>(manifestKey);
      if (cur === undefined) return false;
      const ops: Op[] = [{ type: 'delete', key: manifestKey }];
      const compares: Compare[] = [{ key: manifestKey, target: 'mod', op: '=', value: cur.modRevision }];
      for await (const kv of this.scan(keys.tags(name))) {
        if ((JSON.parse(kv.value) as TagRecord).digest === digest) {
          ops.push({ type: 'delete', key: kv.key });
          compares.push({ key: kv.key, target: 'mod', op: '=', value: kv.modRevision });
        }
      }
      if (cur.value.subject !== undefined) ops.push({ type: 'delete', key: keys.referrer(name, cur.value.subject, digest) });
      const res = await this.txn(compares, ops);
      if (res.succeeded) return true;
    }
    throw tooContended(manifestKey);
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    const key = keys.tag(name, tag);
    const res = await this.txn([{ key, target: 'mod', op: '>', value: 0 }], [{ type: 'delete', key }]);
    return res.succeeded;
  }

  /** One page of a repository's tags in lexical order, after `last`. */
  async listTags(name: string, n: number, last?: string): Promise<Page<string>> {
    return this.pageOfKeys(keys.tags(name), n, last, lastPart);
  }

  /** Every tag of a repository with the digest it names. */
  async allTags(name: string): Promise<{ tag: string; record: TagRecord }[]> {
    const out: { tag: string; record: TagRecord }[] = [];
    for await (const kv of this.scan(keys.tags(name))) out.push({ tag: lastPart(kv.key), record: JSON.parse(kv.value) as TagRecord });
    return out;
  }

  /** Every manifest of a repository (ECR's ListImages and DescribeImages). */
  async allManifests(name: string): Promise<ManifestRecord[]> {
    const out: ManifestRecord[] = [];
    for await (const kv of this.scan(keys.manifests(name))) out.push(JSON.parse(kv.value) as ManifestRecord);
    return out;
  }

  /** The descriptors of the manifests in `name` whose subject is `subject`. */
  async listReferrers(name: string, subject: string): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for await (const kv of this.scan(keys.referrers(name, subject))) out.push(JSON.parse(kv.value) as Descriptor);
    return out;
  }

  /**
   * Every digest some manifest in some repository needs: the manifests themselves and their blobs.
   * This is GC's mark phase.
   */
  async referencedDigests(): Promise<Set<string>> {
    const marked = new Set<string>();
    for await (const kv of this.scan(keys.manifests())) {
      const record = JSON.parse(kv.value) as ManifestRecord;
      marked.add(record.digest);
      for (const blob of record.blobs) marked.add(blob);
    }
    return marked;
  }

  // --- uploads ----------------------------------------------------------------------------------

  async createUpload(record: UploadRecord): Promise<void> {
    const key = keys.upload(record.id);
    const res = await this.txn([absent(key)], [{ type: 'put', key, value: JSON.stringify(record) }]);
    if (!res.succeeded) throw new StoreError('conflict', `upload ${record.id} already exists`);
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    return (await this.read<UploadRecord>(keys.upload(id)))?.value;
  }

  /** Records progress; false when the session is gone (cancelled or expired meanwhile). */
  async saveUpload(record: UploadRecord): Promise<boolean> {
    const key = keys.upload(record.id);
    const res = await this.txn([{ key, target: 'mod', op: '>', value: 0 }], [{ type: 'put', key, value: JSON.stringify(record) }]);
    return res.succeeded;
  }

  async deleteUpload(id: string): Promise<boolean> {
    const key = keys.upload(id);
    const res = await this.txn([{ key, target: 'mod', op: '>', value: 0 }], [{ type: 'delete', key }]);
    return res.succeeded;
  }

  async countUploads(): Promise<number> {
    return (await this.store.range(keys.uploads(), { countOnly: true })).count;
  }

  async *allUploads(): AsyncIterable<UploadRecord> {
    for await (const kv of this.scan(keys.uploads())) yield JSON.parse(kv.value) as UploadRecord;
  }

  // --- helpers ----------------------------------------------------------------------------------

  /**
   * Every write goes through the group commit: a push makes three or four of them (blob links, the
   * manifest, an upload record), and each commit alone would hold the event loop for its fsync.
   */
  private txn(compares: readonly Compare[], success: readonly Op[], failure?: readonly Op[]): Promise<TxnResult> {
    return this.commits.submit({ compares, success, ...(failure !== undefined && { failure }) });
  }

  private async read<T>(key: string): Promise<{ value: T; modRevision: number } | undefined> {
    const kv = await this.store.get(key);
    return kv && { value: JSON.parse(kv.value) as T, modRevision: kv.modRevision };
  }

  /** Every key under `prefix`, read in pages so a long scan never holds the whole range. */
  async *scan(prefix: string): AsyncIterable<KeyValue> {
    let startAfter: string | undefined;
    for (;;) {
      const res = await this.store.range(prefix, { limit: SCAN_BATCH, ...(startAfter !== undefined && { startAfter }) });
      yield* res.kvs;
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || last === undefined) return;
      startAfter = last.key;
    }
  }

  private async pageOfKeys(prefix: string, n: number, last: string | undefined, nameOf: (key: string) => string): Promise<Page<string>> {
    if (n <= 0) return { items: [], more: false };
    const res = await this.store.range(prefix, { limit: n, ...(last !== undefined && { startAfter: prefix + last }) });
    return { items: res.kvs.map((kv) => nameOf(kv.key)), more: res.more };
  }
}

/**
 * Whether `tag` may not be moved to another manifest in `repository`: IMMUTABLE (except tags its
 * exclusion filters match, with IMMUTABLE_WITH_EXCLUSION), or MUTABLE_WITH_EXCLUSION and matched.
 */
export function isTagImmutable(repository: Pick<RepositoryRecord, 'imageTagMutability' | 'imageTagMutabilityExclusionFilters'>, tag: string): boolean {
  const excluded = (repository.imageTagMutabilityExclusionFilters ?? []).some((f) => wildcard(f.filter).test(tag));
  switch (repository.imageTagMutability) {
    case 'MUTABLE':
      return false;
    case 'IMMUTABLE':
      return true;
    case 'IMMUTABLE_WITH_EXCLUSION':
      return !excluded;
    case 'MUTABLE_WITH_EXCLUSION':
      return excluded;
  }
}

const wildcard = (pattern: string) => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

/** An immutable tag would move: OCI's TAG_INVALID with ECR's wording (ECR's API: ImageTagAlreadyExistsException). */
export class ImmutableTagError extends RegistryError {
  constructor(
    readonly repository: string,
    readonly tag: string,
  ) {
    super('TAG_INVALID', `The image tag '${tag}' already exists in the '${repository}' repository and cannot be overwritten because the repository is immutable.`, { detail: { tag } });
  }
}

const absent = (key: string): Compare => ({ key, target: 'mod', op: '=', value: 0 });

const tooContended = (key: string) =>
  new RegistryError('TOOMANYREQUESTS', `too many concurrent updates to ${key}; try again`, { cause: new StoreError('conflict', key) });
