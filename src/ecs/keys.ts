/**
 * Where ECS objects live in the Store. Each value is the object's JSON exactly as ECS returns it
 * on the wire (timestamps as epoch seconds), so readers in other modules need no mapping.
 */

export const keys = {
  cluster: (name: string) => `/ecs/clusters/${name}`,
  clusters: () => '/ecs/clusters/',
  /** The revision counter and status of a task definition family: {family, lastRevision}. */
  family: (family: string) => `/ecs/families/${family}`,
  families: () => '/ecs/families/',
  /** Revisions are zero-padded so that range order is numeric order. */
  taskDefinition: (family: string, revision: number) => `/ecs/taskdefs/${family}/${String(revision).padStart(10, '0')}`,
  taskDefinitions: (family?: string) => (family === undefined ? '/ecs/taskdefs/' : `/ecs/taskdefs/${family}/`),
  containerInstance: (cluster: string, id: string) => `/ecs/instances/${cluster}/${id}`,
  containerInstances: (cluster: string) => `/ecs/instances/${cluster}/`,
  task: (cluster: string, id: string) => `/ecs/tasks/${cluster}/${id}`,
  tasks: (cluster: string) => `/ecs/tasks/${cluster}/`,
  service: (cluster: string, name: string) => `/ecs/services/${cluster}/${name}`,
  services: (cluster: string) => `/ecs/services/${cluster}/`,
  /** The result of an idempotent call, by operation and clientToken. */
  clientToken: (operation: string, token: string) => `/ecs/client-tokens/${operation}/${token}`,
} as const;
