/**
 * The task definition operations over the Store (Register, Describe, List, ListFamilies, Deregister,
 * Delete), and resolveTaskDefinition, through which tasks and services find the definition they run.
 *
 * @example const td = await resolveTaskDefinition(store, 'web:3', { region: 'us-east-1', accountId: '000000000000' });
 */
import { BerthError } from '../protocols/index.js';
import type { Operation, RequestContext } from '../protocols/index.js';
import type { Op, Store } from '../store/index.js';
import { taskDefinitionArn, type Partition } from './arn.js';
import type { EcsDeps } from './index.js';
import {
  decodeNextToken, encodeNextToken, invalid, optionalEnum, optionalInt, optionalString, optionalStringArray, requiredString,
} from './input.js';
import { keys } from './keys.js';
import { listJson, readJson, updateJson } from './repo.js';
import { parseTaskDefinitionRef, type TaskDefinitionRef } from './task-definition-rules.js';
import { prepareRegistration } from './task-definition-validation.js';
import {
  SORT_ORDERS, TASK_DEFINITION_FAMILY_STATUSES, TASK_DEFINITION_FIELDS, TASK_DEFINITION_STATUSES,
  type Failure, type ResourceTag, type StoredTaskDefinition, type TaskDefinition, type TaskDefinitionFamily,
  type TaskDefinitionStatus,
} from './task-definition-types.js';

type Input = Record<string, unknown>;

/** ECS's words when a reference names no task definition (DescribeTaskDefinition, RunTask, CreateService). */
export const MSG_TASK_DEFINITION_NOT_FOUND = 'Unable to describe task definition.';
const notFound = (): BerthError => new BerthError('ClientException', MSG_TASK_DEFINITION_NOT_FOUND);

/** Concurrent registers of one family race on its counter; each round one of them wins, so this bounds N racers. */
const MAX_REGISTER_ATTEMPTS = 64;
const DEFAULT_PAGE = 100;
/** How many keys one Store read fetches while a listing scans past filtered-out entries. */
const SCAN_BATCH = 200;
const DELETE_MAX = 10;

const partitionOf = (ctx: RequestContext): Partition => ({ region: ctx.region, accountId: ctx.caller.accountId });
const epochSeconds = (ctx: RequestContext): number => ctx.now.getTime() / 1000;

/** The TaskDefinition as it goes on the wire: the stored record less its tags. */
function wire(stored: StoredTaskDefinition): TaskDefinition {
  const { tags: _tags, ...td } = stored;
  return td;
}

/** The family and revision a key under keys.taskDefinitions() names. */
function refOfKey(key: string): { family: string; revision: number } | undefined {
  const prefix = keys.taskDefinitions();
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0 || !/^[0-9]{10}$/.test(rest.slice(slash + 1))) return undefined;
  return { family: rest.slice(0, slash), revision: Number(rest.slice(slash + 1)) };
}

// ---------------------------------------------------------------------------------------------
// For other modules.

/**
 * The task definition a reference names: `family` (its latest ACTIVE revision), `family:revision` or
 * the full ARN (any status; callers that launch must refuse INACTIVE and DELETE_IN_PROGRESS ones).
 * Throws ClientException "Unable to describe task definition." when there is none.
 */
export async function resolveTaskDefinition(store: Store, ref: string, partition: Partition): Promise<TaskDefinition> {
  return wire(await resolveStored(store, ref, partition));
}

/** A task definition revision's tags (empty when it has none); each value is '' when the tag has none. */
export async function taskDefinitionTags(store: Store, td: Pick<TaskDefinition, 'family' | 'revision'>): Promise<Array<{ key: string; value: string }>> {
  const stored = await readJson<StoredTaskDefinition>(store, keys.taskDefinition(td.family, td.revision));
  return tagsOf(stored?.value);
}

const tagsOf = (stored: StoredTaskDefinition | undefined): Array<{ key: string; value: string }> =>
  (stored?.tags ?? []).map((t) => ({ key: t.key, value: t.value ?? '' }));

async function resolveStored(store: Store, ref: string, partition: Partition): Promise<StoredTaskDefinition> {
  const parsed = parseTaskDefinitionRef(ref, partition);
  if (parsed === undefined) throw notFound();
  const td = await findTaskDefinition(store, parsed);
  if (td === undefined) throw notFound();
  return td;
}

async function findTaskDefinition(store: Store, ref: TaskDefinitionRef): Promise<StoredTaskDefinition | undefined> {
  if (ref.revision !== undefined) return (await readJson<StoredTaskDefinition>(store, keys.taskDefinition(ref.family, ref.revision)))?.value;
  const family = await readJson<TaskDefinitionFamily>(store, keys.family(ref.family));
  if (family === undefined || family.value.activeRevisions === 0) return undefined;
  // Newest first: the latest ACTIVE revision is usually the last one registered.
  let after: string | undefined;
  for (;;) {
    const page = await listJson<StoredTaskDefinition>(store, keys.taskDefinitions(ref.family), {
      descending: true, limit: SCAN_BATCH, ...(after === undefined ? {} : { startAfter: after }),
    });
    const hit = page.items.find((item) => item.value.status === 'ACTIVE');
    if (hit !== undefined) return hit.value;
    if (!page.more || page.items.length === 0) return undefined;
    after = page.items[page.items.length - 1]!.key;
  }
}

// ---------------------------------------------------------------------------------------------
// RegisterTaskDefinition

async function registerTaskDefinition(store: Store, input: Input, ctx: RequestContext): Promise<unknown> {
  const { body, tags: requested } = prepareRegistration(input);
  const tags: ResourceTag[] = requested.map((t) => ({ key: t.key ?? '', value: t.value ?? '' }));
  const familyKey = keys.family(body.family);
  for (let attempt = 0; attempt < MAX_REGISTER_ATTEMPTS; attempt++) {
    const current = await readJson<TaskDefinitionFamily>(store, familyKey);
    // The counter only grows, so a revision number is never reused, even after its definition is deleted.
    const revision = (current?.value.lastRevision ?? 0) + 1;
    const td: TaskDefinition = {
      taskDefinitionArn: taskDefinitionArn(partitionOf(ctx), body.family, revision),
      ...body,
      revision,
      status: 'ACTIVE',
      registeredAt: epochSeconds(ctx),
      registeredBy: `arn:aws:iam::${ctx.caller.accountId}:root`,
    };
    const family: TaskDefinitionFamily = {
      family: body.family, lastRevision: revision, activeRevisions: (current?.value.activeRevisions ?? 0) + 1,
    };
    const stored: StoredTaskDefinition = tags.length > 0 ? { ...td, tags } : td;
    const ops: Op[] = [
      { type: 'put', key: familyKey, value: JSON.stringify(family) },
      { type: 'put', key: keys.taskDefinition(body.family, revision), value: JSON.stringify(stored) },
    ];
    const res = await store.txn([
      { key: familyKey, target: 'mod', op: '=', value: current?.modRevision ?? 0 },
      { key: keys.taskDefinition(body.family, revision), target: 'mod', op: '=', value: 0 },
    ], ops);
    if (res.succeeded) return { taskDefinition: td, ...(tags.length > 0 ? { tags } : {}) };
  }
  throw new BerthError('ClientException', 'Too many concurrent attempts to create a new revision of the specified family.');
}

// ---------------------------------------------------------------------------------------------
// DescribeTaskDefinition

async function describeTaskDefinition(store: Store, input: Input, ctx: RequestContext): Promise<unknown> {
  const ref = requiredString(input, 'taskDefinition');
  const include = optionalStringArray(input, 'include') ?? [];
  include.forEach((field, i) => {
    if (!(TASK_DEFINITION_FIELDS as readonly string[]).includes(field)) {
      throw invalid(`include[${i}] must be one of ${TASK_DEFINITION_FIELDS.join(', ')}; got '${field}'.`);
    }
  });
  const stored = await resolveStored(store, ref, partitionOf(ctx));
  return { taskDefinition: wire(stored), ...(include.includes('TAGS') ? { tags: tagsOf(stored) } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Listing. Both lists filter on status, which the key order cannot do, so they scan in key order
// and return a page of matches; nextToken is the key of the last one returned, and appears only
// when another match follows.

interface Cursor {
  readonly key: string;
}

async function* scan<T>(store: Store, prefix: string, descending: boolean, after?: string): AsyncGenerator<Cursor & { value: T }> {
  let start = after;
  for (;;) {
    const page = await listJson<T>(store, prefix, { descending, limit: SCAN_BATCH, ...(start === undefined ? {} : { startAfter: start }) });
    for (const item of page.items) yield item;
    if (!page.more || page.items.length === 0) return;
    start = page.items[page.items.length - 1]!.key;
  }
}

/** Takes up to `max` items, and says whether there is at least one more. */
async function takePage<T>(items: AsyncGenerator<T>, max: number): Promise<{ page: T[]; more: boolean }> {
  const page: T[] = [];
  for await (const item of items) {
    if (page.length === max) {
      await items.return(undefined);
      return { page, more: true };
    }
    page.push(item);
  }
  return { page, more: false };
}

function readPaging(input: Input, within: string): { maxResults: number; after?: string } {
  const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 100 }) ?? DEFAULT_PAGE;
  const after = decodeNextToken(optionalString(input, 'nextToken'));
  if (after !== undefined && !after.startsWith(within)) throw invalid('The nextToken is not valid.');
  return after === undefined ? { maxResults } : { maxResults, after };
}

/**
 * Revisions ordered as ECS lists them: by family name, then revision (DESC reverses both). The family
 * records give the family order (a family's revision keys end in '/', which would sort 'a-b' before 'a').
 */
async function* revisionsInOrder(
  store: Store,
  family: string | undefined,
  descending: boolean,
  after: { family: string; key: string } | undefined,
): AsyncGenerator<Cursor & { value: StoredTaskDefinition }> {
  if (after !== undefined) yield* scan<StoredTaskDefinition>(store, keys.taskDefinitions(after.family), descending, after.key);
  if (family !== undefined) {
    if (after === undefined) yield* scan<StoredTaskDefinition>(store, keys.taskDefinitions(family), descending);
    return;
  }
  const families = scan<TaskDefinitionFamily>(store, keys.families(), descending, after && keys.family(after.family));
  for await (const f of families) yield* scan<StoredTaskDefinition>(store, keys.taskDefinitions(f.value.family), descending);
}

async function* filter<T>(items: AsyncGenerator<T>, keep: (item: T) => boolean): AsyncGenerator<T> {
  for await (const item of items) if (keep(item)) yield item;
}

async function listTaskDefinitions(store: Store, input: Input): Promise<unknown> {
  const family = optionalString(input, 'familyPrefix');
  const status: TaskDefinitionStatus = optionalEnum(input, 'status', TASK_DEFINITION_STATUSES) ?? 'ACTIVE';
  const descending = (optionalEnum(input, 'sort', SORT_ORDERS) ?? 'ASC') === 'DESC';
  // familyPrefix is "the full family name" here (unlike ListTaskDefinitionFamilies, where it is a prefix).
  const { maxResults, after } = readPaging(input, family === undefined ? keys.taskDefinitions() : keys.taskDefinitions(family));
  const resume = after === undefined ? undefined : refOfKey(after);
  if (after !== undefined && resume === undefined) throw invalid('The nextToken is not valid.');
  const all = revisionsInOrder(store, family, descending, resume && after !== undefined ? { family: resume.family, key: after } : undefined);
  const { page, more } = await takePage(filter(all, (item) => item.value.status === status), maxResults);
  return {
    taskDefinitionArns: page.map((item) => item.value.taskDefinitionArn),
    ...(more ? { nextToken: encodeNextToken(page[page.length - 1]!.key) } : {}),
  };
}

async function listTaskDefinitionFamilies(store: Store, input: Input): Promise<unknown> {
  const prefix = keys.family(optionalString(input, 'familyPrefix') ?? '');
  const status = optionalEnum(input, 'status', TASK_DEFINITION_FAMILY_STATUSES) ?? 'ALL';
  const { maxResults, after } = readPaging(input, prefix);
  // ACTIVE: families with an ACTIVE revision; INACTIVE: families with none (ECS's definition).
  const keep = (f: TaskDefinitionFamily): boolean =>
    status === 'ALL' || (status === 'ACTIVE' ? f.activeRevisions > 0 : f.activeRevisions === 0);
  const { page, more } = await takePage(filter(scan<TaskDefinitionFamily>(store, prefix, false, after), (item) => keep(item.value)), maxResults);
  return {
    families: page.map((item) => item.value.family),
    ...(more ? { nextToken: encodeNextToken(page[page.length - 1]!.key) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// DeregisterTaskDefinition and DeleteTaskDefinitions

/** A reference that must name one revision (Deregister and Delete take no bare family). */
function revisionRef(ref: string, partition: Partition): { family: string; revision: number } | undefined {
  const parsed = parseTaskDefinitionRef(ref, partition);
  if (parsed === undefined) return undefined;
  if (parsed.revision === undefined) {
    throw new BerthError('ClientException', `Invalid 'taskDefinition' setting: '${ref}'. You must specify a revision: `
      + 'use family:revision or the full ARN.');
  }
  return { family: parsed.family, revision: parsed.revision };
}

async function deregisterTaskDefinition(store: Store, input: Input, ctx: RequestContext): Promise<unknown> {
  const ref = revisionRef(requiredString(input, 'taskDefinition'), partitionOf(ctx));
  if (ref === undefined) throw notFound();
  const tdKey = keys.taskDefinition(ref.family, ref.revision);
  const familyKey = keys.family(ref.family);
  for (let attempt = 0; attempt < MAX_REGISTER_ATTEMPTS; attempt++) {
    const current = await readJson<StoredTaskDefinition>(store, tdKey);
    if (current === undefined) throw notFound();
    // Already INACTIVE (or being deleted): nothing to change, and the answer is the definition as it is.
    if (current.value.status !== 'ACTIVE') return { taskDefinition: wire(current.value) };
    const family = await readJson<TaskDefinitionFamily>(store, familyKey);
    const next: StoredTaskDefinition = { ...current.value, status: 'INACTIVE', deregisteredAt: epochSeconds(ctx) };
    const counts: TaskDefinitionFamily = {
      family: ref.family,
      lastRevision: Math.max(family?.value.lastRevision ?? 0, ref.revision),
      activeRevisions: Math.max(0, (family?.value.activeRevisions ?? 1) - 1),
    };
    // The revision and its family's ACTIVE count change together, or not at all.
    const res = await store.txn([
      { key: tdKey, target: 'mod', op: '=', value: current.modRevision },
      { key: familyKey, target: 'mod', op: '=', value: family?.modRevision ?? 0 },
    ], [
      { type: 'put', key: tdKey, value: JSON.stringify(next) },
      { type: 'put', key: familyKey, value: JSON.stringify(counts) },
    ]);
    if (res.succeeded) return { taskDefinition: wire(next) };
  }
  throw new BerthError('ServerException', `Too many concurrent updates to ${tdKey}; try again.`);
}

async function deleteTaskDefinitions(store: Store, input: Input, ctx: RequestContext): Promise<unknown> {
  const refs = optionalStringArray(input, 'taskDefinitions') ?? [];
  if (refs.length === 0) throw invalid('taskDefinitions is required: name 1 to 10 task definitions (family:revision or ARN).');
  if (refs.length > DELETE_MAX) {
    throw invalid(`taskDefinitions can have at most ${DELETE_MAX} items; got ${refs.length}.`);
  }
  const partition = partitionOf(ctx);
  // Check every reference's form before changing anything, so a malformed request changes nothing.
  const parsed = refs.map((ref) => ({ ref, target: revisionRef(ref, partition) }));
  const deleted = new Map<string, TaskDefinition>();
  const failures: Failure[] = [];
  for (const { ref, target } of parsed) {
    if (target === undefined) {
      failures.push({ arn: ref, reason: 'The specified task definition does not exist.', detail: 'No task definition in this region and account has that identifier.' });
      continue;
    }
    const arn = taskDefinitionArn(partition, target.family, target.revision);
    const result = await updateJson<StoredTaskDefinition>(store, keys.taskDefinition(target.family, target.revision), (cur) =>
      cur?.status === 'INACTIVE' ? { ...cur, status: 'DELETE_IN_PROGRESS', deleteRequestedAt: epochSeconds(ctx) } : undefined);
    if (result === undefined) {
      failures.push({ arn, reason: 'The specified task definition does not exist.' });
    } else if (result.status === 'ACTIVE') {
      failures.push({ arn, reason: 'The specified task definition is still in ACTIVE status. Please deregister the target and try again.' });
    } else {
      deleted.set(result.taskDefinitionArn, wire(result));
    }
  }
  return { taskDefinitions: [...deleted.values()], failures };
}

// ---------------------------------------------------------------------------------------------

export function taskDefinitionOperations(deps: EcsDeps): Record<string, Operation> {
  const { store } = deps;
  return {
    RegisterTaskDefinition: (input, ctx) => registerTaskDefinition(store, input, ctx),
    DescribeTaskDefinition: (input, ctx) => describeTaskDefinition(store, input, ctx),
    ListTaskDefinitions: (input) => listTaskDefinitions(store, input),
    ListTaskDefinitionFamilies: (input) => listTaskDefinitionFamilies(store, input),
    DeregisterTaskDefinition: (input, ctx) => deregisterTaskDefinition(store, input, ctx),
    DeleteTaskDefinitions: (input, ctx) => deleteTaskDefinitions(store, input, ctx),
  };
}
