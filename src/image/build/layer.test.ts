/**
 * Layers from overlayfs upper dirs: whiteouts and opaque directories translated to OCI entries,
 * hard links kept, digests right, and the result unpacking (with the image module's own unpacker)
 * back into the same upper dir. Needs root for mknod, trusted.* xattrs and overlay mounts.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rm, symlink, writeFile, chown, chmod, rmdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unpackLayer } from '../unpack.js';
import { dropMountArtifacts, scanUpper, writeLayer, type UpperEntry } from './layer.js';

const root = process.getuid?.() === 0;
if (!root) console.warn('layer.test.ts: the overlay cases need root (mknod, trusted.* xattrs, mount); skipped');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-layer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function entriesOf(gz: Buffer): Promise<Array<{ name: string; type: string; mode: number; uid: number; linkname: string | null | undefined; body: string }>> {
  const out: Array<{ name: string; type: string; mode: number; uid: number; linkname: string | null | undefined; body: string }> = [];
  const extract = tar.extract();
  const done = (async () => {
    for await (const e of extract) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.push({ name: e.header.name, type: e.header.type ?? '', mode: e.header.mode ?? 0, uid: e.header.uid ?? 0, linkname: e.header.linkname, body: Buffer.concat(chunks).toString() });
    }
  })();
  extract.end(gunzipSync(gz));
  await done;
  return out;
}

// Inode numbers differ between trees, and a whiteout's own mode means nothing to overlayfs.
const strip = (entries: UpperEntry[]) => entries.map(({ ino: _i, nlink: _n, mtime: _m, ...rest }) => (rest.type === 'whiteout' ? { ...rest, mode: 0 } : rest));

describe.skipIf(!root)('scanUpper and writeLayer', () => {
  it('writes files, dirs, links, whiteouts and opaque dirs as OCI entries with the right digests, and unpacks back to the same dir', async () => {
    const upper = join(dir, 'upper');
    await mkdir(join(upper, 'app', 'bin'), { recursive: true });
    await writeFile(join(upper, 'app', 'bin', 'run'), '#!/bin/sh\necho hi\n');
    await chown(join(upper, 'app', 'bin', 'run'), 1000, 1001);
    await chmod(join(upper, 'app', 'bin', 'run'), 0o4755); // after chown, which clears setuid
    await link(join(upper, 'app', 'bin', 'run'), join(upper, 'app', 'bin', 'run2'));
    await symlink('bin/run', join(upper, 'app', 'current'));
    execFileSync('mknod', [join(upper, 'app', 'deleted.txt'), 'c', '0', '0']);
    await mkdir(join(upper, 'replaced'));
    await writeFile(join(upper, 'replaced', 'new'), 'fresh');
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(upper, 'replaced')]);
    execFileSync('mknod', [join(upper, 'top-deleted'), 'c', '0', '0']);

    const scanned = await scanUpper(upper);
    expect(scanned.map((e) => `${e.path} ${e.type}${e.opaque ? ' opaque' : ''}`)).toEqual([
      'app dir', 'app/bin dir', 'app/bin/run file', 'app/bin/run2 file', 'app/current symlink', 'app/deleted.txt whiteout', 'replaced dir opaque', 'replaced/new file', 'top-deleted whiteout',
    ]);

    const out = join(dir, 'layer.tar.gz');
    const layer = await writeLayer(upper, scanned, out);
    const gz = await readFile(out);
    expect(layer.digest).toBe(`sha256:${createHash('sha256').update(gz).digest('hex')}`);
    expect(layer.size).toBe(gz.length);
    expect(layer.diffID).toBe(`sha256:${createHash('sha256').update(gunzipSync(gz)).digest('hex')}`);

    const entries = await entriesOf(gz);
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['app/', 'directory'],
      ['app/bin/', 'directory'],
      ['app/bin/run', 'file'],
      ['app/bin/run2', 'link'],
      ['app/current', 'symlink'],
      ['app/.wh.deleted.txt', 'file'],
      ['replaced/', 'directory'],
      ['replaced/.wh..wh..opq', 'file'],
      ['replaced/new', 'file'],
      ['.wh.top-deleted', 'file'],
    ]);
    const run = entries.find((e) => e.name === 'app/bin/run')!;
    expect(run).toMatchObject({ mode: 0o4755, uid: 1000, body: '#!/bin/sh\necho hi\n' });
    expect(entries.find((e) => e.name === 'app/bin/run2')!.linkname).toBe('app/bin/run');
    expect(entries.find((e) => e.name === 'app/current')!.linkname).toBe('bin/run');

    // The image module unpacks it into overlayfs lower form: the same tree as the upper dir.
    const back = join(dir, 'back');
    await mkdir(back);
    await unpackLayer(createReadStream(out), back, { compression: 'gzip', diffID: layer.diffID });
    expect(strip(await scanUpper(back))).toEqual(strip(scanned));
  });

  it('refuses an upper dir overlayfs wrote with redirect_dir on', async () => {
    const upper = join(dir, 'upper');
    await mkdir(join(upper, 'moved'), { recursive: true });
    execFileSync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/orig', join(upper, 'moved')]);
    await expect(scanUpper(upper)).rejects.toThrow(/trusted\.overlay\.redirect.*redirect_dir=off/);
  });

  it('reads what a real overlay mount leaves in its upper dir after deleting and replacing', async () => {
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(dir, d)) as [string, string, string, string];
    for (const d of [join(lower, 'etc'), join(lower, 'data', 'old'), upper, work, merged]) await mkdir(d, { recursive: true });
    await writeFile(join(lower, 'etc', 'gone'), 'x');
    await writeFile(join(lower, 'data', 'old', 'file'), 'x');
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
    try {
      await unlink(join(merged, 'etc', 'gone'));
      await rm(join(merged, 'data'), { recursive: true });
      await mkdir(join(merged, 'data'));
      await writeFile(join(merged, 'data', 'new'), 'y');
      await rmdir(join(merged, 'data', 'old')).catch(() => undefined);
    } finally {
      execFileSync('umount', [merged]);
    }
    const scanned = await scanUpper(upper);
    expect(scanned.map((e) => `${e.path} ${e.type}${e.opaque ? ' opaque' : ''}`)).toEqual(['data dir opaque', 'data/new file', 'etc dir', 'etc/gone whiteout']);
  });
});

describe('dropMountArtifacts', () => {
  const e = (path: string, type: UpperEntry['type'], extra: Partial<UpperEntry> = {}): UpperEntry => ({
    path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0, mtime: new Date(0), ino: 1, nlink: 1, ...extra,
  });
  const leaves = ['proc', 'sys', 'dev', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf'];
  const none = new Map<string, undefined>(leaves.concat('etc').map((p) => [p, undefined]));
  const paths = (x: UpperEntry[]) => x.map((y) => y.path);

  it('drops mount points runc made in an image that lacked them, with the parent it made', () => {
    const upper = [e('dev', 'dir'), e('etc', 'dir'), e('etc/hostname', 'file'), e('etc/hosts', 'file'), e('etc/resolv.conf', 'file'), e('proc', 'dir'), e('sys', 'dir'), e('work', 'dir')];
    expect(paths(dropMountArtifacts(upper, leaves, none))).toEqual(['work']);
  });

  it('keeps a parent that holds something else, or changed, or was opaque', () => {
    const upper = [e('etc', 'dir'), e('etc/hosts', 'file'), e('etc/motd', 'file', { size: 3 })];
    expect(paths(dropMountArtifacts(upper, leaves, none))).toEqual(['etc', 'etc/motd']);
    const before = new Map([...none, ['etc', { mode: 0o755, uid: 0, gid: 0 }]]);
    expect(paths(dropMountArtifacts([e('etc', 'dir', { mode: 0o700 }), e('etc/hosts', 'file')], leaves, before))).toEqual(['etc']);
    expect(paths(dropMountArtifacts([e('etc', 'dir'), e('etc/hosts', 'file')], leaves, before))).toEqual([]);
    expect(paths(dropMountArtifacts([e('etc', 'dir', { opaque: true }), e('etc/hosts', 'file')], leaves, none))).toEqual(['etc']);
  });

  it('keeps what existed before, and what a step filled', () => {
    const existed = new Map([...none, ['proc', { mode: 0o555, uid: 0, gid: 0 }]]);
    expect(paths(dropMountArtifacts([e('proc', 'dir')], leaves, existed))).toEqual(['proc']);
    expect(paths(dropMountArtifacts([e('etc', 'dir'), e('etc/hosts', 'file', { size: 10 })], leaves, none))).toEqual(['etc', 'etc/hosts']);
    expect(paths(dropMountArtifacts([e('dev', 'dir'), e('dev/x', 'file')], leaves, none))).toEqual(['dev', 'dev/x']);
  });

  it('follows a mount point that is a symlink in the image to where runc mounts', () => {
    const symLeaves = ['run/systemd/resolve/stub-resolv.conf'];
    const before = new Map<string, undefined>([['run', undefined], ['run/systemd', undefined], ['run/systemd/resolve', undefined], ['run/systemd/resolve/stub-resolv.conf', undefined]]);
    const upper = [e('run', 'dir'), e('run/systemd', 'dir'), e('run/systemd/resolve', 'dir'), e('run/systemd/resolve/stub-resolv.conf', 'file')];
    expect(paths(dropMountArtifacts(upper, symLeaves, before))).toEqual([]);
  });
});
