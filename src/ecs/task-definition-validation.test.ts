/**
 * Every RegisterTaskDefinition rule, valid and invalid: the error code, and that the message names
 * the field (and, where ECS has a known message, that it starts with ECS's words).
 */
import { describe, expect, it } from 'vitest';
import type { BerthError, ErrorCode } from '../protocols/index.js';
import {
  FARGATE_TASK_SIZES, deriveRequiresAttributes, effectiveNetworkMode, parseTaskCpu, parseTaskDefinitionRef,
  parseTaskMemory, prepareRegistration, validateTags,
} from './task-definition-validation.js';
import { fails } from './testing/ecs-harness.suite.js';

type Obj = Record<string, unknown>;

const container = (c: Obj = {}): Obj => ({ name: 'app', image: 'nginx:1.27', memory: 128, ...c });
const ec2 = (td: Obj = {}, c: Obj = {}): Obj => ({ family: 'web', containerDefinitions: [container(c)], ...td });
const awsvpc = (td: Obj = {}, c: Obj = {}): Obj => ec2({ networkMode: 'awsvpc', ...td }, c);
const fargate = (td: Obj = {}, c: Obj = {}): Obj => ({
  family: 'web',
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  executionRoleArn: 'arn:aws:iam::000000000000:role/exec',
  containerDefinitions: [{ name: 'app', image: 'nginx', ...c }],
  ...td,
});
const two = (a: Obj, b: Obj, td: Obj = {}): Obj => ({
  family: 'web',
  containerDefinitions: [container({ name: 'a', ...a }), container({ name: 'b', ...b })],
  ...td,
});

/** The BerthError registering `input` throws, checked for `code` and for each fragment of its message. */
function rejects(input: Obj, code: ErrorCode, ...fragments: string[]): BerthError {
  const err = fails(() => prepareRegistration(input), code);
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

const body = (input: Obj) => prepareRegistration(input).body;
const firstContainer = (input: Obj) => body(input).containerDefinitions[0]!;

describe('reading the request (types, enums, required members)', () => {
  it('rejects a member of the wrong type as SerializationException naming its path', () => {
    rejects({ ...ec2(), family: 7 }, 'SerializationException', 'family');
    rejects(ec2({}, { cpu: '10' }), 'SerializationException', 'containerDefinitions[0].cpu');
    rejects(ec2({}, { memory: 1.5 }), 'SerializationException', 'containerDefinitions[0].memory');
    rejects(ec2({}, { restartPolicy: { enabled: true, ignoredExitCodes: ['1'] } }), 'SerializationException',
      'containerDefinitions[0].restartPolicy.ignoredExitCodes[0]');
    rejects(ec2({}, { dockerLabels: { team: 1 } }), 'SerializationException', 'containerDefinitions[0].dockerLabels.team');
    rejects(ec2({}, { portMappings: [80] }), 'SerializationException', 'containerDefinitions[0].portMappings[0]');
    rejects({ family: 'web', containerDefinitions: {} }, 'SerializationException', 'containerDefinitions');
  });

  it('drops members the model does not know and treats null as absent', () => {
    const c = firstContainer(ec2({ bogus: 1 }, { bogus: 2, memoryReservation: null }));
    expect(c).not.toHaveProperty('bogus');
    expect(c).not.toHaveProperty('memoryReservation');
    expect(body(ec2({ bogus: 1 }))).not.toHaveProperty('bogus');
  });

  it('rejects a value outside an enum as ClientException listing the valid values', () => {
    rejects(ec2({ networkMode: 'overlay' }), 'ClientException', "'networkMode'", 'bridge, host, awsvpc, none');
    rejects(ec2({ requiresCompatibilities: ['EC2', 'LAMBDA'] }), 'ClientException', "'requiresCompatibilities[1]'");
    rejects(ec2({}, { portMappings: [{ containerPort: 80, protocol: 'sctp' }] }), 'ClientException',
      "'containerDefinitions[0].portMappings[0].protocol'");
    rejects(ec2({}, { logConfiguration: { logDriver: 'none' } }), 'ClientException', "'containerDefinitions[0].logConfiguration.logDriver'");
    rejects(ec2({}, { ulimits: [{ name: 'files', softLimit: 1, hardLimit: 1 }] }), 'ClientException', "'containerDefinitions[0].ulimits[0].name'");
    rejects(ec2({ pidMode: 'container' }), 'ClientException', "'pidMode'");
    rejects(ec2({ ipcMode: 'shareable' }), 'ClientException', "'ipcMode'");
    rejects(ec2({ placementConstraints: [{ type: 'distinctInstance' }] }), 'ClientException', "'placementConstraints[0].type'");
    rejects(ec2({}, { linuxParameters: { devices: [{ hostPath: '/dev/x', permissions: ['exec'] }] } }), 'ClientException',
      "'containerDefinitions[0].linuxParameters.devices[0].permissions[0]'");
  });

  it("rejects a missing member the model requires, naming it", () => {
    rejects(ec2({}, { ulimits: [{ name: 'nofile', softLimit: 1 }] }), 'ClientException', 'containerDefinitions[0].ulimits[0].hardLimit is required');
    rejects(ec2({}, { healthCheck: { interval: 10 } }), 'ClientException', 'containerDefinitions[0].healthCheck.command is required');
    rejects(ec2({}, { secrets: [{ name: 'DB' }] }), 'ClientException', 'containerDefinitions[0].secrets[0].valueFrom is required');
    rejects(ec2({}, { dependsOn: [{ containerName: 'x' }] }), 'ClientException', 'containerDefinitions[0].dependsOn[0].condition is required');
    rejects(ec2({ ephemeralStorage: {} }), 'ClientException', 'ephemeralStorage.sizeInGiB is required');
    rejects(ec2({ volumes: [{ name: 'v', efsVolumeConfiguration: {} }] }), 'ClientException', 'volumes[0].efsVolumeConfiguration.fileSystemId is required');
  });
});

describe('family', () => {
  it('is required', () => {
    rejects({ containerDefinitions: [container()] }, 'ClientException', 'family');
    rejects(ec2({ family: '' }), 'ClientException', 'family');
  });

  it('allows up to 255 letters, numbers, underscores and hyphens', () => {
    expect(body(ec2({ family: 'My_app-2' })).family).toBe('My_app-2');
    expect(body(ec2({ family: 'f'.repeat(255) })).family).toHaveLength(255);
    rejects(ec2({ family: 'f'.repeat(256) }), 'ClientException', "'family'", '255');
    rejects(ec2({ family: 'my app' }), 'ClientException', "'family'");
    rejects(ec2({ family: 'web:1' }), 'ClientException', "'family'");
  });
});

describe('containerDefinitions', () => {
  it('needs 1 to 10 containers', () => {
    rejects({ family: 'web' }, 'ClientException', 'Container list cannot be empty', 'containerDefinitions');
    rejects({ family: 'web', containerDefinitions: [] }, 'ClientException', 'Container list cannot be empty');
    const many = (n: number) => ({ family: 'web', containerDefinitions: Array.from({ length: n }, (_, i) => container({ name: `c${i}` })) });
    expect(body(many(10)).containerDefinitions).toHaveLength(10);
    rejects(many(11), 'ClientException', 'Too many containers', 'containerDefinitions has 11');
  });

  it('needs a valid, unique name for each container', () => {
    rejects(ec2({}, { name: undefined }), 'ClientException', 'Container.name should not be null or empty', 'containerDefinitions[0].name');
    rejects(ec2({}, { name: 'app.v2' }), 'ClientException', "'containerDefinitions[0].name'");
    rejects(two({ name: 'x' }, { name: 'x' }), 'ClientException', 'Container names must be unique', 'containerDefinitions[1].name');
    expect(firstContainer(ec2({}, { name: 'A_b-9' })).name).toBe('A_b-9');
  });

  it('needs an image, with the allowed characters and a sha256 digest if any', () => {
    rejects(ec2({}, { image: undefined }), 'ClientException', 'Container.image should not be null or empty', 'containerDefinitions[0].image');
    rejects(ec2({}, { image: '' }), 'ClientException', 'containerDefinitions[0].image');
    rejects(ec2({}, { image: 'nginx latest' }), 'ClientException', "'containerDefinitions[0].image'");
    rejects(ec2({}, { image: `${'r'.repeat(256)}:1` }), 'ClientException', "'containerDefinitions[0].image'");
    rejects(ec2({}, { image: 'nginx@md5:abc' }), 'ClientException', "'containerDefinitions[0].image'", 'sha256');
    const digest = `sha256:${'a1'.repeat(32)}`;
    expect(firstContainer(ec2({}, { image: `localhost:5000/team/app@${digest}` })).image).toContain(digest);
    expect(firstContainer(ec2({}, { image: 'quay.io/org/app:1.2#build' })).image).toBe('quay.io/org/app:1.2#build');
  });

  it('needs at least one essential container; essential defaults to true', () => {
    expect(firstContainer(ec2()).essential).toBe(true);
    rejects(ec2({}, { essential: false }), 'ClientException', 'at least one essential container', 'essential');
    const b = body(two({ essential: false }, {}));
    expect(b.containerDefinitions.map((c) => c.essential)).toEqual([false, true]);
  });
});

describe('container cpu and memory', () => {
  it('rejects negative cpu units', () => {
    rejects(ec2({}, { cpu: -1 }), 'ClientException', "Invalid 'cpu' setting for container 'app'", 'containerDefinitions[0].cpu');
    expect(firstContainer(ec2({}, { cpu: 0 })).cpu).toBe(0);
  });

  it('needs at least 6 MiB in memory and memoryReservation', () => {
    rejects(ec2({}, { memory: 5 }), 'ClientException', "Invalid 'memory' setting for container 'app'", 'containerDefinitions[0].memory', '6 MiB');
    rejects(ec2({}, { memory: undefined, memoryReservation: 4 }), 'ClientException', 'containerDefinitions[0].memoryReservation');
    expect(firstContainer(ec2({}, { memory: 6 })).memory).toBe(6);
  });

  it('needs memory >= memoryReservation when both are set', () => {
    rejects(ec2({}, { memory: 128, memoryReservation: 256 }), 'ClientException',
      "'memory' must be greater than or equal to 'memoryReservation'", 'containerDefinitions[0].memory');
    expect(firstContainer(ec2({}, { memory: 128, memoryReservation: 128 })).memoryReservation).toBe(128);
  });

  it('on EC2 needs memory or memoryReservation in every container unless the task sets memory', () => {
    rejects(ec2({}, { memory: undefined }), 'ClientException',
      "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified.", 'containerDefinitions[0]');
    rejects(ec2({ requiresCompatibilities: ['EXTERNAL'] }, { memory: undefined }), 'ClientException', "'memoryReservation'");
    expect(firstContainer(ec2({}, { memory: undefined, memoryReservation: 64 })).memoryReservation).toBe(64);
    expect(firstContainer(ec2({ memory: '512' }, { memory: undefined })).memory).toBeUndefined();
    expect(firstContainer(fargate()).memory).toBeUndefined();
  });

  it('keeps each container within the task memory, and the reservations within it in sum', () => {
    rejects(ec2({ memory: '512' }, { memory: 1024 }), 'ClientException', "The 'memory' setting for container 'app' is greater than for the task",
      'containerDefinitions[0].memory');
    rejects(two({ memory: 300 }, { memory: 300 }, { memory: '512' }), 'ClientException',
      "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.");
    // The reservation, not the hard limit, is what a container takes from the task.
    expect(body(two({ memory: 400, memoryReservation: 256 }, { memory: 400, memoryReservation: 256 }, { memory: '512' })).memory).toBe('512');
  });

  it('keeps container cpu within the task cpu, each and in sum', () => {
    rejects(ec2({ cpu: '256' }, { cpu: 512 }), 'ClientException', "The 'cpu' setting for container 'app' is greater than for the task",
      'containerDefinitions[0].cpu');
    rejects(two({ cpu: 200 }, { cpu: 200 }, { cpu: '256' }), 'ClientException', "The sum of all container 'cpu' values");
    expect(body(two({ cpu: 128 }, { cpu: 128 }, { cpu: '256' })).cpu).toBe('256');
  });
});

describe('task cpu and memory', () => {
  it('accepts CPU units or vCPUs and stores CPU units', () => {
    expect(body(ec2({ cpu: '1 vCPU' })).cpu).toBe('1024');
    expect(body(ec2({ cpu: '0.25 vcpu' })).cpu).toBe('256');
    expect(body(ec2({ cpu: '2vCPU' })).cpu).toBe('2048');
    expect(body(ec2({ cpu: '512' })).cpu).toBe('512');
    expect(body(ec2()).cpu).toBeUndefined();
  });

  it('accepts MiB or GB and stores MiB', () => {
    expect(body(ec2({ memory: '2 GB' })).memory).toBe('2048');
    expect(body(ec2({ memory: '0.5GB' })).memory).toBe('512');
    expect(body(ec2({ memory: '3072' })).memory).toBe('3072');
  });

  it("rejects other forms with ECS's messages", () => {
    rejects(ec2({ cpu: 'lots' }), 'ClientException', "Invalid 'cpu' setting for task.", "cpu 'lots'");
    rejects(ec2({ cpu: '64' }), 'ClientException', "Invalid 'cpu' setting for task.", '128');
    rejects(ec2({ cpu: '200000' }), 'ClientException', "Invalid 'cpu' setting for task.", '196608');
    rejects(ec2({ cpu: '0.3 vCPU' }), 'ClientException', "Invalid 'cpu' setting for task.");
    rejects(ec2({ memory: '2 TB' }), 'ClientException', "Invalid 'memory' setting for task.", "memory '2 TB'");
    rejects(ec2({ memory: '0' }), 'ClientException', "Invalid 'memory' setting for task.");
  });

  it('parses the two forms exactly', () => {
    expect(parseTaskCpu(' 4 vCPU ')).toBe(4096);
    expect(parseTaskCpu('0.125 VCPU')).toBe(128);
    expect(parseTaskCpu('0.3 vCPU')).toBeUndefined();
    expect(parseTaskCpu('1 cpu')).toBeUndefined();
    expect(parseTaskMemory('1GB')).toBe(1024);
    expect(parseTaskMemory('1.5 gb')).toBe(1536);
    expect(parseTaskMemory('1 MiB')).toBeUndefined();
    expect(parseTaskMemory('-5')).toBeUndefined();
  });
});

describe('requiresCompatibilities and Fargate', () => {
  it('accepts a Fargate definition and computes EC2 + FARGATE', () => {
    const b = body(fargate());
    expect(b.requiresCompatibilities).toEqual(['FARGATE']);
    expect(b.compatibilities).toEqual(['EC2', 'FARGATE']);
    expect(b.networkMode).toBe('awsvpc');
  });

  it('lists FARGATE when a definition validates for it even unasked, and only EC2 otherwise', () => {
    expect(body(fargate({ requiresCompatibilities: undefined })).compatibilities).toEqual(['EC2', 'FARGATE']);
    expect(body(ec2()).compatibilities).toEqual(['EC2']);
    expect(body(ec2({ requiresCompatibilities: ['EXTERNAL', 'EXTERNAL'] })).compatibilities).toEqual(['EC2', 'EXTERNAL']);
    expect(body(ec2({ requiresCompatibilities: ['EXTERNAL', 'EXTERNAL'] })).requiresCompatibilities).toEqual(['EXTERNAL']);
    expect(body(ec2({ requiresCompatibilities: ['MANAGED_INSTANCES'] })).compatibilities).toEqual(['EC2', 'MANAGED_INSTANCES']);
  });

  it('needs awsvpc, task cpu and task memory', () => {
    rejects(fargate({ networkMode: 'bridge' }), 'ClientException', "Fargate only supports network mode 'awsvpc'.", 'networkMode');
    rejects(fargate({ networkMode: undefined }), 'ClientException', "Fargate only supports network mode 'awsvpc'.");
    rejects(fargate({ cpu: undefined }), 'ClientException', "Fargate requires that 'cpu' be defined at the task level.");
    rejects(fargate({ memory: undefined }), 'ClientException', "Fargate requires that 'memory' be defined at the task level.");
  });

  it("accepts exactly Fargate's cpu/memory combinations", () => {
    for (const [cpu, memories] of FARGATE_TASK_SIZES) {
      for (const memory of memories) expect(body(fargate({ cpu: String(cpu), memory: String(memory) })).memory).toBe(String(memory));
    }
    expect([...FARGATE_TASK_SIZES.get(512)!]).toEqual([1024, 2048, 3072, 4096]);
    expect(FARGATE_TASK_SIZES.get(8192)).toContain(20480);
    expect(FARGATE_TASK_SIZES.get(16384)).toContain(122880);
    expect(body(fargate({ cpu: '0.25 vCPU', memory: '1 GB' })).cpu).toBe('256');
  });

  it.each([
    ['300', '512', "Invalid 'cpu' setting for task."],
    ['128', '512', "Invalid 'cpu' setting for task."],
    ['256', '4096', "Invalid 'memory' setting for task."],
    ['512', '5120', "Invalid 'memory' setting for task."],
    ['1024', '1024', "Invalid 'memory' setting for task."],
    ['4096', '31744', "Invalid 'memory' setting for task."],
    ['8192', '18432', "Invalid 'memory' setting for task."],
    ['16384', '36864', "Invalid 'memory' setting for task."],
  ])('rejects cpu %s with memory %s', (cpu, memory, message) => {
    rejects(fargate({ cpu, memory }), 'ClientException', message);
  });

  it('needs at least 1 vCPU for Windows containers', () => {
    const windows = { runtimePlatform: { operatingSystemFamily: 'WINDOWS_SERVER_2022_CORE' } };
    rejects(fargate({ ...windows, cpu: '512', memory: '1024' }), 'ClientException', "Invalid 'cpu' setting for task.", 'Windows');
    expect(body(fargate({ ...windows, cpu: '1024', memory: '2048' })).runtimePlatform).toEqual(windows.runtimePlatform);
  });

  it.each<[string, Obj, Obj, string]>([
    ['privileged', {}, { privileged: true }, 'containerDefinitions[0].privileged'],
    ['disableNetworking', {}, { disableNetworking: true }, 'containerDefinitions[0].disableNetworking'],
    ['dnsServers', {}, { dnsServers: ['10.0.0.2'] }, 'containerDefinitions[0].dnsServers'],
    ['dnsSearchDomains', {}, { dnsSearchDomains: ['corp'] }, 'containerDefinitions[0].dnsSearchDomains'],
    ['dockerSecurityOptions', {}, { dockerSecurityOptions: ['no-new-privileges'] }, 'containerDefinitions[0].dockerSecurityOptions'],
    ['devices', {}, { linuxParameters: { devices: [{ hostPath: '/dev/fuse' }] } }, 'containerDefinitions[0].linuxParameters.devices'],
    ['sharedMemorySize', {}, { linuxParameters: { sharedMemorySize: 64 } }, 'linuxParameters.sharedMemorySize'],
    ['tmpfs', {}, { linuxParameters: { tmpfs: [{ containerPath: '/t', size: 8 }] } }, 'linuxParameters.tmpfs'],
    ['maxSwap', {}, { linuxParameters: { maxSwap: 0 } }, 'linuxParameters.maxSwap'],
    ['swappiness', {}, { linuxParameters: { swappiness: 10 } }, 'linuxParameters.swappiness'],
    ['capabilities.add', {}, { linuxParameters: { capabilities: { add: ['NET_ADMIN'] } } }, "capabilities.add 'NET_ADMIN'"],
    ['GPU', {}, { resourceRequirements: [{ type: 'GPU', value: '1' }] }, 'resourceRequirements GPU'],
    ['json-file logs', {}, { logConfiguration: { logDriver: 'json-file' } }, "logDriver 'json-file'"],
    ['host volumes with sourcePath', { volumes: [{ name: 'v', host: { sourcePath: '/data' } }] }, {}, 'volumes[0].host.sourcePath'],
    ['docker volumes', { volumes: [{ name: 'v', dockerVolumeConfiguration: { scope: 'task' } }] }, {}, 'volumes[0].dockerVolumeConfiguration'],
    ['placement constraints', { placementConstraints: [{ type: 'memberOf', expression: 'attribute:x == y' }] }, {}, 'placementConstraints'],
    ['ipcMode', { ipcMode: 'task' }, {}, 'ipcMode'],
    ['pidMode host', { pidMode: 'host' }, {}, "pidMode 'host'"],
    ['inferenceAccelerators', { inferenceAccelerators: [{ deviceName: 'd', deviceType: 'eia2.medium' }] }, {}, 'inferenceAccelerators'],
  ])('rejects %s', (_what, td, c, field) => {
    rejects(fargate(td, c), 'ClientException', field, 'not supported on Fargate');
  });

  it('accepts what Fargate does support', () => {
    const b = body(fargate({ pidMode: 'task', volumes: [{ name: 'scratch', host: {} }] }, {
      linuxParameters: { capabilities: { add: ['SYS_PTRACE'], drop: ['NET_RAW'] }, initProcessEnabled: true },
      logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': 'g' } },
      mountPoints: [{ sourceVolume: 'scratch', containerPath: '/scratch' }],
      stopTimeout: 120,
    }));
    expect(b.compatibilities).toEqual(['EC2', 'FARGATE']);
  });

  it('needs an execution role for awslogs', () => {
    rejects(fargate({ executionRoleArn: undefined }, { logConfiguration: { logDriver: 'awslogs' } }), 'ClientException',
      'Fargate requires task definition to have execution role ARN to support log driver awslogs.', 'containerDefinitions[0].logConfiguration');
  });

  it('allows start and stop timeouts of 2-120 seconds', () => {
    rejects(fargate({}, { stopTimeout: 121 }), 'ClientException', "'containerDefinitions[0].stopTimeout'", '2-120');
    rejects(fargate({}, { startTimeout: 1 }), 'ClientException', "'containerDefinitions[0].startTimeout'");
    expect(firstContainer(ec2({}, { stopTimeout: 600 })).stopTimeout).toBe(600);
  });

  it('rejects awsvpc for EXTERNAL', () => {
    rejects(awsvpc({ requiresCompatibilities: ['EXTERNAL'] }), 'ClientException', "'networkMode'", 'EXTERNAL');
  });
});

describe('network modes and port mappings', () => {
  it('defaults to bridge without echoing networkMode', () => {
    const b = body(ec2());
    expect(b).not.toHaveProperty('networkMode');
    expect(effectiveNetworkMode(b)).toBe('bridge');
    expect(effectiveNetworkMode(body(awsvpc()))).toBe('awsvpc');
  });

  it('in awsvpc and host, needs hostPort equal to containerPort and fills it in', () => {
    rejects(awsvpc({}, { portMappings: [{ containerPort: 80, hostPort: 8080 }] }), 'ClientException',
      'When networkMode=awsvpc, the host ports and container ports in port mappings must match.', 'containerDefinitions[0].portMappings[0]');
    rejects(ec2({ networkMode: 'host' }, { portMappings: [{ containerPort: 80, hostPort: 8080 }] }), 'ClientException',
      'When networkMode=host, the host ports and container ports in port mappings must match.');
    expect(firstContainer(awsvpc({}, { portMappings: [{ containerPort: 80 }] })).portMappings).toEqual([
      { containerPort: 80, hostPort: 80, protocol: 'tcp' },
    ]);
    expect(firstContainer(ec2({ networkMode: 'host' }, { portMappings: [{ containerPort: 53, hostPort: 53, protocol: 'udp' }] })).portMappings)
      .toEqual([{ containerPort: 53, hostPort: 53, protocol: 'udp' }]);
  });

  it('in bridge, keeps a static hostPort and echoes 0 for a dynamic one', () => {
    expect(firstContainer(ec2({}, { portMappings: [{ containerPort: 80 }, { containerPort: 443, hostPort: 8443 }] })).portMappings).toEqual([
      { containerPort: 80, hostPort: 0, protocol: 'tcp' },
      { containerPort: 443, hostPort: 8443, protocol: 'tcp' },
    ]);
  });

  it('in none, allows no port mappings', () => {
    rejects(ec2({ networkMode: 'none' }, { portMappings: [{ containerPort: 80 }] }), 'ClientException',
      'Port mappings are not supported when networkMode=none.', 'containerDefinitions[0].portMappings');
    expect(firstContainer(ec2({ networkMode: 'none' }, { portMappings: [] })).portMappings).toEqual([]);
  });

  it('bounds containerPort to 1-65535 and hostPort to 0-65535', () => {
    const port = (pm: Obj) => ec2({}, { portMappings: [pm] });
    rejects(port({ hostPort: 80 }), 'ClientException', "Invalid 'containerPort' setting for container 'app'.", 'portMappings[0].containerPort', 'required');
    rejects(port({ containerPort: 0 }), 'ClientException', "Invalid 'containerPort' setting", 'got 0');
    rejects(port({ containerPort: 65536 }), 'ClientException', "Invalid 'containerPort' setting");
    rejects(port({ containerPort: 80, hostPort: -1 }), 'ClientException', "Invalid 'hostPort' setting", 'portMappings[0].hostPort');
    rejects(port({ containerPort: 80, hostPort: 65536 }), 'ClientException', "Invalid 'hostPort' setting");
    expect(firstContainer(port({ containerPort: 65535, hostPort: 65535 })).portMappings[0]!.hostPort).toBe(65535);
  });

  it('checks port mapping names as Service Connect does', () => {
    rejects(awsvpc({}, { portMappings: [{ containerPort: 80, name: '-web' }] }), 'ClientException', "'containerDefinitions[0].portMappings[0].name'");
    rejects(awsvpc({}, { portMappings: [{ containerPort: 80, name: 'Web' }] }), 'ClientException', 'portMappings[0].name');
    rejects(awsvpc({}, { portMappings: [{ containerPort: 80, name: 'p'.repeat(65) }] }), 'ClientException', 'portMappings[0].name');
    expect(firstContainer(awsvpc({}, { portMappings: [{ containerPort: 80, name: 'web_http-1', appProtocol: 'http' }] })).portMappings[0])
      .toEqual({ containerPort: 80, hostPort: 80, protocol: 'tcp', name: 'web_http-1', appProtocol: 'http' });
  });

  describe('containerPortRange', () => {
    const ranged = (pms: Obj[], td: Obj = {}) => ec2(td, { portMappings: pms });

    it('accepts FIRST-LAST in bridge and awsvpc, without a hostPort', () => {
      expect(firstContainer(ranged([{ containerPortRange: '8000-8010' }])).portMappings).toEqual([
        { containerPortRange: '8000-8010', protocol: 'tcp' },
      ]);
      expect(firstContainer(ranged([{ containerPortRange: '1-65535', protocol: 'udp' }], { networkMode: 'awsvpc' })).portMappings)
        .toEqual([{ containerPortRange: '1-65535', protocol: 'udp' }]);
    });

    it.each<[string, Obj, Obj, string]>([
      ['host mode', { containerPortRange: '8000-8010' }, { networkMode: 'host' }, 'bridge or awsvpc'],
      ['with containerPort', { containerPortRange: '8000-8010', containerPort: 8000 }, {}, 'both containerPort and containerPortRange'],
      ['with hostPort', { containerPortRange: '8000-8010', hostPort: 8000 }, {}, "Invalid 'hostPort' setting"],
      ['reversed', { containerPortRange: '8010-8000' }, {}, "'8010-8000'"],
      ['equal ends', { containerPortRange: '8000-8000' }, {}, "'8000-8000'"],
      ['port 0', { containerPortRange: '0-10' }, {}, "'0-10'"],
      ['above 65535', { containerPortRange: '65000-65536' }, {}, "'65000-65536'"],
      ['not a range', { containerPortRange: '8000' }, {}, "'8000'"],
    ])('rejects %s', (_what, pm, td, fragment) => {
      rejects(ranged([pm], td), 'ClientException', 'containerDefinitions[0].portMappings[0]', fragment);
    });

    it('rejects overlapping ranges and a port already in a range', () => {
      rejects(ranged([{ containerPortRange: '8000-8010' }, { containerPortRange: '8010-8020' }]), 'ClientException',
        'portMappings[1] and containerDefinitions[0].portMappings[0] overlap');
      rejects(ranged([{ containerPortRange: '8000-8010' }, { containerPort: 8005 }]), 'ClientException', 'overlap');
      expect(firstContainer(ranged([{ containerPortRange: '8000-8010' }, { containerPortRange: '8000-8010', protocol: 'udp' }])).portMappings)
        .toHaveLength(2);
    });

    it('allows at most 100 ranges per container', () => {
      const pms = (n: number) => Array.from({ length: n }, (_, i) => ({ containerPortRange: `${10000 + i * 10}-${10000 + i * 10 + 5}` }));
      expect(firstContainer(ranged(pms(100))).portMappings).toHaveLength(100);
      rejects(ranged(pms(101)), 'ClientException', 'containerDefinitions[0].portMappings has 101 port ranges');
    });
  });

  it('rejects a host port mapped twice in the task, per protocol', () => {
    rejects(two({ portMappings: [{ containerPort: 80, hostPort: 8080 }] }, { portMappings: [{ containerPort: 81, hostPort: 8080 }] }),
      'ClientException', "TCP host port '8080' is mapped multiple times in task.", 'containerDefinitions[1].portMappings[0]');
    rejects(two({ portMappings: [{ containerPort: 80 }] }, { portMappings: [{ containerPort: 80 }] }, { networkMode: 'awsvpc' }),
      'ClientException', "TCP host port '80' is mapped multiple times in task.");
    rejects(two({ portMappings: [{ containerPortRange: '9000-9100', protocol: 'udp' }] }, { portMappings: [{ containerPort: 9050, protocol: 'udp' }] },
      { networkMode: 'awsvpc' }), 'ClientException', "UDP host port '9050' is mapped multiple times in task.");
    // Dynamic ports (0) never collide; the same port over tcp and udp does not either.
    expect(body(two({ portMappings: [{ containerPort: 80 }] }, { portMappings: [{ containerPort: 80 }] })).containerDefinitions).toHaveLength(2);
    expect(body(two({ portMappings: [{ containerPort: 53, hostPort: 53 }] }, { portMappings: [{ containerPort: 53, hostPort: 53, protocol: 'udp' }] }))
      .containerDefinitions).toHaveLength(2);
  });

  it('allows links only in bridge mode, to other containers', () => {
    rejects(two({ links: ['b'] }, {}, { networkMode: 'awsvpc' }), 'ClientException', 'Links are not supported when networkMode=awsvpc.',
      'containerDefinitions[0].links');
    rejects(two({ links: ['b'] }, {}, { networkMode: 'host' }), 'ClientException', 'Links are not supported when networkMode=host.');
    rejects(two({ links: ['c'] }, {}), 'ClientException', "'containerDefinitions[0].links[0]'", 'another container');
    rejects(two({ links: ['a'] }, {}), 'ClientException', "'containerDefinitions[0].links[0]'");
    rejects(two({ links: ['b:x:y'] }, {}), 'ClientException', "'containerDefinitions[0].links[0]'");
    expect(body(two({ links: ['b:database'] }, {})).containerDefinitions[0]!.links).toEqual(['b:database']);
  });

  it('rejects hostname and extraHosts in awsvpc mode', () => {
    rejects(awsvpc({}, { hostname: 'web' }), 'ClientException', "'hostname'", 'awsvpc', 'containerDefinitions[0].hostname');
    rejects(awsvpc({}, { extraHosts: [{ hostname: 'db', ipAddress: '10.0.0.5' }] }), 'ClientException', "'extraHosts'", 'containerDefinitions[0].extraHosts');
    expect(firstContainer(ec2({}, { hostname: 'web', extraHosts: [{ hostname: 'db', ipAddress: '10.0.0.5' }] })).hostname).toBe('web');
  });
});

describe('volumes, mount points and volumesFrom', () => {
  const vol = (volumes: Obj[], c: Obj = {}) => ec2({ volumes }, c);

  it('needs mountPoints to name a volume of the task definition', () => {
    rejects(vol([], { mountPoints: [{ sourceVolume: 'data', containerPath: '/data' }] }), 'ClientException',
      "Invalid 'mountPoints' setting for container 'app'", "containerDefinitions[0].mountPoints[0].sourceVolume 'data'");
    rejects(vol([{ name: 'data' }], { mountPoints: [{ containerPath: '/data' }] }), 'ClientException', 'containerDefinitions[0].mountPoints[0].sourceVolume is required');
    rejects(vol([{ name: 'data' }], { mountPoints: [{ sourceVolume: 'data' }] }), 'ClientException', 'containerDefinitions[0].mountPoints[0].containerPath is required');
    const c = firstContainer(vol([{ name: 'data', host: { sourcePath: '/srv' } }], { mountPoints: [{ sourceVolume: 'data', containerPath: '/data', readOnly: true }] }));
    expect(c.mountPoints).toEqual([{ sourceVolume: 'data', containerPath: '/data', readOnly: true }]);
  });

  it('needs unique, valid volume names', () => {
    rejects(vol([{ name: 'data' }, { name: 'data' }]), 'ClientException', 'Volume names must be unique', 'volumes[1].name');
    rejects(vol([{ name: 'my data' }]), 'ClientException', "'volumes[0].name'");
    expect(body(vol([{ name: 'a' }, { name: 'b', host: {} }])).volumes).toEqual([{ name: 'a' }, { name: 'b', host: {} }]);
  });

  it('allows one kind per volume and names EFS volumes', () => {
    rejects(vol([{ name: 'v', host: {}, dockerVolumeConfiguration: {} }]), 'ClientException', "'volumes[0]'", 'host and dockerVolumeConfiguration');
    rejects(vol([{ efsVolumeConfiguration: { fileSystemId: 'fs-1' } }]), 'ClientException', 'volumes[0].name is required');
  });

  it('applies the EFS authorization rules', () => {
    rejects(vol([{ name: 'v', efsVolumeConfiguration: { fileSystemId: 'fs-1', authorizationConfig: { iam: 'ENABLED' } } }]),
      'ClientException', "'volumes[0].efsVolumeConfiguration.transitEncryption'");
    rejects(vol([{ name: 'v', efsVolumeConfiguration: {
      fileSystemId: 'fs-1', transitEncryption: 'ENABLED', rootDirectory: '/data', authorizationConfig: { accessPointId: 'fsap-1' },
    } }]), 'ClientException', "'volumes[0].efsVolumeConfiguration.rootDirectory'");
    rejects(vol([{ name: 'v', efsVolumeConfiguration: { fileSystemId: 'fs-1', transitEncryptionPort: 70000 } }]), 'ClientException',
      'volumes[0].efsVolumeConfiguration.transitEncryptionPort');
    expect(body(vol([{ name: 'v', efsVolumeConfiguration: {
      fileSystemId: 'fs-1', transitEncryption: 'ENABLED', authorizationConfig: { accessPointId: 'fsap-1', iam: 'ENABLED' },
    } }])).volumes).toHaveLength(1);
  });

  it('allows autoprovision only for shared docker volumes, and one volume configured at launch', () => {
    rejects(vol([{ name: 'v', dockerVolumeConfiguration: { scope: 'task', autoprovision: true } }]), 'ClientException',
      "'volumes[0].dockerVolumeConfiguration.autoprovision'");
    expect(body(vol([{ name: 'v', dockerVolumeConfiguration: { scope: 'shared', autoprovision: true, driver: 'local' } }])).volumes).toHaveLength(1);
    rejects(vol([{ name: 'a', configuredAtLaunch: true }, { name: 'b', configuredAtLaunch: true }]), 'ClientException', "'volumes[1].configuredAtLaunch'");
  });

  it('needs volumesFrom to name another container', () => {
    rejects(two({ volumesFrom: [{ sourceContainer: 'c' }] }, {}), 'ClientException', "Invalid 'volumesFrom' setting for container 'a'",
      'containerDefinitions[0].volumesFrom[0].sourceContainer');
    rejects(two({ volumesFrom: [{ sourceContainer: 'a' }] }, {}), 'ClientException', 'containerDefinitions[0].volumesFrom[0].sourceContainer');
    rejects(two({ volumesFrom: [{}] }, {}), 'ClientException', 'containerDefinitions[0].volumesFrom[0].sourceContainer is required');
    expect(body(two({ volumesFrom: [{ sourceContainer: 'b', readOnly: true }] }, {})).containerDefinitions[0]!.volumesFrom)
      .toEqual([{ sourceContainer: 'b', readOnly: true }]);
  });
});

describe('dependsOn', () => {
  const healthCheck = { command: ['CMD', 'true'] };

  it('needs another existing container', () => {
    rejects(two({ dependsOn: [{ containerName: 'c', condition: 'START' }] }, {}), 'ClientException',
      "Invalid 'dependsOn' setting for container 'a'", 'containerDefinitions[0].dependsOn[0].containerName');
    rejects(two({ dependsOn: [{ containerName: 'a', condition: 'START' }] }, {}), 'ClientException', 'containerDefinitions[0].dependsOn[0]');
  });

  it('allows HEALTHY only on a container with a health check', () => {
    rejects(two({ dependsOn: [{ containerName: 'b', condition: 'HEALTHY' }] }, {}), 'ClientException', 'HEALTHY', 'healthCheck',
      'containerDefinitions[0].dependsOn[0]');
    const b = body(two({ dependsOn: [{ containerName: 'b', condition: 'HEALTHY' }] }, { healthCheck }));
    expect(b.containerDefinitions[0]!.dependsOn).toEqual([{ containerName: 'b', condition: 'HEALTHY' }]);
  });

  it('allows COMPLETE and SUCCESS only on a non-essential container', () => {
    rejects(two({ dependsOn: [{ containerName: 'b', condition: 'SUCCESS' }] }, {}), 'ClientException',
      'A dependency container with SUCCESS or COMPLETE condition cannot be an essential container.', 'containerDefinitions[0].dependsOn[0]');
    rejects(two({ dependsOn: [{ containerName: 'b', condition: 'COMPLETE' }] }, { essential: true }), 'ClientException', 'cannot be an essential');
    expect(body(two({ dependsOn: [{ containerName: 'b', condition: 'COMPLETE' }] }, { essential: false })).containerDefinitions).toHaveLength(2);
  });

  it('rejects an unknown condition', () => {
    rejects(two({ dependsOn: [{ containerName: 'b', condition: 'READY' }] }, {}), 'ClientException', "'containerDefinitions[0].dependsOn[0].condition'");
  });

  it('rejects cycles, naming them', () => {
    rejects(two({ dependsOn: [{ containerName: 'b', condition: 'START' }] }, { dependsOn: [{ containerName: 'a', condition: 'START' }] }),
      'ClientException', 'cycle', 'a -> b -> a');
    const three = {
      family: 'web',
      containerDefinitions: [
        container({ name: 'a', dependsOn: [{ containerName: 'b', condition: 'START' }] }),
        container({ name: 'b', dependsOn: [{ containerName: 'c', condition: 'START' }] }),
        container({ name: 'c', dependsOn: [{ containerName: 'b', condition: 'START' }] }),
      ],
    };
    rejects(three, 'ClientException', 'b -> c -> b');
    const chain = { ...three, containerDefinitions: three.containerDefinitions.slice(0, 2).concat(container({ name: 'c' })) };
    expect(body(chain).containerDefinitions).toHaveLength(3);
  });
});

describe('healthCheck', () => {
  const hc = (h: Obj) => ec2({}, { healthCheck: { command: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], ...h } });

  it('needs a command starting with CMD, CMD-SHELL or NONE', () => {
    rejects(hc({ command: ['curl', 'localhost'] }), 'ClientException', "'containerDefinitions[0].healthCheck.command'", "got 'curl'");
    rejects(hc({ command: [] }), 'ClientException', "'containerDefinitions[0].healthCheck.command'");
    rejects(hc({ command: ['CMD-SHELL'] }), 'ClientException', "'containerDefinitions[0].healthCheck.command'", 'program to run');
    expect(firstContainer(hc({ command: ['NONE'] })).healthCheck!.command).toEqual(['NONE']);
    expect(firstContainer(hc({ command: ['CMD', '/bin/check', '--fast'] })).healthCheck!.command).toHaveLength(3);
  });

  it.each<[string, number, boolean]>([
    ['interval', 4, false], ['interval', 5, true], ['interval', 300, true], ['interval', 301, false],
    ['timeout', 1, false], ['timeout', 2, true], ['timeout', 120, true], ['timeout', 121, false],
    ['retries', 0, false], ['retries', 1, true], ['retries', 10, true], ['retries', 11, false],
    ['startPeriod', -1, false], ['startPeriod', 0, true], ['startPeriod', 300, true], ['startPeriod', 301, false],
  ])('bounds %s (%d → %s)', (field, value, ok) => {
    if (ok) expect(firstContainer(hc({ [field]: value })).healthCheck![field as 'interval']).toBe(value);
    else rejects(hc({ [field]: value }), 'ClientException', `'containerDefinitions[0].healthCheck.${field}'`);
  });

  it('echoes the defaults ECS fills in (interval 30, timeout 5, retries 3) and leaves startPeriod off', () => {
    expect(firstContainer(hc({})).healthCheck).toEqual({
      command: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], interval: 30, timeout: 5, retries: 3,
    });
  });
});

describe('environment, secrets, ulimits, logging', () => {
  it('needs environment variable names without =', () => {
    rejects(ec2({}, { environment: [{ value: 'x' }] }), 'ClientException', 'containerDefinitions[0].environment[0].name is required');
    rejects(ec2({}, { environment: [{ name: 'A=B', value: 'x' }] }), 'ClientException', "'containerDefinitions[0].environment[0].name'");
    expect(firstContainer(ec2({}, { environment: [{ name: 'MODE', value: 'prod' }, { name: 'EMPTY' }] })).environment)
      .toEqual([{ name: 'MODE', value: 'prod' }, { name: 'EMPTY' }]);
  });

  it('allows up to 10 .env environment files', () => {
    const file = (i: number) => ({ type: 's3', value: `arn:aws:s3:::bucket/${i}.env` });
    expect(firstContainer(ec2({}, { environmentFiles: Array.from({ length: 10 }, (_, i) => file(i)) })).environmentFiles).toHaveLength(10);
    rejects(ec2({}, { environmentFiles: Array.from({ length: 11 }, (_, i) => file(i)) }), 'ClientException', "'containerDefinitions[0].environmentFiles'");
    rejects(ec2({}, { environmentFiles: [{ type: 's3', value: 'arn:aws:s3:::bucket/app.txt' }] }), 'ClientException',
      "'containerDefinitions[0].environmentFiles[0].value'", '.env');
  });

  it('sets each ulimit once, with softLimit <= hardLimit', () => {
    const u = (name: string, softLimit: number, hardLimit: number) => ({ name, softLimit, hardLimit });
    rejects(ec2({}, { ulimits: [u('nofile', 10, 10), u('nofile', 20, 20)] }), 'ClientException', "'containerDefinitions[0].ulimits[1].name'");
    rejects(ec2({}, { ulimits: [u('nofile', 20, 10)] }), 'ClientException', "'containerDefinitions[0].ulimits[0]'", 'softLimit 20');
    expect(firstContainer(ec2({}, { ulimits: [u('nofile', 1024, 4096), u('core', 0, 0)] })).ulimits).toHaveLength(2);
  });

  it('needs a log router container for awsfirelens', () => {
    rejects(ec2({}, { logConfiguration: { logDriver: 'awsfirelens' } }), 'ClientException',
      "Invalid 'logConfiguration' setting for container 'app'", 'firelensConfiguration');
    const b = body(two({ logConfiguration: { logDriver: 'awsfirelens', options: { Name: 'stdout' } } }, { firelensConfiguration: { type: 'fluentbit' } }));
    expect(b.containerDefinitions[1]!.firelensConfiguration).toEqual({ type: 'fluentbit' });
  });
});

describe('linuxParameters and other container settings', () => {
  const lp = (p: Obj) => ec2({}, { linuxParameters: p });

  it('checks linuxParameters values', () => {
    rejects(lp({ capabilities: { add: ['FLY'] } }), 'ClientException', "'containerDefinitions[0].linuxParameters.capabilities.add[0]'");
    rejects(lp({ capabilities: { drop: ['net_raw'] } }), 'ClientException', "'containerDefinitions[0].linuxParameters.capabilities.drop[0]'");
    rejects(lp({ tmpfs: [{ containerPath: '/t', size: 0 }] }), 'ClientException', "'containerDefinitions[0].linuxParameters.tmpfs[0].size'");
    rejects(lp({ sharedMemorySize: 0 }), 'ClientException', "'containerDefinitions[0].linuxParameters.sharedMemorySize'");
    rejects(lp({ maxSwap: -1 }), 'ClientException', "'containerDefinitions[0].linuxParameters.maxSwap'");
    rejects(lp({ swappiness: 101 }), 'ClientException', "'containerDefinitions[0].linuxParameters.swappiness'");
    expect(firstContainer(lp({ capabilities: { add: ['NET_ADMIN'] }, maxSwap: 0, swappiness: 0, sharedMemorySize: 64 })).linuxParameters)
      .toEqual({ capabilities: { add: ['NET_ADMIN'] }, maxSwap: 0, swappiness: 0, sharedMemorySize: 64 });
  });

  it('checks restartPolicy, credentialSpecs, dockerSecurityOptions, timeouts and resources', () => {
    rejects(ec2({}, { restartPolicy: { enabled: true, restartAttemptPeriod: 59 } }), 'ClientException', "'containerDefinitions[0].restartPolicy.restartAttemptPeriod'");
    rejects(ec2({}, { restartPolicy: { enabled: true, ignoredExitCodes: Array.from({ length: 51 }, (_, i) => i) } }), 'ClientException',
      "'containerDefinitions[0].restartPolicy.ignoredExitCodes'");
    rejects(ec2({}, { restartPolicy: {} }), 'ClientException', 'containerDefinitions[0].restartPolicy.enabled is required');
    rejects(ec2({}, { credentialSpecs: ['credentialspec:a', 'credentialspec:b'] }), 'ClientException', "'containerDefinitions[0].credentialSpecs'");
    rejects(ec2({}, { dockerSecurityOptions: ['seccomp=unconfined'] }), 'ClientException', "'containerDefinitions[0].dockerSecurityOptions[0]'");
    rejects(ec2({}, { startTimeout: -1 }), 'ClientException', "'containerDefinitions[0].startTimeout'");
    rejects(ec2({}, { resourceRequirements: [{ type: 'GPU', value: 'one' }] }), 'ClientException', "'containerDefinitions[0].resourceRequirements[0].value'");
    rejects(ec2({}, { resourceRequirements: [{ type: 'InferenceAccelerator', value: 'dev1' }] }), 'ClientException',
      "'containerDefinitions[0].resourceRequirements[0].value'", 'deviceName');
    const c = firstContainer(ec2({ inferenceAccelerators: [{ deviceName: 'dev1', deviceType: 'eia2.medium' }] }, {
      restartPolicy: { enabled: true, restartAttemptPeriod: 60 },
      dockerSecurityOptions: ['no-new-privileges', 'apparmor:docker-default', 'label:type:svirt_lxc_net_t'],
      resourceRequirements: [{ type: 'GPU', value: '2' }, { type: 'InferenceAccelerator', value: 'dev1' }],
    }));
    expect(c.resourceRequirements).toHaveLength(2);
  });

  it('needs proxyConfiguration to name a container', () => {
    rejects(awsvpc({ proxyConfiguration: { type: 'APPMESH', containerName: 'envoy' } }), 'ClientException', "'proxyConfiguration.containerName'");
    expect(body(awsvpc({ proxyConfiguration: { type: 'APPMESH', containerName: 'app' } })).proxyConfiguration).toEqual({ type: 'APPMESH', containerName: 'app' });
  });
});

describe('task-level settings', () => {
  it('allows at most 10 memberOf placement constraints with expressions of up to 2000 characters', () => {
    const pc = (expression: string) => ({ type: 'memberOf', expression });
    expect(body(ec2({ placementConstraints: Array.from({ length: 10 }, () => pc('attribute:ecs.os-type == linux')) })).placementConstraints).toHaveLength(10);
    rejects(ec2({ placementConstraints: Array.from({ length: 11 }, () => pc('a == b')) }), 'ClientException', "'placementConstraints'", 'maximum of 10');
    rejects(ec2({ placementConstraints: [{ type: 'memberOf' }] }), 'ClientException', 'placementConstraints[0].expression is required');
    rejects(ec2({ placementConstraints: [{ expression: 'a == b' }] }), 'ClientException', 'placementConstraints[0].type is required');
    expect(body(ec2({ placementConstraints: [pc(`attribute:x == ${'y'.repeat(1985)}`)] })).placementConstraints[0]!.expression).toHaveLength(2000);
    rejects(ec2({ placementConstraints: [pc(`attribute:x == ${'y'.repeat(1986)}`)] }), 'ClientException', "'placementConstraints[0].expression'", '2000');
  });

  it('needs memberOf expressions in the cluster query language', () => {
    const pc = (expression: string) => ec2({ placementConstraints: [{ type: 'memberOf', expression: 'attribute:ecs.os-type == linux' }, { type: 'memberOf', expression }] });
    rejects(pc('attribute:ecs.instance-type'), 'ClientException', "'placementConstraints[1].expression'", 'position');
    rejects(pc('zone == a'), 'ClientException', "'placementConstraints[1].expression'");
    rejects(pc('(attribute:a == b'), 'ClientException', "'placementConstraints[1].expression'");
    expect(body(pc('attribute:ecs.instance-type =~ t2.* and (task:group == web or runningTasksCount < 5)')).placementConstraints).toHaveLength(2);
  });

  it('bounds ephemeralStorage to 21-200 GiB', () => {
    rejects(fargate({ ephemeralStorage: { sizeInGiB: 20 } }), 'ClientException', "'ephemeralStorage.sizeInGiB'");
    rejects(fargate({ ephemeralStorage: { sizeInGiB: 201 } }), 'ClientException', "'ephemeralStorage.sizeInGiB'");
    expect(body(fargate({ ephemeralStorage: { sizeInGiB: 21 } })).ephemeralStorage).toEqual({ sizeInGiB: 21 });
    expect(body(fargate({ ephemeralStorage: { sizeInGiB: 200 } })).ephemeralStorage).toEqual({ sizeInGiB: 200 });
  });

  it('accepts pidMode and ipcMode values on EC2', () => {
    const b = body(ec2({ pidMode: 'host', ipcMode: 'none' }));
    expect([b.pidMode, b.ipcMode]).toEqual(['host', 'none']);
  });

  it('validates tags as InvalidParameterException', () => {
    rejects(ec2({ tags: [{ key: 'aws:team', value: 'x' }] }), 'InvalidParameterException', 'tags[0].key', 'aws:');
    expect(prepareRegistration(ec2({ tags: [{ key: 'team', value: 'core' }] })).tags).toEqual([{ key: 'team', value: 'core' }]);
    expect(prepareRegistration(ec2()).tags).toEqual([]);
    expect(body(ec2({ tags: [{ key: 'team', value: 'core' }] }))).not.toHaveProperty('tags');
  });
});

describe('validateTags', () => {
  const tag = (key: string, value?: string) => (value === undefined ? { key } : { key, value });
  it.each<[string, Obj[], string]>([
    ['more than 50', Array.from({ length: 51 }, (_, i) => tag(`k${i}`, 'v')), 'at most 50'],
    ['an empty key', [tag('')], 'tags[0].key is required'],
    ['a key over 128', [tag('k'.repeat(129))], 'tags[0].key is too long'],
    ['a value over 256', [tag('k', 'v'.repeat(257))], 'tags[0].value is too long'],
    ['the aws: prefix', [tag('AWS:owner', 'x')], 'tags[0].key'],
    ['duplicate keys', [tag('a', '1'), tag('a', '2')], 'tags[1].key'],
    ['characters outside the pattern', [tag('a<b', '1')], 'tags[0].key'],
    ['value characters outside the pattern', [tag('a', 'x;y')], 'tags[0].value'],
  ])('rejects %s', (_what, tags, fragment) => {
    expect(() => validateTags(tags)).toThrow(fragment);
    try {
      validateTags(tags);
    } catch (err) {
      expect((err as BerthError).code).toBe('InvalidParameterException');
    }
  });

  it('accepts 50 tags, 128-character keys, 256-character values and no value', () => {
    expect(() => validateTags(Array.from({ length: 50 }, (_, i) => tag(`k${i}`)))).not.toThrow();
    expect(() => validateTags([tag('k'.repeat(128), 'v'.repeat(256)), tag('Environment name: prod/eu @ 1+1=2', 'ä ö_.:/=+-@')])).not.toThrow();
  });
});

describe('normalization', () => {
  it('returns a minimal EC2 definition as ECS echoes it', () => {
    expect(body({ family: 'web', containerDefinitions: [{ name: 'hello', image: 'hello-world:latest', memory: 400 }] })).toEqual({
      family: 'web',
      containerDefinitions: [{
        name: 'hello', image: 'hello-world:latest', cpu: 0, memory: 400, portMappings: [], essential: true,
        environment: [], mountPoints: [], volumesFrom: [], systemControls: [],
      }],
      volumes: [],
      placementConstraints: [],
      compatibilities: ['EC2'],
    });
  });

  it('derives requiresAttributes from what the definition uses', () => {
    const b = body(fargate({ taskRoleArn: 'arn:aws:iam::000000000000:role/task', volumes: [{ name: 'efs', efsVolumeConfiguration: {
      fileSystemId: 'fs-1', transitEncryption: 'ENABLED', authorizationConfig: { iam: 'ENABLED' },
    } }] }, {
      image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1',
      memoryReservation: 128,
      logConfiguration: { logDriver: 'awslogs' },
      healthCheck: { command: ['CMD', 'true'] },
      secrets: [
        { name: 'A', valueFrom: 'arn:aws:ssm:us-east-1:123456789012:parameter/a' },
        { name: 'B', valueFrom: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:b' },
      ],
      mountPoints: [{ sourceVolume: 'efs', containerPath: '/mnt' }],
    }));
    expect(b.requiresAttributes?.map((a) => a.name)).toEqual([
      'com.amazonaws.ecs.capability.task-iam-role',
      'ecs.capability.task-eni',
      'com.amazonaws.ecs.capability.logging-driver.awslogs',
      'com.amazonaws.ecs.capability.docker-remote-api.1.19',
      'ecs.capability.execution-role-awslogs',
      'com.amazonaws.ecs.capability.docker-remote-api.1.21',
      'com.amazonaws.ecs.capability.ecr-auth',
      'ecs.capability.execution-role-ecr-pull',
      'ecs.capability.container-health-check',
      'ecs.capability.secrets.ssm.environment-variables',
      'ecs.capability.secrets.asm.environment-variables',
      'ecs.capability.efs',
      'ecs.capability.efsAuth',
    ]);
    expect(b.compatibilities).toEqual(['EC2', 'FARGATE']);
  });

  it('derives the remaining capability attributes', () => {
    const names = (input: Obj) => deriveRequiresAttributes(body(input)).map((a) => a.name);
    expect(names(two({ dependsOn: [{ containerName: 'b', condition: 'START' }], privileged: true }, { ulimits: [{ name: 'nofile', softLimit: 1, hardLimit: 1 }] })))
      .toEqual(['com.amazonaws.ecs.capability.privileged-container', 'ecs.capability.container-ordering', 'com.amazonaws.ecs.capability.docker-remote-api.1.18']);
    expect(names(ec2({ pidMode: 'task' }, { portMappings: [{ containerPortRange: '1-2' }], restartPolicy: { enabled: true } })))
      .toEqual(['ecs.capability.pid-ipc-namespace-sharing', 'ecs.capability.network.container-port-range', 'ecs.capability.container-restart-policy']);
    expect(names(ec2({}, { repositoryCredentials: { credentialsParameter: 'arn:aws:secretsmanager:us-east-1:1:secret:r' }, environmentFiles: [{ type: 's3', value: 'arn:aws:s3:::b/x.env' }] })))
      .toEqual(['ecs.capability.private-registry-authentication.secretsmanager', 'ecs.capability.env-files.s3']);
    expect(names(ec2())).toEqual([]);
  });
});

describe('parseTaskDefinitionRef', () => {
  const p = { region: 'us-east-1', accountId: '000000000000' };

  it('reads family, family:revision and ARNs of this partition', () => {
    expect(parseTaskDefinitionRef('web', p)).toEqual({ family: 'web' });
    expect(parseTaskDefinitionRef('web:12', p)).toEqual({ family: 'web', revision: 12 });
    expect(parseTaskDefinitionRef('arn:aws:ecs:us-east-1:000000000000:task-definition/web:3', p)).toEqual({ family: 'web', revision: 3 });
    expect(parseTaskDefinitionRef('arn:aws:ecs:us-east-1:000000000000:task-definition/web', p)).toEqual({ family: 'web' });
  });

  it('returns undefined for references that cannot exist here', () => {
    expect(parseTaskDefinitionRef('arn:aws:ecs:eu-west-1:000000000000:task-definition/web:3', p)).toBeUndefined();
    expect(parseTaskDefinitionRef('arn:aws:ecs:us-east-1:111111111111:task-definition/web:3', p)).toBeUndefined();
    expect(parseTaskDefinitionRef('arn:aws:ecs:us-east-1:000000000000:cluster/web', p)).toBeUndefined();
    expect(parseTaskDefinitionRef('my web', p)).toBeUndefined();
    expect(parseTaskDefinitionRef('', p)).toBeUndefined();
  });

  it('rejects a malformed revision as ClientException', () => {
    for (const ref of ['web:latest', 'web:0', 'web:', 'web:1:2']) {
      expect(() => parseTaskDefinitionRef(ref, p)).toThrow('Invalid revision number');
    }
  });
});
