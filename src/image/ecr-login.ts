/**
 * `aws ecr get-login-password` against a Berth endpoint, for Berth's own registry clients (the
 * agent pulling task images, `berth build` pushing): a SigV4-signed ECR GetAuthorizationToken, and
 * the password it returns used as Basic auth with the user `AWS` — what the ECS agent does for ECR.
 */
import { signJsonPost } from '../edge/sigv4.js';
import type { AwsCredentials } from '../protocols/credentials-file.js';
import type { RegistryCredentials } from './auth.js';
import { ImageError } from './errors.js';

/**
 * `aws ecr get-login-password` against a Berth endpoint: the registry password (user `AWS`).
 *
 * @example const { username, password } = await ecrLogin({ endpoint: 'http://127.0.0.1:4566', region: 'us-east-1', credentials });
 */
export async function ecrLogin(input: { readonly endpoint: string; readonly region: string; readonly credentials: AwsCredentials; readonly now?: Date }): Promise<RegistryCredentials> {
  const url = new URL('/', input.endpoint);
  const body = '{}';
  const headers = signJsonPost({ host: url.host, target: 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', payload: body, credentials: input.credentials, region: input.region, service: 'ecr', now: input.now ?? new Date() });
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body });
  } catch (err) {
    throw new ImageError('Unreachable', `cannot reach Berth at ${input.endpoint} for a registry login: ${(err as Error).message} (is \`berth up\` running? --endpoint-url says where)`, { cause: err });
  }
  const text = await res.text();
  let doc: { __type?: string; message?: string; Message?: string; authorizationData?: Array<{ authorizationToken?: string }> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new ImageError('RegistryError', `registry login at ${input.endpoint}: the answer (${res.status}) is not JSON`, { cause: err });
  }
  if (!res.ok) {
    throw new ImageError('Unauthorized', `registry login at ${input.endpoint} refused: ${(doc.__type ?? String(res.status)).replace(/^.*#/, '')}: ${doc.message ?? doc.Message ?? ''}`.trim());
  }
  const token = doc.authorizationData?.[0]?.authorizationToken;
  const decoded = token === undefined ? '' : Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new ImageError('RegistryError', `registry login at ${input.endpoint}: the answer holds no authorization token`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

