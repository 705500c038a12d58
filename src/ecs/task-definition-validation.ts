/** RegisterTaskDefinition, decided: prepareRegistration reads the request, applies every rule the ECS developer guide states, and builds the body ECS echoes. */
import { checkContainerList, checkContainers, checkReferences } from './container-definition-rules.js';
import { readRegisterRequest } from './task-definition-request.js';
import {
  checkFamily, checkResourcesAgainstTask, checkTaskLevelFields, checkTaskSize, checkVolumes, effectiveNetworkMode,
  fargateIncompatibility, validateTags, type Container,
} from './task-definition-rules.js';
import { COMPATIBILITIES } from './task-definition-types.js';
import type {
  Attribute, Compatibility, ContainerDefinition, ContainerDefinitionInput, HealthCheck, NetworkMode, PortMapping, Secret, Tag,
  TaskDefinitionBody,
} from './task-definition-types.js';

// The rules' public names, where importers have always found them.
export { MAX_CONTAINERS } from './container-definition-rules.js';
export { readRegisterRequest } from './task-definition-request.js';
export {
  effectiveNetworkMode, FARGATE_TASK_SIZES, isValidFamily, MAX_TAGS, MIN_CONTAINER_MEMORY_MIB, parseTaskCpu,
  parseTaskDefinitionRef, parseTaskMemory, validateTags, type TaskDefinitionRef,
} from './task-definition-rules.js';

type Obj = Record<string, unknown>;

export interface PreparedRegistration {
  /** The task definition as ECS will return it, less what the store assigns (ARN, revision, status, times). */
  readonly body: TaskDefinitionBody;
  /** The request's tags, validated; empty when it had none. */
  readonly tags: readonly Tag[];
}

/**
 * Everything RegisterTaskDefinition decides before it writes: reads and checks the request and
 * builds the body ECS echoes. Throws the first rule broken as a BerthError naming the field.
 *
 * @example const { body, tags } = prepareRegistration({ family: 'web', containerDefinitions: [{ name: 'app', image: 'nginx', memory: 128 }] });
 */
export function prepareRegistration(input: Obj): PreparedRegistration {
  const req = readRegisterRequest(input);
  const family = checkFamily(req.family);
  const containers = checkContainerList(req);
  const targets = [...new Set(req.requiresCompatibilities ?? [])];
  const mode = effectiveNetworkMode(req);
  const size = checkTaskSize(req);
  const healthChecks = checkContainers(containers, mode);
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
