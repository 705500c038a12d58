/** Layer unpacking against real and hostile tars, checked on the real filesystem (we run as root). */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageError } from './errors.js';
import { makeTar, type TarEntry } from './testing/tar.js';
import { unpackLayer, zstdSupported, type UnpackResult } from './unpack.js';

let tmp: string;
let sentinel: string; // a host directory a hostile layer would love to write into
let root: string; // the layer root, two levels below the sentinel so `../..` lands in it

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (p === root) continue; // the layer root is the unpacker's to change; only what is outside it counts
      const st = await fs.lstat(p);
      out.push(`${p.slice(dir.length)} ${st.mode.toString(8)} ${st.size} ${st.nlink}`);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

async function unpack(entries: TarEntry[], gzip = false, diffID?: string): Promise<UnpackResult> {
  const bytes = await makeTar(entries);
  return unpackLayer(Readable.from([gzip ? gzipSync(bytes) : bytes]), root, { compression: gzip ? 'gzip' : 'none', ...(diffID ? { diffID } : {}) });
}

/** Unpacks a hostile layer and checks the refusal and that nothing outside the root changed. */
async function expectRefused(entries: TarEntry[], message: RegExp): Promise<void> {
  const before = await tree(sentinel);
  const err: unknown = await unpack(entries).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ImageError);
  expect((err as ImageError).code).toBe('UnsafeLayer');
  expect((err as ImageError).message).toMatch(message);
  expect(await tree(sentinel)).toEqual(before);
  expect(await fs.readFile(join(sentinel, 'precious'), 'utf8')).toBe('keep me');
}

beforeEach(async () => {
  tmp = await fs.mkdtemp(join(tmpdir(), 'berth-unpack-'));
  sentinel = join(tmp, 'sentinel');
  root = join(sentinel, 'a', 'b', 'root');
  await fs.mkdir(root, { recursive: true });
  await fs.writeFile(join(sentinel, 'precious'), 'keep me');
});

afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('unpackLayer: a well-formed layer', () => {
  it('writes files, dirs, links, modes, owners and mtimes as the tar says, and reports the diffID', async () => {
    const mtime = new Date('2023-05-06T07:08:09Z');
    const entries: TarEntry[] = [
      { name: './', type: 'directory', mode: 0o755 },
      { name: 'bin/', type: 'directory', mode: 0o755, mtime },
      { name: 'bin/tool', content: '#!/bin/sh\necho hi\n', mode: 0o4755, uid: 0, gid: 0, mtime },
      { name: 'bin/alias', type: 'symlink', linkname: 'tool' },
      { name: 'etc/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001 },
      { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o640, uid: 1000, gid: 1001 },
      { name: 'etc/passwd-hardlink', type: 'link', linkname: 'etc/passwd' },
      { name: 'etc/abs-link', type: 'symlink', linkname: '/etc/shadow' },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: '/opt/confined', content: 'x' },
    ];
    const bytes = await makeTar(entries);
    const res = await unpackLayer(Readable.from([gzipSync(bytes)]), root, { compression: 'gzip' });
    expect(res.diffID).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    expect(res.entries).toBe(entries.length);
    expect(res.skipped).toEqual([]);

    const tool = statSync(join(root, 'bin/tool'));
    expect(tool.mode & 0o7777).toBe(0o4755);
    expect(tool.mtime.getTime()).toBe(mtime.getTime());
    expect(await fs.readFile(join(root, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect(statSync(join(root, 'bin')).mtime.getTime()).toBe(mtime.getTime());
    expect(await fs.readlink(join(root, 'bin/alias'))).toBe('tool');
    const passwd = statSync(join(root, 'etc/passwd'));
    expect([passwd.uid, passwd.gid, passwd.mode & 0o7777, passwd.nlink]).toEqual([1000, 1001, 0o640, 2]);
    expect(statSync(join(root, 'etc/passwd-hardlink')).ino).toBe(passwd.ino);
    expect(statSync(join(root, 'etc')).mode & 0o7777).toBe(0o750);
    // A symlink may point anywhere: it is created, never followed.
    expect(await fs.readlink(join(root, 'etc/abs-link'))).toBe('/etc/shadow');
    expect(statSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(await fs.readFile(join(root, 'opt/confined'), 'utf8')).toBe('x');
  });

  it('does not add setuid where the image has none, whatever the umask', async () => {
    await unpack([{ name: 'plain', content: 'x', mode: 0o755 }, { name: 'group', content: 'y', mode: 0o2711 }]);
    expect(statSync(join(root, 'plain')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(root, 'group')).mode & 0o7777).toBe(0o2711);
  });

  it('lets a later entry replace an earlier one, replacing a symlink instead of writing through it', async () => {
    await unpack([
      { name: 'f', type: 'symlink', linkname: join(sentinel, 'precious') },
      { name: 'f', content: 'new' },
      { name: 'd/', type: 'directory' },
      { name: 'd/inner', content: 'old' },
      { name: 'd', content: 'now a file' },
    ]);
    expect(await fs.readFile(join(sentinel, 'precious'), 'utf8')).toBe('keep me');
    expect((await fs.lstat(join(root, 'f'))).isFile()).toBe(true);
    expect(await fs.readFile(join(root, 'f'), 'utf8')).toBe('new');
    expect(await fs.readFile(join(root, 'd'), 'utf8')).toBe('now a file');
  });

  it('refuses a layer whose diffID differs from the image config', async () => {
    const err = await unpack([{ name: 'x', content: 'x' }], true, `sha256:${'0'.repeat(64)}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).code).toBe('DigestMismatch');
  });

  it('refuses a corrupt gzip stream as an invalid layer', async () => {
    const good = gzipSync(await makeTar([{ name: 'x', content: 'x'.repeat(1000) }]));
    good[good.length - 5] = (good[good.length - 5]! + 1) % 256; // breaks the CRC trailer
    const err = await unpackLayer(Readable.from([good]), root, { compression: 'gzip' }).catch((e: unknown) => e);
    expect((err as ImageError).code).toBe('InvalidLayer');
  });

  it('refuses a truncated tar', async () => {
    const tar = await makeTar([{ name: 'x', content: 'x'.repeat(5000) }]);
    const err = await unpackLayer(Readable.from([tar.subarray(0, 2048)]), root, { compression: 'none' }).catch((e: unknown) => e);
    expect((err as ImageError).code).toBe('InvalidLayer');
  });

  it.skipIf(zstdSupported())('says clearly that zstd layers need a newer Node', async () => {
    const err = await unpackLayer(Readable.from([Buffer.alloc(0)]), root, { compression: 'zstd', what: 'layer sha256:abc' }).catch((e: unknown) => e);
    expect((err as ImageError).code).toBe('Unsupported');
    expect((err as ImageError).message).toMatch(/layer sha256:abc is zstd-compressed.*Node 22\.15/);
  });
});

describe('unpackLayer: hostile layers', () => {
  it('refuses a name that climbs out with ..', async () => {
    await expectRefused([{ name: '../../etc/x', content: 'owned' }], /climbs out/);
    await expectRefused([{ name: 'ok/../../../x', content: 'owned' }], /climbs out/);
  });

  it('confines an absolute name inside the root', async () => {
    const before = await tree(sentinel);
    await unpack([{ name: '/abs', content: 'inside' }, { name: '/a/b/x', content: 'deep' }]);
    expect(await fs.readFile(join(root, 'abs'), 'utf8')).toBe('inside');
    expect(await fs.readFile(join(root, 'a/b/x'), 'utf8')).toBe('deep');
    expect(await tree(sentinel)).toEqual(before);
  });

  it('never writes through a symlink: absolute, relative, or to a directory made earlier', async () => {
    await expectRefused([{ name: 'a', type: 'symlink', linkname: sentinel }, { name: 'a/x', content: 'owned' }], /through the symlink a/);
    await fs.rm(root, { recursive: true });
    await fs.mkdir(root);
    await expectRefused([{ name: 'up', type: 'symlink', linkname: '../../..' }, { name: 'up/precious', content: 'owned' }], /through the symlink up/);
    await fs.rm(root, { recursive: true });
    await fs.mkdir(root);
    await expectRefused(
      [{ name: 'd/', type: 'directory' }, { name: 'd', type: 'symlink', linkname: sentinel }, { name: 'd/sub/', type: 'directory' }],
      /through the symlink d/,
    );
  });

  it('refuses whiteouts and opaque markers placed through a symlink', async () => {
    await expectRefused([{ name: 'a', type: 'symlink', linkname: sentinel }, { name: 'a/.wh.precious' }], /through the symlink a/);
    await fs.rm(root, { recursive: true });
    await fs.mkdir(root);
    await expectRefused([{ name: 'a', type: 'symlink', linkname: sentinel }, { name: 'a/.wh..wh..opq' }], /through the symlink a/);
  });

  it('refuses a hard link to a host file, and links a layer-relative name to the layer\'s own file', async () => {
    const hostPasswd = statSync('/etc/passwd');
    await expectRefused([{ name: 'pw', type: 'link', linkname: '/etc/passwd' }], /not in this layer/);
    await expectRefused([{ name: 'pw', type: 'link', linkname: '../../precious' }], /climbs out/);
    await expectRefused([{ name: 's', type: 'symlink', linkname: '/etc' }, { name: 'pw', type: 'link', linkname: 's/passwd' }], /through the symlink s/);
    expect(statSync('/etc/passwd').nlink).toBe(hostPasswd.nlink);

    await fs.rm(root, { recursive: true });
    await fs.mkdir(root);
    await unpack([{ name: 'etc/passwd', content: 'layer' }, { name: 'pw', type: 'link', linkname: '/etc/passwd' }]);
    const pw = statSync(join(root, 'pw'));
    expect(pw.ino).toBe(statSync(join(root, 'etc/passwd')).ino);
    expect(pw.ino).not.toBe(hostPasswd.ino);
    expect(statSync('/etc/passwd').nlink).toBe(hostPasswd.nlink);
  });

  it('skips device nodes and fifos with a note, creating nothing', async () => {
    const res = await unpack([
      { name: 'dev/', type: 'directory' },
      { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
      { name: 'dev/mem', type: 'character-device', devmajor: 1, devminor: 1 },
      { name: 'dev/pipe', type: 'fifo' },
    ]);
    expect(res.skipped.map((s) => s.path)).toEqual(['dev/sda', 'dev/mem', 'dev/pipe']);
    expect(res.skipped[0]!.reason).toMatch(/block-device not created/);
    expect(await fs.readdir(join(root, 'dev'))).toEqual([]);
  });

  it('refuses a whiteout that names nothing', async () => {
    await expectRefused([{ name: 'dir/.wh.' }], /names no file/);
  });
});

describe('unpackLayer: whiteouts in overlayfs form', () => {
  it('turns .wh.NAME into a 0:0 character device and .wh..wh..opq into trusted.overlay.opaque=y', async () => {
    const res = await unpack([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.motd' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/.wh..wh..opq' },
      { name: 'var/cache/fresh', content: 'new' },
      { name: '.wh..wh.plnk', type: 'directory' },
    ]);
    expect(res.whiteouts).toEqual(['etc/motd']);
    expect(res.opaqueDirs).toEqual(['var/cache']);
    expect(res.skipped).toEqual([{ path: '.wh..wh.plnk', reason: 'aufs metadata' }]);
    const wh = statSync(join(root, 'etc/motd'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(await fs.readdir(join(root, 'etc'))).toEqual(['motd']);
    const opaque = execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(root, 'var/cache')], { encoding: 'utf8' });
    expect(opaque).toBe('y');
    expect(await fs.readdir(join(root, 'var/cache'))).toEqual(['fresh']);
  });
});
