/**
 * Pull credentials for images in Berth's own registry: like the ECS agent does for ECR, the agent
 * asks the API for an authorization token (ECR GetAuthorizationToken, SigV4-signed with its own
 * keys) and sends it as Basic auth with user AWS. Tokens are cached until shortly before expiry.
 */
import { request } from 'node:http';
import { signJsonPost } from '../edge/sigv4.js';
import type { AgentCredentials } from './session-client.js';

export interface RegistryCredentialsProvider {
  /** Basic credentials for `reference` when it names the server's registry; undefined otherwise. */
  credentialsFor(reference: string): Promise<{ username: string; password: string } | undefined>;
}

const REFRESH_BEFORE_EXPIRY_MS = 10 * 60 * 1000;

export function berthRegistryCredentials(endpoint: string, credentials: AgentCredentials, region: string, now: () => Date = () => new Date()): RegistryCredentialsProvider {
  const url = new URL(endpoint);
  let cached: { password: string; expiresAt: number } | undefined;

  async function token(): Promise<string> {
    const at = now();
    if (cached && cached.expiresAt - REFRESH_BEFORE_EXPIRY_MS > at.getTime()) return cached.password;
    const payload = '{}';
    const headers = signJsonPost({
      host: url.host,
      target: 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken',
      payload,
      credentials,
      region,
      service: 'ecr',
      now: at,
    });
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/', headers, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(text);
          else reject(new Error(`GetAuthorizationToken answered ${res.statusCode}: ${text}`));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('GetAuthorizationToken timed out')));
      req.on('error', reject);
      req.end(payload);
    });
    const data = (JSON.parse(body) as { authorizationData: Array<{ authorizationToken: string; expiresAt: number }> }).authorizationData[0];
    if (data === undefined) throw new Error('GetAuthorizationToken returned no authorizationData');
    const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    cached = { password, expiresAt: data.expiresAt * 1000 };
    return password;
  }

  return {
    async credentialsFor(reference) {
      const host = reference.split('/', 1)[0];
      if (host !== url.host) return undefined;
      return { username: 'AWS', password: await token() };
    },
  };
}
