/**
 * Overlay snapshots for real: whiteouts and opaque directories across layers give the merged view
 * Docker would, containers write only to their upper dir, and a snapshot survives an unmount.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, ImageStore, type ImageRecord } from './index.js';
import { serveLayout, type LayoutServer } from './testing/layout-server.js';
import { writeImage } from './testing/oci.js';

let tmp: string;
let srv: LayoutServer;
let images: ImageStore;
let layered: ImageRecord;
let empty: ImageRecord;

const mounted = (path: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);

beforeAll(async () => {
  tmp = await fs.mkdtemp(join(tmpdir(), 'berth-snap-'));
  const layout = join(tmp, 'layout');
  await writeImage(layout, 'layered', [
    [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/a', content: 'a' },
      { name: 'etc/b', content: 'b' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/x', content: 'x1' },
      { name: 'var/cache/sub/', type: 'directory' },
      { name: 'var/cache/sub/y', content: 'y' },
      { name: 'keep/', type: 'directory' },
      { name: 'keep/file', content: 'f' },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ],
    [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.a' },
      { name: 'etc/c', content: 'c' },
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/.wh..wh..opq' },
      { name: 'var/cache/z', content: 'z' },
      { name: 'keep/', type: 'directory' },
      { name: 'keep/.wh.file' },
    ],
    [
      { name: 'var/', type: 'directory' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/x', content: 'x3' },
    ],
  ]);
  await writeImage(layout, 'empty', []);
  srv = await serveLayout(layout);
  images = await ImageStore.open(join(tmp, 'store'));
  layered = await images.pull(`${srv.host}/app:layered`);
  empty = await images.pull(`${srv.host}/app:empty`);
});

afterAll(async () => {
  for (const s of (await images?.snapshots.list()) ?? []) await images.snapshots.remove(s.key);
  images?.close();
  await srv?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('Snapshotter', () => {
  it('merges layers as the image means: whiteouts hide, opaque dirs reset, later layers add back', async () => {
    const rootfs = await images.snapshots.prepare('merged', layered);
    expect(mounted(rootfs)).toBe(true);
    expect((await fs.readdir(join(rootfs, 'etc'))).sort()).toEqual(['b', 'c']);
    expect((await fs.readdir(join(rootfs, 'var/cache'))).sort()).toEqual(['x', 'z']);
    expect(await fs.readFile(join(rootfs, 'var/cache/x'), 'utf8')).toBe('x3');
    expect(await fs.readdir(join(rootfs, 'keep'))).toEqual([]);
    expect(statSync(join(rootfs, 'tmp')).mode & 0o7777).toBe(0o1777);
  });

  it('keeps container writes and deletions in the upper dir, never in the shared layers', async () => {
    const rootfs = await images.snapshots.prepare('writer', layered);
    await fs.rm(join(rootfs, 'etc/b'));
    await fs.writeFile(join(rootfs, 'etc/c'), 'changed');
    await fs.mkdir(join(rootfs, 'data'));
    await fs.writeFile(join(rootfs, 'data/out'), 'written');
    const [bottom, middle] = layered.layers.map((l) => images.content.layerPath(l.diffID));
    expect(await fs.readFile(join(bottom!, 'etc/b'), 'utf8')).toBe('b');
    expect(await fs.readFile(join(middle!, 'etc/c'), 'utf8')).toBe('c');
    const upper = join(images.content.root, 'snapshots/writer/upper');
    expect(statSync(join(upper, 'etc/b')).isCharacterDevice()).toBe(true); // overlayfs's own whiteout
    expect(await fs.readFile(join(upper, 'data/out'), 'utf8')).toBe('written');
    // Another container of the image is untouched.
    const other = await images.snapshots.prepare('reader', layered);
    expect((await fs.readdir(join(other, 'etc'))).sort()).toEqual(['b', 'c']);
    expect(await fs.readFile(join(other, 'etc/c'), 'utf8')).toBe('c');
  });

  it('mounts again after an unmount (a reboot), keeping what the container wrote', async () => {
    const rootfs = await images.snapshots.prepare('survivor', layered);
    await fs.writeFile(join(rootfs, 'state'), 'kept');
    expect(await images.snapshots.prepare('survivor', layered)).toBe(rootfs); // idempotent while mounted
    execFileSync('umount', [rootfs]);
    expect(mounted(rootfs)).toBe(false);
    expect(await images.snapshots.prepare('survivor', layered)).toBe(rootfs);
    expect(await fs.readFile(join(rootfs, 'state'), 'utf8')).toBe('kept');
    expect((await images.snapshots.list()).find((s) => s.key === 'survivor')).toEqual({
      key: 'survivor',
      image: layered.reference,
      layers: layered.layers.map((l) => l.diffID),
      rootfs,
    });
  });

  it('mounts an image with no layers as an empty root', async () => {
    const rootfs = await images.snapshots.prepare('empty', empty);
    expect(await fs.readdir(rootfs)).toEqual([]);
    await fs.writeFile(join(rootfs, 'f'), 'x');
  });

  it('removes idempotently: unmounted and deleted', async () => {
    const rootfs = await images.snapshots.prepare('gone', layered);
    await images.snapshots.remove('gone');
    expect(mounted(rootfs)).toBe(false);
    await expect(fs.stat(join(images.content.root, 'snapshots/gone'))).rejects.toMatchObject({ code: 'ENOENT' });
    await images.snapshots.remove('gone');
  });

  it("keeps its layers from gc after its image is removed: by a hold, then by its snapshot.json after a restart, until it is removed", async () => {
    const root = join(tmp, 'store-gc');
    const first = await ImageStore.open(root);
    const image = await first.pull(`${srv.host}/app:layered`);
    const index = await fs.readFile(join(root, 'index.json'), 'utf8');
    await first.snapshots.prepare('held', image);
    expect(await fs.readFile(join(root, 'index.json'), 'utf8')).toBe(index); // a hold writes no index
    await first.remove(image.reference);
    const layerIds = image.layers.map((l) => l.diffID);
    const layersKept = async (store: ImageStore) => Promise.all(layerIds.map((d) => store.content.hasLayer(d)));
    expect((await first.gc()).layers).toEqual([]);
    expect(await layersKept(first)).toEqual(layerIds.map(() => true));
    first.close();
    const again = await ImageStore.open(root); // no holds: only what is on disk
    expect((await again.gc()).layers).toEqual([]);
    expect(await layersKept(again)).toEqual(layerIds.map(() => true));
    await again.snapshots.remove('held');
    expect((await again.gc()).layers.sort()).toEqual([...new Set(layerIds)].sort());
    again.close();
  });

  it('refuses bad keys and a key already used for another image', async () => {
    for (const key of ['../escape', '', '.hidden', 'a/b', 'x'.repeat(129)]) {
      const err = await images.snapshots.prepare(key, layered).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageError);
      expect((err as ImageError).code).toBe('SnapshotError');
    }
    await images.snapshots.prepare('taken', layered);
    const err = await images.snapshots.prepare('taken', empty).catch((e: unknown) => e);
    expect((err as ImageError).message).toMatch(/snapshot taken already exists for .*app:layered; remove it before preparing it for .*app:empty/);
  });
});
