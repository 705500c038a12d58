/**
 * Our own OCI distribution-spec suite: every endpoint and every error code, over a real socket
 * through the edge, with the failure cases that must leave the store correct (wrong digests,
 * truncated and resumed uploads, concurrent pushes of one blob).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueRegistryToken } from './auth.js';
import { accessKeyKey } from '../edge/credentials.js';
import { READ_CHUNK_BYTES } from './distribution.js';
import { MEDIA_TYPE } from './manifest.js';
import { basic, bytesOf, digestText, startRegistry } from './harness.suite.js';
import type { Harness } from './harness.suite.js';

const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

let reg: Harness;
beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => {
  // Every refusal above is a client error: none may have been logged as a server fault.
  expect(reg.logs.filter((line) => line.level === 'error')).toEqual([]);
  await reg[Symbol.asyncDispose]();
});

/** A unique repository per test keeps the cases independent on one server. */
let counter = 0;
const repo = (prefix = 'spec') => `${prefix}/r${++counter}`;

async function errorsOf(res: Response): Promise<{ code: string; message: string; detail?: unknown }[]> {
  expect(res.headers.get('content-type')).toBe('application/json');
  return ((await res.json()) as { errors: { code: string; message: string; detail?: unknown }[] }).errors;
}

async function expectError(res: Response, status: number, code: string): Promise<{ code: string; message: string; detail?: unknown }> {
  const body = await errorsOf(res);
  expect({ status: res.status, code: body[0]?.code }).toEqual({ status, code });
  expect(body[0]!.message.length).toBeGreaterThan(0);
  return body[0]!;
}

interface Image {
  readonly manifest: Buffer;
  readonly digest: string;
  readonly config: string;
  readonly layers: string[];
}

/** Pushes a config and layers, then an OCI image manifest under `reference`. */
async function pushImage(name: string, reference: string, options: { seed?: number; extra?: Record<string, unknown>; mediaType?: string } = {}): Promise<Image> {
  const seed = options.seed ?? counter;
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layerBytes = bytesOf(1000 + seed, seed);
  const config = await reg.pushBlob(name, configBytes);
  const layer = await reg.pushBlob(name, layerBytes);
  const mediaType = options.mediaType ?? MEDIA_TYPE.ociManifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: mediaType === MEDIA_TYPE.dockerManifest ? 'application/vnd.docker.container.image.v1+json' : OCI_CONFIG, digest: config, size: configBytes.length },
      layers: [{ mediaType: mediaType === MEDIA_TYPE.dockerManifest ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : OCI_LAYER, digest: layer, size: layerBytes.length }],
      ...options.extra,
    }),
  );
  const res = await reg.request(`/v2/${name}/manifests/${reference}`, { method: 'PUT', body: manifest, headers: { 'content-type': mediaType } });
  expect(res.status, await res.clone().text()).toBe(201);
  return { manifest, digest: digestText(manifest), config, layers: [layer] };
}

async function putManifest(name: string, reference: string, doc: unknown, mediaType: string = MEDIA_TYPE.ociManifest): Promise<Response> {
  return reg.request(`/v2/${name}/manifests/${reference}`, { method: 'PUT', body: JSON.stringify(doc), headers: { 'content-type': mediaType } });
}

async function startUpload(name: string): Promise<string> {
  const res = await reg.request(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
  expect(res.status).toBe(202);
  return res.headers.get('location')!;
}

async function statusOf(location: string): Promise<Response> {
  return reg.request(location);
}

/** The offset an upload reports (Range 0-<end>, end inclusive; "0-0" for an empty upload). */
function offsetOf(res: Response): number {
  const range = res.headers.get('range');
  expect(range).toMatch(/^0-\d+$/);
  return Number(range!.slice(2)) + 1;
}

const withDigest = (location: string, digest: string) => `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;

/**
 * Sends a request's head and part of its body on a raw socket, waits until `ready` says the server
 * has taken in enough of it, then drops the connection — a client that died mid-body.
 */
async function dropMidBody(head: string, part: Buffer, ready: () => Promise<boolean>): Promise<void> {
  const socket = connect(reg.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  await new Promise<void>((resolve, reject) => socket.write(Buffer.concat([Buffer.from(head), part]), (err) => (err ? reject(err) : resolve())));
  await waitUntil(ready);
  socket.destroy();
}

/** Re-checks a condition until it holds (each check is an I/O round trip; the test's timeout bounds it). */
async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setImmediate(resolve));
}

/** How many of this process's file descriptors are open on `path`. */
async function openFilesOf(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    try {
      if ((await readlink(`/proc/self/fd/${fd}`)) === path) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return -1;
  }
}

const uploadIdOf = (location: string) => location.split('/').pop()!.split('?')[0]!;

// ---------------------------------------------------------------------------------------------

describe('version check and authentication', () => {
  it('GET and HEAD /v2/ answer 200 with the API version header', async () => {
    for (const method of ['GET', 'HEAD']) {
      const res = await reg.request('/v2/', { method });
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    }
    expect((await reg.request('/v2')).status).toBe(200);
  });

  it('refuses a request without credentials with 401, WWW-Authenticate and UNAUTHORIZED, on every path', async () => {
    for (const path of ['/v2/', '/v2/_catalog', '/v2/x/tags/list', '/v2/NOT_A_NAME/manifests/x', '/v2/nowhere/at/all']) {
      const res = await reg.request(path, { headers: { authorization: '' } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="berth",service="ecr"');
      expect((await errorsOf(res))[0]!.code).toBe('UNAUTHORIZED');
    }
  });

  it('refuses bad tokens, another user name, another scheme and garbage with 401', async () => {
    const cases = [basic('brt_not-a-token'), basic(reg.token, 'admin'), `Bearer ${reg.token}`, 'Basic !!!', basic('')];
    for (const authorization of cases) {
      const res = await reg.request('/v2/', { headers: { authorization } });
      await expectError(res, 401, 'UNAUTHORIZED');
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    }
  });

  it('an unauthenticated push stores nothing and drops the unread body with the connection', async () => {
    const name = repo();
    const body = bytesOf(4096);
    const res = await reg.request(`/v2/${name}/blobs/uploads/?digest=${digestText(body)}`, { method: 'POST', body, headers: { authorization: basic('brt_wrong') } });
    await expectError(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('connection')).toBe('close');
    expect(await reg.blobFiles()).not.toContain(digestText(body).slice(7));
    expect(await reg.registry.metadata.getRepository(name)).toBeUndefined();
  });

  it('a token stops working when it expires, and when its access key is deactivated', async () => {
    let now = new Date('2026-03-01T00:00:00Z');
    await using other = await startRegistry({ now: () => now });
    expect((await other.request('/v2/')).status).toBe(200);
    now = new Date(now.getTime() + 12 * 3600 * 1000);
    const expired = await other.request('/v2/');
    expect((await expectError(expired, 401, 'UNAUTHORIZED')).message).toMatch(/expired/);

    const { token } = await issueRegistryToken(other.store, other.key, now);
    expect((await other.request('/v2/', { headers: { authorization: basic(token) } })).status).toBe(200);
    await other.store.txn([], [{ type: 'put', key: accessKeyKey(other.key.accessKeyId), value: JSON.stringify({ ...other.key, status: 'Inactive' }) }]);
    const inactive = await other.request('/v2/', { headers: { authorization: basic(token) } });
    expect((await expectError(inactive, 401, 'UNAUTHORIZED')).message).toMatch(/no longer active/);
  });

  it("refuses a token of another account (a store brought from elsewhere)", async () => {
    const { token } = await issueRegistryToken(reg.store, { accessKeyId: reg.key.accessKeyId, accountId: '999999999999' }, new Date());
    await expectError(await reg.request('/v2/', { headers: { authorization: basic(token) } }), 401, 'UNAUTHORIZED');
  });
});

describe('blobs: monolithic uploads, HEAD, GET, Range, DELETE', () => {
  it('POST ?digest= stores the blob in one request: 201, Location, Docker-Content-Digest; HEAD and GET return it', async () => {
    const name = repo();
    const body = bytesOf(70_000, 7);
    const digest = digestText(body);
    const res = await reg.request(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/${name}/blobs/${digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(digest);

    const head = await reg.request(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(body.length));
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    const get = await reg.request(`/v2/${name}/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(Buffer.from(await get.arrayBuffer()).equals(body)).toBe(true);
    // Content-addressed on disk, shared by all repositories.
    expect((await readFile(join(reg.root, 'blobs', 'sha256', digest.slice(7)))).equals(body)).toBe(true);
    expect(await reg.uploadFiles()).toEqual([]);
  });

  it('POST then PUT with the whole blob works (the spec\'s other monolithic form)', async () => {
    const name = repo();
    const body = bytesOf(5000, 3);
    const location = await startUpload(name);
    expect(location).toMatch(new RegExp(`^/v2/${name}/blobs/uploads/[0-9a-f-]{36}$`));
    const res = await reg.request(withDigest(location, digestText(body)), { method: 'PUT', body });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/${name}/blobs/${digestText(body)}`);
    expect((await reg.request(`/v2/${name}/blobs/${digestText(body)}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('a blob is visible in a repository only once pushed or mounted there', async () => {
    const a = repo();
    const b = repo();
    const digest = await reg.pushBlob(a, bytesOf(300, 11));
    await reg.pushBlob(b, bytesOf(10, 12)); // b exists, without that blob
    await expectError(await reg.request(`/v2/${b}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    const head = await reg.request(`/v2/${b}/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
  });

  it('Range GETs answer 206 with Content-Range; past the end is 416; several ranges get the whole blob', async () => {
    const name = repo();
    const body = bytesOf(1000, 5);
    const digest = await reg.pushBlob(name, body);
    const get = (range: string) => reg.request(`/v2/${name}/blobs/${digest}`, { headers: { range } });

    const first = await get('bytes=0-99');
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe('bytes 0-99/1000');
    expect(first.headers.get('content-length')).toBe('100');
    expect(Buffer.from(await first.arrayBuffer()).equals(body.subarray(0, 100))).toBe(true);

    const open = await get('bytes=900-');
    expect(open.headers.get('content-range')).toBe('bytes 900-999/1000');
    expect(Buffer.from(await open.arrayBuffer()).equals(body.subarray(900))).toBe(true);

    const suffix = await get('bytes=-10');
    expect(suffix.headers.get('content-range')).toBe('bytes 990-999/1000');
    expect(Buffer.from(await suffix.arrayBuffer()).equals(body.subarray(990))).toBe(true);

    const clamped = await get('bytes=995-5000');
    expect(clamped.headers.get('content-range')).toBe('bytes 995-999/1000');

    const past = await get('bytes=1000-');
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */1000');

    const several = await get('bytes=0-1,5-6');
    expect(several.status).toBe(200);
    expect(Buffer.from(await several.arrayBuffer()).equals(body)).toBe(true);
  });

  it('a download the client abandons mid-stream is no fault, and the registry carries on', async () => {
    const name = repo();
    const body = bytesOf(8 * 1024 * 1024, 6);
    const digest = await reg.pushBlob(name, body);
    const socket = connect(reg.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(`GET /v2/${name}/blobs/${digest} HTTP/1.1\r\nHost: x\r\nAuthorization: ${reg.authorization}\r\n\r\n`);
    let received = 0;
    await new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 1024 * 1024) resolve();
      });
    });
    socket.destroy();
    const again = await reg.request(`/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=0-3' } });
    expect(again.status).toBe(206);
    // afterAll checks that nothing was logged as an error.
  });

  it('a blob several read buffers long comes back whole, and Ranges across buffer boundaries are exact', async () => {
    const name = repo();
    const chunk = READ_CHUNK_BYTES;
    const body = bytesOf(2 * chunk + 12_345, 13);
    const digest = await reg.pushBlob(name, body);
    const whole = await reg.request(`/v2/${name}/blobs/${digest}`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe(String(body.length));
    expect(digestText(Buffer.from(await whole.arrayBuffer()))).toBe(digest);
    for (const [start, end] of [
      [chunk - 10, chunk + 10],
      [100, 2 * chunk + 99],
      [2 * chunk, body.length - 1],
      [chunk + 1, 2 * chunk - 2],
    ] as const) {
      const part = await reg.request(`/v2/${name}/blobs/${digest}`, { headers: { range: `bytes=${start}-${end}` } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes ${start}-${end}/${body.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(body.subarray(start, end + 1))).toBe(true);
    }
  });

  it('a client that disconnects mid-blob leaves no file of the blob open', async () => {
    const name = repo();
    // Bigger than loopback's socket buffers and the registry's read buffers: it is still sending
    // when the client goes.
    const body = bytesOf(6 * READ_CHUNK_BYTES, 14);
    const digest = await reg.pushBlob(name, body);
    const blobPath = await realpath(join(reg.root, 'blobs', 'sha256', digest.slice(7)));
    const socket = connect(reg.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    // Never read: the socket's buffers stay small and the registry stalls a few MiB into the blob.
    socket.pause();
    socket.write(`GET /v2/${name}/blobs/${digest} HTTP/1.1\r\nHost: x\r\nAuthorization: ${reg.authorization}\r\n\r\n`);
    await waitUntil(async () => (await openFilesOf(blobPath)) === 1);
    // A handle left open would be closed by the collector at some point, with this warning.
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      socket.destroy();
      await waitUntil(async () => (await openFilesOf(blobPath)) === 0);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => /garbage collection/i.test(w))).toEqual([]);
  });

  it('DELETE unlinks a blob from the repository (202), then it is BLOB_UNKNOWN', async () => {
    const name = repo();
    const digest = await reg.pushBlob(name, bytesOf(64, 9));
    expect((await reg.request(`/v2/${name}/blobs/${digest}`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await reg.request(`/v2/${name}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    await expectError(await reg.request(`/v2/${name}/blobs/${digest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  });

  it('a wrong digest is refused with DIGEST_INVALID and nothing is stored', async () => {
    const name = repo();
    const body = bytesOf(200_000, 21);
    const claimed = digestText(Buffer.from('something else'));
    const res = await reg.request(`/v2/${name}/blobs/uploads/?digest=${claimed}`, { method: 'POST', body });
    const err = await expectError(res, 400, 'DIGEST_INVALID');
    expect(err.detail).toEqual({ digest: claimed });
    const files = await reg.blobFiles();
    expect(files).not.toContain(claimed.slice(7));
    expect(files).not.toContain(digestText(body).slice(7));
    expect(await reg.uploadFiles()).toEqual([]);
    expect(await reg.registry.metadata.getBlobLink(name, claimed)).toBeUndefined();
    expect(await reg.registry.metadata.getRepository(name)).toBeUndefined();
  });

  it('malformed and unsupported digests are DIGEST_INVALID', async () => {
    const name = repo();
    for (const digest of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'nodigest:', `sha256:${'A'.repeat(64)}`]) {
      await expectError(await reg.request(`/v2/${name}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, { method: 'POST', body: 'x' }), 400, 'DIGEST_INVALID');
    }
    await reg.pushBlob(name, Buffer.from('exists'));
    await expectError(await reg.request(`/v2/${name}/blobs/sha256:zz`), 400, 'DIGEST_INVALID');
  });

  it('a body shorter than its Content-Length (the client died) leaves nothing behind', async () => {
    const name = repo();
    const body = bytesOf(3 * 1024 * 1024, 23);
    const head = `POST /v2/${name}/blobs/uploads/?digest=${digestText(body)} HTTP/1.1\r\nHost: x\r\nAuthorization: ${reg.authorization}\r\nContent-Length: ${body.length}\r\n\r\n`;
    // Wait until the server has written part of it to a temp file, then drop the connection.
    await dropMidBody(head, body.subarray(0, 2 * 1024 * 1024 + 5), async () => {
      const files = await reg.uploadFiles();
      return files.length === 1 && (await fileSize(join(reg.root, 'uploads', files[0]!))) >= 1024 * 1024;
    });
    await waitUntil(async () => (await reg.uploadFiles()).length === 0);
    expect(await reg.blobFiles()).not.toContain(digestText(body).slice(7));
    expect(await reg.registry.metadata.getBlobLink(name, digestText(body))).toBeUndefined();
  });

  it('sha512 digests are verified and stored under blobs/sha512', async () => {
    const name = repo();
    const body = bytesOf(4000, 31);
    const digest = await reg.pushBlob(name, body, 'sha512');
    expect(digest).toMatch(/^sha512:[0-9a-f]{128}$/);
    expect(await reg.blobFiles('sha512')).toContain(digest.slice(7));
    const get = await reg.request(`/v2/${name}/blobs/${digest}`);
    expect(get.headers.get('docker-content-digest')).toBe(digest);
    expect(Buffer.from(await get.arrayBuffer()).equals(body)).toBe(true);

    // Chunked, with the algorithm known only at the end.
    const chunked = bytesOf(9000, 32);
    const location = await startUpload(name);
    expect((await reg.request(location, { method: 'PATCH', body: chunked.subarray(0, 4000), headers: { 'content-range': '0-3999' } })).status).toBe(202);
    const done = await reg.request(withDigest(location, digestText(chunked, 'sha512')), { method: 'PUT', body: chunked.subarray(4000), headers: { 'content-range': '4000-8999' } });
    expect(done.status).toBe(201);
    expect(done.headers.get('docker-content-digest')).toBe(digestText(chunked, 'sha512'));

    const right = digestText(body, 'sha512');
    const wrong = await reg.request(`/v2/${name}/blobs/uploads/?digest=${right.slice(0, -1)}${right.endsWith('0') ? '1' : '0'}`, { method: 'POST', body });
    await expectError(wrong, 400, 'DIGEST_INVALID');
  });
});

describe('blobs: chunked and resumable uploads', () => {
  it('POST, PATCH chunks in order, GET status, PUT with the last chunk', async () => {
    const name = repo();
    const body = bytesOf(300_000, 41);
    const location = await startUpload(name);
    const started = await statusOf(location);
    expect(started.status).toBe(204);
    expect(started.headers.get('range')).toBe('0-0');
    expect(started.headers.get('docker-upload-uuid')).toBe(uploadIdOf(location));

    const first = await reg.request(location, { method: 'PATCH', body: body.subarray(0, 100_000), headers: { 'content-range': '0-99999', 'content-type': 'application/octet-stream' } });
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-99999');
    expect(first.headers.get('location')).toBe(location);
    expect(first.headers.get('docker-upload-uuid')).toBe(uploadIdOf(location));
    // A chunk without Content-Range streams on at the current offset (docker's way).
    const second = await reg.request(location, { method: 'PATCH', body: body.subarray(100_000, 250_000) });
    expect(second.headers.get('range')).toBe('0-249999');
    const status = await statusOf(location);
    expect(status.status).toBe(204);
    expect(offsetOf(status)).toBe(250_000);

    const done = await reg.request(withDigest(location, digestText(body)), { method: 'PUT', body: body.subarray(250_000), headers: { 'content-range': '250000-299999' } });
    expect(done.status).toBe(201);
    expect(done.headers.get('docker-content-digest')).toBe(digestText(body));
    const get = await reg.request(`/v2/${name}/blobs/${digestText(body)}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(body)).toBe(true);
    // The session is over.
    await expectError(await statusOf(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(await reg.uploadFiles()).toEqual([]);
  });

  it('an out-of-order chunk is 416 with the upload\'s Range and Location, and changes nothing', async () => {
    const name = repo();
    const body = bytesOf(2000, 43);
    const location = await startUpload(name);
    await reg.request(location, { method: 'PATCH', body: body.subarray(0, 1000), headers: { 'content-range': '0-999' } });
    for (const range of ['1500-1999', '0-999', '999-1998']) {
      const res = await reg.request(location, { method: 'PATCH', body: body.subarray(1000, 1000 + Number(range.split('-')[1]) - Number(range.split('-')[0]) + 1), headers: { 'content-range': range } });
      await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
      expect(res.headers.get('range')).toBe('0-999');
      expect(res.headers.get('location')).toBe(location);
      expect(res.headers.get('docker-upload-uuid')).toBe(uploadIdOf(location));
    }
    for (const range of ['abc', '10-5', 'bytes 1000-']) {
      await expectError(await reg.request(location, { method: 'PATCH', body: 'x', headers: { 'content-range': range } }), 416, 'BLOB_UPLOAD_INVALID');
    }
    // The session carries on from where it was.
    const done = await reg.request(withDigest(location, digestText(body)), { method: 'PUT', body: body.subarray(1000), headers: { 'content-range': '1000-1999' } });
    expect(done.status).toBe(201);
  });

  it('a chunk whose length disagrees with its Content-Range is SIZE_INVALID and rolled back', async () => {
    const name = repo();
    const body = bytesOf(3000, 44);
    const location = await startUpload(name);
    await reg.request(location, { method: 'PATCH', body: body.subarray(0, 1000), headers: { 'content-range': '0-999' } });
    // The body is 500 bytes; the range says 1000.
    const res = await reg.request(location, { method: 'PATCH', body: body.subarray(1000, 1500), headers: { 'content-range': '1000-1999' } });
    await expectError(res, 400, 'SIZE_INVALID');
    expect(offsetOf(await statusOf(location))).toBe(1000);
    expect(await fileSize(join(reg.root, 'uploads', uploadIdOf(location)))).toBe(1000);
    // And the hash was rolled back too: the right bytes still complete to the right digest.
    const done = await reg.request(withDigest(location, digestText(body)), { method: 'PUT', body: body.subarray(1000), headers: { 'content-range': '1000-2999' } });
    expect(done.status).toBe(201);
  });

  it('PATCH then PUT with a wrong digest: DIGEST_INVALID, the session ends, nothing is stored', async () => {
    const name = repo();
    const body = bytesOf(50_000, 45);
    const location = await startUpload(name);
    await reg.request(location, { method: 'PATCH', body, headers: { 'content-range': '0-49999' } });
    const wrong = digestText(body.subarray(0, 49_999));
    await expectError(await reg.request(withDigest(location, wrong), { method: 'PUT' }), 400, 'DIGEST_INVALID');
    expect(await reg.blobFiles()).not.toContain(wrong.slice(7));
    expect(await reg.blobFiles()).not.toContain(digestText(body).slice(7));
    await expectError(await statusOf(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(await reg.uploadFiles()).toEqual([]);
  });

  it('a PUT without ?digest= is DIGEST_INVALID and leaves the session open', async () => {
    const name = repo();
    const location = await startUpload(name);
    await expectError(await reg.request(location, { method: 'PUT' }), 400, 'DIGEST_INVALID');
    expect((await statusOf(location)).status).toBe(204);
    expect((await reg.request(location, { method: 'DELETE' })).status).toBe(204);
  });

  it('a PUT whose body is cut short stores nothing; the upload resumes from the Range it reports', async () => {
    const name = repo();
    const body = bytesOf(3 * 1024 * 1024 + 17, 46);
    const location = await startUpload(name);
    const temp = join(reg.root, 'uploads', uploadIdOf(location));
    const head = `PUT ${withDigest(location, digestText(body))} HTTP/1.1\r\nHost: x\r\nAuthorization: ${reg.authorization}\r\nContent-Length: ${body.length}\r\n\r\n`;
    await dropMidBody(head, body.subarray(0, 2 * 1024 * 1024 + 3), async () => (await fileSize(temp)) >= 1024 * 1024);
    const status = await statusOf(location);
    expect(status.status).toBe(204);
    const offset = offsetOf(status);
    expect(offset).toBeGreaterThanOrEqual(1024 * 1024);
    expect(offset).toBeLessThanOrEqual(2 * 1024 * 1024 + 3);
    expect(await reg.blobFiles()).not.toContain(digestText(body).slice(7));

    const done = await reg.request(withDigest(location, digestText(body)), { method: 'PUT', body: body.subarray(offset), headers: { 'content-range': `${offset}-${body.length - 1}` } });
    expect(done.status).toBe(201);
    const get = await reg.request(`/v2/${name}/blobs/${digestText(body)}`);
    expect(createHash('sha256').update(Buffer.from(await get.arrayBuffer())).digest('hex')).toBe(digestText(body).slice(7));
  });

  it('a small PUT (held in memory) cut short stores nothing and leaves no file; the upload starts again from 0', async () => {
    const name = repo();
    const body = bytesOf(5000, 49);
    const location = await startUpload(name);
    const head = `PUT ${withDigest(location, digestText(body))} HTTP/1.1\r\nHost: x\r\nAuthorization: ${reg.authorization}\r\nContent-Length: ${body.length}\r\n\r\n`;
    await dropMidBody(head, body.subarray(0, 2000), () => Promise.resolve(true));
    const status = await statusOf(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0'); // empty
    expect(await reg.blobFiles()).not.toContain(digestText(body).slice(7));
    expect(await readdir(join(reg.root, 'uploads'))).toEqual([]);

    expect((await reg.request(withDigest(location, digestText(body)), { method: 'PUT', body })).status).toBe(201);
    expect(Buffer.from(await (await reg.request(`/v2/${name}/blobs/${digestText(body)}`)).arrayBuffer()).equals(body)).toBe(true);
    expect(await readdir(join(reg.root, 'uploads'))).toEqual([]);
  });

  it('a small blob pushed again (by PUT and by POST ?digest=) is checked and claimed, never rewritten', async () => {
    const body = bytesOf(3000, 50);
    const path = join(reg.root, 'blobs', 'sha256', digestText(body).slice(7));
    expect((await reg.request(withDigest(await startUpload(repo()), digestText(body)), { method: 'PUT', body })).status).toBe(201);
    const first = await stat(path);
    expect((await reg.request(withDigest(await startUpload(repo()), digestText(body)), { method: 'PUT', body })).status).toBe(201);
    expect((await reg.request(`/v2/${repo()}/blobs/uploads/?digest=${digestText(body)}`, { method: 'POST', body })).status).toBe(201);
    expect((await stat(path)).ino).toBe(first.ino);
    // And a wrong body for it is still refused, with nothing stored under the digest it has.
    const wrong = Buffer.from(body);
    wrong[0] = wrong[0]! ^ 1;
    await expectError(await reg.request(withDigest(await startUpload(repo()), digestText(body)), { method: 'PUT', body: wrong }), 400, 'DIGEST_INVALID');
    expect(await reg.blobFiles()).not.toContain(digestText(wrong).slice(7));
  });

  it('an upload resumed after a dropped connection: PATCH cut off, GET status, continue from Range', async () => {
    const name = repo();
    const body = bytesOf(4 * 1024 * 1024 + 123, 47);
    const location = await startUpload(name);
    const temp = join(reg.root, 'uploads', uploadIdOf(location));
    const head = `PATCH ${location} HTTP/1.1\r\nHost: x\r\nAuthorization: ${reg.authorization}\r\nContent-Type: application/octet-stream\r\nContent-Range: 0-${body.length - 1}\r\nContent-Length: ${body.length}\r\n\r\n`;
    await dropMidBody(head, body.subarray(0, 3 * 1024 * 1024 + 9), async () => (await fileSize(temp)) >= 2 * 1024 * 1024);

    const status = await statusOf(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('location')).toBe(location);
    const offset = offsetOf(status);
    expect(offset).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    // What the server kept is exactly the prefix we sent.
    expect((await readFile(temp)).equals(body.subarray(0, offset))).toBe(true);

    const rest = await reg.request(location, { method: 'PATCH', body: body.subarray(offset), headers: { 'content-range': `${offset}-${body.length - 1}` } });
    expect(rest.status).toBe(202);
    expect(offsetOf(rest)).toBe(body.length);
    const done = await reg.request(withDigest(location, digestText(body)), { method: 'PUT' });
    expect(done.status).toBe(201);
    const stored = await readFile(join(reg.root, 'blobs', 'sha256', digestText(body).slice(7)));
    expect(stored.equals(body)).toBe(true);
  });

  it('an upload resumes in a fresh process (its hash re-computed from the temp file)', async () => {
    const name = repo();
    const body = bytesOf(100_000, 48);
    const location = await startUpload(name);
    await reg.request(location, { method: 'PATCH', body: body.subarray(0, 60_000), headers: { 'content-range': '0-59999' } });
    // A second registry on the same store and disk: as after a restart, or on another replica.
    const { createRegistry } = await import('./index.js');
    const { createEdge } = await import('../edge/edge.js');
    const { createServer } = await import('node:http');
    const twin = await createRegistry({ store: reg.store, root: reg.root, accountId: '000000000000', logger: { error: () => undefined, warn: () => undefined, debug: () => undefined } });
    const edge = createEdge({ services: [], region: 'us-east-1', accountId: '000000000000', credentials: () => Promise.resolve(undefined) });
    edge.mount('/v2/', twin.handle);
    const server = createServer(edge);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}${withDigest(location, digestText(body))}`, {
        method: 'PUT',
        body: body.subarray(60_000),
        headers: { authorization: reg.authorization, 'content-range': '60000-99999' },
      });
      expect(res.status).toBe(201);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await twin.close();
    }
  });

  it('DELETE cancels an upload: 204, its bytes are gone, it is BLOB_UPLOAD_UNKNOWN after', async () => {
    const name = repo();
    const location = await startUpload(name);
    await reg.request(location, { method: 'PATCH', body: bytesOf(1000), headers: { 'content-range': '0-999' } });
    expect((await reg.request(location, { method: 'DELETE' })).status).toBe(204);
    expect(await fileSize(join(reg.root, 'uploads', uploadIdOf(location)))).toBe(-1);
    await expectError(await statusOf(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await reg.request(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await reg.request(location, { method: 'PATCH', body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('an upload is unknown under another repository and for made-up ids', async () => {
    const location = await startUpload(repo());
    const other = repo();
    await expectError(await reg.request(`/v2/${other}/blobs/uploads/${uploadIdOf(location)}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await reg.request(`/v2/${other}/blobs/uploads/not-an-id`), 404, 'BLOB_UPLOAD_UNKNOWN');
    // Whatever the id, nothing of it reaches a header unchecked (here: CR LF with a bad Content-Range).
    const injected = await reg.request(`/v2/${other}/blobs/uploads/x%0d%0aSet-Cookie:%20a=b`, { method: 'PATCH', body: 'x', headers: { 'content-range': 'bad' } });
    await expectError(injected, 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(injected.headers.get('set-cookie')).toBeNull();
    expect((await reg.request(location, { method: 'DELETE' })).status).toBe(204);
  });

  it('concurrent pushes of the same blob from parallel clients leave one correct file', async () => {
    const body = bytesOf(2 * 1024 * 1024 + 1, 49);
    const digest = digestText(body);
    const names = [repo(), repo(), repo()];
    const before = await reg.uploadFiles();
    const chunked = async (name: string) => {
      const location = await startUpload(name);
      const half = 1024 * 1024;
      const a = await reg.request(location, { method: 'PATCH', body: body.subarray(0, half), headers: { 'content-range': `0-${half - 1}` } });
      expect(a.status).toBe(202);
      const done = await reg.request(withDigest(location, digest), { method: 'PUT', body: body.subarray(half), headers: { 'content-range': `${half}-${body.length - 1}` } });
      return done.status;
    };
    const monolithic = async (name: string) => (await reg.request(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body })).status;
    const statuses = await Promise.all(names.flatMap((name) => [chunked(name), chunked(name), monolithic(name), monolithic(name)]));
    expect(statuses).toEqual(Array(statuses.length).fill(201));
    expect((await reg.blobFiles()).filter((f) => f === digest.slice(7))).toHaveLength(1);
    expect((await readFile(join(reg.root, 'blobs', 'sha256', digest.slice(7)))).equals(body)).toBe(true);
    expect(await reg.uploadFiles()).toEqual(before);
    for (const name of names) expect((await reg.request(`/v2/${name}/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
  });
});

describe('blobs: cross-repository mount', () => {
  it('mounts a blob from another repository: 201 and the blob is there, without its bytes being sent', async () => {
    const from = repo();
    const to = repo();
    const digest = await reg.pushBlob(from, bytesOf(5000, 51));
    const res = await reg.request(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${from}`, { method: 'POST' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/${to}/blobs/${digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect((await reg.request(`/v2/${to}/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
    expect(await reg.registry.metadata.getRepository(to)).toMatchObject({ name: to, createdBy: 'push' });
  });

  it('falls back to a plain upload (202) when the source lacks the blob, does not exist or the digest is bad', async () => {
    const from = repo();
    await reg.pushBlob(from, bytesOf(10, 52));
    const missing = digestText(bytesOf(10, 53));
    for (const query of [`mount=${missing}&from=${from}`, `mount=${missing}&from=no/such/repo`, `mount=sha256:bad&from=${from}`, `mount=${missing}`, `mount=${missing}&from=BAD`]) {
      const res = await reg.request(`/v2/${repo()}/blobs/uploads/?${query}`, { method: 'POST' });
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toMatch(/\/blobs\/uploads\/[0-9a-f-]{36}$/);
      expect((await reg.request(res.headers.get('location')!, { method: 'DELETE' })).status).toBe(204);
    }
  });
});

describe('manifests', () => {
  it('PUT by tag, then GET and HEAD by tag and by digest, with Content-Type and Docker-Content-Digest', async () => {
    const name = repo();
    const image = await pushImage(name, 'v1');
    for (const reference of ['v1', image.digest]) {
      const get = await reg.request(`/v2/${name}/manifests/${reference}`, { headers: { accept: MEDIA_TYPE.ociManifest } });
      expect(get.status).toBe(200);
      expect(get.headers.get('content-type')).toBe(MEDIA_TYPE.ociManifest);
      expect(get.headers.get('docker-content-digest')).toBe(image.digest);
      expect(Buffer.from(await get.arrayBuffer()).equals(image.manifest)).toBe(true);
      const head = await reg.request(`/v2/${name}/manifests/${reference}`, { method: 'HEAD', headers: { accept: MEDIA_TYPE.ociManifest } });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(image.manifest.length));
      expect(head.headers.get('docker-content-digest')).toBe(image.digest);
    }
  });

  it('PUT answers 201 with Location and Docker-Content-Digest; PUT by digest verifies the digest', async () => {
    const name = repo();
    const image = await pushImage(name, 'v1');
    const again = await reg.request(`/v2/${name}/manifests/${image.digest}`, { method: 'PUT', body: image.manifest, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    expect(again.status).toBe(201);
    expect(again.headers.get('location')).toBe(`/v2/${name}/manifests/${image.digest}`);
    expect(again.headers.get('docker-content-digest')).toBe(image.digest);
    const other = digestText(Buffer.from('{}'));
    const wrong = await reg.request(`/v2/${name}/manifests/${other}`, { method: 'PUT', body: image.manifest, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    await expectError(wrong, 400, 'DIGEST_INVALID');
    expect(await reg.registry.metadata.getManifest(name, other)).toBeUndefined();
  });

  it('PUT by a sha512 digest stores the manifest under that digest', async () => {
    const name = repo();
    const image = await pushImage(name, 'v1');
    const digest = digestText(image.manifest, 'sha512');
    const res = await reg.request(`/v2/${name}/manifests/${digest}`, { method: 'PUT', body: image.manifest, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const get = await reg.request(`/v2/${name}/manifests/${digest}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(image.manifest)).toBe(true);
  });

  it('a manifest referencing a sha512 blob is accepted', async () => {
    const name = repo();
    const config = Buffer.from('{"os":"linux"}');
    const layer = bytesOf(777, 61);
    const doc = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      config: { mediaType: OCI_CONFIG, digest: await reg.pushBlob(name, config, 'sha512'), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: await reg.pushBlob(name, layer, 'sha512'), size: layer.length }],
    };
    expect((await putManifest(name, 'sha512', doc)).status).toBe(201);
  });

  it('Docker v2 schema 2 manifests and manifest lists, OCI indexes: stored and served as pushed', async () => {
    const name = repo();
    const docker = await pushImage(name, 'docker', { mediaType: MEDIA_TYPE.dockerManifest, seed: 71 });
    const oci = await pushImage(name, 'oci', { seed: 72 });
    const list = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.dockerManifestList,
      manifests: [{ mediaType: MEDIA_TYPE.dockerManifest, digest: docker.digest, size: docker.manifest.length, platform: { os: 'linux', architecture: 'amd64' } }],
    };
    const putList = await putManifest(name, 'list', list, MEDIA_TYPE.dockerManifestList);
    expect(putList.status).toBe(201);
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: [
        { mediaType: MEDIA_TYPE.ociManifest, digest: oci.digest, size: oci.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MEDIA_TYPE.dockerManifest, digest: docker.digest, size: docker.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    expect((await putManifest(name, 'index', index, MEDIA_TYPE.ociIndex)).status).toBe(201);
    const all = [MEDIA_TYPE.ociManifest, MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerManifest, MEDIA_TYPE.dockerManifestList].join(', ');
    for (const [tag, type] of [['docker', MEDIA_TYPE.dockerManifest], ['list', MEDIA_TYPE.dockerManifestList], ['index', MEDIA_TYPE.ociIndex]] as const) {
      const get = await reg.request(`/v2/${name}/manifests/${tag}`, { headers: { accept: all } });
      expect(get.headers.get('content-type')).toBe(type);
    }
  });

  it('content negotiation: a type the Accept header lacks is MANIFEST_UNKNOWN; an index falls back to its linux/amd64 image', async () => {
    const name = repo();
    const docker = await pushImage(name, 'docker', { mediaType: MEDIA_TYPE.dockerManifest, seed: 81 });
    const oci = await pushImage(name, 'oci', { seed: 82 });
    const notAccepted = await reg.request(`/v2/${name}/manifests/oci`, { headers: { accept: MEDIA_TYPE.dockerManifest } });
    await expectError(notAccepted, 404, 'MANIFEST_UNKNOWN');
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: [
        { mediaType: MEDIA_TYPE.ociManifest, digest: oci.digest, size: oci.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MEDIA_TYPE.dockerManifest, digest: docker.digest, size: docker.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    await putManifest(name, 'multi', index, MEDIA_TYPE.ociIndex);
    const fallback = await reg.request(`/v2/${name}/manifests/multi`, { headers: { accept: `${MEDIA_TYPE.dockerManifest}, ${MEDIA_TYPE.ociManifest}` } });
    expect(fallback.status).toBe(200);
    expect(fallback.headers.get('docker-content-digest')).toBe(docker.digest);
    // No Accept header, or */*: served as stored.
    expect((await reg.request(`/v2/${name}/manifests/multi`, { headers: { accept: '*/*' } })).headers.get('content-type')).toBe(MEDIA_TYPE.ociIndex);
  });

  it('a manifest with missing blobs is refused with MANIFEST_BLOB_UNKNOWN, one error per blob, and nothing is stored', async () => {
    const name = repo();
    const config = await reg.pushBlob(name, Buffer.from('{}'));
    const missingA = digestText(Buffer.from('a'));
    const missingB = digestText(Buffer.from('b'));
    const doc = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      config: { mediaType: OCI_CONFIG, digest: config, size: 2 },
      layers: [
        { mediaType: OCI_LAYER, digest: missingA, size: 1 },
        { mediaType: OCI_LAYER, digest: missingB, size: 1 },
      ],
    };
    const res = await putManifest(name, 'broken', doc);
    expect(res.status).toBe(400);
    const errors = await errorsOf(res);
    expect(errors.map((e) => [e.code, e.detail])).toEqual([
      ['MANIFEST_BLOB_UNKNOWN', { digest: missingA }],
      ['MANIFEST_BLOB_UNKNOWN', { digest: missingB }],
    ]);
    await expectError(await reg.request(`/v2/${name}/manifests/broken`), 404, 'MANIFEST_UNKNOWN');
    expect(await reg.blobFiles()).not.toContain(digestText(JSON.stringify(doc)).slice(7));
  });

  it('a blob present only in another repository does not satisfy a manifest', async () => {
    const name = repo();
    const elsewhere = repo();
    const layer = await reg.pushBlob(elsewhere, Buffer.from('layer'));
    const config = await reg.pushBlob(name, Buffer.from('{}'));
    const res = await putManifest(name, 't', { schemaVersion: 2, config: { mediaType: OCI_CONFIG, digest: config, size: 2 }, layers: [{ mediaType: OCI_LAYER, digest: layer, size: 5 }] });
    await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('an index whose child manifest is not in the repository is MANIFEST_BLOB_UNKNOWN', async () => {
    const name = repo();
    await reg.pushBlob(name, Buffer.from('x'));
    const child = digestText(Buffer.from('no such manifest'));
    const res = await putManifest(name, 'idx', { schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [{ mediaType: MEDIA_TYPE.ociManifest, digest: child, size: 16 }] }, MEDIA_TYPE.ociIndex);
    expect((await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN')).detail).toEqual({ digest: child });
  });

  it('bodies that are not what their media type says are MANIFEST_INVALID', async () => {
    const name = repo();
    const config = await reg.pushBlob(name, Buffer.from('{}'));
    const good = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: OCI_CONFIG, digest: config, size: 2 }, layers: [] };
    const cases: [string, string][] = [
      ['not json', MEDIA_TYPE.ociManifest],
      [JSON.stringify([1, 2]), MEDIA_TYPE.ociManifest],
      [JSON.stringify({ ...good, schemaVersion: 1 }), MEDIA_TYPE.ociManifest],
      [JSON.stringify(good), MEDIA_TYPE.dockerManifest], // Content-Type and mediaType disagree
      [JSON.stringify({ ...good, config: { ...good.config, size: -1 } }), MEDIA_TYPE.ociManifest],
      [JSON.stringify({ ...good, config: { ...good.config, digest: 'sha256:12' } }), MEDIA_TYPE.ociManifest],
      [JSON.stringify({ ...good, layers: 'none' }), MEDIA_TYPE.ociManifest],
      [JSON.stringify({ ...good, mediaType: undefined }), 'application/vnd.example.unknown+json'],
      [JSON.stringify({ ...good, config: { ...good.config, size: 3 } }), MEDIA_TYPE.ociManifest], // the blob has 2 bytes
    ];
    for (const [body, type] of cases) {
      const res = await reg.request(`/v2/${name}/manifests/bad`, { method: 'PUT', body, headers: { 'content-type': type } });
      await expectError(res, 400, 'MANIFEST_INVALID');
    }
    await expectError(await reg.request(`/v2/${name}/manifests/bad`), 404, 'MANIFEST_UNKNOWN');
  });

  it('a manifest over 4 MiB is SIZE_INVALID (413)', async () => {
    const name = repo();
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    await expectError(await reg.request(`/v2/${name}/manifests/big`, { method: 'PUT', body: huge, headers: { 'content-type': MEDIA_TYPE.ociManifest } }), 413, 'SIZE_INVALID');
  });

  it('unknown tags and digests are MANIFEST_UNKNOWN; malformed tags TAG_INVALID', async () => {
    const name = repo();
    await pushImage(name, 'v1');
    await expectError(await reg.request(`/v2/${name}/manifests/v2`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await reg.request(`/v2/${name}/manifests/${digestText('nothing')}`), 404, 'MANIFEST_UNKNOWN');
    const head = await reg.request(`/v2/${name}/manifests/v2`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    await expectError(await reg.request(`/v2/${name}/manifests/.hidden`), 400, 'TAG_INVALID');
    await expectError(await putManifest(name, `${'x'.repeat(129)}`, {}), 400, 'TAG_INVALID');
  });

  it('DELETE by digest removes the manifest and its tags (202); DELETE by tag removes only the tag', async () => {
    const name = repo();
    const image = await pushImage(name, 'a');
    await reg.request(`/v2/${name}/manifests/b`, { method: 'PUT', body: image.manifest, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    expect((await reg.request(`/v2/${name}/manifests/a`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await reg.request(`/v2/${name}/manifests/a`), 404, 'MANIFEST_UNKNOWN');
    expect((await reg.request(`/v2/${name}/manifests/b`)).status).toBe(200);
    expect((await reg.request(`/v2/${name}/manifests/${image.digest}`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await reg.request(`/v2/${name}/manifests/b`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await reg.request(`/v2/${name}/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await reg.request(`/v2/${name}/manifests/${image.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    expect(((await (await reg.request(`/v2/${name}/tags/list`)).json()) as { tags: string[] }).tags).toEqual([]);
  });

  it('an IMMUTABLE repository refuses to move a tag (TAG_INVALID) but accepts the same digest again', async () => {
    const name = repo();
    const first = await pushImage(name, 'stable', { seed: 91 });
    await reg.registry.metadata.updateRepository(name, (r) => ({ ...r, imageTagMutability: 'IMMUTABLE' }));
    const second = await pushImage(name, 'other', { seed: 92 });
    const move = await reg.request(`/v2/${name}/manifests/stable`, { method: 'PUT', body: second.manifest, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    expect((await expectError(move, 400, 'TAG_INVALID')).message).toMatch(/cannot be overwritten because the repository is immutable/);
    const same = await reg.request(`/v2/${name}/manifests/stable`, { method: 'PUT', body: first.manifest, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    expect(same.status).toBe(201);
    expect((await reg.request(`/v2/${name}/manifests/stable`)).headers.get('docker-content-digest')).toBe(first.digest);
  });
});

describe('referrers API and subject', () => {
  it('lists the manifests that refer to a subject, filters by artifactType, and says so', async () => {
    const name = repo();
    const subject = await pushImage(name, 'app', { seed: 101 });
    const empty = await reg.pushBlob(name, Buffer.from('{}'));
    const artifact = (artifactType: string, note: string) => ({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [],
      subject: { mediaType: MEDIA_TYPE.ociManifest, digest: subject.digest, size: subject.manifest.length },
      annotations: { note },
    });
    const sbom = artifact('application/vnd.example.sbom.v1', 'sbom');
    const sig = artifact('application/vnd.example.signature.v1', 'sig');
    const pushed: string[] = [];
    for (const doc of [sbom, sig]) {
      const body = JSON.stringify(doc);
      const res = await reg.request(`/v2/${name}/manifests/${digestText(body)}`, { method: 'PUT', body, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
      expect(res.status).toBe(201);
      expect(res.headers.get('oci-subject')).toBe(subject.digest);
      pushed.push(digestText(body));
    }
    const all = await reg.request(`/v2/${name}/referrers/${subject.digest}`);
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toBe(MEDIA_TYPE.ociIndex);
    expect(all.headers.get('oci-filters-applied')).toBeNull();
    const index = (await all.json()) as { schemaVersion: number; mediaType: string; manifests: Record<string, unknown>[] };
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(MEDIA_TYPE.ociIndex);
    expect(index.manifests.map((d) => d['digest']).sort()).toEqual([...pushed].sort());
    const sbomEntry = index.manifests.find((d) => d['digest'] === pushed[0]);
    expect(sbomEntry).toEqual({ mediaType: MEDIA_TYPE.ociManifest, digest: pushed[0], size: JSON.stringify(sbom).length, artifactType: 'application/vnd.example.sbom.v1', annotations: { note: 'sbom' } });

    const filtered = await reg.request(`/v2/${name}/referrers/${subject.digest}?artifactType=${encodeURIComponent('application/vnd.example.signature.v1')}`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await filtered.json()) as { manifests: { digest: string }[] }).manifests.map((d) => d.digest)).toEqual([pushed[1]]);

    // Deleting a referrer takes it out of the list.
    expect((await reg.request(`/v2/${name}/manifests/${pushed[0]}`, { method: 'DELETE' })).status).toBe(202);
    const after = (await (await reg.request(`/v2/${name}/referrers/${subject.digest}`)).json()) as { manifests: { digest: string }[] };
    expect(after.manifests.map((d) => d.digest)).toEqual([pushed[1]]);
  });

  it('a manifest whose subject does not exist is accepted; unknown subjects list empty; bad digests are DIGEST_INVALID', async () => {
    const name = repo();
    const empty = await reg.pushBlob(name, Buffer.from('{}'));
    const ghost = digestText('not pushed');
    const doc = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: 'application/vnd.example.thing', digest: empty, size: 2 }, layers: [], subject: { mediaType: MEDIA_TYPE.ociManifest, digest: ghost, size: 1 } };
    const res = await putManifest(name, 'dangling', doc);
    expect(res.status).toBe(201);
    const listed = (await (await reg.request(`/v2/${name}/referrers/${ghost}`)).json()) as { manifests: { artifactType: string }[] };
    // Without artifactType the config's media type stands in.
    expect(listed.manifests.map((d) => d.artifactType)).toEqual(['application/vnd.example.thing']);
    const none = await reg.request(`/v2/${name}/referrers/${digestText('nobody refers to me')}`);
    expect(none.status).toBe(200);
    expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    await expectError(await reg.request(`/v2/${name}/referrers/latest`), 400, 'DIGEST_INVALID');
  });
});

describe('listings: tags and _catalog with pagination', () => {
  it('lists tags in lexical order, n at a time, with a Link to the next page', async () => {
    const name = repo();
    const image = await pushImage(name, 'v3');
    for (const tag of ['v1', 'latest', 'v2', 'A', 'v10']) {
      await reg.request(`/v2/${name}/manifests/${tag}`, { method: 'PUT', body: image.manifest, headers: { 'content-type': MEDIA_TYPE.ociManifest } });
    }
    const all = await reg.request(`/v2/${name}/tags/list`);
    expect(await all.json()).toEqual({ name, tags: ['A', 'latest', 'v1', 'v10', 'v2', 'v3'] });
    expect(all.headers.get('link')).toBeNull();

    const pages: string[][] = [];
    let next: string | undefined = `/v2/${name}/tags/list?n=4`;
    while (next !== undefined) {
      const res: Response = await reg.request(next);
      pages.push(((await res.json()) as { tags: string[] }).tags);
      const link = res.headers.get('link');
      next = link === null ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)![1];
    }
    expect(pages).toEqual([['A', 'latest', 'v1', 'v10'], ['v2', 'v3']]);
    expect(((await (await reg.request(`/v2/${name}/tags/list?last=v10`)).json()) as { tags: string[] }).tags).toEqual(['v2', 'v3']);
    expect(((await (await reg.request(`/v2/${name}/tags/list?n=0`)).json()) as { tags: string[] }).tags).toEqual([]);
    for (const n of ['-1', 'abc', '1.5']) await expectError(await reg.request(`/v2/${name}/tags/list?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
  });

  it('a repository with no tags lists an empty array', async () => {
    const name = repo();
    await reg.pushBlob(name, Buffer.from('x'));
    expect(await (await reg.request(`/v2/${name}/tags/list`)).json()).toEqual({ name, tags: [] });
  });

  it('_catalog lists repositories in order, n at a time, with Link', async () => {
    await using own = await startRegistry();
    const names = ['b/one', 'a', 'c-d', 'b', 'b/two'];
    for (const name of names) await own.pushBlob(name, Buffer.from(name));
    const all = await own.request('/v2/_catalog');
    expect(await all.json()).toEqual({ repositories: ['a', 'b', 'b/one', 'b/two', 'c-d'] });
    const first = await own.request('/v2/_catalog?n=2');
    expect(await first.json()).toEqual({ repositories: ['a', 'b'] });
    expect(first.headers.get('link')).toBe('</v2/_catalog?n=2&last=b>; rel="next"');
    const second = await own.request('/v2/_catalog?n=2&last=b');
    expect(await second.json()).toEqual({ repositories: ['b/one', 'b/two'] });
    const third = await own.request('/v2/_catalog?n=2&last=b%2Ftwo');
    expect(await third.json()).toEqual({ repositories: ['c-d'] });
    expect(third.headers.get('link')).toBeNull();
    await expectError(await own.request('/v2/_catalog?n=x'), 400, 'PAGINATION_NUMBER_INVALID');
  });
});

describe('names, rights and limits', () => {
  it('repository names outside the spec\'s grammar or over 256 characters are NAME_INVALID', async () => {
    for (const name of ['Upper', 'a//b', '-a', 'a-', 'a/', '_a', `a${'b'.repeat(256)}`, 'a..b']) {
      await expectError(await reg.request(`/v2/${name}/tags/list`), 400, 'NAME_INVALID');
    }
    // The spec's separators, including '__' and runs of dashes, are fine.
    for (const name of ['a__b', 'a---b', 'a.b/c_d']) {
      await expectError(await reg.request(`/v2/${name}/tags/list`), 404, 'NAME_UNKNOWN');
    }
  });

  it('pulling from a repository that does not exist is NAME_UNKNOWN', async () => {
    const name = repo();
    for (const path of [`/v2/${name}/tags/list`, `/v2/${name}/manifests/latest`, `/v2/${name}/blobs/${digestText('x')}`, `/v2/${name}/referrers/${digestText('x')}`]) {
      await expectError(await reg.request(path), 404, 'NAME_UNKNOWN');
    }
  });

  it('without create-on-push, pushing to a repository that does not exist is NAME_UNKNOWN and creates nothing', async () => {
    await using strict = await startRegistry({ createRepositoryOnPush: false });
    await expectError(await strict.request('/v2/absent/blobs/uploads/', { method: 'POST' }), 404, 'NAME_UNKNOWN');
    await expectError(await strict.request(`/v2/absent/blobs/uploads/?digest=${digestText('x')}`, { method: 'POST', body: 'x' }), 404, 'NAME_UNKNOWN');
    await expectError(await strict.request('/v2/absent/manifests/v1', { method: 'PUT', body: '{}' }), 404, 'NAME_UNKNOWN');
    expect(await strict.blobFiles()).toEqual([]);
    await strict.registry.metadata.createRepository({ name: 'present', createdAt: new Date().toISOString(), imageTagMutability: 'MUTABLE', scanOnPush: false, createdBy: 'api' });
    expect((await strict.request(`/v2/present/blobs/uploads/?digest=${digestText('x')}`, { method: 'POST', body: 'x' })).status).toBe(201);
  });

  it('the authorizer decides per repository and action: DENIED (403), and the catalog hides what cannot be pulled', async () => {
    await using guarded = await startRegistry({
      authorize: ({ action, repository }) => !(repository.startsWith('locked') && action !== 'pull') && repository !== 'secret',
    });
    await guarded.pushBlob('open', Buffer.from('x'));
    await guarded.pushBlob('secret', Buffer.from('y')).catch(() => undefined);
    const denied = await guarded.request(`/v2/locked/blobs/uploads/?digest=${digestText('x')}`, { method: 'POST', body: 'x' });
    expect((await expectError(denied, 403, 'DENIED')).detail).toEqual({ name: 'locked', action: 'push' });
    await expectError(await guarded.request('/v2/secret/tags/list'), 403, 'DENIED');
    await expectError(await guarded.request('/v2/locked/manifests/x', { method: 'DELETE' }), 403, 'DENIED');
    // A mount from a repository the caller may not pull falls back to an upload.
    await guarded.store.txn([], [{ type: 'put', key: '/registry/repositories/secret', value: JSON.stringify({ name: 'secret', createdAt: '', imageTagMutability: 'MUTABLE', scanOnPush: false, createdBy: 'api' }) }]);
    const secretBlob = digestText('s');
    await guarded.registry.metadata.linkBlob('secret', secretBlob, 1, new Date());
    expect((await guarded.request(`/v2/open/blobs/uploads/?mount=${secretBlob}&from=secret`, { method: 'POST' })).status).toBe(202);
    expect(await (await guarded.request('/v2/_catalog')).json()).toEqual({ repositories: ['open'] });
  });

  it('methods an endpoint does not serve are UNSUPPORTED (405) with Allow; unknown paths are 404', async () => {
    const name = repo();
    const res = await reg.request(`/v2/${name}/manifests/latest`, { method: 'POST' });
    await expectError(res, 405, 'UNSUPPORTED');
    expect(res.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
    await expectError(await reg.request(`/v2/${name}/tags/list`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    await expectError(await reg.request('/v2/', { method: 'POST' }), 405, 'UNSUPPORTED');
    const unknown = await reg.request(`/v2/${name}/whatever`);
    expect(unknown.status).toBe(404);
  });

  it('past the upload session limit a new upload is TOOMANYREQUESTS (429); finishing one frees a slot', async () => {
    await using small = await startRegistry({ maxUploadSessions: 2 });
    const a = await small.request('/v2/x/blobs/uploads/', { method: 'POST' });
    await small.request('/v2/x/blobs/uploads/', { method: 'POST' });
    await expectError(await small.request('/v2/x/blobs/uploads/', { method: 'POST' }), 429, 'TOOMANYREQUESTS');
    expect((await small.request(a.headers.get('location')!, { method: 'DELETE' })).status).toBe(204);
    expect((await small.request('/v2/x/blobs/uploads/', { method: 'POST' })).status).toBe(202);
  });

  it('blobs over the size limit are SIZE_INVALID (413), refused before or while streaming, and change nothing', async () => {
    await using small = await startRegistry({ maxBlobBytes: 1000 });
    const big = bytesOf(1001);
    await expectError(await small.request(`/v2/x/blobs/uploads/?digest=${digestText(big)}`, { method: 'POST', body: big }), 413, 'SIZE_INVALID');
    const location = (await small.request('/v2/x/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
    await small.request(location, { method: 'PATCH', body: big.subarray(0, 600), headers: { 'content-range': '0-599' } });
    await expectError(await small.request(location, { method: 'PATCH', body: big.subarray(600), headers: { 'content-range': '600-1000' } }), 413, 'SIZE_INVALID');
    // Streamed without a declared length: refused once the running total passes the limit.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(big.subarray(600, 900));
        controller.enqueue(big.subarray(900));
        controller.close();
      },
    });
    await expectError(await small.request(location, { method: 'PATCH', body: stream }), 413, 'SIZE_INVALID');
    expect(offsetOf(await small.request(location))).toBe(600);
    expect(await small.blobFiles()).toEqual([]);
  });

  it('a server fault is UNKNOWN (500), logged with its cause', async () => {
    await using broken = await startRegistry();
    await broken.store.close();
    await expectError(await broken.request('/v2/'), 500, 'UNKNOWN');
    expect(broken.logs.filter((line) => line.level === 'error').map((line) => line.message)).toEqual(['registry request failed']);
  });

  it('a non-numeric Content-Length never gets here (the HTTP parser refuses it), but a declared length that lies is SIZE_INVALID', async () => {
    const name = repo();
    const location = await startUpload(name);
    const res = await reg.request(location, { method: 'PATCH', body: bytesOf(10), headers: { 'content-range': '0-19' } });
    await expectError(res, 400, 'SIZE_INVALID');
    expect((await reg.request(location, { method: 'DELETE' })).status).toBe(204);
  });
});
