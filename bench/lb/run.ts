/**
 * bench/lb: Berth's load-balancer listener side by side with plain haproxy and plain nginx in the
 * same run, all in front of the same keep-alive backends (nginx answering a static 200 on N ports).
 * Berth's listener is the real data plane (HAProxy driven from the ELBv2 model in a SqliteStore)
 * with a few path rules and health checks on. Two plain haproxy peers: a minimal config (one
 * backend, no checks), and the same routing written by hand (the four rules and health checks, no
 * X-Forwarded headers); nginx proxies with a keepalive upstream. Each is driven by
 * `wrk -t2 -c64 -d10s --latency` on 127.0.0.1, interleaved over rounds (each round led by another).
 * On 2 cores shared with wrk and the backends a single round drifts by ±15%, so the ratios are the
 * median of per-round ratios (the peers of one round ran seconds apart), and each proxy's CPU time
 * per request (its processes' user+system time over the requests served) is reported beside them:
 * that figure barely moves with the machine's load.
 * Prints one JSON line: median requests/s, p99, CPU per request, every round, and the ratios.
 *
 * BENCH_LB_ROUNDS (default 5), BENCH_LB_SECONDS (default 10), BENCH_LB_BACKENDS (default 4),
 * BENCH_LB_ACCESS_LOG=1 (Berth logs every request; off by default, as ELBv2's access logs are).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
import { statFields } from '../../src/runtime/runc/procfs.js';
import { SqliteStore } from '../../src/store/index.js';

const exec = promisify(execFile);
const ROUNDS = Number(process.env['BENCH_LB_ROUNDS'] ?? 5);
const SECONDS = Number(process.env['BENCH_LB_SECONDS'] ?? 10);
const BACKENDS = Number(process.env['BENCH_LB_BACKENDS'] ?? 4);
const round = (n: number, places = 2) => Math.round(n * 10 ** places) / 10 ** places;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface WrkResult {
  readonly requests: number;
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
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
  if (!Number.isFinite(rps) || !Number.isFinite(requests)) throw new Error(`wrk: no requests/s in ${stdout}`);
  return { requests, rps: Math.round(rps), p99_ms: pct('99'), p50_ms: pct('50'), errors };
}

/** Every process on the host: pid, parent pid and command line (racing exits are skipped). */
async function processes(): Promise<{ pid: number; ppid: number; cmdline: string }[]> {
  const out: { pid: number; ppid: number; cmdline: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(statFields(stat)![1]);
      out.push({ pid: Number(name), ppid, cmdline: (await readFile(`/proc/${name}/cmdline`, 'utf8')).replaceAll('\0', ' ') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** User + system CPU time of the processes, in seconds (all their threads). */
async function cpuSeconds(pids: readonly number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(await readFile(`/proc/${pid}/stat`, 'utf8'))!;
    ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  }
  return ticks / 100; // USER_HZ
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
  const haproxyDefaults = `defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
`;
  await writeFile(
    join(dir, 'haproxy.cfg'),
    `${haproxyDefaults}frontend fe
  bind 127.0.0.1:${haproxyPort}
  default_backend be
backend be
  balance roundrobin
${backendPorts.map((p, i) => `  server s${i} 127.0.0.1:${p}`).join('\n')}
`,
  );
  children.push(started('/usr/sbin/haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')]));
  await answers(haproxyPort);

  // (b2) Plain haproxy with the same routing written by hand: the four rules and health checks.
  const rulesPort = await freePort();
  const checked = (name: string) => `backend ${name}
  balance roundrobin
  option httpchk GET /
  http-check expect status 200
${backendPorts.map((p, i) => `  server s${i} 127.0.0.1:${p} check inter 5s rise 2 fall 2`).join('\n')}
`;
  await writeFile(
    join(dir, 'haproxy-rules.cfg'),
    `${haproxyDefaults}frontend fe
  bind 127.0.0.1:${rulesPort}
  acl api path_beg /api/
  acl static path_beg /static/
  acl static path_end .png
  acl admin hdr(host) -i admin.example.com
  http-request return status 403 content-type text/plain string no if admin !api !static
  http-request return status 200 content-type text/plain string ok if { path /health } !api !static
  use_backend other if api || static
  default_backend be
${checked('be')}${checked('other')}`,
  );
  children.push(started('/usr/sbin/haproxy', ['-db', '-f', join(dir, 'haproxy-rules.cfg')]));
  await answers(rulesPort);

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

  // The processes whose CPU time each peer costs.
  const all = await processes();
  const nginxMaster = children.at(-1)!.pid!;
  const peers = [
    { name: 'berth', port: berthPort, pids: all.filter((p) => p.cmdline.startsWith('/usr/sbin/haproxy') && p.cmdline.includes(join(dir, 'berth-lb'))).map((p) => p.pid) },
    { name: 'haproxy', port: haproxyPort, pids: [children[1]!.pid!] },
    { name: 'haproxy_rules', port: rulesPort, pids: [children[2]!.pid!] },
    { name: 'nginx', port: nginxPort, pids: [nginxMaster, ...all.filter((p) => p.ppid === nginxMaster).map((p) => p.pid)] },
  ] as const;
  if (peers[0].pids.length === 0) throw new Error("no haproxy process found for Berth's data plane");
  for (const p of peers) await wrk(p.port, 2); // warm up connections and caches
  type Round = WrkResult & { cpu_us_per_request: number };
  const runs: Record<string, Round[]> = Object.fromEntries(peers.map((p) => [p.name, []]));
  const load: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = [...peers.slice(r % peers.length), ...peers.slice(0, r % peers.length)];
    for (const p of order) {
      load.push(round(loadavg()[0]!));
      const before = await cpuSeconds(p.pids);
      const result = await wrk(p.port, SECONDS);
      const cpu = (await cpuSeconds(p.pids)) - before;
      runs[p.name]!.push({ ...result, cpu_us_per_request: round((cpu * 1e6) / result.requests, 1) });
    }
  }
  const median = (xs: readonly number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const summary = (name: string) => {
    const rs = runs[name]!;
    return {
      rps: Math.round(median(rs.map((x) => x.rps))),
      p99_ms: round(median(rs.map((x) => x.p99_ms))),
      p50_ms: round(median(rs.map((x) => x.p50_ms))),
      cpu_us_per_request: round(median(rs.map((x) => x.cpu_us_per_request)), 1),
      errors: rs.reduce((s, x) => s + x.errors, 0),
      rounds: rs.map((x) => ({ rps: x.rps, p99_ms: x.p99_ms, cpu_us_per_request: x.cpu_us_per_request })),
    };
  };
  /** Median over rounds of berth's requests/s over the peer's in the same round. */
  const ratioTo = (name: string) => round(median(runs['berth']!.map((b, i) => b.rps / runs[name]![i]!.rps)));
  const b = summary('berth');
  const ratio = ratioTo('haproxy');
  console.log(
    JSON.stringify({
      bench: 'lb',
      wrk: `-t2 -c64 -d${SECONDS}s --latency, ${ROUNDS} rounds interleaved; medians`,
      backends: `${BACKENDS} ports of one nginx (worker per core) answering a static 200, keep-alive`,
      berth_listener: '4 rules (path, path with wildcards, host, fixed response) before the default forward; health checks every 5 s; X-Forwarded-For/Proto/Port; access log ' + (process.env['BENCH_LB_ACCESS_LOG'] === '1' ? 'on' : 'off (ELBv2 default)'),
      haproxy_rules: 'the same four rules and health checks written by hand, no X-Forwarded headers',
      berth: b,
      haproxy: summary('haproxy'),
      haproxy_rules_peer: summary('haproxy_rules'),
      nginx: summary('nginx'),
      ratio_berth_to_haproxy: ratio,
      ratio_berth_to_haproxy_rules: ratioTo('haproxy_rules'),
      ratio_berth_to_nginx: ratioTo('nginx'),
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
