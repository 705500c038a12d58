/**
 * Podman against the registry: the busybox fixture image goes into a private podman store, is
 * pushed with ECR-style credentials over plain HTTP on 127.0.0.1, pulled back into a second
 * private store with the same digest, and run there. Skipped, with the reason printed, where
 * podman (apt-get install -y podman) or the fixture's tools are missing.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from './harness.suite.js';
import type { Harness } from './harness.suite.js';

const run = promisify(execFile);
const FIXTURE = '/work/shared/fixtures/busybox-image.sh';
const onPath = (tool: string) => (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, tool)));
const missing = [
  ...(['podman', 'umoci'] as const).filter((tool) => !onPath(tool)),
  ...(existsSync('/bin/busybox') ? [] : ['busybox-static']),
  ...(existsSync(FIXTURE) ? [] : [FIXTURE]),
  ...(process.getuid?.() === 0 ? [] : ['root (podman runs rootful here)']),
];
if (missing.length > 0) console.warn(`podman.test.ts skipped: needs ${missing.join(', ')}`);

describe.skipIf(missing.length > 0)('podman against the registry', () => {
  let reg: Harness;
  let work: string;
  let host: string;
  let creds: string;

  /** Podman with a store of its own under `work`, so the machine's images are never touched. */
  const podman = async (store: string, ...args: string[]) => {
    const dir = join(work, store);
    const global = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
    try {
      return (await run('podman', [...global, ...args], { timeout: 120_000, maxBuffer: 16 << 20 })).stdout.trim();
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`podman ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
    }
  };

  beforeAll(async () => {
    // Short and lower case: podman names an image pulled from an OCI layout after its path, and refuses a runroot path over 50 characters.
    work = join(tmpdir(), `berth-pm-${randomUUID().slice(0, 8)}`);
    await mkdir(work);
    await run('bash', [FIXTURE, join(work, 'layout'), 'v1'], { timeout: 60_000 });
    reg = await startRegistry();
    host = `127.0.0.1:${reg.port}`;
    creds = `AWS:${reg.token}`;
  }, 120_000);

  afterAll(async () => {
    expect(reg.logs.filter((line) => line.level === 'error')).toEqual([]);
    await reg[Symbol.asyncDispose]();
    // vfs layers hold files owned by root with odd modes; podman removes its own stores best.
    for (const store of ['pusher', 'puller']) await podman(store, 'system', 'reset', '--force').catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('pushes an image, pulls it back with the same digest and runs it', async () => {
    const local = (await podman('pusher', 'pull', '--quiet', `oci:${join(work, 'layout')}:v1`)).split('\n').pop()!;
    const image = `${host}/podman/busybox:v1`;
    await podman('pusher', 'tag', local, image);
    await podman('pusher', 'push', '--tls-verify=false', '--creds', creds, image);

    // The registry holds what podman said it pushed.
    const listed = (await reg.ecrCall('DescribeImages', { repositoryName: 'podman/busybox' })) as { imageDetails: { imageDigest: string; imageTags?: string[] }[] };
    expect(listed.imageDetails).toHaveLength(1);
    expect(listed.imageDetails[0]!.imageTags).toEqual(['v1']);
    const pushedDigest = listed.imageDetails[0]!.imageDigest;

    await podman('puller', 'pull', '--tls-verify=false', '--creds', creds, image);
    expect(await podman('puller', 'image', 'inspect', '--format', '{{.Digest}}', image)).toBe(pushedDigest);
    // Podman's default limits (1M open files and more processes) exceed what this machine lets a
    // container have, and runc fails to set them; modest ones are all echo needs.
    const out = await podman('puller', 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--entrypoint', '/bin/echo', image, 'hello from podman');
    expect(out).toBe('hello from podman');
  });

  it('refuses a pull without credentials or with a wrong token', async () => {
    const image = `${host}/podman/busybox:v1`;
    await expect(podman('puller', 'pull', '--tls-verify=false', `${host}/podman/none:v1`)).rejects.toThrow(/unauthorized|authentication required/i);
    await expect(podman('puller', 'pull', '--tls-verify=false', '--creds', 'AWS:brt_wrong', image)).rejects.toThrow(/unauthorized|not valid/i);
  });
});
