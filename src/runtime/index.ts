/**
 * The runtime module's face: the Driver contract, its errors, the process rules every driver
 * shares, task volumes, and the runc driver (network helpers live in ./network/).
 */
export * from './driver.js';
export * from './errors.js';
export { containerHostname, DEFAULT_PATH, resolveProcess, resolveUser, stopSignal } from './process.js';
export type { ProcessUser, ResolvedProcess, UserDatabase } from './process.js';
export { followLog, type FollowOptions } from './logs.js';
export { stopWithTimeout } from './stop.js';
export { TaskVolumes } from './volumes.js';
export { RuncDriver, type RuncDriverOptions } from './runc/runc-driver.js';
export { DockerDriver, type DockerDriverOptions } from './docker/docker-driver.js';
