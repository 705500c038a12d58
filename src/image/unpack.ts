/**
 * Secure layer unpacking: one layer tar (gzip, plain, or zstd where Node has it) into its own
 * directory, in the form overlayfs reads as a lower layer. Nothing it writes can land outside that
 * directory, whatever the tar says.
 *
 * The rules, and why:
 * - Entry names are confined: a leading `/` is dropped (as GNU tar does) and a name whose `..`
 *   climbs above the root refuses the whole layer (no real image needs it; it only ever attacks).
 * - The unpacker never follows a symlink while writing. Each parent directory of an entry is
 *   checked with lstat and a symlink there refuses the layer; the entry itself is created with
 *   O_EXCL|O_NOFOLLOW after removing whatever was at its path. Symlinks may point anywhere: they
 *   are resolved inside the container, never here.
 * - Hard links must name a file already in this layer, reached without crossing a symlink, so a
 *   link can never pin a host file (a link to `/etc/passwd` means the layer's own etc/passwd).
 * - Device nodes and fifos are skipped with a note in the result: a container gets its /dev from
 *   the runtime, and a node in an image is either useless or an attack. Skipping (not refusing)
 *   keeps old images that carry /dev entries pullable.
 * - Whiteouts become what overlayfs expects of a lower layer: `.wh.NAME` a 0:0 character device
 *   at NAME, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory. Node has
 *   neither mknod nor setxattr, so these two spawn `mknod` (coreutils) and `setfattr` (Debian's
 *   `attr`); other `.wh..wh.` aufs metadata is skipped.
 * - Modes (setuid/setgid/sticky included, exactly as the image says), uid/gid and mtimes are
 *   applied; ownership before mode, since chown clears setuid. Directory mtimes are set last, as
 *   writing their children changes them. Extended attributes from PAX headers are not applied.
 *
 * The directory is assumed private to this call (the content store makes a fresh one), so the
 * lstat checks cannot race another writer.
 */
import { execFile } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { constants as fsc, promises as fs } from 'node:fs';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { parseDigest, type DigestAlgorithm } from './digest.js';
import { ImageError } from './errors.js';
import type { LayerCompression } from './manifest.js';

export interface UnpackOptions {
  compression: LayerCompression;
  /** The layer's diffID from the image config; a different uncompressed digest refuses the layer. */
  diffID?: string;
  /** Names the layer in errors, e.g. its blob digest. */
  what?: string;
}

export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface UnpackResult {
  /** sha256 of the uncompressed tar, as the image config's rootfs.diff_ids names it. */
  diffID: string;
  /** Entries applied (files, dirs, links, whiteouts). */
  entries: number;
  /** Entries deliberately not applied (device nodes, fifos, aufs metadata), with why. */
  skipped: SkippedEntry[];
  /** Whiteouts (paths hidden from lower layers) and opaque directories, relative to the root. */
  whiteouts: string[];
  opaqueDirs: string[];
}

/** True when this Node can decompress zstd layers (zlib gained it in Node 22.15 / 23.8). */
export function zstdSupported(): boolean {
  return typeof (zlib as unknown as Record<string, unknown>).createZstdDecompress === 'function';
}

function decompressor(compression: LayerCompression, what: string): Transform | undefined {
  switch (compression) {
    case 'gzip':
      return zlib.createGunzip();
    case 'none':
      return undefined;
    case 'zstd': {
      const make = (zlib as unknown as Record<string, unknown>).createZstdDecompress;
      if (typeof make !== 'function') {
        throw new ImageError('Unsupported', `${what} is zstd-compressed and Node ${process.version} cannot decompress zstd (it needs Node 22.15 or later)`);
      }
      return (make as () => Transform)();
    }
  }
}

/** Hashes the uncompressed tar on its way to the extractor: that hash is the diffID. */
class TarHasher extends Transform {
  private readonly hash: Hash;
  constructor(private readonly algorithm: DigestAlgorithm) {
    super();
    this.hash = createHash(algorithm);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, _stdout, stderr) => {
      // Whiteouts need root, coreutils' mknod and attr's setfattr; say which failed and how.
      if (err) reject(new ImageError('Unsupported', `writing a whiteout: ${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

/**
 * Unpacks one layer from `source` into `dest` (an existing, empty, private directory).
 *
 * @example
 *   await unpackLayer(createReadStream(blobPath), dir, { compression: 'gzip', diffID: 'sha256:…' });
 */
export async function unpackLayer(source: Readable, dest: string, options: UnpackOptions): Promise<UnpackResult> {
  const what = options.what ?? 'layer';
  const unsafe = (rule: string): ImageError => new ImageError('UnsafeLayer', `${what}: ${rule}; refused`);
  const decomp = decompressor(options.compression, what);
  const hasher = new TarHasher(options.diffID === undefined ? 'sha256' : parseDigest(options.diffID, `${what} diffID`).algorithm);
  const extract = tar.extract();
  const result: UnpackResult = { diffID: '', entries: 0, skipped: [], whiteouts: [], opaqueDirs: [] };
  const dirTimes: Array<{ path: string; mtime: Date }> = [];

  const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [source];
  if (decomp) stages.push(decomp);
  stages.push(hasher, extract);
  const piping = (pipeline as (...s: Array<NodeJS.ReadableStream | NodeJS.WritableStream>) => Promise<void>)(...stages);
  // Read below, once the entries are consumed; until then a failure also surfaces through `extract`.
  piping.catch(() => undefined);

  /** The entry name as components under the root; [] is the root itself. */
  const components = (name: string, kind: string): string[] => {
    if (name.includes('\0')) throw unsafe(`${kind} ${JSON.stringify(name)} contains a NUL byte`);
    const rel = posix.normalize(name.replace(/^\/+/, ''));
    if (rel === '..' || rel.startsWith('../')) throw unsafe(`${kind} ${JSON.stringify(name)} climbs out of the layer root`);
    if (rel === '.' || rel === './' || rel === '') return [];
    return rel.replace(/\/+$/, '').split('/');
  };

  /**
   * Walks (and, when `create`, makes) the directories `parts` under the root, refusing symlinks and
   * non-directories, and returns the host path of the last one.
   */
  const walkDirs = async (parts: string[], entry: string, create: boolean): Promise<string> => {
    let p = dest;
    for (const [i, part] of parts.entries()) {
      p = join(p, part);
      let st;
      try {
        st = await fs.lstat(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) throw err;
        await fs.mkdir(p, 0o755);
        continue;
      }
      if (st.isSymbolicLink()) throw unsafe(`${JSON.stringify(entry)} would be written through the symlink ${parts.slice(0, i + 1).join('/')}`);
      if (!st.isDirectory()) throw unsafe(`${JSON.stringify(entry)} has a parent that is not a directory`);
    }
    return p;
  };

  /** Clears the path for a new entry: a file or link is unlinked, a directory removed whole. */
  const clear = async (p: string, keepDir: boolean): Promise<boolean> => {
    let st;
    try {
      st = await fs.lstat(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if (st.isDirectory()) {
      if (keepDir) return true;
      await fs.rm(p, { recursive: true, force: true });
    } else {
      await fs.unlink(p);
    }
    return false;
  };

  const drain = async (stream: AsyncIterable<Buffer>): Promise<void> => {
    for await (const _ of stream) void _;
  };

  const apply = async (header: tar.Header, stream: AsyncIterable<Buffer>): Promise<void> => {
    const type = header.type ?? 'file';
    const parts = components(header.name, 'entry');
    const name = parts.join('/') || '.';
    const base = parts[parts.length - 1];
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    const mode = (header.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o7777;
    const mtime = header.mtime ?? new Date(0);

    if (base !== undefined && base.startsWith('.wh.')) {
      await drain(stream);
      const hidden = base.slice('.wh.'.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw unsafe(`whiteout ${JSON.stringify(header.name)} names no file`);
      const dir = await walkDirs(parts.slice(0, -1), name, true);
      const parentName = parts.slice(0, -1).join('/') || '.';
      if (base === '.wh..wh..opq') {
        await run('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', dir]);
        result.opaqueDirs.push(parentName);
      } else if (base.startsWith('.wh..wh.')) {
        result.skipped.push({ path: name, reason: 'aufs metadata' });
        return;
      } else {
        const target = join(dir, hidden);
        await clear(target, false);
        await run('mknod', ['-m', '000', target, 'c', '0', '0']);
        result.whiteouts.push(parts.slice(0, -1).concat(hidden).join('/'));
      }
      result.entries++;
      return;
    }

    if (parts.length === 0) {
      // `./` itself: only a directory may describe the root, and it sets the rootfs's own metadata.
      await drain(stream);
      if (type !== 'directory') throw unsafe(`a ${type} entry names the layer root`);
      await fs.lchown(dest, uid, gid);
      await fs.chmod(dest, mode);
      dirTimes.push({ path: dest, mtime });
      result.entries++;
      return;
    }

    const parent = await walkDirs(parts.slice(0, -1), name, true);
    const target = join(parent, base!);

    switch (type) {
      case 'directory': {
        await drain(stream);
        const existed = await clear(target, true);
        if (!existed) await fs.mkdir(target, 0o700);
        await fs.lchown(target, uid, gid);
        await fs.chmod(target, mode);
        dirTimes.push({ path: target, mtime });
        break;
      }
      case 'file':
      case 'contiguous-file': {
        await clear(target, false);
        const fh = await fs.open(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of stream) await fh.write(chunk);
          await fh.chown(uid, gid);
          await fh.chmod(mode);
          await fh.utimes(mtime, mtime);
        } finally {
          await fh.close();
        }
        break;
      }
      case 'symlink': {
        await drain(stream);
        const link = header.linkname ?? '';
        if (link === '') throw unsafe(`symlink ${JSON.stringify(name)} has no target`);
        await clear(target, false);
        await fs.symlink(link, target);
        await fs.lchown(target, uid, gid);
        await fs.lutimes(target, mtime, mtime);
        break;
      }
      case 'link': {
        await drain(stream);
        const linkParts = components(header.linkname ?? '', 'hard link target');
        if (linkParts.length === 0) throw unsafe(`hard link ${JSON.stringify(name)} points at the layer root`);
        const linkDir = await walkDirs(linkParts.slice(0, -1), `hard link target ${header.linkname}`, false).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw unsafe(`hard link ${JSON.stringify(name)} targets ${JSON.stringify(header.linkname)}, which is not in this layer`);
          throw err;
        });
        const source = join(linkDir, linkParts[linkParts.length - 1]!);
        const st = await fs.lstat(source).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw unsafe(`hard link ${JSON.stringify(name)} targets ${JSON.stringify(header.linkname)}, which is not in this layer`);
          throw err;
        });
        if (st.isDirectory()) throw unsafe(`hard link ${JSON.stringify(name)} targets a directory`);
        if (source === target) break;
        await clear(target, false);
        await fs.link(source, target);
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await drain(stream);
        result.skipped.push({ path: name, reason: `${type} not created: the runtime provides /dev` });
        return;
      default:
        await drain(stream);
        result.skipped.push({ path: name, reason: `unknown tar entry type ${String(type)}` });
        return;
    }
    result.entries++;
  };

  try {
    for await (const entry of extract) {
      // streamx streams are async-iterable at run time; its typings just do not say so.
      await apply(entry.header, entry as unknown as AsyncIterable<Buffer>);
    }
    await piping;
  } catch (err) {
    source.destroy();
    await piping.catch(() => undefined);
    if (err instanceof ImageError) throw err;
    // Host-side failures (ENOSPC, EACCES) carry a syscall and pass on as they are; the rest are the layer's fault.
    if ((err as NodeJS.ErrnoException).syscall === undefined) {
      throw new ImageError('InvalidLayer', `${what} is not a valid ${options.compression === 'none' ? '' : `${options.compression} `}tar: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }

  // Deepest first, so setting a parent's time is not undone by touching a child.
  dirTimes.sort((a, b) => b.path.length - a.path.length);
  for (const d of dirTimes) await fs.lutimes(d.path, d.mtime, d.mtime);

  result.diffID = hasher.digest();
  if (options.diffID !== undefined && options.diffID !== result.diffID) {
    throw new ImageError('DigestMismatch', `${what} uncompressed to ${result.diffID}, but the image config says its diffID is ${options.diffID}; refused`);
  }
  return result;
}
