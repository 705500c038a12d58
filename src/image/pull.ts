/**
 * Pulling: resolve a reference to one platform's manifest, fetch config and layers (concurrently,
 * bounded) into the content store, unpack each layer once, record the image — telling a progress
 * callback each step so a CLI can draw it.
 */
import type { RegistryCredentials } from './auth.js';
import type { ContentStore, ImageRecord, LayerRecord } from './content-store.js';
import { ImageError } from './errors.js';
import { parseImageConfig, type ImageManifest, type Platform } from './manifest.js';
import { formatPlatform, hostPlatform, normalizePlatform, platformRank, selectManifest } from './platform.js';
import { formatReference, type ImageReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';
import type { SkippedEntry } from './unpack.js';

/** One step of a pull. Layer events name the layer by its blob digest. */
export type PullProgress =
  | { type: 'resolved'; reference: string; digest: string; mediaType: string; indexDigest?: string; platform: Platform; layers: Array<{ digest: string; size: number }> }
  | { type: 'exists'; digest: string; size: number }
  | { type: 'downloading'; digest: string; done: number; total: number }
  | { type: 'downloaded'; digest: string; size: number }
  | { type: 'extracting'; digest: string; diffID: string }
  | { type: 'extracted'; digest: string; diffID: string; skipped: SkippedEntry[] }
  | { type: 'done'; image: ImageRecord };

export interface PullOptions {
  /** For private registries: ECS `repositoryCredentials`, or `AWS` + an ECR password. */
  credentials?: RegistryCredentials;
  /** The platform to pick from an index; this host's by default. */
  platform?: Platform;
  onProgress?: (event: PullProgress) => void;
  /** Layers fetched at once (default 3, as Docker does). */
  concurrency?: number;
}

const MAX_CONFIG_BYTES = 8 << 20;
// Progress is reported at most once per this many bytes per layer (and at the end), not per chunk.
const PROGRESS_STEP = 256 << 10;

/** Runs `work` over `items` with at most `limit` at once; the first failure wins once all have settled. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure !== undefined) throw failure.err;
}

/**
 * Pulls `ref` into `store` through `client`; see PullOptions. Already-stored blobs and unpacked
 * layers are reused; concurrent pulls of shared content fetch it once.
 */
export async function pullImage(store: ContentStore, client: RegistryClient, ref: ImageReference, options: PullOptions = {}): Promise<ImageRecord> {
  const emit = options.onProgress ?? (() => undefined);
  const creds = options.credentials ? { credentials: options.credentials } : {};
  const want = normalizePlatform(options.platform ?? hostPlatform());
  const reference = formatReference(ref);

  return store.use(async () => {
    const stored = await storedAndCurrent(store, client, ref, reference, want, creds);
    if (stored !== undefined) {
      emit({
        type: 'resolved', reference, digest: stored.digest, mediaType: stored.mediaType,
        ...(stored.indexDigest === undefined ? {} : { indexDigest: stored.indexDigest }),
        platform: stored.platform, layers: stored.layers.map((l) => ({ digest: l.digest, size: l.size })),
      });
      for (const l of stored.layers) emit({ type: 'exists', digest: l.digest, size: l.size });
      emit({ type: 'done', image: stored });
      return stored;
    }
    const top = await client.getManifest(ref, creds);
    await store.putBlob(top.bytes, { digest: top.digest }, 'manifest');
    let manifest: ImageManifest;
    let digest = top.digest;
    let indexDigest: string | undefined;
    if (top.manifest.kind === 'index') {
      const chosen = selectManifest(top.manifest, want);
      const fetched = await client.getManifest(ref, { ...creds, descriptor: chosen });
      if (fetched.manifest.kind !== 'manifest') throw new ImageError('InvalidManifest', `index ${top.digest} entry ${chosen.digest} is itself an index; nested indexes are not supported`);
      await store.putBlob(fetched.bytes, { digest: fetched.digest, size: chosen.size }, 'manifest');
      indexDigest = top.digest;
      digest = fetched.digest;
      manifest = fetched.manifest;
    } else {
      manifest = top.manifest;
    }

    const configDesc = manifest.config;
    if (configDesc.size > MAX_CONFIG_BYTES) throw new ImageError('TooLarge', `image config ${configDesc.digest} is ${configDesc.size} bytes, above the ${MAX_CONFIG_BYTES}-byte bound`);
    await store.ingest(configDesc, () => client.openBlob(ref, configDesc, creds));
    const config = parseImageConfig(await store.readBlob(configDesc.digest), `image config ${configDesc.digest}`);
    const platform: Platform = { os: config.os, architecture: config.architecture, ...(config.variant === undefined ? {} : { variant: config.variant }) };
    if (platformRank(want, platform) === undefined) {
      throw new ImageError('NoMatchingPlatform', `${reference} is built for ${formatPlatform(platform)}; this host runs ${formatPlatform(want)}`);
    }
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new ImageError('InvalidManifest', `${reference}: the manifest has ${manifest.layers.length} layers but the config lists ${config.rootfs.diff_ids.length} diff_ids`);
    }
    const layers: LayerRecord[] = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffID: config.rootfs.diff_ids[i]! }));
    emit({
      type: 'resolved',
      reference,
      digest,
      mediaType: manifest.mediaType,
      ...(indexDigest === undefined ? {} : { indexDigest }),
      platform,
      layers: layers.map((l) => ({ digest: l.digest, size: l.size })),
    });

    // A layer listed twice (it happens) is fetched and unpacked once.
    const unique = [...new Map(layers.map((l) => [`${l.digest} ${l.diffID}`, l])).values()];
    await eachLimited(unique, options.concurrency ?? 3, async (layer) => {
      if (await store.has(layer.digest)) {
        emit({ type: 'exists', digest: layer.digest, size: layer.size });
      } else {
        let done = 0;
        let reported = 0;
        emit({ type: 'downloading', digest: layer.digest, done: 0, total: layer.size });
        await store.ingest(
          layer,
          () => client.openBlob(ref, manifest.layers.find((d) => d.digest === layer.digest)!, creds),
          (n) => {
            done += n;
            if (done - reported >= PROGRESS_STEP && done < layer.size) {
              reported = done;
              emit({ type: 'downloading', digest: layer.digest, done, total: layer.size });
            }
          },
        );
        emit({ type: 'downloaded', digest: layer.digest, size: layer.size });
      }
      if (!(await store.hasLayer(layer.diffID))) {
        emit({ type: 'extracting', digest: layer.digest, diffID: layer.diffID });
        const result = await store.unpack(layer);
        emit({ type: 'extracted', digest: layer.digest, diffID: layer.diffID, skipped: result?.skipped ?? [] });
      }
    });

    const image: ImageRecord = {
      reference,
      digest,
      mediaType: manifest.mediaType,
      ...(indexDigest === undefined ? {} : { indexDigest }),
      platform,
      config: configDesc,
      layers,
      pulledAt: new Date().toISOString(),
    };
    await store.putImage(image);
    emit({ type: 'done', image });
    return image;
  });
}

/**
 * The image stored under `reference`, when the registry still names the same manifest for it and
 * everything it needs is on disk: a HEAD of the manifest (as docker and containerd ask) and a few
 * file checks instead of a fetch, parse and record of manifest and config. ECS pulls before every
 * start; this is most of those pulls.
 */
async function storedAndCurrent(
  store: ContentStore, client: RegistryClient, ref: ImageReference, reference: string, want: Platform, creds: { credentials?: RegistryCredentials },
): Promise<ImageRecord | undefined> {
  const stored = store.getImage(reference);
  if (stored === undefined || platformRank(want, stored.platform) === undefined) return undefined;
  const current = await client.headManifest(ref, creds);
  if (current === undefined || current !== (stored.indexDigest ?? stored.digest)) return undefined;
  const present = await Promise.all([store.has(stored.digest), store.has(stored.config.digest), ...stored.layers.map((l) => store.hasLayer(l.diffID))]);
  return present.every(Boolean) ? stored : undefined;
}
