/**
 * The image module: what the agent uses to get a container's root filesystem from an image name.
 * Pull over the OCI distribution API into a verified content store, unpack layers securely, and
 * stack them with overlayfs per container.
 *
 * @example
 *   const images = await ImageStore.open('/var/lib/berth/images');
 *   const image = await images.pull('127.0.0.1:5000/web:1', {
 *     credentials: { username: 'AWS', password },           // ECS repositoryCredentials, if any
 *     onProgress: (e) => { if (e.type === 'downloading') bar.update(e.digest, e.done, e.total); },
 *   });
 *   const rootfs = await images.snapshots.prepare('task-1-web', image);   // an overlay mount
 *   // … run the container on rootfs …
 *   await images.snapshots.remove('task-1-web');
 *   await images.remove('127.0.0.1:5000/web:1');
 *   await images.gc();                                                    // frees what nothing uses
 */
import { ContentStore, type GcResult, type ImageRecord } from './content-store.js';
import { parseImageConfig, type ImageConfig } from './manifest.js';
import { pullImage, type PullOptions } from './pull.js';
import { formatReference, parseReference } from './reference.js';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';
import { Snapshotter } from './snapshot.js';

export type ImageStoreOptions = RegistryClientOptions;

/** The image store of one host: pull, look up, snapshot, remove, collect garbage. */
export class ImageStore {
  readonly snapshots: Snapshotter;

  private constructor(
    readonly content: ContentStore,
    readonly registry: RegistryClient,
  ) {
    this.snapshots = new Snapshotter(content);
  }

  /**
   * Opens the store under `root` (created if missing).
   *
   * @example await ImageStore.open(join(home, 'images'), { endpoints: { 'docker.io': 'http://127.0.0.1:4566' } })
   */
  static async open(root: string, options: ImageStoreOptions = {}): Promise<ImageStore> {
    return new ImageStore(await ContentStore.open(root), new RegistryClient(options));
  }

  /**
   * Pulls an image for this host's platform (or `options.platform`), reusing what is stored.
   *
   * @example const image = await images.pull('127.0.0.1:5000/web:1'); image.layers.length
   */
  pull(reference: string, options: PullOptions = {}): Promise<ImageRecord> {
    return pullImage(this.content, this.registry, parseReference(reference), options);
  }

  /** The stored image for a reference, in any spelling that normalises to the same one. */
  get(reference: string): ImageRecord | undefined {
    return this.content.getImage(formatReference(parseReference(reference)));
  }

  list(): ImageRecord[] {
    return this.content.listImages();
  }

  /** The image's config: entrypoint, cmd, env, working dir, user, exposed ports. */
  async config(image: ImageRecord): Promise<ImageConfig> {
    return parseImageConfig(await this.content.readBlob(image.config.digest), `image config ${image.config.digest}`);
  }

  /** Forgets an image; its content goes at the next gc unless another image or a snapshot uses it. */
  remove(reference: string): Promise<boolean> {
    return this.content.removeImage(formatReference(parseReference(reference)));
  }

  /** Frees what no image, lease or snapshot (in this process, or on disk from an earlier one) uses. */
  async gc(): Promise<GcResult> {
    return this.content.gc((await this.snapshots.list()).flatMap((s) => s.layers));
  }

  /** Closes the registry client's kept-alive connections. */
  close(): void {
    this.registry.close();
  }
}

export type { RegistryCredentials } from './auth.js';
export { ContentStore, type GcResult, type ImageRecord, type LayerRecord } from './content-store.js';
export { digestOf, parseDigest } from './digest.js';
export { ImageError, isImageError, type ImageErrorCode } from './errors.js';
export { MediaType, type Descriptor, type ImageConfig, type Platform } from './manifest.js';
export { hostPlatform, selectManifest } from './platform.js';
export type { PullOptions, PullProgress } from './pull.js';
export { formatReference, parseReference, type ImageReference } from './reference.js';
export { RegistryClient, type RegistryClientOptions } from './registry-client.js';
export { Snapshotter, type SnapshotInfo } from './snapshot.js';
export { unpackLayer, zstdSupported, type SkippedEntry, type UnpackOptions, type UnpackResult } from './unpack.js';
