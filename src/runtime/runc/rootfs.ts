/**
 * Reading a file of an image's rootfs from the host, with the rootfs as the root: symlinks in an
 * image (/etc/passwd -> /etc/shadow, ../../..) resolve inside it, never to the host's files.
 */
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const MAX_LINKS = 40; // Linux's own bound on symlinks followed in one lookup (ELOOP)

/**
 * The host path `path` names when `root` is `/`, or undefined if a component is missing or there
 * are too many links. `..` stops at the root, as it does for a process chrooted there.
 *
 * Synchronous: a few lstats of cached inodes on the path of every container create, where
 * fs.promises would cost a thread-pool round trip each.
 *
 * @example resolveInRoot('/snap/rootfs', '/etc/passwd') // '/snap/rootfs/etc/passwd'
 */
export function resolveInRoot(root: string, path: string): string | undefined {
  const done: string[] = [];
  let todo = path.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  while (todo.length > 0) {
    const [name, ...rest] = todo as [string, ...string[]];
    todo = rest;
    if (name === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, name);
    let st;
    try {
      st = lstatSync(host);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = readlinkSync(host);
      if (target.startsWith('/')) done.length = 0;
      todo = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...todo];
      continue;
    }
    done.push(name);
  }
  return join(root, ...done);
}

/** The text of a rootfs file, or undefined when it does not exist (or is not a regular file). */
export function readFileInRoot(root: string, path: string): string | undefined {
  const host = resolveInRoot(root, path);
  if (host === undefined) return undefined;
  if (!lstatSync(host).isFile()) return undefined;
  return readFileSync(host, 'utf8');
}
