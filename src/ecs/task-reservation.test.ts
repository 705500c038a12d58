/** A task's reservation on a ContainerInstance wire object: taken, given back, seen by placement. */
import { describe, expect, it } from 'vitest';
import { instanceIdOf, placementCandidate, releaseOnInstance, reserveOnInstance, type InstanceResources, type Resource } from './task-reservation.js';

const num = (name: string, value: number, type = 'INTEGER'): Resource => ({
  name,
  type,
  doubleValue: type === 'DOUBLE' ? value : 0,
  longValue: type === 'LONG' ? value : 0,
  integerValue: type === 'INTEGER' ? value : 0,
});
const set = (name: string, values: string[]): Resource => ({ name, type: 'STRINGSET', doubleValue: 0, longValue: 0, integerValue: 0, stringSetValue: values });

const instance = (over: Partial<InstanceResources> = {}): InstanceResources => ({
  containerInstanceArn: 'arn:aws:ecs:us-east-1:000000000000:container-instance/prod/abc123',
  status: 'ACTIVE',
  remainingResources: [num('CPU', 2048), num('MEMORY', 4096), set('PORTS', ['22', '2375']), set('PORTS_UDP', [])],
  pendingTasksCount: 0,
  runningTasksCount: 0,
  attributes: [{ name: 'ecs.availability-zone', value: 'us-east-1b' }, { name: 'ecs.capability.task-eni' }],
  version: 4,
  ...over,
});
const reservation = { cpu: 256, memory: 512, tcpPorts: [80], udpPorts: [53] };

describe('placementCandidate', () => {
  it('reads free resources, taken ports and attributes', () => {
    expect(placementCandidate(instance())).toEqual({
      id: 'abc123',
      status: 'ACTIVE',
      cpu: 2048,
      memory: 4096,
      tcpPorts: [22, 2375],
      udpPorts: [],
      attributes: { 'ecs.availability-zone': 'us-east-1b', 'ecs.capability.task-eni': '' },
    });
  });
  it('reads a numeric resource from the member its type names', () => {
    const c = placementCandidate(instance({ remainingResources: [num('CPU', 1000, 'LONG'), num('MEMORY', 300, 'DOUBLE')] }));
    expect([c.cpu, c.memory]).toEqual([1000, 300]);
  });
  it('an instance without resources has nothing free', () => {
    expect(placementCandidate(instance({ remainingResources: [] }))).toMatchObject({ cpu: 0, memory: 0, tcpPorts: [], udpPorts: [] });
  });
  it('instanceIdOf takes the last part of the ARN', () => {
    expect(instanceIdOf('arn:aws:ecs:us-east-1:1:container-instance/c/xyz')).toBe('xyz');
  });
});

describe('reserve and release', () => {
  it('reserving takes CPU, memory and ports, counts a pending task and bumps version', () => {
    const r = reserveOnInstance(instance(), reservation);
    expect(r.remainingResources).toEqual([num('CPU', 1792), num('MEMORY', 3584), set('PORTS', ['22', '2375', '80']), set('PORTS_UDP', ['53'])]);
    expect(r.pendingTasksCount).toBe(1);
    expect(r.version).toBe(5);
  });
  it('keeps the other members of the instance', () => {
    const withExtra = { ...instance(), ec2InstanceId: 'i-1', tags: [{ key: 'a' }] };
    expect(reserveOnInstance(withExtra, reservation)).toMatchObject({ ec2InstanceId: 'i-1', tags: [{ key: 'a' }] });
  });
  it('releasing a pending task gives everything back', () => {
    const back = releaseOnInstance(reserveOnInstance(instance(), reservation), reservation, false);
    expect(back.remainingResources).toEqual(instance().remainingResources);
    expect(back.pendingTasksCount).toBe(0);
    expect(back.version).toBe(6);
  });
  it('releasing a running task lowers runningTasksCount instead', () => {
    const back = releaseOnInstance({ ...instance(), runningTasksCount: 2, pendingTasksCount: 1 }, reservation, true);
    expect([back.runningTasksCount, back.pendingTasksCount]).toEqual([1, 1]);
  });
  it('two tasks on one port free it one at a time', () => {
    const twice = reserveOnInstance(reserveOnInstance(instance(), { ...reservation, udpPorts: [] }), { ...reservation, udpPorts: [] });
    const once = releaseOnInstance(twice, { ...reservation, udpPorts: [] }, false);
    expect(once.remainingResources!.find((r) => r.name === 'PORTS')!.stringSetValue).toEqual(['22', '2375', '80']);
  });
  it('counts never go below zero', () => {
    expect(releaseOnInstance(instance(), reservation, false).pendingTasksCount).toBe(0);
  });
  it('an instance registered without PORTS_UDP gets it when a task takes a UDP port', () => {
    const r = reserveOnInstance(instance({ remainingResources: [num('CPU', 1024), num('MEMORY', 1024)] }), reservation);
    expect(r.remainingResources!.find((x) => x.name === 'PORTS_UDP')!.stringSetValue).toEqual(['53']);
  });
  it('works in the member a resource type names', () => {
    const r = reserveOnInstance(instance({ remainingResources: [num('CPU', 2048, 'LONG'), num('MEMORY', 1024, 'DOUBLE')] }), reservation);
    expect(r.remainingResources![0]).toMatchObject({ longValue: 1792, integerValue: 0 });
    expect(r.remainingResources![1]).toMatchObject({ doubleValue: 512, integerValue: 0 });
  });
});
