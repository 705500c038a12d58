/** Platform selection from an index: aliases, variants, fallbacks and the no-match error. */
import { describe, expect, it } from 'vitest';
import type { Descriptor, ImageIndex, Platform } from './manifest.js';
import { hostPlatform, normalizePlatform, platformRank, selectManifest } from './platform.js';

const d = (n: number, platform?: Platform): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: 100,
  ...(platform ? { platform } : {}),
});
const index = (...m: Descriptor[]): ImageIndex => ({ kind: 'index', mediaType: 'application/vnd.oci.image.index.v1+json', manifests: m });

describe('normalizePlatform', () => {
  it('resolves aliases and default variants', () => {
    expect(normalizePlatform({ os: 'Linux', architecture: 'x86_64' })).toEqual({ os: 'linux', architecture: 'amd64', variant: 'v1' });
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64' })).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm', variant: '6' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
    expect(normalizePlatform({ os: 'linux', architecture: 's390x' })).toEqual({ os: 'linux', architecture: 's390x' });
  });

  it('describes this host as linux with an OCI architecture name', () => {
    const host = hostPlatform();
    expect(host.os).toBe('linux');
    expect(host.architecture).toBe(({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch);
  });
});

describe('platformRank', () => {
  it('is exact for equal platforms, higher for older compatible variants, undefined otherwise', () => {
    expect(platformRank({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(0);
    expect(platformRank({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(1);
    expect(platformRank({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBeUndefined();
    expect(platformRank({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(0);
    expect(platformRank({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64', variant: 'v3' })).toBeUndefined();
    expect(platformRank({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' })).toBeUndefined();
  });
});

describe('selectManifest', () => {
  const amd64 = d(1, { os: 'linux', architecture: 'amd64' });
  const arm64 = d(2, { os: 'linux', architecture: 'arm64', variant: 'v8' });
  const armv6 = d(3, { os: 'linux', architecture: 'arm', variant: 'v6' });
  const armv7 = d(4, { os: 'linux', architecture: 'arm', variant: 'v7' });
  const attestation = d(5, { os: 'unknown', architecture: 'unknown' });
  const bare = d(6);

  it('picks the exact platform, then the nearest older variant', () => {
    const idx = index(attestation, bare, amd64, armv6, armv7, arm64);
    expect(selectManifest(idx, { os: 'linux', architecture: 'amd64' })).toBe(amd64);
    expect(selectManifest(idx, { os: 'linux', architecture: 'arm64' })).toBe(arm64);
    expect(selectManifest(idx, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(armv7);
    expect(selectManifest(index(armv6, amd64), { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(armv6);
  });

  it('breaks ties by index order', () => {
    const again = d(7, { os: 'linux', architecture: 'amd64' });
    expect(selectManifest(index(amd64, again), { os: 'linux', architecture: 'amd64' })).toBe(amd64);
  });

  it('names the wanted and offered platforms when none fits', () => {
    expect(() => selectManifest(index(arm64, attestation, bare), { os: 'linux', architecture: 'amd64' })).toThrow(
      /no manifest for linux\/amd64\/v1 in the index \(it offers linux\/arm64\/v8, unknown\/unknown\)/,
    );
  });
});
