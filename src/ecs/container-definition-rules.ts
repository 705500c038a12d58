/** RegisterTaskDefinition's container rules: each container definition on its own, then what the containers name of each other and of the task. */
import { clientError } from './input.js';
import { checkRange, MIN_CONTAINER_MEMORY_MIB, NAME_RE, NAME_RULE, type Container } from './task-definition-rules.js';
import type { HealthCheck, NetworkMode, RegisterTaskDefinitionRequest } from './task-definition-types.js';

/** A task definition can have at most 10 containers (ECS service quota "Containers per task definition"). */
export const MAX_CONTAINERS = 10;
const MAX_PORT_RANGES = 100;
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

/** The container list: 1 to 10 containers, each with a valid name unique in the task. */
export function checkContainerList(req: RegisterTaskDefinitionRequest): Container[] {
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

/**
 * Every container's own rules, in order, then the task-wide ones: an essential container, and no host
 * port taken twice. Returns each container's health check with the defaults ECS fills in.
 */
export function checkContainers(containers: readonly Container[], mode: NetworkMode): Map<string, HealthCheck | undefined> {
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
  return healthChecks;
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

/**
 * What containers name: volumes in mountPoints, other containers in volumesFrom and dependsOn (without
 * cycles), inference accelerators, a log router for awsfirelens, and the proxy's container.
 */
export function checkReferences(
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
