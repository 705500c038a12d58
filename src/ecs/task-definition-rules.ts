/** RegisterTaskDefinition's task-level rules: family and references, task size (EC2 and Fargate), volumes, placement, tags, and what Fargate cannot run. */
import type { BerthError } from '../protocols/index.js';
import { parseQuery, QuerySyntaxError } from '../scheduler/query/index.js';
import type { Partition } from './arn.js';
import { parseEcsArn } from './arn.js';
import { clientError, invalid } from './input.js';
import type {
  Compatibility, ContainerDefinitionInput, NetworkMode, RegisterTaskDefinitionRequest, Tag, Volume,
} from './task-definition-types.js';

// ---------------------------------------------------------------------------------------------
// Names and references.

/** Family, container and volume names: "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens". */
export const NAME_RE = /^[A-Za-z0-9_-]{1,255}$/;
export const NAME_RULE = 'up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed';

export const isValidFamily = (family: string): boolean => NAME_RE.test(family);

/** The effective network mode: ECS leaves networkMode out when the caller did, and runs such tasks in bridge mode. */
export const effectiveNetworkMode = (td: { readonly networkMode?: NetworkMode }): NetworkMode => td.networkMode ?? 'bridge';

export interface TaskDefinitionRef {
  readonly family: string;
  /** Absent for a bare family name, which means "the latest ACTIVE revision". */
  readonly revision?: number;
}

/**
 * Parses a task definition reference as ECS accepts it: `family`, `family:revision` or the full ARN.
 * Returns undefined for a reference that cannot name a task definition in this partition (another
 * region, account or resource type, or a malformed family); a malformed revision is a ClientException.
 *
 * @example parseTaskDefinitionRef('web:3', p) // { family: 'web', revision: 3 }
 */
export function parseTaskDefinitionRef(ref: string, partition: Partition): TaskDefinitionRef | undefined {
  let rest = ref;
  if (ref.startsWith('arn:')) {
    const arn = parseEcsArn(ref);
    if (!arn || arn.resourceType !== 'task-definition' || arn.region !== partition.region || arn.accountId !== partition.accountId) {
      return undefined;
    }
    rest = arn.resource;
  }
  const colon = rest.indexOf(':');
  const family = colon < 0 ? rest : rest.slice(0, colon);
  if (!isValidFamily(family)) return undefined;
  if (colon < 0) return { family };
  const number = rest.slice(colon + 1);
  if (!/^[0-9]{1,10}$/.test(number) || Number(number) < 1) {
    throw clientError(`Invalid revision number. Number: ${number} (a revision is a positive integer, as in ${family}:1).`);
  }
  return { family, revision: Number(number) };
}

// ---------------------------------------------------------------------------------------------
// Task size.

const EC2_TASK_CPU_MIN = 128;
const EC2_TASK_CPU_MAX = 196_608;

/**
 * Task-level cpu in CPU units from "1024", "1 vCPU" or "0.25 vcpu" (ECS converts vCPUs to units
 * when it registers the definition); undefined if it is neither form or not whole units.
 */
export function parseTaskCpu(value: string): number | undefined {
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) return Number(v);
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*vcpu$/i.exec(v);
  if (!m) return undefined;
  const units = Number(m[1]) * 1024;
  return Number.isInteger(units) ? units : undefined;
}

/** Task-level memory in MiB from "2048", "2GB" or "2 GB"; undefined if it is neither form or not whole MiB. */
export function parseTaskMemory(value: string): number | undefined {
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) return Number(v);
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*gb$/i.exec(v);
  if (!m) return undefined;
  const mib = Number(m[1]) * 1024;
  return Number.isInteger(mib) ? mib : undefined;
}

const steps = (from: number, to: number, by: number): number[] => {
  const out: number[] = [];
  for (let v = from; v <= to; v += by) out.push(v);
  return out;
};

/** Fargate's task sizes: CPU units → the memory values (MiB) allowed with it (ECS developer guide, "Task size"). */
export const FARGATE_TASK_SIZES: ReadonlyMap<number, readonly number[]> = new Map([
  [256, [512, 1024, 2048]],
  [512, steps(1024, 4096, 1024)],
  [1024, steps(2048, 8192, 1024)],
  [2048, steps(4096, 16384, 1024)],
  [4096, steps(8192, 30720, 1024)],
  [8192, steps(16384, 61440, 4096)],
  [16384, steps(32768, 122880, 8192)],
]);

// ---------------------------------------------------------------------------------------------
// Tags (shared by every ECS resource; the rules of TagResource).

const TAG_CHARS_RE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
export const MAX_TAGS = 50;

/** Validates resource tags: at most 50, key 1–128 and value 0–256 characters, no `aws:` prefix, keys unique. */
export function validateTags(tags: readonly Tag[], path = 'tags'): void {
  if (tags.length > MAX_TAGS) throw invalid(`${path} can have at most ${MAX_TAGS} tags; got ${tags.length}.`);
  const seen = new Set<string>();
  tags.forEach((tag, i) => {
    const p = `${path}[${i}]`;
    const key = tag.key;
    if (key === undefined || key.length === 0) throw invalid(`${p}.key is required: a tag key has 1 to 128 characters.`);
    if (key.length > 128) throw invalid(`${p}.key is too long: a tag key has 1 to 128 characters; got ${key.length}.`);
    if (!TAG_CHARS_RE.test(key)) {
      throw invalid(`${p}.key '${key}' has characters a tag cannot have: letters, numbers, spaces and _ . : / = + - @ are allowed.`);
    }
    if (key.toLowerCase().startsWith('aws:')) {
      throw invalid(`${p}.key '${key}' uses the reserved prefix 'aws:'; tag keys cannot start with aws: in any case.`);
    }
    if (seen.has(key)) throw invalid(`${p}.key '${key}' appears more than once; tag keys must be unique.`);
    seen.add(key);
    const value = tag.value ?? '';
    if (value.length > 256) throw invalid(`${p}.value is too long: a tag value has 0 to 256 characters; got ${value.length}.`);
    if (!TAG_CHARS_RE.test(value)) {
      throw invalid(`${p}.value has characters a tag cannot have: letters, numbers, spaces and _ . : / = + - @ are allowed.`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Task-level rules.

/** Docker 20.10+ reserves 6 MiB for a container; ECS asks for no less in memory and memoryReservation. */
export const MIN_CONTAINER_MEMORY_MIB = 6;
const MAX_PLACEMENT_CONSTRAINTS = 10;
const MAX_EXPRESSION_LENGTH = 2000;
const FARGATE_LOG_DRIVERS: readonly string[] = ['awslogs', 'splunk', 'awsfirelens'];

/** A container definition of the request, with its name checked and its path for messages (containerDefinitions[i]). */
export interface Container {
  readonly def: ContainerDefinitionInput;
  readonly name: string;
  readonly path: string;
}

/** The task's cpu (units) and memory (MiB), where the request sets them. */
export interface TaskSize {
  readonly cpu?: number;
  readonly memory?: number;
}

/** A numeric setting within [min, max] if set, else a ClientException naming it. */
export function checkRange(value: number | undefined, min: number, max: number, path: string, what: string): void {
  if (value !== undefined && (value < min || value > max)) {
    throw clientError(`Invalid '${path}' setting: ${value}. ${what} must be between ${min} and ${max}.`);
  }
}

/** The family: required, and a name ECS allows. */
export function checkFamily(family: string | undefined): string {
  if (family === undefined || family === '') throw clientError('Family should not be null or empty. (family is required.)');
  if (!NAME_RE.test(family)) throw clientError(`Invalid 'family' setting: '${family}'. In a family name ${NAME_RULE}.`);
  return family;
}

/** The task's cpu and memory, in units and MiB from either form ECS accepts, within EC2's bounds. */
export function checkTaskSize(req: RegisterTaskDefinitionRequest): TaskSize {
  let cpu: number | undefined;
  let memory: number | undefined;
  if (req.cpu !== undefined) {
    cpu = parseTaskCpu(req.cpu);
    if (cpu === undefined || cpu < EC2_TASK_CPU_MIN || cpu > EC2_TASK_CPU_MAX) {
      throw clientError(`Invalid 'cpu' setting for task. cpu '${req.cpu}' must be CPU units (e.g. 1024) or vCPUs (e.g. 1 vCPU), `
        + `between ${EC2_TASK_CPU_MIN} (0.125 vCPU) and ${EC2_TASK_CPU_MAX} (192 vCPU).`);
    }
  }
  if (req.memory !== undefined) {
    memory = parseTaskMemory(req.memory);
    if (memory === undefined || memory < MIN_CONTAINER_MEMORY_MIB) {
      throw clientError(`Invalid 'memory' setting for task. memory '${req.memory}' must be MiB (e.g. 2048) or GB (e.g. 2 GB), `
        + `at least ${MIN_CONTAINER_MEMORY_MIB} MiB.`);
    }
  }
  return { ...(cpu === undefined ? {} : { cpu }), ...(memory === undefined ? {} : { memory }) };
}

/** Each volume's rules; returns the volume names (name → path) that mount points may name. */
export function checkVolumes(volumes: readonly Volume[]): Map<string, string> {
  const names = new Map<string, string>();
  let atLaunch = 0;
  volumes.forEach((v, i) => {
    const p = `volumes[${i}]`;
    const kinds = (['host', 'dockerVolumeConfiguration', 'efsVolumeConfiguration', 's3filesVolumeConfiguration',
      'fsxWindowsFileServerVolumeConfiguration'] as const).filter((k) => v[k] !== undefined);
    if (kinds.length > 1) {
      throw clientError(`Invalid '${p}' setting: a volume is one kind; it sets ${kinds.join(' and ')}.`);
    }
    if (v.name === undefined || v.name === '') {
      if (v.efsVolumeConfiguration !== undefined || v.s3filesVolumeConfiguration !== undefined || v.configuredAtLaunch === true) {
        throw clientError(`${p}.name is required for an EFS, S3 Files or configured-at-launch volume.`);
      }
    } else {
      if (!NAME_RE.test(v.name)) throw clientError(`Invalid '${p}.name' setting: '${v.name}'. In a volume name ${NAME_RULE}.`);
      const first = names.get(v.name);
      if (first !== undefined) throw clientError(`Volume names must be unique. ('${v.name}' is both ${first}.name and ${p}.name.)`);
      names.set(v.name, p);
    }
    if (v.configuredAtLaunch === true && ++atLaunch > 1) {
      throw clientError(`Invalid '${p}.configuredAtLaunch' setting. A task definition may only have one volume configured at launch.`);
    }
    const dv = v.dockerVolumeConfiguration;
    if (dv?.autoprovision === true && dv.scope !== 'shared') {
      throw clientError(`Invalid '${p}.dockerVolumeConfiguration.autoprovision' setting. autoprovision applies only to a volume with scope 'shared'.`);
    }
    const efs = v.efsVolumeConfiguration;
    if (efs !== undefined) {
      const auth = efs.authorizationConfig;
      if (auth !== undefined && (auth.iam === 'ENABLED' || auth.accessPointId !== undefined) && efs.transitEncryption !== 'ENABLED') {
        throw clientError(`Invalid '${p}.efsVolumeConfiguration.transitEncryption' setting. IAM authorization or an access point `
          + 'needs transitEncryption ENABLED.');
      }
      if (auth?.accessPointId !== undefined && efs.rootDirectory !== undefined && efs.rootDirectory !== '/') {
        throw clientError(`Invalid '${p}.efsVolumeConfiguration.rootDirectory' setting. With an access point, rootDirectory must be `
          + "omitted or '/': the access point sets the path.");
      }
      checkRange(efs.transitEncryptionPort, 1, 65535, `${p}.efsVolumeConfiguration.transitEncryptionPort`, 'A port');
    }
  });
  return names;
}

/** Each container within the task's cpu and memory, and all of them in sum; on EC2, memory for every container unless the task sets it. */
export function checkResourcesAgainstTask(containers: readonly Container[], size: TaskSize, targetsEc2: boolean): void {
  for (const { def, name, path } of containers) {
    if (targetsEc2 && size.memory === undefined && def.memory === undefined && def.memoryReservation === undefined) {
      throw clientError(`Invalid setting for container '${name}'. At least one of 'memory' or 'memoryReservation' must be specified. `
        + `(${path}: on EC2 each container needs memory or memoryReservation unless the task sets 'memory'.)`);
    }
    if (size.memory !== undefined && def.memory !== undefined && def.memory > size.memory) {
      throw clientError(`The 'memory' setting for container '${name}' is greater than for the task. `
        + `(${path}.memory is ${def.memory} MiB; the task's memory is ${size.memory} MiB.)`);
    }
    if (size.cpu !== undefined && def.cpu !== undefined && def.cpu > size.cpu) {
      throw clientError(`The 'cpu' setting for container '${name}' is greater than for the task. `
        + `(${path}.cpu is ${def.cpu} units; the task's cpu is ${size.cpu} units.)`);
    }
  }
  if (size.memory !== undefined) {
    // What a container takes from the task is its soft limit, or its hard limit when it has no soft one.
    const reserved = containers.reduce((sum, { def }) => sum + (def.memoryReservation ?? def.memory ?? 0), 0);
    if (reserved > size.memory) {
      throw clientError("The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'. "
        + `(containerDefinitions reserve ${reserved} MiB; the task's memory is ${size.memory} MiB.)`);
    }
  }
  if (size.cpu !== undefined) {
    const total = containers.reduce((sum, { def }) => sum + (def.cpu ?? 0), 0);
    if (total > size.cpu) {
      throw clientError("The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'. "
        + `(containerDefinitions reserve ${total} units; the task's cpu is ${size.cpu} units.)`);
    }
  }
}

/** Placement constraints (memberOf, in the cluster query language), ephemeral storage, and no awsvpc on EXTERNAL. */
export function checkTaskLevelFields(req: RegisterTaskDefinitionRequest, mode: NetworkMode, targets: readonly Compatibility[]): void {
  const pcs = req.placementConstraints ?? [];
  if (pcs.length > MAX_PLACEMENT_CONSTRAINTS) {
    throw clientError(`Invalid 'placementConstraints' setting. You can specify a maximum of ${MAX_PLACEMENT_CONSTRAINTS} constraints; got ${pcs.length}.`);
  }
  pcs.forEach((pc, i) => {
    const p = `placementConstraints[${i}]`;
    if (pc.type === undefined) throw clientError(`${p}.type is required; the only constraint type a task definition allows is memberOf.`);
    if (pc.expression === undefined || pc.expression.trim() === '') {
      throw clientError(`${p}.expression is required: a memberOf constraint needs a cluster query language expression.`);
    }
    if (pc.expression.length > MAX_EXPRESSION_LENGTH) {
      throw clientError(`Invalid '${p}.expression' setting. An expression can have at most ${MAX_EXPRESSION_LENGTH} characters; got ${pc.expression.length}.`);
    }
    try {
      parseQuery(pc.expression, { label: `Invalid '${p}.expression' setting (cluster query language)` });
    } catch (err) {
      if (err instanceof QuerySyntaxError) throw clientError(err.message);
      throw err;
    }
  });
  checkRange(req.ephemeralStorage?.sizeInGiB, 21, 200, 'ephemeralStorage.sizeInGiB', 'Ephemeral storage (GiB)');
  if (targets.includes('EXTERNAL') && mode === 'awsvpc') {
    throw clientError("Invalid 'networkMode' setting: awsvpc. EXTERNAL (ECS Anywhere) instances do not support the awsvpc network mode.");
  }
}

/**
 * Why this definition cannot run on Fargate, or undefined if it can. ECS applies it when
 * requiresCompatibilities names FARGATE, and lists FARGATE in `compatibilities` when it passes.
 * (Fargate task definition considerations, ECS developer guide.)
 */
export function fargateIncompatibility(req: RegisterTaskDefinitionRequest, containers: readonly Container[], size: TaskSize): BerthError | undefined {
  const unsupported = (field: string): BerthError =>
    clientError(`${field} is not supported on Fargate. (requiresCompatibilities includes FARGATE, and Fargate tasks cannot use it.)`);
  if (req.networkMode !== 'awsvpc') {
    return clientError(`Fargate only supports network mode 'awsvpc'. (networkMode is ${req.networkMode ?? 'not set (bridge)'}.)`);
  }
  if (size.cpu === undefined) return clientError("Fargate requires that 'cpu' be defined at the task level.");
  if (size.memory === undefined) return clientError("Fargate requires that 'memory' be defined at the task level.");
  const memories = FARGATE_TASK_SIZES.get(size.cpu);
  if (memories === undefined) {
    return clientError(`Invalid 'cpu' setting for task. On Fargate, cpu must be one of ${[...FARGATE_TASK_SIZES.keys()].join(', ')}; got ${size.cpu}.`);
  }
  if (!memories.includes(size.memory)) {
    return clientError(`Invalid 'memory' setting for task. On Fargate with cpu ${size.cpu}, memory must be one of `
      + `${memories.join(', ')} MiB; got ${size.memory}.`);
  }
  const os = req.runtimePlatform?.operatingSystemFamily;
  if (os !== undefined && os !== 'LINUX' && (size.cpu < 1024 || size.cpu > 4096)) {
    return clientError(`Invalid 'cpu' setting for task. Windows containers on Fargate need cpu between 1024 and 4096; got ${size.cpu}.`);
  }
  if ((req.placementConstraints ?? []).length > 0) return unsupported('placementConstraints');
  if (req.ipcMode !== undefined) return unsupported('ipcMode');
  if (req.pidMode === 'host') return unsupported("pidMode 'host' (only 'task')");
  if ((req.inferenceAccelerators ?? []).length > 0) return unsupported('inferenceAccelerators');
  for (const [i, v] of (req.volumes ?? []).entries()) {
    if (v.host?.sourcePath !== undefined) return unsupported(`volumes[${i}].host.sourcePath`);
    if (v.dockerVolumeConfiguration !== undefined) return unsupported(`volumes[${i}].dockerVolumeConfiguration`);
  }
  for (const { def, path } of containers) {
    const present: Array<[string, boolean]> = [
      ['links', (def.links ?? []).length > 0],
      ['privileged', def.privileged === true],
      ['disableNetworking', def.disableNetworking === true],
      ['dnsServers', (def.dnsServers ?? []).length > 0],
      ['dnsSearchDomains', (def.dnsSearchDomains ?? []).length > 0],
      ['dockerSecurityOptions', (def.dockerSecurityOptions ?? []).length > 0],
      ['extraHosts', (def.extraHosts ?? []).length > 0],
      ['hostname', def.hostname !== undefined],
      ['linuxParameters.devices', (def.linuxParameters?.devices ?? []).length > 0],
      ['linuxParameters.sharedMemorySize', def.linuxParameters?.sharedMemorySize !== undefined],
      ['linuxParameters.tmpfs', (def.linuxParameters?.tmpfs ?? []).length > 0],
      ['linuxParameters.maxSwap', def.linuxParameters?.maxSwap !== undefined],
      ['linuxParameters.swappiness', def.linuxParameters?.swappiness !== undefined],
    ];
    const found = present.find(([, isSet]) => isSet);
    if (found) return unsupported(`${path}.${found[0]}`);
    const added = (def.linuxParameters?.capabilities?.add ?? []).find((c) => c !== 'SYS_PTRACE');
    if (added !== undefined) return unsupported(`${path}.linuxParameters.capabilities.add '${added}' (only SYS_PTRACE)`);
    if ((def.resourceRequirements ?? []).some((r) => r.type === 'GPU')) return unsupported(`${path}.resourceRequirements GPU`);
    const driver = def.logConfiguration?.logDriver;
    if (driver !== undefined && !FARGATE_LOG_DRIVERS.includes(driver)) {
      return unsupported(`${path}.logConfiguration.logDriver '${driver}' (Fargate supports awslogs, splunk and awsfirelens)`);
    }
    if (driver === 'awslogs' && req.executionRoleArn === undefined) {
      return clientError('Fargate requires task definition to have execution role ARN to support log driver awslogs. '
        + `(${path}.logConfiguration uses awslogs; set executionRoleArn.)`);
    }
    for (const field of ['startTimeout', 'stopTimeout'] as const) {
      const v = def[field];
      if (v !== undefined && (v < 2 || v > 120)) {
        return clientError(`Invalid '${path}.${field}' setting: ${v}. The valid values for Fargate are 2-120 seconds.`);
      }
    }
  }
  return undefined;
}
