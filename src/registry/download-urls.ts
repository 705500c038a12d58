/**
 * Presigned blob URLs for ECR's GetDownloadUrlForLayer: on AWS it returns a URL that fetches the
 * layer with no credentials (S3 presigned). Berth's is the OCI blob URL with an expiry, the access
 * key it was issued to, and an HMAC under a secret only the registry knows (kept in the Store so
 * every replica verifies what any replica signed). Such a URL is a bearer capability for one blob
 * in one repository, until it expires or its key is deactivated.
 *
 * @example const url = await signer.sign({ name: 'app', digest, accessKeyId }, now); // '/v2/app/blobs/sha256:…?X-Berth-…'
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/index.js';
import type { AccessKeyLookup, RegistryCaller } from './auth.js';
import { registryKeys } from './keys.js';

/** How long a download URL works. */
export const DOWNLOAD_URL_TTL_MS = 60 * 60 * 1000;

const PARAM = { credential: 'X-Berth-Credential', expires: 'X-Berth-Expires', signature: 'X-Berth-Signature' } as const;

export class DownloadUrlSigner {
  private secret: Buffer | undefined;

  constructor(
    private readonly store: Store,
    private readonly accountId: string,
    private readonly lookupAccessKey: AccessKeyLookup,
  ) {}

  /** The path and query of a presigned GET for `digest` in repository `name`. */
  async sign(blob: { name: string; digest: string; accessKeyId: string }, now: Date): Promise<{ path: string; expiresAt: Date }> {
    const expiresAt = new Date(now.getTime() + DOWNLOAD_URL_TTL_MS);
    const expires = String(Math.floor(expiresAt.getTime() / 1000));
    const path = `/v2/${blob.name}/blobs/${blob.digest}`;
    const signature = this.mac(await this.key(), path, blob.accessKeyId, expires);
    const query = new URLSearchParams({ [PARAM.credential]: blob.accessKeyId, [PARAM.expires]: expires, [PARAM.signature]: signature });
    return { path: `${path}?${query.toString()}`, expiresAt };
  }

  /** True when the query carries a presigned URL's parameters (whether or not they verify). */
  static isPresigned(query: URLSearchParams): boolean {
    return query.has(PARAM.signature);
  }

  /** The caller a presigned URL for `path` stands for, or undefined if it is forged, expired or its key is gone. */
  async verify(path: string, query: URLSearchParams, now: Date): Promise<RegistryCaller | undefined> {
    const accessKeyId = query.get(PARAM.credential);
    const expires = query.get(PARAM.expires);
    const signature = query.get(PARAM.signature);
    if (accessKeyId === null || expires === null || signature === null || !/^\d{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) return undefined;
    if (Number(expires) * 1000 <= now.getTime()) return undefined;
    const expected = Buffer.from(this.mac(await this.key(), path, accessKeyId, expires), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return undefined;
    const key = await this.lookupAccessKey(accessKeyId);
    if (key === undefined || key.accountId !== this.accountId) return undefined;
    return { accessKeyId, accountId: key.accountId };
  }

  private mac(secret: Buffer, path: string, accessKeyId: string, expires: string): string {
    return createHmac('sha256', secret).update(`GET\n${path}\n${accessKeyId}\n${expires}`).digest('hex');
  }

  /** The signing secret: created once (compare-and-swap, so replicas agree), then cached. */
  private async key(): Promise<Buffer> {
    if (this.secret !== undefined) return this.secret;
    const key = registryKeys.downloadUrlKey();
    let kv = await this.store.get(key);
    if (kv === undefined) {
      await this.store.txn([{ key, target: 'mod', op: '=', value: 0 }], [{ type: 'put', key, value: randomBytes(32).toString('base64') }]);
      kv = await this.store.get(key);
      if (kv === undefined) throw new Error(`${key} vanished right after it was written`);
    }
    this.secret = Buffer.from(kv.value, 'base64');
    return this.secret;
  }
}
