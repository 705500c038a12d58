/**
 * Container instance attributes: ECS's name and value rules (shared with RegisterContainerInstance)
 * and PutAttributes, DeleteAttributes, ListAttributes. Attributes live in the instance's stored
 * JSON, so placement reads them with the instance; a change bumps the instance's `version`.
 */
import { BerthError, type Operation } from '../protocols/index.js';
import type { Store } from '../store/index.js';
import { idOf } from './arn.js';
import { requireActiveCluster } from './clusters.js';
import type { ContainerInstance } from './container-instances.js';
import { decodeNextToken, encodeNextToken, invalid, objectsOf, optionalArray, optionalEnum, optionalInt, optionalString } from './input.js';
import { keys } from './keys.js';
import { readJson } from './repo.js';

export interface Attribute {
  readonly name: string;
  readonly value?: string;
  readonly targetType?: 'container-instance';
  readonly targetId?: string;
}

export const TARGET_TYPES = ['container-instance'] as const;

/** Custom attributes per container instance; the agent's own (ecs.*) do not count. */
export const MAX_CUSTOM_ATTRIBUTES = 10;
/** Attributes per PutAttributes or DeleteAttributes call. */
export const MAX_ATTRIBUTES_PER_CALL = 10;

/**
 * Attributes the ECS agent reports about its instance and capabilities (ecs.os-type,
 * ecs.capability.*, com.amazonaws.ecs.capability.*), as opposed to custom ones.
 */
export const isBuiltInAttribute = (name: string): boolean => name.startsWith('ecs.') || name.startsWith('com.amazonaws.ecs.');

export const customAttributeCount = (attributes: readonly Attribute[]): number =>
  attributes.filter((a) => !isBuiltInAttribute(a.name)).length;

const NAME_RE = /^[A-Za-z0-9_\-/\\.]{1,128}$/;
const VALUE_RE = /^[A-Za-z0-9_\-.@/\\: ]{1,128}$/;

/** ECS's rule: 1–128 letters, numbers, hyphens, underscores, slashes, back slashes or periods. */
export function checkAttributeName(name: string, path: string): void {
  if (!NAME_RE.test(name)) {
    throw invalid(`${path} '${name}' is not a valid attribute name: use 1 to 128 letters, numbers, hyphens (-), underscores (_), slashes (/), back slashes (\\) or periods (.).`);
  }
}

/** ECS's rule: 1–128 letters, numbers, - _ . @ / \ : or spaces, not starting or ending with a space. */
export function checkAttributeValue(value: string, path: string): void {
  if (!VALUE_RE.test(value) || value.startsWith(' ') || value.endsWith(' ')) {
    throw invalid(
      `${path} '${value}' is not a valid attribute value: use 1 to 128 letters, numbers, hyphens (-), underscores (_), periods (.), at signs (@), ` +
        'slashes (/), back slashes (\\), colons (:) or spaces, not starting or ending with a space.',
    );
  }
}

/** Reads a list of attributes, checking names and values; targets are read as given. */
export function readAttributes(input: Record<string, unknown>, field: string, opts: { readonly maxItems?: number } = {}): Attribute[] | undefined {
  const list = optionalArray(input, field);
  if (list === undefined) return undefined;
  if (opts.maxItems !== undefined && list.length > opts.maxItems) {
    throw invalid(`${field} can have at most ${opts.maxItems} attributes per call; got ${list.length}.`);
  }
  return objectsOf(list, field).map(({ item, path }): Attribute => {
    const name = optionalString(item, 'name', { path: `${path}.name` });
    if (name === undefined) throw invalid(`${path}.name is required.`);
    checkAttributeName(name, `${path}.name`);
    const value = optionalString(item, 'value', { path: `${path}.value` });
    if (value !== undefined) checkAttributeValue(value, `${path}.value`);
    const targetType = optionalEnum(item, 'targetType', TARGET_TYPES, `${path}.targetType`);
    const targetId = optionalString(item, 'targetId', { path: `${path}.targetId` });
    return { name, ...(value === undefined ? {} : { value }), ...(targetType === undefined ? {} : { targetType }), ...(targetId === undefined ? {} : { targetId }) };
  });
}

/** `attributes` with `changes` applied: a name already present takes the new value (or loses it). */
export function putAttributes(attributes: readonly Attribute[], changes: readonly Attribute[]): Attribute[] {
  const out = attributes.map((a) => ({ ...a }));
  for (const c of changes) {
    const entry = { name: c.name, ...(c.value === undefined ? {} : { value: c.value }) };
    const i = out.findIndex((a) => a.name === c.name);
    if (i >= 0) out[i] = entry;
    else out.push(entry);
  }
  return out;
}

/** The container instance id an attribute targets, checking the target type ECS requires. */
function targetIdOf(a: Attribute, path: string, cluster: string): string {
  if (a.targetId === undefined || a.targetId === '') throw invalid(`${path}.targetId is required.`);
  if (!a.targetId.startsWith('arn:') && a.targetType === undefined) {
    throw invalid(`${path}.targetType is required when ${path}.targetId is a short ID rather than an ARN.`);
  }
  return idOf(a.targetId, 'container-instance', cluster, `${path}.targetId`);
}

const targetNotFound = (targetId: string, cluster: string) =>
  new BerthError('TargetNotFoundException', `Could not find the target container instance '${targetId}' in cluster '${cluster}'.`);

const MAX_CAS_ATTEMPTS = 20;

/**
 * Reads every targeted instance, applies `change` to each, and writes them all in one transaction
 * guarded by each instance's revision, so a refused or conflicting request changes nothing.
 */
async function changeInstances(
  store: Store,
  cluster: string,
  byId: ReadonlyMap<string, { targetId: string; attributes: Attribute[] }>,
  change: (instance: ContainerInstance, attributes: readonly Attribute[]) => ContainerInstance,
): Promise<void> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const compares = [];
    const ops = [];
    for (const [id, { targetId, attributes }] of byId) {
      const key = keys.containerInstance(cluster, id);
      const current = await readJson<ContainerInstance>(store, key);
      if (!current) throw targetNotFound(targetId, cluster);
      const next = change(current.value, attributes);
      compares.push({ key, target: 'mod' as const, op: '=' as const, value: current.modRevision });
      ops.push({ type: 'put' as const, key, value: JSON.stringify(next) });
    }
    if ((await store.txn(compares, ops)).succeeded) return;
  }
  throw new BerthError('ServerException', 'Too many concurrent updates to these container instances; try again.');
}

function groupByTarget(attributes: readonly Attribute[], cluster: string): Map<string, { targetId: string; attributes: Attribute[] }> {
  const byId = new Map<string, { targetId: string; attributes: Attribute[] }>();
  attributes.forEach((a, i) => {
    const id = targetIdOf(a, `attributes[${i}]`, cluster);
    const entry = byId.get(id) ?? { targetId: a.targetId!, attributes: [] };
    entry.attributes.push(a);
    byId.set(id, entry);
  });
  return byId;
}

function readRequestAttributes(input: Record<string, unknown>): Attribute[] {
  const attributes = readAttributes(input, 'attributes', { maxItems: MAX_ATTRIBUTES_PER_CALL });
  if (attributes === undefined || attributes.length === 0) throw invalid('attributes is required and must not be empty.');
  return attributes;
}

export function attributeOperations(deps: { readonly store: Store }): Record<string, Operation> {
  const { store } = deps;
  return {
    async PutAttributes(input) {
      const { name: cluster } = await requireActiveCluster(store, optionalString(input, 'cluster'));
      const attributes = readRequestAttributes(input);
      const byId = groupByTarget(attributes, cluster);
      await changeInstances(store, cluster, byId, (instance, changes) => {
        const next = putAttributes(instance.attributes, changes);
        const custom = customAttributeCount(next);
        if (custom > MAX_CUSTOM_ATTRIBUTES) {
          throw new BerthError(
            'AttributeLimitExceededException',
            `Container instance ${instance.containerInstanceArn} would have ${custom} custom attributes; you can apply up to ${MAX_CUSTOM_ATTRIBUTES} custom attributes for each resource.`,
          );
        }
        return { ...instance, attributes: next, version: instance.version + 1 };
      });
      return { attributes };
    },

    async DeleteAttributes(input) {
      const { name: cluster } = await requireActiveCluster(store, optionalString(input, 'cluster'));
      const attributes = readRequestAttributes(input);
      const byId = groupByTarget(attributes, cluster);
      await changeInstances(store, cluster, byId, (instance, removals) => {
        // Deleting an attribute the instance does not have is not an error: the outcome is the same.
        const names = new Set(removals.map((a) => a.name));
        const next = instance.attributes.filter((a) => !names.has(a.name));
        return next.length === instance.attributes.length ? instance : { ...instance, attributes: next, version: instance.version + 1 };
      });
      return { attributes };
    },

    async ListAttributes(input) {
      const { name: cluster } = await requireActiveCluster(store, optionalString(input, 'cluster'));
      const targetType = optionalEnum(input, 'targetType', TARGET_TYPES);
      if (targetType === undefined) throw invalid('targetType is required.');
      const attributeName = optionalString(input, 'attributeName');
      const attributeValue = optionalString(input, 'attributeValue');
      if (attributeValue !== undefined && attributeName === undefined) throw invalid('attributeValue can only be used together with attributeName.');
      const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 100 }) ?? 100;
      // The token names the instance key and attribute name of the last attribute returned;
      // within an instance, attributes are listed by name.
      const token = decodeNextToken(optionalString(input, 'nextToken'));
      const after = token === undefined ? undefined : splitToken(token);

      const out: Attribute[] = [];
      let last: { key: string; name: string } | undefined;
      let startAfter = after === undefined ? undefined : keyBefore(after.key);
      for (;;) {
        const page = await store.range(keys.containerInstances(cluster), { limit: 100, ...(startAfter === undefined ? {} : { startAfter }) });
        for (const kv of page.kvs) {
          if (after !== undefined && kv.key < after.key) continue;
          const instance = JSON.parse(kv.value) as ContainerInstance;
          const sorted = [...instance.attributes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
          for (const a of sorted) {
            if (after !== undefined && kv.key === after.key && a.name <= after.name) continue;
            if (attributeName !== undefined && a.name !== attributeName) continue;
            if (attributeValue !== undefined && a.value !== attributeValue) continue;
            if (out.length === maxResults) return { attributes: out, nextToken: encodeNextToken(`${last!.key}\n${last!.name}`) };
            out.push({
              name: a.name,
              ...(a.value === undefined ? {} : { value: a.value }),
              targetType: 'container-instance',
              targetId: instance.containerInstanceArn,
            });
            last = { key: kv.key, name: a.name };
          }
        }
        if (!page.more || page.kvs.length === 0) return { attributes: out };
        startAfter = page.kvs[page.kvs.length - 1]!.key;
      }
    },
  };
}

function splitToken(token: string): { key: string; name: string } {
  const nl = token.indexOf('\n');
  if (nl < 0) throw invalid('The nextToken is not valid.');
  return { key: token.slice(0, nl), name: token.slice(nl + 1) };
}

/** A key that sorts before `key`, so that a range starting after it includes `key` itself. */
function keyBefore(key: string): string {
  return key.slice(0, -1);
}
