/**
 * The edge of a real server: unsigned, unknown-key and wrongly signed requests are refused with
 * AWS's errors, by both CLIs and by raw HTTP, and change nothing.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_CLIS, cliEnv, startBerth, type AwsCli, type Berth } from './harness.js';

let berth: Berth;
beforeAll(async () => {
  berth = await startBerth();
});
afterAll(async () => {
  await berth?.[Symbol.asyncDispose]();
});

const target = 'AmazonEC2ContainerServiceV20141113.CreateCluster';

function clusterNames(): string[] {
  return (berth.awsOk('v1', ['ecs', 'list-clusters']).clusterArns as string[]).map((a) => a.split('/').pop()!);
}

describe('a real server', () => {
  it('answers /healthz without auth', async () => {
    const res = await fetch(`${berth.endpoint}/healthz`);
    expect(res.status).toBe(200);
  });

  it('refuses an unsigned request and creates nothing', async () => {
    const res = await fetch(berth.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
      body: JSON.stringify({ clusterName: 'unsigned' }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-amzn-requestid')).toMatch(/[0-9a-f-]{36}/);
    expect(await res.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
    expect(clusterNames()).not.toContain('unsigned');
  });

  it('refuses a forged Authorization header', async () => {
    const res = await fetch(berth.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': target,
        'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''),
        authorization: `AWS4-HMAC-SHA256 Credential=${berth.credentials.accessKeyId}/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
      },
      body: JSON.stringify({ clusterName: 'forged' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { __type: string }).__type).toMatch(/InvalidSignatureException/);
    expect(clusterNames()).not.toContain('forged');
  });

  describe.each(['v1', 'v2'] as const)('with AWS CLI %s', (cli: AwsCli) => {
    const run = (creds: { accessKeyId: string; secretAccessKey: string }, name: string, region?: string) =>
      spawnSync(AWS_CLIS[cli], ['ecs', 'create-cluster', '--cluster-name', name, '--endpoint-url', berth.endpoint], {
        encoding: 'utf8',
        env: cliEnv(berth.home, creds, region),
      });

    it('refuses a wrong secret with InvalidSignatureException', () => {
      const res = run({ ...berth.credentials, secretAccessKey: 'x'.repeat(40) }, `wrong-secret-${cli}`);
      expect(res.status).not.toBe(0);
      expect(res.stderr).toContain('InvalidSignatureException');
      expect(clusterNames()).not.toContain(`wrong-secret-${cli}`);
    });

    it('refuses an unknown access key with UnrecognizedClientException', () => {
      const res = run({ accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x'.repeat(40) }, `unknown-key-${cli}`);
      expect(res.status).not.toBe(0);
      expect(res.stderr).toContain('UnrecognizedClientException');
      expect(clusterNames()).not.toContain(`unknown-key-${cli}`);
    });

    it('refuses a request signed for another region', () => {
      const res = run(berth.credentials, `other-region-${cli}`, 'eu-west-1');
      expect(res.status).not.toBe(0);
      expect(res.stderr).toContain('InvalidSignatureException');
      expect(clusterNames()).not.toContain(`other-region-${cli}`);
    });

    it('accepts the admin key', () => {
      const res = run(berth.credentials, `ok-${cli}`);
      expect(res.status, res.stderr).toBe(0);
      expect(clusterNames()).toContain(`ok-${cli}`);
    });
  });
});
