import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCredentialsFile, readCredentialsFile } from './credentials-file.js';

describe('readCredentialsFile', () => {
  const file = (text: string) => {
    const path = join(mkdtempSync(join(tmpdir(), 'berth-creds-')), 'credentials');
    writeFileSync(path, text);
    return path;
  };

  it('reads the default profile and ignores others and comments', () => {
    const path = file('# keys\n[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = s1\n\n[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s2\n');
    expect(readCredentialsFile(path)).toEqual({ accessKeyId: 'AKIADEFAULT', secretAccessKey: 's2' });
    expect(readCredentialsFile(path, 'other')).toEqual({ accessKeyId: 'AKIAOTHER', secretAccessKey: 's1' });
  });

  it('reads [profile x] sections and session tokens', () => {
    expect(parseCredentialsFile('[profile ci]\naws_access_key_id = AKIACI\naws_secret_access_key = s\naws_session_token = tok\n', 'ci')).toEqual({ accessKeyId: 'AKIACI', secretAccessKey: 's', sessionToken: 'tok' });
  });

  it('names the profile when a key is missing', () => {
    expect(() => readCredentialsFile(file('[default]\naws_access_key_id = AKIA\n'))).toThrow(/profile \[default\] lacks/);
    expect(() => readCredentialsFile(file('[default]\naws_access_key_id = A\naws_secret_access_key = B\n'), 'nope')).toThrow(/\[nope\]/);
  });
});
