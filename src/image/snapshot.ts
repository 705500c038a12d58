/**
 * Snapshots: a container's root filesystem as an overlayfs mount of its image's unpacked layers
 * (read-only, shared by every container of the image) under a private upper and work directory.
 *
 * Terms (after containerd): a key names one container's snapshot; `prepare` makes and mounts it,
 * and is safe to repeat (after a reboot it mounts again and keeps the upper dir); `remove` unmounts
 * and deletes it. While a snapshot exists it holds a lease on its layers, so gc keeps them even
 * when the image itself is removed.
 *
 *   snapshots/<key>/snapshot.json   image reference and layer diffIDs
 *   snapshots/<key>/upper, work     the container's writes, overlayfs's scratch
 *   snapshots/<key>/rootfs          the mount point handed to the runtime
 *
 * snapshot.json is the snapshot's lease on its layers across restarts (gc reads them all); in the
 * process that prepared it, a hold in the content store covers the time before the file exists.
 * Mounts go through the launcher (one small helper process) rather than a fork of this process and
 * mount(8) for each: this is on every container's start.
 */
import { promises as fs, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type Launch, sharedLauncher } from '../runtime/launcher.js';
import type { ContentStore, ImageRecord } from './content-store.js';
import { ImageError } from './errors.js';

export interface SnapshotInfo {
  key: string;
  image: string;
  /** diffIDs, bottom layer first. */
  layers: string[];
  rootfs: string;
}

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
// Characters that would break the overlay mount options string.
const UNSAFE_PATH = /[,:\\\n]/;

/** A mount or unmount, its failure as a SnapshotError. */
async function mountStep(what: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    throw new ImageError('SnapshotError', `${what} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** Whether `path` is a mount point in this process's mount namespace. */
async function isMounted(path: string): Promise<boolean> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with spaces and the like octal-escaped.
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}

export class Snapshotter {
  private readonly dir: string;
  private readonly launcher: Pick<Launch, 'mount' | 'unmount'>;

  constructor(private readonly store: ContentStore, options: { launcher?: Pick<Launch, 'mount' | 'unmount'> } = {}) {
    this.launcher = options.launcher ?? sharedLauncher();
    this.dir = join(store.root, 'snapshots');
    if (UNSAFE_PATH.test(store.root)) {
      throw new ImageError('SnapshotError', `the image store root ${store.root} holds a character (, : \\ or newline) that overlayfs mount options cannot carry`);
    }
  }

  private paths(key: string): { base: string; upper: string; work: string; rootfs: string; empty: string; meta: string } {
    if (!KEY_RE.test(key)) throw new ImageError('SnapshotError', `snapshot key ${JSON.stringify(key)} must be 1-128 letters, digits, '_', '.' or '-', not starting with a punctuation mark`);
    const base = join(this.dir, key);
    return { base, upper: join(base, 'upper'), work: join(base, 'work'), rootfs: join(base, 'rootfs'), empty: join(base, 'empty'), meta: join(base, 'snapshot.json') };
  }

  /**
   * Makes (or re-mounts) the snapshot `key` of `image` and returns its rootfs path. The image's
   * layers are unpacked first if they are not yet.
   *
   * @example const rootfs = await snapshots.prepare('task-1-web', image); // → …/snapshots/task-1-web/rootfs
   */
  async prepare(key: string, image: ImageRecord): Promise<string> {
    const p = this.paths(key);
    const layers = image.layers.map((l) => l.diffID);
    // Synchronous file work: a few tiny files and directories, on the path of every container's
    // start, where fs.promises would cost a thread-pool round trip each.
    let existing: SnapshotInfo | undefined;
    try {
      existing = JSON.parse(readFileSync(p.meta, 'utf8')) as SnapshotInfo;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (existing !== undefined && existing.layers.join(' ') !== layers.join(' ')) {
      throw new ImageError('SnapshotError', `snapshot ${key} already exists for ${existing.image}; remove it before preparing it for ${image.reference}`);
    }
    // Hold before unpacking so a gc in between cannot take the layers away.
    this.store.hold(`snapshot/${key}`, layers);
    for (const layer of image.layers) await this.store.unpack(layer);
    const dirs = [p.upper, p.work, p.rootfs, ...(layers.length === 0 ? [p.empty] : [])];
    mkdirSync(p.base, { recursive: true, mode: 0o755 });
    for (const d of dirs) {
      try {
        mkdirSync(d, { mode: 0o755 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    if (existing === undefined) {
      const info: SnapshotInfo = { key, image: image.reference, layers, rootfs: p.rootfs };
      writeFileSync(p.meta, `${JSON.stringify(info, null, 1)}\n`);
    }
    // A snapshot made just now cannot be mounted yet; one that existed may be (a repeated prepare).
    if (existing !== undefined && (await isMounted(p.rootfs))) return p.rootfs;

    // Lower dirs are given relative to layers/ (the mount runs there) to keep the option string short:
    // the kernel takes one page of options, which absolute paths would exhaust at a few dozen layers.
    const layersDir = join(this.store.root, 'layers');
    const lowers = layers.length === 0 ? [p.empty] : [...layers].reverse().map((d) => relative(layersDir, this.store.layerPath(d)));
    const options = `lowerdir=${lowers.join(':')},upperdir=${p.upper},workdir=${p.work}`;
    if (options.length > 4000) throw new ImageError('SnapshotError', `${image.reference} has too many layers (${layers.length}) for one overlayfs mount`);
    await mountStep(`mounting snapshot ${key}`, () => this.launcher.mount({ source: 'overlay', target: p.rootfs, fstype: 'overlay', data: options, cwd: layersDir }));
    return p.rootfs;
  }

  /** Unmounts and deletes the snapshot `key` (a missing one is fine: removal is idempotent). */
  async remove(key: string): Promise<void> {
    const p = this.paths(key);
    if (await isMounted(p.rootfs)) await mountStep(`unmounting snapshot ${key}`, () => this.launcher.unmount(p.rootfs));
    await fs.rm(p.base, { recursive: true, force: true });
    await this.store.releaseLease(`snapshot/${key}`);
  }

  /** The snapshots on disk, mounted or not. */
  async list(): Promise<SnapshotInfo[]> {
    let keys: string[];
    try {
      keys = await fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: SnapshotInfo[] = [];
    for (const key of keys.sort()) {
      try {
        out.push(JSON.parse(await fs.readFile(join(this.dir, key, 'snapshot.json'), 'utf8')) as SnapshotInfo);
      } catch (err) {
        // A directory without metadata is a prepare that died before writing it; list shows what exists.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return out;
  }
}
