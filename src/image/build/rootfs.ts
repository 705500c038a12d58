/**
 * Writing into an image's root filesystem from the host (COPY, ADD, WORKDIR) without ever leaving
 * it: every path is resolved as a process chrooted there would resolve it — symlinks in the image
 * followed inside the image, `..` stopping at its root — so an image whose /app is a symlink to
 * /srv gets COPY's files in /srv, and one whose /app links to `../../..` cannot reach the host.
 * Final components are created with O_EXCL|O_NOFOLLOW after removing what was there.
 *
 * Nothing else writes the root while a step runs (no container is running), so a path checked
 * stays what it was checked to be.
 */
import { constants as fsc, promises as fs, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { BuildError } from './errors.js';

const MAX_LINKS = 40;

export interface Ownership {
  readonly uid: number;
  readonly gid: number;
}

export interface FileAttrs extends Ownership {
  /** Permission bits, setuid/setgid/sticky included. */
  readonly mode: number;
  readonly mtime?: Date;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

export class RootFS {
  constructor(
    /** The root on the host (a mounted snapshot). */
    readonly root: string,
  ) {}

  /**
   * The host path `path` names inside the root. Symlinks are followed inside the root, the last
   * component's only when `followLast`; missing components are kept as written.
   *
   * @example await new RootFS('/snap/rootfs').resolve('/app/x') // '/snap/rootfs/srv/x' when /app -> /srv
   */
  async resolve(path: string, followLast = true): Promise<string> {
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
      const host = join(this.root, ...done, name);
      let st: Stats | undefined;
      try {
        st = await fs.lstat(host);
      } catch (err) {
        if (errno(err) !== 'ENOENT' && errno(err) !== 'ENOTDIR') throw err;
      }
      if (st?.isSymbolicLink() && (todo.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw new BuildError(`${path}: too many levels of symbolic links in the image`);
        const target = await fs.readlink(host);
        if (target.startsWith('/')) done.length = 0;
        todo = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...todo];
        continue;
      }
      done.push(name);
    }
    return join(this.root, ...done);
  }

  /** lstat of what `path` names (symlinks on the way followed, the last one not), or undefined. */
  async lstat(path: string): Promise<Stats | undefined> {
    try {
      return await fs.lstat(await this.resolve(path, false));
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  /** stat of what `path` names, following a final symlink too (inside the root), or undefined. */
  async stat(path: string): Promise<Stats | undefined> {
    try {
      return await fs.lstat(await this.resolve(path, true));
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  /** A regular file's text, or undefined when missing or not a regular file (e.g. /etc/passwd). */
  async readText(path: string): Promise<string | undefined> {
    const host = await this.resolve(path, true);
    const st = await this.stat(path);
    if (st === undefined || !st.isFile()) return undefined;
    return fs.readFile(host, 'utf8');
  }

  /**
   * Makes `path` and its missing parents directories (mode 0755 unless given, owned as given);
   * existing ones are left as they are. Returns the host path of the directory.
   */
  async mkdirAll(path: string, owner: Ownership = { uid: 0, gid: 0 }, mode = 0o755): Promise<string> {
    const parts = path.split('/').filter((c) => c !== '' && c !== '.');
    let current = '/';
    for (const name of parts) {
      current = posix.join(current, name);
      const host = await this.resolve(current, true);
      let st: Stats | undefined;
      try {
        st = await fs.lstat(host);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
      }
      if (st === undefined) {
        await fs.mkdir(host, { mode });
        await fs.lchown(host, owner.uid, owner.gid);
        await fs.chmod(host, mode); // exactly, whatever the umask
      } else if (!st.isDirectory()) {
        throw new BuildError(`${current} exists in the image and is not a directory`);
      }
    }
    return this.resolve(path, true);
  }

  /** Where a new entry `path` goes: its parent made (as `parentOwner`), whatever was at the name removed unless a directory. */
  private async place(path: string, parentOwner: Ownership, replaceDir: boolean): Promise<string> {
    const parent = await this.mkdirAll(posix.dirname(posix.resolve('/', path)), parentOwner);
    const host = join(parent, posix.basename(posix.resolve('/', path)));
    let st: Stats | undefined;
    try {
      st = await fs.lstat(host);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
    if (st?.isDirectory()) {
      if (!replaceDir) throw new BuildError(`cannot replace the directory ${path} in the image with a file`);
      await fs.rm(host, { recursive: true });
    } else if (st !== undefined) {
      await fs.unlink(host);
    }
    return host;
  }

  /** Writes a regular file with exactly these attributes, replacing a file or link at `path`. */
  async writeFile(path: string, content: Readable, attrs: FileAttrs, parentOwner: Ownership = { uid: 0, gid: 0 }): Promise<void> {
    const host = await this.place(path, parentOwner, false);
    const fh = await fs.open(host, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      // Our own loop on the handle: we keep the fd for chown/chmod/utimes after the bytes.
      for await (const chunk of content as AsyncIterable<Buffer>) await fh.write(chunk);
      // Owner before mode: chown clears setuid and setgid.
      await fh.chown(attrs.uid, attrs.gid);
      await fh.chmod(attrs.mode);
      if (attrs.mtime !== undefined) await fh.utimes(attrs.mtime, attrs.mtime);
    } finally {
      await fh.close();
    }
  }

  /** Makes a symlink (its target is kept as written: it is resolved inside the container). */
  async symlink(path: string, target: string, attrs: Ownership & { mtime?: Date }, parentOwner: Ownership = { uid: 0, gid: 0 }): Promise<void> {
    const host = await this.place(path, parentOwner, false);
    await fs.symlink(target, host);
    await fs.lchown(host, attrs.uid, attrs.gid);
    if (attrs.mtime !== undefined) await fs.lutimes(host, attrs.mtime, attrs.mtime);
  }

  /** Makes `path` a hard link to the existing regular file `existing` (both inside the root). */
  async hardlink(path: string, existing: string, parentOwner: Ownership = { uid: 0, gid: 0 }): Promise<void> {
    const from = await this.resolve(existing, false);
    const st = await fs.lstat(from).catch(() => undefined);
    if (st === undefined || !st.isFile()) throw new BuildError(`cannot link ${path} to ${existing}: not a regular file in the image`);
    const host = await this.place(path, parentOwner, false);
    await fs.link(from, host);
  }

  /**
   * Makes `path` a directory with these attributes: an existing directory takes them, anything
   * else at the path is replaced.
   */
  async dir(path: string, attrs: FileAttrs, parentOwner: Ownership = { uid: 0, gid: 0 }): Promise<void> {
    const existing = await this.lstat(path);
    let host: string;
    if (existing?.isDirectory()) {
      host = await this.resolve(path, false);
    } else {
      host = await this.place(path, parentOwner, false);
      await fs.mkdir(host);
    }
    await fs.lchown(host, attrs.uid, attrs.gid);
    await fs.chmod(host, attrs.mode);
  }

  /** Sets a directory's mtime (after its children are written, as writing them changes it). */
  async setTimes(path: string, mtime: Date): Promise<void> {
    await fs.lutimes(await this.resolve(path, false), mtime, mtime);
  }
}
