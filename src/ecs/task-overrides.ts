/**
 * The `overrides` parameter of RunTask and StartTask: checked against the task definition, then
 * kept on the task exactly as ECS returns it (one containerOverrides entry per container), so the
 * agent runs what the caller asked for and DescribeTasks shows it. Also Fargate's task sizes.
 */
import { BerthError } from '../protocols/index.js';
import type { ContainerDefinition, TaskDefinition } from './task-definition-types.js';
import { FARGATE_TASK_SIZES, parseTaskCpu, parseTaskMemory } from './task-definition-rules.js';
import { invalid, objectsOf, optionalArray, optionalEnum, optionalInt, optionalObject, optionalString, optionalStringArray } from './input.js';

export interface KeyValuePair {
  readonly name: string;
  readonly value: string;
}
export interface EnvironmentFile {
  readonly value: string;
  readonly type: 's3';
}
export interface ResourceRequirement {
  readonly value: string;
  readonly type: 'GPU' | 'InferenceAccelerator';
}

/** One container's overrides as stored and returned; only `name` is always present. */
export interface ContainerOverride {
  readonly name: string;
  readonly command?: readonly string[];
  readonly environment?: readonly KeyValuePair[];
  readonly environmentFiles?: readonly EnvironmentFile[];
  readonly cpu?: number;
  readonly memory?: number;
  readonly memoryReservation?: number;
  readonly resourceRequirements?: readonly ResourceRequirement[];
}

/** Task.overrides on the wire. */
export interface TaskOverride {
  readonly containerOverrides: readonly ContainerOverride[];
  readonly cpu?: string;
  readonly memory?: string;
  readonly inferenceAcceleratorOverrides: readonly never[];
  readonly executionRoleArn?: string;
  readonly taskRoleArn?: string;
  readonly ephemeralStorage?: { readonly sizeInGiB: number };
}

/** ECS's limit on the JSON text of `overrides`, formatting included. */
export const MAX_OVERRIDES_LENGTH = 8192;
/** Docker's smallest memory limit, which ECS enforces for containers. */
export const MIN_CONTAINER_MEMORY = 6;

export const overrideNotInTaskDefinition = (name: string): BerthError =>
  invalid(`Override for container named ${name} is not a container in the TaskDefinition`);

/** Throws ECS's ClientException unless cpu/memory (units, MiB) is one of Fargate's task sizes. */
export function checkFargateSize(cpu: number | undefined, memory: number | undefined): void {
  const sizes = cpu === undefined ? undefined : FARGATE_TASK_SIZES.get(cpu);
  if (cpu === undefined || sizes === undefined) throw new BerthError('ClientException', "Invalid 'cpu' setting for task.");
  if (memory === undefined || !sizes.includes(memory)) {
    throw new BerthError(
      'ClientException',
      `No Fargate configuration exists for given values: ${cpu} CPU, ${memory ?? 0} memory. See the Amazon ECS documentation for the valid values.`,
    );
  }
}

function readKeyValuePairs(item: Record<string, unknown>, field: string, path: string): KeyValuePair[] | undefined {
  const list = optionalArray(item, field, { path });
  if (list === undefined) return undefined;
  return objectsOf(list, path).map(({ item: kv, path: p }) => {
    const name = optionalString(kv, 'name', { path: `${p}.name` });
    if (name === undefined || name === '') throw invalid(`${p}.name is required.`);
    return { name, value: optionalString(kv, 'value', { path: `${p}.value` }) ?? '' };
  });
}

function readContainerOverride(item: Record<string, unknown>, path: string, container: ContainerDefinition): ContainerOverride {
  const command = optionalStringArray(item, 'command', { path: `${path}.command` });
  const environment = readKeyValuePairs(item, 'environment', `${path}.environment`);
  const files = optionalArray(item, 'environmentFiles', { path: `${path}.environmentFiles` });
  const environmentFiles = files?.length
    ? objectsOf(files, `${path}.environmentFiles`).map(({ item: f, path: p }) => {
        const value = optionalString(f, 'value', { path: `${p}.value` });
        const type = optionalEnum(f, 'type', ['s3'] as const, `${p}.type`);
        if (value === undefined || value === '' || type === undefined) throw invalid(`${p} requires a value and a type (s3).`);
        return { value, type };
      })
    : undefined;
  const cpu = optionalInt(item, 'cpu', { min: 0, path: `${path}.cpu` });
  const memory = optionalInt(item, 'memory', { min: MIN_CONTAINER_MEMORY, path: `${path}.memory` });
  const memoryReservation = optionalInt(item, 'memoryReservation', { min: MIN_CONTAINER_MEMORY, path: `${path}.memoryReservation` });
  const requirements = optionalArray(item, 'resourceRequirements', { path: `${path}.resourceRequirements` });
  const resourceRequirements = requirements?.length
    ? objectsOf(requirements, `${path}.resourceRequirements`).map(({ item: r, path: p }) => {
        const value = optionalString(r, 'value', { path: `${p}.value` });
        const type = optionalEnum(r, 'type', ['GPU', 'InferenceAccelerator'] as const, `${p}.type`);
        if (value === undefined || value === '' || type === undefined) throw invalid(`${p} requires a value and a type.`);
        return { value, type };
      })
    : undefined;

  const hard = memory ?? container.memory;
  const soft = memoryReservation ?? container.memoryReservation;
  if (hard !== undefined && soft !== undefined && soft > hard) {
    throw invalid(`Invalid setting for container '${container.name}'. The memory reservation must be less than or equal to the memory hard limit.`);
  }
  return {
    name: container.name,
    ...(command === undefined ? {} : { command: [...command] }),
    ...(environment === undefined ? {} : { environment }),
    ...(environmentFiles === undefined ? {} : { environmentFiles }),
    ...(cpu === undefined ? {} : { cpu }),
    ...(memory === undefined ? {} : { memory }),
    ...(memoryReservation === undefined ? {} : { memoryReservation }),
    ...(resourceRequirements === undefined ? {} : { resourceRequirements }),
  };
}

function readTaskSizeOverride(o: Record<string, unknown>, kind: 'cpu' | 'memory'): string | undefined {
  const raw = optionalString(o, kind, { path: `overrides.${kind}` });
  if (raw === undefined || raw === '') return undefined;
  const n = kind === 'cpu' ? parseTaskCpu(raw) : parseTaskMemory(raw);
  if (n === undefined) throw invalid(`Invalid '${kind}' override for task: ${raw}.`);
  return String(n);
}

/**
 * Reads `overrides` against the task definition and launch type, and returns them as the task
 * keeps them: one containerOverrides entry per container of the task definition, in its order
 * (just `{name}` where nothing is overridden), as ECS does.
 *
 * @example readTaskOverride({ overrides: { containerOverrides: [{ name: 'web', command: ['echo', 'hi'] }] } }, td, 'EC2')
 */
export function readTaskOverride(
  input: Record<string, unknown>,
  td: Pick<TaskDefinition, 'containerDefinitions' | 'cpu' | 'memory'>,
  launchType: string,
): TaskOverride {
  const o = optionalObject(input, 'overrides') ?? {};
  if (JSON.stringify(o).length > MAX_OVERRIDES_LENGTH) throw invalid(`Container Overrides length must be at most ${MAX_OVERRIDES_LENGTH}`);

  const given = new Map<string, ContainerOverride>();
  const list = optionalArray(o, 'containerOverrides', { path: 'overrides.containerOverrides' }) ?? [];
  for (const { item, path } of objectsOf(list, 'overrides.containerOverrides')) {
    const name = optionalString(item, 'name', { path: `${path}.name` });
    if (name === undefined || name === '') throw invalid(`${path}.name is required.`);
    const container = td.containerDefinitions.find((c) => c.name === name);
    if (container === undefined) throw overrideNotInTaskDefinition(name);
    if (given.has(name)) throw invalid(`Override for container named ${name} is given more than once.`);
    given.set(name, readContainerOverride(item, path, container));
  }

  const cpu = readTaskSizeOverride(o, 'cpu');
  const memory = readTaskSizeOverride(o, 'memory');
  if (launchType === 'FARGATE' && (cpu !== undefined || memory !== undefined)) {
    checkFargateSize(parseTaskCpu(cpu ?? td.cpu ?? ''), parseTaskMemory(memory ?? td.memory ?? ''));
  }
  const taskRoleArn = optionalString(o, 'taskRoleArn', { path: 'overrides.taskRoleArn' });
  const executionRoleArn = optionalString(o, 'executionRoleArn', { path: 'overrides.executionRoleArn' });
  const storage = optionalObject(o, 'ephemeralStorage', 'overrides.ephemeralStorage');
  let ephemeralStorage: { sizeInGiB: number } | undefined;
  if (storage !== undefined) {
    if (launchType !== 'FARGATE') throw invalid('Ephemeral storage overrides are only supported for tasks using the FARGATE launch type.');
    const sizeInGiB = optionalInt(storage, 'sizeInGiB', { min: 21, max: 200, path: 'overrides.ephemeralStorage.sizeInGiB' });
    if (sizeInGiB === undefined) throw invalid('overrides.ephemeralStorage.sizeInGiB is required.');
    ephemeralStorage = { sizeInGiB };
  }
  const accelerators = optionalArray(o, 'inferenceAcceleratorOverrides', { path: 'overrides.inferenceAcceleratorOverrides' });
  if (accelerators !== undefined && accelerators.length > 0) {
    throw new BerthError('UnsupportedFeatureException', 'Amazon Elastic Inference is no longer available.');
  }

  return {
    containerOverrides: td.containerDefinitions.map((c) => given.get(c.name) ?? { name: c.name }),
    ...(cpu === undefined ? {} : { cpu }),
    ...(memory === undefined ? {} : { memory }),
    inferenceAcceleratorOverrides: [],
    ...(executionRoleArn === undefined || executionRoleArn === '' ? {} : { executionRoleArn }),
    ...(taskRoleArn === undefined || taskRoleArn === '' ? {} : { taskRoleArn }),
    ...(ephemeralStorage === undefined ? {} : { ephemeralStorage }),
  };
}

/** A container's effective limits: the override's value where given, else the task definition's. */
export function effectiveContainer(
  container: ContainerDefinition,
  override: ContainerOverride | undefined,
): { cpu: number; memory?: number; memoryReservation?: number } {
  const memory = override?.memory ?? container.memory;
  const memoryReservation = override?.memoryReservation ?? container.memoryReservation;
  return {
    cpu: override?.cpu ?? container.cpu,
    ...(memory === undefined ? {} : { memory }),
    ...(memoryReservation === undefined ? {} : { memoryReservation }),
  };
}
