/**
 * Test fixture: writes small images into an OCI image layout (blobs/sha256, index.json) from layer
 * tars made in-test, so tests control every byte: multi-platform indexes, whiteouts, hostile layers.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { digestOf } from '../digest.js';
import { MediaType, type Descriptor, type Platform } from '../manifest.js';
import { makeTar, type TarEntry } from './tar.js';

export interface BuiltImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  diffIDs: string[];
}

async function putBlob(layout: string, bytes: Buffer): Promise<string> {
  const digest = digestOf(bytes);
  await fs.mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return digest;
}

async function tag(layout: string, name: string, desc: Descriptor): Promise<void> {
  const path = join(layout, 'index.json');
  let index: { schemaVersion: 2; mediaType?: string; manifests: Descriptor[] } = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  try {
    index = JSON.parse(await fs.readFile(path, 'utf8')) as typeof index;
  } catch {
    await fs.writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }
  index.manifests = index.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== name);
  index.manifests.push({ ...desc, annotations: { 'org.opencontainers.image.ref.name': name } });
  await fs.writeFile(path, JSON.stringify(index));
}

/**
 * Writes an image (gzip layers from entry lists) and tags it `name` in the layout.
 *
 * @example await writeImage(dir, 'v1', [[{ name: 'hello', content: 'hi' }]])
 */
export async function writeImage(
  layout: string,
  name: string | undefined,
  layers: TarEntry[][],
  options: { platform?: Platform; cmd?: string[]; gzip?: boolean } = {},
): Promise<BuiltImage> {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const descs: Descriptor[] = [];
  const diffIDs: string[] = [];
  for (const entries of layers) {
    const tar = await makeTar(entries);
    diffIDs.push(digestOf(tar));
    const blob = options.gzip === false ? tar : gzipSync(tar);
    descs.push({ mediaType: options.gzip === false ? MediaType.ociLayer : MediaType.ociLayerGzip, digest: await putBlob(layout, blob), size: blob.length });
  }
  const configBytes = Buffer.from(
    JSON.stringify({ ...platform, config: { Cmd: options.cmd ?? ['/bin/sh'], Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: diffIDs } }),
  );
  const config: Descriptor = { mediaType: MediaType.ociConfig, digest: await putBlob(layout, configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: descs }));
  const manifest: Descriptor = { mediaType: MediaType.ociManifest, digest: await putBlob(layout, manifestBytes), size: manifestBytes.length };
  if (name !== undefined) await tag(layout, name, manifest);
  return { manifest, config, layers: descs, diffIDs };
}

/** Writes an index over images (each with its platform) and tags it `name`. */
export async function writeIndex(layout: string, name: string, images: Array<{ image: BuiltImage; platform: Platform }>): Promise<Descriptor> {
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: images.map(({ image, platform }) => ({ ...image.manifest, platform })) }),
  );
  const desc: Descriptor = { mediaType: MediaType.ociIndex, digest: await putBlob(layout, bytes), size: bytes.length };
  await tag(layout, name, desc);
  return desc;
}

/** Reads the descriptor a layout tags `name` with. */
export async function taggedDescriptor(layout: string, name: string): Promise<Descriptor> {
  const index = JSON.parse(await fs.readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const d = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === name);
  if (!d) throw new Error(`${layout} has no image tagged ${name}`);
  return d;
}
