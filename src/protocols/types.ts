/**
 * What an API operation is, independent of its wire protocol: a function from a decoded input
 * object to an output object, given who is calling. The edge decodes, authenticates, and calls it.
 */

export interface Caller {
  /** The access key id the request was signed with. */
  readonly accessKeyId: string;
  readonly accountId: string;
}

export interface RequestContext {
  readonly requestId: string;
  readonly caller: Caller;
  readonly region: string;
  /** Wall-clock time of the request; domain code takes time from here, never from Date.now(). */
  readonly now: Date;
}

export type OperationInput = Record<string, unknown>;
export type Operation = (input: OperationInput, ctx: RequestContext) => Promise<unknown>;

/** A service as the edge sees it: its JSON 1.1 target prefix and its operations by name. */
export interface JsonService {
  /** The SigV4 service name requests must be signed for (credential scope), e.g. 'ecs'. */
  readonly signingName: string;
  readonly targetPrefix: string;
  readonly operations: Readonly<Record<string, Operation>>;
}
