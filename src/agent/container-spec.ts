/**
 * From an ECS container definition (with the task's containerOverrides and the image's config) to
 * the runtime's ContainerSpec: the one place that decides what each definition field means on a host.
 * Pure: the task manager reads files, pulls images and makes directories; this only decides.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Task } from '../ecs/task-shape.js';
import type { ContainerDefinition, NetworkMode, TaskDefinition, Volume } from '../ecs/task-definition-types.js';
import { effectiveContainer } from '../ecs/task-overrides.js';
import {
  CONTAINER_ID_PATTERN, type BindMount, type ContainerSpec, type EnvironmentVariable, type ImageProcessConfig,
  type LinuxParameters, type NetworkAttachment,
} from '../runtime/driver.js';
import { invalidSpec } from '../runtime/errors.js';

/** Labels every container gets, as the ECS agent sets them; they also tie a runtime container back to its task. */
export const LABEL_CLUSTER = 'com.amazonaws.ecs.cluster';
export const LABEL_TASK_ARN = 'com.amazonaws.ecs.task-arn';
export const LABEL_CONTAINER_NAME = 'com.amazonaws.ecs.container-name';
export const LABEL_FAMILY = 'com.amazonaws.ecs.task-definition-family';
export const LABEL_REVISION = 'com.amazonaws.ecs.task-definition-version';

/**
 * The task id: the last part of a task ARN (`…:task/CLUSTER/ID`), or a digest of the ARN when that
 * part is not usable as a file and container name.
 *
 * @example taskIdOf('arn:aws:ecs:us-east-1:000000000000:task/default/0f2a…') // '0f2a…'
 */
export function taskIdOf(taskArn: string): string {
  const last = taskArn.slice(taskArn.lastIndexOf('/') + 1);
  if (last !== '' && last.length <= 64 && CONTAINER_ID_PATTERN.test(last)) return last;
  return createHash('sha256').update(taskArn).digest('hex').slice(0, 32);
}

/** The cluster's name from its ARN (a bare name passes through), as the ECS agent labels containers. */
export function clusterNameOf(clusterArn: string): string {
  const i = clusterArn.indexOf(':cluster/');
  return i < 0 ? clusterArn : clusterArn.slice(i + ':cluster/'.length);
}

/**
 * The runtime's id for a task's container: `<taskId>-<name>`, stable across agent restarts (so a
 * restarted agent finds its containers by name). Names that do not fit the runtime's id rule are
 * replaced by a digest, keeping ids unique per task.
 *
 * @example runtimeIdFor('arn:…:task/default/abc', 'web') // 'abc-web'
 */
export function runtimeIdFor(taskArn: string, containerName: string): string {
  const id = `${taskIdOf(taskArn)}-${containerName}`;
  if (CONTAINER_ID_PATTERN.test(id)) return id;
  return `${taskIdOf(taskArn)}-${createHash('sha256').update(containerName).digest('hex').slice(0, 16)}`;
}

/**
 * Where a container's network namespace comes from:
 * - `none` / `host`: no namespace of ours (a fresh empty one, or the host's);
 * - `task`: the task's own namespace, shared by all its containers (awsvpc);
 * - `container`: one namespace per container on the bridge, with published ports (bridge mode).
 * `disableNetworking` turns any mode but awsvpc (which ECS refuses it for) into `none`.
 */
export type ContainerNetworking = 'none' | 'host' | 'task' | 'container';

export function containerNetworking(networkMode: NetworkMode, container: Pick<ContainerDefinition, 'disableNetworking'>): ContainerNetworking {
  if (networkMode === 'awsvpc') return 'task';
  if (container.disableNetworking === true || networkMode === 'none') return 'none';
  return networkMode === 'host' ? 'host' : 'container';
}

/** AWS_EXECUTION_ENV as ECS sets it per launch type (SDKs put it in their User-Agent). */
export function executionEnv(launchType: Task['launchType']): string {
  if (launchType === 'FARGATE') return 'AWS_ECS_FARGATE';
  if (launchType === 'EXTERNAL') return 'AWS_ECS_EXTERNAL';
  return 'AWS_ECS_EC2';
}

/** Where volumes live on this host: per task (gone with the task) and shared (Docker volumes of scope `shared`). */
export interface VolumeDirs {
  readonly taskVolumesDir: string;
  readonly sharedVolumesDir: string;
}

/**
 * The host directory behind a task volume: `host.sourcePath` as given; a Docker volume of scope
 * `shared` under the shared dir; anything else without a host path (a bare volume, a Docker volume
 * of scope `task`) a directory of the task's own. Network file systems are refused: Berth has none.
 */
export function volumeSourcePath(volume: Volume, dirs: VolumeDirs, field: string): string {
  const name = volume.name ?? '';
  const unsupported = (kind: string): Error => invalidSpec(field, `volume "${name}" is ${kind}, which Berth cannot mount`);
  if (volume.efsVolumeConfiguration !== undefined) throw unsupported('an EFS volume');
  if (volume.fsxWindowsFileServerVolumeConfiguration !== undefined) throw unsupported('an FSx for Windows File Server volume');
  if (volume.s3filesVolumeConfiguration !== undefined) throw unsupported('an S3 Files volume');
  const sourcePath = volume.host?.sourcePath;
  if (sourcePath !== undefined && sourcePath !== '') {
    if (!sourcePath.startsWith('/')) throw invalidSpec(field, `volume "${name}": host.sourcePath "${sourcePath}" must be an absolute path`);
    return sourcePath;
  }
  // The name becomes a directory name: nothing that climbs out or nests.
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(name)) throw invalidSpec(field, `volume name "${name}" must be 1-255 letters, digits, '_' or '-'`);
  const docker = volume.dockerVolumeConfiguration;
  if (docker?.driver !== undefined && docker.driver !== 'local') throw unsupported(`a Docker volume with driver "${docker.driver}"`);
  return join(docker?.scope === 'shared' ? dirs.sharedVolumesDir : dirs.taskVolumesDir, name);
}

/** ECS's container labels for a task's container (they win over dockerLabels of the same name). */
export function ecsLabels(
  task: Pick<Task, 'taskArn' | 'clusterArn'>,
  taskDefinition: Pick<TaskDefinition, 'family' | 'revision'>,
  containerName: string,
): Record<string, string> {
  return {
    [LABEL_CLUSTER]: clusterNameOf(task.clusterArn),
    [LABEL_CONTAINER_NAME]: containerName,
    [LABEL_TASK_ARN]: task.taskArn,
    [LABEL_FAMILY]: taskDefinition.family,
    [LABEL_REVISION]: String(taskDefinition.revision),
  };
}

export interface ContainerSpecInput {
  readonly task: Pick<Task, 'taskArn' | 'clusterArn' | 'overrides' | 'launchType'>;
  readonly taskDefinition: Pick<TaskDefinition, 'family' | 'revision' | 'containerDefinitions' | 'volumes'>;
  readonly containerName: string;
  /** The runtime id (see runtimeIdFor). */
  readonly id: string;
  /** The container's root filesystem (its snapshot). */
  readonly rootfs: string;
  /** The image config's `config` object (Entrypoint, Cmd, Env, User, WorkingDir, Labels, StopSignal). */
  readonly image?: ImageProcessConfig;
  /** Already decided by the task manager (see containerNetworking). */
  readonly network: NetworkAttachment;
  /** This container's metadata endpoint v4 URL (`http://ADDR:PORT/v4/TOKEN`); absent: no metadata variables. */
  readonly metadataUri?: string;
  readonly volumeDirs: VolumeDirs;
}

const withName = (pairs: readonly { readonly name?: string; readonly value?: string }[] | undefined): EnvironmentVariable[] =>
  (pairs ?? []).map((kv) => ({ name: kv.name ?? '', value: kv.value ?? '' }));

/** Later lists win by name; order is first appearance, so the result is stable for tests and diffs. */
function mergeByName(...lists: EnvironmentVariable[][]): EnvironmentVariable[] {
  const merged = new Map<string, string>();
  for (const list of lists) for (const { name, value } of list) merged.set(name, value);
  return [...merged].map(([name, value]) => ({ name, value }));
}

function linuxParameters(def: ContainerDefinition): LinuxParameters | undefined {
  const lp = def.linuxParameters;
  if (lp === undefined) return undefined;
  if (lp.devices !== undefined && lp.devices.length > 0) {
    // Silently running without a device the task asked for would fail later, and more obscurely.
    throw invalidSpec(`${def.name}.linuxParameters.devices`, 'host devices are not supported by Berth yet');
  }
  const tmpfs = lp.tmpfs?.map((t, i) => {
    if (t.containerPath === undefined || t.size === undefined) {
      throw invalidSpec(`${def.name}.linuxParameters.tmpfs[${i}]`, 'needs a containerPath and a size');
    }
    return { containerPath: t.containerPath, size: t.size, ...(t.mountOptions === undefined ? {} : { mountOptions: t.mountOptions }) };
  });
  return {
    ...(lp.capabilities === undefined ? {} : {
      capabilities: {
        ...(lp.capabilities.add === undefined ? {} : { add: lp.capabilities.add }),
        ...(lp.capabilities.drop === undefined ? {} : { drop: lp.capabilities.drop }),
      },
    }),
    ...(lp.initProcessEnabled === undefined ? {} : { initProcessEnabled: lp.initProcessEnabled }),
    ...(lp.sharedMemorySize === undefined ? {} : { sharedMemorySize: lp.sharedMemorySize }),
    ...(tmpfs === undefined ? {} : { tmpfs }),
    ...(lp.maxSwap === undefined ? {} : { maxSwap: lp.maxSwap }),
    ...(lp.swappiness === undefined ? {} : { swappiness: lp.swappiness }),
  };
}

/** A container's own mountPoints as bind mounts from the task's volumes. */
function ownMounts(def: ContainerDefinition, volumes: readonly Volume[], dirs: VolumeDirs): BindMount[] {
  return def.mountPoints.map((mp, i) => {
    const field = `${def.name}.mountPoints[${i}]`;
    const volume = volumes.find((v) => v.name === mp.sourceVolume);
    if (volume === undefined) throw invalidSpec(`${field}.sourceVolume`, `no volume "${mp.sourceVolume ?? ''}" in the task definition`);
    if (mp.containerPath === undefined || !mp.containerPath.startsWith('/')) {
      throw invalidSpec(`${field}.containerPath`, `"${mp.containerPath ?? ''}" must be an absolute path`);
    }
    return { sourcePath: volumeSourcePath(volume, dirs, `${field}.sourceVolume`), containerPath: mp.containerPath, readOnly: mp.readOnly === true };
  });
}

/**
 * The mounts of a container: its mountPoints, then those of each volumesFrom source (read-only when
 * either side says so, as Docker's `--volumes-from c:ro`). A path the container mounts itself is not
 * mounted again from a source.
 */
export function containerMounts(
  containerName: string,
  taskDefinition: Pick<TaskDefinition, 'containerDefinitions' | 'volumes'>,
  dirs: VolumeDirs,
): BindMount[] {
  const byName = new Map(taskDefinition.containerDefinitions.map((c) => [c.name, c]));
  const def = byName.get(containerName);
  if (def === undefined) throw invalidSpec('containerName', `no container "${containerName}" in the task definition`);
  const mounts = ownMounts(def, taskDefinition.volumes, dirs);
  const taken = new Set(mounts.map((m) => m.containerPath));
  def.volumesFrom.forEach((vf, i) => {
    const source = byName.get(vf.sourceContainer ?? '');
    if (source === undefined || source.name === def.name) {
      throw invalidSpec(`${def.name}.volumesFrom[${i}].sourceContainer`, `"${vf.sourceContainer ?? ''}" is not another container of the task`);
    }
    for (const m of ownMounts(source, taskDefinition.volumes, dirs)) {
      if (taken.has(m.containerPath)) continue;
      taken.add(m.containerPath);
      mounts.push({ ...m, readOnly: m.readOnly === true || vf.readOnly === true });
    }
  });
  return mounts;
}

/**
 * The ContainerSpec for one container of a task. Environment, lowest first: the image's Env (merged
 * by the runtime), the definition's environment, the containerOverrides' environment, then the
 * variables the agent itself sets (metadata URIs, AWS_EXECUTION_ENV): those describe this host, and
 * a task that overrode them would only lose its metadata endpoint. Labels: dockerLabels under ECS's
 * own com.amazonaws.ecs.* labels.
 *
 * @example containerSpec({ task, taskDefinition, containerName: 'web', id: 'abc-web', rootfs, image, network: { mode: 'host' }, volumeDirs })
 */
export function containerSpec(input: ContainerSpecInput): ContainerSpec {
  const { task, taskDefinition: td, containerName } = input;
  const def = td.containerDefinitions.find((c) => c.name === containerName);
  if (def === undefined) throw invalidSpec('containerName', `no container "${containerName}" in the task definition`);
  const override = task.overrides.containerOverrides.find((o) => o.name === containerName);
  const limits = effectiveContainer(def, override);

  const agentEnv: EnvironmentVariable[] = [{ name: 'AWS_EXECUTION_ENV', value: executionEnv(task.launchType) }];
  if (input.metadataUri !== undefined) {
    agentEnv.push({ name: 'ECS_CONTAINER_METADATA_URI', value: input.metadataUri.replace(/\/v4\//, '/v3/') });
    agentEnv.push({ name: 'ECS_CONTAINER_METADATA_URI_V4', value: input.metadataUri });
  }
  const environment = mergeByName(withName(def.environment), withName(override?.environment), agentEnv);
  const lp = linuxParameters(def);
  const command = override?.command ?? def.command;

  const ulimits = def.ulimits?.map((u, i) => {
    if (u.name === undefined || u.softLimit === undefined || u.hardLimit === undefined) {
      throw invalidSpec(`${def.name}.ulimits[${i}]`, 'needs a name, a softLimit and a hardLimit');
    }
    return { name: u.name, softLimit: u.softLimit, hardLimit: u.hardLimit };
  });
  const extraHosts = def.extraHosts?.map((h, i) => {
    if (h.hostname === undefined || h.ipAddress === undefined) throw invalidSpec(`${def.name}.extraHosts[${i}]`, 'needs a hostname and an ipAddress');
    return { hostname: h.hostname, ipAddress: h.ipAddress };
  });
  const systemControls = def.systemControls.map((s, i) => {
    if (s.namespace === undefined || s.value === undefined) throw invalidSpec(`${def.name}.systemControls[${i}]`, 'needs a namespace and a value');
    return { namespace: s.namespace, value: s.value };
  });

  return {
    id: input.id,
    rootfs: input.rootfs,
    ...(input.image === undefined ? {} : { image: input.image }),
    ...(def.entryPoint === undefined ? {} : { entryPoint: def.entryPoint }),
    ...(command === undefined ? {} : { command }),
    environment,
    ...(def.workingDirectory === undefined ? {} : { workingDirectory: def.workingDirectory }),
    ...(def.user === undefined ? {} : { user: def.user }),
    ...(def.readonlyRootFilesystem === undefined ? {} : { readonlyRootFilesystem: def.readonlyRootFilesystem }),
    ...(def.privileged === undefined ? {} : { privileged: def.privileged }),
    ...(lp === undefined ? {} : { linuxParameters: lp }),
    ...(ulimits === undefined ? {} : { ulimits }),
    dockerLabels: { ...def.dockerLabels, ...ecsLabels(task, td, containerName) },
    ...(def.hostname === undefined ? {} : { hostname: def.hostname }),
    ...(extraHosts === undefined ? {} : { extraHosts }),
    ...(def.dnsServers === undefined ? {} : { dnsServers: def.dnsServers }),
    ...(def.dnsSearchDomains === undefined ? {} : { dnsSearchDomains: def.dnsSearchDomains }),
    mounts: containerMounts(containerName, td, input.volumeDirs),
    ...(systemControls.length === 0 ? {} : { systemControls }),
    cpu: limits.cpu,
    ...(limits.memory === undefined ? {} : { memory: limits.memory }),
    ...(limits.memoryReservation === undefined ? {} : { memoryReservation: limits.memoryReservation }),
    network: input.network,
  };
}
