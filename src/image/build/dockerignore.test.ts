/**
 * .dockerignore rules, case by case as Docker's patternmatcher decides them.
 */
import { describe, expect, it } from 'vitest';
import { DockerIgnore } from './dockerignore.js';

const ex = (patterns: string, path: string) => DockerIgnore.parse(patterns).excludes(path);

describe('DockerIgnore', () => {
  it.each([
    // [patterns, path, excluded]
    ['*', 'fileutils.go', true],
    ['*.go', 'fileutils.go', true],
    ['*.go', 'dir/fileutils.go', false], // * stays within one component
    ['*/*.go', 'dir/fileutils.go', true],
    ['**', 'a/b/c', true],
    ['**/*.go', 'main.go', true],
    ['**/*.go', 'a/b/main.go', true],
    ['**/*.go', 'a/b/main.js', false],
    ['**/foo', 'foo', true],
    ['**/foo', 'a/b/foo', true],
    ['**/foo', 'afoo', false],
    ['**foo', 'afoo', true],
    ['**/foo/**', 'x/foo/y', true],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['docs', 'docs', true],
    ['docs', 'docs/a/b.md', true], // a parent directory matches
    ['docs', 'mydocs', false],
    ['docs/**', 'docs/x.md', true],
    ['docs/**', 'docs', false],
    ['?.txt', 'a.txt', true],
    ['?.txt', 'ab.txt', false],
    ['[a-c].txt', 'b.txt', true],
    ['[a-c].txt', 'd.txt', false],
    ['[^a-c].txt', 'd.txt', true],
    ['\\*.txt', '*.txt', true],
    ['\\*.txt', 'a.txt', false],
    ['a.b', 'axb', false], // . is literal
    ['a+b(c)', 'a+b(c)', true],
    ['/rooted', 'rooted', true],
    ['./dot/../cleaned/', 'cleaned/x', true],
    ['  spaced  ', 'spaced', true],
    ['# comment\n\nkeep', 'keep', true],
    ['#notignored', '#notignored', false],
  ])('%j excludes %j: %s', (patterns, path, excluded) => {
    expect(ex(patterns, path)).toBe(excluded);
  });

  it('lets a later ! pattern re-include, and the last matching pattern decide', () => {
    const rules = '*.md\n!README*.md\nREADME-secret.md\n';
    expect(ex(rules, 'CHANGELOG.md')).toBe(true);
    expect(ex(rules, 'README.md')).toBe(false);
    expect(ex(rules, 'README-secret.md')).toBe(true);
    expect(ex('docs\n!docs/README.md', 'docs/README.md')).toBe(false);
    expect(ex('docs\n!docs/README.md', 'docs/other.md')).toBe(true);
    expect(ex('!keep\nkeep', 'keep')).toBe(true); // an exception before any exclusion does nothing
  });

  it('never excludes the context root', () => {
    expect(ex('*\n**', '.')).toBe(false);
    expect(ex('*', '')).toBe(false);
  });

  it('says whether any exception exists', () => {
    expect(DockerIgnore.parse('a\nb').hasExceptions).toBe(false);
    expect(DockerIgnore.parse('a\n!a/b').hasExceptions).toBe(true);
    expect(DockerIgnore.none().excludes('anything')).toBe(false);
  });

  it('refuses a lone ! and an unclosed class, naming the line', () => {
    expect(() => DockerIgnore.parse('a\n!\n')).toThrow('.dockerignore line 2: illegal exclusion pattern: "!"');
    expect(() => DockerIgnore.parse('ok\n\n[abc\n')).toThrow('.dockerignore line 3: bad pattern "[abc" (an unclosed [)');
  });
});
