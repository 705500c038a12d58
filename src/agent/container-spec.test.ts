/**
 * container-spec: each container-definition field, override and agent variable reaches the
 * runtime's ContainerSpec as ECS would apply it, and each refusal names the field.
 */
import { describe, expect, it } from 'vitest';
import type { ContainerDefinition, TaskDefinition, Volume } from '../ecs/task-definition-types.js';
import type { Task } from '../ecs/task-shape.js';
import type { ContainerOverride } from '../ecs/task-overrides.js';
import { isRuntimeError } from '../runtime/errors.js';
import {
  clusterNameOf, containerMounts, containerNetworking, containerSpec, type ContainerSpecInput, ecsLabels, executionEnv,
  runtimeIdFor, taskIdOf, volumeSourcePath,
} from './container-spec.js';

const TASK_ARN = 'arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef';
const dirs = { taskVolumesDir: '/var/lib/berth/tasks/t1/volumes', sharedVolumesDir: '/var/lib/berth/volumes' };

function container(over: Partial<ContainerDefinition> & { name: string }): ContainerDefinition {
  return {
    image: 'busybox', cpu: 0, essential: true, portMappings: [], environment: [], mountPoints: [], volumesFrom: [], systemControls: [],
    ...over,
  };
}

function input(
  defs: ContainerDefinition[],
  options: { volumes?: Volume[]; overrides?: ContainerOverride[]; launchType?: Task['launchType']; name?: string; metadataUri?: string } = {},
): ContainerSpecInput {
  const td: Pick<TaskDefinition, 'family' | 'revision' | 'containerDefinitions' | 'volumes'> = {
    family: 'web', revision: 7, containerDefinitions: defs, volumes: options.volumes ?? [],
  };
  return {
    task: {
      taskArn: TASK_ARN, clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/default', launchType: options.launchType ?? 'EC2',
      overrides: { containerOverrides: options.overrides ?? [], inferenceAcceleratorOverrides: [] },
    },
    taskDefinition: td,
    containerName: options.name ?? defs[0]!.name,
    id: runtimeIdFor(TASK_ARN, options.name ?? defs[0]!.name),
    rootfs: '/snap/rootfs',
    image: { Env: ['PATH=/bin'], Cmd: ['httpd'] },
    network: { mode: 'host' },
    ...(options.metadataUri === undefined ? {} : { metadataUri: options.metadataUri }),
    volumeDirs: dirs,
  };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isRuntimeError(err, 'InvalidSpec')) return err.message;
    throw err;
  }
  throw new Error('expected an InvalidSpec refusal');
}

describe('names', () => {
  it('takes the task id from the ARN, or a digest of an ARN whose last part is unusable', () => {
    expect(taskIdOf(TASK_ARN)).toBe('0123456789abcdef0123456789abcdef');
    expect(taskIdOf('arn:aws:ecs:r:a:task/abc')).toBe('abc'); // old-style ARNs without the cluster
    for (const bad of ['arn:aws:ecs:r:a:task/default/', 'x/../..', `t/${'a'.repeat(65)}`, 'task/-x']) {
      expect(taskIdOf(bad)).toMatch(/^[0-9a-f]{32}$/);
    }
    expect(taskIdOf('t/')).not.toBe(taskIdOf('u/'));
  });

  it('names runtime containers <taskId>-<name>, digesting names that break the id rule', () => {
    expect(runtimeIdFor(TASK_ARN, 'web')).toBe('0123456789abcdef0123456789abcdef-web');
    const long = runtimeIdFor(TASK_ARN, 'x'.repeat(200));
    expect(long).toMatch(/^0123456789abcdef0123456789abcdef-[0-9a-f]{16}$/);
    expect(runtimeIdFor(TASK_ARN, 'y'.repeat(200))).not.toBe(long);
  });

  it('reads the cluster name from its ARN and passes a bare name through', () => {
    expect(clusterNameOf('arn:aws:ecs:us-east-1:000000000000:cluster/prod')).toBe('prod');
    expect(clusterNameOf('prod')).toBe('prod');
  });

  it('sets AWS_EXECUTION_ENV per launch type', () => {
    expect(executionEnv('EC2')).toBe('AWS_ECS_EC2');
    expect(executionEnv(undefined)).toBe('AWS_ECS_EC2');
    expect(executionEnv('FARGATE')).toBe('AWS_ECS_FARGATE');
    expect(executionEnv('EXTERNAL')).toBe('AWS_ECS_EXTERNAL');
  });
});

describe('containerNetworking', () => {
  it('maps network modes, with disableNetworking turning all but awsvpc into none', () => {
    expect(containerNetworking('awsvpc', {})).toBe('task');
    expect(containerNetworking('awsvpc', { disableNetworking: true })).toBe('task');
    expect(containerNetworking('bridge', {})).toBe('container');
    expect(containerNetworking('bridge', { disableNetworking: true })).toBe('none');
    expect(containerNetworking('host', {})).toBe('host');
    expect(containerNetworking('host', { disableNetworking: true })).toBe('none');
    expect(containerNetworking('none', {})).toBe('none');
  });
});

describe('containerSpec', () => {
  it('keeps the id, rootfs, image config and network it is given, and labels the container as ECS does', () => {
    const spec = containerSpec(input([container({ name: 'web' })]));
    expect(spec.id).toBe('0123456789abcdef0123456789abcdef-web');
    expect(spec.rootfs).toBe('/snap/rootfs');
    expect(spec.image).toEqual({ Env: ['PATH=/bin'], Cmd: ['httpd'] });
    expect(spec.network).toEqual({ mode: 'host' });
    expect(spec.dockerLabels).toEqual({
      'com.amazonaws.ecs.cluster': 'default',
      'com.amazonaws.ecs.container-name': 'web',
      'com.amazonaws.ecs.task-arn': TASK_ARN,
      'com.amazonaws.ecs.task-definition-family': 'web',
      'com.amazonaws.ecs.task-definition-version': '7',
    });
    // Nothing the definition leaves out is set.
    for (const key of ['entryPoint', 'command', 'workingDirectory', 'user', 'readonlyRootFilesystem', 'privileged', 'linuxParameters',
      'ulimits', 'hostname', 'extraHosts', 'dnsServers', 'dnsSearchDomains', 'systemControls', 'memory', 'memoryReservation']) {
      expect(spec).not.toHaveProperty(key);
    }
    expect(spec.mounts).toEqual([]);
    expect(spec.cpu).toBe(0);
  });

  it('puts dockerLabels under the ECS labels, which cannot be spoofed', () => {
    const spec = containerSpec(input([container({
      name: 'web', dockerLabels: { team: 'a', 'com.amazonaws.ecs.task-arn': 'forged', 'com.amazonaws.ecs.cluster': 'other' },
    })]));
    expect(spec.dockerLabels).toMatchObject({ team: 'a', 'com.amazonaws.ecs.task-arn': TASK_ARN, 'com.amazonaws.ecs.cluster': 'default' });
    expect(ecsLabels({ taskArn: 't', clusterArn: 'c' }, { family: 'f', revision: 1 }, 'n')['com.amazonaws.ecs.task-definition-version']).toBe('1');
  });

  it('passes entryPoint and command, and a command override replaces the command but not the entryPoint', () => {
    const def = container({ name: 'web', entryPoint: ['/bin/sh', '-c'], command: ['echo hi'] });
    expect(containerSpec(input([def]))).toMatchObject({ entryPoint: ['/bin/sh', '-c'], command: ['echo hi'] });
    const overridden = containerSpec(input([def], { overrides: [{ name: 'web', command: ['echo bye'] }] }));
    expect(overridden).toMatchObject({ entryPoint: ['/bin/sh', '-c'], command: ['echo bye'] });
    // An override for another container changes nothing here.
    expect(containerSpec(input([def, container({ name: 'side' })], { overrides: [{ name: 'side', command: ['x'] }] })).command).toEqual(['echo hi']);
    // A command override alone works where the definition has none.
    expect(containerSpec(input([container({ name: 'web' })], { overrides: [{ name: 'web', command: ['ls'] }] })).command).toEqual(['ls']);
  });

  it('merges environment: definition < override < the agent’s variables, first appearance keeping its place', () => {
    const def = container({ name: 'web', environment: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'AWS_EXECUTION_ENV', value: 'mine' }] });
    const spec = containerSpec(input([def], {
      overrides: [{ name: 'web', environment: [{ name: 'B', value: 'override' }, { name: 'C', value: '3' }] }],
      metadataUri: 'http://169.254.172.1:51679/v4/tok',
    }));
    expect(spec.environment).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'override' },
      { name: 'AWS_EXECUTION_ENV', value: 'AWS_ECS_EC2' },
      { name: 'C', value: '3' },
      { name: 'ECS_CONTAINER_METADATA_URI', value: 'http://169.254.172.1:51679/v3/tok' },
      { name: 'ECS_CONTAINER_METADATA_URI_V4', value: 'http://169.254.172.1:51679/v4/tok' },
    ]);
    // The image's Env is left to the runtime, which merges the spec's environment over it.
    expect(spec.image?.Env).toEqual(['PATH=/bin']);
  });

  it('sets no metadata variables without an endpoint, and the Fargate execution env on Fargate', () => {
    const spec = containerSpec(input([container({ name: 'web' })], { launchType: 'FARGATE' }));
    expect(spec.environment).toEqual([{ name: 'AWS_EXECUTION_ENV', value: 'AWS_ECS_FARGATE' }]);
  });

  it('passes the process and security fields as given', () => {
    const spec = containerSpec(input([container({
      name: 'web', workingDirectory: '/srv', user: 'app:extra', readonlyRootFilesystem: true, privileged: false, hostname: 'web1',
      extraHosts: [{ hostname: 'db', ipAddress: '10.0.0.5' }], dnsServers: ['10.0.0.2'], dnsSearchDomains: ['corp'],
      ulimits: [{ name: 'nofile', softLimit: 1024, hardLimit: 4096 }],
      systemControls: [{ namespace: 'net.core.somaxconn', value: '1024' }],
    })]));
    expect(spec).toMatchObject({
      workingDirectory: '/srv', user: 'app:extra', readonlyRootFilesystem: true, privileged: false, hostname: 'web1',
      extraHosts: [{ hostname: 'db', ipAddress: '10.0.0.5' }], dnsServers: ['10.0.0.2'], dnsSearchDomains: ['corp'],
      ulimits: [{ name: 'nofile', softLimit: 1024, hardLimit: 4096 }],
      systemControls: [{ namespace: 'net.core.somaxconn', value: '1024' }],
    });
    expect(containerSpec(input([container({ name: 'p', privileged: true })])).privileged).toBe(true);
  });

  it('maps linuxParameters and refuses what the runtime cannot give', () => {
    const spec = containerSpec(input([container({
      name: 'web',
      linuxParameters: {
        capabilities: { add: ['NET_ADMIN'], drop: ['MKNOD'] }, initProcessEnabled: true, sharedMemorySize: 128,
        tmpfs: [{ containerPath: '/run', size: 64, mountOptions: ['noexec'] }, { containerPath: '/scratch', size: 8 }], maxSwap: 0, swappiness: 10,
      },
    })]));
    expect(spec.linuxParameters).toEqual({
      capabilities: { add: ['NET_ADMIN'], drop: ['MKNOD'] }, initProcessEnabled: true, sharedMemorySize: 128,
      tmpfs: [{ containerPath: '/run', size: 64, mountOptions: ['noexec'] }, { containerPath: '/scratch', size: 8 }], maxSwap: 0, swappiness: 10,
    });
    expect(containerSpec(input([container({ name: 'web', linuxParameters: { capabilities: { add: ['SYS_TIME'] } } })])).linuxParameters)
      .toEqual({ capabilities: { add: ['SYS_TIME'] } });
    expect(containerSpec(input([container({ name: 'web', linuxParameters: {} })])).linuxParameters).toEqual({});
    expect(refusal(() => containerSpec(input([container({ name: 'web', linuxParameters: { devices: [{ hostPath: '/dev/fuse' }] } })]))))
      .toMatch(/^web\.linuxParameters\.devices: host devices are not supported/);
    expect(refusal(() => containerSpec(input([container({ name: 'web', linuxParameters: { tmpfs: [{ containerPath: '/run' }] } })]))))
      .toMatch(/^web\.linuxParameters\.tmpfs\[0\]: needs a containerPath and a size/);
  });

  it('refuses incomplete ulimits, extraHosts and systemControls by field', () => {
    expect(refusal(() => containerSpec(input([container({ name: 'w', ulimits: [{ name: 'nofile', softLimit: 1 }] })])))).toMatch(/^w\.ulimits\[0\]/);
    expect(refusal(() => containerSpec(input([container({ name: 'w', extraHosts: [{ hostname: 'x' }] })])))).toMatch(/^w\.extraHosts\[0\]/);
    expect(refusal(() => containerSpec(input([container({ name: 'w', systemControls: [{ value: '1' }] })])))).toMatch(/^w\.systemControls\[0\]/);
    expect(refusal(() => containerSpec({ ...input([container({ name: 'w' })]), containerName: 'nope' }))).toMatch(/no container "nope"/);
  });

  it('applies cpu, memory and memoryReservation with overrides winning', () => {
    const def = container({ name: 'web', cpu: 256, memory: 512, memoryReservation: 128 });
    expect(containerSpec(input([def]))).toMatchObject({ cpu: 256, memory: 512, memoryReservation: 128 });
    expect(containerSpec(input([def], { overrides: [{ name: 'web', cpu: 512, memory: 1024, memoryReservation: 256 }] })))
      .toMatchObject({ cpu: 512, memory: 1024, memoryReservation: 256 });
    const soft = containerSpec(input([container({ name: 'web', memoryReservation: 64 })]));
    expect(soft.memoryReservation).toBe(64);
    expect(soft).not.toHaveProperty('memory');
  });
});

describe('volumes and mounts', () => {
  const volumes: Volume[] = [
    { name: 'logs', host: { sourcePath: '/var/log/app' } },
    { name: 'scratch' },
    { name: 'cache', dockerVolumeConfiguration: { scope: 'shared', autoprovision: true, driver: 'local' } },
    { name: 'tmp', dockerVolumeConfiguration: { scope: 'task' } },
    { name: 'efs', efsVolumeConfiguration: { fileSystemId: 'fs-1' } },
  ];

  it('finds each volume’s host directory: host path, task-scoped or shared', () => {
    expect(volumeSourcePath(volumes[0]!, dirs, 'f')).toBe('/var/log/app');
    expect(volumeSourcePath(volumes[1]!, dirs, 'f')).toBe('/var/lib/berth/tasks/t1/volumes/scratch');
    expect(volumeSourcePath(volumes[2]!, dirs, 'f')).toBe('/var/lib/berth/volumes/cache');
    expect(volumeSourcePath(volumes[3]!, dirs, 'f')).toBe('/var/lib/berth/tasks/t1/volumes/tmp');
    expect(volumeSourcePath({ name: 'empty', host: { sourcePath: '' } }, dirs, 'f')).toBe('/var/lib/berth/tasks/t1/volumes/empty');
  });

  it('refuses volumes Berth cannot mount, and names that would leave the volumes dir', () => {
    expect(refusal(() => volumeSourcePath(volumes[4]!, dirs, 'web.mountPoints[0].sourceVolume')))
      .toBe('web.mountPoints[0].sourceVolume: volume "efs" is an EFS volume, which Berth cannot mount');
    expect(refusal(() => volumeSourcePath({ name: 'f', fsxWindowsFileServerVolumeConfiguration: {} }, dirs, 'f'))).toMatch(/FSx/);
    expect(refusal(() => volumeSourcePath({ name: 's', s3filesVolumeConfiguration: {} }, dirs, 'f'))).toMatch(/S3 Files/);
    expect(refusal(() => volumeSourcePath({ name: 'd', dockerVolumeConfiguration: { driver: 'rexray/ebs' } }, dirs, 'f'))).toMatch(/driver "rexray\/ebs"/);
    expect(refusal(() => volumeSourcePath({ name: 'rel', host: { sourcePath: 'data' } }, dirs, 'f'))).toMatch(/must be an absolute path/);
    for (const name of ['..', 'a/b', '', '.']) expect(refusal(() => volumeSourcePath({ name }, dirs, 'f'))).toMatch(/volume name/);
  });

  it('mounts mountPoints, then volumesFrom sources (read-only when either side says so), the container’s own path winning', () => {
    const defs = [
      container({ name: 'app', mountPoints: [{ sourceVolume: 'logs', containerPath: '/logs' }, { sourceVolume: 'cache', containerPath: '/cache', readOnly: true }] }),
      container({ name: 'shipper', volumesFrom: [{ sourceContainer: 'app', readOnly: true }] }),
      container({ name: 'peer', mountPoints: [{ sourceVolume: 'scratch', containerPath: '/logs' }], volumesFrom: [{ sourceContainer: 'app' }] }),
    ];
    const td = { containerDefinitions: defs, volumes };
    expect(containerMounts('app', td, dirs)).toEqual([
      { sourcePath: '/var/log/app', containerPath: '/logs', readOnly: false },
      { sourcePath: '/var/lib/berth/volumes/cache', containerPath: '/cache', readOnly: true },
    ]);
    expect(containerMounts('shipper', td, dirs)).toEqual([
      { sourcePath: '/var/log/app', containerPath: '/logs', readOnly: true },
      { sourcePath: '/var/lib/berth/volumes/cache', containerPath: '/cache', readOnly: true },
    ]);
    expect(containerMounts('peer', td, dirs)).toEqual([
      { sourcePath: '/var/lib/berth/tasks/t1/volumes/scratch', containerPath: '/logs', readOnly: false },
      { sourcePath: '/var/lib/berth/volumes/cache', containerPath: '/cache', readOnly: true },
    ]);
    expect(containerSpec(input(defs, { volumes, name: 'shipper' })).mounts).toEqual(containerMounts('shipper', td, dirs));
  });

  it('refuses mounts of unknown volumes, relative paths and bad volumesFrom sources', () => {
    const td = (def: ContainerDefinition): { containerDefinitions: ContainerDefinition[]; volumes: Volume[] } => ({ containerDefinitions: [def], volumes });
    expect(refusal(() => containerMounts('a', td(container({ name: 'a', mountPoints: [{ sourceVolume: 'nope', containerPath: '/x' }] })), dirs)))
      .toBe('a.mountPoints[0].sourceVolume: no volume "nope" in the task definition');
    expect(refusal(() => containerMounts('a', td(container({ name: 'a', mountPoints: [{ sourceVolume: 'logs', containerPath: 'x' }] })), dirs)))
      .toMatch(/^a\.mountPoints\[0\]\.containerPath/);
    expect(refusal(() => containerMounts('a', td(container({ name: 'a', mountPoints: [{ sourceVolume: 'efs', containerPath: '/x' }] })), dirs)))
      .toMatch(/EFS/);
    expect(refusal(() => containerMounts('a', td(container({ name: 'a', volumesFrom: [{ sourceContainer: 'a' }] })), dirs)))
      .toMatch(/^a\.volumesFrom\[0\]\.sourceContainer: "a" is not another container/);
    expect(refusal(() => containerMounts('a', td(container({ name: 'a', volumesFrom: [{ sourceContainer: 'ghost' }] })), dirs)))
      .toMatch(/"ghost" is not another container/);
    expect(refusal(() => containerMounts('zz', td(container({ name: 'a' })), dirs))).toMatch(/no container "zz"/);
  });

  it('only refuses an unmountable volume when a container mounts it', () => {
    expect(containerSpec(input([container({ name: 'web' })], { volumes })).mounts).toEqual([]);
  });
});
