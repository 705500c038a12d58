/**
 * Lifecycle policies through the ECR API in-process, against a live registry: put, get, delete,
 * previews, and enforcement, whose deletions are checked through the OCI API as well. Each test
 * has a registry of its own, since enforcement sweeps every repository.
 */
import { describe, expect, it } from 'vitest';
import { BerthError } from '../protocols/index.js';
import { ACCOUNT, bytesOf, digestText, startRegistry } from './harness.suite.js';
import { enforceLifecyclePolicies } from './lifecycle-enforce.js';
import { lifecycleKeys } from './lifecycle-store.js';
import { MEDIA_TYPE } from './manifest.js';

const DAY = 24 * 3600 * 1000;
const START = new Date('2026-07-01T00:00:00Z');
const NAME = 'team/app';

/** A registry whose clock reads START except while `push` backdates an image, with NAME created. */
async function world(options: Parameters<typeof startRegistry>[0] = {}) {
  let clock = START;
  const h = await startRegistry({ now: () => clock, ...options });
  await h.ecrCall('CreateRepository', { repositoryName: NAME });
  let seed = 0;
  const sizes = new Map<string, number>();

  /** PUTs a manifest under each tag, or by digest when untagged, at `daysAgo` days before START. */
  async function putManifest(doc: string, mediaType: string, tags: string[], daysAgo: number): Promise<string> {
    clock = new Date(START.getTime() - daysAgo * DAY);
    try {
      for (const reference of tags.length === 0 ? [digestText(doc)] : tags) {
        const res = await h.request(`/v2/${NAME}/manifests/${reference}`, { method: 'PUT', body: doc, headers: { 'content-type': mediaType } });
        if (res.status !== 201) throw new Error(`PUT manifest ${reference}: ${res.status} ${await res.text()}`);
      }
    } finally {
      clock = START;
    }
    sizes.set(digestText(doc), Buffer.byteLength(doc));
    return digestText(doc);
  }

  return {
    h,
    putManifest,
    /** Pushes a small distinct image; returns its digest. */
    async push(daysAgo: number, tags: string[] = []): Promise<string> {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed: ++seed }));
      const layer = bytesOf(64, seed);
      const doc = JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await h.pushBlob(NAME, config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await h.pushBlob(NAME, layer), size: layer.length }],
      });
      return putManifest(doc, MEDIA_TYPE.ociManifest, tags, daysAgo);
    },
    sizeOf: (digest: string) => sizes.get(digest)!,
    exists: async (digest: string) => (await h.request(`/v2/${NAME}/manifests/${digest}`, { method: 'HEAD' })).status === 200,
    setClock: (at: Date) => {
      clock = at;
    },
    /** The error an operation fails with (the test fails if it succeeds). */
    async fails(operation: string, input: Record<string, unknown>): Promise<{ code: string; message: string }> {
      try {
        await h.ecrCall(operation, input);
      } catch (err) {
        if (err instanceof BerthError) return { code: err.code, message: err.message };
        throw err;
      }
      throw new Error(`${operation} succeeded`);
    },
    [Symbol.asyncDispose]: async () => {
      expect(h.logs.filter((line) => line.level === 'error')).toEqual([]);
      await h[Symbol.asyncDispose]();
    },
  };
}

const policyText = (...rules: unknown[]) => JSON.stringify({ rules }, null, 1);
const expire = { type: 'expire' };
const KEEP_TWO_UNTAGGED = policyText({ rulePriority: 1, description: 'keep two untagged', selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 2 }, action: expire });
const UNTAGGED_AFTER_7_DAYS = { rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 }, action: expire };
const RELEASES_THEN_AGE = policyText(
  { rulePriority: 1, selection: { tagStatus: 'tagged', tagPatternList: ['release-*'], countType: 'imageCountMoreThan', countNumber: 1 }, action: expire },
  { rulePriority: 2, selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 }, action: expire },
);
const at = (daysAgo: number) => new Date(START.getTime() - daysAgo * DAY);
const notFound = (name: string) => ({ code: 'LifecyclePolicyNotFoundException', message: `Lifecycle policy does not exist for the repository with name '${name}' in the registry with id '${ACCOUNT}'` });

describe('PutLifecyclePolicy, GetLifecyclePolicy, DeleteLifecyclePolicy', () => {
  it('put answers the text as given; get returns it; delete returns it and then it is gone', async () => {
    await using w = await world();
    expect(await w.h.ecrCall('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: KEEP_TWO_UNTAGGED })).toEqual({ registryId: ACCOUNT, repositoryName: NAME, lifecyclePolicyText: KEEP_TWO_UNTAGGED });
    // Never evaluated yet: no lastEvaluatedAt.
    expect(await w.h.ecrCall('GetLifecyclePolicy', { repositoryName: NAME })).toEqual({ registryId: ACCOUNT, repositoryName: NAME, lifecyclePolicyText: KEEP_TWO_UNTAGGED });
    await w.h.ecrCall('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: RELEASES_THEN_AGE, registryId: ACCOUNT });
    expect((await w.h.ecrCall('GetLifecyclePolicy', { repositoryName: NAME })).lifecyclePolicyText).toBe(RELEASES_THEN_AGE);
    expect(await w.h.ecrCall('DeleteLifecyclePolicy', { repositoryName: NAME })).toEqual({ registryId: ACCOUNT, repositoryName: NAME, lifecyclePolicyText: RELEASES_THEN_AGE });
    expect(await w.fails('GetLifecyclePolicy', { repositoryName: NAME })).toEqual(notFound(NAME));
    expect(await w.fails('DeleteLifecyclePolicy', { repositoryName: NAME })).toEqual(notFound(NAME));
  });

  it('refuses an invalid policy naming the rule, a text out of bounds, and unknown repositories; nothing is stored', async () => {
    await using w = await world();
    const bad = policyText(
      { rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 }, action: expire },
      { rulePriority: 2, selection: { tagStatus: 'tagged', countType: 'imageCountMoreThan', countNumber: 1 }, action: expire },
    );
    expect(await w.fails('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: bad })).toEqual({
      code: 'InvalidParameterException',
      message: "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: rule 2 (rules[1]) selection: tagStatus tagged needs a tagPrefixList or a tagPatternList'",
    });
    expect(await w.fails('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: '{"rules":[]}' })).toEqual({
      code: 'InvalidParameterException',
      message: "Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: 'Member must have length greater than or equal to 100'",
    });
    expect((await w.fails('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: ' '.repeat(30721) })).code).toBe('InvalidParameterException');
    expect((await w.fails('PutLifecyclePolicy', { repositoryName: NAME })).code).toBe('InvalidParameterException');
    expect((await w.fails('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: 7 })).code).toBe('SerializationException');
    expect(await w.fails('GetLifecyclePolicy', { repositoryName: NAME })).toEqual(notFound(NAME));
    for (const op of ['PutLifecyclePolicy', 'GetLifecyclePolicy', 'DeleteLifecyclePolicy', 'StartLifecyclePolicyPreview', 'GetLifecyclePolicyPreview']) {
      expect(await w.fails(op, { repositoryName: 'no-such-repo', lifecyclePolicyText: KEEP_TWO_UNTAGGED }), op).toEqual({
        code: 'RepositoryNotFoundException',
        message: `The repository with name 'no-such-repo' does not exist in the registry with id '${ACCOUNT}'`,
      });
    }
    expect(await w.h.store.get(lifecycleKeys.policy('no-such-repo'))).toBeUndefined();
  });

  it('a deleted repository takes its policy and preview along: a new repository of that name has neither', async () => {
    await using w = await world();
    await w.h.ecrCall('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: KEEP_TWO_UNTAGGED });
    await w.h.ecrCall('StartLifecyclePolicyPreview', { repositoryName: NAME });
    await w.h.ecrCall('DeleteRepository', { repositoryName: NAME, force: true });
    expect(await w.h.store.get(lifecycleKeys.policy(NAME))).toBeUndefined();
    expect(await w.h.store.get(lifecycleKeys.preview(NAME))).toBeUndefined();
    await w.h.ecrCall('CreateRepository', { repositoryName: NAME });
    expect(await w.fails('GetLifecyclePolicy', { repositoryName: NAME })).toEqual(notFound(NAME));
    expect((await w.fails('GetLifecyclePolicyPreview', { repositoryName: NAME })).code).toBe('LifecyclePolicyPreviewNotFoundException');
  });

  it('putting or deleting a policy needs the right to delete in the repository; reading it, the right to pull', async () => {
    await using w = await world({ authorize: ({ action }) => action === 'pull' });
    for (const op of ['PutLifecyclePolicy', 'DeleteLifecyclePolicy']) {
      expect((await w.fails(op, { repositoryName: NAME, lifecyclePolicyText: KEEP_TWO_UNTAGGED })).code, op).toBe('AccessDeniedException');
    }
    expect(await w.fails('GetLifecyclePolicy', { repositoryName: NAME })).toEqual(notFound(NAME));
    expect(await w.h.store.get(lifecycleKeys.policy(NAME))).toBeUndefined();
  });
});

describe('previews', () => {
  it('say which images would expire by which rule, and delete nothing', async () => {
    await using w = await world();
    const old = await w.push(60, ['dev-1']);
    const release1 = await w.push(50, ['release-1']);
    const release2 = await w.push(40, ['release-2', 'stable']);
    const untagged = await w.push(35);
    const recent = await w.push(5, ['dev-2']);

    expect(await w.fails('GetLifecyclePolicyPreview', { repositoryName: NAME })).toEqual({
      code: 'LifecyclePolicyPreviewNotFoundException',
      message: `Lifecycle policy preview does not exist for the repository with name '${NAME}' in the registry with id '${ACCOUNT}'`,
    });
    // No text and no stored policy: nothing to preview. A text is checked as PutLifecyclePolicy checks it.
    expect(await w.fails('StartLifecyclePolicyPreview', { repositoryName: NAME })).toEqual(notFound(NAME));
    expect((await w.fails('StartLifecyclePolicyPreview', { repositoryName: NAME, lifecyclePolicyText: `${KEEP_TWO_UNTAGGED.slice(0, -3)}   ` })).code).toBe('InvalidParameterException');

    const started = await w.h.ecrCall('StartLifecyclePolicyPreview', { repositoryName: NAME, lifecyclePolicyText: RELEASES_THEN_AGE });
    expect(started).toEqual({ registryId: ACCOUNT, repositoryName: NAME, lifecyclePolicyText: RELEASES_THEN_AGE, status: 'COMPLETE' });
    expect(await w.h.ecrCall('GetLifecyclePolicyPreview', { repositoryName: NAME })).toEqual({
      registryId: ACCOUNT,
      repositoryName: NAME,
      lifecyclePolicyText: RELEASES_THEN_AGE,
      status: 'COMPLETE',
      previewResults: [
        { imageDigest: release1, imageTags: ['release-1'], imagePushedAt: at(50), action: { type: 'EXPIRE' }, appliedRulePriority: 1 },
        { imageDigest: old, imageTags: ['dev-1'], imagePushedAt: at(60), action: { type: 'EXPIRE' }, appliedRulePriority: 2 },
        { imageDigest: untagged, imageTags: [], imagePushedAt: at(35), action: { type: 'EXPIRE' }, appliedRulePriority: 2 },
      ],
      summary: { expiringImageTotalCount: 3 },
    });
    for (const digest of [old, release1, release2, untagged, recent]) expect(await w.exists(digest)).toBe(true);
    // Previewing a text does not make it the policy.
    expect(await w.fails('GetLifecyclePolicy', { repositoryName: NAME })).toEqual(notFound(NAME));
  });

  it('page with maxResults and nextToken, filter by tagStatus and imageIds; a newer preview voids old tokens', async () => {
    await using w = await world();
    const digests: string[] = [];
    for (let i = 0; i < 5; i++) digests.push(await w.push(40 + i, i % 2 === 0 ? [`t${i}`] : []));
    const oldestFirst = [...digests].reverse();
    await w.h.ecrCall('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: policyText({ rulePriority: 1, selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }, action: expire }) });
    await w.h.ecrCall('StartLifecyclePolicyPreview', { repositoryName: NAME });
    const digestsOf = (res: { previewResults: { imageDigest: string }[] }) => res.previewResults.map((r) => r.imageDigest);

    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await w.h.ecrCall('GetLifecyclePolicyPreview', { repositoryName: NAME, maxResults: 2, ...(nextToken !== undefined && { nextToken }) });
      expect(page.summary).toEqual({ expiringImageTotalCount: 5 });
      seen.push(...digestsOf(page));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken !== undefined);
    expect(pages).toBe(3);
    expect(seen).toEqual(oldestFirst);

    expect(digestsOf(await w.h.ecrCall('GetLifecyclePolicyPreview', { repositoryName: NAME, filter: { tagStatus: 'TAGGED' } }))).toEqual([digests[4], digests[2], digests[0]]);
    expect(digestsOf(await w.h.ecrCall('GetLifecyclePolicyPreview', { repositoryName: NAME, filter: { tagStatus: 'UNTAGGED' } }))).toEqual([digests[3], digests[1]]);
    const byId = await w.h.ecrCall('GetLifecyclePolicyPreview', { repositoryName: NAME, imageIds: [{ imageTag: 't2' }, { imageDigest: digests[1] }, { imageTag: 'absent' }] });
    expect(digestsOf(byId)).toEqual([digests[2], digests[1]]);
    expect((await w.fails('GetLifecyclePolicyPreview', { repositoryName: NAME, imageIds: [{ imageTag: 't2' }], maxResults: 1 })).code).toBe('InvalidParameterException');
    expect((await w.fails('GetLifecyclePolicyPreview', { repositoryName: NAME, filter: { tagStatus: 'SOME' } })).code).toBe('InvalidParameterException');
    expect((await w.fails('GetLifecyclePolicyPreview', { repositoryName: NAME, maxResults: 101 })).code).toBe('InvalidParameterException');
    expect((await w.fails('GetLifecyclePolicyPreview', { repositoryName: NAME, nextToken: 'garbage' })).code).toBe('InvalidParameterException');

    const first = await w.h.ecrCall('GetLifecyclePolicyPreview', { repositoryName: NAME, maxResults: 2 });
    w.setClock(new Date(START.getTime() + 1000));
    await w.h.ecrCall('StartLifecyclePolicyPreview', { repositoryName: NAME });
    expect(await w.fails('GetLifecyclePolicyPreview', { repositoryName: NAME, nextToken: first.nextToken })).toEqual({
      code: 'InvalidParameterException',
      message: 'The nextToken is not valid: a newer preview has started since.',
    });
  });
});

describe('enforcement', () => {
  it('expires what the preview showed, through the delete path; the rest stays; a rerun expires nothing more', async () => {
    await using w = await world();
    const old = await w.push(60, ['dev-1']);
    const release1 = await w.push(50, ['release-1']);
    const release2 = await w.push(40, ['release-2']);
    const untagged = await w.push(35);
    const recent = await w.push(5, ['dev-2']);
    await w.h.ecrCall('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: RELEASES_THEN_AGE });
    await w.h.ecrCall('StartLifecyclePolicyPreview', { repositoryName: NAME });
    const previewed = (await w.h.ecrCall('GetLifecyclePolicyPreview', { repositoryName: NAME })).previewResults.map((r: { imageDigest: string }) => r.imageDigest);

    const report = await enforceLifecyclePolicies(w.h.registry, START);
    expect(report).toEqual({
      repositories: 1,
      expired: [
        { repositoryName: NAME, imageDigest: release1, imageTags: ['release-1'], appliedRulePriority: 1 },
        { repositoryName: NAME, imageDigest: old, imageTags: ['dev-1'], appliedRulePriority: 2 },
        { repositoryName: NAME, imageDigest: untagged, imageTags: [], appliedRulePriority: 2 },
      ],
      failures: [],
    });
    expect(report.expired.map((e) => e.imageDigest)).toEqual(previewed);
    for (const digest of [release1, old, untagged]) expect(await w.exists(digest)).toBe(false);
    for (const digest of [release2, recent]) expect(await w.exists(digest)).toBe(true);
    expect((await w.h.request(`/v2/${NAME}/manifests/release-1`, { method: 'HEAD' })).status).toBe(404);
    const listed = await w.h.ecrCall('ListImages', { repositoryName: NAME });
    expect(listed.imageIds.map((id: { imageTag?: string }) => id.imageTag).sort()).toEqual(['dev-2', 'release-2']);
    expect((await w.h.ecrCall('GetLifecyclePolicy', { repositoryName: NAME })).lastEvaluatedAt).toEqual(START);

    const later = new Date(START.getTime() + 3600 * 1000);
    expect(await enforceLifecyclePolicies(w.h.registry, later)).toEqual({ repositories: 1, expired: [], failures: [] });
    expect((await w.h.ecrCall('GetLifecyclePolicy', { repositoryName: NAME })).lastEvaluatedAt).toEqual(later);
    // 26 days on, dev-2 is over 30 days old and goes; release-2 is older still, but rule 1 keeps the newest release.
    const monthOn = new Date(START.getTime() + 26 * DAY);
    expect((await enforceLifecyclePolicies(w.h.registry, monthOn)).expired.map((e) => e.imageDigest)).toEqual([recent]);
    expect(await w.exists(release2)).toBe(true);
  });

  it('an index keeps the images it lists from an untagged rule; an index that expires goes first, then its images', async () => {
    await using w = await world();
    const amd = await w.push(20);
    const arm = await w.push(20);
    const stray = await w.push(20);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: [
        { mediaType: MEDIA_TYPE.ociManifest, digest: amd, size: w.sizeOf(amd), platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MEDIA_TYPE.ociManifest, digest: arm, size: w.sizeOf(arm), platform: { architecture: 'arm64', os: 'linux' } },
      ],
    });
    const indexDigest = await w.putManifest(index, MEDIA_TYPE.ociIndex, ['v1'], 20);

    await w.h.ecrCall('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: policyText(UNTAGGED_AFTER_7_DAYS) });
    expect(await enforceLifecyclePolicies(w.h.registry, START)).toEqual({ repositories: 1, expired: [{ repositoryName: NAME, imageDigest: stray, imageTags: [], appliedRulePriority: 1 }], failures: [] });
    for (const digest of [indexDigest, amd, arm]) expect(await w.exists(digest)).toBe(true);

    const everything = { rulePriority: 2, selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 }, action: expire };
    await w.h.ecrCall('PutLifecyclePolicy', { repositoryName: NAME, lifecyclePolicyText: policyText(UNTAGGED_AFTER_7_DAYS, everything) });
    const second = await enforceLifecyclePolicies(w.h.registry, START);
    // Had the images gone before their index, BatchDeleteImage would have refused them (ImageReferencedByManifestList).
    expect(second.failures).toEqual([]);
    expect(second.expired.map((e) => e.imageDigest).sort()).toEqual([indexDigest, amd, arm].sort());
    for (const digest of [indexDigest, amd, arm]) expect(await w.exists(digest)).toBe(false);
  });

  it('a policy left behind by a deleted repository is swept and never applies to a new repository of that name', async () => {
    await using w = await world();
    const image = await w.push(100);
    // As if a crash came between DeleteRepository's two writes: records of earlier repositories.
    const orphan = { text: policyText(UNTAGGED_AFTER_7_DAYS), repositoryCreatedAt: '2020-01-01T00:00:00.000Z', updatedAt: '2020-01-01T00:00:00.000Z' };
    await w.h.store.txn([], [
      { type: 'put', key: lifecycleKeys.policy(NAME), value: JSON.stringify(orphan) },
      { type: 'put', key: lifecycleKeys.policy('gone/repo'), value: JSON.stringify(orphan) },
    ]);
    expect(await w.fails('GetLifecyclePolicy', { repositoryName: NAME })).toEqual(notFound(NAME));
    expect(await enforceLifecyclePolicies(w.h.registry, START)).toEqual({ repositories: 0, expired: [], failures: [] });
    expect(await w.exists(image)).toBe(true);
    expect(await w.h.store.get(lifecycleKeys.policy(NAME))).toBeUndefined();
    expect(await w.h.store.get(lifecycleKeys.policy('gone/repo'))).toBeUndefined();
  });

  it('a stored policy that no longer parses is reported with its repository, and other repositories are still enforced', async () => {
    await using w = await world();
    const { createdAt } = (await w.h.registry.metadata.getRepository(NAME))!;
    await w.h.store.txn([], [{ type: 'put', key: lifecycleKeys.policy(NAME), value: JSON.stringify({ text: '{"rules": "from an older release"}', repositoryCreatedAt: createdAt, updatedAt: createdAt }) }]);
    await w.h.ecrCall('CreateRepository', { repositoryName: 'other' });
    const digest = await w.h.pushBlob('other', Buffer.from('{}'));
    const doc = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: 2 }, layers: [] });
    w.setClock(at(10));
    await w.h.request(`/v2/other/manifests/${digestText(doc)}`, { method: 'PUT', body: doc, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    w.setClock(START);
    await w.h.ecrCall('PutLifecyclePolicy', { repositoryName: 'other', lifecyclePolicyText: policyText(UNTAGGED_AFTER_7_DAYS) });

    const report = await enforceLifecyclePolicies(w.h.registry, START);
    expect(report).toEqual({
      repositories: 1,
      expired: [{ repositoryName: 'other', imageDigest: digestText(doc), imageTags: [], appliedRulePriority: 1 }],
      failures: [
        {
          repositoryName: NAME,
          failureCode: 'InvalidLifecyclePolicy',
          failureReason: `Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: rules: instance type (string) does not match any allowed primitive type (allowed: ["array"])'`,
        },
      ],
    });
  });
});
