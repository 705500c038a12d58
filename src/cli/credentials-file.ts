/** Reads an AWS shared-credentials file (the one `berth up` writes) for Berth's own clients. */
import { readFileSync } from 'node:fs';

export interface FileCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The keys of `profile` (default: default) in a shared-credentials file; throws naming what is missing. */
export function readCredentialsFile(path: string, profile = 'default'): FileCredentials {
  const text = readFileSync(path, 'utf8');
  let current: string | undefined;
  const values: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = section[1]!.trim();
      continue;
    }
    const kv = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (kv && current === profile) values[kv[1]!] = kv[2]!.trim();
  }
  const accessKeyId = values['aws_access_key_id'];
  const secretAccessKey = values['aws_secret_access_key'];
  if (!accessKeyId || !secretAccessKey) throw new Error(`${path}: profile [${profile}] lacks aws_access_key_id or aws_secret_access_key`);
  return { accessKeyId, secretAccessKey };
}
