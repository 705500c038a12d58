/**
 * Executing COPY and ADD into a mounted root: selected context sources (context.ts) placed at the
 * destination by Docker's rules, owned by root unless --chown says otherwise, modes kept unless
 * --chmod; ADD also unpacks a local tar (plain or gzip) into the destination directory.
 *
 * Placement, as Docker does it: a directory source copies its contents (not itself) into the
 * destination; a file goes into the destination when that names a directory (trailing `/`, several
 * sources, or a directory already in the image), and becomes the destination otherwise. Parent
 * directories that do not exist are made (0755, owned like the copied files).
 */
import { createReadStream, promises as fs } from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { resolveUser } from '../../runtime/index.js';
import type { SelectedSource } from './context.js';
import { BuildError } from './errors.js';
import type { StepAction } from './plan.js';
import type { Ownership, RootFS } from './rootfs.js';

type CopyAction = Extract<StepAction, { kind: 'copy' }>;

/**
 * --chown's `user[:group]` against the image's /etc/passwd and /etc/group. Docker's rule: without
 * a group the gid is the uid's number (not the user's primary group).
 *
 * @example await resolveChown('app', root) // { uid: 1000, gid: 1000 }
 */
export async function resolveChown(spec: string, root: RootFS): Promise<Ownership> {
  const [passwd, group] = await Promise.all([root.readText('/etc/passwd'), root.readText('/etc/group')]);
  const user = resolveIn(spec, passwd, group);
  return { uid: user.uid, gid: spec.includes(':') ? user.gid : user.uid };
}

/** USER as a process would run (a name's primary group when no group is given), for WORKDIR's new directories. */
export async function resolveOwner(spec: string, root: RootFS): Promise<Ownership> {
  if (spec === '') return { uid: 0, gid: 0 };
  const [passwd, group] = await Promise.all([root.readText('/etc/passwd'), root.readText('/etc/group')]);
  const user = resolveIn(spec, passwd, group);
  return { uid: user.uid, gid: user.gid };
}

function resolveIn(spec: string, passwd: string | undefined, group: string | undefined): Ownership {
  try {
    return resolveUser(spec, { ...(passwd === undefined ? {} : { passwd }), ...(group === undefined ? {} : { group }) });
  } catch (err) {
    throw new BuildError((err as Error).message.replace(/^.*?user: /, ''), undefined, { cause: err });
  }
}

type Archive = 'tar' | 'gzip' | 'unsupported' | undefined;

/** Whether a file is an archive ADD unpacks: by content, as Docker decides, not by name. */
async function archiveKind(path: string): Promise<{ kind: Archive; what?: string }> {
  const fh = await fs.open(path, 'r');
  let head: Buffer;
  try {
    head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    head = head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const isTar = (b: Buffer) => b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  if (head[0] === 0x1f && head[1] === 0x8b) {
    // A gzip file is unpacked only when a tar is inside it; a gzipped text file is copied as is.
    const inner = await firstBytes(createReadStream(path).pipe(zlib.createGunzip()), 512);
    return { kind: isTar(inner) ? 'gzip' : undefined };
  }
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return { kind: 'unsupported', what: 'bzip2' };
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return { kind: 'unsupported', what: 'xz' };
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return { kind: 'unsupported', what: 'zstd' };
  return { kind: isTar(head) ? 'tar' : undefined };
}

async function firstBytes(stream: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= n) break;
    }
  } catch {
    // A corrupt gzip is not an archive ADD can unpack; it is copied as a file.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

/**
 * Unpacks a tar (plain or gzip) into `dest` inside the root. Entry names are confined to `dest`:
 * one that climbs out (`../x`) refuses the ADD. Device nodes and fifos are skipped.
 */
async function unpackInto(root: RootFS, file: string, gzip: boolean, dest: string, owner: Ownership | undefined, label: string, line: number): Promise<void> {
  const extract = tar.extract();
  const source = createReadStream(file);
  // The pipeline feeds the extractor while the loop below takes its entries; a feeding failure
  // (a corrupt gzip) surfaces in the loop through the destroyed extractor.
  const feeding = (gzip ? pipeline(source, zlib.createGunzip(), extract) : pipeline(source, extract)).catch((err: unknown) => {
    extract.destroy(err as Error);
  });
  const dirTimes: Array<[string, Date]> = [];
  const inside = (name: string): string | undefined => {
    const clean = posix.normalize(`./${name}`).replace(/\/+$/, '');
    if (clean === '..' || clean.startsWith('../')) throw new BuildError(`${label}: the archive entry ${name} would land outside ${dest}`, line);
    return clean === '.' ? undefined : posix.join(dest, clean);
  };
  for await (const entry of extract) {
    const h = entry.header;
    const target = inside(h.name);
    const attrs = { uid: owner?.uid ?? h.uid ?? 0, gid: owner?.gid ?? h.gid ?? 0, mode: (h.mode ?? 0o644) & 0o7777, ...(h.mtime === undefined ? {} : { mtime: h.mtime }) };
    const parentOwner = owner ?? { uid: 0, gid: 0 };
    if (target === undefined) {
      entry.resume();
      continue;
    }
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
        await root.writeFile(target, entry as unknown as Readable, attrs, parentOwner);
        continue;
      case 'directory':
        await root.dir(target, attrs, parentOwner);
        if (h.mtime !== undefined) dirTimes.push([target, h.mtime]);
        break;
      case 'symlink':
        await root.symlink(target, h.linkname ?? '', attrs, parentOwner);
        break;
      case 'link': {
        const existing = inside(h.linkname ?? '');
        if (existing === undefined) throw new BuildError(`${label}: the archive entry ${h.name} links to the destination itself`, line);
        await root.hardlink(target, existing, parentOwner);
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        break; // devices and fifos: a container gets its /dev from the runtime
    }
    entry.resume();
  }
  await feeding;
  for (const [dir, mtime] of dirTimes.reverse()) await root.setTimes(dir, mtime);
}

/**
 * Places COPY/ADD sources in the root.
 *
 * @example await applyCopy(root, action, await ctx.select('app/', 'COPY', 3), { label: 'COPY app/ /srv/', line: 3 })
 */
export async function applyCopy(root: RootFS, action: CopyAction, sources: readonly SelectedSource[], where: { label: string; line: number }): Promise<void> {
  const owner = action.chown === undefined ? undefined : await resolveChown(action.chown, root).catch((err: unknown) => {
    throw new BuildError(`${where.label}: --chown=${action.chown}: ${(err as Error).message}`, where.line, { cause: err });
  });
  const own = owner ?? { uid: 0, gid: 0 };
  const modeOf = (mode: number) => action.chmod ?? mode;
  const dirTimes: Array<[string, Date]> = [];

  for (const source of sources) {
    const [top, ...inner] = source.entries;
    if (top === undefined) continue;
    if (top.type === 'dir') {
      await root.mkdirAll(action.dest, own);
      for (const e of inner) {
        const target = posix.join(action.dest, e.rel);
        if (e.type === 'dir') {
          await root.dir(target, { ...own, mode: modeOf(e.mode) }, own);
          dirTimes.push([target, e.mtime]);
        } else if (e.type === 'file') {
          await root.writeFile(target, createReadStream(e.host), { ...own, mode: modeOf(e.mode), mtime: e.mtime }, own);
        } else {
          await root.symlink(target, e.linkTarget ?? '', { ...own, mtime: e.mtime }, own);
        }
      }
      continue;
    }

    if (action.add) {
      const archive = await archiveKind(top.host);
      if (archive.kind === 'unsupported') {
        throw new BuildError(`${where.label}: ${source.name} is a ${archive.what ?? ''} archive, which Berth's ADD cannot unpack; use a plain or gzip tar`, where.line);
      }
      if (archive.kind !== undefined) {
        await root.mkdirAll(action.dest, own);
        await unpackInto(root, top.host, archive.kind === 'gzip', action.dest, owner, where.label, where.line);
        continue;
      }
    }
    const existing = action.destIsDir ? undefined : await root.stat(action.dest);
    const intoDir = action.destIsDir || existing?.isDirectory() === true;
    const target = intoDir ? posix.join(action.dest, source.name) : action.dest;
    if (intoDir) await root.mkdirAll(action.dest, own);
    await root.writeFile(target, createReadStream(top.host), { ...own, mode: modeOf(top.mode), mtime: top.mtime }, own);
  }
  // Children change their directory's mtime: set the copied ones last, deepest first.
  for (const [dir, mtime] of dirTimes.reverse()) await root.setTimes(dir, mtime);
}
