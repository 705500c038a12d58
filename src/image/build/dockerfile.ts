/**
 * The Dockerfile reader: text to a list of raw instructions (keyword, flags, arguments, line
 * numbers), by Docker's rules for parser directives, comments and line continuations. Pure; what
 * each instruction means is instructions.ts's business.
 *
 * The rules, as BuildKit reads a Dockerfile:
 * - Parser directives (`# escape=\``, `# syntax=…`, `# check=…`) count only at the very top: the
 *   first line that is not one (a blank line, another comment, an instruction) ends them. Each may
 *   appear once. `escape` sets the escape character to `\` (default) or `` ` ``.
 * - A line whose first non-blank character is `#` is a comment; `#` elsewhere is not special.
 * - The escape character at the end of a line (trailing blanks allowed) joins the next line.
 *   Comment lines and blank lines inside a continued instruction are skipped.
 * - The keyword is case-insensitive; `--name[=value]` words right after it are flags.
 * - Heredocs (`RUN <<EOF`) are refused: they would need the lines after them read as data.
 */
import { BuildError } from './errors.js';

export interface Flag {
  /** Without the leading `--`. */
  readonly name: string;
  /** Quotes removed; undefined for `--name` alone. */
  readonly value: string | undefined;
}

export interface RawInstruction {
  /** Upper-case, e.g. `RUN`. */
  readonly keyword: string;
  /** First and last physical line (1-based) the instruction spans. */
  readonly line: number;
  readonly endLine: number;
  readonly flags: readonly Flag[];
  /** Everything after the keyword and flags, trimmed, continuations joined. */
  readonly args: string;
  /** The instruction as written, continuations joined (what progress output shows). */
  readonly original: string;
}

export interface ParsedDockerfile {
  /** The escape character: `\` unless the escape directive said `` ` ``. */
  readonly escape: '\\' | '`';
  readonly instructions: readonly RawInstruction[];
  readonly warnings: readonly string[];
}

const DIRECTIVE_RE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['escape', 'syntax', 'check']);
const HEREDOC_INSTRUCTIONS = new Set(['RUN', 'COPY', 'ADD']);

function isComment(line: string): boolean {
  return line.trimStart().startsWith('#');
}

/**
 * Splits `rest` into its leading `--flag[=value]` words and the remainder. A bare `--` ends the flags.
 */
function splitFlags(rest: string, line: number): { flags: Flag[]; args: string } {
  const flags: Flag[] = [];
  let i = 0;
  const n = rest.length;
  for (;;) {
    while (i < n && /\s/.test(rest[i]!)) i++;
    if (!(rest[i] === '-' && rest[i + 1] === '-')) break;
    // One word, with quotes and backslash escapes inside it as the shell would read them.
    let word = '';
    let quote: string | undefined;
    for (; i < n; i++) {
      const ch = rest[i]!;
      if (quote !== undefined) {
        if (ch === quote) quote = undefined;
        else if (ch === '\\' && quote === '"' && i + 1 < n) word += rest[++i];
        else word += ch;
        continue;
      }
      if (/\s/.test(ch)) break;
      if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '\\' && i + 1 < n) word += rest[++i];
      else word += ch;
    }
    if (quote !== undefined) throw new BuildError(`unterminated quote in flag ${word.split('=')[0]!}`, line);
    if (word === '--') break;
    const eq = word.indexOf('=');
    const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
    if (name === '') throw new BuildError(`a flag needs a name: ${JSON.stringify(word)}`, line);
    flags.push({ name, value: eq < 0 ? undefined : word.slice(eq + 1) });
  }
  return { flags, args: rest.slice(i).trim() };
}

/** A word that opens a heredoc as BuildKit reads one: optional fd digits, `<<`, optional `-`, a delimiter. */
function opensHeredoc(args: string, escape: string): boolean {
  if (args.trimStart().startsWith('[')) return false;
  return parseWords(args, escape).some((word) => /^\d*<<-?([^<]|$)/.test(word));
}

/**
 * Reads a Dockerfile.
 *
 * @example parseDockerfile('FROM busybox\nRUN echo \\\n  hi\n').instructions[1]
 *   // → { keyword: 'RUN', line: 2, endLine: 3, flags: [], args: 'echo   hi', … }
 */
export function parseDockerfile(text: string): ParsedDockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape: '\\' | '`' = '\\';
  let directivesDone = false;
  const seenDirectives = new Set<string>();
  const instructions: RawInstruction[] = [];
  const warnings: string[] = [];

  const directive = (raw: string, lineNo: number): void => {
    if (directivesDone) return;
    const m = DIRECTIVE_RE.exec(raw);
    const name = m?.[1]?.toLowerCase();
    if (m === null || name === undefined || !KNOWN_DIRECTIVES.has(name)) {
      directivesDone = true;
      return;
    }
    if (seenDirectives.has(name)) throw new BuildError(`only one ${name} parser directive can be used`, lineNo);
    seenDirectives.add(name);
    if (name === 'escape') {
      const value = m[2]!;
      if (value !== '\\' && value !== '`') throw new BuildError(`invalid escape token '${value}' does not match \` or \\`, lineNo);
      escape = value;
    }
  };
  const continuation = (line: string): string | undefined => {
    const m = new RegExp(`\\${escape}[ \\t]*$`).exec(line);
    return m === null ? undefined : line.slice(0, m.index);
  };

  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!.trimStart();
    directive(first, i + 1);
    if (first === '' || first.startsWith('#')) continue;
    const startLine = i + 1;
    let cont = continuation(first);
    let joined = cont ?? first;
    let emptyContinuation = false;
    while (cont !== undefined && i + 1 < lines.length) {
      const next = lines[++i]!;
      directive(next, i + 1);
      if (isComment(next)) continue;
      if (next.trim() === '') {
        emptyContinuation = true;
        continue;
      }
      cont = continuation(next);
      joined += cont ?? next;
    }
    if (emptyContinuation) warnings.push(`line ${startLine}: empty continuation line (Docker will make this an error)`);

    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(joined.trim());
    const keyword = m![1]!.toUpperCase();
    const { flags, args } = splitFlags(m![2] ?? '', startLine);
    if (HEREDOC_INSTRUCTIONS.has(keyword) && opensHeredoc(args, escape)) {
      throw new BuildError(`heredocs (${keyword} <<EOF) are not supported: put the script in a file and COPY it, or join lines with ${escape} and &&`, startLine);
    }
    instructions.push({ keyword, line: startLine, endLine: i + 1, flags, args, original: joined.trim() });
  }
  if (instructions.length === 0) throw new BuildError('the Dockerfile has no instructions');
  return { escape, instructions, warnings };
}

/**
 * Splits arguments into words, keeping quotes and escapes (they are removed later, with variable
 * substitution); whitespace inside quotes does not split. Used for ENV, LABEL and ARG.
 *
 * @example parseWords('a="b c" d=e', '\\') // ['a="b c"', 'd=e']
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  let blankOk = false;
  const chars = Array.from(rest);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (quote === undefined) {
      if (/\s/.test(ch)) {
        if (inWord && (blankOk || word !== '')) words.push(word);
        word = '';
        inWord = false;
        blankOk = false;
        continue;
      }
      inWord = true;
      if (ch === '"' || ch === "'") {
        quote = ch;
        blankOk = true;
      } else if (ch === escape) {
        if (i + 1 === chars.length) continue; // an escape at the end is dropped
        word += ch;
        word += chars[++i];
        continue;
      }
      word += ch;
      continue;
    }
    if (ch === quote) quote = undefined;
    else if (ch === escape && quote !== "'" && i + 1 < chars.length) {
      word += ch;
      word += chars[++i];
      continue;
    }
    word += ch;
  }
  if (inWord && (blankOk || word !== '')) words.push(word);
  return words;
}

/**
 * The JSON (exec) form of an argument list, or undefined when it is not one (then it is shell
 * form, as Docker falls back). A JSON array holding anything but strings is an error.
 */
export function parseJsonArgs(args: string, line: number): string[] | undefined {
  const trimmed = args.trimStart();
  if (!trimmed.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (!parsed.every((v): v is string => typeof v === 'string')) {
    throw new BuildError('when using JSON array syntax, arrays must be comprised of strings only', line);
  }
  return parsed;
}
