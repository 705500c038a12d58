/**
 * Task-scoped volumes: a directory per (task, volume) that the task's containers bind, created
 * with the task and removed with it, filled from the image the first time as Docker fills a new volume.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CONTAINER_ID_PATTERN } from './driver.js';
import { invalidSpec, RuntimeError } from './errors.js';
import { resolveInRoot } from './runc/rootfs.js';

const run = promisify(execFile);

/** ECS's rule for volume names. */
const VOLUME_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * @example
 *   const volumes = new TaskVolumes('/var/lib/berth/volumes');
 *   const dir = await volumes.create('task-1', 'scratch');      // bind it: { sourcePath: dir, containerPath: '/data' }
 *   await volumes.populate(dir, rootfs, '/data');                // the image's /data, if the volume is empty
 *   await volumes.remove('task-1');                              // when the task has stopped
 */
export class TaskVolumes {
  constructor(readonly root: string) {}

  /** The volume's directory, made empty when missing (again: the same directory). */
  async create(taskId: string, volume: string): Promise<string> {
    if (!CONTAINER_ID_PATTERN.test(taskId)) throw invalidSpec('taskId', `"${taskId}" must be an id (letters, digits, '_', '.', '-')`);
    if (!VOLUME_NAME.test(volume)) throw invalidSpec('volume', `"${volume}" must be 1-255 letters, digits, '_' or '-'`);
    const dir = join(this.root, taskId, volume);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Docker's rule for a new volume: when it is still empty and the image has a directory at
   * containerPath, the volume starts as a copy of it (owners, modes and links kept; links copied,
   * never followed). Returns whether it copied. The path is looked up with the rootfs as root.
   */
  async populate(dir: string, rootfs: string, containerPath: string): Promise<boolean> {
    if ((await readdir(dir)).length > 0) return false;
    const source = resolveInRoot(rootfs, containerPath);
    if (source === undefined || !(await lstat(source)).isDirectory()) return false;
    try {
      await run('cp', ['-a', '--no-dereference', '--', `${source}/.`, `${dir}/`]);
    } catch (err) {
      throw new RuntimeError('RuntimeFailed', `copying the image's ${containerPath} into volume ${dir}: ${String((err as { stderr?: string }).stderr ?? err)}`, { cause: err });
    }
    return true;
  }

  /** Removes every volume of the task; removing a task with none is fine. */
  async remove(taskId: string): Promise<void> {
    if (!CONTAINER_ID_PATTERN.test(taskId)) throw invalidSpec('taskId', `"${taskId}" must be an id (letters, digits, '_', '.', '-')`);
    await rm(join(this.root, taskId), { recursive: true, force: true });
  }
}
