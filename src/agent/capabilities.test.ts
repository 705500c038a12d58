/**
 * The capabilities a Berth agent advertises against what RegisterTaskDefinition derives into
 * requiresAttributes: a task definition using the features Berth's agent runs is placeable on it
 * (RunTask through the real ECS operations and scheduler), one using a feature it lacks is not.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { updateContainerInstance } from '../ecs/container-instances.js';
import { ecsHarness, type EcsHarness, type Json } from '../ecs/testing/ecs-harness.suite.js';
import { agentCapabilities } from './capabilities.js';

let h: EcsHarness;

beforeEach(async () => {
  h = ecsHarness();
  await h.call('CreateCluster', { clusterName: 'default' });
});

/** A host registered as a Berth agent registers it: its capabilities as attributes, its agent connected. */
async function berthHost(initProcess: boolean): Promise<string> {
  const res = await h.call('RegisterContainerInstance', {
    totalResources: [
      { name: 'CPU', type: 'INTEGER', integerValue: 4096 },
      { name: 'MEMORY', type: 'INTEGER', integerValue: 8192 },
    ],
    attributes: agentCapabilities({ initProcess }),
  });
  const arn = res.containerInstance.containerInstanceArn as string;
  await updateContainerInstance(h.store, 'default', arn.slice(arn.lastIndexOf('/') + 1), (ci) => ({ ...ci, agentConnected: true }));
  return arn;
}

const register = async (family: string, body: Record<string, unknown>): Promise<Json> => (await h.call('RegisterTaskDefinition', { family, ...body })).taskDefinition;

describe('agentCapabilities', () => {
  it('names ECS agent capabilities, once each, without values', () => {
    const names = agentCapabilities({ initProcess: true }).map((a) => a.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining([
        'com.amazonaws.ecs.capability.docker-remote-api.1.17',
        'com.amazonaws.ecs.capability.docker-remote-api.1.44',
        'com.amazonaws.ecs.capability.logging-driver.json-file',
        'ecs.capability.task-eni',
        'ecs.capability.container-health-check',
        'ecs.capability.execution-role-ecr-pull',
        'ecs.capability.container-ordering',
      ]),
    );
    expect(names.every((n) => n.startsWith('ecs.capability.') || n.startsWith('com.amazonaws.ecs.capability.'))).toBe(true);
  });

  it('reports Docker API 1.25 and later only when an init binary makes initProcessEnabled work', () => {
    const without = agentCapabilities({ initProcess: false }).map((a) => a.name);
    expect(without).toContain('com.amazonaws.ecs.capability.docker-remote-api.1.24');
    expect(without).not.toContain('com.amazonaws.ecs.capability.docker-remote-api.1.25');
  });

  it('a task definition using what Berth runs is placeable on a Berth agent', async () => {
    const td = await register('full', {
      networkMode: 'awsvpc',
      executionRoleArn: 'arn:aws:iam::000000000000:role/exec',
      containerDefinitions: [
        {
          name: 'app',
          image: '000000000000.dkr.ecr.us-east-1.amazonaws.com/app:1',
          memory: 256,
          memoryReservation: 128,
          privileged: true,
          dockerLabels: { team: 'a' },
          ulimits: [{ name: 'nofile', softLimit: 1024, hardLimit: 2048 }],
          logConfiguration: { logDriver: 'json-file' },
          healthCheck: { command: ['CMD-SHELL', 'true'] },
          dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }],
          linuxParameters: { initProcessEnabled: true },
        },
        { name: 'init', image: 'busybox', memory: 64, essential: false },
      ],
    });
    const required = (td.requiresAttributes as Array<{ name: string }>).map((a) => a.name);
    expect(required).toEqual(
      expect.arrayContaining([
        'ecs.capability.task-eni',
        'ecs.capability.container-health-check',
        'ecs.capability.container-ordering',
        'ecs.capability.execution-role-ecr-pull',
        'com.amazonaws.ecs.capability.ecr-auth',
        'com.amazonaws.ecs.capability.logging-driver.json-file',
        'com.amazonaws.ecs.capability.privileged-container',
        'com.amazonaws.ecs.capability.docker-remote-api.1.25',
      ]),
    );
    const host = await berthHost(true);
    const res = await h.call('RunTask', { taskDefinition: 'full', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a'] } } });
    expect(res.failures).toEqual([]);
    expect(res.tasks[0].containerInstanceArn).toBe(host);
  });

  it('a feature the agent does not have keeps the task off it, with the attribute named', async () => {
    await register('logs', { containerDefinitions: [{ name: 'app', image: 'busybox', memory: 128, logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': 'g' } } }] });
    await register('init', { containerDefinitions: [{ name: 'app', image: 'busybox', memory: 128, linuxParameters: { initProcessEnabled: true } }] });
    await berthHost(false);
    const logs = await h.call('RunTask', { taskDefinition: 'logs' });
    expect(logs.failures).toEqual([expect.objectContaining({ reason: 'ATTRIBUTE', detail: expect.stringContaining('com.amazonaws.ecs.capability.logging-driver.awslogs') })]);
    const init = await h.call('RunTask', { taskDefinition: 'init' });
    expect(init.failures).toEqual([expect.objectContaining({ reason: 'ATTRIBUTE', detail: expect.stringContaining('docker-remote-api.1.25') })]);
  });
});
