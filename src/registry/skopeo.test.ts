/**
 * Real clients against the registry: skopeo pushes the busybox fixture image, inspects it, pulls it
 * back into an OCI layout, copies it between repositories, lists tags and deletes, all with ECR-style
 * credentials (`AWS:<token>`) over plain HTTP on 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry } from './harness.suite.js';
import type { Harness } from './harness.suite.js';

const run = promisify(execFile);
const FIXTURE = '/work/shared/fixtures/busybox-image.sh';
const onPath = (tool: string) => (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, tool)));
const tools = onPath('skopeo') && onPath('umoci') && existsSync('/bin/busybox') && existsSync(FIXTURE);
if (!tools) console.warn('skopeo.test.ts skipped: needs skopeo, umoci, busybox-static and the busybox fixture script');

interface Layout {
  readonly manifestDigest: string;
  readonly manifest: { config: { digest: string }; layers: { digest: string; size: number }[] };
}

/** The manifest an OCI layout's index names for `tag`, with its blobs checked against their digests. */
async function readLayout(dir: string, tag: string): Promise<Layout> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (entry === undefined) throw new Error(`${dir} has no ${tag}`);
  const blob = async (digest: string) => {
    const bytes = await readFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(digest);
    return bytes;
  };
  const manifest = JSON.parse((await blob(entry.digest)).toString('utf8')) as Layout['manifest'];
  await blob(manifest.config.digest);
  for (const layer of manifest.layers) expect((await blob(layer.digest)).length).toBe(layer.size);
  return { manifestDigest: entry.digest, manifest };
}

describe.skipIf(!tools)('skopeo against the registry', () => {
  let reg: Harness;
  let work: string;
  let source: Layout;
  let host: string;
  let creds: string;

  const skopeo = async (...args: string[]) => {
    try {
      return (await run('skopeo', args, { timeout: 60_000 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
    }
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-skopeo-'));
    await run('bash', [FIXTURE, join(work, 'source'), 'v1'], { timeout: 60_000 });
    source = await readLayout(join(work, 'source'), 'v1');
    reg = await startRegistry();
    host = `127.0.0.1:${reg.port}`;
    creds = `AWS:${reg.token}`;
  }, 120_000);

  afterAll(async () => {
    expect(reg.logs.filter((line) => line.level === 'error')).toEqual([]);
    await reg[Symbol.asyncDispose]();
    await rm(work, { recursive: true, force: true });
  });

  it('push, inspect, pull back, copy between repositories, list tags, delete', async () => {
    await skopeo('copy', '--dest-creds', creds, '--dest-tls-verify=false', `oci:${join(work, 'source')}:v1`, `docker://${host}/busybox/app:v1`);

    const inspected = JSON.parse(await skopeo('inspect', '--creds', creds, '--tls-verify=false', `docker://${host}/busybox/app:v1`)) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(source.manifestDigest);
    expect(inspected.Layers).toEqual(source.manifest.layers.map((l) => l.digest));
    const raw = await skopeo('inspect', '--raw', '--creds', creds, '--tls-verify=false', `docker://${host}/busybox/app:v1`);
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(source.manifestDigest);

    await skopeo('copy', '--src-creds', creds, '--src-tls-verify=false', `docker://${host}/busybox/app:v1`, `oci:${join(work, 'pulled')}:v1`);
    const pulled = await readLayout(join(work, 'pulled'), 'v1');
    expect(pulled.manifestDigest).toBe(source.manifestDigest);
    expect(pulled.manifest.layers).toEqual(source.manifest.layers);
    expect(pulled.manifest.config.digest).toBe(source.manifest.config.digest);

    await skopeo(
      'copy',
      '--src-creds', creds, '--src-tls-verify=false',
      '--dest-creds', creds, '--dest-tls-verify=false',
      `docker://${host}/busybox/app:v1`,
      `docker://${host}/mirror/app:copied`,
    );
    const mirrored = JSON.parse(await skopeo('inspect', '--creds', creds, '--tls-verify=false', `docker://${host}/mirror/app:copied`)) as { Digest: string; Layers: string[] };
    expect(mirrored.Digest).toBe(source.manifestDigest);
    expect(mirrored.Layers).toEqual(source.manifest.layers.map((l) => l.digest));
    // Both repositories share one copy of each blob on disk.
    const onDisk = await reg.blobFiles();
    for (const layer of source.manifest.layers) expect(onDisk.filter((f) => f === layer.digest.slice(7))).toHaveLength(1);

    const tags = JSON.parse(await skopeo('list-tags', '--creds', creds, '--tls-verify=false', `docker://${host}/mirror/app`)) as { Tags: string[] };
    expect(tags.Tags).toEqual(['copied']);

    await skopeo('delete', '--creds', creds, '--tls-verify=false', `docker://${host}/mirror/app:copied`);
    await expect(skopeo('inspect', '--creds', creds, '--tls-verify=false', `docker://${host}/mirror/app:copied`)).rejects.toThrow(/manifest unknown|not found|MANIFEST_UNKNOWN/i);
    // The original is untouched.
    expect(JSON.parse(await skopeo('inspect', '--creds', creds, '--tls-verify=false', `docker://${host}/busybox/app:v1`)).Digest).toBe(source.manifestDigest);
  });

  it('refuses skopeo without credentials or with a wrong token', async () => {
    await expect(skopeo('inspect', '--tls-verify=false', '--no-creds', `docker://${host}/busybox/app:v1`)).rejects.toThrow(/unauthorized|authentication required/i);
    await expect(skopeo('inspect', '--creds', 'AWS:brt_wrong', '--tls-verify=false', `docker://${host}/busybox/app:v1`)).rejects.toThrow(/unauthorized|not valid/i);
  });
});
