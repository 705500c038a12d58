/**
 * COPY and ADD into a root directory: Docker's placement rules, ownership and modes, symlinks in
 * the image resolved inside it, and ADD's tar unpacking with hostile archives refused.
 */
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, utimes, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTar } from '../testing/tar.js';
import { BuildContext } from './context.js';
import { applyCopy, resolveChown, resolveOwner } from './copy.js';
import { DockerIgnore } from './dockerignore.js';
import { RootFS } from './rootfs.js';

const isRoot = process.getuid?.() === 0;

let dir: string;
let ctxDir: string;
let rootDir: string;
let ctx: BuildContext;
let root: RootFS;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-copy-'));
  ctxDir = join(dir, 'ctx');
  rootDir = join(dir, 'rootfs');
  await mkdir(join(ctxDir, 'app', 'lib'), { recursive: true });
  await writeFile(join(ctxDir, 'app', 'main.sh'), '#!/bin/sh\n');
  await chmod(join(ctxDir, 'app', 'main.sh'), 0o755);
  await writeFile(join(ctxDir, 'app', 'lib', 'util.sh'), 'util');
  await symlink('main.sh', join(ctxDir, 'app', 'start'));
  await utimes(join(ctxDir, 'app', 'main.sh'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
  await writeFile(join(ctxDir, 'conf.yml'), 'a: 1\n');
  await mkdir(join(rootDir, 'etc'), { recursive: true });
  await mkdir(join(rootDir, 'srv'));
  await symlink('/srv', join(rootDir, 'app-link'));
  await symlink('../../../../..', join(rootDir, 'up'));
  await writeFile(join(rootDir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  await writeFile(join(rootDir, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nstaff:x:50:app\n');
  ctx = await BuildContext.open(ctxDir, DockerIgnore.none());
  root = new RootFS(rootDir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const copy = async (sources: string[], dest: string, opts: { destIsDir?: boolean; add?: boolean; chown?: string; chmod?: number } = {}) => {
  const selected = (await Promise.all(sources.map((s) => ctx.select(s, 'COPY', 2)))).flat();
  const action = {
    kind: 'copy' as const, add: opts.add ?? false, sources, dest: posix.resolve('/', dest), destIsDir: opts.destIsDir ?? false,
    ...(opts.chown === undefined ? {} : { chown: opts.chown }), ...(opts.chmod === undefined ? {} : { chmod: opts.chmod }),
  };
  await applyCopy(root, action, selected, { label: `COPY ${sources.join(' ')} ${dest}`, line: 2 });
};
const text = (p: string) => readFile(join(rootDir, p), 'utf8');

describe('applyCopy', () => {
  it('copies a directory\'s contents (not the directory) into the destination, keeping modes, mtimes and links', async () => {
    await copy(['app'], '/opt/app');
    expect(await text('opt/app/main.sh')).toBe('#!/bin/sh\n');
    expect(await text('opt/app/lib/util.sh')).toBe('util');
    expect(await readlink(join(rootDir, 'opt/app/start'))).toBe('main.sh');
    const st = await stat(join(rootDir, 'opt/app/main.sh'));
    expect(st.mode & 0o7777).toBe(0o755);
    expect(st.mtime.toISOString()).toBe('2020-01-02T03:04:05.000Z');
    expect((await stat(join(rootDir, 'opt'))).mode & 0o7777).toBe(0o755);
  });

  it('places a file at the destination, or inside it when it names a directory', async () => {
    await copy(['conf.yml'], '/etc/app.yml');
    expect(await text('etc/app.yml')).toBe('a: 1\n');
    await copy(['conf.yml'], '/etc/conf.d', { destIsDir: true });
    expect(await text('etc/conf.d/conf.yml')).toBe('a: 1\n');
    await copy(['conf.yml'], '/etc'); // an existing directory, no trailing slash
    expect(await text('etc/conf.yml')).toBe('a: 1\n');
  });

  it('writes through symlinks in the image, inside the image only', async () => {
    await copy(['conf.yml'], '/app-link/', { destIsDir: true });
    expect(await text('srv/conf.yml')).toBe('a: 1\n');
    await copy(['conf.yml'], '/up/escaped.yml');
    expect(await text('escaped.yml')).toBe('a: 1\n'); // `..` stops at the image's root
  });

  it.skipIf(!isRoot)('owns copies by root, or as --chown says (names from the image; no group: the uid)', async () => {
    await copy(['conf.yml'], '/a.yml');
    expect(await lstat(join(rootDir, 'a.yml'))).toMatchObject({ uid: 0, gid: 0 });
    await copy(['app'], '/home/app/', { destIsDir: true, chown: 'app' });
    for (const p of ['home', 'home/app', 'home/app/main.sh', 'home/app/lib', 'home/app/start']) {
      expect(await lstat(join(rootDir, p)), p).toMatchObject({ uid: 1000, gid: 1000 });
    }
    await copy(['conf.yml'], '/b.yml', { chown: '7:staff' });
    expect(await lstat(join(rootDir, 'b.yml'))).toMatchObject({ uid: 7, gid: 50 });
    await copy(['conf.yml'], '/c.yml', { chown: '33' });
    expect(await lstat(join(rootDir, 'c.yml'))).toMatchObject({ uid: 33, gid: 33 });
    await expect(copy(['conf.yml'], '/d.yml', { chown: 'nobody' })).rejects.toThrow(/--chown=nobody: .*no user "nobody".*\(line 2\)/);
  });

  it('applies --chmod to files and directories', async () => {
    await copy(['app'], '/x', { chmod: 0o700 });
    expect((await stat(join(rootDir, 'x/lib'))).mode & 0o7777).toBe(0o700);
    expect((await stat(join(rootDir, 'x/lib/util.sh'))).mode & 0o7777).toBe(0o700);
  });

  it('refuses to put a file where the image has a directory, and a directory under a file', async () => {
    await mkdir(join(rootDir, 'data', 'conf.yml'), { recursive: true });
    await expect(copy(['conf.yml'], '/data/', { destIsDir: true })).rejects.toThrow('cannot replace the directory /data/conf.yml in the image with a file');
    await writeFile(join(rootDir, 'file'), '');
    await expect(copy(['conf.yml'], '/file/sub/', { destIsDir: true })).rejects.toThrow('/file exists in the image and is not a directory');
  });
});

describe('applyCopy: ADD archives', () => {
  const tarball = async (name: string, bytes: Buffer) => writeFile(join(ctxDir, name), bytes);
  const add = (src: string, dest = '/opt/', chown?: string) => copy([src], dest, { add: true, destIsDir: dest.endsWith('/'), ...(chown === undefined ? {} : { chown }) });

  it('unpacks a plain or gzip tar into the destination, keeping what the archive says', async () => {
    const entries = [
      { name: 'pkg/', type: 'directory' as const, mode: 0o750 },
      { name: 'pkg/bin', content: 'bin', mode: 0o755, uid: 1000, gid: 1000 },
      { name: 'pkg/link', type: 'symlink' as const, linkname: 'bin' },
      { name: 'pkg/hard', type: 'link' as const, linkname: 'pkg/bin' },
      { name: 'pkg/dev', type: 'character-device' as const, devmajor: 1, devminor: 3 },
    ];
    await tarball('a.tar', await makeTar(entries));
    await tarball('a.tgz', gzipSync(await makeTar(entries)));
    await add('a.tar', '/plain/');
    await add('a.tgz', '/gz');
    for (const base of ['plain', 'gz']) {
      expect(await text(`${base}/pkg/bin`)).toBe('bin');
      expect((await stat(join(rootDir, base, 'pkg'))).mode & 0o7777).toBe(0o750);
      expect(await readlink(join(rootDir, base, 'pkg/link'))).toBe('bin');
      expect((await stat(join(rootDir, base, 'pkg/hard'))).ino).toBe((await stat(join(rootDir, base, 'pkg/bin'))).ino);
      await expect(lstat(join(rootDir, base, 'pkg/dev'))).rejects.toThrow('ENOENT');
      if (isRoot) expect(await lstat(join(rootDir, base, 'pkg/bin'))).toMatchObject({ uid: 1000, gid: 1000 });
    }
  });

  it('refuses an archive entry that climbs out of the destination', async () => {
    await tarball('evil.tar', await makeTar([{ name: '../../escape', content: 'x' }]));
    await expect(add('evil.tar')).rejects.toThrow('the archive entry ../../escape would land outside /opt (line 2)');
    await tarball('evil-link.tar', await makeTar([{ name: 'a', type: 'link', linkname: '../../etc/passwd' }]));
    await expect(add('evil-link.tar')).rejects.toThrow('would land outside /opt');
  });

  it('copies files that are not tars as they are, and refuses archives it cannot unpack', async () => {
    await tarball('notes.txt.gz', gzipSync(Buffer.from('just text')));
    await add('notes.txt.gz');
    expect(gzipSync(Buffer.from('just text')).equals(await readFile(join(rootDir, 'opt', 'notes.txt.gz')))).toBe(true);
    await tarball('x.tar.bz2', Buffer.concat([Buffer.from('BZh91AY&SY'), Buffer.alloc(100)]));
    await expect(add('x.tar.bz2')).rejects.toThrow('x.tar.bz2 is a bzip2 archive, which Berth\'s ADD cannot unpack; use a plain or gzip tar (line 2)');
    // COPY never unpacks.
    await tarball('b.tar', await makeTar([{ name: 'inner', content: 'i' }]));
    await copy(['b.tar'], '/keep/', { destIsDir: true });
    expect((await stat(join(rootDir, 'keep', 'b.tar'))).isFile()).toBe(true);
  });
});

describe('user lookups', () => {
  it('resolves --chown and USER against the image', async () => {
    expect(await resolveChown('app:staff', root)).toEqual({ uid: 1000, gid: 50 });
    expect(await resolveChown('app', root)).toEqual({ uid: 1000, gid: 1000 });
    expect(await resolveOwner('app', root)).toEqual({ uid: 1000, gid: 1000 });
    expect(await resolveOwner('', root)).toEqual({ uid: 0, gid: 0 });
    await expect(resolveOwner('ghost', root)).rejects.toThrow('no user "ghost"');
  });
});
