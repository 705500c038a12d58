/**
 * .dockerignore: which context paths COPY and ADD never see, by Docker's rules (moby's
 * patternmatcher, MatchesOrParentMatches). Pure.
 *
 * - One pattern a line; blank lines and lines starting with `#` are skipped; blanks around a
 *   pattern are trimmed; the pattern is cleaned like a path (`./a/../b/` is `b`), a leading `/` dropped.
 * - `*` matches within one path component, `?` one character, `[a-z]` a class, `\` escapes;
 *   `**` matches any number of components, including none (`**\/*.go`, `docs/**`).
 * - A pattern matches a path or any of its parent directories (`node_modules` excludes all inside it).
 * - `!pattern` re-includes what earlier patterns excluded; the last pattern that matches decides.
 */
import { posix } from 'node:path';
import { BuildError } from './errors.js';

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

interface Pattern {
  readonly text: string;
  readonly exception: boolean;
  readonly type: MatchType;
  readonly regexp: RegExp | undefined;
}

function escapeRegexChar(ch: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(ch) ? `\\${ch}` : ch;
}

/** Compiles one cleaned pattern the way patternmatcher does, keeping its fast paths' exact semantics. */
function compile(text: string, exception: boolean, where: string): Pattern {
  let re = '^';
  let type: MatchType = 'exact';
  const chars = Array.from(text);
  let inClass = false;
  // `iteration` counts loop turns (a `**/` is one), as patternmatcher's does: a `**` in the first
  // turn makes the pattern a suffix match.
  for (let i = 0, iteration = 0; i < chars.length; i++, iteration++) {
    const ch = chars[i]!;
    if (inClass) {
      re += ch === '\\' && i + 1 < chars.length ? `\\${chars[++i]!}` : ch;
      if (ch === ']') inClass = false;
      continue;
    }
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++; // `**/` is `**`
        if (i + 1 >= chars.length) {
          // `**` at the end matches everything below, as in .gitignore.
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(.*/)?';
          type = 'regexp';
        }
        if (iteration === 0) type = 'suffix';
      } else {
        re += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (ch === '\\') {
      if (i + 1 < chars.length) {
        re += escapeRegexChar(chars[++i]!);
        type = 'regexp';
      } else {
        re += '\\\\';
      }
    } else if (ch === '[') {
      inClass = true;
      re += '[';
      type = 'regexp';
    } else if (ch === ']') {
      re += '\\]';
      type = 'regexp';
    } else {
      re += escapeRegexChar(ch);
    }
  }
  if (inClass) throw new BuildError(`${where}: bad pattern ${JSON.stringify(text)} (an unclosed [)`);
  let regexp: RegExp | undefined;
  if (type === 'regexp') {
    try {
      regexp = new RegExp(`${re}$`);
    } catch (err) {
      throw new BuildError(`${where}: bad pattern ${JSON.stringify(text)}`, undefined, { cause: err });
    }
  }
  return { text, exception, type, regexp };
}

function matches(p: Pattern, path: string): boolean {
  switch (p.type) {
    case 'exact':
      return path === p.text;
    case 'prefix':
      return path.startsWith(p.text.slice(0, -2));
    case 'suffix': {
      // A leading `**` followed only by literal text: `**/foo` matches `foo` and `a/b/foo`.
      const suffix = p.text.slice(2);
      return path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp':
      return p.regexp!.test(path);
  }
}

/** Cleans a pattern as Go's filepath.Clean does, then drops a leading `/`. */
function cleanPattern(text: string): string {
  let p = posix.normalize(text);
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
  return p;
}

export class DockerIgnore {
  private constructor(private readonly patterns: readonly Pattern[]) {}

  /**
   * Reads a .dockerignore's text (`name` is how errors call it).
   *
   * @example DockerIgnore.parse('node_modules\n*.log\n!keep.log\n').excludes('app/x.log') // false: * stops at /
   */
  static parse(text: string, name = '.dockerignore'): DockerIgnore {
    const patterns: Pattern[] = [];
    for (const [i, rawLine] of text.split(/\r?\n/).entries()) {
      let line = rawLine.trim();
      if (line === '' || line.startsWith('#')) continue;
      const exception = line.startsWith('!');
      if (exception) {
        line = line.slice(1).trim();
        if (line === '') throw new BuildError(`${name} line ${i + 1}: illegal exclusion pattern: "!"`);
      }
      patterns.push(compile(cleanPattern(line), exception, `${name} line ${i + 1}`));
    }
    return new DockerIgnore(patterns);
  }

  static none(): DockerIgnore {
    return new DockerIgnore([]);
  }

  /** Whether any `!` pattern exists: then an excluded directory may still hold included files. */
  get hasExceptions(): boolean {
    return this.patterns.some((p) => p.exception);
  }

  /**
   * Whether a context path (relative, `/`-separated) is left out. The context root never is.
   *
   * @example DockerIgnore.parse('docs\n!docs/README.md').excludes('docs/README.md') // false
   */
  excludes(path: string): boolean {
    const file = posix.normalize(path).replace(/^\.\/|\/$/g, '');
    if (file === '.' || file === '') return false;
    const parts = file.split('/');
    let excluded = false;
    for (const p of this.patterns) {
      // An inclusion only matters while the path is not yet excluded, an exception only while it is.
      if (p.exception !== excluded) continue;
      let hit = matches(p, file);
      for (let i = 1; !hit && i < parts.length; i++) hit = matches(p, parts.slice(0, i).join('/'));
      if (hit) excluded = !p.exception;
    }
    return excluded;
  }
}
