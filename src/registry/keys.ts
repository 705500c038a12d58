/**
 * Where the registry's metadata lives in the Store: every key it reads or writes, in one place.
 * Values are JSON, the records of metadata.ts (tokens: auth.ts).
 *
 *   /registry/repositories/<name>                  RepositoryRecord (the catalog, in name order)
 *   /registry/manifests/<name>@<digest>            ManifestRecord: media type, size, subject, references
 *   /registry/tags/<name>@<tag>                    TagRecord: {digest, updatedAt}
 *   /registry/blob-links/<name>@<digest>           BlobLinkRecord: the blob is visible in <name>
 *   /registry/referrers/<name>@<subject>@<digest>  the referring manifest's descriptor (referrers API)
 *   /registry/uploads/<id>                         UploadRecord: an upload session in progress
 *   /registry/tokens/<sha256 hex of the token>     TokenRecord: a registry password and its owner
 *   /registry/download-url-key                     the HMAC secret of presigned layer URLs (base64)
 *
 * No repository name, tag or digest contains '@', so '@' ends a name: the prefix
 * `/registry/tags/a@` holds exactly repository a's tags, never those of a/b or a-b. Blob bytes are
 * not here but on disk (blob-store.ts), by digest, shared by all repositories.
 */

const ROOT = '/registry/';

export const registryKeys = {
  root: () => ROOT,
  repository: (name: string) => `${ROOT}repositories/${name}`,
  repositories: () => `${ROOT}repositories/`,
  manifest: (name: string, digest: string) => `${ROOT}manifests/${name}@${digest}`,
  manifests: (name?: string) => (name === undefined ? `${ROOT}manifests/` : `${ROOT}manifests/${name}@`),
  tag: (name: string, tag: string) => `${ROOT}tags/${name}@${tag}`,
  tags: (name?: string) => (name === undefined ? `${ROOT}tags/` : `${ROOT}tags/${name}@`),
  blobLink: (name: string, digest: string) => `${ROOT}blob-links/${name}@${digest}`,
  blobLinks: (name?: string) => (name === undefined ? `${ROOT}blob-links/` : `${ROOT}blob-links/${name}@`),
  referrer: (name: string, subject: string, digest: string) => `${ROOT}referrers/${name}@${subject}@${digest}`,
  referrers: (name?: string, subject?: string) =>
    name === undefined ? `${ROOT}referrers/` : subject === undefined ? `${ROOT}referrers/${name}@` : `${ROOT}referrers/${name}@${subject}@`,
  upload: (id: string) => `${ROOT}uploads/${id}`,
  uploads: () => `${ROOT}uploads/`,
  token: (tokenHash: string) => `${ROOT}tokens/${tokenHash}`,
  tokens: () => `${ROOT}tokens/`,
  downloadUrlKey: () => `${ROOT}download-url-key`,
} as const;

/** The part of a key after its prefix and the repository's '@' (a tag, a digest). */
export function lastPart(key: string): string {
  return key.slice(key.lastIndexOf('@') + 1);
}

/** The repository name and the rest of a per-repository key under `prefix`. */
export function splitRepositoryKey(prefix: string, key: string): { name: string; rest: string } | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const tail = key.slice(prefix.length);
  const at = tail.indexOf('@');
  if (at <= 0) return undefined;
  return { name: tail.slice(0, at), rest: tail.slice(at + 1) };
}
