/**
 * The AWS shared-credentials file format (what `berth up` writes and the AWS CLI reads), for
 * Berth's own clients of its API: the agent, `berth build`, the e2e harness.
 */
import { readFileSync } from 'node:fs';

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

/** The keys of `profile` in a credentials file; throws naming the file and profile when they are missing. */
export function readCredentialsFile(path: string, profile = 'default'): AwsCredentials {
  const creds = parseCredentialsFile(readFileSync(path, 'utf8'), profile);
  if (creds === undefined) throw new Error(`${path}: profile [${profile}] lacks aws_access_key_id or aws_secret_access_key`);
  return creds;
}
