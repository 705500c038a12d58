/** RegisterTaskDefinition's first step: the request read against the model's shapes (member types, enum values, required members). */
import { BerthError } from '../protocols/index.js';
import {
  clientError, objectsOf, optionalArray, optionalBool, optionalInt, optionalObject, optionalString, optionalStringArray,
} from './input.js';
import {
  APPLICATION_PROTOCOLS, COMPATIBILITIES, CONTAINER_CONDITIONS, CPU_ARCHITECTURES, DEVICE_CGROUP_PERMISSIONS,
  DOCKER_VOLUME_SCOPES, EFS_IAM_SETTINGS, EFS_TRANSIT_ENCRYPTIONS, ENVIRONMENT_FILE_TYPES, FIRELENS_TYPES, IPC_MODES,
  LOG_DRIVERS, NETWORK_MODES, OS_FAMILIES, PID_MODES, PLACEMENT_CONSTRAINT_TYPES, PROXY_CONFIGURATION_TYPES,
  RESOURCE_TYPES, TRANSPORT_PROTOCOLS, ULIMIT_NAMES, VERSION_CONSISTENCIES,
} from './task-definition-types.js';
import type {
  ContainerDefinitionInput, ContainerDependency, ContainerRestartPolicy, Device, DockerVolumeConfiguration,
  EfsAuthorizationConfig, EfsVolumeConfiguration, EnvironmentFile, EphemeralStorage, FirelensConfiguration,
  FsxWindowsFileServerAuthorizationConfig, FsxWindowsFileServerVolumeConfiguration, HealthCheck, HostEntry,
  HostVolumeProperties, InferenceAccelerator, KernelCapabilities, KeyValuePair, LinuxParameters, LogConfiguration,
  MountPoint, PortMapping, ProxyConfiguration, RegisterTaskDefinitionRequest, RepositoryCredentials, ResourceRequirement,
  RuntimePlatform, S3FilesVolumeConfiguration, Secret, SystemControl, Tag, TaskDefinitionPlacementConstraint, Tmpfs,
  Ulimit, Volume, VolumeFrom,
} from './task-definition-types.js';

type Obj = Record<string, unknown>;

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

/**
 * Reads a RegisterTaskDefinition request: member types (SerializationException), enum values and the
 * model's required members (ClientException). Members the model does not know are dropped, as an SDK would.
 *
 * @example readRegisterRequest({ family: 'web', containerDefinitions: [{ name: 'app', image: 'nginx', memory: 128 }] })
 */
export function readRegisterRequest(input: Obj): RegisterTaskDefinitionRequest {
  return readShape<RegisterTaskDefinitionRequest>(input, registerRequestShape, '');
}
