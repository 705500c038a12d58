/**
 * The build context: the directory COPY and ADD read from, seen through .dockerignore and kept
 * confined. A source may name files through symlinks inside the context, never out of it: `..`
 * that climbs above the context root and symlinks that lead outside it are refused, not clamped,
 * so a hostile context cannot make a build read the host's files. Symlinks inside copied
 * directories are copied as symlinks, never followed.
 *
 * Selection also yields the content hash the layer cache keys COPY and ADD on: paths, types,
 * permission bits and bytes of everything selected (not mtimes or owners, which COPY does not keep
 * or replaces, as Docker's cache does not count them either).
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { DockerIgnore } from './dockerignore.js';
import { BuildError } from './errors.js';

export type EntryType = 'file' | 'dir' | 'symlink';

export interface ContextEntry {
  /** Path below the selected source, `/`-separated; '' for the source itself. */
  readonly rel: string;
  /** Where it is on the host. */
  readonly host: string;
  readonly type: EntryType;
  /** Permission bits, setuid/setgid/sticky included. */
  readonly mode: number;
  readonly size: number;
  readonly mtime: Date;
  /** A symlink's target, as written. */
  readonly linkTarget?: string;
}

export interface SelectedSource {
  /** Context-relative path of what was selected, symlinks of the named path followed; '' is the context root. */
  readonly path: string;
  /** The name as the Dockerfile reached it: what a file is called when it goes into a directory. */
  readonly name: string;
  /** The source itself first (rel ''), then, for a directory, everything in it, parents before children. */
  readonly entries: readonly ContextEntry[];
}

const MAX_LINKS = 40;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function entryType(st: Stats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined; // sockets, fifos, devices: never part of an image's content
}

function hasWildcard(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if ('*?['.includes(pattern[i]!)) return true;
  }
  return false;
}

/** One path component of a COPY wildcard (Go's filepath.Match) as a regular expression. */
export function componentRegex(component: string): RegExp {
  let re = '';
  for (let i = 0; i < component.length; i++) {
    const ch = component[i]!;
    if (ch === '\\' && i + 1 < component.length) re += `\\${component[++i]!}`;
    else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = component.indexOf(']', i + 2);
      if (end < 0) throw new Error(`bad pattern ${JSON.stringify(component)} (an unclosed [)`);
      let cls = component.slice(i + 1, end);
      if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\(?!.)/g, '\\\\')}]`;
      i = end;
    } else re += /[.+^${}()|\]\\/]/.test(ch) ? `\\${ch}` : ch;
  }
  return new RegExp(`^${re}$`);
}

function unescape(component: string): string {
  return component.replace(/\\(.)/g, '$1');
}

export class BuildContext {
  private constructor(
    /** The context directory, its symlinks resolved. */
    readonly root: string,
    readonly ignore: DockerIgnore,
  ) {}

  /**
   * Opens a context directory with its .dockerignore (or the rules given).
   *
   * @example const ctx = await BuildContext.open('./app'); await ctx.select('src/', 'COPY', 4);
   */
  static async open(dir: string, ignore?: DockerIgnore): Promise<BuildContext> {
    let root: string;
    try {
      root = await fs.realpath(dir);
      if (!(await fs.stat(root)).isDirectory()) throw new BuildError(`the build context ${dir} is not a directory`);
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw new BuildError(`the build context ${dir} cannot be read: ${(err as Error).message}`, undefined, { cause: err });
    }
    if (ignore === undefined) {
      let text: string | undefined;
      try {
        text = await fs.readFile(join(root, '.dockerignore'), 'utf8');
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
      }
      ignore = text === undefined ? DockerIgnore.none() : DockerIgnore.parse(text);
    }
    return new BuildContext(root, ignore);
  }

  /**
   * Resolves a context-relative path component by component, following symlinks as a process
   * chrooted in the context would, but refusing any step out of it. Returns the canonical
   * context-relative path and its lstat, or undefined when something on the way does not exist.
   */
  private async resolve(path: string, followLast: boolean, what: string, line: number): Promise<{ rel: string; st: Stats } | undefined> {
    const done: string[] = [];
    let todo = path.split('/').filter((c) => c !== '' && c !== '.');
    let links = 0;
    let st: Stats = await fs.lstat(this.root);
    while (todo.length > 0) {
      const [name, ...rest] = todo as [string, ...string[]];
      todo = rest;
      if (name === '..') {
        if (done.length === 0) throw new BuildError(`${what}: ${path} is outside the build context`, line);
        done.pop();
        st = await fs.lstat(join(this.root, ...done));
        continue;
      }
      try {
        st = await fs.lstat(join(this.root, ...done, name));
      } catch (err) {
        if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
        throw err;
      }
      if (st.isSymbolicLink() && (todo.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw new BuildError(`${what}: ${path}: too many levels of symbolic links`, line);
        const linkRel = [...done, name].join('/');
        let target = await fs.readlink(join(this.root, ...done, name));
        if (target.startsWith('/')) {
          // An absolute link may point into the context by its host path; anywhere else is outside.
          if (target !== this.root && !target.startsWith(`${this.root}/`)) {
            throw new BuildError(`${what}: ${path} leads outside the build context through the symlink ${linkRel} (→ ${target})`, line);
          }
          target = target.slice(this.root.length);
          done.length = 0;
        }
        const climbs = posix.normalize(posix.join(done.join('/') || '.', target));
        if (climbs === '..' || climbs.startsWith('../')) {
          throw new BuildError(`${what}: ${path} leads outside the build context through the symlink ${linkRel} (→ ${target})`, line);
        }
        todo = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...todo];
        continue;
      }
      done.push(name);
    }
    return { rel: done.join('/'), st };
  }

  /**
   * The sources one COPY/ADD pattern selects, with everything below each directory. A pattern is
   * a context-relative path (a leading `/` means the context root) or a Go filepath.Match wildcard.
   */
  async select(pattern: string, what: string, line: number): Promise<SelectedSource[]> {
    const label = `${what} ${pattern}`;
    const cleaned = posix.normalize(`./${pattern}`).replace(/\/+$/, '');
    if (cleaned === '..' || cleaned.startsWith('../')) throw new BuildError(`${label}: ${pattern} is outside the build context`, line);
    const path = cleaned === '.' ? '' : cleaned;

    let named: Array<{ path: string; name: string }>;
    if (!hasWildcard(path)) {
      named = [{ path: unescape(path), name: posix.basename(unescape(path)) }];
    } else {
      named = await this.glob(path, label, line);
      if (named.length === 0) throw new BuildError(`${label}: no files in the build context match`, line);
    }

    const out: SelectedSource[] = [];
    for (const n of named) {
      const resolved = await this.resolve(n.path, true, label, line);
      if (resolved === undefined) throw new BuildError(`${label}: not found in the build context`, line);
      if (this.ignore.excludes(n.path) || this.ignore.excludes(resolved.rel)) {
        throw new BuildError(`${label}: not found in the build context (it is excluded by .dockerignore)`, line);
      }
      const type = entryType(resolved.st);
      if (type === undefined || type === 'symlink') throw new BuildError(`${label}: not a file or directory`, line);
      const host = join(this.root, resolved.rel);
      const entries: ContextEntry[] = [toEntry('', host, type, resolved.st)];
      if (type === 'dir') await this.walk(resolved.rel, '', entries);
      out.push({ path: resolved.rel, name: n.name, entries });
    }
    return out;
  }

  /** Expands a wildcard path component by component; only what .dockerignore lets through matches. */
  private async glob(path: string, label: string, line: number): Promise<Array<{ path: string; name: string }>> {
    let current = [''];
    const parts = path.split('/');
    for (const [i, part] of parts.entries()) {
      const next: string[] = [];
      const isLast = i === parts.length - 1;
      for (const dir of current) {
        if (!hasWildcard(part)) {
          const candidate = dir === '' ? unescape(part) : `${dir}/${unescape(part)}`;
          if (isLast || (await this.resolve(candidate, true, label, line))?.st.isDirectory()) next.push(candidate);
          continue;
        }
        const resolvedDir = await this.resolve(dir, true, label, line);
        if (resolvedDir === undefined || !resolvedDir.st.isDirectory()) continue;
        let re: RegExp;
        try {
          re = componentRegex(part);
        } catch (err) {
          throw new BuildError(`${label}: ${(err as Error).message}`, line, { cause: err });
        }
        const names = (await fs.readdir(join(this.root, resolvedDir.rel))).sort();
        for (const name of names) {
          const candidate = dir === '' ? name : `${dir}/${name}`;
          if (re.test(name)) next.push(candidate);
        }
      }
      current = next;
    }
    // Only what is left after .dockerignore matches; a directory on the way may be excluded and
    // still hold a file a `!` pattern brings back.
    return current.filter((p) => !this.ignore.excludes(p)).map((p) => ({ path: p, name: posix.basename(p) }));
  }

  /**
   * Adds everything below the context directory `dirRel` to `out`, sorted, parents first. An
   * excluded directory is entered only when `!` patterns might bring back something inside it,
   * and is kept (as the parent of what comes back) only when something does.
   */
  private async walk(dirRel: string, prefix: string, out: ContextEntry[]): Promise<void> {
    const names = (await fs.readdir(join(this.root, dirRel))).sort();
    for (const name of names) {
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      const srcRel = prefix === '' ? name : `${prefix}/${name}`;
      const host = join(this.root, rel);
      const st = await fs.lstat(host);
      const type = entryType(st);
      if (type === undefined) continue;
      const excluded = this.ignore.excludes(rel);
      if (type !== 'dir') {
        if (!excluded) out.push(toEntry(srcRel, host, type, st, type === 'symlink' ? await fs.readlink(host) : undefined));
        continue;
      }
      if (excluded && !this.ignore.hasExceptions) continue;
      const at = out.length;
      await this.walk(rel, srcRel, out);
      if (!excluded || out.length > at) out.splice(at, 0, toEntry(srcRel, host, 'dir', st));
    }
  }
}

function toEntry(rel: string, host: string, type: EntryType, st: Stats, linkTarget?: string): ContextEntry {
  return {
    rel,
    host,
    type,
    mode: st.mode & 0o7777,
    size: type === 'file' ? st.size : 0,
    mtime: st.mtime,
    ...(linkTarget === undefined ? {} : { linkTarget }),
  };
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The content hash of selected sources: what COPY/ADD would put in the image, independent of
 * mtimes and owners.
 *
 * @example await hashSources(await ctx.select('app/', 'COPY', 3)) // 'sha256:…'
 */
export async function hashSources(sources: readonly SelectedSource[]): Promise<string> {
  const hash = createHash('sha256');
  for (const s of sources) {
    hash.update(`source ${JSON.stringify(s.name)}\n`);
    for (const e of s.entries) {
      const content = e.type === 'file' ? await fileDigest(e.host) : e.type === 'symlink' ? `-> ${e.linkTarget ?? ''}` : '';
      hash.update(`${JSON.stringify(e.rel)} ${e.type} ${e.mode.toString(8)} ${e.size} ${content}\n`);
    }
  }
  return `sha256:${hash.digest('hex')}`;
}
