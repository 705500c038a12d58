/**
 * The registry's pure rules, case by case: repository names, tags, digests, manifest bodies per
 * media type, and Range headers.
 */
import { describe, expect, it } from 'vitest';
import { digestOf, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';
import { parseRangeHeader } from './distribution.js';
import { MEDIA_TYPE, manifestTypeOf, parseManifest, referrerArtifactType } from './manifest.js';
import { isTagImmutable } from './metadata.js';
import { MAX_REPOSITORY_NAME_LENGTH, checkRepositoryName, checkTag, isRepositoryName, isTag } from './names.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;
const desc = (digest = D1, size = 10, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') => ({ mediaType, digest, size });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof RegistryError) return err.code;
    throw err;
  }
  return undefined;
}

describe('repository names and tags', () => {
  it.each(['a', 'library/busybox', 'a.b_c-d/e__f', 'a---b', '0/1/2', `${'a'.repeat(MAX_REPOSITORY_NAME_LENGTH)}`])('accepts %s', (name) => {
    expect(isRepositoryName(name)).toBe(true);
    expect(codeOf(() => checkRepositoryName(name))).toBeUndefined();
  });

  it.each(['', 'A', 'a/', '/a', 'a//b', 'a..b', 'a___b', '.a', 'a.', 'a:b', 'a@b', 'a b', `${'a'.repeat(MAX_REPOSITORY_NAME_LENGTH + 1)}`])('refuses %j with NAME_INVALID', (name) => {
    expect(isRepositoryName(name)).toBe(false);
    expect(codeOf(() => checkRepositoryName(name))).toBe('NAME_INVALID');
  });

  it('tags: up to 128 of [A-Za-z0-9_.-], not starting with . or -', () => {
    for (const tag of ['latest', 'v1.2.3', '_x', 'A-b_c.d', 'x'.repeat(128)]) expect(isTag(tag)).toBe(true);
    for (const tag of ['', '.x', '-x', 'a:b', 'a/b', 'x'.repeat(129)]) {
      expect(isTag(tag)).toBe(false);
      expect(codeOf(() => checkTag(tag))).toBe('TAG_INVALID');
    }
  });
});

describe('digests', () => {
  it('parses sha256 and sha512', () => {
    expect(parseDigest(D1)).toEqual({ algorithm: 'sha256', hex: 'a'.repeat(64), text: D1 });
    expect(parseDigest(`sha512:${'0'.repeat(128)}`).algorithm).toBe('sha512');
    expect(digestOf(Buffer.from('')).text).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it.each(['', 'sha256', 'sha256:', `sha256:${'a'.repeat(63)}`, `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(64)}`, `md5:${'a'.repeat(32)}`, `SHA256:${'a'.repeat(64)}`, `sha256:${'g'.repeat(64)}`])(
    'refuses %j with DIGEST_INVALID',
    (text) => {
      expect(codeOf(() => parseDigest(text))).toBe('DIGEST_INVALID');
    },
  );

  it('never echoes more than a bounded part of the input', () => {
    try {
      parseDigest(`sha256:${'z'.repeat(10_000)}`);
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(400);
    }
  });
});

describe('manifests', () => {
  const image = (over: Record<string, unknown> = {}) => ({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: desc(D1, 2, 'application/vnd.oci.image.config.v1+json'), layers: [desc(D2)], ...over });
  const parse = (doc: unknown, type: string | undefined = MEDIA_TYPE.ociManifest) => parseManifest(Buffer.from(JSON.stringify(doc)), type);

  it('an OCI image manifest yields its config, layers and the blobs it needs', () => {
    const parsed = parse(image({ annotations: { a: 'b' } }));
    expect(parsed.mediaType).toBe(MEDIA_TYPE.ociManifest);
    expect(parsed.config?.digest).toBe(D1);
    expect(parsed.blobs.map((b) => b.digest)).toEqual([D1, D2]);
    expect(parsed.manifests).toEqual([]);
    expect(parsed.annotations).toEqual({ a: 'b' });
  });

  it('the media type comes from Content-Type, else the body, else the shape', () => {
    expect(parse(image(), 'application/vnd.oci.image.manifest.v1+json; charset=utf-8').mediaType).toBe(MEDIA_TYPE.ociManifest);
    expect(parse(image(), undefined).mediaType).toBe(MEDIA_TYPE.ociManifest);
    expect(parse({ schemaVersion: 2, manifests: [] }, 'application/json').mediaType).toBe(MEDIA_TYPE.ociIndex);
    expect(parse({ schemaVersion: 2, config: desc(), layers: [] }, undefined).mediaType).toBe(MEDIA_TYPE.ociManifest);
    expect(manifestTypeOf('application/octet-stream')).toBeUndefined();
  });

  it('indexes and manifest lists yield their children; Docker manifests need a layer and their mediaType', () => {
    const index = parse({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [desc(D1, 5, MEDIA_TYPE.ociManifest)] }, MEDIA_TYPE.ociIndex);
    expect(index.manifests.map((m) => m.digest)).toEqual([D1]);
    expect(index.blobs).toEqual([]);
    const list = parse({ schemaVersion: 2, mediaType: MEDIA_TYPE.dockerManifestList, manifests: [] }, MEDIA_TYPE.dockerManifestList);
    expect(list.mediaType).toBe(MEDIA_TYPE.dockerManifestList);
    expect(codeOf(() => parse(image({ mediaType: MEDIA_TYPE.dockerManifest, layers: [] }), MEDIA_TYPE.dockerManifest))).toBe('MANIFEST_INVALID');
    expect(codeOf(() => parse(image({ mediaType: undefined }), MEDIA_TYPE.dockerManifest))).toBe('MANIFEST_INVALID');
    expect(parse(image({ mediaType: MEDIA_TYPE.dockerManifest }), MEDIA_TYPE.dockerManifest).blobs).toHaveLength(2);
  });

  it('foreign layers with urls are not required in the repository', () => {
    const foreign = { ...desc(D2, 5, 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'), urls: ['https://example.com/layer'] };
    const parsed = parse(image({ mediaType: MEDIA_TYPE.dockerManifest, layers: [foreign] }), MEDIA_TYPE.dockerManifest);
    expect(parsed.layers).toHaveLength(1);
    expect(parsed.blobs.map((b) => b.digest)).toEqual([D1]);
  });

  it('subject and artifactType; the referrers artifactType falls back to the config media type', () => {
    const parsed = parse(image({ subject: desc(D2, 3, MEDIA_TYPE.ociManifest), artifactType: 'application/vnd.example+json' }));
    expect(parsed.subject?.digest).toBe(D2);
    expect(referrerArtifactType(parsed)).toBe('application/vnd.example+json');
    expect(referrerArtifactType(parse(image()))).toBe('application/vnd.oci.image.config.v1+json');
  });

  it.each([
    ['not JSON', 'nope'],
    ['an array', [1]],
    ['schemaVersion 1', image({ schemaVersion: 1 })],
    ['no config', image({ config: undefined })],
    ['layers not an array', image({ layers: {} })],
    ['a descriptor without digest', image({ layers: [{ mediaType: 'a/b', size: 1 }] })],
    ['a bad digest', image({ layers: [desc('sha256:abc')] })],
    ['a negative size', image({ layers: [desc(D2, -1)] })],
    ['a fractional size', image({ layers: [desc(D2, 1.5)] })],
    ['a bad media type', image({ layers: [desc(D2, 1, 'nonsense')] })],
    ['non-string annotations', image({ annotations: { a: 1 } })],
    ['urls not strings', image({ layers: [{ ...desc(D2), urls: [1] }] })],
    ['a bad subject', image({ subject: 'sha256:x' })],
    ['a bad artifactType', image({ artifactType: 'not a type' })],
    ['an image with manifests', image({ manifests: [] })],
    ['a mediaType that disagrees with Content-Type', image({ mediaType: MEDIA_TYPE.ociIndex })],
  ])('refuses %s with MANIFEST_INVALID', (_what, doc) => {
    const body = typeof doc === 'string' ? Buffer.from(doc) : Buffer.from(JSON.stringify(doc));
    expect(codeOf(() => parseManifest(body, MEDIA_TYPE.ociManifest))).toBe('MANIFEST_INVALID');
  });

  it('refuses an index with config, and unknown media types', () => {
    expect(codeOf(() => parse({ schemaVersion: 2, manifests: [], config: desc() }, MEDIA_TYPE.ociIndex))).toBe('MANIFEST_INVALID');
    expect(codeOf(() => parse(image({ mediaType: undefined }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'))).toBe('MANIFEST_INVALID');
  });
});

describe('Range headers on blob GETs', () => {
  it.each([
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-1000', 100, { start: 0, end: 99 }],
    ['bytes=50-1000', 100, { start: 50, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=9-0', 100, undefined],
    ['bytes=0-1,5-6', 100, undefined],
    ['items=0-1', 100, undefined],
    ['bytes=-', 100, undefined],
  ] as const)('%s of %i bytes', (header, size, expected) => {
    expect(parseRangeHeader(header, size)).toEqual(expected);
  });
});

describe('tag mutability, with ECR exclusion filters', () => {
  const filters = [{ filterType: 'WILDCARD' as const, filter: 'dev-*' }, { filterType: 'WILDCARD' as const, filter: 'latest' }];
  it.each([
    ['MUTABLE', 'v1', false],
    ['IMMUTABLE', 'v1', true],
    ['IMMUTABLE_WITH_EXCLUSION', 'v1', true],
    ['IMMUTABLE_WITH_EXCLUSION', 'dev-42', false],
    ['IMMUTABLE_WITH_EXCLUSION', 'latest', false],
    ['IMMUTABLE_WITH_EXCLUSION', 'latest2', true],
    ['MUTABLE_WITH_EXCLUSION', 'dev-1', true],
    ['MUTABLE_WITH_EXCLUSION', 'v1', false],
    ['MUTABLE_WITH_EXCLUSION', 'xdev-1', false],
  ] as const)('%s: %s immutable = %s', (imageTagMutability, tag, expected) => {
    expect(isTagImmutable({ imageTagMutability, imageTagMutabilityExclusionFilters: filters }, tag)).toBe(expected);
  });
  it('treats filter text other than * literally', () => {
    expect(isTagImmutable({ imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'v1.*' }] }, 'v1x2')).toBe(false);
    expect(isTagImmutable({ imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'v1.*' }] }, 'v1.2')).toBe(true);
  });
});
