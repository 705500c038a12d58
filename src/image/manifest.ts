/**
 * The OCI and Docker v2 manifest, index and image-config shapes, and strict parsers for them.
 * Everything here is pure: bytes in, checked objects (or an InvalidManifest/Unsupported error) out.
 */
import { parseDigest } from './digest.js';
import { ImageError } from './errors.js';

export const MediaType = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociNondistributableLayer: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNondistributableLayerGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNondistributableLayerZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The Accept header for manifest GETs: every kind we can read, so registries do not down-convert. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
].join(', ');

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);
const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);
const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);

/** How a layer's bytes are compressed, from its media type. */
export type LayerCompression = 'gzip' | 'zstd' | 'none';

export function layerCompression(mediaType: string): LayerCompression {
  switch (mediaType) {
    case MediaType.dockerLayerGzip:
    case MediaType.dockerForeignLayerGzip:
    case MediaType.ociLayerGzip:
    case MediaType.ociNondistributableLayerGzip:
      return 'gzip';
    case MediaType.ociLayerZstd:
    case MediaType.ociNondistributableLayerZstd:
      return 'zstd';
    case MediaType.ociLayer:
    case MediaType.ociNondistributableLayer:
      return 'none';
    default:
      throw new ImageError('Unsupported', `layer media type ${mediaType} is not one we can unpack`);
  }
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** The parts of an image config (OCI image-spec config.md) that running a container needs. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, unknown>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, unknown>;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    StopSignal?: string;
    Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
}

function invalid(what: string, rule: string): ImageError {
  return new ImageError('InvalidManifest', `${what}: ${rule}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new ImageError('InvalidManifest', `${what} is not valid JSON`, { cause: err });
  }
  if (!isRecord(doc)) throw invalid(what, 'must be a JSON object');
  return doc;
}

function stringRecord(v: unknown, what: string): Record<string, string> {
  if (!isRecord(v) || !Object.values(v).every((x) => typeof x === 'string')) throw invalid(what, 'must map strings to strings');
  return v as Record<string, string>;
}

function parsePlatform(v: unknown, what: string): Platform {
  if (!isRecord(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') {
    throw invalid(what, 'platform needs string os and architecture');
  }
  const p: Platform = { os: v.os, architecture: v.architecture };
  if (typeof v.variant === 'string') p.variant = v.variant;
  if (typeof v['os.version'] === 'string') p['os.version'] = v['os.version'];
  if (Array.isArray(v['os.features'])) p['os.features'] = v['os.features'].filter((f): f is string => typeof f === 'string');
  return p;
}

/** Checks one descriptor: media type, a supported digest, a non-negative integer size. */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v)) throw invalid(what, 'must be an object');
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw invalid(what, 'mediaType must be a non-empty string');
  if (typeof v.digest !== 'string') throw invalid(what, 'digest must be a string');
  parseDigest(v.digest, `${what} digest`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw invalid(what, 'size must be a non-negative integer');
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest, size: v.size };
  if (v.urls !== undefined) {
    if (!Array.isArray(v.urls) || !v.urls.every((u) => typeof u === 'string')) throw invalid(what, 'urls must be strings');
    d.urls = v.urls;
  }
  if (v.annotations !== undefined && v.annotations !== null) d.annotations = stringRecord(v.annotations, `${what} annotations`);
  if (v.platform !== undefined) d.platform = parsePlatform(v.platform, what);
  return d;
}

/** Strips parameters (`; charset=utf-8`) from a Content-Type. */
function bareType(contentType: string | undefined): string | undefined {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  return t === '' ? undefined : t;
}

/**
 * Parses manifest bytes as an index or an image manifest. The kind comes from the body's
 * `mediaType`, else the Content-Type, else the shape (OCI makes `mediaType` optional); a body and
 * header that disagree on a known type are refused, as a registry must not serve one as the other.
 *
 * @example parseManifest(bytes, 'application/vnd.oci.image.index.v1+json').kind // 'index'
 */
export function parseManifest(bytes: Uint8Array, contentType?: string, what = 'manifest'): ImageIndex | ImageManifest {
  const doc = parseJson(bytes, what);
  const header = bareType(contentType);
  const body = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const known = (t: string | undefined): t is string => t !== undefined && (INDEX_TYPES.has(t) || MANIFEST_TYPES.has(t));
  for (const t of [body, header]) {
    if (t === MediaType.dockerSchema1 || t === MediaType.dockerSchema1Signed) {
      throw new ImageError('Unsupported', `${what} is Docker schema 1 (${t}), which is deprecated and not supported; push the image again with a current client`);
    }
  }
  if (doc.schemaVersion === 1) throw new ImageError('Unsupported', `${what} is Docker schema 1, which is deprecated and not supported`);
  if (known(body) && known(header) && body !== header) throw invalid(what, `body says ${body} but the registry served it as ${header}`);
  let mediaType = known(body) ? body : known(header) ? header : undefined;
  if (mediaType === undefined) {
    if (Array.isArray(doc.manifests)) mediaType = MediaType.ociIndex;
    else if (isRecord(doc.config) && Array.isArray(doc.layers)) mediaType = MediaType.ociManifest;
    else throw new ImageError('Unsupported', `${what} has media type ${body ?? header ?? '(none)'}, not an image manifest or index`);
  }
  if (doc.schemaVersion !== 2) throw invalid(what, 'schemaVersion must be 2');

  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid(what, 'an index needs a manifests array');
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`));
    return { kind: 'index', mediaType, manifests };
  }
  if (!Array.isArray(doc.layers)) throw invalid(what, 'a manifest needs a layers array');
  const config = parseDescriptor(doc.config, `${what} config`);
  if (!CONFIG_TYPES.has(config.mediaType)) {
    throw new ImageError('Unsupported', `${what} config has media type ${config.mediaType}: an artifact, not a container image`);
  }
  const layers = doc.layers.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`));
  // Refuse layers we could never unpack before downloading any of them.
  for (const l of layers) layerCompression(l.mediaType);
  return { kind: 'manifest', mediaType, config, layers };
}

/**
 * Parses an image config, checking what pulling relies on: os, architecture and the diff_ids.
 *
 * @example parseImageConfig(bytes).rootfs.diff_ids // ['sha256:…']
 */
export function parseImageConfig(bytes: Uint8Array, what = 'image config'): ImageConfig {
  const doc = parseJson(bytes, what);
  if (typeof doc.os !== 'string' || typeof doc.architecture !== 'string') throw invalid(what, 'needs string os and architecture');
  const rootfs = doc.rootfs;
  if (!isRecord(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw invalid(what, "rootfs must be { type: 'layers', diff_ids: [...] }");
  }
  const diffIds = rootfs.diff_ids.map((d, i) => {
    if (typeof d !== 'string') throw invalid(what, `rootfs.diff_ids[${i}] must be a string`);
    parseDigest(d, `${what} rootfs.diff_ids[${i}]`);
    return d;
  });
  if (doc.config !== undefined && doc.config !== null && !isRecord(doc.config)) throw invalid(what, 'config must be an object');
  const out: ImageConfig = { ...(doc as unknown as ImageConfig), rootfs: { type: 'layers', diff_ids: diffIds } };
  return out;
}
