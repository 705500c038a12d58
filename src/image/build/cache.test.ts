/**
 * Cache keys (pure: what changes a key and what does not) and the cache index on disk.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildCache, cacheKey, chainID, type LayerAction } from './cache.js';

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const C = `sha256:${'c'.repeat(64)}`;

describe('chainID', () => {
  it('follows the OCI definition', () => {
    expect(chainID([])).toBe('scratch');
    expect(chainID([A])).toBe(A);
    const ab = `sha256:${createHash('sha256').update(`${A} ${B}`).digest('hex')}`;
    expect(chainID([A, B])).toBe(ab);
    expect(chainID([A, B, C])).toBe(`sha256:${createHash('sha256').update(`${ab} ${C}`).digest('hex')}`);
    expect(chainID([B, A])).not.toBe(ab);
  });
});

describe('cacheKey', () => {
  const run: LayerAction = { kind: 'run', argv: ['/bin/sh', '-c', 'make'], env: ['A=1'], user: '', workdir: '/' };
  const copy: LayerAction = { kind: 'copy', add: false, sources: ['app'], dest: '/app', destIsDir: false };
  const key = (action: LayerAction, parent = A, contentHash?: string) => cacheKey({ parent, action, ...(contentHash === undefined ? {} : { contentHash }) });

  it('is stable for the same step on the same layers, whatever the property order', () => {
    expect(key(run)).toBe(key({ workdir: '/', user: '', env: ['A=1'], argv: ['/bin/sh', '-c', 'make'], kind: 'run' }));
    expect(key(run)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('changes with anything that changes what the step makes', () => {
    const base = key(run);
    const variants = [
      key(run, B),
      key({ ...run, argv: ['/bin/sh', '-c', 'make all'] }),
      key({ ...run, env: ['A=2'] }),
      key({ ...run, env: [] }),
      key({ ...run, user: 'app' }),
      key({ ...run, workdir: '/src' }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('keys COPY and ADD on the content and on where and how files land', () => {
    const base = key(copy, A, C);
    const variants = [
      key(copy, A, B),
      key(copy, B, C),
      key({ ...copy, dest: '/srv' }, A, C),
      key({ ...copy, destIsDir: true }, A, C),
      key({ ...copy, chown: 'app' }, A, C),
      key({ ...copy, chmod: 0o755 }, A, C),
      key({ ...copy, add: true }, A, C),
      key({ ...copy, sources: ['app/'] }, A, C),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('keys WORKDIR on the path and the user who owns what it makes', () => {
    const w: LayerAction = { kind: 'workdir', path: '/app', user: '' };
    expect(new Set([key(w), key({ ...w, path: '/srv' }), key({ ...w, user: 'app' }), key(w, B)]).size).toBe(4);
  });
});

describe('BuildCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const layer = { digest: A, size: 10, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', diffID: B };

  it('keeps entries across opens', async () => {
    const cache = await BuildCache.open(dir);
    expect(cache.get('k')).toBeUndefined();
    await cache.put('k', { layer, createdAt: '2024-01-01T00:00:00.000Z', usedAt: '2024-01-01T00:00:00.000Z' });
    await cache.put('empty', { createdAt: '2024-01-01T00:00:00.000Z', usedAt: '2024-01-01T00:00:00.000Z' });
    const again = await BuildCache.open(dir);
    expect(again.get('k')?.layer).toEqual(layer);
    expect(again.get('empty')).toEqual({ createdAt: '2024-01-01T00:00:00.000Z', usedAt: '2024-01-01T00:00:00.000Z' });
    await again.forget('k');
    expect((await BuildCache.open(dir)).get('k')).toBeUndefined();
  });

  it('drops the least recently used entries beyond its bound', async () => {
    const cache = await BuildCache.open(dir, 2);
    await cache.put('old', { createdAt: 'x', usedAt: '2024-01-01T00:00:00.000Z' });
    await cache.put('new', { createdAt: 'x', usedAt: '2024-01-03T00:00:00.000Z' });
    await cache.put('mid', { createdAt: 'x', usedAt: '2024-01-02T00:00:00.000Z' });
    const again = await BuildCache.open(dir, 2);
    expect([again.get('old'), again.get('mid'), again.get('new')].map((e) => e !== undefined)).toEqual([false, true, true]);
  });

  it('starts empty over a damaged index', async () => {
    await writeFile(join(dir, 'cache.json'), '{ not json');
    expect((await BuildCache.open(dir)).get('k')).toBeUndefined();
  });
});
