/**
 * `berth build`: builds an image from a Dockerfile (RUN steps in runc, no network) and, with
 * --push, pushes it to Berth's registry or the one its tag names. Text output is one line per step;
 * `--output json` prints one JSON object (RUN output then goes to stderr).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ImageStore, parseReference, type RegistryCredentials } from '../image/index.js';
import {
  buildImage, ecrLogin, pushImage, readBerthCredentials, registryHost, resolveTag, BuildError,
  type BuildProgress, type PushResult,
} from '../image/build/index.js';
import { RuncDriver } from '../runtime/index.js';

interface BuildCliOptions {
  file?: string;
  tag: string[];
  buildArg: string[];
  push?: boolean;
  cache: boolean;
  endpointUrl?: string;
  home?: string;
  region?: string;
  creds?: string;
  output: 'text' | 'json';
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `--build-arg NAME=value`, or `NAME` alone to take the value from the environment (skipped when unset), as Docker does. */
export function parseBuildArgs(values: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const name = eq < 0 ? v : v.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new InvalidArgumentError(`--build-arg ${v}: the name must be letters, digits and _`);
    if (eq >= 0) out[name] = v.slice(eq + 1);
    else if (env[name] !== undefined) out[name] = env[name];
  }
  return out;
}

function parseCreds(text: string | undefined): RegistryCredentials | undefined {
  if (text === undefined) return undefined;
  const colon = text.indexOf(':');
  if (colon <= 0) throw new InvalidArgumentError('--creds must be USER:PASSWORD');
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** One line of a step for the terminal: whitespace collapsed, long ones cut. */
function short(display: string, width = 72): string {
  const one = display.replace(/\s+/g, ' ').trim();
  return one.length > width ? `${one.slice(0, width - 3)}...` : one;
}

/** Prints build progress as text: a line per finished step, RUN output indented under its step. */
function textProgress(): (e: BuildProgress) => void {
  const shown = new Set<number>();
  const partial = new Map<number, string>();
  const flush = (index: number) => {
    const rest = partial.get(index);
    if (rest) process.stdout.write(`    ${rest}\n`);
    partial.delete(index);
  };
  const display = new Map<number, { total: number; text: string }>();
  return (e) => {
    switch (e.type) {
      case 'step':
        display.set(e.index, { total: e.total, text: e.display });
        break;
      case 'output': {
        const step = display.get(e.index);
        if (!shown.has(e.index) && step !== undefined) {
          shown.add(e.index);
          process.stdout.write(`[${e.index}/${step.total}] ${short(step.text)}\n`);
        }
        const lines = ((partial.get(e.index) ?? '') + e.data.toString('utf8')).split('\n');
        partial.set(e.index, lines.pop() ?? '');
        for (const line of lines) process.stdout.write(`    ${line}\n`);
        break;
      }
      case 'step-done':
        flush(e.index);
        process.stdout.write(`[${e.index}/${e.total}] ${short(e.display)} ${e.cached ? 'CACHED' : `${e.seconds.toFixed(1)}s`}\n`);
        display.delete(e.index);
        break;
      case 'pull':
        if (e.event.type === 'resolved') {
          const mb = e.event.layers.reduce((n, l) => n + l.size, 0) / 1e6;
          process.stdout.write(`    ${e.event.reference}: ${e.event.layers.length} layers, ${mb.toFixed(1)} MB\n`);
        }
        break;
      case 'warning':
        process.stderr.write(`warning: ${e.message}\n`);
        break;
    }
  };
}

async function runBuild(contextArg: string, opts: BuildCliOptions): Promise<void> {
  if (process.getuid?.() !== 0) throw new BuildError('berth build runs RUN steps with runc and mounts overlay snapshots: run it as root');
  const home = resolve(opts.home ?? process.env['BERTH_HOME'] ?? '.berth');
  const endpoint = opts.endpointUrl ?? process.env['AWS_ENDPOINT_URL_ECR'] ?? process.env['AWS_ENDPOINT_URL'] ?? 'http://127.0.0.1:4566';
  const region = opts.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1';
  const berthHost = registryHost(endpoint);
  const tags = opts.tag.map((t) => resolveTag(t, endpoint));
  if (opts.push && tags.length === 0) throw new InvalidArgumentError('--push needs a -t REPO[:TAG] to push to');
  const other = parseCreds(opts.creds);

  // Berth's registry gets an ECR password from the API (once per run); others take --creds.
  let login: Promise<RegistryCredentials> | undefined;
  const credentialsFor = (registry: string): Promise<RegistryCredentials | undefined> => {
    if (registry === berthHost) {
      login ??= readBerthCredentials(join(home, 'credentials')).then((credentials) => ecrLogin({ endpoint, region, credentials }));
      return login;
    }
    return Promise.resolve(other);
  };

  const json = opts.output === 'json';
  const images = await ImageStore.open(join(home, 'build', 'images'), { endpoints: { [berthHost]: endpoint } });
  const driver = new RuncDriver({ stateDir: join(home, 'build', 'runtime'), cgroupParent: '/berth-build' });
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await buildImage({
      images,
      driver,
      context: resolve(contextArg),
      ...(opts.file === undefined ? {} : { dockerfile: resolve(opts.file) }),
      buildArgs: parseBuildArgs(opts.buildArg),
      tags,
      noCache: !opts.cache,
      credentials: credentialsFor,
      signal: abort.signal,
      onProgress: json
        ? (e) => {
            if (e.type === 'output') process.stderr.write(e.data);
            else if (e.type === 'warning') process.stderr.write(`warning: ${e.message}\n`);
          }
        : textProgress(),
    });
    if (!json) process.stdout.write(`built ${result.digest}${result.tags.length > 0 ? ` as ${result.tags.join(', ')}` : ''}\n`);
    const pushed: Array<PushResult & { seconds: number }> = [];
    if (opts.push) {
      for (const tag of tags) {
        const start = performance.now();
        const credentials = await credentialsFor(parseReference(tag).registry);
        const res = await pushImage(images.content, result, tag, { ...(credentials === undefined ? {} : { credentials }), endpoints: { [berthHost]: endpoint } });
        const seconds = (performance.now() - start) / 1000;
        pushed.push({ ...res, seconds });
        if (!json) process.stdout.write(`pushed ${res.reference} (${res.uploaded} uploaded, ${res.skipped} already there) ${seconds.toFixed(1)}s\n`);
      }
    }
    if (json) {
      process.stdout.write(
        `${JSON.stringify({
          digest: result.digest,
          tags: result.tags,
          config: result.config.digest,
          layers: result.layers.map((l) => ({ digest: l.digest, size: l.size, diffID: l.diffID })),
          steps: result.steps,
          pushed: pushed.map((p) => ({ reference: p.reference, digest: p.digest, uploaded: p.uploaded, skipped: p.skipped, seconds: p.seconds })),
          warnings: result.warnings,
        })}\n`,
      );
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    images.close();
  }
}

/**
 * Adds `berth build` to the CLI.
 *
 * @example registerBuildCommand(program) // then: berth build -t web:1 --push .
 */
export function registerBuildCommand(program: Command): void {
  program
    .command('build')
    .description('build an image from a Dockerfile (RUN steps run in runc, without network) and optionally push it')
    .argument('[context]', 'the build context directory', '.')
    .option('-f, --file <path>', 'the Dockerfile (default: <context>/Dockerfile)')
    .option('-t, --tag <name>', "name the image REPO[:TAG]; a name without a registry host means Berth's registry (repeatable)", collect, [])
    .option('--build-arg <name[=value]>', 'set a build arg; NAME alone takes its value from the environment (repeatable)', collect, [])
    .option('--push', 'push the image to its registry after building')
    .option('--no-cache', 'run every step, ignoring the layer cache')
    .option('--endpoint-url <url>', "Berth's API endpoint, for the registry login and tags without a host (default $AWS_ENDPOINT_URL or http://127.0.0.1:4566)")
    .option('--home <dir>', 'Berth state directory: credentials and the build cache (default $BERTH_HOME or ./.berth)')
    .option('--region <region>', 'AWS region of the registry login (default $AWS_REGION or us-east-1)')
    .option('--creds <user:password>', "credentials for registries other than Berth's")
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((context: string, opts: BuildCliOptions) => runBuild(context, opts));
}
