/**
 * `berth build`'s engine: a Dockerfile and a context directory to an OCI image in the content
 * store. FROM pulls the base through the ImageStore; each RUN runs in a runc container (no
 * network) over an overlay snapshot of the layers so far, each COPY/ADD/WORKDIR writes into such a
 * snapshot; the snapshot's upper dir becomes the step's layer (layer.ts). Steps found in the layer
 * cache are not run. The result — manifest, config with history and diff_ids — is stored and
 * recorded under its tags. Every container and snapshot a build makes is gone when it returns.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ContainerSpec, Driver } from '../../runtime/index.js';
import { followLog } from '../../runtime/index.js';
import type { RegistryCredentials } from '../auth.js';
import type { ImageRecord, LayerRecord } from '../content-store.js';
import { digestOf } from '../digest.js';
import type { ImageStore } from '../index.js';
import { MediaType, type Descriptor, type Platform } from '../manifest.js';
import { hostPlatform } from '../platform.js';
import type { PullProgress } from '../pull.js';
import { formatReference, parseReference } from '../reference.js';
import { BuildCache, cacheKey, chainID, type LayerAction } from './cache.js';
import { BuildContext, hashSources, type SelectedSource } from './context.js';
import { applyCopy, resolveOwner } from './copy.js';
import { parseDockerfile } from './dockerfile.js';
import { BuildError } from './errors.js';
import { toInstructions } from './instructions.js';
import { dropMountArtifacts, mountTargetsBefore, scanUpper, writeLayer } from './layer.js';
import { planBuild, resolveFrom, type ContainerConfig, type PlanStep } from './plan.js';
import { RootFS } from './rootfs.js';

export interface BuildOptions {
  readonly images: ImageStore;
  /** Runs RUN steps (a RuncDriver with its own state dir). */
  readonly driver: Driver;
  /** The context directory. */
  readonly context: string;
  /** The Dockerfile's path (default `<context>/Dockerfile`); or give its text. */
  readonly dockerfile?: string;
  readonly dockerfileText?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** References to record the image under, e.g. `127.0.0.1:4566/web:1`. */
  readonly tags?: readonly string[];
  /** Run every step, ignoring (and refreshing) the layer cache. */
  readonly noCache?: boolean;
  /** Credentials for the base image's registry. */
  readonly credentials?: (registry: string) => Promise<RegistryCredentials | undefined>;
  readonly onProgress?: (event: BuildProgress) => void;
  /** Aborting stops the running step (its container is killed) and fails the build. */
  readonly signal?: AbortSignal;
}

export type BuildProgress =
  | { readonly type: 'step'; readonly index: number; readonly total: number; readonly display: string }
  | { readonly type: 'pull'; readonly event: PullProgress }
  | { readonly type: 'output'; readonly index: number; readonly stream: 'stdout' | 'stderr'; readonly data: Buffer }
  | { readonly type: 'step-done'; readonly index: number; readonly total: number; readonly display: string; readonly cached: boolean; readonly seconds: number; readonly layer?: { readonly digest: string; readonly size: number } }
  | { readonly type: 'warning'; readonly message: string };

export interface StepReport {
  readonly index: number;
  readonly display: string;
  readonly cached: boolean;
  readonly seconds: number;
  readonly layer?: string;
}

export interface BuildResult {
  /** The manifest's digest: the image's name by content. */
  readonly digest: string;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly LayerRecord[];
  readonly platform: Platform;
  /** The image config as stored. */
  readonly imageConfig: OciImageConfig;
  /** Canonical references it is recorded under. */
  readonly tags: readonly string[];
  readonly steps: readonly StepReport[];
  readonly warnings: readonly string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface OciImageConfig {
  created: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: HistoryEntry[];
}

const EPOCH = '1970-01-01T00:00:00.000Z';
/** Where a snapshot keeps its writes (snapshot.ts's documented layout). */
const upperDir = (images: ImageStore, key: string) => join(images.content.root, 'snapshots', key, 'upper');

/** Docker-type gzip layers are the same bytes as OCI ones; an OCI manifest names them the OCI way. */
function ociLayerType(mediaType: string): string {
  return mediaType === MediaType.dockerLayerGzip ? MediaType.ociLayerGzip : mediaType;
}

async function readDockerfile(options: BuildOptions): Promise<string> {
  if (options.dockerfileText !== undefined) return options.dockerfileText;
  const path = resolve(options.context, options.dockerfile ?? 'Dockerfile');
  try {
    return await fs.readFile(path, 'utf8');
  } catch (err) {
    throw new BuildError(`cannot read the Dockerfile ${path}: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/**
 * Builds an image.
 *
 * @example
 *   const result = await buildImage({ images, driver, context: './app', tags: ['127.0.0.1:4566/web:1'],
 *     onProgress: (e) => { if (e.type === 'step-done') console.log(`[${e.index}/${e.total}] ${e.display}`); } });
 *   result.digest // 'sha256:…'
 */
export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const emit = options.onProgress ?? (() => undefined);
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    emit({ type: 'warning', message });
  };
  const buildArgs = options.buildArgs ?? {};
  const tags = (options.tags ?? []).map((t) => formatReference(parseReference(t)));

  // Everything that can be refused without running anything is refused first.
  const parsed = parseDockerfile(await readDockerfile(options));
  parsed.warnings.forEach(warn);
  const instructions = toInstructions(parsed);
  const from = resolveFrom(instructions, parsed.escape, buildArgs);
  const context = await BuildContext.open(options.context);
  const total = instructions.length - from.position;
  const stepsReport: StepReport[] = [];
  const checkAbort = () => {
    if (options.signal?.aborted) throw new BuildError('the build was cancelled');
  };

  // FROM.
  const fromDisplay = instructions[from.position]!.original;
  emit({ type: 'step', index: 1, total, display: fromDisplay });
  const fromStart = performance.now();
  let base: { record: ImageRecord; raw: Record<string, unknown> } | undefined;
  if (from.image.toLowerCase() !== 'scratch') {
    const ref = parseReference(from.image);
    const credentials = await options.credentials?.(ref.registry);
    try {
      const record = await options.images.pull(from.image, {
        ...(credentials === undefined ? {} : { credentials }),
        onProgress: (event) => emit({ type: 'pull', event }),
      });
      const raw = JSON.parse((await options.images.content.readBlob(record.config.digest)).toString('utf8')) as Record<string, unknown>;
      base = { record, raw };
    } catch (err) {
      throw new BuildError(`FROM ${from.image}: ${(err as Error).message}`, from.line, { cause: err });
    }
  }
  const fromSeconds = (performance.now() - fromStart) / 1000;
  emit({ type: 'step-done', index: 1, total, display: fromDisplay, cached: false, seconds: fromSeconds });
  stepsReport.push({ index: 1, display: fromDisplay, cached: false, seconds: fromSeconds });

  const baseConfig = (base?.raw.config ?? undefined);
  const plan = planBuild({ instructions, escape: parsed.escape, from, buildArgs, ...(baseConfig === undefined ? {} : { baseConfig }) });
  if (plan.unusedBuildArgs.length > 0) warn(`build args not consumed by any ARG: ${plan.unusedBuildArgs.join(', ')}`);

  const platform: Platform = base?.record.platform ?? hostPlatform();
  const layers: LayerRecord[] = [...(base?.record.layers ?? [])];
  const history: HistoryEntry[] = baseHistory(base, from.image);
  let created = typeof base?.raw.created === 'string' ? base.raw.created : EPOCH;

  const workDir = join(options.images.content.root, 'build');
  await fs.mkdir(join(workDir, 'tmp'), { recursive: true, mode: 0o700 });
  const cache = await BuildCache.open(workDir);
  const buildId = randomBytes(6).toString('hex');

  await options.images.content.use(async () => {
    for (const step of plan.steps.slice(1)) {
      checkAbort();
      emit({ type: 'step', index: step.index, total, display: step.display });
      const start = performance.now();
      const action = step.action;
      let cached = false;
      let made: LayerRecord | undefined;
      if (action.kind === 'run' || action.kind === 'copy' || action.kind === 'workdir') {
        const sources = action.kind === 'copy' ? await selectAll(context, action.sources, action.add ? 'ADD' : 'COPY', step.line) : [];
        const key = cacheKey({ parent: chainID(layers.map((l) => l.diffID)), action, ...(action.kind === 'copy' ? { contentHash: await hashSources(sources) } : {}) });
        const hit = options.noCache ? undefined : cache.get(key);
        const usable = hit !== undefined && (hit.layer === undefined || (await options.images.content.has(hit.layer.digest)));
        let stepCreated: string;
        if (usable) {
          cached = true;
          made = hit.layer;
          stepCreated = hit.createdAt;
          await cache.put(key, { ...hit, usedAt: new Date().toISOString() });
        } else {
          made = await runStep(options, step, action, sources, layers, platform, `${buildId}-${step.index}`, workDir, emit);
          stepCreated = new Date().toISOString();
          await cache.put(key, { ...(made === undefined ? {} : { layer: made }), createdAt: stepCreated, usedAt: stepCreated });
        }
        created = stepCreated;
        if (made !== undefined) layers.push(made);
        history.push({ created: stepCreated, created_by: step.createdBy, ...(made === undefined ? { empty_layer: true } : {}) });
      } else {
        history.push({ created, created_by: step.createdBy, empty_layer: true });
      }
      const seconds = (performance.now() - start) / 1000;
      emit({ type: 'step-done', index: step.index, total, display: step.display, cached, seconds, ...(made === undefined ? {} : { layer: { digest: made.digest, size: made.size } }) });
      stepsReport.push({ index: step.index, display: step.display, cached, seconds, ...(made === undefined ? {} : { layer: made.digest }) });
    }
  });

  // The image: config (with history and diff_ids), then the manifest that names it and the layers.
  const imageConfig: OciImageConfig = {
    created,
    ...(plan.author === undefined ? {} : { author: plan.author }),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    config: plan.config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history,
  };
  const configBytes = Buffer.from(JSON.stringify(imageConfig));
  const config: Descriptor = { mediaType: MediaType.ociConfig, digest: digestOf(configBytes), size: configBytes.length };
  const manifestLayers = layers.map((l) => ({ ...l, mediaType: ociLayerType(l.mediaType) }));
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config,
      layers: manifestLayers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  const digest = digestOf(manifestBytes);
  await options.images.content.putBlob(configBytes, config, 'image config');
  await options.images.content.putBlob(manifestBytes, { digest, size: manifestBytes.length }, 'manifest');
  const references = tags.length > 0 ? tags : [`localhost/untagged@${digest}`];
  for (const reference of references) {
    await options.images.content.putImage({ reference, digest, mediaType: MediaType.ociManifest, platform, config, layers: manifestLayers, pulledAt: new Date().toISOString() });
  }
  return { digest, mediaType: MediaType.ociManifest, config, layers: manifestLayers, platform, imageConfig, tags, steps: stepsReport, warnings };
}

async function selectAll(context: BuildContext, sources: readonly string[], what: string, line: number): Promise<SelectedSource[]> {
  const out: SelectedSource[] = [];
  for (const s of sources) out.push(...(await context.select(s, what, line)));
  return out;
}

/** The base image's history, or one entry per layer when it kept none (so layers and history agree). */
function baseHistory(base: { record: ImageRecord; raw: Record<string, unknown> } | undefined, image: string): HistoryEntry[] {
  if (base === undefined) return [];
  if (Array.isArray(base.raw.history)) return base.raw.history as HistoryEntry[];
  const created = typeof base.raw.created === 'string' ? base.raw.created : EPOCH;
  return base.record.layers.map(() => ({ created, created_by: `layer of ${image}` }));
}

/**
 * Runs one layer-making step on a fresh snapshot of `layers` and returns the layer it made
 * (undefined when it changed nothing). The snapshot and any container are removed, whatever happens.
 */
async function runStep(
  options: BuildOptions,
  step: PlanStep,
  action: LayerAction,
  sources: readonly SelectedSource[],
  layers: readonly LayerRecord[],
  platform: Platform,
  id: string,
  workDir: string,
  emit: (e: BuildProgress) => void,
): Promise<LayerRecord | undefined> {
  const images = options.images;
  const key = `build-${id}`;
  // Only layers matter to a snapshot; the rest of the record is what the type asks for.
  const record: ImageRecord = { reference: `build/${id}`, digest: '', mediaType: '', platform, config: { mediaType: '', digest: '', size: 0 }, layers: [...layers], pulledAt: '' };
  const label = step.display;
  try {
    const rootfs = await images.snapshots.prepare(key, record);
    const root = new RootFS(rootfs);
    let artifacts: Awaited<ReturnType<typeof mountTargetsBefore>> | undefined;
    switch (action.kind) {
      case 'run':
        artifacts = await mountTargetsBefore(root);
        await runContainer(options.driver, key, rootfs, action, step, emit, options.signal);
        break;
      case 'copy':
        await applyCopy(root, action, sources, { label, line: step.line });
        break;
      case 'workdir': {
        const owner = await resolveOwner(action.user, root).catch((err: unknown) => {
          throw new BuildError(`${label}: USER ${action.user}: ${(err as Error).message}`, step.line, { cause: err });
        });
        try {
          await root.mkdirAll(action.path, owner);
        } catch (err) {
          throw new BuildError(`${label}: ${(err as Error).message}`, step.line, { cause: err });
        }
        break;
      }
    }
    const upper = upperDir(images, key);
    let entries = await scanUpper(upper);
    if (artifacts !== undefined) entries = dropMountArtifacts(entries, artifacts.leaves, artifacts.before);
    if (entries.length === 0) return undefined;
    const out = join(workDir, 'tmp', `${id}.tar.gz`);
    try {
      const written = await writeLayer(upper, entries, out);
      await images.content.ingest({ digest: written.digest, size: written.size }, () => Promise.resolve(createReadStream(out)));
      return { digest: written.digest, size: written.size, mediaType: MediaType.ociLayerGzip, diffID: written.diffID };
    } finally {
      await fs.rm(out, { force: true });
    }
  } catch (err) {
    if (err instanceof BuildError && err.line !== undefined) throw err;
    throw new BuildError(`${label}: ${(err as Error).message}`, step.line, { cause: err });
  } finally {
    await images.snapshots.remove(key);
  }
}

/** Keeps the last bytes a step wrote, for the error when it fails. */
class Tail {
  private buf = Buffer.alloc(0);
  constructor(private readonly max = 2048) {}
  add(data: Buffer): void {
    this.buf = Buffer.concat([this.buf, data]);
    if (this.buf.length > this.max) this.buf = this.buf.subarray(this.buf.length - this.max);
  }
  text(): string {
    return this.buf.toString('utf8').trimEnd();
  }
}

async function runContainer(
  driver: Driver,
  id: string,
  rootfs: string,
  action: Extract<LayerAction, { kind: 'run' }>,
  step: PlanStep,
  emit: (e: BuildProgress) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const spec: ContainerSpec = {
    id,
    rootfs,
    image: { Env: action.env, WorkingDir: action.workdir, ...(action.user === '' ? {} : { User: action.user }) },
    entryPoint: action.argv,
    // Builds have no network: a RUN cannot fetch what the build does not declare.
    network: { mode: 'none' },
  };
  try {
    await driver.create(spec);
  } catch (err) {
    throw new BuildError(`${step.display}: ${(err as Error).message}`, step.line, { cause: err });
  }
  const onAbort = () => {
    driver.kill(id).catch(() => undefined); // it may have exited already: nothing to kill then
  };
  try {
    try {
      await driver.start(id);
    } catch (err) {
      throw new BuildError(`${step.display}: ${(err as Error).message}`, step.line, { cause: err });
    }
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) onAbort();
    const exited = driver.wait(id);
    const paths = await driver.logPaths(id);
    const tail = new Tail();
    await Promise.all(
      (['stdout', 'stderr'] as const).map(async (stream) => {
        for await (const data of followLog(paths[stream], { until: exited })) {
          tail.add(data);
          emit({ type: 'output', index: step.index, stream, data });
        }
      }),
    );
    const status = await exited;
    if (signal?.aborted) throw new BuildError('the build was cancelled', step.line);
    if (status.exitCode !== 0) {
      const why = status.exitCode === undefined ? (status.error ?? 'it was lost') : `it exited with code ${status.exitCode}${status.oomKilled ? ' (out of memory)' : ''}`;
      throw new BuildError(`${step.display} failed: ${why}`, step.line, { detail: tail.text() });
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    const state = await driver.state(id).catch(() => undefined);
    if (state?.status === 'running') {
      await driver.kill(id).catch(() => undefined);
      await driver.wait(id).catch(() => undefined);
    }
    if (state !== undefined) await driver.delete(id);
  }
}
