/**
 * resolveInRoot: an image's symlinks resolve inside its rootfs, never onto the host's files.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileInRoot, resolveInRoot } from './rootfs.js';

describe('resolveInRoot', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-rootfs-'));
    await mkdir(join(root, 'etc'));
    await mkdir(join(root, 'real'));
    await writeFile(join(root, 'real', 'passwd'), 'inside\n');
    await symlink('/etc/hostname', join(root, 'etc', 'abs')); // the host has /etc/hostname; the rootfs does not
    await symlink('../../../../../etc/passwd', join(root, 'etc', 'climb'));
    await symlink('/real/passwd', join(root, 'etc', 'passwd'));
    await symlink('loop2', join(root, 'loop1'));
    await symlink('loop1', join(root, 'loop2'));
    await symlink('/real', join(root, 'dirlink'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('follows links inside the root', () => {
    expect(resolveInRoot(root, '/etc/passwd')).toBe(join(root, 'real', 'passwd'));
    expect(resolveInRoot(root, '/dirlink/passwd')).toBe(join(root, 'real', 'passwd'));
    expect(readFileInRoot(root, '/etc/passwd')).toBe('inside\n');
  });

  it('keeps absolute links and .. inside the root', () => {
    expect(resolveInRoot(root, '/etc/abs')).toBeUndefined();
    // ../../../../../etc/passwd from /etc climbs no higher than the root, then follows /etc/passwd.
    expect(resolveInRoot(root, '/etc/climb')).toBe(join(root, 'real', 'passwd'));
    expect(readFileInRoot(root, '/../../etc/hostname')).toBeUndefined();
  });

  it('gives up on loops and missing files; reads only regular files', () => {
    expect(resolveInRoot(root, '/loop1')).toBeUndefined();
    expect(resolveInRoot(root, '/etc/group')).toBeUndefined();
    expect(readFileInRoot(root, '/real')).toBeUndefined();
  });
});
