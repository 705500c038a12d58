/**
 * The ECR API's input readers and wire shapes: each reader names the field and the rule it broke
 * (InvalidParameterException, as ECR does), and the shapes are what botocore's ecr 2015-09-21
 * model describes (timestamps as Dates; the JSON codec writes epoch seconds).
 */
import { BerthError } from '../protocols/index.js';
import type { RequestContext } from '../protocols/index.js';
import type { RegistryAction } from './auth.js';
import type { Registry } from './index.js';
import type { ImageTagMutability, ManifestRecord, RepositoryRecord, ResourceTag, TagMutabilityExclusion } from './metadata.js';
import { isRepositoryName } from './names.js';

type Obj = Record<string, unknown>;

export interface EcrDeps {
  readonly registry: Registry;
  /**
   * Where clients reach the registry, e.g. `http://127.0.0.1:4566`: GetAuthorizationToken's
   * proxyEndpoint, and (its host and port) the start of every repositoryUri.
   */
  readonly registryEndpoint: string;
  /** InitiateLayerUpload's partSize. Parts travel base64 in JSON, under the edge's body limit. */
  readonly layerPartSize?: number;
}

/** ECR allows 20 MiB parts; the edge's default 1 MiB API body limit fits 512 KiB once base64'd. */
export const DEFAULT_LAYER_PART_SIZE = 512 * 1024;

export const IMAGE_TAG_MUTABILITIES: readonly ImageTagMutability[] = ['MUTABLE', 'IMMUTABLE', 'IMMUTABLE_WITH_EXCLUSION', 'MUTABLE_WITH_EXCLUSION'];

export const invalid = (message: string): BerthError => new BerthError('InvalidParameterException', message);

function typeError(field: string, expected: string, got: unknown): BerthError {
  const kind = got === null ? 'null' : Array.isArray(got) ? 'list' : typeof got;
  return new BerthError('SerializationException', `Invalid type for parameter ${field}: expected ${expected}, got ${kind}.`);
}

export function optionalString(input: Obj, field: string, opts: { min?: number; max?: number; path?: string } = {}): string | undefined {
  const v = input[field];
  const name = opts.path ?? field;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw typeError(name, 'a string', v);
  if (opts.min !== undefined && v.length < opts.min) throw invalid(`Invalid parameter at '${name}' failed to satisfy constraint: 'Member must have length greater than or equal to ${opts.min}'`);
  if (opts.max !== undefined && v.length > opts.max) throw invalid(`Invalid parameter at '${name}' failed to satisfy constraint: 'Member must have length less than or equal to ${opts.max}'`);
  return v;
}

export function requiredString(input: Obj, field: string, opts: { min?: number; max?: number; path?: string } = {}): string {
  const v = optionalString(input, field, opts);
  if (v === undefined) throw invalid(`Invalid parameter at '${opts.path ?? field}' failed to satisfy constraint: 'Member must not be null'`);
  return v;
}

export function optionalInt(input: Obj, field: string, opts: { min?: number; max?: number } = {}): number | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw typeError(field, 'an integer', v);
  if (opts.min !== undefined && v < opts.min) throw invalid(`Invalid parameter at '${field}' failed to satisfy constraint: 'Member must have value greater than or equal to ${opts.min}'`);
  if (opts.max !== undefined && v > opts.max) throw invalid(`Invalid parameter at '${field}' failed to satisfy constraint: 'Member must have value less than or equal to ${opts.max}'`);
  return v;
}

export function requiredInt(input: Obj, field: string, opts: { min?: number; max?: number } = {}): number {
  const v = optionalInt(input, field, opts);
  if (v === undefined) throw invalid(`Invalid parameter at '${field}' failed to satisfy constraint: 'Member must not be null'`);
  return v;
}

export function optionalBool(input: Obj, field: string, path?: string): boolean | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw typeError(path ?? field, 'a boolean', v);
  return v;
}

export function optionalObject(input: Obj, field: string, path?: string): Obj | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw typeError(path ?? field, 'a structure', v);
  return v as Obj;
}

export function optionalList(input: Obj, field: string, opts: { min?: number; max?: number } = {}): unknown[] | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw typeError(field, 'a list', v);
  if (opts.min !== undefined && v.length < opts.min) throw invalid(`Invalid parameter at '${field}' failed to satisfy constraint: 'Member must have length greater than or equal to ${opts.min}'`);
  if (opts.max !== undefined && v.length > opts.max) throw invalid(`Invalid parameter at '${field}' failed to satisfy constraint: 'Member must have length less than or equal to ${opts.max}'`);
  return v as unknown[];
}

export function requiredList(input: Obj, field: string, opts: { min?: number; max?: number } = {}): unknown[] {
  const v = optionalList(input, field, opts);
  if (v === undefined) throw invalid(`Invalid parameter at '${field}' failed to satisfy constraint: 'Member must not be null'`);
  return v;
}

export function stringsOf(list: readonly unknown[], field: string): string[] {
  return list.map((item, i) => {
    if (typeof item !== 'string') throw typeError(`${field}[${i}]`, 'a string', item);
    return item;
  });
}

export function objectsOf(list: readonly unknown[], field: string): Obj[] {
  return list.map((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw typeError(`${field}[${i}]`, 'a structure', item);
    return item as Obj;
  });
}

export function optionalEnum<const T extends string>(input: Obj, field: string, values: readonly T[]): T | undefined {
  const v = optionalString(input, field);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    throw invalid(`Invalid parameter at '${field}' failed to satisfy constraint: 'Member must satisfy enum value set: [${values.join(', ')}]'`);
  }
  return v as T;
}

/** registryId, where an operation takes one: only this server's account is a registry here. */
export function checkRegistryId(input: Obj, accountId: string): void {
  const id = optionalString(input, 'registryId');
  if (id === undefined) return;
  if (!/^[0-9]{12}$/.test(id)) throw invalid(`Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''`);
  if (id !== accountId) throw invalid(`The registry with id '${id}' is not this registry; its id is '${accountId}'.`);
}

/** ECR's repositoryName: 2 to 256 characters in the OCI name grammar. */
export function repositoryName(input: Obj, field = 'repositoryName'): string {
  const name = requiredString(input, field, { min: 2, max: 256 });
  if (!isRepositoryName(name)) {
    throw invalid(
      `Invalid parameter at '${field}' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''`,
    );
  }
  return name;
}

export function exclusionFilters(input: Obj, mutability: ImageTagMutability): TagMutabilityExclusion[] | undefined {
  const list = optionalList(input, 'imageTagMutabilityExclusionFilters', { min: 1, max: 5 });
  const withExclusion = mutability.endsWith('_WITH_EXCLUSION');
  if (list === undefined) {
    if (withExclusion) throw invalid(`imageTagMutabilityExclusionFilters are required with imageTagMutability ${mutability}.`);
    return undefined;
  }
  if (!withExclusion) throw invalid(`imageTagMutabilityExclusionFilters apply only with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION, not ${mutability}.`);
  return objectsOf(list, 'imageTagMutabilityExclusionFilters').map((f, i) => {
    const path = `imageTagMutabilityExclusionFilters[${i}]`;
    if (requiredString(f, 'filterType', { path: `${path}.filterType` }) !== 'WILDCARD') throw invalid(`${path}.filterType must be WILDCARD.`);
    const filter = requiredString(f, 'filter', { min: 1, max: 128, path: `${path}.filter` });
    if (!/^[0-9a-zA-Z._*-]+$/.test(filter)) throw invalid(`${path}.filter may hold letters, digits, '.', '_', '-' and the wildcard '*'.`);
    return { filterType: 'WILDCARD', filter };
  });
}

/** Resource tags as ECR checks them: Key 1–128, Value 0–256, no `aws:` prefix, at most 50. */
export function resourceTags(list: readonly unknown[], field = 'tags'): ResourceTag[] {
  return objectsOf(list, field).map((t, i) => {
    const Key = requiredString(t, 'Key', { path: `${field}[${i}].Key` });
    const Value = requiredString(t, 'Value', { path: `${field}[${i}].Value` });
    if (Key.length < 1 || Key.length > 128) throw new BerthError('InvalidTagParameterException', `Tag keys are 1 to 128 characters; '${Key.slice(0, 140)}' is ${Key.length}.`);
    if (Value.length > 256) throw new BerthError('InvalidTagParameterException', `Tag values are at most 256 characters; the value of '${Key}' is ${Value.length}.`);
    if (Key.toLowerCase().startsWith('aws:')) throw new BerthError('InvalidTagParameterException', `Tag keys starting with 'aws:' are reserved; '${Key}' cannot be used.`);
    return { Key, Value };
  });
}

export const MAX_RESOURCE_TAGS = 50;

// --- names, ARNs, messages ----------------------------------------------------------------------

export const repositoryArn = (ctx: RequestContext, accountId: string, name: string) => `arn:aws:ecr:${ctx.region}:${accountId}:repository/${name}`;

/** The repository a resource ARN names, if it is one of this registry's. */
export function repositoryOfArn(arn: string, ctx: RequestContext, accountId: string): string {
  const prefix = `arn:aws:ecr:${ctx.region}:${accountId}:repository/`;
  const name = arn.startsWith(prefix) ? arn.slice(prefix.length) : undefined;
  if (name === undefined || !isRepositoryName(name)) throw invalid(`Invalid parameter at 'resourceArn' failed to satisfy constraint: 'must be a repository ARN of the form ${prefix}<name>'`);
  return name;
}

/**
 * The repository named in `input`, once the caller's right to `action` it is checked by the same
 * authorizer the OCI API asks (AccessDeniedException); RepositoryNotFoundException if absent.
 */
export async function existingRepository(deps: EcrDeps, input: Obj, ctx: RequestContext, action?: RegistryAction): Promise<RepositoryRecord> {
  checkRegistryId(input, deps.registry.accountId);
  const name = repositoryName(input);
  if (action !== undefined && !(await deps.registry.authorize({ caller: ctx.caller, action, repository: name }))) {
    throw new BerthError('AccessDeniedException', `${ctx.caller.accessKeyId} may not ${action} ${action === 'push' ? 'to' : action === 'pull' ? 'from' : 'in'} repository '${name}'.`);
  }
  const record = await deps.registry.metadata.getRepository(name);
  if (record === undefined) throw repositoryNotFound(name, deps.registry.accountId);
  return record;
}

export function repositoryNotFound(name: string, accountId: string): BerthError {
  return new BerthError('RepositoryNotFoundException', `The repository with name '${name}' does not exist in the registry with id '${accountId}'`);
}

/** The registry's host and port, as repositoryUri starts (clients strip the scheme). */
export function registryHost(endpoint: string): string {
  return new URL(endpoint).host;
}

export function repositoryShape(record: RepositoryRecord, ctx: RequestContext, deps: EcrDeps) {
  const accountId = deps.registry.accountId;
  return {
    repositoryArn: repositoryArn(ctx, accountId, record.name),
    registryId: accountId,
    repositoryName: record.name,
    repositoryUri: `${registryHost(deps.registryEndpoint)}/${record.name}`,
    createdAt: new Date(record.createdAt),
    imageTagMutability: record.imageTagMutability,
    ...(record.imageTagMutabilityExclusionFilters !== undefined && { imageTagMutabilityExclusionFilters: record.imageTagMutabilityExclusionFilters }),
    imageScanningConfiguration: { scanOnPush: record.scanOnPush },
    encryptionConfiguration: { encryptionType: record.encryptionType ?? 'AES256' },
  };
}

export function imageDetailShape(record: ManifestRecord, tags: readonly string[], name: string, accountId: string, size: number) {
  return {
    registryId: accountId,
    repositoryName: name,
    imageDigest: record.digest,
    ...(tags.length > 0 && { imageTags: [...tags] }),
    imageSizeInBytes: size,
    imagePushedAt: new Date(record.pushedAt),
    imageManifestMediaType: record.mediaType,
    ...(record.configMediaType !== undefined && { artifactMediaType: record.artifactType ?? record.configMediaType }),
    ...(record.subject !== undefined && { subjectManifestDigest: record.subject }),
  };
}

/** Opaque paging tokens: base64url of JSON, checked on the way back in. */
export function encodeToken(position: unknown): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

export function decodeToken<T>(token: string | undefined, check: (value: unknown) => value is T): T | undefined {
  if (token === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('The nextToken is not valid.');
  }
  if (!check(value) || encodeToken(value) !== token) throw invalid('The nextToken is not valid.');
  return value;
}
