/**
 * Content digests (`sha256:<hex>`, `sha512:<hex>`): parsing, hashing, and the streaming verifier
 * every fetched manifest and blob passes through before anything keeps it.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ImageError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/**
 * Splits and checks a digest. Algorithms other than sha256/sha512 are `Unsupported` (the OCI spec
 * registers only those two); a malformed one is `InvalidManifest` unless the caller says otherwise.
 *
 * @example parseDigest('sha256:e3b0…') // → { algorithm: 'sha256', hex: 'e3b0…' }
 */
export function parseDigest(digest: string, what = 'digest'): ParsedDigest {
  const m = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(digest);
  if (!m) throw new ImageError('InvalidManifest', `${what} ${JSON.stringify(digest)} is not algorithm:hex`);
  const algorithm = m[1]!;
  const hex = m[2]!;
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new ImageError('Unsupported', `${what} ${digest} uses algorithm ${algorithm}; only sha256 and sha512 are supported`);
  }
  if (!new RegExp(`^[a-f0-9]{${HEX_LENGTH[algorithm]}}$`).test(hex)) {
    throw new ImageError('InvalidManifest', `${what} ${digest} must be ${HEX_LENGTH[algorithm]} lowercase hex characters`);
  }
  return { algorithm, hex };
}

/** The digest of some bytes. @example digestOf(Buffer.from('')) // 'sha256:e3b0c442…' */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Checks bytes already in memory (manifests, configs) against their digest and size. */
export function verifyBytes(bytes: Uint8Array, digest: string, size: number | undefined, what: string): void {
  const { algorithm } = parseDigest(digest, what);
  if (size !== undefined && bytes.byteLength !== size) {
    throw new ImageError('SizeMismatch', `${what} ${digest} is ${bytes.byteLength} bytes, its descriptor says ${size}`);
  }
  const got = digestOf(bytes, algorithm);
  if (got !== digest) throw new ImageError('DigestMismatch', `${what} ${digest} hashed to ${got}; refused`);
}

/**
 * A pass-through that hashes what flows and fails the stream at the end if the digest or size is
 * wrong — or as soon as more bytes arrive than the descriptor allows, so a hostile server cannot
 * fill the disk. Put it before the sink so a failure leaves nothing behind.
 */
export class DigestVerifier extends Transform {
  readonly expected: string;
  private readonly hash: Hash;
  private readonly size: number | undefined;
  private readonly what: string;
  /** Bytes seen so far. */
  bytes = 0;

  constructor(digest: string, options: { size?: number | undefined; what?: string } = {}) {
    super();
    this.what = options.what ?? 'blob';
    this.hash = createHash(parseDigest(digest, this.what).algorithm);
    this.expected = digest;
    this.size = options.size;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.byteLength;
    if (this.size !== undefined && this.bytes > this.size) {
      cb(new ImageError('SizeMismatch', `${this.what} ${this.expected} is larger than its descriptor's ${this.size} bytes; refused`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.size !== undefined && this.bytes !== this.size) {
      cb(new ImageError('SizeMismatch', `${this.what} ${this.expected} ended after ${this.bytes} bytes, its descriptor says ${this.size}; refused`));
      return;
    }
    const got = `${parseDigest(this.expected).algorithm}:${this.hash.digest('hex')}`;
    if (got !== this.expected) {
      cb(new ImageError('DigestMismatch', `${this.what} ${this.expected} hashed to ${got}; refused`));
      return;
    }
    cb();
  }
}
