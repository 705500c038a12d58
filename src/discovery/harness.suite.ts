/**
 * The Cloud Map unit tests' set-up: every operation over an in-memory store that closes itself,
 * refusals checked to change nothing, and short-hands for the namespace/service/instance most
 * tests start from. .suite.ts: not built.
 */
import { expect, onTestFinished } from 'vitest';
import { BerthError, type ErrorCode, type RequestContext } from '../protocols/index.js';
import { SqliteStore } from '../store/index.js';
import { createServiceDiscoveryService } from './index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are checked by value, as the CLI reads its JSON
export type Json = any;

export const ACCOUNT = '000000000000';
export const REGION = 'us-east-1';
export const T0 = new Date('2026-03-01T12:00:00Z');

export function discoveryHarness() {
  const store = SqliteStore.open(':memory:');
  onTestFinished(() => store.close());
  const service = createServiceDiscoveryService({ store, region: REGION, accountId: ACCOUNT });
  const ctxAt = (now: Date): RequestContext => ({ requestId: 'req-1', caller: { accessKeyId: 'AKIDEXAMPLE', accountId: ACCOUNT }, region: REGION, now });

  const call = (operation: string, input: Record<string, unknown> = {}, now: Date = T0): Promise<Json> => {
    const op = service.operations[operation];
    if (op === undefined) throw new Error(`no operation ${operation}`);
    return op(input, ctxAt(now));
  };
  const snapshot = async () => {
    const { revision, kvs } = await store.range('');
    return { revision, kvs: kvs.map((kv) => [kv.key, kv.value, kv.modRevision]) };
  };
  /** Expects the call to fail with `code` (and a message matching), having written nothing. */
  const refused = async (operation: string, input: Record<string, unknown>, code: ErrorCode, message?: string | RegExp): Promise<BerthError> => {
    const before = await snapshot();
    const err = await call(operation, input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, `${operation} should have been refused`).toBeInstanceOf(BerthError);
    const e = err as BerthError;
    expect(e.code).toBe(code);
    if (typeof message === 'string') expect(e.message).toBe(message);
    else if (message !== undefined) expect(e.message).toMatch(message);
    expect(await snapshot()).toEqual(before);
    return e;
  };
  const namespaceOf = async (OperationId: string): Promise<string> =>
    ((await call('GetOperation', { OperationId })) as { Operation: { Targets: { NAMESPACE: string } } }).Operation.Targets.NAMESPACE;
  /** A private DNS namespace; returns its id. */
  const namespace = async (name = 'example.local', extra: Record<string, unknown> = {}): Promise<string> => {
    const { OperationId } = (await call('CreatePrivateDnsNamespace', { Name: name, Vpc: 'vpc-1', ...extra })) as { OperationId: string };
    return namespaceOf(OperationId);
  };
  const httpNamespace = async (name = 'apps'): Promise<string> => {
    const { OperationId } = (await call('CreateHttpNamespace', { Name: name })) as { OperationId: string };
    return namespaceOf(OperationId);
  };
  /** A service with A and SRV records and custom health in the namespace; returns its id. */
  const dnsService = async (namespaceId: string, name = 'web', extra: Record<string, unknown> = {}): Promise<string> => {
    const { Service } = (await call('CreateService', {
      Name: name,
      NamespaceId: namespaceId,
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 30 }, { Type: 'SRV', TTL: 60 }] },
      HealthCheckCustomConfig: {},
      ...extra,
    })) as { Service: { Id: string } };
    return Service.Id;
  };
  const instance = (serviceId: string, id: string, ip: string, port = 8080, extra: Record<string, string> = {}): Promise<Json> =>
    call('RegisterInstance', { ServiceId: serviceId, InstanceId: id, Attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: String(port), ...extra } });

  return { store, call, refused, snapshot, namespace, httpNamespace, dnsService, instance };
}
