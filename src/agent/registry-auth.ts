/**
 * Pull credentials for images in Berth's own registry: like the ECS agent does for ECR, the agent
 * logs in with its own keys (ecrLogin) and sends the password as Basic auth with user AWS.
 * Tokens last 12 hours; the agent logs in again an hour before that.
 */
import { ecrLogin } from '../image/ecr-login.js';
import type { RegistryCredentials } from '../image/index.js';
import type { AwsCredentials } from '../protocols/credentials-file.js';

export interface RegistryCredentialsProvider {
  /** Basic credentials for `reference` when it names the server's registry; undefined otherwise. */
  credentialsFor(reference: string): Promise<RegistryCredentials | undefined>;
}

const LOGIN_LIFETIME_MS = 11 * 60 * 60 * 1000;

export function berthRegistryCredentials(endpoint: string, credentials: AwsCredentials, region: string, now: () => number = Date.now): RegistryCredentialsProvider {
  const host = new URL(endpoint).host;
  let cached: { login: Promise<RegistryCredentials>; until: number } | undefined;
  return {
    credentialsFor(reference) {
      if (reference.split('/', 1)[0] !== host) return Promise.resolve(undefined);
      if (cached === undefined || cached.until <= now()) {
        const login = ecrLogin({ endpoint, region, credentials });
        cached = { login, until: now() + LOGIN_LIFETIME_MS };
        // A failed login is not kept: the next pull tries again.
        login.catch(() => {
          if (cached?.login === login) cached = undefined;
        });
      }
      return cached.login;
    },
  };
}
