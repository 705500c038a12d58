/**
 * bench/api: ECS API latency and throughput against a real `berth up` holding 100,000 tasks.
 * Prints one JSON line: DescribeTasks and RegisterTaskDefinition at a fixed 1,000 req/s (p50/p99)
 * and at full speed (req/s), and the server's memory. Target: p99 ≤ 10 ms at 1,000 req/s for
 * single-object reads. BENCH_TASKS overrides the task count (default 100000).
 */
import { startBerth } from '../../test/e2e/harness.js';
import { closedLoop, jsonClient, openLoop, rssMiB } from '../lib.js';

const TASKS = Number(process.env['BENCH_TASKS'] ?? 100_000);
const T = 'AmazonEC2ContainerServiceV20141113.';

await using berth = await startBerth();
const ecs = jsonClient(berth.endpoint, berth.credentials);
const ok = (r: { status: number }) => r.status === 200;

const taskDef = (family: string) => ({
  family,
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  containerDefinitions: [{ name: 'web', image: 'busybox', essential: true, portMappings: [{ containerPort: 8080 }] }],
});
const reg = await ecs.call(`${T}RegisterTaskDefinition`, taskDef('bench'));
if (!ok(reg)) throw new Error(`RegisterTaskDefinition: ${reg.body}`);

// Seed through the public API, 10 tasks per RunTask, 16 calls in flight.
const seedStart = performance.now();
const taskIds: string[] = [];
const seed = await closedLoop(16, 3600, Math.ceil(TASKS / 10), async () => {
  const r = await ecs.call(`${T}RunTask`, {
    taskDefinition: 'bench',
    launchType: 'FARGATE',
    count: 10,
    networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-bench'] } },
  });
  if (!ok(r)) return false;
  for (const t of (JSON.parse(r.body) as { tasks: Array<{ taskArn: string }> }).tasks) taskIds.push(t.taskArn.split('/').pop()!);
  return true;
});
if (seed.errors > 0) throw new Error(`seeding failed ${seed.errors} times`);
const seedSeconds = (performance.now() - seedStart) / 1000;
const rssAfterSeed = rssMiB(berth.pid);

const describe = async (i: number) =>
  ok(await ecs.call(`${T}DescribeTasks`, { tasks: [taskIds[(i * 7919) % taskIds.length]] }));
let family = 0;
const register = async () => ok(await ecs.call(`${T}RegisterTaskDefinition`, taskDef(`bench-${family++ % 50}`)));

await closedLoop(8, 2, 2000, describe); // warm up
const describeAt1000 = await openLoop(1000, 10, describe);
const describeMax = await closedLoop(32, 5, 200_000, describe);
const registerAt1000 = await openLoop(1000, 5, register);
const registerMax = await closedLoop(32, 5, 200_000, register);

ecs.close();
console.log(
  JSON.stringify({
    bench: 'api',
    tasks_stored: taskIds.length,
    seed_seconds: Math.round(seedSeconds),
    seed_tasks_per_s: Math.round(taskIds.length / seedSeconds),
    describe_tasks: { at_1000_rps: describeAt1000, max: describeMax },
    register_task_definition: { at_1000_rps: registerAt1000, max: registerMax },
    server_rss_mib: { after_seed: rssAfterSeed, after_load: rssMiB(berth.pid) },
    target: { single_object_read_p99_ms_at_1000_rps: 10 },
    meets_target: describeAt1000.p99_ms <= 10 && describeAt1000.errors === 0,
  }),
);
