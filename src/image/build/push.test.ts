/**
 * Pushing to Debian's docker-registry with Basic (htpasswd) and Bearer (token server) auth: blobs
 * HEAD-checked and skipped when present, the manifest stored under the tag and pulled back by
 * digest; refusals say why.
 */
import { existsSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRecord } from '../content-store.js';
import { ImageStore } from '../index.js';
import { writeImage } from '../testing/oci.js';
import { push as skopeoPush, startRegistry, type RegistryProcess } from '../testing/registry.js';
import { startTokenServer, type TokenServer } from '../testing/token-server.js';
import { pushImage, type PushProgress } from './push.js';

const ready = existsSync('/usr/bin/docker-registry') && existsSync('/usr/bin/htpasswd') && existsSync('/usr/bin/skopeo');
if (!ready) console.warn('push.test.ts skipped: needs docker-registry, htpasswd and skopeo');

describe.skipIf(!ready)('pushImage', () => {
  let tmp: string;
  let source: RegistryProcess;
  let basic: RegistryProcess;
  let token: RegistryProcess;
  let tokens: TokenServer;
  let images: ImageStore;
  let image: ImageRecord;
  const alice = { username: 'alice', password: 'correct horse' };

  beforeAll(async () => {
    tmp = await fs.mkdtemp(join(tmpdir(), 'berth-push-'));
    const layout = join(tmp, 'layout');
    await writeImage(layout, 'v1', [[{ name: 'a.txt', content: 'first layer' }], [{ name: 'b.txt', content: 'second layer' }]]);
    source = await startRegistry(join(tmp, 'source'));
    await skopeoPush(layout, 'v1', `${source.host}/app:v1`);
    images = await ImageStore.open(join(tmp, 'images'));
    image = await images.pull(`${source.host}/app:v1`);
    basic = await startRegistry(join(tmp, 'basic'), { kind: 'htpasswd', users: [alice] });
    tokens = await startTokenServer(join(tmp, 'tokens'), { [alice.username]: alice.password });
    token = await startRegistry(join(tmp, 'token'), { kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certPem: tokens.certPem });
  }, 120_000);

  afterAll(async () => {
    images?.close();
    await source?.stop();
    await basic?.stop();
    await token?.stop();
    await tokens?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('pushes with Basic auth, then skips every blob the repository already has', async () => {
    const events: PushProgress[] = [];
    const result = await pushImage(images.content, image, `${basic.host}/team/app:v1`, { credentials: alice, onProgress: (e) => events.push(e) });
    expect(result).toEqual({ reference: `${basic.host}/team/app:v1`, digest: image.digest, uploaded: 3, skipped: 0 });
    expect(events.map((e) => e.type)).toEqual(['uploading', 'uploaded', 'uploading', 'uploaded', 'uploading', 'uploaded', 'manifest']);
    const again = await pushImage(images.content, image, `${basic.host}/team/app:v2`, { credentials: alice });
    expect(again).toMatchObject({ uploaded: 0, skipped: 3 });

    // What was pushed pulls back, byte for byte the same manifest.
    const back = await ImageStore.open(join(tmp, 'back-basic'));
    try {
      const pulled = await back.pull(`${basic.host}/team/app:v2`, { credentials: alice });
      expect(pulled.digest).toBe(image.digest);
      expect(pulled.layers.map((l) => l.diffID)).toEqual(image.layers.map((l) => l.diffID));
    } finally {
      back.close();
    }
  });

  it('pushes with a bearer token asked for pull,push on the repository', async () => {
    const result = await pushImage(images.content, image, `${token.host}/team/app:v1`, { credentials: alice });
    expect(result.uploaded).toBe(3);
    expect(tokens.requests.some((r) => r.user === 'alice' && r.scopes.includes('repository:team/app:pull,push'))).toBe(true);
    const back = await ImageStore.open(join(tmp, 'back-token'));
    try {
      expect((await back.pull(`${token.host}/team/app:v1`, { credentials: alice })).digest).toBe(image.digest);
    } finally {
      back.close();
    }
  });

  it('says why a push is refused', async () => {
    await expect(pushImage(images.content, image, `${basic.host}/team/app:v3`)).rejects.toThrow(
      `push ${basic.host}/team/app:v3: the registry asks for Basic authentication and no credentials were given`,
    );
    await expect(pushImage(images.content, image, `${basic.host}/team/app:v3`, { credentials: { username: 'alice', password: 'wrong' } })).rejects.toThrow(
      'the registry refused the credentials of alice (401',
    );
    await expect(pushImage(images.content, image, `${token.host}/team/app:v3`, { credentials: { username: 'mallory', password: 'x' } })).rejects.toThrow(
      /the token server at http:\/\/127\.0\.0\.1:\d+ refused \(401/,
    );
    await expect(pushImage(images.content, image, `${basic.host}/team/app@${image.digest}`, { credentials: alice })).rejects.toThrow('give a tag to push to (REPO:TAG)');
    await expect(pushImage(images.content, image, '127.0.0.1:1/app:v1')).rejects.toThrow('cannot reach 127.0.0.1:1');
  });
});
