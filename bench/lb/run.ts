/**
 * bench/lb: Berth's load-balancer listener side by side with plain haproxy and plain nginx in the
 * same run, all in front of the same keep-alive backends (nginx answering a static 200 on N ports).
 * Berth's listener is the real data plane (HAProxy driven from the ELBv2 model in a SqliteStore)
 * with a few path rules and health checks on; plain haproxy gets a minimal config; nginx proxies
 * with a keepalive upstream. Each is driven by `wrk -t2 -c64 -d10s --latency` on 127.0.0.1,
 * interleaved over rounds (each round led by another) so drift on the machine falls on all alike.
 * Prints one JSON line: requests/s and p99 (best round, and every round) and berth/haproxy.
 *
 * BENCH_LB_ROUNDS (default 2), BENCH_LB_SECONDS (default 10), BENCH_LB_BACKENDS (default 4),
 * BENCH_LB_ACCESS_LOG=1 (Berth logs every request; off by default, as ELBv2's access logs are).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLbDataPlane } from '../../src/lb/dataplane/dataplane.js';
import { freePort } from '../../src/lb/dataplane/testing/backends.js';
import {
  fixedResponse,
  forward,
  hostIs,
  listenerRecord,
  loadBalancerRecord,
  pathIs,
  ruleRecord,
  targetGroupRecord,
  targetRecord,
  writeRecords,
} from '../../src/lb/dataplane/testing/fixture.js';
import { SqliteStore } from '../../src/store/index.js';

const exec = promisify(execFile);
const ROUNDS = Number(process.env['BENCH_LB_ROUNDS'] ?? 2);
const SECONDS = Number(process.env['BENCH_LB_SECONDS'] ?? 10);
const BACKENDS = Number(process.env['BENCH_LB_BACKENDS'] ?? 4);
const round = (n: number, places = 2) => Math.round(n * 10 ** places) / 10 ** places;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface WrkResult {
  readonly rps: number;
  readonly p99_ms: number;
  readonly p50_ms: number;
  readonly errors: number;
}

const toMs = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!;

/** One wrk run; wrk's own text report parsed for requests/s, latency percentiles and errors. */
async function wrk(port: number, seconds: number): Promise<WrkResult> {
  const { stdout } = await exec('wrk', ['-t2', '-c64', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`], { maxBuffer: 1 << 20 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)$`, 'm').exec(stdout);
    return m ? round(toMs(m[1]!, m[2]!)) : NaN;
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((s, n) => s + Number(n), 0) : 0);
  if (!Number.isFinite(rps)) throw new Error(`wrk: no requests/s in ${stdout}`);
  return { rps: Math.round(rps), p99_ms: pct('99'), p50_ms: pct('50'), errors };
}

/** Waits until something answers HTTP 200 on the port. */
async function answers(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/`)).status === 200) return;
    } catch {
      // not yet
    }
    await sleep(50);
  }
  throw new Error(`nothing answers 200 on 127.0.0.1:${port}`);
}

function started(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('error', (err) => console.error(`${cmd}:`, err));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
}

const nginxCommon = (dir: string, name: string) => `
daemon off;
master_process on;
pid ${join(dir, `${name}.pid`)};
error_log stderr error;
events { worker_connections 4096; }
`;
const nginxHttpCommon = (dir: string, name: string) => `
  access_log off;
  client_body_temp_path ${join(dir, `${name}-body`)};
  proxy_temp_path ${join(dir, `${name}-proxy`)};
  fastcgi_temp_path ${join(dir, `${name}-fastcgi`)};
  uwsgi_temp_path ${join(dir, `${name}-uwsgi`)};
  scgi_temp_path ${join(dir, `${name}-scgi`)};
  keepalive_requests 1000000;
`;

const dir = await mkdtemp(join(tmpdir(), 'berth-bench-lb-'));
const children: ChildProcess[] = [];
const store = SqliteStore.open(join(dir, 'state.db'));
let berth: ReturnType<typeof startLbDataPlane> | undefined;
try {
  // The backends: one nginx (a worker per core) answering a static 200 on N keep-alive ports.
  const backendPorts = await Promise.all(Array.from({ length: BACKENDS }, () => freePort()));
  await writeFile(
    join(dir, 'backends.conf'),
    `${nginxCommon(dir, 'backends')}worker_processes auto;
http {${nginxHttpCommon(dir, 'backends')}
  server {
${backendPorts.map((p) => `    listen 127.0.0.1:${p} reuseport;`).join('\n')}
    location / { return 200 "ok\\n"; }
  }
}
`,
  );
  children.push(started('/usr/sbin/nginx', ['-c', join(dir, 'backends.conf'), '-p', dir]));
  for (const p of backendPorts) await answers(p);

  // (a) Berth: the data plane on a listener with path rules, a host rule, a fixed response and
  // health checks on; wrk asks for '/', which passes every rule to reach the default forward.
  const berthPort = await freePort();
  const lb = loadBalancerRecord('bench');
  const tg = targetGroupRecord('bench', { HealthCheckPath: '/', HealthCheckIntervalSeconds: 5, HealthyThresholdCount: 2 });
  const other = targetGroupRecord('other', { HealthCheckPath: '/' });
  const listener = listenerRecord(lb, berthPort, [forward(tg)]);
  await writeRecords(
    store,
    lb,
    tg,
    other,
    listener,
    ruleRecord(listener, 1, [pathIs('/api/*')], [forward(other)]),
    ruleRecord(listener, 2, [pathIs('/static/*', '*.png')], [forward(other)]),
    ruleRecord(listener, 3, [hostIs('admin.example.com')], [fixedResponse('403', 'no')]),
    ruleRecord(listener, 4, [pathIs('/health')], [fixedResponse('200', 'ok')]),
    ...backendPorts.map((p) => targetRecord(tg, '127.0.0.1', p)),
    ...backendPorts.map((p) => targetRecord(other, '127.0.0.1', p)),
  );
  const quiet = { error: (m: string, f?: Record<string, unknown>) => console.error(m, f), warn: () => {}, debug: () => {} };
  // No access log, as ELBv2's default (and as plain haproxy here); BENCH_LB_ACCESS_LOG=1 turns it on.
  berth = startLbDataPlane({ store, bindAddress: '127.0.0.1', stateDir: join(dir, 'berth-lb'), logger: quiet, accessLog: process.env['BENCH_LB_ACCESS_LOG'] === '1' });
  await berth.ready;
  await answers(berthPort);

  // (b) Plain haproxy, minimal config, same backends.
  const haproxyPort = await freePort();
  await writeFile(
    join(dir, 'haproxy.cfg'),
    `defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:${haproxyPort}
  default_backend be
backend be
  balance roundrobin
${backendPorts.map((p, i) => `  server s${i} 127.0.0.1:${p}`).join('\n')}
`,
  );
  children.push(started('/usr/sbin/haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')]));
  await answers(haproxyPort);

  // (c) Plain nginx as a reverse proxy with a keepalive upstream.
  const nginxPort = await freePort();
  await writeFile(
    join(dir, 'proxy.conf'),
    `${nginxCommon(dir, 'proxy')}worker_processes auto;
http {${nginxHttpCommon(dir, 'proxy')}
  upstream backends {
${backendPorts.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${nginxPort};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  children.push(started('/usr/sbin/nginx', ['-c', join(dir, 'proxy.conf'), '-p', dir]));
  await answers(nginxPort);

  const peers = [
    { name: 'berth', port: berthPort },
    { name: 'haproxy', port: haproxyPort },
    { name: 'nginx', port: nginxPort },
  ] as const;
  for (const p of peers) await wrk(p.port, 2); // warm up connections and caches
  const runs: Record<string, WrkResult[]> = { berth: [], haproxy: [], nginx: [] };
  const load: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = [...peers.slice(r % peers.length), ...peers.slice(0, r % peers.length)];
    for (const p of order) {
      load.push(round(loadavg()[0]!));
      runs[p.name]!.push(await wrk(p.port, SECONDS));
    }
  }
  const best = (name: string) => {
    const rs = runs[name]!;
    const top = rs.reduce((a, b) => (b.rps > a.rps ? b : a));
    return { rps: top.rps, p99_ms: top.p99_ms, p50_ms: top.p50_ms, errors: rs.reduce((s, x) => s + x.errors, 0), rounds: rs.map((x) => ({ rps: x.rps, p99_ms: x.p99_ms })) };
  };
  const b = best('berth');
  const h = best('haproxy');
  const n = best('nginx');
  const ratio = round(b.rps / h.rps);
  console.log(
    JSON.stringify({
      bench: 'lb',
      wrk: `-t2 -c64 -d${SECONDS}s --latency, ${ROUNDS} rounds interleaved; best round`,
      backends: `${BACKENDS} ports of one nginx (worker per core) answering a static 200, keep-alive`,
      berth_listener: '4 rules (path, path with wildcards, host, fixed response) before the default forward; health checks every 5 s; access log ' + (process.env['BENCH_LB_ACCESS_LOG'] === '1' ? 'on' : 'off (ELBv2 default)'),
      berth: b,
      haproxy: h,
      nginx: n,
      ratio_berth_to_haproxy: ratio,
      ratio_berth_to_nginx: round(b.rps / n.rps),
      target: { ratio_to_haproxy_min: 0.9, measured_earlier: { haproxy_rps: 75_000, nginx_rps: 81_000 } },
      meets_target: ratio >= 0.9 && b.errors === 0,
      load_average_1m_at_each_run: load,
    }),
  );
} finally {
  await berth?.close();
  for (const c of children) await stop(c);
  await store.close();
  await rm(dir, { recursive: true, force: true });
}
