/**
 * Variable substitution and quote removal, case by case against what Docker (BuildKit's lexer)
 * gives for the same word.
 */
import { describe, expect, it } from 'vitest';
import { expandWord, expandWords } from './substitute.js';

const vars = new Map([
  ['NAME', 'web'],
  ['EMPTY', ''],
  ['SPACED', 'a b  c'],
  ['VER', 'v1.2.3'],
  ['PATHLIKE', '/usr/local/bin/app.tar.gz'],
  ['ünï', 'unicode'],
]);
const x = (w: string, escape = '\\') => expandWord(w, vars, escape);

describe('expandWord', () => {
  it.each([
    ['$NAME', 'web'],
    ['${NAME}', 'web'],
    ['pre-${NAME}-post', 'pre-web-post'],
    ['$NAME.conf', 'web.conf'],
    ['$NAMEX', ''],
    ['$UNSET', ''],
    ['${UNSET}', ''],
    ['$', '$'],
    ['a$', 'a$'],
    ['$/x', '$/x'],
    ['$1', ''],
    ['$ünï', 'unicode'],
    ['${UNSET:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${NAME:-dflt}', 'web'],
    ['${UNSET-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['${UNSET:+alt}', ''],
    ['${EMPTY:+alt}', ''],
    ['${NAME:+alt}', 'alt'],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-$NAME}', 'web'],
    ['${UNSET:-${ALSO:-deep}}', 'deep'],
    ['${UNSET:-a b}', 'a b'],
    ['${UNSET:-"q}"}', 'q}'],
    ['${NAME:?must be set}', 'web'],
    ['${VER#v}', '1.2.3'],
    ['${VER#*.}', '2.3'],
    ['${VER##*.}', '3'],
    ['${VER%.*}', 'v1.2'],
    ['${VER%%.*}', 'v1'],
    ['${VER#nomatch}', 'v1.2.3'],
    ['${PATHLIKE##*/}', 'app.tar.gz'],
    ['${PATHLIKE%/*}', '/usr/local/bin'],
    ['${PATHLIKE%\\*}', '/usr/local/bin/app.tar.gz'],
  ])('%s → %s', (word, want) => {
    expect(x(word)).toBe(want);
  });

  it('removes quotes and keeps what single quotes hold literal', () => {
    expect(x('"hello world"')).toBe('hello world');
    expect(x("'$NAME'")).toBe('$NAME');
    expect(x('"$NAME"')).toBe('web');
    expect(x(`"it's"`)).toBe("it's");
    expect(x(`'say "hi"'`)).toBe('say "hi"');
    expect(x('a"b"c\'d\'e')).toBe('abcde');
    expect(x('""')).toBe('');
  });

  it('treats the escape character as sh does, inside and outside double quotes', () => {
    expect(x('\\$NAME')).toBe('$NAME');
    expect(x('a\\ b')).toBe('a b');
    expect(x('\\"')).toBe('"');
    expect(x('\\\\')).toBe('\\');
    expect(x('"\\$NAME"')).toBe('$NAME');
    expect(x('"a\\"b"')).toBe('a"b');
    expect(x('"C:\\path"')).toBe('C:\\path'); // other escapes stay inside double quotes
    expect(x("'\\n'")).toBe('\\n');
    expect(x('trailing\\')).toBe('trailing');
  });

  it('uses the backtick as escape character when the directive says so', () => {
    expect(x('`$NAME', '`')).toBe('$NAME');
    expect(x('C:\\dir\\$NAME', '`')).toBe('C:\\dir\\web');
    expect(x('"a`"b"', '`')).toBe('a"b');
  });

  it.each([
    ['${', "syntax error: missing '}'"],
    ['${NAME', "syntax error: missing '}'"],
    ['${NAME:-x', "syntax error: missing '}'"],
    ['${}', 'bad substitution'],
    ['${:-x}', 'bad substitution'],
    ['${{x}}', 'bad substitution'],
    ['${NAME/a/b}', 'unsupported modifier (/) in substitution'],
    ['${NAME:=x}', 'unsupported modifier (:=) in substitution'],
    ['"open', 'matching double-quote'],
    ["'open", 'matching single-quote'],
    ['${UNSET?}', 'UNSET: is not allowed to be unset'],
    ['${EMPTY:?}', 'EMPTY: is not allowed to be empty'],
    ['${UNSET:?give it a value}', 'UNSET: give it a value'],
  ])('%s fails: %s', (word, message) => {
    expect(() => x(word)).toThrow(message);
  });
});

describe('expandWords', () => {
  it('splits on whitespace from the text and from variables, not inside quotes or after escapes', () => {
    expect(expandWords('80 $SPACED', vars)).toEqual(['80', 'a', 'b', 'c']);
    expect(expandWords('"$SPACED" x', vars)).toEqual(['a b  c', 'x']);
    expect(expandWords('a\\ b c', vars)).toEqual(['a b', 'c']);
    expect(expandWords('  lead   trail  ', vars)).toEqual(['lead', 'trail']);
    expect(expandWords('$EMPTY', vars)).toEqual([]);
    expect(expandWords('', vars)).toEqual([]);
  });
});
