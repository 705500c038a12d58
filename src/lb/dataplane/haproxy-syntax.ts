/**
 * How values from the ELBv2 model become HAProxy configuration words: quoting, names, and ELBv2's
 * wildcard patterns as regular expressions. Pure; everything the renderer writes passes through here.
 */

/**
 * One configuration word, single-quoted (HAProxy expands nothing inside single quotes); a quote in
 * the value closes the quoted run, is written escaped, and reopens it, as in a shell.
 *
 * @example quoteWord("it's") // → 'it'\''s'
 */
export function quoteWord(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** True when a value can sit in a configuration line at all (no line breaks or other controls). */
export function isPrintable(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x1f\x7f]/.test(value);
}

/** HAProxy names (proxies, servers) allow letters, digits, '-', '_', '.' and ':'. */
export function safeName(value: string): string {
  return value.replace(/[^A-Za-z0-9_.:-]/g, '_');
}

/** The resource id of an ARN: `arn:aws:elasticloadbalancing:r:a:targetgroup/web/abc` → `targetgroup/web/abc`. */
export function arnResourceId(arn: string): string {
  const parts = arn.split(':');
  return parts.length >= 6 ? parts.slice(5).join(':') : arn;
}

/** The backend that carries a target group's traffic. */
export function backendName(targetGroupArn: string): string {
  return `tg_${safeName(arnResourceId(targetGroupArn).replace(/^targetgroup\//, ''))}`;
}

/** The server that stands for one registered target (`Id:Port`) inside its backend. */
export function serverName(targetId: string, port: number): string {
  return `${safeName(targetId)}:${port}`;
}

/**
 * Regex source for an ELBv2 wildcard pattern: '*' is any run of characters (none included) and
 * '?' exactly one; everything else is literal. Every other non-alphanumeric character is written as
 * a \xHH escape, so no character of the value has a meaning to PCRE or to the config parser.
 * `anyChar` narrows what a wildcard may stand for (query strings: not across '&' or '=').
 *
 * @example wildcardRegex('/img/*.png') // → \x2fimg\x2f.*\x2epng
 */
export function wildcardRegex(pattern: string, anyChar = '.'): string {
  let out = '';
  for (const ch of pattern) {
    if (ch === '*') out += `${anyChar}*`;
    else if (ch === '?') out += anyChar;
    else if (/[A-Za-z0-9]/.test(ch)) out += ch;
    // Requests reach HAProxy as bytes: a non-ASCII character is matched as its UTF-8 bytes.
    else for (const byte of Buffer.from(ch, 'utf8')) out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** True when the pattern has ELBv2 wildcards. */
export const hasWildcard = (pattern: string): boolean => /[*?]/.test(pattern);
