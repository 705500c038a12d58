/**
 * The ECS API (botocore ecs 2014-11-13): every operation, by name, behind the JSON 1.1 target
 * prefix. Each group of operations lives in its own file and is merged here.
 */
import type { JsonService, Operation } from '../protocols/index.js';
import type { Store } from '../store/index.js';
import { taskDefinitionOperations } from './task-definitions.js';
import { clusterOperations } from './clusters.js';
import { containerInstanceOperations } from './container-instances.js';
import { attributeOperations } from './attributes.js';
import { tagOperations } from './tags.js';
import { accountSettingOperations } from './account-settings.js';
import { taskOperations } from './tasks.js';
import { serviceOperations } from './services.js';

export const ECS_TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113';

export interface EcsDeps {
  readonly store: Store;
}

export function createEcsService(deps: EcsDeps): JsonService {
  const operations: Record<string, Operation> = {
    ...taskDefinitionOperations(deps),
    ...clusterOperations(deps),
    ...containerInstanceOperations(deps),
    ...attributeOperations(deps),
    ...tagOperations(deps),
    ...accountSettingOperations(deps),
    ...taskOperations(deps),
    ...serviceOperations(deps),
  };
  return { signingName: 'ecs', targetPrefix: ECS_TARGET_PREFIX, operations };
}
