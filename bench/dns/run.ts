/**
 * bench/dns: Berth's Cloud Map DNS server under dnsperf (Debian's dnsperf 2.10), in-process over a
 * temp SQLite store with one private namespace, 4 services (A+SRV, MULTIVALUE) of 6 instances each.
 *
 * Figures, printed as one JSON line:
 * - throughput: dnsperf for 10 s (-c 4 -q 200), a query mix of A, SRV, instance A, NXDOMAIN:
 *   queries/s, lost queries, average latency, and the server process's CPU time per query (so a
 *   run on a busy machine still tells what one core does: queries_per_server_cpu_s);
 * - latency: dnsperf -v for 5 s at 80% of that throughput (-Q), p50/p99/max from its per-query lines;
 * - propagation: 200 store changes (RegisterInstance of a new instance, or UpdateInstanceCustomHealthStatus
 *   to HEALTHY of an unhealthy one), each timed from the API call's start until a UDP query loop
 *   (one query in flight, from this process) gets the new address: p50/p99/max ms.
 * CoreDNS's published figure on 2 vCPUs is 33,669 queries/s; Berth's target is ≥ 40,000.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { createServiceDiscoveryService, startDnsServer } from '../../src/discovery/index.js';
import type { RequestContext } from '../../src/protocols/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { percentile } from '../lib.js';

const THROUGHPUT_SECONDS = Number(process.env['DNS_BENCH_SECONDS'] ?? 10);
const LATENCY_SECONDS = 5;
const CHANGES = 200;
const SERVICES = 4;
const INSTANCES = 6;
const round = (n: number, places = 2) => Math.round(n * 10 ** places) / 10 ** places;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-dns-'));
  const store = SqliteStore.open(join(dir, 'store.db'));
  const account = '000000000000';
  const sd = createServiceDiscoveryService({ store, region: 'us-east-1', accountId: account });
  const ctx = (): RequestContext => ({ requestId: 'bench', caller: { accessKeyId: 'AKIDBENCH', accountId: account }, region: 'us-east-1', now: new Date() });
  const call = async (op: string, input: Record<string, unknown>): Promise<any> => sd.operations[op]!(input, ctx());
  const logger = { error: (m: string, f?: unknown) => console.error(m, f), warn: (m: string, f?: unknown) => console.error(m, f), debug: () => undefined };
  const dns = await startDnsServer({ store, address: '127.0.0.1', port: 0, logger });
  try {
    const created = await call('CreatePrivateDnsNamespace', { Name: 'bench.local', Vpc: 'vpc-bench' });
    const nsId = (await call('GetOperation', { OperationId: created.OperationId })).Operation.Targets.NAMESPACE as string;
    const serviceIds: string[] = [];
    for (let s = 0; s < SERVICES; s++) {
      const { Service } = await call('CreateService', {
        Name: `svc${s}`,
        NamespaceId: nsId,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'SRV', TTL: 10 }] },
        HealthCheckCustomConfig: {},
      });
      serviceIds.push(Service.Id);
      for (let i = 0; i < INSTANCES; i++) {
        await call('RegisterInstance', { ServiceId: Service.Id, InstanceId: `task${s}x${i}`, Attributes: { AWS_INSTANCE_IPV4: `10.1.${s}.${i + 1}`, AWS_INSTANCE_PORT: String(8000 + i) } });
      }
    }
    await dns.waitForRevision(await store.revision());

    const queries: string[] = [];
    for (let s = 0; s < SERVICES; s++) queries.push(`svc${s}.bench.local A`, `svc${s}.bench.local SRV`, `task${s}x0.svc${s}.bench.local A`);
    queries.push('missing.bench.local A');
    const queryFile = join(dir, 'queries.txt');
    await writeFile(queryFile, `${queries.join('\n')}\n`);

    const load = loadavg()[0] ?? NaN;
    // The server's own CPU per query: what the figure would be with a core to itself, whatever
    // else this shared machine is doing.
    const cpuBefore = process.cpuUsage();
    const throughput = await dnsperf(['-s', '127.0.0.1', '-p', String(dns.port), '-d', queryFile, '-l', String(THROUGHPUT_SECONDS), '-c', '4', '-q', '200']);
    const qps = Number(/Queries per second:\s+([\d.]+)/.exec(throughput)?.[1] ?? NaN);
    const lost = Number(/Queries lost:\s+(\d+)/.exec(throughput)?.[1] ?? NaN);
    const completed = Number(/Queries completed:\s+(\d+)/.exec(throughput)?.[1] ?? NaN);
    const avgLatency = Number(/Average Latency \(s\):\s+([\d.]+)/.exec(throughput)?.[1] ?? NaN);
    const cpu = process.cpuUsage(cpuBefore);
    const cpuUsPerQuery = (cpu.user + cpu.system) / completed;

    const rate = Math.max(1000, Math.floor(qps * 0.8));
    const verbose = await dnsperf(['-s', '127.0.0.1', '-p', String(dns.port), '-d', queryFile, '-l', String(LATENCY_SECONDS), '-c', '4', '-q', '200', '-Q', String(rate), '-v']);
    const latencies = [...verbose.matchAll(/^> \S+ .* ([\d.]+)$/gm)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);

    const propagation = await measurePropagation(call, dns.port, serviceIds);
    console.log(
      JSON.stringify({
        bench: 'dns',
        loadavg_before: round(load),
        queries_per_s: Math.round(qps),
        queries_completed: completed,
        queries_lost: lost,
        avg_latency_ms: round(avgLatency * 1000, 3),
        server_cpu_us_per_query: round(cpuUsPerQuery, 2),
        queries_per_server_cpu_s: Math.round(1e6 / cpuUsPerQuery),
        latency_run: { rate_qps: rate, queries: latencies.length, p50_ms: round(percentile(latencies, 50), 3), p99_ms: round(percentile(latencies, 99), 3), max_ms: round(latencies.at(-1) ?? NaN, 3) },
        propagation,
        target_queries_per_s: 40000,
        coredns_2vcpu_published_qps: 33669,
      }),
    );
  } finally {
    await dns.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs dnsperf to completion (bounded by -l) and returns its stdout. */
async function dnsperf(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString('utf8')) : reject(new Error(`dnsperf exited ${code}: ${Buffer.concat(err).toString('utf8')}`))));
  });
}

/**
 * Times each change from the API call until DNS answers with it: half the changes register a new
 * instance (is its address served?), half mark an UNHEALTHY one HEALTHY (is it back?).
 */
async function measurePropagation(call: (op: string, input: Record<string, unknown>) => Promise<any>, port: number, serviceIds: string[]) {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let id = 0;
  const ask = (name: string): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const qid = (id = (id + 1) & 0xffff);
      const timer = setTimeout(() => {
        socket.off('message', onMessage);
        reject(new Error(`no answer for ${name}`));
      }, 1000);
      const onMessage = (msg: Buffer) => {
        const reply = dnsPacket.decode(msg);
        if (reply.id !== qid) return;
        clearTimeout(timer);
        socket.off('message', onMessage);
        resolve((reply.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : [])));
      };
      socket.on('message', onMessage);
      socket.send(dnsPacket.encode({ id: qid, type: 'query', flags: 0, questions: [{ name, type: 'A', class: 'IN' }] }), port, '127.0.0.1');
    });
  const waitFor = async (name: string, ip: string, start: number): Promise<number> => {
    // Bounded: 2 s of back-to-back queries at most, then the change counts as failed.
    while (performance.now() - start < 2000) {
      if ((await ask(name)).includes(ip)) return performance.now() - start;
    }
    return NaN;
  };
  const times: number[] = [];
  let failed = 0;
  for (let k = 0; k < CHANGES; k++) {
    const serviceId = serviceIds[k % serviceIds.length]!;
    const s = k % serviceIds.length;
    const name = `svc${s}.bench.local`;
    const instanceId = `late${k}`;
    const ip = `10.2.${Math.floor(k / 250)}.${(k % 250) + 1}`;
    let elapsed: number;
    if (k % 2 === 0) {
      const start = performance.now();
      await call('RegisterInstance', { ServiceId: serviceId, InstanceId: instanceId, Attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: '9000' } });
      elapsed = await waitFor(`${instanceId}.${name}`, ip, start);
    } else {
      await call('RegisterInstance', { ServiceId: serviceId, InstanceId: instanceId, Attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: '9000', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' } });
      const start = performance.now();
      await call('UpdateInstanceCustomHealthStatus', { ServiceId: serviceId, InstanceId: instanceId, Status: 'HEALTHY' });
      elapsed = await waitFor(`${instanceId}.${name}`, ip, start);
    }
    if (Number.isNaN(elapsed)) failed++;
    else times.push(elapsed);
    await call('DeregisterInstance', { ServiceId: serviceId, InstanceId: instanceId });
  }
  socket.close();
  times.sort((a, b) => a - b);
  return { changes: CHANGES, failed, p50_ms: round(percentile(times, 50), 3), p99_ms: round(percentile(times, 99), 3), max_ms: round(times.at(-1) ?? NaN, 3) };
}

await main();
