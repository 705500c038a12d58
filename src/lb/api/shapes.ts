/**
 * ELBv2's operations in the query codec's shape vocabulary: the members Berth accepts, named and
 * typed as in botocore's elbv2 2015-12-01 model (shapes.test.ts holds them to it). Members the
 * model has and Berth does not serve (certificates, authentication actions' configs, subnet
 * mappings, ...) are listed as unserved, so the codec refuses them by name instead of ignoring them.
 */
import { shape as s } from './query-codec.js';
import type { StructureShape } from './query-codec.js';

const port = s.integer(1, 65535);
const pageSize = s.integer(1, 400);
const strings = s.list(s.string());
const tag = s.structure({ Key: s.string(), Value: s.string() }, ['Key']);
const tags = s.list(tag);
const attributes = s.list(s.structure({ Key: s.string(), Value: s.string() }));
const targetDescription = s.structure({ Id: s.string(), Port: port, AvailabilityZone: s.string() }, ['Id'], ['QuicServerId']);
const protocol = s.string(['HTTP', 'HTTPS', 'TCP', 'TLS', 'UDP', 'TCP_UDP', 'GENEVE', 'QUIC', 'TCP_QUIC']);

const action = s.structure(
  {
    Type: s.string(['forward', 'authenticate-oidc', 'authenticate-cognito', 'redirect', 'fixed-response', 'jwt-validation']),
    TargetGroupArn: s.string(),
    Order: s.integer(1, 50000),
    RedirectConfig: s.structure(
      { Protocol: s.string(), Port: s.string(), Host: s.string(), Path: s.string(), Query: s.string(), StatusCode: s.string(['HTTP_301', 'HTTP_302']) },
      ['StatusCode'],
    ),
    FixedResponseConfig: s.structure({ MessageBody: s.string(), StatusCode: s.string(), ContentType: s.string() }, ['StatusCode']),
    ForwardConfig: s.structure({
      TargetGroups: s.list(s.structure({ TargetGroupArn: s.string(), Weight: s.integer() })),
      TargetGroupStickinessConfig: s.structure({ Enabled: s.boolean(), DurationSeconds: s.integer() }),
    }),
  },
  ['Type'],
  ['AuthenticateOidcConfig', 'AuthenticateCognitoConfig', 'JwtValidationConfig'],
);
const actions = s.list(action);

const values = s.structure({ Values: strings }, [], ['RegexValues']);
const plainValues = s.structure({ Values: strings });
const condition = s.structure({
  Field: s.string(),
  Values: strings,
  HostHeaderConfig: values,
  PathPatternConfig: values,
  HttpHeaderConfig: s.structure({ HttpHeaderName: s.string(), Values: strings }, [], ['RegexValues']),
  QueryStringConfig: s.structure({ Values: s.list(s.structure({ Key: s.string(), Value: s.string() })) }),
  HttpRequestMethodConfig: plainValues,
  SourceIpConfig: plainValues,
}, [], ['RegexValues']);
const conditions = s.list(condition);

const healthCheck = {
  HealthCheckProtocol: protocol,
  HealthCheckPort: s.string(),
  HealthCheckEnabled: s.boolean(),
  HealthCheckPath: s.string(),
  HealthCheckIntervalSeconds: s.integer(5, 300),
  HealthCheckTimeoutSeconds: s.integer(2, 120),
  HealthyThresholdCount: s.integer(2, 10),
  UnhealthyThresholdCount: s.integer(2, 10),
  Matcher: s.structure({ HttpCode: s.string(), GrpcCode: s.string() }),
};

/** Every operation Berth serves, by Action, with its input shape. */
export const INPUT_SHAPES = {
  CreateLoadBalancer: s.structure(
    {
      Name: s.string(),
      Subnets: strings,
      SecurityGroups: strings,
      Scheme: s.string(['internet-facing', 'internal']),
      Tags: tags,
      Type: s.string(['application', 'network', 'gateway']),
      IpAddressType: s.string(['ipv4', 'dualstack', 'dualstack-without-public-ipv4']),
    },
    ['Name'],
    ['SubnetMappings', 'CustomerOwnedIpv4Pool', 'EnablePrefixForIpv6SourceNat', 'IpamPools'],
  ),
  DescribeLoadBalancers: s.structure({ LoadBalancerArns: strings, Names: strings, Marker: s.string(), PageSize: pageSize }),
  DeleteLoadBalancer: s.structure({ LoadBalancerArn: s.string() }, ['LoadBalancerArn']),
  DescribeLoadBalancerAttributes: s.structure({ LoadBalancerArn: s.string() }, ['LoadBalancerArn']),
  ModifyLoadBalancerAttributes: s.structure({ LoadBalancerArn: s.string(), Attributes: attributes }, ['LoadBalancerArn', 'Attributes']),
  CreateTargetGroup: s.structure(
    {
      Name: s.string(),
      Protocol: protocol,
      ProtocolVersion: s.string(),
      Port: port,
      VpcId: s.string(),
      ...healthCheck,
      TargetType: s.string(['instance', 'ip', 'lambda', 'alb']),
      Tags: tags,
      IpAddressType: s.string(['ipv4', 'ipv6']),
    },
    ['Name'],
    ['TargetControlPort'],
  ),
  DescribeTargetGroups: s.structure({ LoadBalancerArn: s.string(), TargetGroupArns: strings, Names: strings, Marker: s.string(), PageSize: pageSize }),
  ModifyTargetGroup: s.structure({ TargetGroupArn: s.string(), ...healthCheck }, ['TargetGroupArn']),
  DeleteTargetGroup: s.structure({ TargetGroupArn: s.string() }, ['TargetGroupArn']),
  DescribeTargetGroupAttributes: s.structure({ TargetGroupArn: s.string() }, ['TargetGroupArn']),
  ModifyTargetGroupAttributes: s.structure({ TargetGroupArn: s.string(), Attributes: attributes }, ['TargetGroupArn', 'Attributes']),
  RegisterTargets: s.structure({ TargetGroupArn: s.string(), Targets: s.list(targetDescription) }, ['TargetGroupArn', 'Targets']),
  DeregisterTargets: s.structure({ TargetGroupArn: s.string(), Targets: s.list(targetDescription) }, ['TargetGroupArn', 'Targets']),
  DescribeTargetHealth: s.structure(
    { TargetGroupArn: s.string(), Targets: s.list(targetDescription), Include: s.list(s.string(['AnomalyDetection', 'All'])) },
    ['TargetGroupArn'],
  ),
  CreateListener: s.structure(
    { LoadBalancerArn: s.string(), Protocol: protocol, Port: port, DefaultActions: actions, Tags: tags },
    ['LoadBalancerArn', 'DefaultActions'],
    ['SslPolicy', 'Certificates', 'AlpnPolicy', 'MutualAuthentication'],
  ),
  DescribeListeners: s.structure({ LoadBalancerArn: s.string(), ListenerArns: strings, Marker: s.string(), PageSize: pageSize }),
  ModifyListener: s.structure(
    { ListenerArn: s.string(), Port: port, Protocol: protocol, DefaultActions: actions },
    ['ListenerArn'],
    ['SslPolicy', 'Certificates', 'AlpnPolicy', 'MutualAuthentication'],
  ),
  DeleteListener: s.structure({ ListenerArn: s.string() }, ['ListenerArn']),
  CreateRule: s.structure(
    { ListenerArn: s.string(), Conditions: conditions, Priority: s.integer(1, 50000), Actions: actions, Tags: tags },
    ['ListenerArn', 'Conditions', 'Priority', 'Actions'],
    ['Transforms'],
  ),
  DescribeRules: s.structure({ ListenerArn: s.string(), RuleArns: strings, Marker: s.string(), PageSize: pageSize }),
  ModifyRule: s.structure({ RuleArn: s.string(), Conditions: conditions, Actions: actions }, ['RuleArn'], ['Transforms', 'ResetTransforms']),
  DeleteRule: s.structure({ RuleArn: s.string() }, ['RuleArn']),
  SetRulePriorities: s.structure({ RulePriorities: s.list(s.structure({ RuleArn: s.string(), Priority: s.integer(1, 50000) })) }, ['RulePriorities']),
  AddTags: s.structure({ ResourceArns: strings, Tags: tags }, ['ResourceArns', 'Tags']),
  RemoveTags: s.structure({ ResourceArns: strings, TagKeys: strings }, ['ResourceArns', 'TagKeys']),
  DescribeTags: s.structure({ ResourceArns: strings }, ['ResourceArns']),
  DescribeAccountLimits: s.structure({ Marker: s.string(), PageSize: pageSize }),
} as const satisfies Record<string, StructureShape>;

export type Elbv2Action = keyof typeof INPUT_SHAPES;
