/**
 * Authenticated pulls against docker-registry: htpasswd (Basic, as ECS repositoryCredentials are
 * sent) and token auth (Bearer, with our own token server), including token caching and expiry.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, ImageStore } from './index.js';
import { writeImage } from './testing/oci.js';
import { push, startRegistry, type RegistryProcess } from './testing/registry.js';
import { startTokenServer, type TokenServer } from './testing/token-server.js';

let tmp: string;
let layout: string;
let basicRegistry: RegistryProcess;
let tokenRegistry: RegistryProcess;
let tokens: TokenServer;
const stores: ImageStore[] = [];
const alice = { username: 'alice', password: 'correct horse' };

async function openStore(name: string, options: Parameters<typeof ImageStore.open>[1] = {}): Promise<ImageStore> {
  const s = await ImageStore.open(join(tmp, name), options);
  stores.push(s);
  return s;
}

async function failure(p: Promise<unknown>): Promise<ImageError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ImageError);
  return err as ImageError;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(join(tmpdir(), 'berth-auth-'));
  layout = join(tmp, 'layout');
  await writeImage(layout, 'v1', [[{ name: 'secret.txt', content: 'private' }]]);
  basicRegistry = await startRegistry(join(tmp, 'basic'), { kind: 'htpasswd', users: [alice] });
  await push(layout, 'v1', `${basicRegistry.host}/private:v1`, { creds: `${alice.username}:${alice.password}` });
  tokens = await startTokenServer(join(tmp, 'tokens'), { [alice.username]: alice.password });
  tokenRegistry = await startRegistry(join(tmp, 'token'), { kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certPem: tokens.certPem });
  await push(layout, 'v1', `${tokenRegistry.host}/private:v1`, { creds: `${alice.username}:${alice.password}` });
}, 120_000);

afterAll(async () => {
  stores.forEach((s) => s.close());
  await basicRegistry?.stop();
  await tokenRegistry?.stop();
  await tokens?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('Basic auth (htpasswd)', () => {
  it('pulls with the right credentials', async () => {
    const images = await openStore('basic-ok');
    const image = await images.pull(`${basicRegistry.host}/private:v1`, { credentials: alice });
    expect(image.layers).toHaveLength(1);
  });

  it('says credentials are needed when none are given', async () => {
    const images = await openStore('basic-none');
    const err = await failure(images.pull(`${basicRegistry.host}/private:v1`));
    expect(err.code).toBe('Unauthorized');
    expect(err.message).toMatch(/asks for Basic authentication and no credentials were given/);
  });

  it('refuses wrong credentials after one retry', async () => {
    const images = await openStore('basic-bad');
    const err = await failure(images.pull(`${basicRegistry.host}/private:v1`, { credentials: { username: 'alice', password: 'wrong' } }));
    expect(err.code).toBe('Unauthorized');
    expect(err.message).toMatch(/still unauthorized after authenticating \(401: UNAUTHORIZED/);
    expect(images.list()).toEqual([]);
  });
});

describe('Bearer token auth', () => {
  it('fetches one token with Basic credentials, reuses it until it expires, then fetches another', async () => {
    let clock = Date.now();
    const images = await openStore('token-ok', { now: () => clock });
    const before = tokens.requests.length;
    await images.pull(`${tokenRegistry.host}/private:v1`, { credentials: alice });
    expect(tokens.requests.slice(before)).toEqual([{ scopes: ['repository:private:pull'], user: 'alice' }]);

    await images.content.removeImage(`${tokenRegistry.host}/private:v1`);
    await images.gc();
    await images.pull(`${tokenRegistry.host}/private:v1`, { credentials: alice });
    expect(tokens.requests.length - before).toBe(1); // every request of the second pull used the cached token

    clock += 301_000;
    await images.pull(`${tokenRegistry.host}/private:v1`, { credentials: alice });
    expect(tokens.requests.length - before).toBe(2);
  });

  it('reports the token server refusing bad or missing credentials', async () => {
    const images = await openStore('token-bad');
    const bad = await failure(images.pull(`${tokenRegistry.host}/private:v1`, { credentials: { username: 'mallory', password: 'x' } }));
    expect(bad.code).toBe('Unauthorized');
    expect(bad.message).toMatch(/token server refused the credentials of mallory \(401\)/);
    const none = await failure(images.pull(`${tokenRegistry.host}/private:v1`));
    expect(none.message).toMatch(/token server refused an anonymous request \(401\)/);
    expect(images.list()).toEqual([]);
  });
});
