/**
 * Tags on namespaces and services (TagResource, UntagResource, ListTagsForResource), kept in the
 * resource's own record so a tag change is one compare-and-swap.
 */
import type { Operation } from '../protocols/index.js';
import { BerthError } from '../protocols/index.js';
import type { Store } from '../store/index.js';
import { invalid, isAt, list, putOp, readJson, readTags, retrying, str } from './input.js';
import { keys, type NamespaceRecord, type ServiceRecord, type Tag } from './model.js';

const ARN = /^arn:aws:servicediscovery:([^:]*):([^:]*):(namespace|service)\/(.+)$/;

/** The record key an ARN names, or ResourceNotFoundException. */
async function resolve(store: Store, arn: string): Promise<{ key: string; record: NamespaceRecord | ServiceRecord; modRevision: number }> {
  const m = ARN.exec(arn);
  if (m === null) throw invalid(`ResourceARN '${arn}' is not a Cloud Map namespace or service ARN.`);
  const key = m[3] === 'namespace' ? keys.namespace(m[4]!) : keys.service(m[4]!);
  const found = await readJson<NamespaceRecord | ServiceRecord>(store, key);
  if (found === undefined || found.value.Arn !== arn) throw new BerthError('ResourceNotFoundException', `Resource not found: ${arn}.`);
  return { key, record: found.value, modRevision: found.modRevision };
}

export function tagOperations(deps: { readonly store: Store }): Record<string, Operation> {
  const { store } = deps;

  const TagResource: Operation = async (input) => {
    const arn = str(input, 'ResourceARN', { required: true, min: 1, max: 1011 });
    const tags = readTags(input, 'Tags', true)!;
    return retrying('resource', async () => {
      const { key, record, modRevision } = await resolve(store, arn);
      const merged = new Map<string, Tag>(record.Tags.map((t) => [t.Key, t]));
      for (const t of tags) merged.set(t.Key, t);
      if (merged.size > 200) {
        throw new BerthError('TooManyTagsException', `A resource can have at most 200 tags; ${arn} would have ${merged.size}.`, { fields: { ResourceName: arn } });
      }
      const res = await store.txn([isAt(key, modRevision)], [putOp(key, { ...record, Tags: [...merged.values()] })]);
      return res.succeeded ? {} : undefined;
    });
  };

  const UntagResource: Operation = async (input) => {
    const arn = str(input, 'ResourceARN', { required: true, min: 1, max: 1011 });
    const keysToDrop = list(input, 'TagKeys', { max: 200 });
    if (keysToDrop === undefined) throw invalid('TagKeys is required.');
    keysToDrop.forEach((k, i) => {
      if (typeof k !== 'string' || k.length < 1 || k.length > 128) throw invalid(`TagKeys[${i}] must be a tag key of 1 to 128 characters.`);
    });
    return retrying('resource', async () => {
      const { key, record, modRevision } = await resolve(store, arn);
      const kept = record.Tags.filter((t) => !keysToDrop.includes(t.Key));
      if (kept.length === record.Tags.length) return {};
      const res = await store.txn([isAt(key, modRevision)], [putOp(key, { ...record, Tags: kept })]);
      return res.succeeded ? {} : undefined;
    });
  };

  const ListTagsForResource: Operation = async (input) => {
    const arn = str(input, 'ResourceARN', { required: true, min: 1, max: 1011 });
    const { record } = await resolve(store, arn);
    return { Tags: record.Tags };
  };

  return { TagResource, UntagResource, ListTagsForResource };
}
