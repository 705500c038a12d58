/**
 * The one error type of the image module. The agent maps it to ECS's CannotPullContainerError
 * reasons; the code says what went wrong in words a caller can branch on, the message names the thing.
 */

export const IMAGE_ERROR_CODES = [
  'InvalidReference', // the name does not parse as registry/repository[:tag][@digest]
  'NotFound', // registry answered 404 for the manifest or blob, or no such local image
  'Unauthorized', // 401 even after authenticating
  'Denied', // 403
  'Unreachable', // connection failed, or the registry is one this host may not contact
  'RegistryError', // any other non-success answer, or a malformed one
  'DigestMismatch', // content does not hash to the digest that named it
  'SizeMismatch', // content is not the size its descriptor says
  'TooLarge', // a manifest or config above the bound we accept
  'Unsupported', // a media type, digest algorithm or compression we do not handle
  'NoMatchingPlatform', // an index with no manifest for the wanted platform
  'InvalidManifest', // a manifest, index or config that breaks the OCI/Docker schema
  'InvalidLayer', // a layer that is not a readable tar in its stated compression
  'UnsafeLayer', // a layer that tries to write outside its root, or uses a link to do so
  'SnapshotError', // mounting or unmounting an overlay snapshot failed
] as const;

export type ImageErrorCode = (typeof IMAGE_ERROR_CODES)[number];

/**
 * @example throw new ImageError('DigestMismatch', `blob ${want} hashed to ${got}`);
 */
export class ImageError extends Error {
  readonly code: ImageErrorCode;

  constructor(code: ImageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = `ImageError(${code})`;
    this.code = code;
  }
}

/** True when `err` is an ImageError, optionally of one code. */
export function isImageError(err: unknown, code?: ImageErrorCode): err is ImageError {
  return err instanceof ImageError && (code === undefined || err.code === code);
}
