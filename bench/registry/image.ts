/**
 * The benchmark image of bench/registry: the busybox fixture plus one ~100 MiB gzip layer of random
 * (incompressible) bytes, written into an OCI layout for skopeo to push; and the registries the
 * bench/registry scripts drive.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildBusybox } from '../../src/image/testing/registry.js';
import { makeTar } from '../../src/image/testing/tar.js';
import { statFields } from '../../src/runtime/runc/procfs.js';
import { jsonClient } from '../lib.js';

export const BIG_LAYER_BYTES = 100 * 1024 * 1024;
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface Blob {
  readonly digest: string;
  readonly size: number;
}

/** Writes a blob into an OCI layout. */
export async function putBlob(layout: string, bytes: Buffer): Promise<Blob> {
  const digest = sha256(bytes);
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/**
 * Adds image `tag` to the layout (built by buildBusybox with the tag 'base'): the busybox image's
 * layers and one new gzip layer of random bytes, so that every run pushes a layer neither registry
 * has seen. Gzip, because skopeo compresses uncompressed layers on the way to a registry and would
 * then measure its own gzip. Returns the bytes the image's config and layers weigh.
 */
export async function addBigImage(layout: string, tag: string): Promise<number> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const base = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'base')!;
  const blobPath = (digest: string) => join(layout, 'blobs', 'sha256', digest.slice(7));
  const manifest = JSON.parse(await readFile(blobPath(base.digest), 'utf8')) as { config: Blob & { mediaType: string }; layers: (Blob & { mediaType: string })[] };
  const config = JSON.parse(await readFile(blobPath(manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };

  const tar = await makeTar([{ name: 'data/random.bin', content: randomBytes(BIG_LAYER_BYTES) }]);
  const layer = await putBlob(layout, gzipSync(tar, { level: 1 }));
  config.rootfs.diff_ids.push(sha256(tar));
  const configBlob = await putBlob(layout, Buffer.from(JSON.stringify(config)));
  const layers = [...manifest.layers, { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }];
  const doc = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...manifest.config, ...configBlob }, layers }));
  const manifestBlob = await putBlob(layout, doc);
  index.manifests.push({ mediaType: OCI_MANIFEST, ...manifestBlob, annotations: { 'org.opencontainers.image.ref.name': tag } } as (typeof index.manifests)[number]);
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  return configBlob.size + layers.reduce((sum, l) => sum + l.size, 0);
}

/** A process's CPU so far (utime + stime of all its threads, from /proc/<pid>/stat), in ms. */
export function processCpuMs(pid: number): number {
  const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))!;
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ
}

/** A new OCI layout under `scratch` holding the busybox fixture (tag `base`), ready for addBigImage. */
export async function baseLayout(scratch: string): Promise<string> {
  const layout = join(scratch, 'layout');
  await buildBusybox(layout, 'base');
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  return layout;
}

/** A registry a bench/registry script drives. */
export interface Target {
  readonly name: 'berth' | 'docker_registry';
  /** host:port */
  readonly host: string;
  /** The server's process, whose CPU per pull is reported. */
  readonly pid: number;
  /** `user:password` for skopeo, or none. */
  readonly creds?: string;
  /** The Authorization header for raw HTTP, or none. */
  readonly authorization?: string;
}

/** Berth's registry as a Target: its ECR token as skopeo's credentials and as Basic auth. */
export async function berthRegistry(berth: { endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string }; pid: number }): Promise<Target> {
  const ecr = jsonClient(berth.endpoint, berth.credentials, 'ecr');
  const auth = await ecr.call('AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', {});
  ecr.close();
  if (auth.status !== 200) throw new Error(`GetAuthorizationToken: ${auth.status} ${auth.body}`);
  const token = (JSON.parse(auth.body) as { authorizationData: { authorizationToken: string }[] }).authorizationData[0]!.authorizationToken;
  return {
    name: 'berth',
    host: new URL(berth.endpoint).host,
    pid: berth.pid,
    creds: Buffer.from(token, 'base64').toString('utf8'),
    authorization: `Basic ${token}`,
  };
}
