/**
 * The one catalog of error codes Berth can return. Domain code throws `BerthError` with a code from
 * here; only the edge turns it into a wire shape (JSON 1.1 `__type`, or query-protocol XML).
 * Adding a code without its HTTP status fails to compile.
 *
 * @example throw new BerthError('ClusterNotFoundException', 'Cluster not found.');
 */

export const ERROR_STATUS = {
  // Edge: authentication and the request envelope.
  MissingAuthenticationTokenException: 403,
  IncompleteSignatureException: 400,
  InvalidSignatureException: 400,
  UnrecognizedClientException: 400,
  SignatureDoesNotMatch: 403,
  AccessDeniedException: 400,
  SerializationException: 400,
  UnknownOperationException: 400,
  UnsupportedMediaTypeException: 415,
  RequestEntityTooLargeException: 413,
  ThrottlingException: 400,
  ValidationException: 400,
  InternalFailure: 500,
  // Query protocol (ELBv2, ...): an Action= request no registered service knows.
  InvalidAction: 400,
  // ECS (botocore ecs 2014-11-13).
  ServerException: 500,
  ClientException: 400,
  InvalidParameterException: 400,
  AttributeLimitExceededException: 400,
  BlockedException: 400,
  ClusterContainsCapacityProviderException: 400,
  ClusterContainsContainerInstancesException: 400,
  ClusterContainsServicesException: 400,
  ClusterContainsTasksException: 400,
  ClusterNotFoundException: 400,
  ConflictException: 400,
  LimitExceededException: 400,
  NamespaceNotFoundException: 400,
  NoUpdateAvailableException: 400,
  PlatformTaskDefinitionIncompatibilityException: 400,
  PlatformUnknownException: 400,
  ResourceInUseException: 400,
  ResourceNotFoundException: 400,
  ServiceNotActiveException: 400,
  ServiceNotFoundException: 400,
  TargetNotConnectedException: 400,
  TargetNotFoundException: 400,
  TaskSetNotFoundException: 400,
  UnsupportedFeatureException: 400,
  UpdateInProgressException: 400,
  // ECR (botocore ecr 2015-09-21).
  EmptyUploadException: 400,
  ImageAlreadyExistsException: 400,
  ImageDigestDoesNotMatchException: 400,
  ImageNotFoundException: 400,
  ImageTagAlreadyExistsException: 400,
  InvalidLayerException: 400,
  InvalidLayerPartException: 400,
  InvalidTagParameterException: 400,
  LayerAlreadyExistsException: 400,
  LayerInaccessibleException: 400,
  LayerPartTooSmallException: 400,
  LayersNotFoundException: 400,
  LifecyclePolicyNotFoundException: 400,
  LifecyclePolicyPreviewNotFoundException: 400,
  ReferencedImagesNotFoundException: 400,
  RepositoryAlreadyExistsException: 400,
  RepositoryNotEmptyException: 400,
  RepositoryNotFoundException: 400,
  TooManyTagsException: 400,
  UploadNotFoundException: 400,
  // ELBv2 (botocore elbv2 2015-12-01): the query wire drops the Exception suffix (LoadBalancerNotFound).
  DuplicateListenerException: 400,
  DuplicateLoadBalancerNameException: 400,
  DuplicateTagKeysException: 400,
  DuplicateTargetGroupNameException: 400,
  IncompatibleProtocolsException: 400,
  InvalidConfigurationRequestException: 400,
  InvalidLoadBalancerActionException: 400,
  InvalidTargetException: 400,
  ListenerNotFoundException: 400,
  LoadBalancerNotFoundException: 400,
  OperationNotPermittedException: 400,
  PriorityInUseException: 400,
  RuleNotFoundException: 400,
  TargetGroupAssociationLimitException: 400,
  TargetGroupNotFoundException: 400,
  TooManyActionsException: 400,
  TooManyListenersException: 400,
  TooManyLoadBalancersException: 400,
  TooManyRegistrationsForTargetIdException: 400,
  TooManyRulesException: 400,
  TooManyTargetGroupsException: 400,
  TooManyTargetsException: 400,
  UnsupportedProtocolException: 400,
  // Cloud Map (botocore servicediscovery 2017-03-14): codes without the "Exception" suffix.
  CustomHealthNotFound: 400,
  DuplicateRequest: 400,
  InstanceNotFound: 400,
  InvalidInput: 400,
  NamespaceAlreadyExists: 400,
  NamespaceNotFound: 400,
  OperationNotFound: 400,
  RequestLimitExceeded: 400,
  ResourceInUse: 400,
  ResourceLimitExceeded: 400,
  ServiceAlreadyExists: 400,
  ServiceNotFound: 400,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** A domain or protocol error with a catalog code; `message` is what the caller reads. */
export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra members some AWS errors carry on the wire (e.g. ConflictException.resourceIds). */
  readonly fields: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; fields?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.fields = options?.fields ?? {};
  }

  /** Server faults (5xx) are logged; client errors are not. */
  get isFault(): boolean {
    return this.status >= 500;
  }
}

/** Wraps anything thrown into a BerthError, keeping the original as `cause`. */
export function toBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  return new BerthError('ServerException', 'An internal error occurred.', { cause: err });
}

export const isBerthError = (err: unknown, code?: ErrorCode): err is BerthError =>
  err instanceof BerthError && (code === undefined || err.code === code);
