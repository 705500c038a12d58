/**
 * Berth's registry behind `berth up`: the ECR API through both AWS CLIs, and skopeo pushing and
 * pulling a real image with the password `aws ecr get-login-password` prints.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type AwsCli, type Berth } from './harness.js';

const FIXTURE = resolve(import.meta.dirname, '../../../shared/fixtures/busybox-image.sh');
let berth: Berth;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'berth-e2e-registry-'));
  execFileSync('bash', [FIXTURE, join(work, 'layout'), 'v1'], { stdio: 'pipe' });
  berth = await startBerth();
});
afterAll(async () => {
  await berth?.[Symbol.asyncDispose]();
  if (work) rmSync(work, { recursive: true, force: true });
});

const skopeo = (args: string[]) => spawnSync('skopeo', args, { encoding: 'utf8', timeout: 120_000 });

describe.each(['v1', 'v2'] as const)('AWS CLI %s', (cli: AwsCli) => {
  const repo = `team/web-${cli}`;

  it('creates a repository, pushes with skopeo using the login password, and describes the image', () => {
    const created = berth.awsOk(cli, ['ecr', 'create-repository', '--repository-name', repo, '--image-tag-mutability', 'IMMUTABLE']);
    expect(created.repository.repositoryUri).toBe(`127.0.0.1:${berth.port}/${repo}`);
    const password = berth.aws(cli, ['ecr', 'get-login-password']).stdout;
    expect(password.length).toBeGreaterThan(20);
    const host = `127.0.0.1:${berth.port}`;

    const denied = skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'AWS:wrong', `oci:${join(work, 'layout')}:v1`, `docker://${host}/${repo}:v1`]);
    expect(denied.status).not.toBe(0);

    const pushed = skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `AWS:${password}`, `oci:${join(work, 'layout')}:v1`, `docker://${host}/${repo}:v1`]);
    expect(pushed.status, pushed.stderr).toBe(0);

    const images = berth.awsOk(cli, ['ecr', 'describe-images', '--repository-name', repo]).imageDetails;
    expect(images).toHaveLength(1);
    expect(images[0].imageTags).toEqual(['v1']);
    expect(images[0].imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const out = join(work, `pulled-${cli}`);
    const pulled = skopeo(['copy', '--src-tls-verify=false', '--src-creds', `AWS:${password}`, `docker://${host}/${repo}:v1`, `oci:${out}:v1`]);
    expect(pulled.status, pulled.stderr).toBe(0);
    expect(readdirSync(join(out, 'blobs/sha256')).length).toBeGreaterThanOrEqual(3);

    // Immutable: the same tag cannot be pushed again with other content.
    const manifest = berth.awsOk(cli, ['ecr', 'batch-get-image', '--repository-name', repo, '--image-ids', 'imageTag=v1']).images[0];
    const again = berth.aws(cli, ['ecr', 'put-image', '--repository-name', repo, '--image-tag', 'v1',
      '--image-manifest', manifest.imageManifest.replace('"schemaVersion":2', '"schemaVersion": 2')]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('ImageTagAlreadyExistsException');

    berth.awsOk(cli, ['ecr', 'delete-repository', '--repository-name', repo, '--force']);
    expect(berth.aws(cli, ['ecr', 'describe-repositories', '--repository-names', repo]).stderr).toContain('RepositoryNotFoundException');
  });
});
