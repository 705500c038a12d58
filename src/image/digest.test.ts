/** Digest parsing and the streaming verifier: every way content can be wrong is refused. */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DigestVerifier, digestOf, parseDigest, verifyBytes } from './digest.js';
import type { ImageError } from './errors.js';

const data = Buffer.from('hello, berth');
const sha256 = digestOf(data);
const sha512 = digestOf(data, 'sha512');

async function stream(chunks: Buffer[], digest: string, size?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    new DigestVerifier(digest, { size, what: 'blob' }),
    new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }),
  );
  return Buffer.concat(out);
}

describe('parseDigest', () => {
  it('accepts sha256 and sha512, refuses others and malformed hex', () => {
    expect(parseDigest(sha256).algorithm).toBe('sha256');
    expect(parseDigest(sha512)).toEqual({ algorithm: 'sha512', hex: sha512.slice(7) });
    expect(() => parseDigest(`sha384:${'a'.repeat(96)}`)).toThrow(/only sha256 and sha512/);
    expect(() => parseDigest(`sha256:${'A'.repeat(64)}`)).toThrow(/lowercase hex/);
    expect(() => parseDigest('sha256:abc')).toThrow(/64 lowercase hex/);
    expect(() => parseDigest('nocolon')).toThrow(/not algorithm:hex/);
  });
});

describe('DigestVerifier', () => {
  it('passes content through when digest and size match, for both algorithms', async () => {
    expect(await stream([data.subarray(0, 3), data.subarray(3)], sha256, data.length)).toEqual(data);
    expect(await stream([data], sha512)).toEqual(data);
  });

  it('refuses a digest mismatch', async () => {
    await expect(stream([Buffer.from('hello, berth!')], sha256)).rejects.toMatchObject({ code: 'DigestMismatch' });
  });

  it('refuses content longer than its descriptor as soon as it overflows', async () => {
    let pulled = 0;
    const endless = new Readable({ read() { pulled++; this.push(Buffer.alloc(1024)); } });
    await expect(pipeline(endless, new DigestVerifier(sha256, { size: 4096 }), new Writable({ write(_c, _e, cb) { cb(); } }))).rejects.toMatchObject({
      code: 'SizeMismatch',
    });
    expect(pulled).toBeLessThan(64);
  });

  it('refuses content shorter than its descriptor', async () => {
    const err = await stream([data], sha256, data.length + 1).catch((e: unknown) => e);
    expect((err as ImageError).code).toBe('SizeMismatch');
    expect((err as ImageError).message).toMatch(/ended after 12 bytes/);
  });
});

describe('verifyBytes', () => {
  it('checks size then digest', () => {
    expect(() => verifyBytes(data, sha256, data.length, 'manifest')).not.toThrow();
    expect(() => verifyBytes(data, sha256, 3, 'manifest')).toThrow(/descriptor says 3/);
    expect(() => verifyBytes(Buffer.from('x'), sha256, undefined, 'manifest')).toThrow(/hashed to sha256:/);
  });
});
