/**
 * Content digests as the OCI image spec defines them (`algorithm:encoded`), and the two algorithms
 * the registry verifies: sha256 (what every client uses) and sha512.
 *
 * @example parseDigest('sha256:e3b0…b855') // { algorithm: 'sha256', hex: 'e3b0…b855', text: 'sha256:e3b0…b855' }
 */
import { createHash } from 'node:crypto';
import { RegistryError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'sha512'];

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** The image spec's grammar for any digest, registered algorithm or not. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  /** Lower-case hex, exactly as long as the algorithm's output. */
  readonly hex: string;
  /** `algorithm:hex`, the form on the wire and in keys. */
  readonly text: string;
}

/** True when `text` has a digest's shape (a manifest reference with ':' is never a tag). */
export const looksLikeDigest = (text: string): boolean => text.includes(':');

/** Parses a digest the registry can verify; anything else is DIGEST_INVALID naming the rule. */
export function parseDigest(text: string): Digest {
  if (!DIGEST_GRAMMAR.test(text)) {
    throw new RegistryError('DIGEST_INVALID', `'${clip(text)}' is not a digest: expected algorithm:encoded, e.g. sha256:<64 hex>`, { detail: { digest: clip(text) } });
  }
  const colon = text.indexOf(':');
  const algorithm = text.slice(0, colon);
  const hex = text.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RegistryError('DIGEST_INVALID', `digest algorithm '${clip(algorithm)}' is not supported: use sha256 or sha512`, { detail: { digest: clip(text) } });
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `a ${algorithm} digest is ${HEX_LENGTH[algorithm]} lower-case hex characters`, { detail: { digest: clip(text) } });
  }
  return { algorithm, hex, text };
}

/** The digest of bytes already in memory (manifests). */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const hex = createHash(algorithm).update(bytes).digest('hex');
  return { algorithm, hex, text: `${algorithm}:${hex}` };
}

/** Error text never echoes unbounded client input. */
export function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
