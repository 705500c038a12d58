/**
 * e2e harness: a real `berth up` process (the built dist/) in a temp home, and the real AWS CLIs
 * (v1 on PATH, Debian's v2 at /usr/bin/aws) pointed at it. Servers clean themselves up:
 * `await using berth = await startBerth()`.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { agentCapabilities } from '../../src/agent/capabilities.js';
import { PROTOCOL_VERSION } from '../../src/agent/protocol.js';
import { connectSession, type HelloMessage } from '../../src/agent/session-client.js';
import { readCredentialsFile } from '../../src/protocols/credentials-file.js';

export const ROOT = resolve(import.meta.dirname, '../..');
const BERTH_BIN = join(ROOT, 'bin/berth.js');

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (undefined when empty or not JSON). */
  readonly json: any;
}

export interface Berth extends AsyncDisposable {
  readonly home: string;
  readonly endpoint: string;
  readonly port: number;
  /** The Cloud Map DNS server's port on 127.0.0.1 (UDP and TCP); it changes when the server restarts. */
  readonly dnsPort: number;
  readonly credentials: Credentials;
  readonly pid: number;
  /** Runs an AWS CLI (`v1` = `aws` on PATH, `v2` = /usr/bin/aws) against this server. */
  aws(cli: AwsCli, args: readonly string[]): CliResult;
  /** Like aws() but fails the test unless the command exits 0. */
  awsOk(cli: AwsCli, args: readonly string[]): any;
  /** SIGKILL the server (no graceful shutdown), then start it again on the same home and port. */
  kill9AndRestart(): Promise<void>;
  stop(): Promise<void>;
}

export type AwsCli = 'v1' | 'v2';

/** Finds AWS CLI v1 on PATH (the newest botocore) and Debian's v2. Both must exist. */
export const AWS_CLIS: Record<AwsCli, string> = {
  v1: findCli(/^aws-cli\/1\./),
  v2: '/usr/bin/aws',
};

function findCli(version: RegExp): string {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const path = join(dir, 'aws');
    const res = spawnSync(path, ['--version'], { encoding: 'utf8' });
    if (res.status === 0 && version.test(`${res.stdout}${res.stderr}`.trim())) return path;
  }
  throw new Error(`no AWS CLI matching ${version} on PATH`);
}

/** CLI output as JSON; some commands (get-login-password) print plain text, which stays in stdout. */
function parseJson(stdout: string): unknown {
  if (stdout === '') return undefined;
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

interface Started {
  child: ChildProcess;
  endpoint: string;
  port: number;
  dnsPort: number;
}

export interface StartOptions {
  /** Run the agent beside the server (real containers with runc; needs root). Default false. */
  readonly agent?: boolean;
}

async function spawnBerth(home: string, port: number, options: StartOptions): Promise<Started> {
  const flags = options.agent ? ['--no-outbound'] : ['--no-agent'];
  const child = spawn(process.execPath, [BERTH_BIN, 'up', '--home', home, '--port', String(port), '--dns-port', '0', '--output', 'json', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BERTH_HOME: home },
  });
  const stderr: string[] = [];
  child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
  const lines = createInterface({ input: child.stdout });
  const info = await new Promise<{ endpoint: string; port: number; dns: { port: number } }>((res, rej) => {
    child.once('exit', (code) => rej(new Error(`berth up exited ${code}: ${stderr.join('')}`)));
    lines.once('line', (line) => res(JSON.parse(line) as { endpoint: string; port: number; dns: { port: number } }));
  });
  lines.close();
  child.stdout.resume();
  return { child, endpoint: info.endpoint, port: info.port, dnsPort: info.dns.port };
}

function removeLeftoverContainers(runcRoot: string): void {
  const list = spawnSync('runc', ['--root', runcRoot, 'list', '--format', 'json'], { encoding: 'utf8' });
  if (list.status !== 0 || list.stdout.trim() === '' || list.stdout.trim() === 'null') return;
  for (const c of JSON.parse(list.stdout) as Array<{ id: string }>) {
    spawnSync('runc', ['--root', runcRoot, 'delete', '--force', c.id]);
  }
}

/** Overlay snapshots of stopped tasks stay mounted until the agent's cleanup: unmount them, deepest first. */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const point of mounts) spawnSync('umount', ['-l', point]);
}

function readCredentials(home: string): Credentials {
  return readCredentialsFile(join(home, 'credentials'));
}

/** The environment for a CLI: only our credentials and region, nothing from the developer's setup. */
export function cliEnv(home: string, creds: Credentials, region = 'us-east-1'): NodeJS.ProcessEnv {
  const config = join(home, 'e2e-cli-config');
  writeFileSync(config, '[default]\ncli_pager =\n');
  return {
    PATH: process.env['PATH'],
    HOME: home,
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    AWS_DEFAULT_REGION: region,
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-such-credentials'),
    AWS_PAGER: '',
    AWS_MAX_ATTEMPTS: '1',
    AWS_RETRY_MODE: 'standard',
  };
}

export async function startBerth(options: StartOptions = {}): Promise<Berth> {
  const home = mkdtempSync(join(tmpdir(), 'berth-e2e-'));
  let started = await spawnBerth(home, 0, options);
  const port = started.port;
  const credentials = readCredentials(home);
  const env = cliEnv(home, credentials);

  const aws = (cli: AwsCli, args: readonly string[]): CliResult => {
    const res = spawnSync(AWS_CLIS[cli], [...args, '--endpoint-url', started.endpoint, '--output', 'json'], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    if (res.error) throw res.error;
    const stdout = res.stdout.trim();
    return { code: res.status ?? -1, stdout, stderr: res.stderr, json: parseJson(stdout) };
  };

  const stopChild = (signal: NodeJS.Signals) =>
    new Promise<void>((res) => {
      if (started.child.exitCode !== null || started.child.signalCode !== null) return res();
      started.child.once('exit', () => res());
      started.child.kill(signal);
    });

  const berth: Berth = {
    home,
    get endpoint() {
      return started.endpoint;
    },
    port,
    get dnsPort() {
      return started.dnsPort;
    },
    credentials,
    get pid() {
      return started.child.pid!;
    },
    aws,
    awsOk(cli, args) {
      const res = aws(cli, args);
      if (res.code !== 0) throw new Error(`aws ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
      return res.json;
    },
    async kill9AndRestart() {
      await stopChild('SIGKILL');
      started = await spawnBerth(home, port, options);
    },
    async stop() {
      await stopChild('SIGTERM');
    },
    async [Symbol.asyncDispose]() {
      await stopChild('SIGTERM');
      // The agent leaves containers running on shutdown by design (a restart re-adopts them);
      // a test run must not: kill and delete whatever is left.
      if (options.agent) {
        removeLeftoverContainers(join(home, 'agent', 'runtime', 'runc'));
        unmountUnder(home);
        // Their host-port mappings too: a later run's task given the same host port would otherwise
        // be sent to a dead container's address by the stale rule ahead of its own.
        for (const chain of ['BERTH-DNAT-berth-br', 'BERTH-DNAT-berth-vpc']) spawnSync('iptables', ['-t', 'nat', '-F', chain]);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
  return berth;
}

/** Polls `probe` until it gives a value; fails naming `what` after `limitMs`. */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, limitMs = 90_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const BUSYBOX_FIXTURE = resolve(ROOT, '../shared/fixtures/busybox-image.sh');

/**
 * Builds the busybox fixture image (httpd on 8080) and pushes it to this server's registry as
 * `<repository>:v1` with skopeo and the ECR login password; returns the image reference.
 */
export function pushBusyboxImage(berth: Berth, repository = 'web'): string {
  const layout = join(berth.home, 'e2e-busybox-layout');
  execFileSync('bash', [BUSYBOX_FIXTURE, layout, 'v1'], { stdio: 'pipe' });
  berth.awsOk('v1', ['ecr', 'create-repository', '--repository-name', repository]);
  const password = berth.aws('v1', ['ecr', 'get-login-password']).stdout;
  const image = `127.0.0.1:${berth.port}/${repository}:v1`;
  const push = spawnSync('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `AWS:${password}`, `oci:${layout}:v1`, `docker://${image}`], { encoding: 'utf8' });
  if (push.status !== 0) throw new Error(`skopeo push failed: ${push.stderr}`);
  return image;
}

/** Waits until the agent of `berth up` has registered and its session is up. */
export async function waitForAgent(berth: Berth): Promise<void> {
  const ecs = (...args: string[]) => berth.awsOk('v1', ['ecs', ...args]);
  await until('the agent to connect', () => {
    const arns = ecs('list-container-instances').containerInstanceArns as string[];
    if (arns.length === 0) return undefined;
    return ecs('describe-container-instances', '--container-instances', arns[0]!).containerInstances[0].agentConnected === true ? true : undefined;
  });
}

/**
 * An agent session for a container instance registered through the API (as a host's agent would
 * hold): ECS places tasks only on instances whose agent is connected. It runs nothing; a task it is
 * told to stop it reports STOPPED, so the API's stop and the tasks-stopped waiter behave as on a host.
 * Resolves once the instance shows agentConnected; dispose it to disconnect.
 */
export async function connectFakeAgent(
  berth: Berth,
  cluster: string,
  containerInstanceArn: string,
  totalResources: HelloMessage['totalResources'],
): Promise<AsyncDisposable> {
  const session = connectSession({
    endpoint: berth.endpoint,
    credentials: berth.credentials,
    region: 'us-east-1',
    hello: () => ({
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      cluster,
      containerInstanceArn,
      totalResources,
      attributes: [{ name: 'ecs.os-type', value: 'linux' }, ...agentCapabilities({ initProcess: false })],
      agentVersion: 'e2e-fake',
      hostname: 'e2e-fake-host',
      runningTaskArns: [],
    }),
    onMessage: (m) => {
      if (m.type === 'stopTask') session.send({ type: 'taskStateChange', change: { taskArn: m.taskArn, status: 'STOPPED', containers: [] } });
    },
    logger: { error: () => undefined, warn: () => undefined, debug: () => undefined },
  });
  const ecs = (...args: string[]) => berth.awsOk('v1', ['ecs', ...args]);
  await until('the fake agent to connect', () =>
    ecs('describe-container-instances', '--cluster', cluster, '--container-instances', containerInstanceArn).containerInstances[0].agentConnected === true ? true : undefined,
  );
  return { [Symbol.asyncDispose]: () => session.close() };
}
