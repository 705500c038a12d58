import { describe, expect, it } from 'vitest';
import { arnResourceId, backendName, hasWildcard, isPrintable, quoteWord, safeName, serverName, wildcardRegex } from './haproxy-syntax.js';

/**
 * The regex as PCRE reads it against HAProxy's bytes: JS reads \xHH and . * the same way, given
 * the value as one character per UTF-8 byte.
 */
const matches = (pattern: string, value: string, flags = '') =>
  new RegExp(`^${wildcardRegex(pattern)}$`, flags).test(Buffer.from(value, 'utf8').toString('latin1'));

describe('wildcardRegex (ELBv2 wildcards)', () => {
  it.each([
    ['/img/*', '/img/', true],
    ['/img/*', '/img/a/b.png', true],
    ['/img/*', '/im/a', false],
    ['/a?c', '/abc', true],
    ['/a?c', '/ac', false],
    ['/a?c', '/abbc', false],
    ['*.png', '/x/y.png', true],
    ['*.png', '/x/ypng', false], // '.' is literal
    ['/api', '/api', true],
    ['/api', '/api/', false],
    ['/a+b', '/a+b', true],
    ['/a+b', '/aab', false], // '+' is literal
    ['/(x)[y]{2}$^|\\', '/(x)[y]{2}$^|\\', true],
    ['/café', '/café', true],
    ["/it's", "/it's", true],
  ])('%s against %s: %s', (pattern, value, expected) => {
    expect(matches(pattern, value)).toBe(expected);
  });

  it('is case-sensitive unless the caller asks otherwise (paths are; hosts are not)', () => {
    expect(matches('/API/*', '/api/x')).toBe(false);
    expect(matches('*.Example.COM', 'www.example.com', 'i')).toBe(true);
  });

  it('writes every character that is not a letter or digit as an escape, so nothing is special to PCRE or the config', () => {
    expect(wildcardRegex('/a b.c')).toBe('\\x2fa\\x20b\\x2ec');
    expect(wildcardRegex('*?')).toBe('.*.');
    expect(wildcardRegex('a*', '[^&]')).toBe('a[^&]*');
    expect(wildcardRegex('é')).toBe('\\xc3\\xa9');
  });

  it('knows wildcards', () => {
    expect(hasWildcard('/a')).toBe(false);
    expect(hasWildcard('/a*')).toBe(true);
    expect(hasWildcard('/a?')).toBe(true);
  });
});

describe('configuration words and names', () => {
  it('single-quotes a word and escapes quotes as a shell would', () => {
    expect(quoteWord('a b')).toBe("'a b'");
    expect(quoteWord("it's")).toBe("'it'\\''s'");
    expect(quoteWord('$HOME #x')).toBe("'$HOME #x'");
  });

  it('refuses values with line breaks or control characters', () => {
    expect(isPrintable('ok value')).toBe(true);
    expect(isPrintable('a\nb')).toBe(false);
    expect(isPrintable('a\tb')).toBe(false);
    expect(isPrintable('a\x7f')).toBe(false);
  });

  it('names backends and servers with characters HAProxy allows', () => {
    expect(safeName('a/b c:d.e-f_g')).toBe('a_b_c:d.e-f_g');
    expect(arnResourceId('arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/50dc6c495c0c9188')).toBe('targetgroup/web/50dc6c495c0c9188');
    expect(arnResourceId('not-an-arn')).toBe('not-an-arn');
    expect(backendName('arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/50dc6c495c0c9188')).toBe('tg_web_50dc6c495c0c9188');
    expect(serverName('10.0.0.1', 8080)).toBe('10.0.0.1:8080');
    expect(serverName('i-0abc/x', 80)).toBe('i-0abc_x:80');
  });
});
