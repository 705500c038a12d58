/**
 * The build context on a real directory: selection with .dockerignore and wildcards, confinement
 * (`..`, symlinks leading out), and the content hash the layer cache keys on.
 */
import { chmod, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildContext, componentRegex, hashSources } from './context.js';
import { DockerIgnore } from './dockerignore.js';

let dir: string;
let ctx: string;

async function files(spec: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(spec)) {
    await mkdir(join(ctx, path, '..'), { recursive: true });
    await writeFile(join(ctx, path), content);
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-context-'));
  ctx = join(dir, 'ctx');
  await mkdir(ctx);
  await writeFile(join(dir, 'secret'), 'host secret');
  await files({
    'app/main.go': 'package main',
    'app/util.go': 'package main // util',
    'app/README.md': 'readme',
    'app/vendor/lib.go': 'lib',
    'app/.git/HEAD': 'ref',
    'docs/a.md': 'a',
    'docs/b.txt': 'b',
    'top.txt': 'top',
    'config.yml': 'c',
    '.dockerignore': '**/.git\n*.txt\n!top.txt\napp/vendor\ndocs\n!docs/a.md\n',
  });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = () => BuildContext.open(ctx);
const rels = (s: { entries: readonly { rel: string; type: string }[] }) => s.entries.map((e) => `${e.rel}:${e.type}`);

describe('BuildContext.select', () => {
  it('selects a file and a directory with everything .dockerignore lets through', async () => {
    const c = await open();
    const [file] = await c.select('config.yml', 'COPY', 2);
    expect(file).toMatchObject({ path: 'config.yml', name: 'config.yml' });
    expect(rels(file!)).toEqual([':file']);
    const [app] = await c.select('app/', 'COPY', 2);
    expect(rels(app!)).toEqual([':dir', 'README.md:file', 'main.go:file', 'util.go:file']);
    const [root] = await c.select('.', 'COPY', 2);
    expect(rels(root!)).toEqual([
      ':dir', '.dockerignore:file', 'app:dir', 'app/README.md:file', 'app/main.go:file', 'app/util.go:file', 'config.yml:file', 'docs:dir', 'docs/a.md:file', 'top.txt:file',
    ]);
    // A leading / means the context root, as in Docker.
    expect((await c.select('/config.yml', 'COPY', 2))[0]!.path).toBe('config.yml');
  });

  it('treats excluded files as absent, even when named directly', async () => {
    const c = await open();
    await expect(c.select('docs/b.txt', 'COPY', 4)).rejects.toThrow('COPY docs/b.txt: not found in the build context (it is excluded by .dockerignore) (line 4)');
    await expect(c.select('app/.git/HEAD', 'COPY', 4)).rejects.toThrow('excluded by .dockerignore');
    await expect(c.select('missing', 'ADD', 5)).rejects.toThrow('ADD missing: not found in the build context (line 5)');
    expect((await c.select('docs/a.md', 'COPY', 1))[0]!.path).toBe('docs/a.md');
  });

  it('expands wildcards per path component, without the excluded', async () => {
    const c = await open();
    expect((await c.select('app/*.go', 'COPY', 1)).map((s) => s.path)).toEqual(['app/main.go', 'app/util.go']);
    expect((await c.select('*/*.md', 'COPY', 1)).map((s) => s.path)).toEqual(['app/README.md', 'docs/a.md']);
    expect((await c.select('*.txt', 'COPY', 1)).map((s) => s.path)).toEqual(['top.txt']);
    expect((await c.select('app/[mu]*.go', 'COPY', 1)).map((s) => s.path)).toEqual(['app/main.go', 'app/util.go']);
    expect((await c.select('app/?ain.go', 'COPY', 1)).map((s) => s.path)).toEqual(['app/main.go']);
    await expect(c.select('*.rs', 'COPY', 9)).rejects.toThrow('COPY *.rs: no files in the build context match (line 9)');
  });

  it('refuses sources outside the context', async () => {
    const c = await open();
    await expect(c.select('../secret', 'COPY', 3)).rejects.toThrow('COPY ../secret: ../secret is outside the build context (line 3)');
    await expect(c.select('app/../../secret', 'COPY', 3)).rejects.toThrow('is outside the build context (line 3)');
    await expect(c.select('..', 'ADD', 3)).rejects.toThrow('ADD ..: .. is outside the build context');
  });

  it('follows symlinks that stay inside the context, and refuses those that lead out', async () => {
    await symlink('app/main.go', join(ctx, 'link.go'));
    await symlink('app', join(ctx, 'applink'));
    await symlink(join(ctx, 'config.yml'), join(ctx, 'abs-inside'));
    await symlink('../secret', join(ctx, 'escape'));
    await symlink('/etc', join(ctx, 'etc'));
    await symlink('docs/b.txt', join(ctx, 'to-excluded'));
    const c = await open();
    const [link] = await c.select('link.go', 'COPY', 1);
    expect(link).toMatchObject({ path: 'app/main.go', name: 'link.go' });
    expect((await c.select('applink/util.go', 'COPY', 1))[0]!.path).toBe('app/util.go');
    expect((await c.select('abs-inside', 'COPY', 1))[0]!.path).toBe('config.yml');
    await expect(c.select('escape', 'COPY', 6)).rejects.toThrow('COPY escape: escape leads outside the build context through the symlink escape (→ ../secret) (line 6)');
    await expect(c.select('etc/passwd', 'COPY', 7)).rejects.toThrow('COPY etc/passwd: etc/passwd leads outside the build context through the symlink etc (→ /etc) (line 7)');
    await expect(c.select('to-excluded', 'COPY', 8)).rejects.toThrow('excluded by .dockerignore');
  });

  it('copies symlinks inside a directory as symlinks, whatever they point at', async () => {
    await mkdir(join(ctx, 'links'));
    await symlink('../../secret', join(ctx, 'links', 'out'));
    await symlink('/etc/passwd', join(ctx, 'links', 'abs'));
    const [links] = await (await open()).select('links', 'COPY', 1);
    expect(links!.entries.slice(1).map((e) => [e.rel, e.type, e.linkTarget])).toEqual([
      ['abs', 'symlink', '/etc/passwd'],
      ['out', 'symlink', '../../secret'],
    ]);
  });

  it('keeps an excluded directory as the parent of what a ! pattern brings back', async () => {
    const c = await BuildContext.open(ctx, DockerIgnore.parse('app\n!app/vendor/lib.go\n'));
    const [root] = await c.select('.', 'COPY', 1);
    expect(rels(root!).filter((r) => r.startsWith('app'))).toEqual(['app:dir', 'app/vendor:dir', 'app/vendor/lib.go:file']);
  });

  it('refuses a context that is not a directory', async () => {
    await expect(BuildContext.open(join(ctx, 'top.txt'))).rejects.toThrow('is not a directory');
    await expect(BuildContext.open(join(ctx, 'nope'))).rejects.toThrow('cannot be read');
  });
});

describe('hashSources', () => {
  it('changes with content, mode, names and link targets, not with mtimes', async () => {
    const c = await open();
    const hash = async () => hashSources(await c.select('app', 'COPY', 1));
    const first = await hash();
    expect(first).toMatch(/^sha256:[0-9a-f]{64}$/);
    await utimes(join(ctx, 'app', 'main.go'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await hash()).toBe(first);
    await writeFile(join(ctx, 'app', 'main.go'), 'package main // changed');
    const second = await hash();
    expect(second).not.toBe(first);
    await chmod(join(ctx, 'app', 'main.go'), 0o755);
    const third = await hash();
    expect(third).not.toBe(second);
    await writeFile(join(ctx, 'app', 'new.go'), '');
    expect(await hash()).not.toBe(third);
    // An excluded file changing changes nothing.
    const before = await hash();
    await writeFile(join(ctx, 'app', 'vendor', 'lib.go'), 'changed');
    expect(await hash()).toBe(before);
  });
});

describe('componentRegex', () => {
  it('reads Go filepath.Match components', () => {
    expect(componentRegex('*.go').test('a.go')).toBe(true);
    expect(componentRegex('[!a]x').test('bx')).toBe(true);
    expect(componentRegex('[!a]x').test('ax')).toBe(false);
    expect(componentRegex('a\\*').test('a*')).toBe(true);
    expect(componentRegex('a\\*').test('ab')).toBe(false);
    expect(() => componentRegex('[ab')).toThrow('unclosed');
  });
});
