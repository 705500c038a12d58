/**
 * Test fixture: Debian's docker-registry (distribution 2.8) as a child process on 127.0.0.1, with
 * optional htpasswd (Basic) or token (Bearer) auth, plus skopeo pushes and the busybox image build
 * from shared/fixtures. Each registry is stopped by its PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface RegistryProcess extends AsyncDisposable {
  /** `127.0.0.1:PORT` */
  host: string;
  pid: number;
  stop(): Promise<void>;
}

export type RegistryAuth =
  | { kind: 'htpasswd'; users: Array<{ username: string; password: string }> }
  | { kind: 'token'; realm: string; service: string; issuer: string; certPem: string };

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** GET /v2/ until the registry answers (200 or 401), a bounded number of times. */
async function waitReady(host: string, child: ChildProcess, log: () => Promise<string>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${await log()}`);
    const status = await new Promise<number>((r) => {
      const req = http.get(`http://${host}/v2/`, (res) => {
        res.resume();
        r(res.statusCode ?? 0);
      });
      req.on('error', () => r(0));
    });
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry on ${host} never answered: ${await log()}`);
}

/**
 * Starts docker-registry with its storage and config in `dir`. The free port is picked before the
 * registry binds it, so another process may take it first: then it tries again with another.
 */
export async function startRegistry(dir: string, auth?: RegistryAuth): Promise<RegistryProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(dir, auth, await freePort());
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startOnce(dir: string, auth: RegistryAuth | undefined, port: number): Promise<RegistryProcess> {
  await fs.mkdir(join(dir, 'data'), { recursive: true });
  const host = `127.0.0.1:${port}`;
  let authYaml = '';
  if (auth?.kind === 'htpasswd') {
    const lines: string[] = [];
    for (const u of auth.users) lines.push((await exec('htpasswd', ['-nbB', u.username, u.password])).stdout.trim());
    await fs.writeFile(join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth?.kind === 'token') {
    await fs.writeFile(join(dir, 'token-cert.pem'), auth.certPem);
    authYaml =
      `auth:\n  token:\n    realm: ${auth.realm}\n    service: ${auth.service}\n    issuer: ${auth.issuer}\n` +
      `    rootcertbundle: ${join(dir, 'token-cert.pem')}\n`;
  }
  const config =
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n` +
    `http:\n  addr: ${host}\n${authYaml}`;
  await fs.writeFile(join(dir, 'config.yml'), config);
  const logPath = join(dir, 'registry.log');
  const out = await fs.open(logPath, 'w');
  const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', out.fd, out.fd] });
  await out.close();
  const pid = child.pid!;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      await exited;
    }
  };
  try {
    await waitReady(host, child, () => fs.readFile(logPath, 'utf8'));
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, pid, stop, [Symbol.asyncDispose]: stop };
}

/** Pushes `oci:layout:tag` to `docker://dest` with skopeo (`all` copies every platform of an index; `docker` converts to Docker v2 schema 2). */
export async function push(layout: string, tag: string, dest: string, options: { creds?: string; all?: boolean; docker?: boolean } = {}): Promise<void> {
  const args = ['copy', '--insecure-policy', '--dest-tls-verify=false', '--quiet'];
  if (options.creds) args.push('--dest-creds', options.creds);
  if (options.docker) args.push('--format', 'v2s2'); // Docker media types instead of OCI's
  if (options.all) args.push('--all');
  args.push(`oci:${layout}:${tag}`, `docker://${dest}`);
  await exec('skopeo', args);
}

const here = dirname(fileURLToPath(import.meta.url));

/** Builds the shared busybox image (an OCI layout) with shared/fixtures/busybox-image.sh. */
export async function buildBusybox(out: string, tag = 'latest'): Promise<void> {
  const script = resolve(here, '../../../../shared/fixtures/busybox-image.sh');
  if (!existsSync(script)) throw new Error(`the busybox fixture script is missing: ${script} (shared/ must sit beside the repository)`);
  await exec('bash', [script, out, tag]);
}
