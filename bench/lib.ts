/**
 * Shared benchmark tools: a SigV4-signing keep-alive HTTP client for Berth's JSON 1.1 APIs, an
 * open-loop (fixed-rate) and a closed-loop (fixed-concurrency) load driver, and percentiles.
 * Load loops are bounded in time and count and only talk to 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { signJsonPost } from '../src/edge/sigv4.js';

export interface JsonClient {
  call(target: string, body: unknown): Promise<{ status: number; body: string }>;
  close(): void;
}

/**
 * A lean client: SigV4 computed inline with node:crypto (the SDK's signer costs more CPU than the
 * server's whole request on this 2-core machine, and would measure the client). The real SDK and
 * CLIs are proven against the server by the e2e suite; this only has to be correct and cheap.
 */
export function jsonClient(endpoint: string, creds: { accessKeyId: string; secretAccessKey: string }, service = 'ecs', region = 'us-east-1'): JsonClient {
  const url = new URL(endpoint);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new Error('benchmarks only talk to loopback');
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  return {
    call(target, body) {
      const payload = JSON.stringify(body);
      const headers = signJsonPost({ host: url.host, target, payload, credentials: creds, region, service, now: new Date() });
      return new Promise((res, rej) => {
        const req = request({ agent, host: url.hostname, port: url.port, method: 'POST', path: '/', headers }, (resp) => {
          const chunks: Buffer[] = [];
          resp.on('data', (c: Buffer) => chunks.push(c));
          resp.on('end', () => res({ status: resp.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          resp.on('error', rej);
        });
        req.on('error', rej);
        req.end(payload);
      });
    },
    close: () => agent.destroy(),
  };
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number) => Math.round(n * 100) / 100;

function summarize(latencies: number[], errors: number, seconds: number): LoadResult {
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    seconds: round(seconds),
    rps: Math.round(latencies.length / seconds),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(latencies[latencies.length - 1] ?? NaN),
  };
}

/**
 * Open loop: starts one request every 1/rate s for `seconds`, whatever the server's pace, and
 * measures each latency from its scheduled start (so a stalled server cannot hide its queue).
 */
export async function openLoop(rate: number, seconds: number, send: (i: number) => Promise<boolean>): Promise<LoadResult> {
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      send(i).then(
        (ok) => {
          latencies.push(performance.now() - due);
          if (!ok) errors++;
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(inflight);
  return summarize(latencies, errors, (performance.now() - t0) / 1000);
}

/** Closed loop: `concurrency` workers send back-to-back for `seconds` (bounded by `maxRequests`). */
export async function closedLoop(concurrency: number, seconds: number, maxRequests: number, send: (i: number) => Promise<boolean>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end && next < maxRequests) {
      const i = next++;
      const start = performance.now();
      const ok = await send(i).catch(() => false);
      latencies.push(performance.now() - start);
      if (!ok) errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return summarize(latencies, errors, (performance.now() - t0) / 1000);
}

/** Resident memory of a process, in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** CPU time the whole machine spent busy and in total, in clock ticks, from /proc/stat. */
function cpuTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * Waits until the machine is quiet: at least `minMs`, dirty pages written (`sync`), then the share
 * of busy CPU over one-second windows below `busyBelow`, or `maxMs` passed. Between the sides of a
 * side-by-side benchmark, so the second does not pay for the first one's cleanup: the kernel tears
 * down a removed container's namespaces in the background, mostly asleep between RCU grace periods
 * (so not busy) yet holding locks a new namespace needs; a daemon's writes are flushed. Returns
 * how long it waited.
 */
export async function settle(busyBelow = 0.15, maxMs = 60_000, minMs = 20_000): Promise<number> {
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, minMs));
  execFileSync('sync');
  for (;;) {
    const a = cpuTicks();
    await new Promise((r) => setTimeout(r, 1000));
    const b = cpuTicks();
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy < busyBelow || Date.now() - t0 >= maxMs) return Date.now() - t0;
  }
}
