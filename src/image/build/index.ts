/**
 * `berth build`: a Dockerfile and a context directory to an OCI image, pushed to Berth's registry
 * or any other. Reading and planning are pure (dockerfile.ts, instructions.ts, plan.ts,
 * dockerignore.ts, cache.ts); building runs RUN steps in runc and writes layers from overlay
 * snapshots (builder.ts); push.ts speaks the OCI distribution API.
 *
 * @example
 *   const images = await ImageStore.open(join(home, 'build', 'images'));
 *   const driver = new RuncDriver({ stateDir: join(home, 'build', 'runtime'), cgroupParent: '/berth-build' });
 *   const result = await buildImage({ images, driver, context: '.', tags: ['127.0.0.1:4566/web:1'] });
 *   await pushImage(images.content, result, '127.0.0.1:4566/web:1', { credentials: await ecrLogin({ endpoint, region, credentials }) });
 */
export { buildImage, type BuildOptions, type BuildProgress, type BuildResult, type HistoryEntry, type OciImageConfig, type StepReport } from './builder.js';
export { ecrLogin, parseCredentialsFile, readBerthCredentials, registryHost, resolveTag, type AwsCredentials } from './berth-registry.js';
export { BuildContext, hashSources, type ContextEntry, type SelectedSource } from './context.js';
export { DockerIgnore } from './dockerignore.js';
export { parseDockerfile, type ParsedDockerfile, type RawInstruction } from './dockerfile.js';
export { BuildError, isBuildError } from './errors.js';
export { toInstruction, toInstructions, type Command, type Instruction } from './instructions.js';
export { planBuild, resolveFrom, type BuildPlan, type ContainerConfig, type PlanStep, type StepAction } from './plan.js';
export { pushImage, type PushableImage, type PushOptions, type PushProgress, type PushResult } from './push.js';
export { expandWord, expandWords } from './substitute.js';
