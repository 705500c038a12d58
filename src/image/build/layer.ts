/**
 * A build step's changes as an OCI layer: the overlayfs upper directory of the step's snapshot,
 * read as a diff and written as a gzip tar with its two digests (the blob's, and the diffID of the
 * uncompressed tar).
 *
 * overlayfs records a deletion in the upper dir as a 0:0 character device at the name, and a
 * directory that replaces a lower one as `trusted.overlay.opaque=y`; the OCI layer format says
 * `.wh.NAME` and `.wh..wh..opq` instead, so they are translated. Hard links inside the upper dir
 * stay hard links. A redirect or metacopy xattr (overlayfs's redirect_dir/metacopy features) means
 * the upper dir is not a full diff, so such a layer is refused rather than written wrong.
 *
 * runc makes mount points it needs (/proc, /dev, /sys, /etc/hosts, …) when the image lacks them;
 * Docker keeps them out of images and so does `dropMountArtifacts`.
 */
import { execFile } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { BuildError } from './errors.js';
import type { RootFS } from './rootfs.js';

export type UpperType = 'file' | 'dir' | 'symlink' | 'whiteout' | 'fifo' | 'char' | 'block';

export interface UpperEntry {
  /** Relative to the upper dir, `/`-separated, no leading `/`. */
  readonly path: string;
  readonly type: UpperType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: Date;
  readonly linkTarget?: string;
  /** A directory that hides everything below it in the lower layers. */
  readonly opaque?: boolean;
  readonly devMajor?: number;
  readonly devMinor?: number;
  readonly ino: number;
  readonly nlink: number;
}

/** What a path looked like before a step ran; undefined when it did not exist. */
export interface PathAttrs {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** Where runc mounts over the root (or creates a mount point in it) when it starts a container. */
export const MOUNT_TARGETS: readonly string[] = ['proc', 'sys', 'dev', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf'];

function major(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
}

function minor(rdev: number): number {
  return Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
}

function typeOf(st: Stats): UpperType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return st.rdev === 0 ? 'whiteout' : 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not content
}

/** Undoes getfattr's escaping of file names (`\ooo` octal bytes, `\\`). */
function unescapeGetfattr(name: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '\\' && /^[0-7]{3}$/.test(name.slice(i + 1, i + 4))) {
      bytes.push(parseInt(name.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (name[i] === '\\' && name[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 1;
    } else {
      bytes.push(...Buffer.from(name[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The overlayfs xattrs under `dir`, by absolute path (getfattr, from Debian's `attr`, since Node
 * has no getxattr; one recursive call for the whole tree).
 */
export async function overlayXattrs(dir: string): Promise<Map<string, Map<string, string>>> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile('getfattr', ['--absolute-names', '-R', '-P', '-h', '-d', '-e', 'text', '-m', '^trusted\\.overlay\\.', dir], { maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new BuildError(`reading overlayfs attributes of ${dir} failed (getfattr, from the attr package): ${stderr.trim() || err.message}`, undefined, { cause: err }));
      else resolve(stdout);
    });
  });
  const result = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = new Map();
      result.set(unescapeGetfattr(line.slice('# file: '.length)), current);
      continue;
    }
    const m = /^([^=]+)="?(.*?)"?$/.exec(line);
    if (m !== null && current !== undefined) current.set(m[1]!, m[2]!);
  }
  return result;
}

/**
 * Everything in an upper dir, parents before children, names sorted; whiteouts and opaque
 * directories marked.
 */
export async function scanUpper(upper: string): Promise<UpperEntry[]> {
  const xattrs = await overlayXattrs(upper);
  for (const [path, attrs] of xattrs) {
    for (const name of ['trusted.overlay.redirect', 'trusted.overlay.metacopy']) {
      if (attrs.has(name)) {
        throw new BuildError(
          `overlayfs marked ${path} with ${name}: this host mounts overlays with redirect_dir or metacopy on, so a step's changes cannot be read as a layer; ` +
            'set the overlay module parameters redirect_dir=off and metacopy=off',
        );
      }
    }
  }
  const entries: UpperEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fs.readdir(join(upper, rel))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const host = join(upper, path);
      const st = await fs.lstat(host);
      const type = typeOf(st);
      if (type === undefined) continue;
      entries.push({
        path,
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: type === 'file' ? st.size : 0,
        mtime: st.mtime,
        ino: st.ino,
        nlink: st.nlink,
        ...(type === 'symlink' ? { linkTarget: await fs.readlink(host) } : {}),
        ...(type === 'dir' && xattrs.get(host)?.get('trusted.overlay.opaque') === 'y' ? { opaque: true } : {}),
        ...(type === 'char' || type === 'block' ? { devMajor: major(st.rdev), devMinor: minor(st.rdev) } : {}),
      });
      if (type === 'dir') await walk(path);
    }
  };
  await walk('');
  return entries;
}

/**
 * For each mount target: the path runc will mount at (symlinks followed inside the root), and what
 * that path and each of its parents looked like before the step. Taken before the container starts.
 */
export async function mountTargetsBefore(root: RootFS): Promise<{ leaves: string[]; before: Map<string, PathAttrs | undefined> }> {
  const leaves: string[] = [];
  const before = new Map<string, PathAttrs | undefined>();
  for (const target of MOUNT_TARGETS) {
    const host = await root.resolve(`/${target}`, true);
    const rel = posix.relative('/', `/${host.slice(root.root.length)}`);
    if (rel === '' || rel.startsWith('..')) continue;
    leaves.push(rel);
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (before.has(p)) continue;
      const st = await fs.lstat(join(root.root, p)).catch(() => undefined);
      before.set(p, st === undefined ? undefined : { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
    }
  }
  return { leaves, before };
}

/**
 * Drops from a step's diff what runc made to mount over: a mount point that did not exist before
 * and is still empty, and a parent it made (or merely copied up) that holds nothing else now and
 * has not changed owner or mode. Pure.
 */
export function dropMountArtifacts(entries: readonly UpperEntry[], leaves: readonly string[], before: ReadonlyMap<string, PathAttrs | undefined>): UpperEntry[] {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const children = (dir: string) => entries.filter((e) => posix.dirname(e.path) === dir);
  const drop = new Set<string>();
  for (const leaf of leaves) {
    const e = byPath.get(leaf);
    if (e === undefined || before.get(leaf) !== undefined || e.opaque) continue;
    const empty = (e.type === 'dir' && children(leaf).length === 0) || (e.type === 'file' && e.size === 0);
    if (!empty) continue;
    drop.add(leaf);
    // Walk up: a parent goes too when everything left in it is going.
    for (let dir = posix.dirname(leaf); dir !== '.'; dir = posix.dirname(dir)) {
      const d = byPath.get(dir);
      if (d === undefined || d.type !== 'dir' || d.opaque) break;
      if (!children(dir).every((c) => drop.has(c.path))) break;
      const was = before.get(dir);
      if (was !== undefined && (was.mode !== d.mode || was.uid !== d.uid || was.gid !== d.gid)) break;
      drop.add(dir);
    }
  }
  return entries.filter((e) => !drop.has(e.path));
}

/** Hashes what flows through; counts it too. */
class Hasher extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

export interface WrittenLayer {
  /** sha256 of the gzip blob. */
  readonly digest: string;
  readonly size: number;
  /** sha256 of the uncompressed tar. */
  readonly diffID: string;
}

function header(e: UpperEntry, name: string): Partial<tar.Header> & { name: string } {
  return { name, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
}

/**
 * Writes `entries` of the upper dir `upper` to `out` as a gzip tar layer.
 *
 * @example const layer = await writeLayer(upper, dropMountArtifacts(await scanUpper(upper), leaves, before), '/tmp/layer.tgz')
 */
export async function writeLayer(upper: string, entries: readonly UpperEntry[], out: string): Promise<WrittenLayer> {
  const pack = tar.pack();
  const tarHash = new Hasher();
  const blobHash = new Hasher();
  const writing = pipeline(pack, tarHash, zlib.createGzip(), blobHash, createWriteStream(out, { mode: 0o600 }));
  const add = (h: Partial<tar.Header> & { name: string }, body?: string): Promise<void> =>
    new Promise((resolve, reject) => {
      pack.entry(h, body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  const linked = new Map<number, string>();
  try {
    for (const e of entries) {
      switch (e.type) {
        case 'dir':
          await add({ ...header(e, `${e.path}/`), type: 'directory' });
          // Opaque: the directory replaces the lower one; say so right after it, as Docker does.
          if (e.opaque) await add({ ...header(e, `${e.path}/.wh..wh..opq`), mode: e.mode & 0o777, type: 'file' });
          break;
        case 'whiteout': {
          const dir = posix.dirname(e.path);
          await add({ ...header(e, `${dir === '.' ? '' : `${dir}/`}.wh.${posix.basename(e.path)}`), type: 'file' });
          break;
        }
        case 'symlink':
          await add({ ...header(e, e.path), type: 'symlink', linkname: e.linkTarget ?? '' });
          break;
        case 'file': {
          const first = e.nlink > 1 ? linked.get(e.ino) : undefined;
          if (first !== undefined) {
            await add({ ...header(e, e.path), type: 'link', linkname: first });
            break;
          }
          if (e.nlink > 1) linked.set(e.ino, e.path);
          await new Promise<void>((resolve, reject) => {
            const sink = pack.entry({ ...header(e, e.path), type: 'file', size: e.size }, (err) => (err ? reject(err) : resolve()));
            pipeline(createReadStream(join(upper, e.path)), sink).catch(reject);
          });
          break;
        }
        case 'fifo':
          await add({ ...header(e, e.path), type: 'fifo' });
          break;
        case 'char':
        case 'block':
          await add({ ...header(e, e.path), type: e.type === 'char' ? 'character-device' : 'block-device', devmajor: e.devMajor ?? 0, devminor: e.devMinor ?? 0 });
          break;
      }
    }
    pack.finalize();
    await writing;
  } catch (err) {
    pack.destroy(err as Error);
    await writing.catch(() => undefined);
    await fs.rm(out, { force: true });
    throw err;
  }
  return { digest: `sha256:${blobHash.hash.digest('hex')}`, size: blobHash.bytes, diffID: `sha256:${tarHash.hash.digest('hex')}` };
}
