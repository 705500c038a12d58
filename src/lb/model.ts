/**
 * The load balancer's stored model: what the ELBv2 API writes and the data plane (HAProxy) reads,
 * and the target health the data plane writes back. Field names are the botocore model's
 * (PascalCase), so the API encodes a record to XML without mapping and readers in other modules
 * (the data plane, the ECS service controller) share one vocabulary.
 *
 * Ownership: the API (src/lb/api) writes everything under /elbv2/ except `health`; the data plane
 * (src/lb/dataplane) writes only `health`. The ECS service controller registers and deregisters
 * targets through the API's functions, never by writing keys itself.
 */

export const ELBV2_XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

/** Store keys. Ids are the last segment of the ARN (e.g. `app/web/50dc6c495c0c9188`). */
export const lbKeys = {
  loadBalancer: (id: string) => `/elbv2/loadbalancers/${encodeId(id)}`,
  loadBalancers: () => '/elbv2/loadbalancers/',
  listener: (id: string) => `/elbv2/listeners/${encodeId(id)}`,
  listeners: () => '/elbv2/listeners/',
  rule: (id: string) => `/elbv2/rules/${encodeId(id)}`,
  rules: () => '/elbv2/rules/',
  targetGroup: (id: string) => `/elbv2/targetgroups/${encodeId(id)}`,
  targetGroups: () => '/elbv2/targetgroups/',
  /** One registered target: `${Id}:${Port}` within its target group. */
  target: (targetGroupId: string, targetId: string, port: number) => `/elbv2/targets/${encodeId(targetGroupId)}/${encodeId(targetId)}:${port}`,
  targets: (targetGroupId?: string) => (targetGroupId === undefined ? '/elbv2/targets/' : `/elbv2/targets/${encodeId(targetGroupId)}/`),
  /** Health as the data plane last saw it; same key suffix as `target`. */
  health: (targetGroupId: string, targetId: string, port: number) => `/elbv2/health/${encodeId(targetGroupId)}/${encodeId(targetId)}:${port}`,
  healths: (targetGroupId?: string) => (targetGroupId === undefined ? '/elbv2/health/' : `/elbv2/health/${encodeId(targetGroupId)}/`),
} as const;

/**
 * The id a record is stored under: the ARN's resource after its type, e.g.
 * `arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef` → `web/0123456789abcdef`,
 * `...:loadbalancer/app/web/50dc6c495c0c9188` → `app/web/50dc6c495c0c9188`. Every reader and writer uses this.
 */
export function lbIdOf(arn: string): string {
  const resource = arn.split(':').slice(5).join(':');
  return resource.slice(resource.indexOf('/') + 1);
}

/** ARN resource ids contain '/', which would nest keys; they are stored with '/' as '+'. */
function encodeId(id: string): string {
  return id.replaceAll('/', '+');
}

export interface Tag {
  readonly Key: string;
  readonly Value?: string;
}

export interface LoadBalancerRecord {
  readonly LoadBalancerArn: string;
  readonly DNSName: string;
  readonly CanonicalHostedZoneId: string;
  /** Epoch milliseconds. */
  readonly CreatedTime: number;
  readonly LoadBalancerName: string;
  readonly Scheme: 'internet-facing' | 'internal';
  readonly VpcId: string;
  readonly State: { readonly Code: 'provisioning' | 'active' | 'active_impaired' | 'failed'; readonly Reason?: string };
  readonly Type: 'application';
  readonly AvailabilityZones: readonly { readonly ZoneName: string; readonly SubnetId: string }[];
  readonly SecurityGroups: readonly string[];
  readonly IpAddressType: 'ipv4' | 'dualstack';
  /** Load balancer attributes (idle_timeout.timeout_seconds, access_logs.s3.enabled, ...). */
  readonly Attributes: Readonly<Record<string, string>>;
  readonly Tags: readonly Tag[];
}

export interface TargetGroupRecord {
  readonly TargetGroupArn: string;
  readonly TargetGroupName: string;
  readonly Protocol: 'HTTP';
  readonly Port: number;
  readonly VpcId: string;
  readonly HealthCheckProtocol: 'HTTP';
  /** 'traffic-port' or a port number as a string, as ELBv2 returns it. */
  readonly HealthCheckPort: string;
  readonly HealthCheckEnabled: boolean;
  readonly HealthCheckIntervalSeconds: number;
  readonly HealthCheckTimeoutSeconds: number;
  readonly HealthyThresholdCount: number;
  readonly UnhealthyThresholdCount: number;
  readonly HealthCheckPath: string;
  /** HTTP codes: '200', '200,202', '200-299'. */
  readonly Matcher: { readonly HttpCode: string };
  readonly TargetType: 'instance' | 'ip';
  readonly ProtocolVersion: 'HTTP1';
  readonly IpAddressType: 'ipv4';
  /**
   * Target group attributes with ELBv2's keys and defaults filled in:
   * deregistration_delay.timeout_seconds ('300'), stickiness.enabled ('false'),
   * stickiness.type ('lb_cookie'), stickiness.lb_cookie.duration_seconds ('86400'),
   * load_balancing.algorithm.type ('round_robin' | 'least_outstanding_requests'),
   * slow_start.duration_seconds ('0').
   */
  readonly Attributes: Readonly<Record<string, string>>;
  readonly Tags: readonly Tag[];
}

/** A forward to one or more weighted target groups (a plain TargetGroupArn is weight 1 of one). */
export interface ForwardConfig {
  readonly TargetGroups: readonly { readonly TargetGroupArn: string; readonly Weight?: number }[];
  readonly TargetGroupStickinessConfig?: { readonly Enabled: boolean; readonly DurationSeconds?: number };
}

export interface RedirectConfig {
  readonly Protocol?: string;
  readonly Port?: string;
  readonly Host?: string;
  readonly Path?: string;
  readonly Query?: string;
  readonly StatusCode: 'HTTP_301' | 'HTTP_302';
}

export interface FixedResponseConfig {
  readonly MessageBody?: string;
  readonly StatusCode: string;
  readonly ContentType?: string;
}

export interface ActionRecord {
  readonly Type: 'forward' | 'redirect' | 'fixed-response';
  readonly Order?: number;
  readonly TargetGroupArn?: string;
  /** Always set for 'forward' (the API normalises a bare TargetGroupArn into it). */
  readonly ForwardConfig?: ForwardConfig;
  readonly RedirectConfig?: RedirectConfig;
  readonly FixedResponseConfig?: FixedResponseConfig;
}

export interface ListenerRecord {
  readonly ListenerArn: string;
  readonly LoadBalancerArn: string;
  readonly Port: number;
  readonly Protocol: 'HTTP';
  readonly DefaultActions: readonly ActionRecord[];
  readonly Tags: readonly Tag[];
}

/** Conditions as ELBv2 stores them: always the *Config form (the API normalises legacy Values). */
export interface RuleConditionRecord {
  readonly Field: 'path-pattern' | 'host-header' | 'http-header' | 'query-string' | 'http-request-method' | 'source-ip';
  readonly PathPatternConfig?: { readonly Values: readonly string[] };
  readonly HostHeaderConfig?: { readonly Values: readonly string[] };
  readonly HttpHeaderConfig?: { readonly HttpHeaderName: string; readonly Values: readonly string[] };
  readonly QueryStringConfig?: { readonly Values: readonly { readonly Key?: string; readonly Value: string }[] };
  readonly HttpRequestMethodConfig?: { readonly Values: readonly string[] };
  readonly SourceIpConfig?: { readonly Values: readonly string[] };
}

export interface RuleRecord {
  readonly RuleArn: string;
  readonly ListenerArn: string;
  /** '1'..'50000', or 'default' for the listener's default rule (which is not stored as a rule). */
  readonly Priority: string;
  readonly Conditions: readonly RuleConditionRecord[];
  readonly Actions: readonly ActionRecord[];
  readonly IsDefault: false;
  readonly Tags: readonly Tag[];
}

/** One registered target. For 'instance' targets the API resolves the instance to an address. */
export interface TargetRecord {
  readonly TargetGroupArn: string;
  readonly Id: string;
  readonly Port: number;
  readonly AvailabilityZone?: string;
  /** The IPv4 address the data plane sends traffic and health checks to. */
  readonly Address: string;
  readonly State: 'registered' | 'draining';
  /** Epoch milliseconds. */
  readonly RegisteredAt: number;
  /** Set when draining: epoch ms after which the target is removed (deregistration delay). */
  readonly DrainUntil?: number;
}

/** What the data plane last observed of a target (health checks with the group's thresholds). */
export interface TargetHealthRecord {
  readonly State: 'initial' | 'healthy' | 'unhealthy';
  readonly Reason?: 'Elb.InitialHealthChecking' | 'Target.ResponseCodeMismatch' | 'Target.Timeout' | 'Target.FailedHealthChecks' | 'Target.HealthCheckDisabled';
  readonly Description?: string;
  /** Epoch milliseconds of the observation that set this state. */
  readonly UpdatedAt: number;
}
