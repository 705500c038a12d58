/**
 * Lifecycle policies as users drive them: AWS CLI v1 (the newest botocore's ecr model) signing
 * real requests to the edge: put, get, preview (with the CLI's waiter), refusals, delete.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_TYPE } from './manifest.js';
import { digestText, startRegistry } from './harness.suite.js';
import type { Harness } from './harness.suite.js';

const run = promisify(execFile);
const haveCli = (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, 'aws')));
if (!haveCli) console.warn('lifecycle-cli.test.ts skipped: needs aws (v1) on PATH');

describe.skipIf(!haveCli)('AWS CLI v1 against the lifecycle policy operations', () => {
  const pushedAt = new Date('2026-05-01T00:00:00Z');
  let clock = pushedAt;
  let reg: Harness;
  let home: string;
  let env: NodeJS.ProcessEnv;

  /** Runs `aws ecr ...`; resolves with its JSON output or rejects with its stderr. */
  const aws = async (...args: string[]): Promise<any> => {
    try {
      const { stdout } = await run('aws', ['ecr', ...args, '--endpoint-url', reg.base, '--output', 'json'], { env, timeout: 60_000 });
      return stdout.trim() === '' ? undefined : JSON.parse(stdout);
    } catch (err) {
      throw new Error(`aws ecr ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
  };

  beforeAll(async () => {
    reg = await startRegistry({ now: () => clock });
    home = await mkdtemp(join(tmpdir(), 'berth-lifecycle-cli-'));
    await writeFile(join(home, 'config'), '[default]\ncli_pager =\n');
    env = {
      PATH: process.env['PATH'],
      HOME: home,
      AWS_ACCESS_KEY_ID: reg.key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: reg.key.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: join(home, 'config'),
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

  it('put, get, preview and wait, refuse, delete', async () => {
    await reg.ecrCall('CreateRepository', { repositoryName: 'cli/app' });
    const config = await reg.pushBlob('cli/app', Buffer.from('{}'));
    const doc = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] });
    expect((await reg.request(`/v2/cli/app/manifests/${digestText(doc)}`, { method: 'PUT', body: doc, headers: { 'content-type': MEDIA_TYPE.ociManifest } })).status).toBe(201);
    clock = new Date(pushedAt.getTime() + 30 * 24 * 3600 * 1000);

    const policy = JSON.stringify({
      rules: [{ rulePriority: 1, description: 'untagged after 14 days', selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 }, action: { type: 'expire' } }],
    });
    await writeFile(join(home, 'policy.json'), policy);
    const put = await aws('put-lifecycle-policy', '--repository-name', 'cli/app', '--lifecycle-policy-text', `file://${join(home, 'policy.json')}`);
    expect(put).toEqual({ registryId: '000000000000', repositoryName: 'cli/app', lifecyclePolicyText: policy });
    expect((await aws('get-lifecycle-policy', '--repository-name', 'cli/app')).lifecyclePolicyText).toBe(policy);

    const started = await aws('start-lifecycle-policy-preview', '--repository-name', 'cli/app');
    expect(started.status).toBe('COMPLETE');
    await aws('wait', 'lifecycle-policy-preview-complete', '--repository-name', 'cli/app');
    const preview = await aws('get-lifecycle-policy-preview', '--repository-name', 'cli/app');
    // CLI v1 prints timestamps as they came on the wire: epoch seconds.
    expect(preview.previewResults).toEqual([{ imageDigest: digestText(doc), imageTags: [], imagePushedAt: pushedAt.getTime() / 1000, action: { type: 'EXPIRE' }, appliedRulePriority: 1 }]);
    expect(preview.summary).toEqual({ expiringImageTotalCount: 1 });

    const bad = JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countUnit: 'days', countNumber: 1 }, action: { type: 'expire' } }] });
    await expect(aws('put-lifecycle-policy', '--repository-name', 'cli/app', '--lifecycle-policy-text', bad)).rejects.toThrow(
      /InvalidParameterException.*rule 1 \(rules\[0\]\) selection: instance failed to match exactly one schema \(matched 0 out of 2\): countUnit applies only to countType sinceImagePushed/,
    );

    expect((await aws('delete-lifecycle-policy', '--repository-name', 'cli/app')).lifecyclePolicyText).toBe(policy);
    await expect(aws('get-lifecycle-policy', '--repository-name', 'cli/app')).rejects.toThrow(/LifecyclePolicyNotFoundException.*Lifecycle policy does not exist for the repository with name 'cli\/app'/);
  }, 120_000);
});
