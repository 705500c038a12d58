/**
 * Resource tags: ECS's tag rules (shared by every Create/Register that takes `tags`) and the
 * TagResource, UntagResource and ListTagsForResource operations. Tags live in each resource's own
 * stored JSON (`tags`), so a tag change is one compare-and-swap on that resource's key.
 */
import { BerthError, type Operation, type RequestContext } from '../protocols/index.js';
import type { Store } from '../store/index.js';
import { parseEcsArn } from './arn.js';
import { invalid, objectsOf, optionalArray, optionalString, requiredString } from './input.js';
import { keys } from './keys.js';
import { readJson, updateJson } from './repo.js';
import { MSG_TASK_DEFINITION_NOT_FOUND } from './task-definitions.js';

export interface Tag {
  readonly key: string;
  readonly value?: string;
}

/** User tags per resource; tags with the reserved aws: prefix (Berth's managed tags) do not count. */
export const MAX_TAGS = 50;
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const isReserved = (key: string) => key.toLowerCase().startsWith('aws:');
const chars = (s: string) => [...s].length;

/**
 * Reads and checks a `tags` request member: at most 50 tags, keys 1–128 and values 0–256
 * characters of letters, numbers, spaces and `_ . : / = + - @`, keys unique, and no key with the
 * `aws:` prefix (reserved for tags Berth manages). Returns [] when the member is absent.
 *
 * @example const tags = readTags(input); // [{ key: 'team', value: 'web' }]
 */
export function readTags(input: Record<string, unknown>, field = 'tags'): Tag[] {
  const list = optionalArray(input, field);
  if (list === undefined) return [];
  if (list.length > MAX_TAGS) throw invalid(`${field} can have at most ${MAX_TAGS} tags; got ${list.length}.`);
  const tags = objectsOf(list, field).map(({ item, path }): Tag => {
    const key = optionalString(item, 'key', { path: `${path}.key` });
    if (key === undefined || key === '') throw invalid(`${path}.key is required and must not be empty.`);
    if (chars(key) > 128) throw invalid(`${path}.key must be at most 128 characters long.`);
    if (!TAG_TEXT.test(key)) throw invalid(`${path}.key '${key}' has characters tags cannot hold; use letters, numbers, spaces and _ . : / = + - @.`);
    if (isReserved(key)) throw invalid(`${path}.key '${key}' uses the aws: prefix, which is reserved for AWS use.`);
    const value = optionalString(item, 'value', { path: `${path}.value` });
    if (value === undefined) return { key };
    if (chars(value) > 256) throw invalid(`${path}.value must be at most 256 characters long.`);
    if (!TAG_TEXT.test(value)) throw invalid(`${path}.value has characters tags cannot hold; use letters, numbers, spaces and _ . : / = + - @.`);
    return { key, value };
  });
  const seen = new Set<string>();
  for (const t of tags) {
    if (seen.has(t.key)) throw invalid(`The tag key '${t.key}' appears more than once in ${field}; each tag key must be unique.`);
    seen.add(t.key);
  }
  return tags;
}

/** `existing` with `incoming` added, a new value replacing the old one for an existing key. */
export function mergeTags(existing: readonly Tag[], incoming: readonly Tag[]): Tag[] {
  const byKey = new Map(existing.map((t) => [t.key, t]));
  for (const t of incoming) byKey.set(t.key, t);
  return [...byKey.values()];
}

function checkTagCount(tags: readonly Tag[]): void {
  const n = tags.filter((t) => !isReserved(t.key)).length;
  if (n > MAX_TAGS) throw invalid(`The maximum number of tags per resource is ${MAX_TAGS}; this request would leave ${n}.`);
}

/** Where a taggable resource lives, and the checks ECS makes before touching its tags. */
interface TagTarget {
  /** The resource's own key; its stored JSON holds its `tags`. */
  readonly key: string;
  /** The cluster a resource inside a cluster belongs to, which must exist. */
  readonly clusterKey?: string;
  /** Throws if the resource cannot be tagged in its current state (missing, inactive, stopped). */
  check(current: Record<string, unknown> | undefined, forWrite: boolean): asserts current is Record<string, unknown>;
}

const longArnRequired = () => invalid('Long arn format must be used for tagging operations.');

function clusterMustBeActive(current: Record<string, unknown> | undefined): void {
  if (current === undefined) throw new BerthError('ClusterNotFoundException', 'Cluster not found.');
  if (current.status !== 'ACTIVE') throw invalid('The specified cluster is inactive. Specify an active cluster and try again.');
}

/** Resolves a resourceArn to the key of the object that holds its tags. */
function tagTarget(resourceArn: string, ctx: RequestContext): TagTarget {
  const arn = parseEcsArn(resourceArn);
  if (!arn) throw invalid(`resourceArn '${resourceArn}' is not an Amazon ECS resource ARN.`);
  if (arn.region !== ctx.region || arn.accountId !== ctx.caller.accountId) {
    throw invalid(`resourceArn '${resourceArn}' is not in this region (${ctx.region}) and account (${ctx.caller.accountId}).`);
  }
  const parts = arn.resource.split('/');
  switch (arn.resourceType) {
    case 'cluster': {
      if (parts.length !== 1) throw invalid(`resourceArn '${resourceArn}' is not a valid cluster ARN.`);
      return {
        key: keys.cluster(parts[0]!),
        check(current): asserts current is Record<string, unknown> {
          clusterMustBeActive(current);
        },
      };
    }
    case 'service':
    case 'task':
    case 'container-instance': {
      if (parts.length === 1) throw longArnRequired();
      if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw invalid(`resourceArn '${resourceArn}' is not a valid ${arn.resourceType} ARN.`);
      const [cluster, id] = parts as [string, string];
      const type = arn.resourceType;
      const key = type === 'service' ? keys.service(cluster, id) : type === 'task' ? keys.task(cluster, id) : keys.containerInstance(cluster, id);
      return {
        key,
        clusterKey: keys.cluster(cluster),
        check(current, forWrite): asserts current is Record<string, unknown> {
          if (current === undefined) throw invalid(`The specified ${type.replace('-', ' ')} does not exist.`);
          if (type === 'service' && current.status === 'INACTIVE' && forWrite) {
            throw invalid('The specified service is inactive. Specify an active service and try again.');
          }
          if (type === 'task' && current.lastStatus === 'STOPPED' && forWrite) {
            throw invalid('The specified task is stopped. Specify a running task and try again.');
          }
        },
      };
    }
    case 'task-definition': {
      const m = /^([A-Za-z0-9_-]{1,255}):([1-9]\d{0,9})$/.exec(arn.resource);
      if (!m) throw invalid(`resourceArn '${resourceArn}' is not a valid task definition ARN (family:revision).`);
      return {
        key: keys.taskDefinition(m[1]!, Number(m[2])),
        check(current): asserts current is Record<string, unknown> {
          if (current === undefined) throw new BerthError('ClientException', MSG_TASK_DEFINITION_NOT_FOUND);
        },
      };
    }
    case 'capacity-provider':
      throw new BerthError('ResourceNotFoundException', `The specified capacity provider '${arn.resource}' does not exist.`);
    default:
      throw invalid(`resourceArn '${resourceArn}': ${arn.resourceType} resources cannot be tagged.`);
  }
}

/** Reads the target's tags (and, for resources inside a cluster, checks that the cluster exists). */
async function readTargetTags(store: Store, target: TagTarget): Promise<Tag[]> {
  if (target.clusterKey !== undefined) {
    const cluster = await readJson<Record<string, unknown>>(store, target.clusterKey);
    if (!cluster) throw new BerthError('ClusterNotFoundException', 'Cluster not found.');
  }
  const current = await readJson<Record<string, unknown>>(store, target.key);
  target.check(current?.value, false);
  return (current.value.tags as Tag[] | undefined) ?? [];
}

/** Applies `change` to the target's tags with compare-and-swap on the resource's key. */
async function changeTags(store: Store, target: TagTarget, change: (tags: readonly Tag[]) => Tag[]): Promise<void> {
  await readTargetTags(store, target);
  await updateJson<Record<string, unknown>>(store, target.key, (current) => {
    target.check(current, true);
    return { ...current, tags: change((current.tags as Tag[] | undefined) ?? []) };
  });
}

export function tagOperations(deps: { readonly store: Store }): Record<string, Operation> {
  const { store } = deps;
  return {
    async TagResource(input, ctx) {
      const target = tagTarget(requiredString(input, 'resourceArn'), ctx);
      if (optionalArray(input, 'tags') === undefined) throw invalid('tags is required.');
      const incoming = readTags(input);
      await changeTags(store, target, (tags) => {
        const merged = mergeTags(tags, incoming);
        checkTagCount(merged);
        return merged;
      });
      return {};
    },

    async UntagResource(input, ctx) {
      const target = tagTarget(requiredString(input, 'resourceArn'), ctx);
      const list = optionalArray(input, 'tagKeys');
      if (list === undefined) throw invalid('tagKeys is required.');
      const tagKeys = list.map((k, i) => {
        if (typeof k !== 'string' || k === '') throw invalid(`tagKeys[${i}] must be a non-empty string.`);
        if (chars(k) > 128) throw invalid(`tagKeys[${i}] must be at most 128 characters long.`);
        if (isReserved(k)) throw invalid(`tagKeys[${i}] '${k}' uses the aws: prefix; tags reserved for AWS use cannot be removed.`);
        return k;
      });
      await changeTags(store, target, (tags) => tags.filter((t) => !tagKeys.includes(t.key)));
      return {};
    },

    async ListTagsForResource(input, ctx) {
      const target = tagTarget(requiredString(input, 'resourceArn'), ctx);
      return { tags: await readTargetTags(store, target) };
    },
  };
}
