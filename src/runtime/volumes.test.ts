/**
 * TaskVolumes: per-task directories, Docker's first-use copy from the image, removal with the task.
 */
import { chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRuntimeError } from './errors.js';
import { TaskVolumes } from './volumes.js';

describe('TaskVolumes', () => {
  let tmp: string;
  let rootfs: string;
  let volumes: TaskVolumes;

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-volumes-'));
    rootfs = join(tmp, 'rootfs');
    await mkdir(join(rootfs, 'data', 'sub'), { recursive: true });
    await writeFile(join(rootfs, 'data', 'seed.txt'), 'seed\n');
    await chown(join(rootfs, 'data', 'seed.txt'), 1000, 2000);
    await symlink('/etc/passwd', join(rootfs, 'data', 'link'));
    await symlink('/data', join(rootfs, 'linked'));
    volumes = new TaskVolumes(join(tmp, 'volumes'));
  });
  afterEach(() => rm(tmp, { recursive: true, force: true }));

  it('gives each task and volume its own empty directory, the same one when asked again', async () => {
    const a = await volumes.create('task-1', 'scratch');
    expect(a).toBe(join(tmp, 'volumes', 'task-1', 'scratch'));
    expect(await readdir(a)).toEqual([]);
    await writeFile(join(a, 'kept'), '');
    expect(await volumes.create('task-1', 'scratch')).toBe(a);
    expect(await readdir(a)).toEqual(['kept']);
    expect(await volumes.create('task-2', 'scratch')).not.toBe(a);
  });

  it("fills a new volume with the image's content at its path, owners and links kept", async () => {
    const dir = await volumes.create('task-1', 'data');
    expect(await volumes.populate(dir, rootfs, '/data')).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(['link', 'seed.txt', 'sub']);
    expect(await readFile(join(dir, 'seed.txt'), 'utf8')).toBe('seed\n');
    const st = await lstat(join(dir, 'seed.txt'));
    expect([st.uid, st.gid]).toEqual([1000, 2000]);
    expect(await readlink(join(dir, 'link'))).toBe('/etc/passwd'); // copied as a link, never followed
  });

  it('copies nothing into a volume that has content, or from a path the image lacks', async () => {
    const dir = await volumes.create('task-1', 'data');
    await writeFile(join(dir, 'mine'), '');
    expect(await volumes.populate(dir, rootfs, '/data')).toBe(false);
    expect(await readdir(dir)).toEqual(['mine']);
    const other = await volumes.create('task-1', 'other');
    expect(await volumes.populate(other, rootfs, '/nothing/here')).toBe(false);
    expect(await volumes.populate(other, rootfs, '/data/seed.txt')).toBe(false);
  });

  it("resolves the image's links inside its rootfs, never on the host", async () => {
    const dir = await volumes.create('task-1', 'data');
    expect(await volumes.populate(dir, rootfs, '/linked')).toBe(true);
    expect(await readdir(dir)).toContain('seed.txt');
    await symlink('/etc', join(rootfs, 'hostetc')); // the rootfs has no /etc: nothing to copy
    const other = await volumes.create('task-1', 'etc');
    expect(await volumes.populate(other, rootfs, '/hostetc')).toBe(false);
    expect(await readdir(other)).toEqual([]);
  });

  it('removes all volumes of a task, and refuses names that could leave the volume root', async () => {
    await volumes.create('task-1', 'a');
    await volumes.create('task-1', 'b');
    await volumes.remove('task-1');
    await volumes.remove('task-1');
    expect(await readdir(join(tmp, 'volumes'))).toEqual([]);
    for (const [task, vol] of [['..', 'a'], ['task-1', '../x'], ['task-1', ''], ['a/b', 'v']] as const) {
      const err = await volumes.create(task, vol).catch((e: unknown) => e);
      expect(isRuntimeError(err, 'InvalidSpec')).toBe(true);
    }
  });
});
