/**
 * The registry's error catalog: the OCI distribution spec's JSON error codes (plus the three that
 * distribution/distribution and ECR also send), and the one error class registry code throws.
 * Only distribution.ts turns it into the wire's `{"errors":[{code, message, detail}]}`.
 *
 * @example throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { detail: { digest } });
 */

export const OCI_ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  // distribution/distribution answers 400 here (the manifest is what is wrong), and clients expect it.
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  // Not in the spec's table: ECR refuses an immutable tag's overwrite with TAG_INVALID (docker
  // prints "tag invalid: ..."), distribution refuses a bad `n` with PAGINATION_NUMBER_INVALID, and
  // UNKNOWN is distribution's code for a server fault.
  TAG_INVALID: 400,
  PAGINATION_NUMBER_INVALID: 400,
  UNKNOWN: 500,
} as const satisfies Record<string, number>;

export type OciErrorCode = keyof typeof OCI_ERROR_STATUS;

export interface RegistryErrorOptions {
  /** The spec's free-form `detail` (e.g. `{ digest }` for an unknown blob). */
  readonly detail?: unknown;
  /** When the spec asks for another status than the code's usual one (416, 413). */
  readonly status?: number;
  /** Headers the reply must carry (an upload's Location and Range on a 416). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Further errors of the same reply (the spec sends one per unknown blob). */
  readonly also?: readonly RegistryError[];
  readonly cause?: unknown;
}

export class RegistryError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Readonly<Record<string, string>>;
  readonly also: readonly RegistryError[];

  constructor(code: OciErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.code = code;
    this.status = options.status ?? OCI_ERROR_STATUS[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
    this.also = options.also ?? [];
  }

  /** The spec's error body: `{"errors": [{code, message, detail}, ...]}`. */
  toJSON(): { errors: { code: OciErrorCode; message: string; detail?: unknown }[] } {
    return {
      errors: [this, ...this.also].map((e) => ({ code: e.code, message: e.message, ...(e.detail !== undefined && { detail: e.detail }) })),
    };
  }
}

export const isRegistryError = (err: unknown, code?: OciErrorCode): err is RegistryError =>
  err instanceof RegistryError && (code === undefined || err.code === code);

/**
 * Thrown by body readers when the client went away (or broke the framing) mid-body: nothing can be
 * answered on that connection, and what arrived before it is all there is.
 */
export class ClientAbortedError extends Error {
  constructor(cause: unknown) {
    super('the client closed the connection before the body was complete', { cause });
    this.name = 'ClientAbortedError';
  }
}
