/**
 * Dockerfile variable substitution and quote removal, as Docker applies them to the words of ENV,
 * ARG, LABEL, COPY, ADD, WORKDIR, USER, EXPOSE, STOPSIGNAL, VOLUME and FROM. Pure: a word and the
 * variables in scope in, the expanded word out (or an Error naming what is wrong with the syntax).
 *
 * The rules (Docker's, after POSIX sh, without command substitution or arithmetic):
 * - `$NAME` and `${NAME}` expand to the value, or to nothing when unset;
 * - `${NAME:-word}` / `${NAME-word}`: word when unset or empty / when unset;
 * - `${NAME:+word}` / `${NAME+word}`: word when set and not empty / when set, else nothing;
 * - `${NAME:?msg}` / `${NAME?msg}`: an error when unset or empty / when unset;
 * - `${NAME#pat}`, `##`, `%`, `%%`: strip the shortest/longest prefix/suffix matching a `*`/`?` pattern;
 * - single quotes keep everything literal; double quotes keep all but `$` and the escape character
 *   (which there escapes only `"`, `$` and itself); elsewhere the escape character makes the next
 *   character literal. The escape character is `\` unless the `# escape=` directive says `` ` ``.
 */

/** The variables in scope: ENV values over ARG values. */
export type Variables = ReadonlyMap<string, string>;

/** Collects the words of an expansion, split on whitespace that came from variables or the text, not from quotes. */
class Words {
  private readonly done: string[] = [];
  private word = '';
  private inWord = false;

  char(ch: string): void {
    if (/\s/.test(ch)) {
      if (this.inWord && this.word !== '') {
        this.done.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else {
      this.raw(ch);
    }
  }

  split(text: string): void {
    for (const ch of text) this.char(ch);
  }

  raw(text: string): void {
    this.word += text;
    this.inWord = true;
  }

  result(): string[] {
    if (this.word !== '') this.done.push(this.word);
    this.word = '';
    this.inWord = false;
    return this.done;
  }
}

const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class Lexer {
  private i = 0;
  private readonly c: string[];

  constructor(
    source: string,
    private readonly vars: Variables,
    private readonly escape: string,
  ) {
    this.c = Array.from(source);
  }

  private peek(): string | undefined {
    return this.c[this.i];
  }

  private next(): string | undefined {
    return this.c[this.i++];
  }

  /** Reads up to `stop` (consumed) or the end; `rawEscapes` keeps escape characters (for patterns). */
  run(stop?: string, rawEscapes = false): { text: string; words: string[] } {
    let text = '';
    const words = new Words();
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (stop !== undefined && ch === stop) {
        this.i++;
        return { text, words: words.result() };
      }
      if (ch === '$') {
        const value = this.dollar();
        text += value;
        words.split(value);
        continue;
      }
      if (ch === "'" || ch === '"') {
        const value = ch === "'" ? this.single() : this.double();
        text += value;
        words.raw(value);
        continue;
      }
      this.i++;
      if (ch === this.escape) {
        if (rawEscapes) {
          text += ch;
          words.raw(ch);
        }
        const escaped = this.next();
        if (escaped === undefined) break; // an escape at the very end is dropped
        text += escaped;
        words.raw(escaped);
        continue;
      }
      text += ch;
      words.char(ch);
    }
    if (stop !== undefined) throw new Error(`unexpected end of statement while looking for matching ${stop}`);
    return { text, words: words.result() };
  }

  private single(): string {
    this.i++;
    let out = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new Error('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return out;
      out += ch;
    }
  }

  private double(): string {
    this.i++;
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw new Error('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.i++;
        return out;
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      this.i++;
      if (ch === this.escape) {
        const after = this.peek();
        if (after === undefined) continue;
        // Inside double quotes the escape character escapes only these; elsewhere it stays.
        if (after === '"' || after === '$' || after === this.escape) {
          this.i++;
          out += after;
          continue;
        }
      }
      out += ch;
    }
  }

  private name(): string {
    const first = this.peek();
    if (first === undefined) return '';
    if (/[0-9]/.test(first)) {
      let digits = '';
      while (this.peek() !== undefined && /[0-9]/.test(this.peek()!)) digits += this.next();
      return digits;
    }
    if (SPECIAL_PARAMS.has(first)) {
      this.i++;
      return first;
    }
    let name = '';
    while (this.peek() !== undefined && /^[\p{L}\p{N}_]$/u.test(this.peek()!)) name += this.next();
    return name;
  }

  private dollar(): string {
    this.i++; // '$'
    if (this.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return this.vars.get(name) ?? '';
    }
    this.i++; // '{'
    const first = this.peek();
    if (first === undefined) throw new Error("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new Error('syntax error: bad substitution');
    const name = this.name();
    let op = this.next();
    if (op === undefined) throw new Error("syntax error: missing '}'");
    if (op === '}') return this.vars.get(name) ?? '';
    let colon = false;
    if (op === ':') {
      colon = true;
      op = this.next();
      if (op === undefined) throw new Error("syntax error: missing '}'");
    }
    if (!['-', '+', '?', '#', '%'].includes(op)) throw new Error(`unsupported modifier (${colon ? ':' : ''}${op}) in substitution`);
    let word: string;
    try {
      word = this.run('}', op === '#' || op === '%').text;
    } catch (err) {
      if (this.peek() === undefined) throw new Error("syntax error: missing '}'");
      throw err;
    }
    const value = this.vars.get(name);
    const unset = value === undefined || (colon && value === '');
    switch (op) {
      case '-':
        return unset ? word : value;
      case '+':
        return unset ? '' : word;
      case '?':
        if (unset) throw new Error(`${name}: ${word || (value === undefined ? 'is not allowed to be unset' : 'is not allowed to be empty')}`);
        return value;
      default: {
        const greedy = word.startsWith(op);
        return trim(value ?? '', greedy ? word.slice(1) : word, op === '#' ? 'prefix' : 'suffix', greedy);
      }
    }
  }
}

/** A `*`/`?` shell pattern as an anchored regular expression; the escape character makes the next one literal. */
function patternRegex(pattern: string): RegExp {
  let re = '';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') re += '[\\s\\S]*';
    else if (ch === '?') re += '[\\s\\S]';
    else if ((ch === '\\' || ch === '`') && i + 1 < chars.length) re += escapeRegex(chars[++i]!);
    else re += escapeRegex(ch);
  }
  return new RegExp(`^${re}$`, 'u');
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function trim(value: string, pattern: string, side: 'prefix' | 'suffix', longest: boolean): string {
  const re = patternRegex(pattern);
  const n = value.length;
  // Try cut points from the shortest match to the longest (or the other way round).
  for (let k = 0; k <= n; k++) {
    const len = longest ? n - k : k;
    if (side === 'prefix' && re.test(value.slice(0, len))) return value.slice(len);
    if (side === 'suffix' && re.test(value.slice(n - len))) return value.slice(0, n - len);
  }
  return value;
}

/**
 * Expands variables and removes quotes in one word.
 *
 * @example expandWord('${APP:-web}-"$VER"', new Map([['VER', '1 2']])) // 'web-1 2'
 */
export function expandWord(word: string, vars: Variables, escape = '\\'): string {
  return new Lexer(word, vars, escape).run().text;
}

/**
 * Expands, then splits into words on whitespace that is not quoted or escaped (EXPOSE and VOLUME
 * take several values from one variable this way).
 *
 * @example expandWords('$PORTS 9000', new Map([['PORTS', '80 443']])) // ['80', '443', '9000']
 */
export function expandWords(word: string, vars: Variables, escape = '\\'): string[] {
  return new Lexer(word, vars, escape).run().words;
}
