/**
 * Platform matching: which manifest of a multi-platform index this host can run. Pure; follows
 * containerd's rules (arch aliases, variant defaults, an older variant runs on a newer CPU).
 */
import { ImageError } from './errors.js';
import type { Descriptor, ImageIndex, Platform } from './manifest.js';

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  x64: { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
  i386: { architecture: '386' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
};

// Variants from newest to oldest; a CPU of one runs images built for any later entry.
const VARIANT_LADDERS: Record<string, readonly string[]> = {
  arm: ['v8', 'v7', 'v6', 'v5'],
  arm64: ['v9', 'v8.9', 'v8.8', 'v8.7', 'v8.6', 'v8.5', 'v8.4', 'v8.3', 'v8.2', 'v8.1', 'v8'],
  amd64: ['v4', 'v3', 'v2', 'v1'],
};

// The variant an image means when it names none.
const DEFAULT_VARIANT: Record<string, string> = { arm: 'v7', arm64: 'v8', amd64: 'v1' };

/**
 * Canonical os/architecture/variant: aliases resolved, lower case, default variants filled in.
 *
 * @example normalizePlatform({ os: 'Linux', architecture: 'aarch64' }) // { os: 'linux', architecture: 'arm64', variant: 'v8' }
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  const alias = ARCH_ALIASES[architecture];
  if (alias) {
    architecture = alias.architecture;
    variant ??= alias.variant;
  }
  if (architecture === 'arm64' && variant === '8') variant = 'v8';
  if (architecture === 'arm' && variant !== undefined && /^[5-8]$/.test(variant)) variant = `v${variant}`;
  variant ??= DEFAULT_VARIANT[architecture];
  const out: Platform = { os, architecture };
  if (variant !== undefined) out.variant = variant;
  return out;
}

/**
 * The platform of this process: always linux (Berth runs Linux containers), Node's arch mapped to
 * OCI's names, the ARM variant from how Node was built.
 */
export function hostPlatform(): Platform {
  const armVersion = (process.config.variables as unknown as Record<string, unknown>).arm_version;
  const p: Platform = { os: 'linux', architecture: process.arch };
  if (process.arch === 'arm' && (typeof armVersion === 'string' || typeof armVersion === 'number')) p.variant = `v${armVersion}`;
  return normalizePlatform(p);
}

/**
 * How well an image platform suits a wanted one: 0 is exact, higher is a compatible older variant,
 * undefined is "cannot run".
 */
export function platformRank(want: Platform, have: Platform): number | undefined {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return undefined;
  if (w.variant === h.variant) return 0;
  const ladder = VARIANT_LADDERS[w.architecture];
  if (!ladder || w.variant === undefined || h.variant === undefined) return undefined;
  const wi = ladder.indexOf(w.variant);
  const hi = ladder.indexOf(h.variant);
  if (wi < 0 || hi < 0 || hi < wi) return undefined;
  return hi - wi;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant === undefined ? '' : `/${p.variant}`}`;
}

/**
 * Picks the manifest of an index for a platform: the best rank wins, the index's order breaks ties
 * (as the spec asks). Entries without a platform (attestations, artifacts) are never chosen.
 *
 * @example selectManifest(index, hostPlatform()).digest
 */
export function selectManifest(index: ImageIndex, want: Platform): Descriptor {
  let best: { d: Descriptor; rank: number } | undefined;
  for (const d of index.manifests) {
    if (d.platform === undefined) continue;
    const rank = platformRank(want, d.platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { d, rank };
  }
  if (best === undefined) {
    const offered = index.manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
    throw new ImageError(
      'NoMatchingPlatform',
      `no manifest for ${formatPlatform(normalizePlatform(want))} in the index (it offers ${offered.length ? offered.join(', ') : 'no platforms'})`,
    );
  }
  return best.d;
}
