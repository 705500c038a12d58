/**
 * The CLI's way into Berth's registry: the credentials file, a SigV4-signed GetAuthorizationToken
 * against a real edge (the registry harness), and where tags without a host go.
 */
import { describe, expect, it } from 'vitest';
import { startRegistry } from '../../registry/harness.suite.js';
import { ecrLogin, parseCredentialsFile, resolveTag } from './berth-registry.js';

describe('parseCredentialsFile', () => {
  const text = [
    '# written by berth up',
    '[default]',
    'aws_access_key_id = AKIAEXAMPLE',
    'aws_secret_access_key=secret/with=equals',
    '',
    '; another profile',
    '[profile ci]',
    'aws_access_key_id = AKIACI',
    'aws_secret_access_key = ci-secret',
    'aws_session_token = tok',
  ].join('\n');

  it('reads a profile', () => {
    expect(parseCredentialsFile(text)).toEqual({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret/with=equals' });
    expect(parseCredentialsFile(text, 'ci')).toEqual({ accessKeyId: 'AKIACI', secretAccessKey: 'ci-secret', sessionToken: 'tok' });
    expect(parseCredentialsFile(text, 'nope')).toBeUndefined();
    expect(parseCredentialsFile('[default]\naws_access_key_id = A\n')).toBeUndefined();
  });
});

describe('resolveTag', () => {
  const endpoint = 'http://127.0.0.1:4566';
  it.each([
    ['web', '127.0.0.1:4566/web:latest'],
    ['web:1', '127.0.0.1:4566/web:1'],
    ['team/web:1', '127.0.0.1:4566/team/web:1'],
    ['127.0.0.1:5000/web', '127.0.0.1:5000/web:latest'],
    ['registry.example.com/team/web:2', 'registry.example.com/team/web:2'],
    ['localhost/web:3', 'localhost/web:3'],
    [`web@sha256:${'a'.repeat(64)}`, `127.0.0.1:4566/web@sha256:${'a'.repeat(64)}`],
  ])('%s → %s', (tag, want) => {
    expect(resolveTag(tag, endpoint)).toBe(want);
  });
});

describe('ecrLogin', () => {
  it('gets a registry password from Berth with a SigV4-signed GetAuthorizationToken, and the password works', async () => {
    await using reg = await startRegistry();
    const credentials = { accessKeyId: reg.key.accessKeyId, secretAccessKey: reg.key.secretAccessKey };
    const login = await ecrLogin({ endpoint: reg.base, region: 'us-east-1', credentials });
    expect(login.username).toBe('AWS');
    const ok = await fetch(`${reg.base}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`AWS:${login.password}`).toString('base64')}` } });
    expect(ok.status).toBe(200);
  });

  it('says why Berth refused the login', async () => {
    await using reg = await startRegistry();
    await expect(ecrLogin({ endpoint: reg.base, region: 'us-east-1', credentials: { accessKeyId: reg.key.accessKeyId, secretAccessKey: 'wrong' } })).rejects.toThrow(
      /registry login at http:\/\/127\.0\.0\.1:\d+ refused: InvalidSignatureException: The request signature we calculated does not match/,
    );
    await expect(ecrLogin({ endpoint: reg.base, region: 'us-east-1', credentials: { accessKeyId: 'AKIANOBODY', secretAccessKey: 'x' } })).rejects.toThrow('UnrecognizedClientException');
    await expect(ecrLogin({ endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials: { accessKeyId: 'A', secretAccessKey: 'x' } })).rejects.toThrow(
      'cannot reach Berth at http://127.0.0.1:1 for a registry login',
    );
  });
});
