/**
 * The ECR API in-process, against a live registry so that what it does is checked through the OCI
 * API too: repositories, tokens, layer uploads, images, deletes, tags, presigned layer URLs, and
 * every refusal with its ECR error code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessKeyKey } from '../edge/credentials.js';
import { BerthError } from '../protocols/index.js';
import { ECR_TARGET_PREFIX } from './ecr.js';
import { MEDIA_TYPE } from './manifest.js';
import { ACCOUNT, basic, bytesOf, digestText, startRegistry } from './harness.suite.js';
import type { Harness } from './harness.suite.js';

let reg: Harness;
let now = new Date('2026-07-01T12:00:00Z');
beforeAll(async () => {
  reg = await startRegistry({ now: () => now });
});
afterAll(async () => {
  expect(reg.logs.filter((line) => line.level === 'error')).toEqual([]);
  await reg[Symbol.asyncDispose]();
});

let counter = 0;
const repoName = () => `ecr/r${++counter}`;

async function fails(operation: string, input: Record<string, unknown>): Promise<{ code: string; message: string; fields: Record<string, unknown> }> {
  try {
    await reg.ecrCall(operation, input);
  } catch (err) {
    if (err instanceof BerthError) return { code: err.code, message: err.message, fields: err.fields };
    throw err;
  }
  throw new Error(`${operation} succeeded`);
}

async function createRepository(name = repoName(), extra: Record<string, unknown> = {}) {
  await reg.ecrCall('CreateRepository', { repositoryName: name, ...extra });
  return name;
}

/** Uploads a layer through ECR's layer API, in parts of `part` bytes. */
async function uploadLayer(name: string, bytes: Buffer, part = 1000): Promise<string> {
  const { uploadId, partSize } = await reg.ecrCall('InitiateLayerUpload', { repositoryName: name });
  expect(partSize).toBeGreaterThan(0);
  for (let first = 0; first < bytes.length; first += part) {
    const chunk = bytes.subarray(first, first + part);
    const res = await reg.ecrCall('UploadLayerPart', { repositoryName: name, uploadId, partFirstByte: first, partLastByte: first + chunk.length - 1, layerPartBlob: chunk.toString('base64') });
    expect(res.lastByteReceived).toBe(first + chunk.length - 1);
  }
  const done = await reg.ecrCall('CompleteLayerUpload', { repositoryName: name, uploadId, layerDigests: [digestText(bytes)] });
  expect(done.layerDigest).toBe(digestText(bytes));
  return done.layerDigest as string;
}

async function imageManifest(name: string, seed: number) {
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', seed }));
  const layer = bytesOf(2500 + seed, seed);
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.dockerManifest,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: await uploadLayer(name, config), size: config.length },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: await uploadLayer(name, layer), size: layer.length }],
  };
  const text = JSON.stringify(doc);
  return { text, digest: digestText(text), layerSize: layer.length, layer: doc.layers[0]!.digest };
}

describe('the service', () => {
  it('is ECR: signing name ecr, its target prefix, and the operations', () => {
    expect(reg.ecr.signingName).toBe('ecr');
    expect(reg.ecr.targetPrefix).toBe(ECR_TARGET_PREFIX);
    expect(Object.keys(reg.ecr.operations).sort()).toEqual(
      [
        'BatchCheckLayerAvailability', 'BatchDeleteImage', 'BatchGetImage', 'CompleteLayerUpload', 'CreateRepository', 'DeleteRepository',
        'DescribeImages', 'DescribeRepositories', 'GetAuthorizationToken', 'GetDownloadUrlForLayer', 'InitiateLayerUpload', 'ListImages',
        'ListTagsForResource', 'PutImage', 'PutImageScanningConfiguration', 'PutImageTagMutability', 'TagResource', 'UntagResource', 'UploadLayerPart',
        'PutLifecyclePolicy', 'GetLifecyclePolicy', 'DeleteLifecyclePolicy', 'StartLifecyclePolicyPreview', 'GetLifecyclePolicyPreview',
      ].sort(),
    );
  });
});

describe('repositories', () => {
  it('CreateRepository answers the repository as ECR shapes it', async () => {
    const name = repoName();
    const { repository } = await reg.ecrCall('CreateRepository', { repositoryName: name, imageScanningConfiguration: { scanOnPush: true }, tags: [{ Key: 'team', Value: 'a' }] });
    expect(repository).toEqual({
      repositoryArn: `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/${name}`,
      registryId: ACCOUNT,
      repositoryName: name,
      repositoryUri: `127.0.0.1:${reg.port}/${name}`,
      createdAt: now,
      imageTagMutability: 'MUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'AES256' },
    });
    expect(await fails('CreateRepository', { repositoryName: name })).toMatchObject({ code: 'RepositoryAlreadyExistsException', message: expect.stringContaining(name) });
  });

  it('refuses bad input with the field and the rule, and changes nothing', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'InvalidParameterException'],
      [{ repositoryName: 'a' }, 'InvalidParameterException'],
      [{ repositoryName: 'Upper' }, 'InvalidParameterException'],
      [{ repositoryName: 'x'.repeat(257) }, 'InvalidParameterException'],
      [{ repositoryName: 42 }, 'SerializationException'],
      [{ repositoryName: 'ok-name', registryId: '111111111111' }, 'InvalidParameterException'],
      [{ repositoryName: 'ok-name', registryId: 'abc' }, 'InvalidParameterException'],
      [{ repositoryName: 'ok-name', imageTagMutability: 'SOMETIMES' }, 'InvalidParameterException'],
      [{ repositoryName: 'ok-name', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION' }, 'InvalidParameterException'],
      [{ repositoryName: 'ok-name', imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'x*' }] }, 'InvalidParameterException'],
      [{ repositoryName: 'ok-name', encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'k' } }, 'InvalidParameterException'],
      [{ repositoryName: 'ok-name', tags: [{ Key: 'aws:x', Value: 'y' }] }, 'InvalidTagParameterException'],
      [{ repositoryName: 'ok-name', tags: [{ Key: '', Value: 'y' }] }, 'InvalidTagParameterException'],
      [{ repositoryName: 'ok-name', tags: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })) }, 'TooManyTagsException'],
    ];
    for (const [input, code] of cases) expect((await fails('CreateRepository', input)).code, JSON.stringify(input).slice(0, 80)).toBe(code);
    expect(await reg.registry.metadata.getRepository('ok-name')).toBeUndefined();
  });

  it('DescribeRepositories by name and in pages; repositories created by a push are there too', async () => {
    await using own = await startRegistry();
    for (const name of ['b', 'a', 'c']) await own.ecrCall('CreateRepository', { repositoryName: `${name}-repo` });
    await own.pushBlob('d-pushed', Buffer.from('x'));
    const byName = await own.ecrCall('DescribeRepositories', { repositoryNames: ['c-repo', 'a-repo'] });
    expect(byName.repositories.map((r: { repositoryName: string }) => r.repositoryName)).toEqual(['c-repo', 'a-repo']);
    const missing = await own.ecrCall('DescribeRepositories', { repositoryNames: ['a-repo', 'nope'] }).catch((e: BerthError) => e);
    expect(missing).toMatchObject({ code: 'RepositoryNotFoundException', message: `The repository with name 'nope' does not exist in the registry with id '${ACCOUNT}'` });

    const names: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await own.ecrCall('DescribeRepositories', { maxResults: 2, ...(nextToken !== undefined && { nextToken }) });
      names.push(...page.repositories.map((r: { repositoryName: string }) => r.repositoryName));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken !== undefined);
    expect(names).toEqual(['a-repo', 'b-repo', 'c-repo', 'd-pushed']);
    expect(pages).toBe(2);
    await expect(own.ecrCall('DescribeRepositories', { nextToken: 'garbage' })).rejects.toMatchObject({ code: 'InvalidParameterException' });
    await expect(own.ecrCall('DescribeRepositories', { repositoryNames: ['a-repo'], maxResults: 1 })).rejects.toMatchObject({ code: 'InvalidParameterException' });
    await expect(own.ecrCall('DescribeRepositories', { maxResults: 0 })).rejects.toMatchObject({ code: 'InvalidParameterException' });
  });

  it('DeleteRepository refuses a non-empty repository unless forced; then the OCI API no longer knows it', async () => {
    const name = await createRepository();
    const image = await imageManifest(name, 1);
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text, imageTag: 'v1' });
    expect(await fails('DeleteRepository', { repositoryName: name })).toMatchObject({ code: 'RepositoryNotEmptyException' });
    const { repository } = await reg.ecrCall('DeleteRepository', { repositoryName: name, force: true });
    expect(repository.repositoryName).toBe(name);
    expect((await reg.request(`/v2/${name}/manifests/v1`)).status).toBe(404);
    expect(await fails('DeleteRepository', { repositoryName: name })).toMatchObject({ code: 'RepositoryNotFoundException' });
    const empty = await createRepository();
    expect((await reg.ecrCall('DeleteRepository', { repositoryName: empty })).repository.repositoryName).toBe(empty);
  });

  it('PutImageTagMutability and PutImageScanningConfiguration change the repository', async () => {
    const name = await createRepository();
    const res = await reg.ecrCall('PutImageTagMutability', { repositoryName: name, imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'dev-*' }] });
    expect(res).toEqual({ registryId: ACCOUNT, repositoryName: name, imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'dev-*' }] });
    await reg.ecrCall('PutImageScanningConfiguration', { repositoryName: name, imageScanningConfiguration: { scanOnPush: true } });
    const [described] = (await reg.ecrCall('DescribeRepositories', { repositoryNames: [name] })).repositories;
    expect(described).toMatchObject({ imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageScanningConfiguration: { scanOnPush: true } });
    // Back to MUTABLE drops the filters.
    await reg.ecrCall('PutImageTagMutability', { repositoryName: name, imageTagMutability: 'MUTABLE' });
    const [again] = (await reg.ecrCall('DescribeRepositories', { repositoryNames: [name] })).repositories;
    expect(again.imageTagMutabilityExclusionFilters).toBeUndefined();
    expect(await fails('PutImageTagMutability', { repositoryName: 'no-such', imageTagMutability: 'MUTABLE' })).toMatchObject({ code: 'RepositoryNotFoundException' });
    expect(await fails('PutImageTagMutability', { repositoryName: name })).toMatchObject({ code: 'InvalidParameterException' });
  });

  it('resource tags: TagResource, ListTagsForResource, UntagResource, with ECR refusals', async () => {
    const name = await createRepository(repoName(), { tags: [{ Key: 'a', Value: '1' }] });
    const resourceArn = `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/${name}`;
    await reg.ecrCall('TagResource', { resourceArn, tags: [{ Key: 'b', Value: '2' }, { Key: 'a', Value: '3' }] });
    expect((await reg.ecrCall('ListTagsForResource', { resourceArn })).tags).toEqual([{ Key: 'a', Value: '3' }, { Key: 'b', Value: '2' }]);
    await reg.ecrCall('UntagResource', { resourceArn, tagKeys: ['a'] });
    expect((await reg.ecrCall('ListTagsForResource', { resourceArn })).tags).toEqual([{ Key: 'b', Value: '2' }]);
    expect(await fails('TagResource', { resourceArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/x', tags: [] })).toMatchObject({ code: 'InvalidParameterException' });
    expect(await fails('ListTagsForResource', { resourceArn: `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/nope` })).toMatchObject({ code: 'RepositoryNotFoundException' });
    expect(await fails('TagResource', { resourceArn, tags: [{ Key: 'aws:reserved', Value: 'x' }] })).toMatchObject({ code: 'InvalidTagParameterException' });
    expect(await fails('TagResource', { resourceArn, tags: Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })) })).toMatchObject({ code: 'TooManyTagsException' });
    expect((await reg.ecrCall('ListTagsForResource', { resourceArn })).tags).toHaveLength(1);
  });
});

describe('GetAuthorizationToken', () => {
  it('returns base64 AWS:<token>, 12 hours ahead, and the registry endpoint; the token works on /v2/', async () => {
    const { authorizationData } = await reg.ecrCall('GetAuthorizationToken', {});
    expect(authorizationData).toHaveLength(1);
    const [data] = authorizationData;
    expect(data.expiresAt).toEqual(new Date(now.getTime() + 12 * 3600 * 1000));
    expect(data.proxyEndpoint).toBe(reg.base);
    const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
    expect(decoded).toMatch(/^AWS:brt_/);
    const res = await reg.request('/v2/', { headers: { authorization: `Basic ${data.authorizationToken}` } });
    expect(res.status).toBe(200);
    expect(await fails('GetAuthorizationToken', { registryIds: ['123456789012'] })).toMatchObject({ code: 'InvalidParameterException' });
    expect((await reg.ecrCall('GetAuthorizationToken', { registryIds: [ACCOUNT] })).authorizationData).toHaveLength(1);
  });
});

describe('layers', () => {
  it('InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload: the blob is in the repository for both APIs', async () => {
    const name = await createRepository();
    const bytes = bytesOf(4321, 3);
    const digest = await uploadLayer(name, bytes, 1000);
    const head = await reg.request(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('4321');
    const check = await reg.ecrCall('BatchCheckLayerAvailability', { repositoryName: name, layerDigests: [digest, digestText('absent'), 'nonsense'] });
    expect(check.layers).toEqual([{ layerDigest: digest, layerAvailability: 'AVAILABLE', layerSize: 4321, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }]);
    expect(check.failures).toEqual([
      { layerDigest: digestText('absent'), failureCode: 'MissingLayerDigest', failureReason: 'Could not find layer' },
      { layerDigest: 'nonsense', failureCode: 'InvalidLayerDigest', failureReason: 'Invalid layer digest' },
    ]);
  });

  it('a part out of place is InvalidLayerPartException with the last valid byte; the upload carries on', async () => {
    const name = await createRepository();
    const bytes = bytesOf(3000, 4);
    const { uploadId } = await reg.ecrCall('InitiateLayerUpload', { repositoryName: name });
    const part = (first: number, last: number) => ({ repositoryName: name, uploadId, partFirstByte: first, partLastByte: last, layerPartBlob: bytes.subarray(first, last + 1).toString('base64') });
    await reg.ecrCall('UploadLayerPart', part(0, 999));
    const gap = await fails('UploadLayerPart', part(1500, 1999));
    expect(gap).toMatchObject({ code: 'InvalidLayerPartException', fields: { registryId: ACCOUNT, repositoryName: name, uploadId, lastValidByteReceived: 999 } });
    const lying = await fails('UploadLayerPart', { ...part(1000, 1999), partLastByte: 2999 });
    expect(lying).toMatchObject({ code: 'InvalidLayerPartException', fields: { lastValidByteReceived: 999 } });
    await reg.ecrCall('UploadLayerPart', part(1000, 2999));
    expect((await reg.ecrCall('CompleteLayerUpload', { repositoryName: name, uploadId, layerDigests: [digestText(bytes)] })).layerDigest).toBe(digestText(bytes));
  });

  it('refusals: unknown upload, empty upload, wrong digest (nothing stored), a layer that already exists, bad input', async () => {
    const name = await createRepository();
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await fails('UploadLayerPart', { repositoryName: name, uploadId: unknown, partFirstByte: 0, partLastByte: 0, layerPartBlob: 'AA==' })).toMatchObject({ code: 'UploadNotFoundException' });
    expect(await fails('CompleteLayerUpload', { repositoryName: name, uploadId: unknown, layerDigests: [digestText('x')] })).toMatchObject({ code: 'UploadNotFoundException' });
    expect(await fails('UploadLayerPart', { repositoryName: name, uploadId: 'not-a-uuid', partFirstByte: 0, partLastByte: 0, layerPartBlob: 'AA==' })).toMatchObject({ code: 'InvalidParameterException' });

    const { uploadId: empty } = await reg.ecrCall('InitiateLayerUpload', { repositoryName: name });
    expect(await fails('CompleteLayerUpload', { repositoryName: name, uploadId: empty, layerDigests: [digestText('')] })).toMatchObject({ code: 'EmptyUploadException' });
    expect(await fails('UploadLayerPart', { repositoryName: name, uploadId: empty, partFirstByte: 0, partLastByte: 0, layerPartBlob: 'not base64!' })).toMatchObject({ code: 'InvalidParameterException' });

    const bytes = bytesOf(100, 5);
    const { uploadId } = await reg.ecrCall('InitiateLayerUpload', { repositoryName: name });
    await reg.ecrCall('UploadLayerPart', { repositoryName: name, uploadId, partFirstByte: 0, partLastByte: 99, layerPartBlob: bytes.toString('base64') });
    const wrong = digestText(bytesOf(100, 6));
    expect(await fails('CompleteLayerUpload', { repositoryName: name, uploadId, layerDigests: [wrong] })).toMatchObject({ code: 'InvalidLayerException' });
    expect(await reg.blobFiles()).not.toContain(wrong.slice(7));
    expect(await reg.blobFiles()).not.toContain(digestText(bytes).slice(7));
    expect(await fails('CompleteLayerUpload', { repositoryName: name, uploadId, layerDigests: [digestText(bytes)] })).toMatchObject({ code: 'UploadNotFoundException' });

    const existing = await uploadLayer(name, bytes);
    const { uploadId: again } = await reg.ecrCall('InitiateLayerUpload', { repositoryName: name });
    await reg.ecrCall('UploadLayerPart', { repositoryName: name, uploadId: again, partFirstByte: 0, partLastByte: 99, layerPartBlob: bytes.toString('base64') });
    expect(await fails('CompleteLayerUpload', { repositoryName: name, uploadId: again, layerDigests: [existing] })).toMatchObject({ code: 'LayerAlreadyExistsException' });
    expect(await fails('CompleteLayerUpload', { repositoryName: name, uploadId: again, layerDigests: [existing, wrong] })).toMatchObject({ code: 'InvalidParameterException' });
    expect(await fails('InitiateLayerUpload', { repositoryName: 'no-such-repo' })).toMatchObject({ code: 'RepositoryNotFoundException' });
    expect(await fails('BatchCheckLayerAvailability', { repositoryName: name, layerDigests: [] })).toMatchObject({ code: 'InvalidParameterException' });
  });

  it('GetDownloadUrlForLayer gives a URL that fetches the layer without credentials, and nothing else', async () => {
    const name = await createRepository();
    const bytes = bytesOf(777, 7);
    const digest = await uploadLayer(name, bytes);
    const { downloadUrl, layerDigest } = await reg.ecrCall('GetDownloadUrlForLayer', { repositoryName: name, layerDigest: digest });
    expect(layerDigest).toBe(digest);
    expect(downloadUrl.startsWith(`${reg.base}/v2/${name}/blobs/${digest}?`)).toBe(true);
    const got = await fetch(downloadUrl);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);

    const tampered = new URL(downloadUrl);
    tampered.searchParams.set('X-Berth-Signature', '0'.repeat(64));
    expect((await fetch(tampered)).status).toBe(401);
    // The signature covers the path: it opens no other blob or repository.
    const other = await uploadLayer(name, bytesOf(10, 8));
    expect((await fetch(downloadUrl.replace(digest, other))).status).toBe(401);
    // Presigned URLs serve GET and HEAD only.
    expect((await fetch(downloadUrl, { method: 'DELETE' })).status).toBe(401);
    expect(await fails('GetDownloadUrlForLayer', { repositoryName: name, layerDigest: digestText('absent') })).toMatchObject({ code: 'LayersNotFoundException' });

    const saved = now;
    now = new Date(now.getTime() + 3600 * 1000);
    expect((await fetch(downloadUrl)).status).toBe(401);
    now = saved;
    expect((await fetch(downloadUrl)).status).toBe(200);
  });

  it('a presigned URL dies with its access key', async () => {
    const clock = new Date('2026-07-01T00:00:00Z');
    await using own = await startRegistry({ now: () => clock });
    await own.ecrCall('CreateRepository', { repositoryName: 'solo' });
    const digest = await own.pushBlob('solo', Buffer.from('layer'));
    const { downloadUrl } = await own.ecrCall('GetDownloadUrlForLayer', { repositoryName: 'solo', layerDigest: digest });
    expect((await fetch(downloadUrl)).status).toBe(200);
    await own.store.txn([], [{ type: 'put', key: accessKeyKey(own.key.accessKeyId), value: JSON.stringify({ ...own.key, status: 'Inactive' }) }]);
    expect((await fetch(downloadUrl)).status).toBe(401);
  });
});

describe('images', () => {
  it('PutImage stores a manifest the OCI API serves, and refuses what the push path refuses, in ECR words', async () => {
    const name = await createRepository();
    const image = await imageManifest(name, 11);
    const { image: put } = await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text, imageTag: 'v1', imageManifestMediaType: MEDIA_TYPE.dockerManifest });
    expect(put).toEqual({ registryId: ACCOUNT, repositoryName: name, imageId: { imageDigest: image.digest, imageTag: 'v1' }, imageManifest: image.text, imageManifestMediaType: MEDIA_TYPE.dockerManifest });
    const pulled = await reg.request(`/v2/${name}/manifests/v1`);
    expect(pulled.headers.get('docker-content-digest')).toBe(image.digest);
    expect(await pulled.text()).toBe(image.text);

    expect(await fails('PutImage', { repositoryName: name, imageManifest: image.text, imageTag: 'v1' })).toMatchObject({ code: 'ImageAlreadyExistsException' });
    expect(await fails('PutImage', { repositoryName: name, imageManifest: image.text })).toMatchObject({ code: 'ImageAlreadyExistsException' });
    expect((await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text, imageTag: 'v1-again' })).image.imageId.imageTag).toBe('v1-again');
    expect(await fails('PutImage', { repositoryName: name, imageManifest: image.text, imageDigest: digestText('other') })).toMatchObject({ code: 'ImageDigestDoesNotMatchException' });
    expect((await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text, imageDigest: image.digest, imageTag: 'by-digest' })).image.imageId.imageDigest).toBe(image.digest);

    const missing = JSON.parse(image.text) as { layers: { digest: string }[] };
    missing.layers[0]!.digest = digestText('not uploaded');
    expect(await fails('PutImage', { repositoryName: name, imageManifest: JSON.stringify(missing), imageTag: 'broken' })).toMatchObject({
      code: 'LayersNotFoundException',
      message: expect.stringContaining(digestText('not uploaded')),
    });
    const list = { schemaVersion: 2, mediaType: MEDIA_TYPE.dockerManifestList, manifests: [{ mediaType: MEDIA_TYPE.dockerManifest, digest: digestText('no image'), size: 3 }] };
    expect(await fails('PutImage', { repositoryName: name, imageManifest: JSON.stringify(list) })).toMatchObject({ code: 'ReferencedImagesNotFoundException' });
    expect(await fails('PutImage', { repositoryName: name, imageManifest: '{not json' })).toMatchObject({ code: 'InvalidParameterException' });
    expect(await fails('PutImage', { repositoryName: name, imageManifest: image.text, imageTag: '-bad' })).toMatchObject({ code: 'InvalidParameterException' });
    expect(await fails('PutImage', { repositoryName: 'no-such-repo', imageManifest: image.text })).toMatchObject({ code: 'RepositoryNotFoundException' });
    expect(await fails('PutImage', { repositoryName: name })).toMatchObject({ code: 'InvalidParameterException' });
  });

  it('immutable tags: PutImage refuses with ImageTagAlreadyExistsException, the OCI API with TAG_INVALID', async () => {
    const name = await createRepository(repoName(), { imageTagMutability: 'IMMUTABLE' });
    const first = await imageManifest(name, 21);
    const second = await imageManifest(name, 22);
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: first.text, imageTag: 'stable' });
    expect(await fails('PutImage', { repositoryName: name, imageManifest: second.text, imageTag: 'stable' })).toEqual({
      code: 'ImageTagAlreadyExistsException',
      message: `The image tag 'stable' already exists in the '${name}' repository and cannot be overwritten because the repository is immutable.`,
      fields: {},
    });
    const oci = await reg.request(`/v2/${name}/manifests/stable`, { method: 'PUT', body: second.text, headers: { 'content-type': MEDIA_TYPE.dockerManifest } });
    expect(oci.status).toBe(400);
    expect(((await oci.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('TAG_INVALID');
    expect((await reg.request(`/v2/${name}/manifests/stable`)).headers.get('docker-content-digest')).toBe(first.digest);
  });

  it('ListImages: one entry per tag and per untagged image, filtered by tagStatus, in pages', async () => {
    const name = await createRepository();
    const a = await imageManifest(name, 31);
    const b = await imageManifest(name, 32);
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: a.text, imageTag: 'a1' });
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: a.text, imageTag: 'a2' });
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: b.text });
    const sort = (ids: { imageDigest: string; imageTag?: string }[]) => [...ids].sort((x, y) => `${x.imageDigest}${x.imageTag}`.localeCompare(`${y.imageDigest}${y.imageTag}`));
    const all = await reg.ecrCall('ListImages', { repositoryName: name });
    expect(sort(all.imageIds)).toEqual(sort([{ imageDigest: a.digest, imageTag: 'a1' }, { imageDigest: a.digest, imageTag: 'a2' }, { imageDigest: b.digest }]));
    expect(all.nextToken).toBeUndefined();
    expect((await reg.ecrCall('ListImages', { repositoryName: name, filter: { tagStatus: 'UNTAGGED' } })).imageIds).toEqual([{ imageDigest: b.digest }]);
    expect((await reg.ecrCall('ListImages', { repositoryName: name, filter: { tagStatus: 'TAGGED' } })).imageIds).toHaveLength(2);

    const paged: unknown[] = [];
    let nextToken: string | undefined;
    do {
      const page = await reg.ecrCall('ListImages', { repositoryName: name, maxResults: 2, ...(nextToken !== undefined && { nextToken }) });
      paged.push(...page.imageIds);
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    expect(paged).toEqual(all.imageIds);
    expect(await fails('ListImages', { repositoryName: name, filter: { tagStatus: 'SOME' } })).toMatchObject({ code: 'InvalidParameterException' });
    expect(await fails('ListImages', { repositoryName: 'no-such-repo' })).toMatchObject({ code: 'RepositoryNotFoundException' });
  });

  it('DescribeImages: digests, sorted tags, sizes, push times and media types; unknown images are ImageNotFoundException', async () => {
    const name = await createRepository();
    const image = await imageManifest(name, 41);
    const pushedAt = now;
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text, imageTag: 'zeta' });
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text, imageTag: 'alpha' });
    const { imageDetails } = await reg.ecrCall('DescribeImages', { repositoryName: name });
    expect(imageDetails).toEqual([
      {
        registryId: ACCOUNT,
        repositoryName: name,
        imageDigest: image.digest,
        imageTags: ['alpha', 'zeta'],
        imageSizeInBytes: image.layerSize,
        imagePushedAt: pushedAt,
        imageManifestMediaType: MEDIA_TYPE.dockerManifest,
        artifactMediaType: 'application/vnd.docker.container.image.v1+json',
      },
    ]);
    const byTag = await reg.ecrCall('DescribeImages', { repositoryName: name, imageIds: [{ imageTag: 'zeta' }, { imageDigest: image.digest }] });
    expect(byTag.imageDetails).toHaveLength(1);
    expect(await fails('DescribeImages', { repositoryName: name, imageIds: [{ imageTag: 'nope' }] })).toEqual({
      code: 'ImageNotFoundException',
      message: `The image with imageId {imageDigest:'null', imageTag:'nope'} does not exist within the repository with name '${name}' in the registry with id '${ACCOUNT}'`,
      fields: {},
    });
    expect(await fails('DescribeImages', { repositoryName: name, imageIds: [{}] })).toMatchObject({ code: 'InvalidParameterException' });
    expect(await fails('DescribeImages', { repositoryName: name, imageIds: [{ imageTag: 'zeta' }], maxResults: 1 })).toMatchObject({ code: 'InvalidParameterException' });
    expect((await reg.ecrCall('DescribeImages', { repositoryName: name, filter: { tagStatus: 'UNTAGGED' } })).imageDetails).toEqual([]);
  });

  it('DescribeImages pages by digest; an index reports its largest image', async () => {
    const name = await createRepository();
    const images = [await imageManifest(name, 51), await imageManifest(name, 52), await imageManifest(name, 53)];
    for (const image of images) await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text });
    const list = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.dockerManifestList,
      manifests: images.map((i) => ({ mediaType: MEDIA_TYPE.dockerManifest, digest: i.digest, size: i.text.length, platform: { os: 'linux', architecture: 'amd64' } })),
    };
    const { image: index } = await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: JSON.stringify(list), imageTag: 'multi' });
    const seen: { imageDigest: string; imageSizeInBytes: number }[] = [];
    let nextToken: string | undefined;
    do {
      const page = await reg.ecrCall('DescribeImages', { repositoryName: name, maxResults: 3, ...(nextToken !== undefined && { nextToken }) });
      seen.push(...page.imageDetails);
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    expect(seen).toHaveLength(4);
    expect(seen.find((d) => d.imageDigest === index.imageId.imageDigest)!.imageSizeInBytes).toBe(Math.max(...images.map((i) => i.layerSize)));
  });

  it('BatchGetImage returns manifests and per-image failures', async () => {
    const name = await createRepository();
    const image = await imageManifest(name, 61);
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text, imageTag: 'v1' });
    const res = await reg.ecrCall('BatchGetImage', {
      repositoryName: name,
      imageIds: [{ imageTag: 'v1' }, { imageDigest: image.digest }, { imageTag: 'nope' }, { imageDigest: 'sha256:xyz' }, {}, { imageTag: 'v1', imageDigest: digestText('other') }],
    });
    expect(res.images).toEqual([
      { registryId: ACCOUNT, repositoryName: name, imageId: { imageDigest: image.digest, imageTag: 'v1' }, imageManifest: image.text, imageManifestMediaType: MEDIA_TYPE.dockerManifest },
      { registryId: ACCOUNT, repositoryName: name, imageId: { imageDigest: image.digest }, imageManifest: image.text, imageManifestMediaType: MEDIA_TYPE.dockerManifest },
    ]);
    expect(res.failures.map((f: { failureCode: string }) => f.failureCode)).toEqual(['ImageNotFound', 'InvalidImageDigest', 'MissingDigestAndTag', 'ImageTagDoesNotMatchDigest']);
    const onlyOci = await reg.ecrCall('BatchGetImage', { repositoryName: name, imageIds: [{ imageTag: 'v1' }], acceptedMediaTypes: [MEDIA_TYPE.ociManifest] });
    expect(onlyOci.images).toEqual([]);
    expect(onlyOci.failures).toHaveLength(1);
    expect(await fails('BatchGetImage', { repositoryName: name, imageIds: [] })).toMatchObject({ code: 'InvalidParameterException' });
  });

  it('BatchDeleteImage: by tag removes the tag (and the image with its last tag); by digest removes it all', async () => {
    const name = await createRepository();
    const a = await imageManifest(name, 71);
    const b = await imageManifest(name, 72);
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: a.text, imageTag: 'a1' });
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: a.text, imageTag: 'a2' });
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: b.text, imageTag: 'b1' });
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: b.text, imageTag: 'b2' });

    const one = await reg.ecrCall('BatchDeleteImage', { repositoryName: name, imageIds: [{ imageTag: 'a1' }] });
    expect(one).toEqual({ imageIds: [{ imageDigest: a.digest, imageTag: 'a1' }], failures: [] });
    expect((await reg.request(`/v2/${name}/manifests/${a.digest}`, { method: 'HEAD' })).status).toBe(200);
    await reg.ecrCall('BatchDeleteImage', { repositoryName: name, imageIds: [{ imageTag: 'a2' }] });
    expect((await reg.request(`/v2/${name}/manifests/${a.digest}`, { method: 'HEAD' })).status).toBe(404);

    const byDigest = await reg.ecrCall('BatchDeleteImage', { repositoryName: name, imageIds: [{ imageDigest: b.digest }, { imageTag: 'gone' }] });
    expect(byDigest.imageIds).toEqual([{ imageDigest: b.digest, imageTag: 'b1' }, { imageDigest: b.digest, imageTag: 'b2' }]);
    expect(byDigest.failures).toEqual([{ imageId: { imageTag: 'gone' }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }]);
    expect((await reg.ecrCall('ListImages', { repositoryName: name })).imageIds).toEqual([]);
  });

  it('BatchDeleteImage will not delete an image a manifest list still lists', async () => {
    const name = await createRepository();
    const image = await imageManifest(name, 81);
    await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: image.text });
    const list = { schemaVersion: 2, mediaType: MEDIA_TYPE.dockerManifestList, manifests: [{ mediaType: MEDIA_TYPE.dockerManifest, digest: image.digest, size: image.text.length }] };
    const { image: index } = await reg.ecrCall('PutImage', { repositoryName: name, imageManifest: JSON.stringify(list), imageTag: 'multi' });
    const refused = await reg.ecrCall('BatchDeleteImage', { repositoryName: name, imageIds: [{ imageDigest: image.digest }] });
    expect(refused.imageIds).toEqual([]);
    expect(refused.failures).toEqual([{ imageId: { imageDigest: image.digest }, failureCode: 'ImageReferencedByManifestList', failureReason: `Requested image referenced by manifest list: [${index.imageId.imageDigest}]` }]);
    await reg.ecrCall('BatchDeleteImage', { repositoryName: name, imageIds: [{ imageTag: 'multi' }] });
    expect((await reg.ecrCall('BatchDeleteImage', { repositoryName: name, imageIds: [{ imageDigest: image.digest }] })).failures).toEqual([]);
  });

  it('an image pushed with the OCI API is an ECR image (and a token from GetAuthorizationToken pushes it)', async () => {
    const name = await createRepository();
    const [data] = (await reg.ecrCall('GetAuthorizationToken', {})).authorizationData;
    const password = Buffer.from(data.authorizationToken, 'base64').toString().slice('AWS:'.length);
    const layer = bytesOf(64, 91);
    const res = await reg.request(`/v2/${name}/blobs/uploads/?digest=${digestText(layer)}`, { method: 'POST', body: layer, headers: { authorization: basic(password) } });
    expect(res.status).toBe(201);
    const config = await reg.pushBlob(name, Buffer.from('{}'));
    const doc = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestText(layer), size: 64 }] };
    await reg.request(`/v2/${name}/manifests/oci`, { method: 'PUT', body: JSON.stringify(doc), headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    const { imageDetails } = await reg.ecrCall('DescribeImages', { repositoryName: name });
    expect(imageDetails).toMatchObject([{ imageTags: ['oci'], imageSizeInBytes: 64, imageManifestMediaType: MEDIA_TYPE.ociManifest }]);
  });
});

describe('rights', () => {
  it('the ECR API asks the same authorizer as the OCI API: AccessDeniedException, and nothing changes', async () => {
    await using guarded = await startRegistry({ authorize: ({ action, repository }) => !(repository === 'locked' && action !== 'pull') && repository !== 'hidden' });
    for (const name of ['locked', 'hidden']) await guarded.ecrCall('CreateRepository', { repositoryName: name });
    const denied = async (operation: string, input: Record<string, unknown>) => {
      const err = await guarded.ecrCall(operation, input).then(() => undefined, (e: unknown) => e);
      expect(err, operation).toMatchObject({ code: 'AccessDeniedException' });
    };
    await denied('InitiateLayerUpload', { repositoryName: 'locked' });
    await denied('PutImage', { repositoryName: 'locked', imageManifest: '{}' });
    await denied('BatchDeleteImage', { repositoryName: 'locked', imageIds: [{ imageTag: 'x' }] });
    await denied('DeleteRepository', { repositoryName: 'locked', force: true });
    await denied('ListImages', { repositoryName: 'hidden' });
    await denied('DescribeImages', { repositoryName: 'hidden' });
    await denied('BatchGetImage', { repositoryName: 'hidden', imageIds: [{ imageTag: 'x' }] });
    await denied('BatchCheckLayerAvailability', { repositoryName: 'hidden', layerDigests: [digestText('x')] });
    await denied('GetDownloadUrlForLayer', { repositoryName: 'hidden', layerDigest: digestText('x') });
    // Pulling from 'locked' is allowed.
    expect((await guarded.ecrCall('ListImages', { repositoryName: 'locked' })).imageIds).toEqual([]);
    expect(await guarded.registry.metadata.countUploads()).toBe(0);
    expect(await guarded.registry.metadata.getRepository('locked')).toBeDefined();
  });
});
