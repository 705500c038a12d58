/** Manifest, index and config parsing: the media type rules and every schema refusal. */
import { describe, expect, it } from 'vitest';
import { MediaType, parseImageConfig, parseManifest } from './manifest.js';

const dg = (c: string): string => `sha256:${c.repeat(64)}`;
const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const manifest = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, digest: dg('a'), size: 10 },
  layers: [{ mediaType: MediaType.ociLayerGzip, digest: dg('b'), size: 20 }],
};

describe('parseManifest', () => {
  it('reads an OCI manifest and a Docker manifest list', () => {
    const m = parseManifest(enc(manifest), `${MediaType.ociManifest}; charset=utf-8`);
    expect(m).toMatchObject({ kind: 'manifest', mediaType: MediaType.ociManifest, layers: [{ size: 20 }] });
    const list = parseManifest(
      enc({ schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [{ mediaType: MediaType.dockerManifest, digest: dg('c'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }] }),
      MediaType.dockerManifestList,
    );
    expect(list).toMatchObject({ kind: 'index', manifests: [{ platform: { os: 'linux', architecture: 'amd64' } }] });
  });

  it('infers the kind from the header, then from the shape, when the body names none', () => {
    const { mediaType: _m, ...bare } = manifest;
    expect(parseManifest(enc(bare), MediaType.dockerManifest).mediaType).toBe(MediaType.dockerManifest);
    expect(parseManifest(enc(bare), 'application/json').mediaType).toBe(MediaType.ociManifest);
    expect(parseManifest(enc({ schemaVersion: 2, manifests: [] })).kind).toBe('index');
  });

  it('refuses schema 1, conflicting types, artifacts and unknown layer types', () => {
    expect(() => parseManifest(enc({ schemaVersion: 1, name: 'x' }), MediaType.dockerSchema1Signed)).toThrow(/schema 1/);
    expect(() => parseManifest(enc(manifest), MediaType.dockerManifestList)).toThrow(/body says .* served it as/);
    expect(() => parseManifest(enc({ ...manifest, config: { ...manifest.config, mediaType: 'application/vnd.cncf.helm.config.v1+json' } }))).toThrow(
      /artifact/,
    );
    expect(() => parseManifest(enc({ ...manifest, layers: [{ mediaType: 'application/x-foo', digest: dg('b'), size: 1 }] }))).toThrow(
      /layer media type application\/x-foo/,
    );
  });

  it('refuses broken descriptors and documents', () => {
    expect(() => parseManifest(Buffer.from('{'))).toThrow(/not valid JSON/);
    expect(() => parseManifest(enc([]))).toThrow(/JSON object/);
    expect(() => parseManifest(enc({ ...manifest, schemaVersion: 3 }))).toThrow(/schemaVersion must be 2/);
    expect(() => parseManifest(enc({ ...manifest, layers: [{ ...manifest.layers[0], size: -1 }] }))).toThrow(/layers\[0\]: size/);
    expect(() => parseManifest(enc({ ...manifest, layers: [{ ...manifest.layers[0], digest: 'sha256:zz' }] }))).toThrow(/layers\[0\] digest/);
    expect(() => parseManifest(enc({ ...manifest, layers: 'x' }))).toThrow(/layers array/);
    expect(() => parseManifest(enc({ schemaVersion: 2, mediaType: MediaType.ociIndex }))).toThrow(/manifests array/);
  });
});

describe('parseImageConfig', () => {
  it('reads os, architecture, config and diff_ids', () => {
    const c = parseImageConfig(enc({ os: 'linux', architecture: 'amd64', config: { Env: ['A=1'] }, rootfs: { type: 'layers', diff_ids: [dg('d')] } }));
    expect(c.rootfs.diff_ids).toEqual([dg('d')]);
    expect(c.config?.Env).toEqual(['A=1']);
  });

  it('refuses a config without rootfs layers or with bad diff_ids', () => {
    expect(() => parseImageConfig(enc({ os: 'linux', architecture: 'amd64' }))).toThrow(/rootfs must be/);
    expect(() => parseImageConfig(enc({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: ['x'] } }))).toThrow(/diff_ids\[0\]/);
    expect(() => parseImageConfig(enc({ architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] } }))).toThrow(/os and architecture/);
  });
});
