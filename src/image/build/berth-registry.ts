/**
 * Reaching Berth's own registry from the `berth build` CLI as the AWS CLI would: the access key
 * from `$BERTH_HOME/credentials` (AWS shared-credentials format), a SigV4-signed ECR
 * GetAuthorizationToken to the API endpoint, and the password it returns used as Basic auth with
 * the user `AWS` (what `aws ecr get-login-password` gives). Also: where a tag without a registry
 * host goes (to Berth's registry at the endpoint).
 */
import { promises as fs } from 'node:fs';
import { parseCredentialsFile, type AwsCredentials } from '../../protocols/credentials-file.js';
import { BuildError } from './errors.js';

export { parseCredentialsFile, type AwsCredentials } from '../../protocols/credentials-file.js';
export { ecrLogin } from '../ecr-login.js';

/** The credentials file of a Berth home, or a clear error saying how to get one. */
export async function readBerthCredentials(file: string, profile = 'default'): Promise<AwsCredentials> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new BuildError(`cannot read the credentials ${file} (start Berth with \`berth up\`, which writes them, or point --home at its state directory): ${(err as Error).message}`, undefined, { cause: err });
  }
  const creds = parseCredentialsFile(text, profile);
  if (creds === undefined) throw new BuildError(`${file} has no aws_access_key_id and aws_secret_access_key in profile ${profile}`);
  return creds;
}

/** The host[:port] of an endpoint URL, as image references name registries. */
export function registryHost(endpoint: string): string {
  return new URL(endpoint).host;
}

/**
 * Where `-t` sends an image: a name with a registry host goes there; a bare `repo[:tag]` goes to
 * Berth's registry at the endpoint (as ECR repository URIs name it). A missing tag is `latest`.
 *
 * @example resolveTag('web:1', 'http://127.0.0.1:4566') // '127.0.0.1:4566/web:1'
 * @example resolveTag('registry.example.com/team/web', 'http://127.0.0.1:4566') // 'registry.example.com/team/web:latest'
 */
export function resolveTag(tag: string, endpoint: string): string {
  const slash = tag.indexOf('/');
  const first = slash < 0 ? '' : tag.slice(0, slash);
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const full = hasHost ? tag : `${registryHost(endpoint)}/${tag}`;
  const lastSlash = full.lastIndexOf('/');
  return full.includes('@') || full.slice(lastSlash + 1).includes(':') ? full : `${full}:latest`;
}
