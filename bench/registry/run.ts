/**
 * bench/registry: Berth's registry (a real `berth up`) side by side with Debian's docker-registry
 * (distribution 2.8) in the same run, on 127.0.0.1: skopeo push and pull MB/s of a ~100 MiB image
 * (median of 4 pushes and 10 pulls after one unmeasured pull each, each round led by the other
 * registry; with each registry's CPU per pull), manifest GETs/s (32 keep-alive clients, 5 s), and pushes/s of 1 KiB OCI artifacts
 * to distinct repositories (16 clients, ≤ 1,000 or 2 s unmeasured, then two rounds of ≤ 1,000 or 5 s, interleaved), over raw HTTP (raw-http.ts) and, to show what a skopeo
 * process costs of its own, with skopeo (32 pushes, 4 at a time). Prints one JSON line, with the
 * machine's load average along the way. Needs `npm run build`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRegistry as startDockerRegistry } from '../../src/image/testing/registry.js';
import { startBerth } from '../../test/e2e/harness.js';
import { closedLoop } from '../lib.js';
import { OCI_MANIFEST, addBigImage, baseLayout, berthRegistry, processCpuMs, putBlob, sha256, type Target } from './image.js';
import { RawPool, type RawConnection } from './raw-http.js';
import type { LoadResult } from '../lib.js';

const exec = promisify(execFile);
/**
 * Pushes per registry, each of a fresh image, interleaved and led by each registry in turn (an
 * even count, so each leads as often). One skopeo push or pull varies by ±10-15% on the shared
 * machine (paired runs of the same server spread 0.45-0.65 s), so three pushes and six pulls
 * each let the ratio swing by ±8% between runs with nothing changed.
 */
const RUNS = 4;
/** Pulls per registry, interleaved as the pushes are; round i pulls image run<(i-1) % RUNS + 1>. */
const PULL_ROUNDS = 10;
const MB = 1e6;


/** The middle value; for an even count, the mean of the middle two. */
function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;
/** The median over rounds of docker-registry's seconds / Berth's for the same image: Berth's speed ratio. */
const pairedRatio = (seconds: { berth: readonly number[]; docker_registry: readonly number[] }) =>
  round(median(seconds.berth.map((s, i) => seconds.docker_registry[i]! / s)), 2);

// --- skopeo ---------------------------------------------------------------------------------------

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const skopeoPush = (t: Target, layout: string, tag: string) =>
  timed(() =>
    exec('skopeo', ['copy', '--quiet', '--insecure-policy', '--dest-tls-verify=false', ...(t.creds ? ['--dest-creds', t.creds] : []), `oci:${layout}:${tag}`, `docker://${t.host}/bench/big:${tag}`], {
      maxBuffer: 1 << 20,
    }),
  );

/**
 * Pulls into a fresh `dir:` destination (layers stored as they come, digests verified), then
 * removes it. Also returns the server's CPU ms meanwhile: skopeo shares the 2 cores with it.
 */
async function skopeoPull(t: Target, tag: string, scratch: string): Promise<{ seconds: number; serverCpuMs: number }> {
  const dest = join(scratch, `pull-${t.name}-${tag}`);
  const cpuBefore = processCpuMs(t.pid);
  const seconds = await timed(() =>
    exec('skopeo', ['copy', '--quiet', '--insecure-policy', '--src-tls-verify=false', ...(t.creds ? ['--src-creds', t.creds] : []), `docker://${t.host}/bench/big:${tag}`, `dir:${dest}`], { maxBuffer: 1 << 20 }),
  );
  const serverCpuMs = processCpuMs(t.pid) - cpuBefore;
  await rm(dest, { recursive: true, force: true });
  return { seconds, serverCpuMs };
}

// --- raw HTTP with keep-alive -----------------------------------------------------------------------

interface Reply {
  readonly status: number;
  readonly location: string | undefined;
}

function http(agent: Agent, t: Target, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Reply> {
  const [hostname, port] = t.host.split(':') as [string, string];
  if (hostname !== '127.0.0.1') throw new Error('benchmarks only talk to loopback');
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, hostname, port, method, path, headers: { ...(t.authorization && { authorization: t.authorization }), ...(body && { 'content-length': String(body.length) }), ...headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The header lines every request to `t` carries (its Basic auth, if any), for the raw client. */
const authLine = (t: Target) => (t.authorization === undefined ? '' : `Authorization: ${t.authorization}\r\n`);

/** Monolithic blob upload: POST opens the session, PUT ?digest= sends the bytes and closes it. */
async function pushBlob(conn: RawConnection, t: Target, name: string, bytes: Buffer, digest: string): Promise<boolean> {
  const opened = await conn.request(t.host, 'POST', `/v2/${name}/blobs/uploads/`, authLine(t));
  if (opened.status !== 202 || opened.location === undefined) return false;
  const url = new URL(opened.location, `http://${t.host}`);
  url.searchParams.set('digest', digest);
  const put = await conn.request(t.host, 'PUT', url.pathname + url.search, `${authLine(t)}Content-Type: application/octet-stream\r\n`, bytes);
  return put.status === 201;
}

const EMPTY_CONFIG = Buffer.from('{}');
const EMPTY_CONFIG_DIGEST = sha256(EMPTY_CONFIG);

/** The manifest of an artifact: the empty config and one layer. */
const artifactManifest = (layer: { digest: string; size: number }): Buffer =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.berth.bench.v1',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY_CONFIG_DIGEST, size: EMPTY_CONFIG.length },
      layers: [{ mediaType: 'application/octet-stream', digest: layer.digest, size: layer.size }],
    }),
  );

/** One OCI artifact (a 1 KiB blob, the empty config, a manifest) into a repository of its own. */
async function pushArtifact(pool: RawPool, t: Target, i: number, run: string): Promise<boolean> {
  const name = `bench/artifact-${run}-${i}`;
  const blob = randomBytes(1024);
  const blobDigest = sha256(blob);
  const conn = await pool.take();
  try {
    if (!(await pushBlob(conn, t, name, blob, blobDigest))) return false;
    if (!(await pushBlob(conn, t, name, EMPTY_CONFIG, EMPTY_CONFIG_DIGEST))) return false;
    const manifest = artifactManifest({ digest: blobDigest, size: blob.length });
    return (await conn.request(t.host, 'PUT', `/v2/${name}/manifests/v1`, `${authLine(t)}Content-Type: ${OCI_MANIFEST}\r\n`, manifest)).status === 201;
  } finally {
    pool.give(conn);
  }
}

async function manifestGets(t: Target, seconds: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  try {
    return await closedLoop(32, seconds, 5_000_000, async () => (await http(agent, t, 'GET', '/v2/bench/big/manifests/run1', { accept: OCI_MANIFEST })).status === 200);
  } finally {
    agent.destroy();
  }
}

/** A round of artifact pushes over the raw client (raw-http.ts: Node's http client cost half as much CPU as Berth's serving). */
async function artifactPushes(t: Target, run: string, seconds = ARTIFACT_ROUND_SECONDS, pushes = ARTIFACT_ROUND_PUSHES): Promise<LoadResult> {
  const [hostname, port] = t.host.split(':') as [string, string];
  const pool = new RawPool(hostname, Number(port));
  try {
    return await closedLoop(16, seconds, pushes, (i) => pushArtifact(pool, t, i, run));
  } finally {
    pool.close();
  }
}

/**
 * Rounds of artifact pushes, interleaved between the registries (B D D B): the load others put
 * on the shared machine drifts within seconds, and one long run each let it fall on one alone.
 */
const ARTIFACT_ROUNDS = 2;
const ARTIFACT_ROUND_SECONDS = 5;
const ARTIFACT_ROUND_PUSHES = 1000;
const ARTIFACT_WARMUP_PUSHES = 1000;
const ARTIFACT_WARMUP_SECONDS = 2;

interface ArtifactFigures {
  /** All rounds' pushes over all their seconds. */
  readonly rps: number;
  readonly rounds_rps: number[];
  /** The worst round's p99. */
  readonly p99_ms: number;
  readonly errors: number;
}

async function interleavedArtifactPushes(targets: readonly [Target, Target]): Promise<Record<Target['name'], ArtifactFigures>> {
  const rounds = { berth: [] as LoadResult[], docker_registry: [] as LoadResult[] };
  for (let r = 0; r < ARTIFACT_ROUNDS; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      // What earlier phases and rounds left dirty in the page cache (docker-registry fsyncs none of
      // its writes: 400 MB of pushed layers, thousands of small files per round) goes to the disk
      // first, not under the next round's fsyncs, where its 30 s writeback timer let it fall.
      await exec('sync');
      rounds[t.name].push(await artifactPushes(t, `a${r}`));
    }
  }
  const figures = (results: readonly LoadResult[]): ArtifactFigures => ({
    rps: Math.round(results.reduce((n, x) => n + x.requests, 0) / results.reduce((s, x) => s + x.seconds, 0)),
    rounds_rps: results.map((x) => x.rps),
    p99_ms: Math.max(...results.map((x) => x.p99_ms)),
    errors: results.reduce((n, x) => n + x.errors, 0),
  });
  return { berth: figures(rounds.berth), docker_registry: figures(rounds.docker_registry) };
}

// --- 1 KiB artifacts with skopeo: one process per push, as a CI job pushes -------------------------

const SKOPEO_ARTIFACTS = 32;
const SKOPEO_PARALLEL = 4;

/** An OCI layout holding `n` artifacts tagged a0..a<n-1>, each a fresh 1 KiB blob and the empty config. */
async function artifactLayout(dir: string, n: number): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await putBlob(dir, EMPTY_CONFIG);
  const manifests = [];
  for (let i = 0; i < n; i++) {
    const layer = await putBlob(dir, randomBytes(1024));
    const doc = artifactManifest(layer);
    manifests.push({ mediaType: OCI_MANIFEST, ...(await putBlob(dir, doc)), annotations: { 'org.opencontainers.image.ref.name': `a${i}` } });
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
}

async function skopeoArtifactPushes(t: Target, layout: string, run: string): Promise<number> {
  let next = 0;
  const seconds = await timed(() =>
    Promise.all(
      Array.from({ length: SKOPEO_PARALLEL }, async () => {
        while (next < SKOPEO_ARTIFACTS) {
          const i = next++;
          await exec('skopeo', ['copy', '--quiet', '--insecure-policy', '--dest-tls-verify=false', ...(t.creds ? ['--dest-creds', t.creds] : []), `oci:${layout}:a${i}`, `docker://${t.host}/bench/skopeo-${run}-${i}:v1`]);
        }
      }),
    ),
  );
  return round(SKOPEO_ARTIFACTS / seconds);
}

// --- the run -----------------------------------------------------------------------------------------

/** The machine's 1-minute load average: the engineers share its 2 cores, so figures come with it. */
const load1 = () => round(loadavg()[0]!, 2);
const loadAtStart = load1();
const scratch = await mkdtemp(join(tmpdir(), 'berth-bench-registry-'));
try {
  const layout = await baseLayout(scratch);
  const imageBytes: number[] = [];
  for (let i = 1; i <= RUNS; i++) imageBytes.push(await addBigImage(layout, `run${i}`));

  await using berth = await startBerth();
  const berthTarget = await berthRegistry(berth);
  await using peer = await startDockerRegistry(join(scratch, 'docker-registry'));
  const peerTarget: Target = { name: 'docker_registry', host: peer.host, pid: peer.pid };
  const targets = [berthTarget, peerTarget] as const;

  // Interleaved, and each round led by the other, so drift on the machine falls on both alike.
  const pushSeconds = { berth: [] as number[], docker_registry: [] as number[] };
  const pullSeconds = { berth: [] as number[], docker_registry: [] as number[] };
  const pullServerCpuMs = { berth: [] as number[], docker_registry: [] as number[] };
  for (let i = 1; i <= RUNS; i++) {
    for (const t of i % 2 === 1 ? targets : [...targets].reverse()) pushSeconds[t.name].push(await skopeoPush(t, layout, `run${i}`));
  }
  const pullMbPerSecond = { berth: [] as number[], docker_registry: [] as number[] };
  // The pushes' writes reach the disk first, not during the first pulls.
  await exec('sync');
  // One pull each, unmeasured: Berth's first download ran while V8 compiled its path (~120 ms of
  // server CPU against 50-70 ms for the next ones); docker-registry's code is compiled ahead.
  for (const t of targets) await skopeoPull(t, 'run1', scratch);
  const loadBeforePulls = load1();
  for (let i = 1; i <= PULL_ROUNDS; i++) {
    const image = (i - 1) % RUNS;
    for (const t of i % 2 === 1 ? targets : [...targets].reverse()) {
      const pull = await skopeoPull(t, `run${image + 1}`, scratch);
      pullSeconds[t.name].push(pull.seconds);
      pullMbPerSecond[t.name].push(imageBytes[image]! / MB / pull.seconds);
      pullServerCpuMs[t.name].push(pull.serverCpuMs);
    }
  }
  const mbPerSecond = (seconds: readonly number[]) => round(median(seconds.map((s, i) => imageBytes[i]! / MB / s)));

  for (const t of targets) await manifestGets(t, 1); // warm up connections and caches
  const gets = { berth: await manifestGets(berthTarget, 5), docker_registry: await manifestGets(peerTarget, 5) };
  // Unmeasured, as the GETs above: a fresh Berth's first 1,000 pushes ran at 450/s and its next
  // ones at 600-700/s (the process warming up: not the young generation's size, which changed
  // nothing); docker-registry's rounds did not move.
  for (const t of targets) await artifactPushes(t, 'warm', ARTIFACT_WARMUP_SECONDS, ARTIFACT_WARMUP_PUSHES);
  const loadBeforeArtifacts = load1();
  const artifacts = await interleavedArtifactPushes(targets);
  const loadAfterArtifacts = load1();
  const artifactsDir = join(scratch, 'artifacts');
  await artifactLayout(artifactsDir, SKOPEO_ARTIFACTS);
  const skopeoArtifacts = { berth: await skopeoArtifactPushes(berthTarget, artifactsDir, 's'), docker_registry: await skopeoArtifactPushes(peerTarget, artifactsDir, 's') };

  const figures = (name: Target['name']) => ({
    push_mb_per_s: mbPerSecond(pushSeconds[name]),
    pull_mb_per_s: round(median(pullMbPerSecond[name])),
    manifest_gets_per_s: gets[name].rps,
    manifest_get_p99_ms: gets[name].p99_ms,
    artifact_pushes_per_s: artifacts[name].rps,
    artifact_pushes_per_s_rounds: artifacts[name].rounds_rps,
    artifact_push_p99_ms: artifacts[name].p99_ms,
    skopeo_artifact_pushes_per_s: skopeoArtifacts[name],
    errors: gets[name].errors + artifacts[name].errors,
    push_seconds: pushSeconds[name].map((s) => round(s, 2)),
    pull_seconds: pullSeconds[name].map((s) => round(s, 2)),
    pull_server_cpu_ms: pullServerCpuMs[name],
  });
  const b = figures('berth');
  const d = figures('docker_registry');
  const ratio = (x: number, y: number) => round(x / y, 2);
  const ratios = {
    push: ratio(b.push_mb_per_s, d.push_mb_per_s),
    pull: ratio(b.pull_mb_per_s, d.pull_mb_per_s),
    manifest_gets: ratio(b.manifest_gets_per_s, d.manifest_gets_per_s),
    artifact_pushes: ratio(b.artifact_pushes_per_s, d.artifact_pushes_per_s),
    // Round by round (the two copies of one image, back to back), so drift on the machine over the
    // run cancels; the figures above compare medians taken over the whole run.
    push_paired_median: pairedRatio(pushSeconds),
    pull_paired_median: pairedRatio(pullSeconds),
  };
  console.log(
    JSON.stringify({
      bench: 'registry',
      image_mb: round(median(imageBytes) / MB),
      mb: `MB = 10^6 bytes; MB/s = image bytes / seconds of one skopeo copy, median of ${RUNS} pushes and ${PULL_ROUNDS} pulls (after one unmeasured pull each); pull_server_cpu_ms: the registry process's CPU during each pull; ratio *_paired_median: the median over rounds of each round's ratio (both copies of one image, back to back)`,
      artifacts: `artifact_pushes_per_s: raw HTTP, 16 clients, <= ${ARTIFACT_WARMUP_PUSHES} pushes or ${ARTIFACT_WARMUP_SECONDS} s unmeasured, then ${ARTIFACT_ROUNDS} rounds of <= ${ARTIFACT_ROUND_PUSHES} pushes or ${ARTIFACT_ROUND_SECONDS} s interleaved with the other registry's; skopeo_artifact_pushes_per_s: ${SKOPEO_ARTIFACTS} skopeo processes, ${SKOPEO_PARALLEL} at a time`,
      berth: b,
      docker_registry: d,
      ratio_berth_to_docker_registry: ratios,
      load_avg_1m: { start: loadAtStart, before_pulls: loadBeforePulls, before_artifact_pushes: loadBeforeArtifacts, after_artifact_pushes: loadAfterArtifacts, end: load1() },
      target: { throughput_ratio_min: 1.0, artifact_pushes_per_s_min: 400, docker_registry_measured_earlier: { push_mb_per_s: 193, pull_mb_per_s: 218 }, harbor_artifact_pushes_per_s: 39 },
      meets_target: ratios.push >= 1 && ratios.pull >= 1 && ratios.manifest_gets >= 1 && b.artifact_pushes_per_s >= 400 && b.errors === 0,
    }),
  );
} finally {
  await rm(scratch, { recursive: true, force: true });
}
