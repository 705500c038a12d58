/**
 * Manifest media types the registry stores (OCI image manifest and index, Docker v2 schema 2 and
 * manifest list), and the pure check that a pushed body is what its media type says. What a
 * manifest references (blobs, child manifests, a subject) comes out of here for distribution.ts
 * to verify against the repository.
 *
 * @example parseManifest(body, 'application/vnd.oci.image.manifest.v1+json').blobs // config + layers
 */
import { clip, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';

export const MEDIA_TYPE = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export type ManifestMediaType = (typeof MEDIA_TYPE)[keyof typeof MEDIA_TYPE];
export const MANIFEST_MEDIA_TYPES: readonly ManifestMediaType[] = Object.values(MEDIA_TYPE);

/** Manifests are small JSON documents; the spec suggests registries accept at least 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const isManifestMediaType = (value: string): value is ManifestMediaType => (MANIFEST_MEDIA_TYPES as readonly string[]).includes(value);
export const isIndexMediaType = (value: string): boolean => value === MEDIA_TYPE.ociIndex || value === MEDIA_TYPE.dockerManifestList;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly urls?: readonly string[];
  readonly platform?: Readonly<Record<string, unknown>>;
}

export interface ParsedManifest {
  readonly mediaType: ManifestMediaType;
  /** Image manifests: the config descriptor. */
  readonly config?: Descriptor;
  /** Image manifests: the layers, in order. */
  readonly layers: readonly Descriptor[];
  /** Blobs the repository must hold for this manifest: config and every distributable layer. */
  readonly blobs: readonly Descriptor[];
  /** Indexes: the child manifests the repository must hold. */
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** RFC 6838's shape, loosely: type/subtype with the usual token characters. */
const MEDIA_TYPE_SHAPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** Layers that registries never hold: Windows base layers and the like, fetched from `urls`. */
const NON_DISTRIBUTABLE = /^application\/vnd\.(?:oci\.image\.layer\.nondistributable\.|docker\.image\.rootfs\.foreign\.)/;

/** The media type a Content-Type header names, without parameters; undefined for none or a generic one. */
export function manifestTypeOf(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === undefined || type === '' || type === 'application/json' || type === 'application/octet-stream') return undefined;
  return type;
}

/**
 * Parses a pushed manifest: the JSON must be the document its media type (Content-Type, else the
 * body's `mediaType`, else inferred as OCI from its shape) describes. Throws MANIFEST_INVALID naming
 * the field and the rule.
 */
export function parseManifest(body: Uint8Array, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    throw invalid(`the manifest is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw invalid('the manifest must be a JSON object');
  const declared = manifestTypeOf(contentType);
  const inBody = optionalString(doc, 'mediaType', 'mediaType');
  if (declared !== undefined && inBody !== undefined && declared !== inBody) {
    throw invalid(`Content-Type '${clip(declared)}' does not match the manifest's mediaType '${clip(inBody)}'`);
  }
  const mediaType = declared ?? inBody ?? ('manifests' in doc ? MEDIA_TYPE.ociIndex : MEDIA_TYPE.ociManifest);
  if (!isManifestMediaType(mediaType)) {
    throw invalid(`manifest media type '${clip(mediaType)}' is not supported: use one of ${MANIFEST_MEDIA_TYPES.join(', ')}`);
  }
  if (doc['schemaVersion'] !== 2) throw invalid('schemaVersion must be 2');
  // Docker's formats always name themselves; an unlabelled body is OCI.
  if ((mediaType === MEDIA_TYPE.dockerManifest || mediaType === MEDIA_TYPE.dockerManifestList) && inBody === undefined) {
    throw invalid(`a ${mediaType} manifest must carry its mediaType`);
  }
  const subject = doc['subject'] === undefined ? undefined : descriptor(doc['subject'], 'subject');
  const artifactType = optionalString(doc, 'artifactType', 'artifactType');
  if (artifactType !== undefined && !MEDIA_TYPE_SHAPE.test(artifactType)) throw invalid(`artifactType '${clip(artifactType)}' is not a media type`);
  const annotations = optionalAnnotations(doc['annotations'], 'annotations');
  const common = {
    mediaType,
    ...(subject !== undefined && { subject }),
    ...(artifactType !== undefined && { artifactType }),
    ...(annotations !== undefined && { annotations }),
  };

  if (isIndexMediaType(mediaType)) {
    if ('config' in doc || 'layers' in doc) throw invalid('an index has manifests, not config or layers');
    const list = doc['manifests'];
    if (!Array.isArray(list)) throw invalid('manifests must be an array of descriptors');
    const manifests = list.map((d, i) => descriptor(d, `manifests[${i}]`));
    return { ...common, layers: [], blobs: [], manifests };
  }
  if ('manifests' in doc) throw invalid('an image manifest has config and layers, not manifests');
  if (doc['config'] === undefined) throw invalid('config is required');
  const config = descriptor(doc['config'], 'config');
  const rawLayers = doc['layers'];
  if (!Array.isArray(rawLayers)) throw invalid('layers must be an array of descriptors');
  const layers = rawLayers.map((d, i) => descriptor(d, `layers[${i}]`));
  if (mediaType === MEDIA_TYPE.dockerManifest && layers.length === 0) throw invalid('a Docker image manifest needs at least one layer');
  const blobs = [config, ...layers.filter((l) => !(NON_DISTRIBUTABLE.test(l.mediaType) && (l.urls?.length ?? 0) > 0))];
  return { ...common, config, layers, blobs, manifests: [] };
}

/**
 * How a manifest appears in a referrers list: its artifactType, else (image manifests) its
 * config's media type, as the spec's referrers API says.
 */
export function referrerArtifactType(manifest: Pick<ParsedManifest, 'artifactType' | 'config'>): string | undefined {
  return manifest.artifactType ?? manifest.config?.mediaType;
}

function descriptor(value: unknown, field: string): Descriptor {
  if (!isObject(value)) throw invalid(`${field} must be a descriptor object {mediaType, digest, size}`);
  const mediaType = value['mediaType'];
  if (typeof mediaType !== 'string' || !MEDIA_TYPE_SHAPE.test(mediaType)) throw invalid(`${field}.mediaType must be a media type`);
  const digest = value['digest'];
  if (typeof digest !== 'string') throw invalid(`${field}.digest must be a string`);
  try {
    parseDigest(digest);
  } catch (err) {
    throw invalid(`${field}.digest: ${(err as Error).message}`);
  }
  const size = value['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${field}.size must be a non-negative integer`);
  const urls = value['urls'];
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) throw invalid(`${field}.urls must be an array of strings`);
  const artifactType = optionalString(value, 'artifactType', `${field}.artifactType`);
  const annotations = optionalAnnotations(value['annotations'], `${field}.annotations`);
  const platform = value['platform'];
  if (platform !== undefined && !isObject(platform)) throw invalid(`${field}.platform must be an object`);
  return {
    mediaType,
    digest,
    size,
    ...(artifactType !== undefined && { artifactType }),
    ...(annotations !== undefined && { annotations }),
    ...(urls !== undefined && { urls: urls as string[] }),
    ...(platform !== undefined && { platform }),
  };
}

function optionalString(obj: Record<string, unknown>, key: string, field: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  return value;
}

function optionalAnnotations(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) throw invalid(`${field} must map strings to strings`);
  return value as Record<string, string>;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const invalid = (message: string) => new RegistryError('MANIFEST_INVALID', message);
