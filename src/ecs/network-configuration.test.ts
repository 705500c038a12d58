/** networkConfiguration: shape, ECS's rules against network mode and launch type, ENI attachments. */
import { describe, expect, it } from 'vitest';
import {
  availabilityZoneFor,
  checkNetworkConfiguration,
  eniAttachment,
  MSG_NETWORK_NOT_VALID,
  MSG_NETWORK_REQUIRED,
  MSG_PUBLIC_IP,
  readNetworkConfiguration,
  subnetFor,
} from './network-configuration.js';
import { fails } from './testing/ecs-harness.suite.js';

const vpcInput = (vpc: unknown) => ({ networkConfiguration: { awsvpcConfiguration: vpc } });

describe('readNetworkConfiguration', () => {
  it('is undefined when absent', () => {
    expect(readNetworkConfiguration({})).toBeUndefined();
  });
  it('reads subnets and security groups and defaults assignPublicIp to DISABLED', () => {
    expect(readNetworkConfiguration(vpcInput({ subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-1'] }))).toEqual({
      awsvpcConfiguration: { subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-1'], assignPublicIp: 'DISABLED' },
    });
  });
  it('keeps assignPublicIp ENABLED', () => {
    expect(readNetworkConfiguration(vpcInput({ subnets: ['s'], assignPublicIp: 'ENABLED' }))?.awsvpcConfiguration?.assignPublicIp).toBe('ENABLED');
  });
  it('an empty networkConfiguration has no awsvpcConfiguration', () => {
    expect(readNetworkConfiguration({ networkConfiguration: {} })).toEqual({});
  });
  it('requires subnets', () => {
    fails(() => readNetworkConfiguration(vpcInput({})), 'InvalidParameterException', 'subnets can not be empty.');
    fails(() => readNetworkConfiguration(vpcInput({ subnets: [] })), 'InvalidParameterException', 'subnets can not be empty.');
  });
  it('allows at most 16 subnets and 5 security groups', () => {
    const ids = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}-${i}`);
    expect(readNetworkConfiguration(vpcInput({ subnets: ids(16, 'subnet') }))).toBeDefined();
    fails(() => readNetworkConfiguration(vpcInput({ subnets: ids(17, 'subnet') })), 'InvalidParameterException', 'subnets can have at most 16 items.');
    fails(
      () => readNetworkConfiguration(vpcInput({ subnets: ['s'], securityGroups: ids(6, 'sg') })),
      'InvalidParameterException',
      'securityGroups can have at most 5 items.',
    );
  });
  it('refuses blank ids', () => {
    fails(() => readNetworkConfiguration(vpcInput({ subnets: [' '] })), 'InvalidParameterException', /subnets\[0\] must not be empty/);
    fails(() => readNetworkConfiguration(vpcInput({ subnets: ['s'], securityGroups: [''] })), 'InvalidParameterException', /securityGroups\[0\]/);
  });
  it('checks types and enums', () => {
    fails(() => readNetworkConfiguration({ networkConfiguration: 'x' }), 'SerializationException', /networkConfiguration/);
    fails(() => readNetworkConfiguration(vpcInput({ subnets: 'subnet-a' })), 'SerializationException', /subnets/);
    fails(() => readNetworkConfiguration(vpcInput({ subnets: ['s'], assignPublicIp: 'YES' })), 'InvalidParameterException', /assignPublicIp must be one of ENABLED, DISABLED/);
  });
});

describe('checkNetworkConfiguration', () => {
  const vpc = readNetworkConfiguration(vpcInput({ subnets: ['subnet-a'] }));
  const publicVpc = readNetworkConfiguration(vpcInput({ subnets: ['subnet-a'], assignPublicIp: 'ENABLED' }));
  it('awsvpc needs an awsvpcConfiguration (ECS message)', () => {
    fails(() => checkNetworkConfiguration('awsvpc', undefined, 'EC2'), 'InvalidParameterException', MSG_NETWORK_REQUIRED);
    fails(() => checkNetworkConfiguration('awsvpc', {}, 'FARGATE'), 'InvalidParameterException', MSG_NETWORK_REQUIRED);
    expect(checkNetworkConfiguration('awsvpc', vpc, 'FARGATE')?.subnets).toEqual(['subnet-a']);
  });
  it('other modes take none (ECS message)', () => {
    for (const mode of ['bridge', 'host', 'none'] as const) {
      expect(checkNetworkConfiguration(mode, undefined, 'EC2')).toBeUndefined();
      fails(() => checkNetworkConfiguration(mode, vpc, 'EC2'), 'InvalidParameterException', MSG_NETWORK_NOT_VALID);
    }
  });
  it('a public IP only on Fargate', () => {
    expect(checkNetworkConfiguration('awsvpc', publicVpc, 'FARGATE')?.assignPublicIp).toBe('ENABLED');
    fails(() => checkNetworkConfiguration('awsvpc', publicVpc, 'EC2'), 'InvalidParameterException', MSG_PUBLIC_IP);
    fails(() => checkNetworkConfiguration('awsvpc', publicVpc, 'EXTERNAL'), 'InvalidParameterException', MSG_PUBLIC_IP);
  });
});

describe('ENI attachment', () => {
  const vpc = { subnets: ['subnet-a', 'subnet-b', 'subnet-c'], assignPublicIp: 'DISABLED' as const };
  it('round-robins subnets over the tasks of a request', () => {
    expect([0, 1, 2, 3].map((i) => subnetFor(vpc, i))).toEqual(['subnet-a', 'subnet-b', 'subnet-c', 'subnet-a']);
  });
  it('maps each subnet to a zone letter of the region', () => {
    expect(availabilityZoneFor('us-east-1', vpc, 'subnet-b')).toBe('us-east-1b');
    expect(availabilityZoneFor('eu-west-1', vpc, 'subnet-a')).toBe('eu-west-1a');
  });
  it('is PRECREATED and knows its subnet, as RunTask returns it', () => {
    expect(eniAttachment('att-1', 'subnet-a')).toEqual({
      id: 'att-1',
      type: 'ElasticNetworkInterface',
      status: 'PRECREATED',
      details: [{ name: 'subnetId', value: 'subnet-a' }],
    });
  });
});
