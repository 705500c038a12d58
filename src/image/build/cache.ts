/**
 * The layer cache: what a RUN, COPY/ADD or WORKDIR produced, by a key of everything that decides
 * the result — the layers below (their chain ID), the step after substitution (RUN's argv with the
 * env, user and working directory it runs with; COPY's sources, destination, owner and mode), and
 * for COPY/ADD the content hash of the selected files. An unchanged rebuild finds every key and
 * runs nothing.
 *
 * Keys are pure (cacheKey); the index is one JSON file beside the content store, written
 * atomically. An entry whose layer blob is gone (the content store collected it) is a miss.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { LayerRecord } from '../content-store.js';
import type { StepAction } from './plan.js';

/** The actions that make layers, and so are cached. */
export type LayerAction = Extract<StepAction, { kind: 'run' | 'copy' | 'workdir' }>;

export interface CacheEntry {
  /** The layer the step made; absent when it changed nothing. */
  readonly layer?: LayerRecord;
  /** ISO time the step ran: the history's `created`, so a cached rebuild gives the same image. */
  readonly createdAt: string;
  /** ISO time the entry last served a build; the oldest go first when the index is full. */
  readonly usedAt: string;
}

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/**
 * The OCI chain ID of a layer stack (image-spec config.md): the diffID of the first, then
 * sha256(previous + " " + next); `scratch` for no layers at all.
 *
 * @example chainID(['sha256:a…']) // 'sha256:a…'
 */
export function chainID(diffIDs: readonly string[]): string {
  if (diffIDs.length === 0) return 'scratch';
  return diffIDs.slice(1).reduce((chain, id) => sha256(`${chain} ${id}`), diffIDs[0]!);
}

/**
 * The cache key of a layer-making step.
 *
 * @example cacheKey({ parent: chainID(diffIDs), action, contentHash }) // 'sha256:…'
 */
export function cacheKey(input: { readonly parent: string; readonly action: LayerAction; readonly contentHash?: string }): string {
  // A fixed field order: the key must not depend on how the action object was built.
  const a = input.action;
  const what =
    a.kind === 'run'
      ? { kind: a.kind, argv: a.argv, env: a.env, user: a.user, workdir: a.workdir }
      : a.kind === 'copy'
        ? { kind: a.kind, add: a.add, sources: a.sources, dest: a.dest, destIsDir: a.destIsDir, chown: a.chown ?? null, chmod: a.chmod ?? null, content: input.contentHash ?? null }
        : { kind: a.kind, path: a.path, user: a.user };
  return sha256(JSON.stringify({ v: 1, parent: input.parent, step: what }));
}

interface IndexFile {
  version: 1;
  entries: Record<string, CacheEntry>;
}

/** The cache index of one content store. */
export class BuildCache {
  private constructor(
    private readonly file: string,
    private entries: Record<string, CacheEntry>,
    private readonly maxEntries: number,
  ) {}

  /** Opens (or starts) the index at `dir/cache.json`; an unreadable index starts empty, as a cache may. */
  static async open(dir: string, maxEntries = 5000): Promise<BuildCache> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'cache.json');
    let entries: Record<string, CacheEntry> = {};
    try {
      const doc = JSON.parse(await fs.readFile(file, 'utf8')) as IndexFile;
      if (doc.version === 1 && typeof doc.entries === 'object') entries = doc.entries;
    } catch (err) {
      // A missing or damaged index only costs rebuilding; anything else is a real fault.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
    }
    return new BuildCache(file, entries, maxEntries);
  }

  get(key: string): CacheEntry | undefined {
    return this.entries[key];
  }

  /** Records (or refreshes) an entry and writes the index. */
  async put(key: string, entry: CacheEntry): Promise<void> {
    this.entries[key] = entry;
    const keys = Object.keys(this.entries);
    if (keys.length > this.maxEntries) {
      const oldest = keys.sort((a, b) => this.entries[a]!.usedAt.localeCompare(this.entries[b]!.usedAt)).slice(0, keys.length - this.maxEntries);
      for (const k of oldest) delete this.entries[k];
    }
    const temp = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(temp, `${JSON.stringify({ version: 1, entries: this.entries } satisfies IndexFile)}\n`, { mode: 0o600 });
    await fs.rename(temp, this.file);
  }

  async forget(key: string): Promise<void> {
    if (!(key in this.entries)) return;
    const { [key]: _gone, ...rest } = this.entries;
    this.entries = rest;
    const temp = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(temp, `${JSON.stringify({ version: 1, entries: this.entries } satisfies IndexFile)}\n`, { mode: 0o600 });
    await fs.rename(temp, this.file);
  }
}
