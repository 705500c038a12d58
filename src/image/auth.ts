/**
 * Registry authentication pieces that decide rather than do I/O: `WWW-Authenticate` challenge
 * parsing, Basic headers, and the bearer-token cache (per realm, service, scope and user, until expiry).
 */

/** Username and password for a registry: ECS `repositoryCredentials`, or `AWS` + an ECR password. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface Challenge {
  /** Lower-cased scheme: `bearer`, `basic`, ... */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 7235: one or more challenges, each a scheme and
 * comma-separated `key=value` or `key="quoted"` parameters).
 *
 * @example parseChallenges('Bearer realm="https://a/token",service="reg",scope="repository:x:pull"')
 *   // → [{ scheme: 'bearer', params: { realm: 'https://a/token', service: 'reg', scope: 'repository:x:pull' } }]
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (chars: string): void => {
    while (i < n && chars.includes(header[i]!)) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && !' \t,="'.includes(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skip(' \t,');
    if (i >= n) break;
    const start = i;
    const word = token();
    if (word === '') {
      i++; // a stray quote or '=': skip it rather than loop
      continue;
    }
    skip(' \t');
    if (header[i] === '=' && current !== undefined) {
      i++;
      skip(' \t');
      let value: string;
      if (header[i] === '"') {
        i++;
        let v = '';
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          v += header[i];
          i++;
        }
        i++;
        value = v;
      } else {
        value = token();
      }
      current.params[word.toLowerCase()] = value;
    } else if (header[i] === '=' && current === undefined) {
      i = start + word.length + 1; // parameters before any scheme: ignore them
    } else {
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

/** @example basicAuthorization({ username: 'AWS', password: 'p' }) // 'Basic QVdTOnA=' */
export function basicAuthorization(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}

/** The pull scope the distribution token spec names for a repository. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export interface TokenResponse {
  token: string;
  /** Milliseconds since the epoch after which the token must not be used. */
  expiresAt: number;
}

/**
 * Reads a token endpoint's JSON answer (`token` or OAuth2's `access_token`, `expires_in` seconds —
 * 60 when absent, as the spec says — counted from `issued_at` when given, else from `now`).
 */
export function parseTokenResponse(body: unknown, now: number): TokenResponse | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const token = typeof b.token === 'string' && b.token !== '' ? b.token : typeof b.access_token === 'string' ? b.access_token : undefined;
  if (token === undefined || token === '') return undefined;
  const expiresIn = typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : 60;
  const issued = typeof b.issued_at === 'string' ? Date.parse(b.issued_at) : NaN;
  // Trust issued_at only when it is not in our future: a skewed token server must not make us keep a dead token.
  const from = Number.isFinite(issued) && issued <= now ? issued : now;
  return { token, expiresAt: from + expiresIn * 1000 };
}

/**
 * Bearer tokens by (realm, service, scope, user). A token is dropped a little before it expires so a
 * request never starts with one that dies in flight.
 */
export class TokenCache {
  private readonly entries = new Map<string, TokenResponse>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly marginMs = 5_000,
  ) {}

  static key(realm: string, service: string | undefined, scope: string | undefined, username: string | undefined): string {
    return JSON.stringify([realm, service ?? '', scope ?? '', username ?? '']);
  }

  get(key: string): string | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (this.now() >= e.expiresAt - this.marginMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e.token;
  }

  set(key: string, value: TokenResponse): void {
    this.entries.set(key, value);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
