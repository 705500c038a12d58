/**
 * Reaching Berth's own registry from the `berth build` CLI as the AWS CLI would: the access key
 * from `$BERTH_HOME/credentials` (AWS shared-credentials format), a SigV4-signed ECR
 * GetAuthorizationToken to the API endpoint, and the password it returns used as Basic auth with
 * the user `AWS` (what `aws ecr get-login-password` gives). Also: where a tag without a registry
 * host goes (to Berth's registry at the endpoint).
 */
import { createHash, createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { RegistryCredentials } from '../auth.js';
import { BuildError } from './errors.js';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * Reads one profile of an AWS shared-credentials file (`[default]`, `key = value`, `#`/`;` comments).
 *
 * @example parseCredentialsFile('[default]\naws_access_key_id = AKIA…\naws_secret_access_key = …\n')
 */
export function parseCredentialsFile(text: string, profile = 'default'): AwsCredentials | undefined {
  let section: string | undefined;
  const values = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header !== null) {
      section = header[1];
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (kv !== null && section === profile) values.set(kv[1]!.toLowerCase(), kv[2]!);
  }
  const accessKeyId = values.get('aws_access_key_id');
  const secretAccessKey = values.get('aws_secret_access_key');
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = values.get('aws_session_token');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

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

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');

/**
 * The headers that sign a JSON 1.1 POST to `/` with SigV4 (header form, body covered).
 *
 * @example signJsonRequest({ url: new URL('http://127.0.0.1:4566/'), region: 'us-east-1', service: 'ecr', target: 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', body: '{}', credentials, now: new Date() })
 */
export function signJsonRequest(input: {
  readonly url: URL;
  readonly region: string;
  readonly service: string;
  readonly target: string;
  readonly body: string;
  readonly credentials: AwsCredentials;
  readonly now: Date;
}): Record<string, string> {
  const amzDate = input.now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.1',
    host: input.url.host,
    'x-amz-date': amzDate,
    'x-amz-target': input.target,
    ...(input.credentials.sessionToken ? { 'x-amz-security-token': input.credentials.sessionToken } : {}),
  };
  const names = Object.keys(headers).sort();
  const canonical = ['POST', input.url.pathname || '/', '', names.map((n) => `${n}:${headers[n]!.trim()}\n`).join(''), names.join(';'), sha256Hex(input.body)].join('\n');
  const scope = `${date}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${input.credentials.secretAccessKey}`, date), input.region), input.service), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  return {
    ...headers,
    authorization: `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
  };
}

/**
 * `aws ecr get-login-password` against a Berth endpoint: the registry password (user `AWS`).
 *
 * @example const { username, password } = await ecrLogin({ endpoint: 'http://127.0.0.1:4566', region: 'us-east-1', credentials });
 */
export async function ecrLogin(input: { readonly endpoint: string; readonly region: string; readonly credentials: AwsCredentials; readonly now?: Date }): Promise<RegistryCredentials> {
  const url = new URL('/', input.endpoint);
  const body = '{}';
  const headers = signJsonRequest({ url, region: input.region, service: 'ecr', target: 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', body, credentials: input.credentials, now: input.now ?? new Date() });
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body });
  } catch (err) {
    throw new BuildError(`cannot reach Berth at ${input.endpoint} for a registry login: ${(err as Error).message} (is \`berth up\` running? --endpoint-url says where)`, undefined, { cause: err });
  }
  const text = await res.text();
  let doc: { __type?: string; message?: string; Message?: string; authorizationData?: Array<{ authorizationToken?: string }> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new BuildError(`registry login at ${input.endpoint}: the answer (${res.status}) is not JSON`, undefined, { cause: err });
  }
  if (!res.ok) {
    throw new BuildError(`registry login at ${input.endpoint} refused: ${(doc.__type ?? String(res.status)).replace(/^.*#/, '')}: ${doc.message ?? doc.Message ?? ''}`.trim());
  }
  const token = doc.authorizationData?.[0]?.authorizationToken;
  const decoded = token === undefined ? '' : Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new BuildError(`registry login at ${input.endpoint}: the answer holds no authorization token`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
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
