/**
 * Task definitions on the wire (botocore ecs 2014-11-13): the request members RegisterTaskDefinition
 * accepts and the TaskDefinition object every ECS operation returns, stored as-is under keys.taskDefinition.
 */

// Enumerations, exactly as the model spells them.
export const NETWORK_MODES = ['bridge', 'host', 'awsvpc', 'none'] as const;
export const COMPATIBILITIES = ['EC2', 'FARGATE', 'EXTERNAL', 'MANAGED_INSTANCES'] as const;
export const TASK_DEFINITION_STATUSES = ['ACTIVE', 'INACTIVE', 'DELETE_IN_PROGRESS'] as const;
export const TASK_DEFINITION_FAMILY_STATUSES = ['ACTIVE', 'INACTIVE', 'ALL'] as const;
export const SORT_ORDERS = ['ASC', 'DESC'] as const;
export const TASK_DEFINITION_FIELDS = ['TAGS'] as const;
export const TRANSPORT_PROTOCOLS = ['tcp', 'udp'] as const;
export const APPLICATION_PROTOCOLS = ['http', 'http2', 'grpc'] as const;
export const CONTAINER_CONDITIONS = ['START', 'COMPLETE', 'SUCCESS', 'HEALTHY'] as const;
export const VERSION_CONSISTENCIES = ['enabled', 'disabled'] as const;
export const ENVIRONMENT_FILE_TYPES = ['s3'] as const;
export const DEVICE_CGROUP_PERMISSIONS = ['read', 'write', 'mknod'] as const;
export const ULIMIT_NAMES = [
  'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime',
  'sigpending', 'stack',
] as const;
export const LOG_DRIVERS = ['json-file', 'syslog', 'journald', 'gelf', 'fluentd', 'awslogs', 'splunk', 'awsfirelens'] as const;
export const RESOURCE_TYPES = ['GPU', 'InferenceAccelerator'] as const;
export const FIRELENS_TYPES = ['fluentd', 'fluentbit'] as const;
export const DOCKER_VOLUME_SCOPES = ['task', 'shared'] as const;
export const EFS_TRANSIT_ENCRYPTIONS = ['ENABLED', 'DISABLED'] as const;
export const EFS_IAM_SETTINGS = ['ENABLED', 'DISABLED'] as const;
export const PLACEMENT_CONSTRAINT_TYPES = ['memberOf'] as const;
export const PROXY_CONFIGURATION_TYPES = ['APPMESH'] as const;
export const CPU_ARCHITECTURES = ['X86_64', 'ARM64'] as const;
export const OS_FAMILIES = [
  'WINDOWS_SERVER_2019_FULL', 'WINDOWS_SERVER_2019_CORE', 'WINDOWS_SERVER_2016_FULL', 'WINDOWS_SERVER_2004_CORE',
  'WINDOWS_SERVER_2022_CORE', 'WINDOWS_SERVER_2022_FULL', 'WINDOWS_SERVER_2025_CORE', 'WINDOWS_SERVER_2025_FULL',
  'WINDOWS_SERVER_20H2_CORE', 'LINUX',
] as const;
export const PID_MODES = ['host', 'task'] as const;
export const IPC_MODES = ['host', 'task', 'none'] as const;

export type NetworkMode = (typeof NETWORK_MODES)[number];
export type Compatibility = (typeof COMPATIBILITIES)[number];
export type TaskDefinitionStatus = (typeof TASK_DEFINITION_STATUSES)[number];
export type TaskDefinitionFamilyStatus = (typeof TASK_DEFINITION_FAMILY_STATUSES)[number];
export type SortOrder = (typeof SORT_ORDERS)[number];
export type TransportProtocol = (typeof TRANSPORT_PROTOCOLS)[number];
export type ApplicationProtocol = (typeof APPLICATION_PROTOCOLS)[number];
export type ContainerCondition = (typeof CONTAINER_CONDITIONS)[number];
export type VersionConsistency = (typeof VERSION_CONSISTENCIES)[number];
export type EnvironmentFileType = (typeof ENVIRONMENT_FILE_TYPES)[number];
export type DeviceCgroupPermission = (typeof DEVICE_CGROUP_PERMISSIONS)[number];
export type UlimitName = (typeof ULIMIT_NAMES)[number];
export type LogDriver = (typeof LOG_DRIVERS)[number];
export type ResourceType = (typeof RESOURCE_TYPES)[number];
export type FirelensConfigurationType = (typeof FIRELENS_TYPES)[number];
export type DockerVolumeScope = (typeof DOCKER_VOLUME_SCOPES)[number];
export type EfsTransitEncryption = (typeof EFS_TRANSIT_ENCRYPTIONS)[number];
export type EfsIamSetting = (typeof EFS_IAM_SETTINGS)[number];
export type PlacementConstraintType = (typeof PLACEMENT_CONSTRAINT_TYPES)[number];
export type ProxyConfigurationType = (typeof PROXY_CONFIGURATION_TYPES)[number];
export type CpuArchitecture = (typeof CPU_ARCHITECTURES)[number];
export type OsFamily = (typeof OS_FAMILIES)[number];
export type PidMode = (typeof PID_MODES)[number];
export type IpcMode = (typeof IPC_MODES)[number];

// Structures. Members are optional as in the model; a member the caller left out is absent, never null.
export interface RepositoryCredentials { readonly credentialsParameter?: string }
export interface PortMapping {
  readonly containerPort?: number;
  readonly hostPort?: number;
  readonly protocol?: TransportProtocol;
  readonly name?: string;
  readonly appProtocol?: ApplicationProtocol;
  readonly containerPortRange?: string;
}
export interface ContainerRestartPolicy {
  readonly enabled?: boolean;
  readonly ignoredExitCodes?: readonly number[];
  readonly restartAttemptPeriod?: number;
}
export interface KeyValuePair { readonly name?: string; readonly value?: string }
export interface EnvironmentFile { readonly value?: string; readonly type?: EnvironmentFileType }
export interface MountPoint { readonly sourceVolume?: string; readonly containerPath?: string; readonly readOnly?: boolean }
export interface VolumeFrom { readonly sourceContainer?: string; readonly readOnly?: boolean }
export interface KernelCapabilities { readonly add?: readonly string[]; readonly drop?: readonly string[] }
export interface Device {
  readonly hostPath?: string;
  readonly containerPath?: string;
  readonly permissions?: readonly DeviceCgroupPermission[];
}
export interface Tmpfs { readonly containerPath?: string; readonly size?: number; readonly mountOptions?: readonly string[] }
export interface LinuxParameters {
  readonly capabilities?: KernelCapabilities;
  readonly devices?: readonly Device[];
  readonly initProcessEnabled?: boolean;
  readonly sharedMemorySize?: number;
  readonly tmpfs?: readonly Tmpfs[];
  readonly maxSwap?: number;
  readonly swappiness?: number;
}
export interface Secret { readonly name?: string; readonly valueFrom?: string }
export interface ContainerDependency { readonly containerName?: string; readonly condition?: ContainerCondition }
export interface HostEntry { readonly hostname?: string; readonly ipAddress?: string }
export interface Ulimit { readonly name?: UlimitName; readonly softLimit?: number; readonly hardLimit?: number }
export interface LogConfiguration {
  readonly logDriver?: LogDriver;
  readonly options?: Readonly<Record<string, string>>;
  readonly secretOptions?: readonly Secret[];
}
export interface HealthCheck {
  readonly command?: readonly string[];
  readonly interval?: number;
  readonly timeout?: number;
  readonly retries?: number;
  readonly startPeriod?: number;
}
export interface SystemControl { readonly namespace?: string; readonly value?: string }
export interface ResourceRequirement { readonly value?: string; readonly type?: ResourceType }
export interface FirelensConfiguration {
  readonly type?: FirelensConfigurationType;
  readonly options?: Readonly<Record<string, string>>;
}

/** A container as RegisterTaskDefinition accepts it. */
export interface ContainerDefinitionInput {
  readonly name?: string;
  readonly image?: string;
  readonly repositoryCredentials?: RepositoryCredentials;
  readonly cpu?: number;
  readonly memory?: number;
  readonly memoryReservation?: number;
  readonly links?: readonly string[];
  readonly portMappings?: readonly PortMapping[];
  readonly essential?: boolean;
  readonly restartPolicy?: ContainerRestartPolicy;
  readonly entryPoint?: readonly string[];
  readonly command?: readonly string[];
  readonly environment?: readonly KeyValuePair[];
  readonly environmentFiles?: readonly EnvironmentFile[];
  readonly mountPoints?: readonly MountPoint[];
  readonly volumesFrom?: readonly VolumeFrom[];
  readonly linuxParameters?: LinuxParameters;
  readonly secrets?: readonly Secret[];
  readonly dependsOn?: readonly ContainerDependency[];
  readonly startTimeout?: number;
  readonly stopTimeout?: number;
  readonly versionConsistency?: VersionConsistency;
  readonly hostname?: string;
  readonly user?: string;
  readonly workingDirectory?: string;
  readonly disableNetworking?: boolean;
  readonly privileged?: boolean;
  readonly readonlyRootFilesystem?: boolean;
  readonly dnsServers?: readonly string[];
  readonly dnsSearchDomains?: readonly string[];
  readonly extraHosts?: readonly HostEntry[];
  readonly dockerSecurityOptions?: readonly string[];
  readonly interactive?: boolean;
  readonly pseudoTerminal?: boolean;
  readonly dockerLabels?: Readonly<Record<string, string>>;
  readonly ulimits?: readonly Ulimit[];
  readonly logConfiguration?: LogConfiguration;
  readonly healthCheck?: HealthCheck;
  readonly systemControls?: readonly SystemControl[];
  readonly resourceRequirements?: readonly ResourceRequirement[];
  readonly firelensConfiguration?: FirelensConfiguration;
  readonly credentialSpecs?: readonly string[];
}

/** A container as ECS returns it: validated, with the defaults ECS fills in made explicit. */
export interface ContainerDefinition extends ContainerDefinitionInput {
  readonly name: string;
  readonly image: string;
  readonly cpu: number;
  readonly essential: boolean;
  readonly portMappings: readonly PortMapping[];
  readonly environment: readonly KeyValuePair[];
  readonly mountPoints: readonly MountPoint[];
  readonly volumesFrom: readonly VolumeFrom[];
  readonly systemControls: readonly SystemControl[];
}

export interface HostVolumeProperties { readonly sourcePath?: string }
export interface DockerVolumeConfiguration {
  readonly scope?: DockerVolumeScope;
  readonly autoprovision?: boolean;
  readonly driver?: string;
  readonly driverOpts?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
}
export interface EfsAuthorizationConfig { readonly accessPointId?: string; readonly iam?: EfsIamSetting }
export interface EfsVolumeConfiguration {
  readonly fileSystemId?: string;
  readonly rootDirectory?: string;
  readonly transitEncryption?: EfsTransitEncryption;
  readonly transitEncryptionPort?: number;
  readonly authorizationConfig?: EfsAuthorizationConfig;
}
export interface S3FilesVolumeConfiguration {
  readonly fileSystemArn?: string;
  readonly rootDirectory?: string;
  readonly transitEncryptionPort?: number;
  readonly accessPointArn?: string;
}
export interface FsxWindowsFileServerAuthorizationConfig { readonly credentialsParameter?: string; readonly domain?: string }
export interface FsxWindowsFileServerVolumeConfiguration {
  readonly fileSystemId?: string;
  readonly rootDirectory?: string;
  readonly authorizationConfig?: FsxWindowsFileServerAuthorizationConfig;
}
export interface Volume {
  readonly name?: string;
  readonly host?: HostVolumeProperties;
  readonly dockerVolumeConfiguration?: DockerVolumeConfiguration;
  readonly efsVolumeConfiguration?: EfsVolumeConfiguration;
  readonly s3filesVolumeConfiguration?: S3FilesVolumeConfiguration;
  readonly fsxWindowsFileServerVolumeConfiguration?: FsxWindowsFileServerVolumeConfiguration;
  readonly configuredAtLaunch?: boolean;
}
export interface TaskDefinitionPlacementConstraint { readonly type?: PlacementConstraintType; readonly expression?: string }
export interface Tag { readonly key?: string; readonly value?: string }
export interface ProxyConfiguration {
  readonly type?: ProxyConfigurationType;
  readonly containerName?: string;
  readonly properties?: readonly KeyValuePair[];
}
export interface InferenceAccelerator { readonly deviceName?: string; readonly deviceType?: string }
export interface EphemeralStorage { readonly sizeInGiB?: number }
export interface RuntimePlatform { readonly cpuArchitecture?: CpuArchitecture; readonly operatingSystemFamily?: OsFamily }
/** A container-instance attribute a task definition requires (requiresAttributes); ECS sets only `name`. */
export interface Attribute { readonly name: string; readonly value?: string }

/** The RegisterTaskDefinition request, after its members were read with their types checked. */
export interface RegisterTaskDefinitionRequest {
  readonly family?: string;
  readonly taskRoleArn?: string;
  readonly executionRoleArn?: string;
  readonly networkMode?: NetworkMode;
  readonly containerDefinitions?: readonly ContainerDefinitionInput[];
  readonly volumes?: readonly Volume[];
  readonly placementConstraints?: readonly TaskDefinitionPlacementConstraint[];
  readonly requiresCompatibilities?: readonly Compatibility[];
  readonly cpu?: string;
  readonly memory?: string;
  readonly tags?: readonly Tag[];
  readonly pidMode?: PidMode;
  readonly ipcMode?: IpcMode;
  readonly proxyConfiguration?: ProxyConfiguration;
  readonly inferenceAccelerators?: readonly InferenceAccelerator[];
  readonly ephemeralStorage?: EphemeralStorage;
  readonly runtimePlatform?: RuntimePlatform;
  readonly enableFaultInjection?: boolean;
}

/**
 * A registered task definition exactly as DescribeTaskDefinition returns it (timestamps in epoch
 * seconds). `networkMode` is absent when the caller left it out, as in ECS; the effective mode is
 * then bridge (see effectiveNetworkMode).
 */
export interface TaskDefinition {
  readonly taskDefinitionArn: string;
  readonly containerDefinitions: readonly ContainerDefinition[];
  readonly family: string;
  readonly taskRoleArn?: string;
  readonly executionRoleArn?: string;
  readonly networkMode?: NetworkMode;
  readonly revision: number;
  readonly volumes: readonly Volume[];
  readonly status: TaskDefinitionStatus;
  readonly requiresAttributes?: readonly Attribute[];
  readonly placementConstraints: readonly TaskDefinitionPlacementConstraint[];
  readonly compatibilities: readonly Compatibility[];
  readonly runtimePlatform?: RuntimePlatform;
  readonly requiresCompatibilities?: readonly Compatibility[];
  /** CPU units as a decimal string ("1 vCPU" is stored as "1024"). */
  readonly cpu?: string;
  /** MiB as a decimal string ("2 GB" is stored as "2048"). */
  readonly memory?: string;
  readonly inferenceAccelerators?: readonly InferenceAccelerator[];
  readonly pidMode?: PidMode;
  readonly ipcMode?: IpcMode;
  readonly proxyConfiguration?: ProxyConfiguration;
  readonly registeredAt: number;
  readonly deregisteredAt?: number;
  readonly deleteRequestedAt?: number;
  readonly registeredBy: string;
  readonly ephemeralStorage?: EphemeralStorage;
  readonly enableFaultInjection?: boolean;
}

/** The validated content of a registration: a TaskDefinition before the store gives it a revision. */
export type TaskDefinitionBody = Omit<
  TaskDefinition,
  'taskDefinitionArn' | 'revision' | 'status' | 'registeredAt' | 'registeredBy' | 'deregisteredAt' | 'deleteRequestedAt'
>;

/** The value under keys.family: the revision counter (never reused) and how many revisions are ACTIVE. */
export interface TaskDefinitionFamily {
  readonly family: string;
  readonly lastRevision: number;
  readonly activeRevisions: number;
}

/** A tag as returned with a task definition: the value is '' when the caller gave none. */
export interface ResourceTag { readonly key: string; readonly value?: string }

/**
 * What keys.taskDefinition holds: the TaskDefinition as ECS returns it, plus its tags, which every
 * ECS resource keeps in its own record (so TagResource is one compare-and-swap). Never sent as is:
 * the tags go out only in the `tags` member of a response.
 */
export type StoredTaskDefinition = TaskDefinition & { readonly tags?: readonly ResourceTag[] };

/** A per-item failure, as DeleteTaskDefinitions reports it. */
export interface Failure { readonly arn?: string; readonly reason?: string; readonly detail?: string }
