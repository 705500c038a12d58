/**
 * The ECR API as users drive it: both AWS CLIs (v1 on PATH, Debian's v2 at /usr/bin/aws) signing
 * real SigV4 requests to the edge, and `aws ecr get-login-password` handing skopeo its password.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from './harness.suite.js';
import type { Harness } from './harness.suite.js';

const run = promisify(execFile);
const onPath = (tool: string) => (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, tool)));
const CLIS = { v1: 'aws', v2: '/usr/bin/aws' } as const;
const haveClis = onPath('aws') && existsSync(CLIS.v2);
const FIXTURE = '/work/shared/fixtures/busybox-image.sh';
const haveSkopeo = onPath('skopeo') && onPath('umoci') && existsSync('/bin/busybox') && existsSync(FIXTURE);
if (!haveClis) console.warn('ecr-cli.test.ts skipped: needs aws (v1) on PATH and /usr/bin/aws (v2)');

describe.skipIf(!haveClis)('the AWS CLIs against the ECR API', () => {
  let reg: Harness;
  let home: string;
  let env: NodeJS.ProcessEnv;

  /** Runs a CLI; resolves with its JSON output, or rejects with its stderr. */
  const aws = async (cli: keyof typeof CLIS, ...args: string[]): Promise<any> => {
    try {
      const { stdout } = await run(CLIS[cli], ['ecr', ...args, '--endpoint-url', reg.base, '--output', 'json'], { env, timeout: 60_000 });
      return stdout.trim() === '' ? undefined : JSON.parse(stdout);
    } catch (err) {
      throw new Error(`aws ${cli} ecr ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
  };
  /** Runs a CLI that prints plain text (get-login-password). */
  const awsText = async (cli: keyof typeof CLIS, ...args: string[]): Promise<string> =>
    (await run(CLIS[cli], ['ecr', ...args, '--endpoint-url', reg.base], { env, timeout: 60_000 })).stdout.trim();

  beforeAll(async () => {
    reg = await startRegistry();
    home = await mkdtemp(join(tmpdir(), 'berth-ecr-cli-'));
    const config = join(home, 'config');
    await writeFile(config, '[default]\ncli_pager =\n');
    env = {
      PATH: process.env['PATH'],
      HOME: home,
      AWS_ACCESS_KEY_ID: reg.key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: reg.key.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: config,
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-such-credentials'),
      AWS_PAGER: '',
      AWS_MAX_ATTEMPTS: '1',
    };
  });

  afterAll(async () => {
    expect(reg.logs.filter((line) => line.level === 'error')).toEqual([]);
    await reg[Symbol.asyncDispose]();
    await rm(home, { recursive: true, force: true });
  });

  it('create, describe, login, push, list, describe images, delete — across both CLIs', async () => {
    const created = await aws('v1', 'create-repository', '--repository-name', 'cli/app', '--image-tag-mutability', 'IMMUTABLE', '--tags', 'Key=team,Value=core');
    expect(created.repository).toMatchObject({ repositoryName: 'cli/app', repositoryUri: `127.0.0.1:${reg.port}/cli/app`, imageTagMutability: 'IMMUTABLE', registryId: '000000000000' });
    // CLI v1 prints timestamps as they came on the wire: epoch seconds.
    expect(created.repository.createdAt).toBeTypeOf('number');
    const described = await aws('v2', 'describe-repositories', '--repository-names', 'cli/app');
    expect(described.repositories.map((r: { repositoryArn: string }) => r.repositoryArn)).toEqual(['arn:aws:ecr:us-east-1:000000000000:repository/cli/app']);
    const tags = await aws('v2', 'list-tags-for-resource', '--resource-arn', 'arn:aws:ecr:us-east-1:000000000000:repository/cli/app');
    expect(tags.tags).toEqual([{ Key: 'team', Value: 'core' }]);

    for (const cli of ['v1', 'v2'] as const) {
      const password = await awsText(cli, 'get-login-password');
      expect((await reg.request('/v2/', { headers: { authorization: `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}` } })).status).toBe(200);
    }
    const token = await aws('v1', 'get-authorization-token');
    expect(token.authorizationData[0].proxyEndpoint).toBe(reg.base);

    const password = await awsText('v2', 'get-login-password');
    let digest: string;
    if (haveSkopeo) {
      const layout = join(home, 'layout');
      await run('bash', [FIXTURE, layout, 'v1'], { timeout: 60_000 });
      await run('skopeo', ['copy', '--dest-creds', `AWS:${password}`, '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://127.0.0.1:${reg.port}/cli/app:v1`], { timeout: 60_000 });
      digest = (JSON.parse((await run('skopeo', ['inspect', '--creds', `AWS:${password}`, '--tls-verify=false', `docker://127.0.0.1:${reg.port}/cli/app:v1`])).stdout) as { Digest: string }).Digest;
    } else {
      // Without skopeo: the same push by hand, with the CLI's password.
      const config = await reg.pushBlob('cli/app', Buffer.from('{}'));
      const doc = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] });
      const res = await reg.request('/v2/cli/app/manifests/v1', { method: 'PUT', body: doc, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', authorization: `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}` } });
      digest = res.headers.get('docker-content-digest')!;
    }

    const listed = await aws('v2', 'list-images', '--repository-name', 'cli/app');
    expect(listed.imageIds).toEqual([{ imageDigest: digest, imageTag: 'v1' }]);
    const images = await aws('v1', 'describe-images', '--repository-name', 'cli/app');
    expect(images.imageDetails).toHaveLength(1);
    expect(images.imageDetails[0]).toMatchObject({ imageDigest: digest, imageTags: ['v1'], repositoryName: 'cli/app' });
    const got = await aws('v1', 'batch-get-image', '--repository-name', 'cli/app', '--image-ids', 'imageTag=v1');
    expect(got.images[0].imageId.imageDigest).toBe(digest);

    // Immutable: the same manifest under the same tag again is ImageAlreadyExists, another tag is fine.
    const manifest = got.images[0].imageManifest as string;
    await expect(aws('v2', 'put-image', '--repository-name', 'cli/app', '--image-tag', 'v1', '--image-manifest', manifest)).rejects.toThrow(/ImageAlreadyExistsException/);
    const put = await aws('v2', 'put-image', '--repository-name', 'cli/app', '--image-tag', 'v1-copy', '--image-manifest', manifest);
    expect(put.image.imageId).toEqual({ imageDigest: digest, imageTag: 'v1-copy' });

    await expect(aws('v1', 'delete-repository', '--repository-name', 'cli/app')).rejects.toThrow(/RepositoryNotEmptyException/);
    const deleted = await aws('v2', 'batch-delete-image', '--repository-name', 'cli/app', '--image-ids', 'imageTag=v1', 'imageTag=v1-copy');
    expect(deleted.failures).toEqual([]);
    expect((await aws('v1', 'list-images', '--repository-name', 'cli/app')).imageIds).toEqual([]);
    await aws('v1', 'delete-repository', '--repository-name', 'cli/app');
    await expect(aws('v2', 'describe-repositories', '--repository-names', 'cli/app')).rejects.toThrow(/RepositoryNotFoundException/);
  }, 120_000);
});
