/**
 * bench/scheduler: the placement pipeline in-process on simulated hosts — 10,000 instances of mixed
 * sizes in three zones, 1,000 services × 1,000 tasks with binpack, spread and memberOf mixed across
 * services. Prints one JSON line: placements/s, per-placement p50/p99 (µs), memory, the quality of
 * the picks, and the targets (≥ 10,000/s; Nomad C1M 3,750/s; kube-scheduler 810 pods/s at 5,000 nodes).
 *
 * Run: node --import tsx bench/scheduler/run.ts
 * Env: BENCH_TASKS (default 1000000), BENCH_HOSTS (default 10000), BENCH_SEED (default 1).
 */
import { PlacementStack, seededRandom, type InstanceState, type PlacementRequest } from '../../src/scheduler/index.js';

const HOSTS = Number(process.env['BENCH_HOSTS'] ?? 10_000);
const TASKS = Number(process.env['BENCH_TASKS'] ?? 1_000_000);
const SEED = Number(process.env['BENCH_SEED'] ?? 1);
const PER_SERVICE = Math.min(1000, TASKS);
const SERVICES = Math.ceil(TASKS / PER_SERVICE);

const random = seededRandom(SEED);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

// Hosts: ECS-registered CPU units and MiB of common instance types (memory less the agent's share).
const TYPES = [
  { type: 'm5.xlarge', cpu: 4096, memory: 15_500 },
  { type: 'm5.2xlarge', cpu: 8192, memory: 31_500 },
  { type: 'm5.4xlarge', cpu: 16_384, memory: 63_000 },
  { type: 'c5.9xlarge', cpu: 36_864, memory: 70_000 },
  { type: 'r5.8xlarge', cpu: 32_768, memory: 255_000 },
  { type: 'm5.16xlarge', cpu: 65_536, memory: 252_000 },
] as const;
const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'] as const;

/** The bench's own mutable "store": the snapshot objects placement reads, updated after each plan. */
interface Host extends InstanceState {
  free: { cpu: number; memory: number; gpus: number };
  taskGroups: Map<string, number>;
  runningTasksCount: number;
}

const noPorts = new Set<number>();
const hosts: Host[] = Array.from({ length: HOSTS }, (_, n) => {
  const t = pick(TYPES);
  return {
    id: `ci-${n.toString(16).padStart(8, '0')}`,
    status: 'ACTIVE',
    agentConnected: true,
    launchType: 'EC2',
    registeredAt: new Date(1_700_000_000_000 + n * 1000),
    ec2InstanceId: `i-${n.toString(16).padStart(17, '0')}`,
    agentVersion: '1.80.0',
    attributes: {
      'ecs.availability-zone': ZONES[n % ZONES.length]!,
      'ecs.instance-type': t.type,
      'ecs.os-type': 'linux',
      'ecs.capability.task-eni': null,
    },
    free: { cpu: t.cpu, memory: t.memory, gpus: 0 },
    reservedPorts: { tcp: noPorts, udp: noPorts },
    taskGroups: new Map(),
    runningTasksCount: 0,
  };
});
const byId = new Map(hosts.map((h) => [h.id, h]));
const capacity = { cpu: hosts.reduce((a, h) => a + h.free.cpu, 0), memory: hosts.reduce((a, h) => a + h.free.memory, 0) };

const ZONE = 'attribute:ecs.availability-zone';
/** The service mix: which strategies and constraints service number s uses. */
function serviceRequest(s: number): PlacementRequest {
  const base = { group: `service:svc-${s}`, cpu: pick([64, 128, 128, 256, 256, 384]), memory: pick([128, 256, 512, 512, 768, 1024]) };
  switch (s % 10) {
    case 0:
    case 1:
    case 2:
    case 3:
      return { ...base, strategy: [{ type: 'binpack', field: 'memory' }] };
    case 4:
    case 5:
      // ECS's "AZ balanced spread".
      return { ...base, strategy: [{ type: 'spread', field: ZONE }, { type: 'spread', field: 'instanceId' }] };
    case 6:
    case 7:
      // ECS's "AZ balanced binpack", on general-purpose instances only.
      return {
        ...base,
        constraints: [{ type: 'memberOf', expression: 'attribute:ecs.instance-type =~ m5.*' }],
        strategy: [{ type: 'spread', field: ZONE }, { type: 'binpack', field: 'memory' }],
      };
    case 8:
      return {
        ...base,
        constraints: [{ type: 'memberOf', expression: `${ZONE} in [us-east-1a, us-east-1b] and attribute:ecs.os-type == linux` }],
        strategy: [{ type: 'binpack', field: 'cpu' }],
      };
    default:
      return { ...base, constraints: [{ type: 'distinctInstance' }], strategy: [{ type: 'random' }] };
  }
}

const times = new Float64Array(SERVICES * PER_SERVICE);
let placed = 0;
let failed = 0;
let firstFailure: string | undefined;
let spreadSkewMax = 0;
let spreadZoneFull = 0;
let distinctViolations = 0;
const wallStart = performance.now();

for (let s = 0; s < SERVICES; s++) {
  const request = serviceRequest(s);
  const want = Math.min(PER_SERVICE, TASKS - s * PER_SERVICE);
  // The stack's construction (its O(instances) setup) is charged to the service's first placement.
  let last = performance.now();
  const stack = new PlacementStack({ instances: hosts }, request, { random });
  for (let k = 0; k < want; k++) {
    const id = stack.select();
    const now = performance.now();
    if (id === undefined) {
      failed += want - k;
      firstFailure ??= `${request.group}: ${stack.explain().explanation.message}`;
      break;
    }
    times[placed++] = now - last;
    last = now;
  }
  // Commit, as the store would: the next service plans on the cluster with this one's tasks.
  const zones = new Map<string, number>();
  const seen = new Set<string>();
  for (const id of stack.placements) {
    const h = byId.get(id)!;
    h.free.cpu -= request.cpu;
    h.free.memory -= request.memory;
    h.taskGroups.set(request.group, (h.taskGroups.get(request.group) ?? 0) + 1);
    h.runningTasksCount++;
    const zone = h.attributes['ecs.availability-zone']!;
    zones.set(zone, (zones.get(zone) ?? 0) + 1);
    if (request.constraints?.some((c) => c.type === 'distinctInstance') && seen.has(id)) distinctViolations++;
    seen.add(id);
  }
  if (request.strategy?.[0]?.type === 'spread') {
    const counts = ZONES.map((z) => zones.get(z) ?? 0);
    const skew = Math.max(...counts) - Math.min(...counts);
    // An exact spread differs by at most one task between zones, unless a zone ran out of room;
    // the stack's explanation says which instances could still take a copy.
    if (skew > 1) {
      const refused = new Set(stack.explain().failures.map((f) => f.instanceId));
      const roomy = new Set(hosts.filter((h) => !refused.has(h.id)).map((h) => h.attributes['ecs.availability-zone']));
      if (ZONES.every((z) => roomy.has(z))) spreadSkewMax = Math.max(spreadSkewMax, skew);
      else spreadZoneFull++;
    } else {
      spreadSkewMax = Math.max(spreadSkewMax, skew);
    }
  }
}
const wallSeconds = (performance.now() - wallStart) / 1000;

const sorted = times.subarray(0, placed).sort();
/** The p-th percentile of the sorted per-placement times (nearest rank), in ms. */
const percentile = (p: number) => sorted[Math.min(placed - 1, Math.floor((p / 100) * placed))]!;
let placingMs = 0;
for (let k = 0; k < placed; k++) placingMs += sorted[k]!;
const overcommitted = hosts.filter((h) => h.free.cpu < 0 || h.free.memory < 0).length;
const used = hosts.filter((h) => h.runningTasksCount > 0).length;
const rate = Math.round(placed / (placingMs / 1000));
const mem = process.memoryUsage();
const mib = (b: number) => Math.round(b / 2 ** 20);
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

console.log(
  JSON.stringify({
    bench: 'scheduler',
    hosts: HOSTS,
    services: SERVICES,
    tasks_per_service: PER_SERVICE,
    placements: placed,
    failed,
    ...(firstFailure === undefined ? {} : { first_failure: firstFailure }),
    placing_seconds: round(placingMs / 1000, 2),
    wall_seconds: round(wallSeconds, 2),
    placements_per_s: rate,
    p50_us: round(percentile(50) * 1000),
    p99_us: round(percentile(99) * 1000),
    max_us: round(sorted[placed - 1]! * 1000),
    heap_used_mib: mib(mem.heapUsed),
    rss_mib: mib(mem.rss),
    quality: {
      cpu_used_pct: round(100 - (100 * hosts.reduce((a, h) => a + h.free.cpu, 0)) / capacity.cpu),
      memory_used_pct: round(100 - (100 * hosts.reduce((a, h) => a + h.free.memory, 0)) / capacity.memory),
      hosts_used: used,
      overcommitted_hosts: overcommitted,
      distinct_instance_violations: distinctViolations,
      spread_zone_skew_max: spreadSkewMax,
      spread_services_with_a_full_zone: spreadZoneFull,
    },
    comparison: {
      target_per_s: 10_000,
      nomad_c1m_per_s: 3_750,
      kube_scheduler_per_s_at_5000_nodes: 810,
      x_target: round(rate / 10_000, 2),
      x_nomad_c1m: round(rate / 3_750, 2),
      x_kube_scheduler: round(rate / 810, 2),
    },
  }),
);
