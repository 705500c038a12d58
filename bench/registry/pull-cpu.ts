/**
 * bench/registry/pull-cpu: what serving a pull costs each registry in CPU, the figure that decides
 * pull throughput on a 2-core machine where skopeo (digesting and writing what it receives) shares
 * the cores with the server. Starts a real `berth up` and Debian's docker-registry on 127.0.0.1,
 * pushes one ~100 MiB image to each with skopeo, then, interleaved, ROUNDS times: a `curl` GET of
 * the big layer (bytes to /dev/null) and a skopeo pull into a `dir:`; for each, the wall seconds,
 * the server's CPU (utime+stime from /proc/<pid>/stat, all its threads) and the client's
 * (/usr/bin/time). Prints one JSON line with medians and the load average. Needs `npm run build`.
 *
 *   node --import tsx bench/registry/pull-cpu.ts [rounds]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRegistry as startDockerRegistry } from '../../src/image/testing/registry.js';
import { startBerth } from '../../test/e2e/harness.js';
import { addBigImage, baseLayout, berthRegistry, processCpuMs, type Target } from './image.js';

const exec = promisify(execFile);
const ROUNDS = Math.min(Math.max(Number(process.argv[2] ?? 5) || 5, 1), 20);


/** Runs a command under /usr/bin/time: wall seconds, its CPU ms, the server's CPU ms meanwhile. */
async function measure(t: Target, cmd: string, args: readonly string[]): Promise<{ seconds: number; server_cpu_ms: number; client_cpu_ms: number }> {
  const before = processCpuMs(t.pid);
  const t0 = performance.now();
  const { stderr } = await exec('/usr/bin/time', ['-f', 'TIME %U %S', cmd, ...args], { maxBuffer: 1 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  const server = processCpuMs(t.pid) - before;
  const m = /TIME (\S+) (\S+)\s*$/.exec(stderr);
  if (m === null) throw new Error(`no time output: ${stderr}`);
  return { seconds, server_cpu_ms: server, client_cpu_ms: Math.round((Number(m[1]) + Number(m[2])) * 1000) };
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const load1 = () => Math.round(loadavg()[0]! * 100) / 100;

const loadAtStart = load1();
const scratch = await mkdtemp(join(tmpdir(), 'berth-bench-pull-cpu-'));
try {
  const layout = await baseLayout(scratch);
  const imageBytes = await addBigImage(layout, 'big');
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const top = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'big')!;
  const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', top.digest.slice(7)), 'utf8')) as { layers: { digest: string; size: number }[] };
  const bigLayer = manifest.layers[manifest.layers.length - 1]!;

  await using berth = await startBerth();
  const berthTarget = await berthRegistry(berth);
  await using peer = await startDockerRegistry(join(scratch, 'docker-registry'));
  const peerTarget: Target = { name: 'docker_registry', host: peer.host, pid: peer.pid };
  const targets = [berthTarget, peerTarget] as const;
  for (const t of targets) {
    if (!t.host.startsWith('127.0.0.1:')) throw new Error('benchmarks only talk to loopback');
    await exec('skopeo', ['copy', '--quiet', '--insecure-policy', '--dest-tls-verify=false', ...(t.creds ? ['--dest-creds', t.creds] : []), `oci:${layout}:big`, `docker://${t.host}/bench/big:v1`]);
  }

  const curls = { berth: [] as Awaited<ReturnType<typeof measure>>[], docker_registry: [] as Awaited<ReturnType<typeof measure>>[] };
  const pulls = { berth: [] as Awaited<ReturnType<typeof measure>>[], docker_registry: [] as Awaited<ReturnType<typeof measure>>[] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      const header = t.authorization ? ['-H', `Authorization: ${t.authorization}`] : [];
      curls[t.name].push(await measure(t, 'curl', ['-sSf', '-o', '/dev/null', ...header, `http://${t.host}/v2/bench/big/blobs/${bigLayer.digest}`]));
      const dest = join(scratch, `pull-${t.name}-${r}`);
      pulls[t.name].push(
        await measure(t, 'skopeo', ['copy', '--quiet', '--insecure-policy', '--src-tls-verify=false', ...(t.creds ? ['--src-creds', t.creds] : []), `docker://${t.host}/bench/big:v1`, `dir:${dest}`]),
      );
      await rm(dest, { recursive: true, force: true });
    }
  }
  const MiB100 = (100 * 1024 * 1024) / bigLayer.size;
  const figures = (runs: readonly Awaited<ReturnType<typeof measure>>[], bytes: number) => ({
    mb_per_s: Math.round((bytes / 1e6 / median(runs.map((x) => x.seconds))) * 10) / 10,
    server_cpu_ms_per_100mib: Math.round((sum(runs.map((x) => x.server_cpu_ms)) / runs.length) * MiB100),
    client_cpu_ms_per_100mib: Math.round((sum(runs.map((x) => x.client_cpu_ms)) / runs.length) * MiB100),
    seconds: runs.map((x) => Math.round(x.seconds * 1000) / 1000),
  });
  const out = Object.fromEntries(
    targets.map((t) => [t.name, { curl_blob: figures(curls[t.name], bigLayer.size), skopeo_pull: figures(pulls[t.name], imageBytes) }]),
  ) as Record<Target['name'], { curl_blob: ReturnType<typeof figures>; skopeo_pull: ReturnType<typeof figures> }>;
  console.log(
    JSON.stringify({
      bench: 'registry-pull-cpu',
      rounds: ROUNDS,
      layer_bytes: bigLayer.size,
      ...out,
      pull_ratio: Math.round((out.berth.skopeo_pull.mb_per_s / out.docker_registry.skopeo_pull.mb_per_s) * 100) / 100,
      load_avg_1m: { start: loadAtStart, end: load1() },
    }),
  );
} finally {
  await rm(scratch, { recursive: true, force: true });
}
