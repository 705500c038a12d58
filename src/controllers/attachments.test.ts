import { describe, expect, it } from 'vitest';
import type { Task } from '../ecs/task-shape.js';
import { desiredAttachments, diffAttachments, isEmptyDiff, NO_ATTACHMENTS, serviceNameOf, taskAddress, type AttachmentContext } from './attachments.js';

const TG = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef';
const SD = 'arn:aws:servicediscovery:us-east-1:000000000000:service/srv-0123456789abcdef';
const TASK_ARN = 'arn:aws:ecs:us-east-1:000000000000:task/default/4f1e0c4a1b2c4d5e8f9a0b1c2d3e4f5a';

function task(extra: Partial<Task> = {}): Task {
  return {
    attachments: [],
    attributes: [],
    clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/default',
    containers: [
      {
        containerArn: 'c1',
        taskArn: TASK_ARN,
        name: 'web',
        image: 'busybox',
        lastStatus: 'RUNNING',
        cpu: '0',
        networkInterfaces: [],
        networkBindings: [
          { containerPort: 80, hostPort: 49153, protocol: 'tcp', bindIP: '0.0.0.0' },
          { containerPort: 53, hostPort: 49154, protocol: 'udp', bindIP: '0.0.0.0' },
        ],
      },
    ],
    createdAt: 1,
    desiredStatus: 'RUNNING',
    enableExecuteCommand: false,
    group: 'service:web',
    healthStatus: 'UNKNOWN',
    lastStatus: 'RUNNING',
    availabilityZone: 'us-east-1a',
    overrides: { containerOverrides: [], inferenceAcceleratorOverrides: [] },
    tags: [],
    taskArn: TASK_ARN,
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1',
    version: 3,
    ...extra,
  };
}

const awsvpc = (ip: string): Partial<Task> => ({
  attachments: [{ id: 'eni-att', type: 'ElasticNetworkInterface', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: ip }] }],
});

function ctx(extra: Partial<AttachmentContext> = {}): AttachmentContext {
  return {
    serviceName: 'web',
    clusterName: 'default',
    region: 'us-east-1',
    loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 80 }],
    serviceRegistries: [],
    ec2InstanceId: 'i-0123456789abcdef0',
    hostAddress: '127.0.0.1',
    family: 'web',
    healthChecked: false,
    ...extra,
  };
}

describe('desiredAttachments', () => {
  it('makes a bridge task an instance target on the host port bound to the container port', () => {
    expect(desiredAttachments(task(), ctx()).targets).toEqual([{ targetGroupArn: TG, id: 'i-0123456789abcdef0', port: 49153 }]);
  });

  it('makes an awsvpc task an ip target on the container port', () => {
    expect(desiredAttachments(task(awsvpc('169.254.172.7')), ctx()).targets).toEqual([{ targetGroupArn: TG, id: '169.254.172.7', port: 80 }]);
  });

  it('attaches nothing before RUNNING or once told to stop', () => {
    expect(desiredAttachments(task({ lastStatus: 'PENDING' }), ctx())).toBe(NO_ATTACHMENTS);
    expect(desiredAttachments(task({ desiredStatus: 'STOPPED' }), ctx())).toBe(NO_ATTACHMENTS);
  });

  it('skips a load balancer whose container port has no tcp host binding, or whose host is unknown', () => {
    expect(desiredAttachments(task(), ctx({ loadBalancers: [{ targetGroupArn: TG, containerName: 'web', containerPort: 53 }] })).targets).toEqual([]);
    expect(desiredAttachments(task(), ctx({ loadBalancers: [{ targetGroupArn: TG, containerName: 'other', containerPort: 80 }] })).targets).toEqual([]);
    expect(desiredAttachments(task(), ctx({ ec2InstanceId: undefined })).targets).toEqual([]);
    expect(desiredAttachments(task(), ctx({ loadBalancers: [{ loadBalancerName: 'classic', containerName: 'web', containerPort: 80 }] })).targets).toEqual([]);
  });

  it('registers an awsvpc task in Cloud Map with its address, port and ECS attributes', () => {
    const got = desiredAttachments(task(awsvpc('169.254.172.9')), ctx({ loadBalancers: [], serviceRegistries: [{ registryArn: SD, port: 8080 }] }));
    expect(got.instances).toEqual([
      {
        serviceArn: SD,
        instanceId: '4f1e0c4a1b2c4d5e8f9a0b1c2d3e4f5a',
        attributes: {
          AWS_INSTANCE_IPV4: '169.254.172.9',
          AWS_INSTANCE_PORT: '8080',
          AWS_INIT_HEALTH_STATUS: 'HEALTHY',
          AVAILABILITY_ZONE: 'us-east-1a',
          ECS_CLUSTER_NAME: 'default',
          ECS_SERVICE_NAME: 'web',
          ECS_TASK_DEFINITION_FAMILY: 'web',
          REGION: 'us-east-1',
        },
      },
    ]);
  });

  it('gives a bridge task the host address and the host port of its container port', () => {
    const got = desiredAttachments(task(), ctx({ loadBalancers: [], serviceRegistries: [{ registryArn: SD, containerName: 'web', containerPort: 80 }] }));
    expect(got.instances[0]?.attributes).toMatchObject({ AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '49153' });
  });

  it('uses the container port for an awsvpc task named by container, and omits the port when none is given', () => {
    const named = desiredAttachments(task(awsvpc('169.254.172.9')), ctx({ loadBalancers: [], serviceRegistries: [{ registryArn: SD, containerName: 'web', containerPort: 80 }] }));
    expect(named.instances[0]?.attributes.AWS_INSTANCE_PORT).toBe('80');
    const bare = desiredAttachments(task(awsvpc('169.254.172.9')), ctx({ loadBalancers: [], serviceRegistries: [{ registryArn: SD }] }));
    expect(bare.instances[0]?.attributes).not.toHaveProperty('AWS_INSTANCE_PORT');
  });

  it('waits for HEALTHY before registering in Cloud Map when the task has health checks', () => {
    const sd = ctx({ loadBalancers: [], serviceRegistries: [{ registryArn: SD, port: 80 }], healthChecked: true });
    expect(desiredAttachments(task(awsvpc('169.254.172.9')), sd).instances).toEqual([]);
    expect(desiredAttachments(task({ ...awsvpc('169.254.172.9'), healthStatus: 'HEALTHY' }), sd).instances).toHaveLength(1);
  });
});

describe('diffAttachments', () => {
  const target = { targetGroupArn: TG, id: 'i-1', port: 1 };
  const instance = { serviceArn: SD, instanceId: 't1', attributes: { AWS_INSTANCE_IPV4: '169.254.172.2' } };

  it('registers what is new and deregisters what is gone', () => {
    const moved = { ...target, port: 2 };
    const d = diffAttachments({ targets: [target], instances: [instance] }, { targets: [moved], instances: [] });
    expect(d).toEqual({ register: { targets: [moved], instances: [] }, deregister: { targets: [target], instances: [instance] } });
  });

  it('registers an instance again when its attributes change, without deregistering it', () => {
    const changed = { ...instance, attributes: { AWS_INSTANCE_IPV4: '169.254.172.3' } };
    const d = diffAttachments({ targets: [], instances: [instance] }, { targets: [], instances: [changed] });
    expect(d.register.instances).toEqual([changed]);
    expect(d.deregister.instances).toEqual([]);
  });

  it('is empty when nothing changed, whatever the attribute order', () => {
    const reordered = { ...instance, attributes: { B: '2', A: '1' } };
    const d = diffAttachments({ targets: [target], instances: [{ ...instance, attributes: { A: '1', B: '2' } }] }, { targets: [target], instances: [reordered] });
    expect(isEmptyDiff(d)).toBe(true);
  });
});

describe('task helpers', () => {
  it('reads the address from the ENI attachment, else from container interfaces', () => {
    expect(taskAddress(task(awsvpc('169.254.172.4')))).toBe('169.254.172.4');
    const viaContainer = task();
    expect(taskAddress({ ...viaContainer, containers: [{ ...viaContainer.containers[0]!, networkInterfaces: [{ privateIpv4Address: '169.254.172.5' }] }] })).toBe('169.254.172.5');
    expect(taskAddress(task())).toBeUndefined();
  });

  it('finds the service of a service task only', () => {
    expect(serviceNameOf({ group: 'service:web' })).toBe('web');
    expect(serviceNameOf({ group: 'family:web' })).toBeUndefined();
  });
});
