/**
 * Garbage collection: removes blobs that no manifest in any repository references, expired upload
 * sessions, stray temp files and expired tokens. Mark from the Store's manifests, sweep the disk.
 *
 * Why it is safe while pushes go on: every write or claim of a blob refreshes its mtime (commit,
 * mount, a manifest's reference check all touch it), only blobs older than the grace period are
 * candidates, the mark is taken again after the candidates are chosen, and each candidate is
 * re-checked and removed under the same per-blob lock a claim takes. A push that claims a blob
 * either sees it fresh (so GC keeps it) or finds it gone and is told to upload it again. Blob links
 * to removed blobs are deleted compare-and-swap, so a link re-created meanwhile survives, and only
 * once they are older than the grace period, so a link made before its bytes land survives too.
 */
import { purgeExpiredRegistryTokens } from './auth.js';
import type { BlobStore } from './blob-store.js';
import { parseDigest } from './digest.js';
import type { RegistryMetadata } from './metadata.js';
import type { UploadSessions } from './uploads.js';

export interface GcOptions {
  readonly now: Date;
  /** Blobs written or claimed within this long are never removed (uploads whose manifest is yet to come). */
  readonly graceMs: number;
  /** Upload sessions idle this long are ended. */
  readonly uploadTtlMs: number;
}

export interface GcReport {
  readonly blobsRemoved: number;
  readonly bytesFreed: number;
  readonly linksRemoved: number;
  readonly uploadsExpired: number;
  readonly strayFilesRemoved: number;
  readonly tokensPurged: number;
}

export async function collectGarbage(deps: { meta: RegistryMetadata; blobs: BlobStore; uploads: UploadSessions }, options: GcOptions): Promise<GcReport> {
  const { meta, blobs, uploads } = deps;
  const cutoff = options.now.getTime() - options.graceMs;

  const marked = await meta.referencedDigests();
  const candidates: string[] = [];
  for await (const blob of blobs.list()) {
    if (!marked.has(blob.digest.text) && blob.mtimeMs < cutoff) candidates.push(blob.digest.text);
  }
  // A manifest pushed while we listed references its blobs only in this second look.
  const remarked = candidates.length === 0 ? marked : await meta.referencedDigests();
  const removed = new Set<string>();
  let bytesFreed = 0;
  for (const digest of candidates) {
    if (remarked.has(digest)) continue;
    const size = await blobs.sweep(parseDigest(digest), cutoff);
    if (size !== undefined) {
      removed.add(digest);
      bytesFreed += size;
    }
  }

  // Links whose bytes are gone (removed now, or lost) would advertise blobs that cannot be read.
  // A link younger than the grace period stays: an upload commits its link while its bytes are
  // still being moved into place (uploads.ts), and a blob claimed that recently was not removed.
  let linksRemoved = 0;
  for await (const link of meta.allBlobLinks()) {
    if (Date.parse(link.record.linkedAt) >= cutoff) continue;
    if (!removed.has(link.digest) && (await blobs.stat(parseDigest(link.digest))) !== undefined) continue;
    if (await meta.deleteIfUnchanged(link.key, link.modRevision)) linksRemoved++;
  }

  const expired = await uploads.expire(new Date(options.now.getTime() - options.uploadTtlMs));
  const tokensPurged = await purgeExpiredRegistryTokens(meta.store, options.now);
  return {
    blobsRemoved: removed.size,
    bytesFreed,
    linksRemoved,
    uploadsExpired: expired.sessions,
    strayFilesRemoved: expired.strays,
    tokensPurged,
  };
}
