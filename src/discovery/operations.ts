/**
 * Cloud Map's operations: the record of each namespace, service or instance change that its API
 * answers with an OperationId. Berth applies every change before it answers, so an operation is
 * SUCCESS from the start; GetOperation and ListOperations read them back.
 */
import type { Operation } from '../protocols/index.js';
import { BerthError } from '../protocols/index.js';
import type { Store } from '../store/index.js';
import { REQUEST_ID_TTL_SECONDS, invalid, isAt, list, listJson, objAt, oneOf, pageOf, readJson, str, type Obj } from './input.js';
import { PREFIX, keys, newOperationId, type OperationRecord, type OperationType } from './model.js';

/** A finished operation, to be written in the transaction that made the change. */
export function operationRecord(account: string, type: OperationType, targets: OperationRecord['Targets'], now: Date): OperationRecord {
  const seconds = now.getTime() / 1000;
  return { Id: newOperationId(), OwnerAccount: account, Type: type, Status: 'SUCCESS', CreateDate: seconds, UpdateDate: seconds, Targets: targets };
}

const TYPES: readonly OperationType[] = ['CREATE_NAMESPACE', 'DELETE_NAMESPACE', 'UPDATE_NAMESPACE', 'UPDATE_SERVICE', 'REGISTER_INSTANCE', 'DEREGISTER_INSTANCE'];
const STATUSES = ['SUBMITTED', 'PENDING', 'SUCCESS', 'FAIL'] as const;

export function operationOperations(deps: { readonly store: Store }): Record<string, Operation> {
  const { store } = deps;

  const GetOperation: Operation = async (input) => {
    const id = str(input, 'OperationId', { required: true, max: 255 });
    str(input, 'OwnerAccount', { min: 12, max: 12 });
    const found = await readJson<OperationRecord>(store, keys.operation(id));
    if (found === undefined) throw new BerthError('OperationNotFound', `Operation not found: ${id}.`);
    return { Operation: found.value };
  };

  const ListOperations: Operation = async (input) => {
    const filters = readOperationFilters(input);
    const all = (await listJson<OperationRecord>(store, keys.operations())).map((s) => s.value);
    const matching = all.filter((op) => filters.every((f) => f(op))).sort((a, b) => (a.Id < b.Id ? -1 : 1));
    const { page, NextToken } = pageOf(matching, (op) => op.Id, input);
    return { Operations: page.map((op) => ({ Id: op.Id, Status: op.Status })), ...(NextToken === undefined ? {} : { NextToken }) };
  };

  return { GetOperation, ListOperations };
}

type OperationFilter = (op: OperationRecord) => boolean;

/**
 * ListOperations filters: NAMESPACE_ID and SERVICE_ID with EQ; STATUS and TYPE with EQ or IN;
 * UPDATE_DATE with BETWEEN two epoch-second values.
 */
function readOperationFilters(input: Obj): OperationFilter[] {
  const items = list(input, 'Filters') ?? [];
  return items.map((_, i) => {
    const path = `Filters[${i}]`;
    const f = objAt(items, i, 'Filters');
    const name = oneOf(f, 'Name', ['NAMESPACE_ID', 'SERVICE_ID', 'STATUS', 'TYPE', 'UPDATE_DATE'] as const, `${path}.Name`);
    if (name === undefined) throw invalid(`${path}.Name is required.`);
    const condition = oneOf(f, 'Condition', ['EQ', 'IN', 'BETWEEN', 'BEGINS_WITH'] as const, `${path}.Condition`) ?? (name === 'UPDATE_DATE' ? 'BETWEEN' : 'EQ');
    const raw = list(f, 'Values', { path: `${path}.Values` });
    if (raw === undefined) throw invalid(`${path}.Values is required.`);
    const values = raw.map((v, j) => {
      if (typeof v !== 'string' || v.length < 1 || v.length > 255) throw invalid(`${path}.Values[${j}] must be a string of 1 to 255 characters.`);
      return v;
    });
    const allowed: Record<typeof name, readonly string[]> = {
      NAMESPACE_ID: ['EQ'],
      SERVICE_ID: ['EQ'],
      STATUS: ['EQ', 'IN'],
      TYPE: ['EQ', 'IN'],
      UPDATE_DATE: ['BETWEEN'],
    };
    if (!allowed[name].includes(condition)) throw invalid(`${path}.Condition ${condition} is not supported for ${name}: use ${allowed[name].join(' or ')}.`);
    if (condition === 'EQ' && values.length !== 1) throw invalid(`${path}.Values must have exactly one value with EQ; got ${values.length}.`);
    if (condition === 'IN' && values.length < 1) throw invalid(`${path}.Values must have at least one value with IN.`);
    if (name === 'STATUS') values.forEach((v) => ((STATUSES as readonly string[]).includes(v) ? undefined : badValue(path, v, STATUSES)));
    if (name === 'TYPE') values.forEach((v) => ((TYPES as readonly string[]).includes(v) ? undefined : badValue(path, v, TYPES)));
    switch (name) {
      case 'NAMESPACE_ID':
        return (op) => op.Targets.NAMESPACE === values[0];
      case 'SERVICE_ID':
        return (op) => op.Targets.SERVICE === values[0];
      case 'STATUS':
        return (op) => values.includes(op.Status);
      case 'TYPE':
        return (op) => values.includes(op.Type);
      case 'UPDATE_DATE': {
        if (values.length !== 2) throw invalid(`${path}.Values must have exactly two values (start and end, epoch seconds) with BETWEEN; got ${values.length}.`);
        const [from, to] = values.map((v, j) => {
          const n = Number(v);
          if (v.trim() === '' || !Number.isFinite(n)) throw invalid(`${path}.Values[${j}] '${v}' is not a date in epoch seconds.`);
          return n;
        }) as [number, number];
        if (from > to) throw invalid(`${path}.Values: the start date must not be after the end date.`);
        return (op) => op.UpdateDate >= from && op.UpdateDate <= to;
      }
    }
  });
}

function badValue(path: string, value: string, allowed: readonly string[]): never {
  throw invalid(`${path}.Values has '${value}'; expected one of ${allowed.join(', ')}.`);
}

/** How long finished operations are kept for GetOperation and ListOperations. */
export const OPERATION_TTL_SECONDS = 7 * 24 * 60 * 60;

/**
 * Forgets operations older than OPERATION_TTL_SECONDS and CreatorRequestIds older than their TTL,
 * so a platform that registers tasks all day does not grow without bound. Safe to run anywhere,
 * any time (each delete is guarded by the record's revision); returns how many records went.
 *
 * @example setInterval(() => void pruneDiscoveryHistory(store, new Date()), 3600_000);
 */
export async function pruneDiscoveryHistory(store: Store, now: Date): Promise<number> {
  const seconds = now.getTime() / 1000;
  let removed = 0;
  const sweep = async (prefix: string, ttl: number, dateOf: (value: Record<string, unknown>) => unknown) => {
    for (const { key, value, modRevision } of await listJson<Record<string, unknown>>(store, prefix)) {
      const at = dateOf(value);
      if (typeof at !== 'number' || seconds - at < ttl) continue;
      const res = await store.txn([isAt(key, modRevision)], [{ type: 'delete', key }]);
      if (res.succeeded) removed++;
    }
  };
  await sweep(keys.operations(), OPERATION_TTL_SECONDS, (op) => op['UpdateDate']);
  await sweep(`${PREFIX}request-ids/`, REQUEST_ID_TTL_SECONDS, (record) => record['createdAt']);
  return removed;
}
