/**
 * RegisterTaskDefinition's rules, pure: reads the request against the model's shapes, applies every
 * rule the ECS developer guide states (each error names the field and the rule), and returns the
 * task definition body as ECS echoes it, with its defaults, compatibilities and requiresAttributes.
 *
 * @example const { body, tags } = prepareRegistration({ family: 'web', containerDefinitions: [{ name: 'app', image: 'nginx', memory: 128 }] });
 */
import { BerthError } from '../protocols/index.js';
import { parseQuery, QuerySyntaxError } from '../scheduler/query/index.js';
import type { Partition } from './arn.js';
import { parseEcsArn } from './arn.js';
import {
  objectsOf, optionalArray, optionalBool, optionalInt, optionalObject, optionalString, optionalStringArray,
} from './input.js';
import {
  APPLICATION_PROTOCOLS, COMPATIBILITIES, CONTAINER_CONDITIONS, CPU_ARCHITECTURES, DEVICE_CGROUP_PERMISSIONS,
  DOCKER_VOLUME_SCOPES, EFS_IAM_SETTINGS, EFS_TRANSIT_ENCRYPTIONS, ENVIRONMENT_FILE_TYPES, FIRELENS_TYPES, IPC_MODES,
  LOG_DRIVERS, NETWORK_MODES, OS_FAMILIES, PID_MODES, PLACEMENT_CONSTRAINT_TYPES, PROXY_CONFIGURATION_TYPES,
  RESOURCE_TYPES, TRANSPORT_PROTOCOLS, ULIMIT_NAMES, VERSION_CONSISTENCIES,
} from './task-definition-types.js';
import type {
  Attribute, Compatibility, ContainerDefinition, ContainerDefinitionInput, ContainerDependency, ContainerRestartPolicy,
  Device, DockerVolumeConfiguration, EfsAuthorizationConfig, EfsVolumeConfiguration, EnvironmentFile, EphemeralStorage,
  FirelensConfiguration, FsxWindowsFileServerAuthorizationConfig, FsxWindowsFileServerVolumeConfiguration, HealthCheck,
  HostEntry, HostVolumeProperties, InferenceAccelerator, KernelCapabilities, KeyValuePair, LinuxParameters,
  LogConfiguration, MountPoint, NetworkMode, PortMapping, ProxyConfiguration, RegisterTaskDefinitionRequest,
  RepositoryCredentials, ResourceRequirement, RuntimePlatform, S3FilesVolumeConfiguration, Secret, SystemControl, Tag,
  TaskDefinitionBody, TaskDefinitionPlacementConstraint, Tmpfs, Ulimit, Volume, VolumeFrom,
} from './task-definition-types.js';

type Obj = Record<string, unknown>;

const clientError = (message: string): BerthError => new BerthError('ClientException', message);
const invalidParameter = (message: string): BerthError => new BerthError('InvalidParameterException', message);

// ---------------------------------------------------------------------------------------------
// Reading the request against the model's shapes: types (SerializationException), enum values and
// required members (ClientException). Members the model does not know are dropped, as an SDK would.

type FieldSpec =
  | 'string' | 'integer' | 'boolean' | 'strings' | 'integers' | 'map'
  | { readonly enum: readonly string[] }
  | { readonly enums: readonly string[] }
  | { readonly struct: AnyShape }
  | { readonly list: AnyShape };

interface AnyShape {
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly required?: readonly string[];
}

/** Listing every member of T (and nothing else) makes a shape that drifts from its type fail to compile. */
interface Shape<T> extends AnyShape {
  readonly fields: { readonly [K in keyof Required<T>]: FieldSpec };
  readonly required?: ReadonlyArray<keyof T & string>;
}

const shape = <T>(fields: Shape<T>['fields'], required?: ReadonlyArray<keyof T & string>): Shape<T> =>
  required === undefined ? { fields } : { fields, required };
const oneOf = (values: readonly string[]): FieldSpec => ({ enum: values });
const struct = (s: AnyShape): FieldSpec => ({ struct: s });
const list = (s: AnyShape): FieldSpec => ({ list: s });

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v;
}

function readField(obj: Obj, key: string, spec: FieldSpec, path: string): unknown {
  if (typeof spec === 'string') {
    switch (spec) {
      case 'string': return optionalString(obj, key, { path });
      case 'integer': return optionalInt(obj, key, { path });
      case 'boolean': return optionalBool(obj, key, path);
      case 'strings': return optionalStringArray(obj, key, { path });
      case 'integers': return optionalArray(obj, key, { path })?.map((v, i) => {
        if (typeof v !== 'number' || !Number.isInteger(v)) {
          throw new BerthError('SerializationException', `Invalid type for parameter ${path}[${i}]: expected an integer, got ${kindOf(v)}.`);
        }
        return v;
      });
      case 'map': {
        const m = optionalObject(obj, key, path);
        if (m === undefined) return undefined;
        const out: Record<string, string> = {};
        for (const k of Object.keys(m)) {
          const v = optionalString(m, k, { path: `${path}.${k}` });
          if (v !== undefined) out[k] = v;
        }
        return out;
      }
    }
  }
  if ('enum' in spec) {
    const v = optionalString(obj, key, { path });
    if (v !== undefined) checkEnum(v, spec.enum, path);
    return v;
  }
  if ('enums' in spec) {
    const vs = optionalStringArray(obj, key, { path });
    vs?.forEach((v, i) => checkEnum(v, spec.enums, `${path}[${i}]`));
    return vs;
  }
  if ('struct' in spec) {
    const o = optionalObject(obj, key, path);
    return o === undefined ? undefined : readShape(o, spec.struct, path);
  }
  const arr = optionalArray(obj, key, { path });
  return arr === undefined ? undefined : objectsOf(arr, path).map(({ item, path: p }) => readShape(item, spec.list, p));
}

function checkEnum(value: string, values: readonly string[], path: string): void {
  if (!values.includes(value)) {
    throw clientError(`Invalid '${path}' setting: '${value}'. Valid values are ${values.join(', ')}.`);
  }
}

function readShape<T>(obj: Obj, s: AnyShape, path: string): T {
  const out: Obj = {};
  for (const [key, spec] of Object.entries(s.fields)) {
    const v = readField(obj, key, spec, path === '' ? key : `${path}.${key}`);
    if (v !== undefined) out[key] = v;
  }
  for (const key of s.required ?? []) {
    if (out[key] === undefined) throw clientError(`${path === '' ? key : `${path}.${key}`} is required.`);
  }
  return out as T;
}

const repositoryCredentialsShape = shape<RepositoryCredentials>({ credentialsParameter: 'string' }, ['credentialsParameter']);
const portMappingShape = shape<PortMapping>({
  containerPort: 'integer', hostPort: 'integer', protocol: oneOf(TRANSPORT_PROTOCOLS), name: 'string',
  appProtocol: oneOf(APPLICATION_PROTOCOLS), containerPortRange: 'string',
});
const restartPolicyShape = shape<ContainerRestartPolicy>(
  { enabled: 'boolean', ignoredExitCodes: 'integers', restartAttemptPeriod: 'integer' }, ['enabled'],
);
const keyValuePairShape = shape<KeyValuePair>({ name: 'string', value: 'string' });
const environmentFileShape = shape<EnvironmentFile>({ value: 'string', type: oneOf(ENVIRONMENT_FILE_TYPES) }, ['value', 'type']);
const mountPointShape = shape<MountPoint>({ sourceVolume: 'string', containerPath: 'string', readOnly: 'boolean' });
const volumeFromShape = shape<VolumeFrom>({ sourceContainer: 'string', readOnly: 'boolean' });
const kernelCapabilitiesShape = shape<KernelCapabilities>({ add: 'strings', drop: 'strings' });
const deviceShape = shape<Device>(
  { hostPath: 'string', containerPath: 'string', permissions: { enums: DEVICE_CGROUP_PERMISSIONS } }, ['hostPath'],
);
const tmpfsShape = shape<Tmpfs>({ containerPath: 'string', size: 'integer', mountOptions: 'strings' }, ['containerPath', 'size']);
const linuxParametersShape = shape<LinuxParameters>({
  capabilities: struct(kernelCapabilitiesShape), devices: list(deviceShape), initProcessEnabled: 'boolean',
  sharedMemorySize: 'integer', tmpfs: list(tmpfsShape), maxSwap: 'integer', swappiness: 'integer',
});
const secretShape = shape<Secret>({ name: 'string', valueFrom: 'string' }, ['name', 'valueFrom']);
const dependencyShape = shape<ContainerDependency>(
  { containerName: 'string', condition: oneOf(CONTAINER_CONDITIONS) }, ['containerName', 'condition'],
);
const hostEntryShape = shape<HostEntry>({ hostname: 'string', ipAddress: 'string' }, ['hostname', 'ipAddress']);
const ulimitShape = shape<Ulimit>(
  { name: oneOf(ULIMIT_NAMES), softLimit: 'integer', hardLimit: 'integer' }, ['name', 'softLimit', 'hardLimit'],
);
const logConfigurationShape = shape<LogConfiguration>(
  { logDriver: oneOf(LOG_DRIVERS), options: 'map', secretOptions: list(secretShape) }, ['logDriver'],
);
const healthCheckShape = shape<HealthCheck>(
  { command: 'strings', interval: 'integer', timeout: 'integer', retries: 'integer', startPeriod: 'integer' }, ['command'],
);
const systemControlShape = shape<SystemControl>({ namespace: 'string', value: 'string' });
const resourceRequirementShape = shape<ResourceRequirement>({ value: 'string', type: oneOf(RESOURCE_TYPES) }, ['value', 'type']);
const firelensShape = shape<FirelensConfiguration>({ type: oneOf(FIRELENS_TYPES), options: 'map' }, ['type']);

const containerDefinitionShape = shape<ContainerDefinitionInput>({
  name: 'string', image: 'string', repositoryCredentials: struct(repositoryCredentialsShape), cpu: 'integer',
  memory: 'integer', memoryReservation: 'integer', links: 'strings', portMappings: list(portMappingShape),
  essential: 'boolean', restartPolicy: struct(restartPolicyShape), entryPoint: 'strings', command: 'strings',
  environment: list(keyValuePairShape), environmentFiles: list(environmentFileShape), mountPoints: list(mountPointShape),
  volumesFrom: list(volumeFromShape), linuxParameters: struct(linuxParametersShape), secrets: list(secretShape),
  dependsOn: list(dependencyShape), startTimeout: 'integer', stopTimeout: 'integer',
  versionConsistency: oneOf(VERSION_CONSISTENCIES), hostname: 'string', user: 'string', workingDirectory: 'string',
  disableNetworking: 'boolean', privileged: 'boolean', readonlyRootFilesystem: 'boolean', dnsServers: 'strings',
  dnsSearchDomains: 'strings', extraHosts: list(hostEntryShape), dockerSecurityOptions: 'strings',
  interactive: 'boolean', pseudoTerminal: 'boolean', dockerLabels: 'map', ulimits: list(ulimitShape),
  logConfiguration: struct(logConfigurationShape), healthCheck: struct(healthCheckShape),
  systemControls: list(systemControlShape), resourceRequirements: list(resourceRequirementShape),
  firelensConfiguration: struct(firelensShape), credentialSpecs: 'strings',
});

const hostVolumeShape = shape<HostVolumeProperties>({ sourcePath: 'string' });
const dockerVolumeShape = shape<DockerVolumeConfiguration>({
  scope: oneOf(DOCKER_VOLUME_SCOPES), autoprovision: 'boolean', driver: 'string', driverOpts: 'map', labels: 'map',
});
const efsAuthorizationShape = shape<EfsAuthorizationConfig>({ accessPointId: 'string', iam: oneOf(EFS_IAM_SETTINGS) });
const efsVolumeShape = shape<EfsVolumeConfiguration>({
  fileSystemId: 'string', rootDirectory: 'string', transitEncryption: oneOf(EFS_TRANSIT_ENCRYPTIONS),
  transitEncryptionPort: 'integer', authorizationConfig: struct(efsAuthorizationShape),
}, ['fileSystemId']);
const s3FilesVolumeShape = shape<S3FilesVolumeConfiguration>({
  fileSystemArn: 'string', rootDirectory: 'string', transitEncryptionPort: 'integer', accessPointArn: 'string',
}, ['fileSystemArn']);
const fsxAuthorizationShape = shape<FsxWindowsFileServerAuthorizationConfig>(
  { credentialsParameter: 'string', domain: 'string' }, ['credentialsParameter', 'domain'],
);
const fsxVolumeShape = shape<FsxWindowsFileServerVolumeConfiguration>(
  { fileSystemId: 'string', rootDirectory: 'string', authorizationConfig: struct(fsxAuthorizationShape) },
  ['fileSystemId', 'rootDirectory', 'authorizationConfig'],
);
const volumeShape = shape<Volume>({
  name: 'string', host: struct(hostVolumeShape), dockerVolumeConfiguration: struct(dockerVolumeShape),
  efsVolumeConfiguration: struct(efsVolumeShape), s3filesVolumeConfiguration: struct(s3FilesVolumeShape),
  fsxWindowsFileServerVolumeConfiguration: struct(fsxVolumeShape), configuredAtLaunch: 'boolean',
});
const placementConstraintShape = shape<TaskDefinitionPlacementConstraint>({
  type: oneOf(PLACEMENT_CONSTRAINT_TYPES), expression: 'string',
});
const tagShape = shape<Tag>({ key: 'string', value: 'string' });
const proxyConfigurationShape = shape<ProxyConfiguration>({
  type: oneOf(PROXY_CONFIGURATION_TYPES), containerName: 'string', properties: list(keyValuePairShape),
}, ['containerName']);
const inferenceAcceleratorShape = shape<InferenceAccelerator>({ deviceName: 'string', deviceType: 'string' }, ['deviceName', 'deviceType']);
const ephemeralStorageShape = shape<EphemeralStorage>({ sizeInGiB: 'integer' }, ['sizeInGiB']);
const runtimePlatformShape = shape<RuntimePlatform>({
  cpuArchitecture: oneOf(CPU_ARCHITECTURES), operatingSystemFamily: oneOf(OS_FAMILIES),
});

const registerRequestShape = shape<RegisterTaskDefinitionRequest>({
  family: 'string', taskRoleArn: 'string', executionRoleArn: 'string', networkMode: oneOf(NETWORK_MODES),
  containerDefinitions: list(containerDefinitionShape), volumes: list(volumeShape),
  placementConstraints: list(placementConstraintShape), requiresCompatibilities: { enums: COMPATIBILITIES },
  cpu: 'string', memory: 'string', tags: list(tagShape), pidMode: oneOf(PID_MODES), ipcMode: oneOf(IPC_MODES),
  proxyConfiguration: struct(proxyConfigurationShape), inferenceAccelerators: list(inferenceAcceleratorShape),
  ephemeralStorage: struct(ephemeralStorageShape), runtimePlatform: struct(runtimePlatformShape),
  enableFaultInjection: 'boolean',
});

/** Reads a RegisterTaskDefinition request: member types, enum values and the model's required members. */
export function readRegisterRequest(input: Obj): RegisterTaskDefinitionRequest {
  return readShape<RegisterTaskDefinitionRequest>(input, registerRequestShape, '');
}

// ---------------------------------------------------------------------------------------------
// Names and references.

/** Family, container and volume names: "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens". */
const NAME_RE = /^[A-Za-z0-9_-]{1,255}$/;
const NAME_RULE = 'up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed';

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
  if (tags.length > MAX_TAGS) throw invalidParameter(`${path} can have at most ${MAX_TAGS} tags; got ${tags.length}.`);
  const seen = new Set<string>();
  tags.forEach((tag, i) => {
    const p = `${path}[${i}]`;
    const key = tag.key;
    if (key === undefined || key.length === 0) throw invalidParameter(`${p}.key is required: a tag key has 1 to 128 characters.`);
    if (key.length > 128) throw invalidParameter(`${p}.key is too long: a tag key has 1 to 128 characters; got ${key.length}.`);
    if (!TAG_CHARS_RE.test(key)) {
      throw invalidParameter(`${p}.key '${key}' has characters a tag cannot have: letters, numbers, spaces and _ . : / = + - @ are allowed.`);
    }
    if (key.toLowerCase().startsWith('aws:')) {
      throw invalidParameter(`${p}.key '${key}' uses the reserved prefix 'aws:'; tag keys cannot start with aws: in any case.`);
    }
    if (seen.has(key)) throw invalidParameter(`${p}.key '${key}' appears more than once; tag keys must be unique.`);
    seen.add(key);
    const value = tag.value ?? '';
    if (value.length > 256) throw invalidParameter(`${p}.value is too long: a tag value has 0 to 256 characters; got ${value.length}.`);
    if (!TAG_CHARS_RE.test(value)) {
      throw invalidParameter(`${p}.value has characters a tag cannot have: letters, numbers, spaces and _ . : / = + - @ are allowed.`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The rules.

/** A task definition can have at most 10 containers (ECS service quota "Containers per task definition"). */
export const MAX_CONTAINERS = 10;
/** Docker 20.10+ reserves 6 MiB for a container; ECS asks for no less in memory and memoryReservation. */
export const MIN_CONTAINER_MEMORY_MIB = 6;
const MAX_PLACEMENT_CONSTRAINTS = 10;
const MAX_EXPRESSION_LENGTH = 2000;
const MAX_PORT_RANGES = 100;
const FARGATE_LOG_DRIVERS: readonly string[] = ['awslogs', 'splunk', 'awsfirelens'];
const PORT_NAME_RE = /^[a-z0-9_][a-z0-9_-]{0,63}$/;
const IMAGE_CHARS_RE = /^[A-Za-z0-9\-_:./#]+$/;
const DIGEST_RE = /^sha256:[A-Fa-f0-9]{64}$/;
/** The capabilities docker accepts in KernelCapabilities.add/drop (the list the ECS API reference gives). */
const KERNEL_CAPABILITIES: readonly string[] = [
  'ALL', 'AUDIT_CONTROL', 'AUDIT_WRITE', 'BLOCK_SUSPEND', 'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER',
  'FSETID', 'IPC_LOCK', 'IPC_OWNER', 'KILL', 'LEASE', 'LINUX_IMMUTABLE', 'MAC_ADMIN', 'MAC_OVERRIDE', 'MKNOD',
  'NET_ADMIN', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_RAW', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_ADMIN',
  'SYS_BOOT', 'SYS_CHROOT', 'SYS_MODULE', 'SYS_NICE', 'SYS_PACCT', 'SYS_PTRACE', 'SYS_RAWIO', 'SYS_RESOURCE',
  'SYS_TIME', 'SYS_TTY_CONFIG', 'SYSLOG', 'WAKE_ALARM',
];

interface Container {
  readonly def: ContainerDefinitionInput;
  readonly name: string;
  readonly path: string;
}

interface TaskSize {
  readonly cpu?: number;
  readonly memory?: number;
}

function checkRange(value: number | undefined, min: number, max: number, path: string, what: string): void {
  if (value !== undefined && (value < min || value > max)) {
    throw clientError(`Invalid '${path}' setting: ${value}. ${what} must be between ${min} and ${max}.`);
  }
}

function checkFamily(family: string | undefined): string {
  if (family === undefined || family === '') throw clientError('Family should not be null or empty. (family is required.)');
  if (!NAME_RE.test(family)) throw clientError(`Invalid 'family' setting: '${family}'. In a family name ${NAME_RULE}.`);
  return family;
}

function checkTaskSize(req: RegisterTaskDefinitionRequest): TaskSize {
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

function checkContainerList(req: RegisterTaskDefinitionRequest): Container[] {
  const defs = req.containerDefinitions ?? [];
  if (defs.length === 0) throw clientError('Container list cannot be empty. (containerDefinitions needs 1 to 10 containers.)');
  if (defs.length > MAX_CONTAINERS) {
    throw clientError(`Too many containers. (containerDefinitions has ${defs.length}; a task definition can have at most ${MAX_CONTAINERS}.)`);
  }
  const byName = new Map<string, string>();
  return defs.map((def, i) => {
    const path = `containerDefinitions[${i}]`;
    const name = def.name;
    if (name === undefined || name === '') throw clientError(`Container.name should not be null or empty. (${path}.name is required.)`);
    if (!NAME_RE.test(name)) throw clientError(`Invalid '${path}.name' setting: '${name}'. In a container name ${NAME_RULE}.`);
    const first = byName.get(name);
    if (first !== undefined) {
      throw clientError(`Container names must be unique within a Task Definition. ('${name}' is both ${first}.name and ${path}.name.)`);
    }
    byName.set(name, path);
    return { def, name, path };
  });
}

function checkImage({ def, path }: Container): void {
  const image = def.image;
  if (image === undefined || image === '') throw clientError(`Container.image should not be null or empty. (${path}.image is required.)`);
  const at = image.indexOf('@');
  const repository = at < 0 ? image : image.slice(0, at);
  if (repository.length === 0 || repository.length > 255 || !IMAGE_CHARS_RE.test(repository)) {
    throw clientError(`Invalid '${path}.image' setting: '${image}'. Up to 255 letters (uppercase and lowercase), numbers, `
      + 'hyphens, underscores, colons, periods, forward slashes, and number signs are allowed before any @digest.');
  }
  if (at >= 0 && !DIGEST_RE.test(image.slice(at + 1))) {
    throw clientError(`Invalid '${path}.image' setting: '${image}'. A digest must be sha256: followed by 64 hexadecimal digits.`);
  }
}

function checkContainerResources({ def, name, path }: Container): void {
  if (def.cpu !== undefined && def.cpu < 0) {
    throw clientError(`Invalid 'cpu' setting for container '${name}'. ${path}.cpu is CPU units and cannot be negative; got ${def.cpu}.`);
  }
  for (const field of ['memory', 'memoryReservation'] as const) {
    const v = def[field];
    if (v !== undefined && v < MIN_CONTAINER_MEMORY_MIB) {
      throw clientError(`Invalid '${field}' setting for container '${name}'. ${path}.${field} must be at least `
        + `${MIN_CONTAINER_MEMORY_MIB} MiB (Docker reserves ${MIN_CONTAINER_MEMORY_MIB} MiB for a container); got ${v}.`);
    }
  }
  if (def.memory !== undefined && def.memoryReservation !== undefined && def.memory < def.memoryReservation) {
    throw clientError(`Invalid setting for container '${name}'. 'memory' must be greater than or equal to 'memoryReservation' `
      + `(${path}.memory is ${def.memory}, ${path}.memoryReservation is ${def.memoryReservation}).`);
  }
}

interface PortUse {
  readonly from: number;
  readonly to: number;
  readonly protocol: string;
  readonly path: string;
}

const overlaps = (a: PortUse, b: PortUse): boolean => a.protocol === b.protocol && a.from <= b.to && b.from <= a.to;

/** Checks one container's port mappings and returns the host ports they take (for the task-wide collision check). */
function checkPortMappings({ def, name, path }: Container, mode: NetworkMode): PortUse[] {
  const mappings = def.portMappings ?? [];
  if (mappings.length === 0) return [];
  if (mode === 'none') {
    throw clientError(`Port mappings are not supported when networkMode=none. (${path}.portMappings must be empty: `
      + 'a task in none mode has no external connectivity.)');
  }
  const hostPorts: PortUse[] = [];
  const containerPorts: Array<PortUse & { readonly isRange: boolean }> = [];
  let ranges = 0;
  mappings.forEach((pm, i) => {
    const p = `${path}.portMappings[${i}]`;
    const protocol = pm.protocol ?? 'tcp';
    if (pm.name !== undefined && !PORT_NAME_RE.test(pm.name)) {
      throw clientError(`Invalid '${p}.name' setting: '${pm.name}'. A port mapping name has up to 64 lowercase letters, `
        + 'numbers, underscores and hyphens, and cannot start with a hyphen.');
    }
    if (pm.hostPort !== undefined && (pm.hostPort < 0 || pm.hostPort > 65535)) {
      throw clientError(`Invalid 'hostPort' setting for container '${name}'. ${p}.hostPort must be between 0 and 65535; got ${pm.hostPort}.`);
    }
    let use: PortUse;
    if (pm.containerPortRange !== undefined) {
      ranges += 1;
      if (mode !== 'bridge' && mode !== 'awsvpc') {
        throw clientError(`Invalid 'containerPortRange' setting for container '${name}'. ${p}.containerPortRange needs `
          + `networkMode bridge or awsvpc; this task uses ${mode}.`);
      }
      if (pm.containerPort !== undefined) {
        throw clientError(`Invalid 'containerPortRange' setting for container '${name}'. ${p} sets both containerPort and `
          + 'containerPortRange; a port mapping has one or the other.');
      }
      if (pm.hostPort !== undefined) {
        throw clientError(`Invalid 'hostPort' setting for container '${name}'. ${p}.hostPort must be left empty with a `
          + 'containerPortRange: ECS chooses the host ports.');
      }
      const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(pm.containerPortRange);
      const from = m ? Number(m[1]) : NaN;
      const to = m ? Number(m[2]) : NaN;
      if (!m || from < 1 || to > 65535 || from >= to) {
        throw clientError(`Invalid 'containerPortRange' setting for container '${name}'. ${p}.containerPortRange `
          + `'${pm.containerPortRange}' must be FIRST-LAST with 1 <= FIRST < LAST <= 65535.`);
      }
      use = { from, to, protocol, path: p };
      if (mode === 'awsvpc') hostPorts.push(use);
    } else {
      const cp = pm.containerPort;
      if (cp === undefined || cp < 1 || cp > 65535) {
        throw clientError(`Invalid 'containerPort' setting for container '${name}'. ${p}.containerPort must be between 1 and `
          + `65535${cp === undefined ? ' and is required unless containerPortRange is set' : `; got ${cp}`}.`);
      }
      const hp = pm.hostPort;
      if ((mode === 'awsvpc' || mode === 'host') && hp !== undefined && hp !== 0 && hp !== cp) {
        throw clientError(`When networkMode=${mode}, the host ports and container ports in port mappings must match. `
          + `(${p}: hostPort ${hp}, containerPort ${cp}.)`);
      }
      use = { from: cp, to: cp, protocol, path: p };
      const host = mode === 'bridge' ? hp ?? 0 : cp;
      if (host !== 0) hostPorts.push({ from: host, to: host, protocol, path: p });
    }
    // "A port can only be included in one port mapping per container" and ranges may not overlap.
    const isRange = pm.containerPortRange !== undefined;
    const clash = containerPorts.find((other) => (isRange || other.isRange) && overlaps(use, other));
    if (clash) {
      throw clientError(`Invalid 'portMappings' setting for container '${name}'. ${p} and ${clash.path} overlap; a port can `
        + 'only be included in one port mapping per container and port ranges cannot overlap.');
    }
    containerPorts.push({ ...use, isRange });
  });
  if (ranges > MAX_PORT_RANGES) {
    throw clientError(`Invalid 'portMappings' setting for container '${name}'. ${path}.portMappings has ${ranges} port ranges; `
      + `a container can have at most ${MAX_PORT_RANGES}.`);
  }
  return hostPorts;
}

function checkHostPortCollisions(uses: readonly PortUse[]): void {
  uses.forEach((use, i) => {
    const other = uses.slice(0, i).find((u) => overlaps(u, use));
    if (other) {
      const port = Math.max(use.from, other.from);
      throw clientError(`${use.protocol.toUpperCase()} host port '${port}' is mapped multiple times in task. `
        + `(${other.path} and ${use.path}.)`);
    }
  });
}

function checkNetworkingFields({ def, name, path }: Container, mode: NetworkMode, containerNames: ReadonlySet<string>): void {
  if (def.links !== undefined && def.links.length > 0) {
    if (mode !== 'bridge') {
      throw clientError(`Links are not supported when networkMode=${mode}. (${path}.links: links work only in bridge mode.)`);
    }
    def.links.forEach((link, i) => {
      const [target = '', alias] = link.split(':');
      if (!NAME_RE.test(target) || (alias !== undefined && !NAME_RE.test(alias)) || link.split(':').length > 2) {
        throw clientError(`Invalid '${path}.links[${i}]' setting: '${link}'. A link is name or name:alias, where ${NAME_RULE}.`);
      }
      if (target === name || !containerNames.has(target)) {
        throw clientError(`Invalid '${path}.links[${i}]' setting: '${link}'. A link must name another container in this task definition.`);
      }
    });
  }
  if (mode === 'awsvpc' && def.hostname !== undefined) {
    throw clientError(`The 'hostname' parameter is not supported when networkMode=awsvpc. (${path}.hostname)`);
  }
  if (mode === 'awsvpc' && def.extraHosts !== undefined && def.extraHosts.length > 0) {
    throw clientError(`The 'extraHosts' parameter is not supported when networkMode=awsvpc. (${path}.extraHosts)`);
  }
}

function checkHealthCheck({ def, path }: Container): HealthCheck | undefined {
  const hc = def.healthCheck;
  if (hc === undefined) return undefined;
  const p = `${path}.healthCheck`;
  const command = hc.command ?? [];
  const first = command[0];
  if (first !== 'CMD' && first !== 'CMD-SHELL' && first !== 'NONE') {
    throw clientError(`Invalid '${p}.command' setting. The command must start with CMD (run the arguments directly), `
      + `CMD-SHELL (run with the container's default shell) or NONE (no health check)${first === undefined ? '' : `; got '${first}'`}.`);
  }
  if (first !== 'NONE' && command.length < 2) {
    throw clientError(`Invalid '${p}.command' setting. After ${first} the command needs the program to run.`);
  }
  checkRange(hc.interval, 5, 300, `${p}.interval`, 'The health check interval (seconds)');
  // The API reference says 2–60 seconds, the developer guide 2–120; accept what either allows.
  checkRange(hc.timeout, 2, 120, `${p}.timeout`, 'The health check timeout (seconds)');
  checkRange(hc.retries, 1, 10, `${p}.retries`, 'The health check retries');
  checkRange(hc.startPeriod, 0, 300, `${p}.startPeriod`, 'The health check startPeriod (seconds)');
  // The defaults ECS fills in and echoes back.
  return { ...hc, interval: hc.interval ?? 30, timeout: hc.timeout ?? 5, retries: hc.retries ?? 3 };
}

function checkEnvironment({ def, path }: Container): void {
  def.environment?.forEach((kv, i) => {
    const p = `${path}.environment[${i}].name`;
    if (kv.name === undefined || kv.name === '') throw clientError(`${p} is required: an environment variable needs a name.`);
    if (kv.name.includes('=')) {
      throw clientError(`Invalid '${p}' setting: '${kv.name}'. An environment variable name cannot contain '=' (Docker passes NAME=VALUE).`);
    }
  });
  const files = def.environmentFiles ?? [];
  if (files.length > 10) throw clientError(`Invalid '${path}.environmentFiles' setting. You can specify up to 10 environment files; got ${files.length}.`);
  files.forEach((f, i) => {
    if (!(f.value ?? '').endsWith('.env')) {
      throw clientError(`Invalid '${path}.environmentFiles[${i}].value' setting: '${f.value ?? ''}'. The file must have a .env file extension.`);
    }
  });
}

function checkUlimits({ def, path }: Container): void {
  const seen = new Set<string>();
  def.ulimits?.forEach((u, i) => {
    const p = `${path}.ulimits[${i}]`;
    const uname = u.name ?? '';
    if (seen.has(uname)) throw clientError(`Invalid '${p}.name' setting: ulimit '${uname}' is set more than once.`);
    seen.add(uname);
    if ((u.softLimit ?? 0) > (u.hardLimit ?? 0)) {
      throw clientError(`Invalid '${p}' setting: softLimit ${u.softLimit} is greater than hardLimit ${u.hardLimit}; `
        + 'a soft limit cannot exceed its hard limit.');
    }
  });
}

function checkLinuxParameters({ def, path }: Container): void {
  const lp = def.linuxParameters;
  if (lp === undefined) return;
  const p = `${path}.linuxParameters`;
  for (const which of ['add', 'drop'] as const) {
    lp.capabilities?.[which]?.forEach((cap, i) => {
      if (!KERNEL_CAPABILITIES.includes(cap)) {
        throw clientError(`Invalid '${p}.capabilities.${which}[${i}]' setting: '${cap}'. Valid values are ${KERNEL_CAPABILITIES.join(', ')}.`);
      }
    });
  }
  lp.tmpfs?.forEach((t, i) => {
    if ((t.size ?? 0) < 1) throw clientError(`Invalid '${p}.tmpfs[${i}].size' setting: ${t.size}. The tmpfs size is MiB and must be positive.`);
  });
  if (lp.sharedMemorySize !== undefined && lp.sharedMemorySize < 1) {
    throw clientError(`Invalid '${p}.sharedMemorySize' setting: ${lp.sharedMemorySize}. The /dev/shm size is MiB and must be positive.`);
  }
  if (lp.maxSwap !== undefined && lp.maxSwap < 0) {
    throw clientError(`Invalid '${p}.maxSwap' setting: ${lp.maxSwap}. Accepted values are 0 or any positive integer (MiB).`);
  }
  checkRange(lp.swappiness, 0, 100, `${p}.swappiness`, 'swappiness');
}

function checkMiscContainerFields({ def, path }: Container): void {
  const rp = def.restartPolicy;
  if (rp !== undefined) {
    if ((rp.ignoredExitCodes ?? []).length > 50) {
      throw clientError(`Invalid '${path}.restartPolicy.ignoredExitCodes' setting. You can specify a maximum of 50 container exit codes.`);
    }
    checkRange(rp.restartAttemptPeriod, 60, 1800, `${path}.restartPolicy.restartAttemptPeriod`, 'restartAttemptPeriod (seconds)');
  }
  if ((def.credentialSpecs ?? []).length > 1) {
    throw clientError(`Invalid '${path}.credentialSpecs' setting. The maximum number of credential spec ARNs is 1.`);
  }
  def.dockerSecurityOptions?.forEach((opt, i) => {
    if (opt !== 'no-new-privileges' && !/^(apparmor|label|credentialspec):./.test(opt)) {
      throw clientError(`Invalid '${path}.dockerSecurityOptions[${i}]' setting: '${opt}'. Valid values are "no-new-privileges", `
        + '"apparmor:PROFILE", "label:value" and "credentialspec:CredentialSpecFilePath".');
    }
  });
  for (const field of ['startTimeout', 'stopTimeout'] as const) {
    const v = def[field];
    if (v !== undefined && v < 0) throw clientError(`Invalid '${path}.${field}' setting: ${v}. A timeout in seconds cannot be negative.`);
  }
  def.resourceRequirements?.forEach((rr, i) => {
    if (rr.type === 'GPU' && !/^[1-9][0-9]*$/.test(rr.value ?? '')) {
      throw clientError(`Invalid '${path}.resourceRequirements[${i}].value' setting: '${rr.value ?? ''}'. `
        + 'For GPU the value is the number of physical GPUs, a positive integer.');
    }
  });
}

function checkVolumes(volumes: readonly Volume[]): Map<string, string> {
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

function checkReferences(
  containers: readonly Container[],
  volumeNames: ReadonlyMap<string, string>,
  req: RegisterTaskDefinitionRequest,
): void {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const deviceNames = new Set((req.inferenceAccelerators ?? []).map((a) => a.deviceName));
  for (const c of containers) {
    const { def, name, path } = c;
    def.mountPoints?.forEach((mp, i) => {
      const p = `${path}.mountPoints[${i}]`;
      if (mp.sourceVolume === undefined || mp.sourceVolume === '') throw clientError(`${p}.sourceVolume is required: name a volume of this task definition.`);
      if (!volumeNames.has(mp.sourceVolume)) {
        throw clientError(`Invalid 'mountPoints' setting for container '${name}'. ${p}.sourceVolume '${mp.sourceVolume}' is not `
          + 'the name of a volume in this task definition.');
      }
      if (mp.containerPath === undefined || mp.containerPath === '') throw clientError(`${p}.containerPath is required: the path to mount the volume at.`);
    });
    def.volumesFrom?.forEach((vf, i) => {
      const p = `${path}.volumesFrom[${i}].sourceContainer`;
      if (vf.sourceContainer === undefined || vf.sourceContainer === '') throw clientError(`${p} is required: name another container of this task definition.`);
      if (vf.sourceContainer === name || !byName.has(vf.sourceContainer)) {
        throw clientError(`Invalid 'volumesFrom' setting for container '${name}'. ${p} '${vf.sourceContainer}' must be another `
          + 'container in this task definition.');
      }
    });
    def.dependsOn?.forEach((dep, i) => {
      const p = `${path}.dependsOn[${i}]`;
      const target = byName.get(dep.containerName ?? '');
      if (target === undefined || target.name === name) {
        throw clientError(`Invalid 'dependsOn' setting for container '${name}'. ${p}.containerName '${dep.containerName ?? ''}' `
          + 'must be another container in this task definition.');
      }
      if (dep.condition === 'HEALTHY' && target.def.healthCheck === undefined) {
        throw clientError(`Invalid 'dependsOn' setting for container '${name}'. ${p} waits for '${target.name}' to be HEALTHY, `
          + 'which needs a healthCheck in that container.');
      }
      if ((dep.condition === 'COMPLETE' || dep.condition === 'SUCCESS') && (target.def.essential ?? true)) {
        throw clientError(`A dependency container with SUCCESS or COMPLETE condition cannot be an essential container. `
          + `(${p} depends on '${target.name}', which is essential.)`);
      }
    });
    def.resourceRequirements?.forEach((rr, i) => {
      if (rr.type === 'InferenceAccelerator' && !deviceNames.has(rr.value)) {
        throw clientError(`Invalid '${path}.resourceRequirements[${i}].value' setting: '${rr.value ?? ''}'. An InferenceAccelerator `
          + 'requirement must match the deviceName of one of the task definition\'s inferenceAccelerators.');
      }
    });
    if (def.logConfiguration?.logDriver === 'awsfirelens' && !containers.some((o) => o.def.firelensConfiguration !== undefined)) {
      throw clientError(`Invalid 'logConfiguration' setting for container '${name}'. ${path}.logConfiguration uses awsfirelens, `
        + 'which needs a log router container (one with firelensConfiguration) in this task definition.');
    }
  }
  const proxy = req.proxyConfiguration?.containerName;
  if (proxy !== undefined && !byName.has(proxy)) {
    throw clientError(`Invalid 'proxyConfiguration.containerName' setting: '${proxy}' is not a container in this task definition.`);
  }
  checkDependencyCycles(containers);
}

function checkDependencyCycles(containers: readonly Container[]): void {
  const deps = new Map(containers.map((c) => [c.name, (c.def.dependsOn ?? []).map((d) => d.containerName ?? '')]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name].join(' -> ');
      throw clientError(`Invalid 'dependsOn' setting: container dependencies form a cycle (${cycle}); a container cannot `
        + 'wait, directly or indirectly, for itself.');
    }
    state.set(name, 'visiting');
    stack.push(name);
    for (const next of deps.get(name) ?? []) visit(next);
    stack.pop();
    state.set(name, 'done');
  };
  for (const c of containers) visit(c.name);
}

function checkResourcesAgainstTask(containers: readonly Container[], size: TaskSize, targetsEc2: boolean): void {
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

function checkTaskLevelFields(req: RegisterTaskDefinitionRequest, mode: NetworkMode, targets: readonly Compatibility[]): void {
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
function fargateIncompatibility(req: RegisterTaskDefinitionRequest, containers: readonly Container[], size: TaskSize): BerthError | undefined {
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

// ---------------------------------------------------------------------------------------------
// What ECS derives: normalized containers, compatibilities, requiresAttributes.

function normalizePortMappings(def: ContainerDefinitionInput, mode: NetworkMode): PortMapping[] {
  return (def.portMappings ?? []).map((pm) => {
    const out: PortMapping = { ...pm, protocol: pm.protocol ?? 'tcp' };
    if (pm.containerPortRange !== undefined) return out;
    // awsvpc and host map straight through; bridge with no hostPort means a dynamic port, echoed as 0.
    if (mode === 'awsvpc' || mode === 'host') return { ...out, hostPort: pm.containerPort ?? 0 };
    return { ...out, hostPort: pm.hostPort ?? 0 };
  });
}

function normalizeContainer(c: Container, mode: NetworkMode, healthCheck: HealthCheck | undefined): ContainerDefinition {
  const def = c.def;
  return {
    ...def,
    name: c.name,
    image: def.image ?? '',
    cpu: def.cpu ?? 0,
    portMappings: normalizePortMappings(def, mode),
    essential: def.essential ?? true,
    environment: def.environment ?? [],
    mountPoints: def.mountPoints ?? [],
    volumesFrom: def.volumesFrom ?? [],
    systemControls: def.systemControls ?? [],
    ...(healthCheck === undefined ? {} : { healthCheck }),
  };
}

const ECR_IMAGE_RE = /^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\//;
const CAP = 'com.amazonaws.ecs.capability.';
const ATTR = 'ecs.capability.';

/**
 * The container-instance attributes a task definition needs, as the container agent advertises them
 * (agent capability names). A documented subset: the Docker Remote API versions the developer guide
 * names per parameter, logging drivers, task roles and ENIs, secrets, EFS, FireLens, ordering.
 */
export function deriveRequiresAttributes(body: Omit<TaskDefinitionBody, 'requiresAttributes' | 'compatibilities'>): Attribute[] {
  const names: string[] = [];
  const need = (name: string): void => {
    if (!names.includes(name)) names.push(name);
  };
  if (body.taskRoleArn !== undefined) need(`${CAP}task-iam-role`);
  if (body.networkMode === 'awsvpc') need(`${ATTR}task-eni`);
  if (body.pidMode !== undefined || body.ipcMode !== undefined) need(`${ATTR}pid-ipc-namespace-sharing`);
  if (body.proxyConfiguration !== undefined) need(`${ATTR}aws-appmesh`);
  if (body.enableFaultInjection === true) need(`${ATTR}fault-injection`);
  for (const c of body.containerDefinitions) {
    const driver = c.logConfiguration?.logDriver;
    if (driver !== undefined) {
      need(`${CAP}logging-driver.${driver}`);
      need(`${CAP}docker-remote-api.1.19`);
      if (driver === 'awslogs' && body.executionRoleArn !== undefined) need(`${ATTR}execution-role-awslogs`);
    }
    if (c.dockerLabels !== undefined || c.ulimits !== undefined) need(`${CAP}docker-remote-api.1.18`);
    if (c.memoryReservation !== undefined) need(`${CAP}docker-remote-api.1.21`);
    if (c.linuxParameters?.initProcessEnabled === true) need(`${CAP}docker-remote-api.1.25`);
    if (ECR_IMAGE_RE.test(c.image)) {
      need(`${CAP}ecr-auth`);
      if (body.executionRoleArn !== undefined) need(`${ATTR}execution-role-ecr-pull`);
    }
    if (c.privileged === true) need(`${CAP}privileged-container`);
    if (c.healthCheck !== undefined) need(`${ATTR}container-health-check`);
    if (c.dependsOn !== undefined && c.dependsOn.length > 0) need(`${ATTR}container-ordering`);
    if (c.repositoryCredentials !== undefined) need(`${ATTR}private-registry-authentication.secretsmanager`);
    for (const s of c.secrets ?? []) need(`${ATTR}secrets.${secretStore(s)}.environment-variables`);
    for (const s of c.logConfiguration?.secretOptions ?? []) need(`${ATTR}secrets.${secretStore(s)}.bootstrap.log-driver`);
    if ((c.environmentFiles ?? []).length > 0) need(`${ATTR}env-files.s3`);
    if (c.firelensConfiguration?.type !== undefined) need(`${ATTR}firelens.${c.firelensConfiguration.type}`);
    if (c.portMappings.some((pm) => pm.containerPortRange !== undefined)) need(`${ATTR}network.container-port-range`);
    if (c.restartPolicy?.enabled === true) need(`${ATTR}container-restart-policy`);
  }
  for (const v of body.volumes) {
    if (v.efsVolumeConfiguration !== undefined) {
      need(`${ATTR}efs`);
      const auth = v.efsVolumeConfiguration.authorizationConfig;
      if (auth?.iam === 'ENABLED' || auth?.accessPointId !== undefined) need(`${ATTR}efsAuth`);
    }
    if (v.fsxWindowsFileServerVolumeConfiguration !== undefined) need(`${ATTR}fsxWindowsFileServer`);
    const driver = v.dockerVolumeConfiguration?.driver;
    if (driver !== undefined) need(`${ATTR}docker-plugin.${driver}`);
  }
  return names.map((name) => ({ name }));
}

/** Secrets come from Secrets Manager when valueFrom is its ARN, else from SSM Parameter Store. */
const secretStore = (s: Secret): 'asm' | 'ssm' => ((s.valueFrom ?? '').startsWith('arn:') && (s.valueFrom ?? '').split(':')[2] === 'secretsmanager' ? 'asm' : 'ssm');

// ---------------------------------------------------------------------------------------------

export interface PreparedRegistration {
  /** The task definition as ECS will return it, less what the store assigns (ARN, revision, status, times). */
  readonly body: TaskDefinitionBody;
  /** The request's tags, validated; empty when it had none. */
  readonly tags: readonly Tag[];
}

/**
 * Everything RegisterTaskDefinition decides before it writes: reads and checks the request and
 * builds the body ECS echoes. Throws the first rule broken as a BerthError naming the field.
 */
export function prepareRegistration(input: Obj): PreparedRegistration {
  const req = readRegisterRequest(input);
  const family = checkFamily(req.family);
  const containers = checkContainerList(req);
  const targets = [...new Set(req.requiresCompatibilities ?? [])];
  const mode = effectiveNetworkMode(req);
  const size = checkTaskSize(req);
  const names = new Set(containers.map((c) => c.name));

  const healthChecks = new Map<string, HealthCheck | undefined>();
  const hostPorts: PortUse[] = [];
  for (const c of containers) {
    checkImage(c);
    checkContainerResources(c);
    hostPorts.push(...checkPortMappings(c, mode));
    checkNetworkingFields(c, mode, names);
    healthChecks.set(c.name, checkHealthCheck(c));
    checkEnvironment(c);
    checkUlimits(c);
    checkLinuxParameters(c);
    checkMiscContainerFields(c);
  }
  if (!containers.some((c) => c.def.essential ?? true)) {
    throw clientError('A task definition must have at least one essential container. (Every containerDefinitions[].essential is false.)');
  }
  checkHostPortCollisions(hostPorts);
  const volumeNames = checkVolumes(req.volumes ?? []);
  checkReferences(containers, volumeNames, req);
  const targetsEc2 = targets.length === 0 || targets.includes('EC2') || targets.includes('EXTERNAL');
  checkResourcesAgainstTask(containers, size, targetsEc2);
  checkTaskLevelFields(req, mode, targets);
  const fargateProblem = fargateIncompatibility(req, containers, size);
  if (fargateProblem !== undefined && targets.includes('FARGATE')) throw fargateProblem;
  const tags = req.tags ?? [];
  validateTags(tags);

  const { tags: _tags, family: _family, containerDefinitions: _defs, cpu: _cpu, memory: _memory, requiresCompatibilities: _rc, ...rest } = req;
  const partial = {
    ...rest,
    family,
    containerDefinitions: containers.map((c) => normalizeContainer(c, mode, healthChecks.get(c.name))),
    volumes: req.volumes ?? [],
    placementConstraints: req.placementConstraints ?? [],
    ...(targets.length > 0 ? { requiresCompatibilities: targets } : {}),
    ...(size.cpu === undefined ? {} : { cpu: String(size.cpu) }),
    ...(size.memory === undefined ? {} : { memory: String(size.memory) }),
  };
  // Every Linux definition validates for EC2; FARGATE when it passes Fargate's rules; the others when asked for.
  const compatibilities: Compatibility[] = COMPATIBILITIES.filter((c) =>
    c === 'EC2' || (c === 'FARGATE' ? fargateProblem === undefined : targets.includes(c)));
  const requiresAttributes = deriveRequiresAttributes(partial);
  const body: TaskDefinitionBody = {
    ...partial,
    ...(requiresAttributes.length > 0 ? { requiresAttributes } : {}),
    compatibilities,
  };
  return { body, tags };
}
