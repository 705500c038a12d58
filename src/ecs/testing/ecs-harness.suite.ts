/**
 * The ECS unit tests' shared set-up: every operation over an in-memory store that closes itself, and the checks an
 * error path makes (the BerthError's code and message; a refused request changed nothing). .suite.ts: not built.
 */
import { expect, onTestFinished } from 'vitest';
import { BerthError, type ErrorCode, type Operation, type RequestContext } from '../../protocols/index.js';
import { SqliteStore, type Store } from '../../store/index.js';
import type { ContainerDefinition } from '../task-definition-types.js';
import { createEcsService } from '../index.js';

/** Responses are checked by value, as the CLI reads its JSON; a loose type keeps the assertions readable. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type Json = any;

/** What an error's message must be: exactly this string, or matching this pattern. */
export type MessageMatch = string | RegExp;

export interface EcsHarnessOptions {
  /** The caller's account. Default 000000000000. */
  readonly accountId?: string;
  /** Default us-east-1. */
  readonly region?: string;
  /** The request time of every call that names none. Default 2024-05-01T12:00:00Z. */
  readonly now?: Date | number;
}

/** Every key with its value and modRevision, and the store's revision: equal snapshots mean nothing was written. */
export interface StoreSnapshot {
  readonly revision: number;
  readonly kvs: ReadonlyArray<readonly [key: string, value: string, modRevision: number]>;
}

export interface EcsHarness {
  readonly store: SqliteStore;
  /** The context calls get: the options' account, region and time. */
  readonly ctx: RequestContext;
  /** Calls an ECS operation in-process, at `at` if given; resolves its result or rejects with its BerthError. */
  readonly call: (operation: string, input?: Record<string, unknown>, at?: Date | number) => Promise<Json>;
  /** Expects the call to fail with `code` (and message), and the store to be exactly as before; returns the error. */
  readonly refused: (operation: string, input: Record<string, unknown>, code: ErrorCode, message?: MessageMatch) => Promise<BerthError>;
  /** Runs `action` and expects the store to be exactly as before it; returns what the action returned. */
  readonly unchanged: <T>(action: () => Promise<T>) => Promise<T>;
  readonly snapshot: () => Promise<StoreSnapshot>;
  /** Closes the store now; it is closed when the test ends in any case. */
  readonly close: () => Promise<void>;
}

/**
 * A fresh harness for the running test (call it in a test or a beforeEach).
 *
 * @example const { call, refused } = ecsHarness(); await call('CreateCluster'); await refused('DescribeClusters', { include: ['EVERYTHING'] }, 'InvalidParameterException');
 */
export function ecsHarness(options: EcsHarnessOptions = {}): EcsHarness {
  const store = SqliteStore.open(':memory:');
  onTestFinished(() => store.close());
  const { operations } = createEcsService({ store });
  const accountId = options.accountId ?? '000000000000';
  const region = options.region ?? 'us-east-1';
  const contextAt = (at: Date | number): RequestContext => ({ requestId: 'req-1', caller: { accessKeyId: 'AKIDEXAMPLE', accountId }, region, now: new Date(at) });
  const ctx = contextAt(options.now ?? new Date('2024-05-01T12:00:00Z'));

  const call = (operation: string, input: Record<string, unknown> = {}, at?: Date | number): Promise<Json> => {
    const op: Operation | undefined = operations[operation];
    if (op === undefined) throw new Error(`no ECS operation ${operation}`);
    return op(input, at === undefined ? ctx : contextAt(at));
  };
  const snapshot = async (): Promise<StoreSnapshot> => {
    const { revision, kvs } = await store.range('');
    return { revision, kvs: kvs.map((kv) => [kv.key, kv.value, kv.modRevision] as const) };
  };
  const unchanged = async <T>(action: () => Promise<T>): Promise<T> => {
    const before = await snapshot();
    const result = await action();
    expect(await snapshot()).toEqual(before);
    return result;
  };
  const refused = (operation: string, input: Record<string, unknown>, code: ErrorCode, message?: MessageMatch): Promise<BerthError> =>
    unchanged(async () => expectBerthError(await caught(call(operation, input)), code, message, `${operation} should have been refused`));

  return { store, ctx, call, refused, unchanged, snapshot, close: () => store.close() };
}

/**
 * Expects `promise` to reject with a BerthError of `code` (and message); returns the error.
 *
 * @example await rejection(resolveTaskDefinition(store, 'web', partition), 'ClientException', 'Unable to describe task definition.');
 */
export async function rejection(promise: Promise<unknown>, code: ErrorCode, message?: MessageMatch): Promise<BerthError> {
  return expectBerthError(await caught(promise), code, message);
}

/**
 * Expects `fn` to throw a BerthError of `code` (and message); returns the error. For the deciding
 * code that reads and checks requests without a store.
 *
 * @example fails(() => readServiceName({}), 'InvalidParameterException', 'serviceName is required.');
 */
export function fails(fn: () => unknown, code: ErrorCode, message?: MessageMatch): BerthError {
  try {
    fn();
  } catch (err) {
    return expectBerthError(err, code, message);
  }
  throw new Error('expected an error');
}

/** What `promise` rejected with; undefined if it resolved. */
const caught = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

function expectBerthError(err: unknown, code: ErrorCode, message: MessageMatch | undefined, what?: string): BerthError {
  expect(err, what).toBeInstanceOf(BerthError);
  const e = err as BerthError;
  expect(e.code).toBe(code);
  if (typeof message === 'string') expect(e.message).toBe(message);
  else if (message !== undefined) expect(e.message).toMatch(message);
  return e;
}

/**
 * A container definition as RegisterTaskDefinition stores it (defaults filled in), for the code
 * that reads stored task definitions.
 *
 * @example containerDefinition('web', { memory: 256, portMappings: [{ containerPort: 80 }] })
 */
export const containerDefinition = (name: string, extra: Partial<ContainerDefinition> = {}): ContainerDefinition => ({
  name,
  image: `${name}:latest`,
  cpu: 0,
  essential: true,
  portMappings: [],
  environment: [],
  mountPoints: [],
  volumesFrom: [],
  systemControls: [],
  ...extra,
});

/** The smallest Fargate RegisterTaskDefinition request, less its family: one container on port 8080. */
export const FARGATE_TASK_DEFINITION = {
  requiresCompatibilities: ['FARGATE'],
  networkMode: 'awsvpc',
  cpu: '256',
  memory: '512',
  containerDefinitions: [{ name: 'app', image: 'busybox', portMappings: [{ containerPort: 8080 }] }],
};

/**
 * A Store that forwards to `inner` but for the methods given: for tests that slip a write in
 * between an operation's steps, or record what it reads.
 *
 * @example const racing = interposedStore(store, { range: async (prefix, options) => { await sneakIn(); return store.range(prefix, options); } });
 */
export function interposedStore(inner: Store, overrides: Partial<Store>): Store {
  return {
    get: (key) => inner.get(key),
    range: (prefix, options) => inner.range(prefix, options),
    txn: (compares, success, failure) => inner.txn(compares, success, failure),
    watch: (prefix, options) => inner.watch(prefix, options),
    revision: () => inner.revision(),
    compact: (revision) => inner.compact(revision),
    close: () => inner.close(),
    ...overrides,
  };
}
