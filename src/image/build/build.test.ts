/**
 * Real builds with runc: FROM the busybox fixture image pushed to an in-process Berth registry,
 * RUN (files created and deleted, so whiteouts and opaque directories), COPY with .dockerignore,
 * the config instructions; the image pushed, pulled back with skopeo and unpacked with umoci; a
 * rebuild that runs nothing; hostile contexts and bad instructions refused; the built image run.
 * Every test checks that no container, snapshot or mount is left behind. Needs root, runc,
 * skopeo, umoci and busybox-static.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readFile, readdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRegistry, type Harness } from '../../registry/harness.suite.js';
import { RuncDriver, type ContainerSpec, type Driver } from '../../runtime/index.js';
import { ImageStore } from '../index.js';
import { buildBusybox, push as skopeoPush } from '../testing/registry.js';
import { buildImage, type BuildOptions, type BuildProgress, type BuildResult } from './builder.js';
import { pushImage } from './push.js';

const run = promisify(execFile);
const onPath = (tool: string) => (process.env['PATH'] ?? '').split(':').some((d) => existsSync(join(d, tool)));
const ready = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && onPath('skopeo') && onPath('umoci') && existsSync('/bin/busybox');
if (!ready) console.warn('build.test.ts skipped: needs root, runc, skopeo, umoci and busybox-static');

/** A driver that counts the containers it is asked to create: how a test knows a RUN did not run. */
class CountingDriver {
  creates = 0;
  constructor(readonly inner: RuncDriver) {}
  wrap(): Driver {
    return new Proxy(this.inner, {
      get: (target, prop, receiver) => {
        if (prop === 'create') {
          return (spec: ContainerSpec) => {
            this.creates++;
            return target.create(spec);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}

describe.skipIf(!ready)('berth build with runc', () => {
  let work: string;
  let reg: Harness;
  let host: string;
  let images: ImageStore;
  let runc: RuncDriver;
  let counter: CountingDriver;
  let base: string;
  const creds = () => ({ username: 'AWS', password: reg.token });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-build-'));
    await buildBusybox(join(work, 'layout'), 'latest');
    reg = await startRegistry();
    host = `127.0.0.1:${reg.port}`;
    base = `${host}/busybox:latest`;
    await skopeoPush(join(work, 'layout'), 'latest', base, { creds: `AWS:${reg.token}` });
    images = await ImageStore.open(join(work, 'images'));
    runc = new RuncDriver({ stateDir: join(work, 'runtime'), cgroupParent: '/berth-build-test' });
    counter = new CountingDriver(runc);
  }, 120_000);

  afterAll(async () => {
    images?.close();
    await reg?.[Symbol.asyncDispose]();
    // The driver removes each container's cgroup; the parent it grouped them under is ours to remove.
    for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
      await rmdir(join('/sys/fs/cgroup', hierarchy, 'berth-build-test')).catch(() => undefined);
    }
    if (work !== undefined) {
      const mounts = await readFile('/proc/self/mountinfo', 'utf8');
      expect(mounts.includes(work)).toBe(false);
      await rm(work, { recursive: true, force: true });
    }
  });

  beforeEach(() => {
    counter.creates = 0;
  });

  /** Nothing a build made may outlive it: containers, snapshots, mounts. */
  async function expectClean(): Promise<void> {
    expect(await runc.list()).toEqual([]);
    expect(await images.snapshots.list()).toEqual([]);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mounts.split('\n').filter((l) => l.includes(join(work, 'images')))).toEqual([]);
  }

  async function context(name: string, files: Record<string, string>): Promise<string> {
    const dir = join(work, name);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    return dir;
  }

  async function build(ctx: string, extra: Partial<BuildOptions> = {}): Promise<{ result: BuildResult; events: BuildProgress[]; output: string }> {
    const events: BuildProgress[] = [];
    const result = await buildImage({
      images, driver: counter.wrap(), context: ctx, credentials: () => Promise.resolve(creds()), buildArgs: { BASE: base },
      onProgress: (e) => events.push(e), ...extra,
    });
    const output = events.filter((e): e is Extract<BuildProgress, { type: 'output' }> => e.type === 'output').map((e) => e.data.toString()).join('');
    return { result, events, output };
  }

  async function failure(ctx: string, extra: Partial<BuildOptions> = {}): Promise<string> {
    try {
      await build(ctx, extra);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected the build to fail');
  }

  async function layerEntries(digest: string): Promise<Map<string, { type: string; uid: number; mode: number; body: string }>> {
    const out = new Map<string, { type: string; uid: number; mode: number; body: string }>();
    const extract = tar.extract();
    const done = (async () => {
      for await (const e of extract) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c as Buffer);
        out.set(e.header.name, { type: e.header.type ?? '', uid: e.header.uid ?? 0, mode: e.header.mode ?? 0, body: Buffer.concat(chunks).toString() });
      }
    })();
    extract.end(gunzipSync(await images.content.readBlob(digest)));
    await done;
    return out;
  }

  const DOCKERFILE = [
    '# a demo image',
    'ARG BASE',
    'FROM ${BASE}',
    'ARG GREETING=hello',
    'ENV APP_HOME=/srv/app \\',
    '    PATH=/srv/app/bin:/bin',
    'LABEL org.example.name="demo app" greeting=$GREETING',
    'WORKDIR $APP_HOME',
    'COPY --chown=1000:1000 app/ ./',
    'COPY config.yml /etc/demo/',
    'RUN mkdir -p /data && echo "$GREETING from RUN in $(pwd)" > /data/greeting \\',
    '    && rm /www/index.html && rm -rf /tmp && mkdir /tmp && echo fresh > /tmp/new && echo built-it',
    'USER 1000',
    'RUN id -u > /srv/app/bin/uid && hello >&2',
    'EXPOSE 8080/tcp 9090/udp',
    'STOPSIGNAL SIGQUIT',
    'ENTRYPOINT ["/bin/sh", "-c"]',
    'CMD ["cat /data/greeting /srv/app/bin/uid"]',
  ].join('\n');

  const APP = {
    Dockerfile: DOCKERFILE,
    // `*.log` alone would match only at the context root (Docker's rule); `**/` reaches app/.
    '.dockerignore': '**/*.log\nsecret/\n',
    'app/bin/hello': '#!/bin/sh\necho hello-script\n',
    'app/debug.log': 'not for the image',
    'secret/key': 'do not copy',
    'config.yml': 'port: 8080\n',
  };

  let first: BuildResult;

  it('builds an image from the busybox fixture: RUN, COPY with .dockerignore, and the config instructions', async () => {
    const ctx = await context('app', APP);
    await chmod(join(ctx, 'app/bin/hello'), 0o755);
    const { result, events, output } = await build(ctx, { tags: [`${host}/demo:v1`], buildArgs: { BASE: base, GREETING: 'hi' } });
    first = result;
    expect(counter.creates).toBe(2);
    expect(output).toContain('built-it');
    expect(output).toContain('hello-script');
    expect(events.filter((e) => e.type === 'step-done').map((e) => (e as { index: number }).index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);

    const cfg = result.imageConfig;
    expect(cfg.config).toMatchObject({
      Env: ['PATH=/srv/app/bin:/bin', 'APP_HOME=/srv/app'],
      Labels: { 'org.example.name': 'demo app', greeting: 'hi' },
      WorkingDir: '/srv/app',
      User: '1000',
      ExposedPorts: { '8080/tcp': {}, '9090/udp': {} },
      StopSignal: 'SIGQUIT',
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['cat /data/greeting /srv/app/bin/uid'],
    });
    // The fixture's one layer, then WORKDIR, two COPYs and two RUNs.
    expect(result.layers).toHaveLength(6);
    expect(cfg.rootfs.diff_ids).toEqual(result.layers.map((l) => l.diffID));
    expect(cfg.history.filter((h) => !h.empty_layer)).toHaveLength(6);
    expect(cfg.history.map((h) => h.created_by).slice(-13)).toEqual([
      'ARG GREETING=hello', 'ENV APP_HOME=/srv/app PATH=/srv/app/bin:/bin', 'LABEL org.example.name=demo app greeting=hi', 'WORKDIR /srv/app',
      'COPY --chown=1000:1000 app/ ./', 'COPY config.yml /etc/demo/',
      'RUN /bin/sh -c mkdir -p /data && echo "$GREETING from RUN in $(pwd)" > /data/greeting     && rm /www/index.html && rm -rf /tmp && mkdir /tmp && echo fresh > /tmp/new && echo built-it',
      'USER 1000', 'RUN /bin/sh -c id -u > /srv/app/bin/uid && hello >&2', 'EXPOSE 8080/tcp 9090/udp', 'STOPSIGNAL SIGQUIT', 'ENTRYPOINT ["/bin/sh","-c"]', 'CMD ["cat /data/greeting /srv/app/bin/uid"]',
    ]);

    const [, workdir, copyApp, copyConf, run1, run2] = result.layers;
    expect([...(await layerEntries(workdir!.digest)).keys()]).toEqual(['srv/', 'srv/app/']);
    const app = await layerEntries(copyApp!.digest);
    expect([...app.keys()].sort()).toEqual(['srv/', 'srv/app/', 'srv/app/bin/', 'srv/app/bin/hello']);
    expect(app.get('srv/app/bin/hello')).toMatchObject({ uid: 1000, mode: 0o755, body: '#!/bin/sh\necho hello-script\n' });
    expect([...(await layerEntries(copyConf!.digest)).keys()]).toEqual(['etc/', 'etc/demo/', 'etc/demo/config.yml']);
    const r1 = await layerEntries(run1!.digest);
    expect(r1.get('data/greeting')?.body).toBe('hi from RUN in /srv/app\n');
    expect(r1.has('www/.wh.index.html')).toBe(true);
    expect(r1.has('tmp/.wh..wh..opq')).toBe(true);
    expect(r1.get('tmp/new')?.body).toBe('fresh\n');
    // runc's mount points are not part of the image.
    for (const name of r1.keys()) expect(name).not.toMatch(/^(proc|sys|dev)\/?$|^etc\/(hosts|hostname|resolv\.conf)$/);
    expect((await layerEntries(run2!.digest)).get('srv/app/bin/uid')?.body).toBe('1000\n');
    await expectClean();
  }, 180_000);

  it('rebuilds from the cache without running anything, to the same image', async () => {
    const { result, events } = await build(join(work, 'app'), { tags: [`${host}/demo:v1`], buildArgs: { BASE: base, GREETING: 'hi' } });
    expect(counter.creates).toBe(0);
    expect(events.filter((e) => e.type === 'step-done' && e.index > 1).every((e) => e.type === 'step-done' && (e.cached || e.layer === undefined))).toBe(true);
    expect(result.digest).toBe(first.digest);
    await expectClean();
  }, 120_000);

  it('runs again from the first step whose inputs changed, and only from there', async () => {
    await writeFile(join(work, 'app', 'config.yml'), 'port: 9090\n');
    const { result, events } = await build(join(work, 'app'), { buildArgs: { BASE: base, GREETING: 'hi' } });
    expect(counter.creates).toBe(2); // both RUNs come after the changed COPY
    const cachedSteps = events.filter((e) => e.type === 'step-done' && e.cached).map((e) => (e as { index: number }).index);
    expect(cachedSteps).toEqual([5, 6]); // WORKDIR and the first COPY
    expect(result.layers.slice(0, 3)).toEqual(first.layers.slice(0, 3));
    expect(result.digest).not.toBe(first.digest);
    // A build arg the RUN sees changes its key too.
    counter.creates = 0;
    await build(join(work, 'app'), { buildArgs: { BASE: base, GREETING: 'bonjour' } });
    expect(counter.creates).toBe(2);
    await writeFile(join(work, 'app', 'config.yml'), 'port: 8080\n');
    await expectClean();
  }, 180_000);

  it('pushes the image (blobs the registry has are skipped) and skopeo pulls back the same files and config', async () => {
    const pushed = await pushImage(images.content, first, `${host}/demo:v1`, { credentials: creds() });
    // The base layer lives in another repository (busybox); a registry checks blobs per repository.
    expect(pushed).toMatchObject({ reference: `${host}/demo:v1`, digest: first.digest, uploaded: 7, skipped: 0 });
    const again = await pushImage(images.content, first, `${host}/demo:v2`, { credentials: creds() });
    expect(again).toMatchObject({ uploaded: 0, skipped: 7 });

    const layout = join(work, 'pulled');
    await run('skopeo', ['copy', '--insecure-policy', '--src-tls-verify=false', '--src-creds', `AWS:${reg.token}`, `docker://${host}/demo:v1`, `oci:${layout}:v1`]);
    const inspect = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `AWS:${reg.token}`, `docker://${host}/demo:v1`])).stdout) as { Digest: string; Labels: Record<string, string> };
    expect(inspect.Digest).toBe(first.digest);
    expect(inspect.Labels).toEqual({ 'org.example.name': 'demo app', greeting: 'hi' });

    const bundle = join(work, 'bundle');
    await run('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    expect(await readFile(join(rootfs, 'data/greeting'), 'utf8')).toBe('hi from RUN in /srv/app\n');
    expect(await readFile(join(rootfs, 'srv/app/bin/uid'), 'utf8')).toBe('1000\n');
    expect(await readFile(join(rootfs, 'etc/demo/config.yml'), 'utf8')).toBe('port: 8080\n');
    expect(await readFile(join(rootfs, 'tmp/new'), 'utf8')).toBe('fresh\n');
    expect(existsSync(join(rootfs, 'www/index.html'))).toBe(false);
    expect(existsSync(join(rootfs, 'srv/app/debug.log'))).toBe(false);
    expect((await lstat(join(rootfs, 'srv/app/bin/hello'))).uid).toBe(1000);
    expect(await readFile(join(rootfs, 'bin', 'busybox'))).toEqual(await readFile('/bin/busybox'));
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string; user: { uid: number } } };
    expect(config.process).toMatchObject({ args: ['/bin/sh', '-c', 'cat /data/greeting /srv/app/bin/uid'], cwd: '/srv/app', user: { uid: 1000 } });
  }, 120_000);

  it('runs the built image: its CMD prints what its RUNs wrote', async () => {
    const record = images.get(`${host}/demo:v1`)!;
    const cfg = await images.config(record);
    const rootfs = await images.snapshots.prepare('run-demo', record);
    try {
      await runc.create({ id: 'run-demo', rootfs, image: cfg.config ?? {}, network: { mode: 'none' } });
      await runc.start('run-demo');
      expect(await runc.wait('run-demo')).toMatchObject({ exitCode: 0 });
      expect(await readFile((await runc.logPaths('run-demo')).stdout, 'utf8')).toBe('hi from RUN in /srv/app\n1000\n');
    } finally {
      await runc.delete('run-demo').catch(() => undefined);
      await images.snapshots.remove('run-demo');
    }
    await expectClean();
  }, 60_000);

  it('builds FROM scratch with a static binary, RUN in exec form and ADD of a local tar', async () => {
    const ctx = await context('scratch', {
      Dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nADD files.tar /opt/\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox cat /opt/inner/msg > /out"]\nCMD ["/bin/busybox", "cat", "/out"]\n',
    });
    await copyFile('/bin/busybox', join(ctx, 'busybox'));
    const pack = tar.pack();
    pack.entry({ name: 'inner/msg', mode: 0o644 }, 'from the tar\n');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    await writeFile(join(ctx, 'files.tar'), Buffer.concat(chunks));
    const { result } = await build(ctx);
    expect(result.layers).toHaveLength(3);
    expect(result.imageConfig).toMatchObject({ os: 'linux', config: { Cmd: ['/bin/busybox', 'cat', '/out'] } });
    expect((await layerEntries(result.layers[2]!.digest)).get('out')?.body).toBe('from the tar\n');
    // scratch has no /etc, /proc, /dev or /sys: runc made them to run the RUN, and they stay out.
    expect([...(await layerEntries(result.layers[2]!.digest)).keys()]).toEqual(['out']);
    await expectClean();
  }, 120_000);

  it('refuses hostile contexts: COPY ../ and symlinks that lead outside, naming the line', async () => {
    await writeFile(join(work, 'host-secret'), 'secret');
    const up = await context('hostile-up', { Dockerfile: 'ARG BASE\nFROM ${BASE}\nRUN true\nCOPY ../host-secret /x\n' });
    expect(await failure(up)).toBe('COPY ../host-secret: ../host-secret is outside the build context (line 4)');
    const link = await context('hostile-link', { Dockerfile: 'ARG BASE\nFROM ${BASE}\nCOPY leak /x\n' });
    await symlink('../host-secret', join(link, 'leak'));
    expect(await failure(link)).toMatch(/^COPY leak: leak leads outside the build context through the symlink leak \(→ \.\.\/host-secret\) \(line 3\)$/);
    const abs = await context('hostile-abs', { Dockerfile: 'ARG BASE\nFROM ${BASE}\nCOPY etc/shadow /x\n' });
    await symlink('/etc', join(abs, 'etc'));
    expect(await failure(abs)).toMatch(/leads outside the build context through the symlink etc \(→ \/etc\) \(line 3\)/);
    const ignored = await context('hostile-ignored', { Dockerfile: 'ARG BASE\nFROM ${BASE}\nCOPY secret.txt /x\n', '.dockerignore': 'secret.txt', 'secret.txt': 's' });
    expect(await failure(ignored)).toBe('COPY secret.txt: not found in the build context (it is excluded by .dockerignore) (line 3)');
    await expectClean();
  }, 120_000);

  it('refuses unsupported instructions before running anything, naming the line', async () => {
    const cases: Array<[string, string | RegExp]> = [
      ['ARG BASE\nFROM ${BASE}\nRUN true\nONBUILD RUN x\n', /^ONBUILD is not supported.*\(line 4\)$/],
      ['ARG BASE\nFROM ${BASE}\nRUN true\nFROBNICATE x\n', 'unknown instruction: FROBNICATE (line 4)'],
      ['ARG BASE\nFROM ${BASE} AS build\nRUN true\n', 'multi-stage builds are not supported (line 2)'],
      ['ARG BASE\nFROM ${BASE}\nRUN true\nFROM ${BASE}\n', 'multi-stage builds are not supported (line 4)'],
      ['ARG BASE\nFROM ${BASE}\nRUN <<EOF\necho\nEOF\n', /^heredocs \(RUN <<EOF\) are not supported.*\(line 3\)$/],
      ['ARG BASE\nFROM ${BASE}\nADD https://example.com/a.tgz /\n', /^ADD of a URL .* is not supported: Berth builds have no network.*\(line 3\)$/],
    ];
    for (const [text, message] of cases) {
      const ctx = await context(`bad-${cases.findIndex((c) => c[0] === text)}`, { Dockerfile: text });
      const got = await failure(ctx);
      if (typeof message === 'string') expect(got).toBe(message);
      else expect(got).toMatch(message);
    }
    expect(counter.creates).toBe(0);
    await expectClean();
  }, 120_000);

  it('fails a RUN that exits non-zero with its code, output and line, leaving nothing behind', async () => {
    const ctx = await context('failing', { Dockerfile: 'ARG BASE\nFROM ${BASE}\nRUN echo about to fail; echo oops >&2; exit 3\n' });
    const message = await failure(ctx);
    expect(message).toMatch(/^RUN echo about to fail; echo oops >&2; exit 3 failed: it exited with code 3 \(line 3\)\n/);
    expect(message).toContain('about to fail');
    expect(message).toContain('oops');
    const missing = await context('missing-exe', { Dockerfile: 'ARG BASE\nFROM ${BASE}\nRUN ["/no/such/binary"]\n' });
    expect(await failure(missing)).toMatch(/\/no\/such\/binary.*\(line 3\)/);
    await expectClean();
  }, 120_000);

  it('keeps RUN off the network', async () => {
    const ctx = await context('network', { Dockerfile: 'ARG BASE\nFROM ${BASE}\nRUN ls /sys/class/net > /ifaces\n' });
    const { result } = await build(ctx);
    expect((await layerEntries(result.layers[result.layers.length - 1]!.digest)).get('ifaces')?.body).toBe('lo\n');
    await expectClean();
  }, 120_000);

  it('stops a running RUN when the build is cancelled', async () => {
    const ctx = await context('cancel', { Dockerfile: 'ARG BASE\nFROM ${BASE}\nRUN echo started; sleep 600\n' });
    const abort = new AbortController();
    const failing = build(ctx, {
      signal: abort.signal,
      onProgress: (e) => {
        if (e.type === 'output' && e.data.toString().includes('started')) abort.abort();
      },
    });
    await expect(failing).rejects.toThrow('the build was cancelled (line 3)');
    await expectClean();
    expect((await readdir(join(work, 'images', 'build', 'tmp')))).toEqual([]);
  }, 120_000);
});
