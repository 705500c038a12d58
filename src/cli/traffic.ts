/**
 * The composition of traffic: how ECS services reach the load balancer and Cloud Map. The ECS side
 * (the attachment controller) sees only AttachmentPorts; this file binds them to the ELBv2 and Cloud
 * Map functions, and resolves `instance` targets to the address of the container instance's host.
 */
import type { ContainerInstance } from '../ecs/container-instances.js';
import { keys } from '../ecs/keys.js';
import type { AttachmentPorts } from '../controllers/index.js';
import { deregisterInstance, registerInstance } from '../discovery/index.js';
import { deregisterTargets, registerTargets, type ResolveInstance } from '../lb/index.js';
import type { Store } from '../store/index.js';

/**
 * The attribute a container instance's agent sets to the address its host is reached at. Without
 * it the host is taken to be this machine (`berth up`'s own agent), reached at 127.0.0.1, where
 * bridge-mode host ports are mapped too.
 */
export const HOST_ADDRESS_ATTRIBUTE = 'berth.host-address';
const LOCAL_HOST_ADDRESS = '127.0.0.1';

export function hostAddressOf(instance: Pick<ContainerInstance, 'attributes'>): string {
  return instance.attributes.find((a) => a.name === HOST_ADDRESS_ATTRIBUTE)?.value ?? LOCAL_HOST_ADDRESS;
}

/**
 * Resolves an ELBv2 `instance` target id (a container instance's ec2InstanceId) to its host's address
 * and zone, looking through every cluster's container instances.
 *
 * @example const resolve = instanceResolver(store); await resolve('i-0abc') // { address: '127.0.0.1', availabilityZone: 'us-east-1a' }
 */
export function instanceResolver(store: Store): ResolveInstance {
  const prefix = keys.containerInstances('').slice(0, -1);
  return async (instanceId) => {
    let startAfter: string | undefined;
    for (;;) {
      const page = await store.range(prefix, { limit: 500, ...(startAfter === undefined ? {} : { startAfter }) });
      for (const kv of page.kvs) {
        const ci = JSON.parse(kv.value) as ContainerInstance;
        if (ci.ec2InstanceId !== instanceId || ci.status === 'DEREGISTERING') continue;
        const zone = ci.attributes.find((a) => a.name === 'ecs.availability-zone')?.value;
        return { address: hostAddressOf(ci), ...(zone === undefined ? {} : { availabilityZone: zone }) };
      }
      if (!page.more || page.kvs.length === 0) return undefined;
      startAfter = page.kvs[page.kvs.length - 1]!.key;
    }
  };
}

/** The attachment controller's ports on the ELBv2 and Cloud Map functions, acting as the account itself. */
export function attachmentPorts(store: Store, region: string, accountId: string, resolveInstance: ResolveInstance): AttachmentPorts {
  const elb = () => ({ region, accountId, now: new Date(), resolveInstance });
  const cloudMap = () => ({ accountId, now: new Date() });
  const targets = (list: readonly { id: string; port: number }[]) => list.map((t) => ({ Id: t.id, Port: t.port }));
  return {
    registerTargets: (tg, list) => registerTargets(store, elb(), tg, targets(list)),
    deregisterTargets: (tg, list) => deregisterTargets(store, elb(), tg, targets(list), { ignoreUnregistered: true }),
    registerInstance: async (serviceArn, instanceId, attributes) => {
      await registerInstance(store, cloudMap(), { serviceId: serviceArn, instanceId, attributes });
    },
    deregisterInstance: async (serviceArn, instanceId) => {
      try {
        await deregisterInstance(store, cloudMap(), { serviceId: serviceArn, instanceId });
      } catch (err) {
        // Already gone (deregistered by hand): what the controller wanted.
        if ((err as { code?: unknown }).code === 'InstanceNotFound') return;
        throw err;
      }
    },
  };
}
