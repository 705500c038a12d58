/**
 * The ECS capability attributes a Berth agent advertises in its hello, named as the ECS container
 * agent names them (com.amazonaws.ecs.capability.* for the old ones, ecs.capability.* for the newer),
 * so that a task definition's requiresAttributes (which RegisterTaskDefinition derives from the
 * features it uses) finds them and placement puts the task here. Only what Berth's agent really does
 * is listed: a task placed on a promise the agent cannot keep would fail at start.
 */

const CAP = 'com.amazonaws.ecs.capability.';
const ATTR = 'ecs.capability.';

/** The Docker Remote API versions the ECS agent reports (1.17 … 1.44); Berth runs what each implies. */
const DOCKER_API_MINORS = Array.from({ length: 44 - 17 + 1 }, (_, i) => 17 + i);

export interface HostFeatures {
  /** A static init binary is installed (tini): linuxParameters.initProcessEnabled works (Docker API 1.25). */
  readonly initProcess: boolean;
}

/**
 * The capability attributes, name only (ECS sets no value on them).
 *
 * What stays out, and why: logging drivers other than json-file (a container's output goes to files on
 * the host, nothing ships it to CloudWatch, syslog or fluentd), task IAM roles and the credentials
 * endpoint, secrets (SSM / Secrets Manager), private registry authentication, pid/ipc namespace
 * sharing, EFS/FSx and Docker volume plugins, App Mesh, FireLens, container port ranges (bridge mode
 * cannot map them yet), ECS Exec and GPUs.
 *
 * @example agentCapabilities({ initProcess: false }).some((a) => a.name === 'ecs.capability.container-health-check') // true
 */
export function agentCapabilities(host: HostFeatures): Array<{ readonly name: string }> {
  // Without an init binary, report Docker API versions only up to 1.24: initProcessEnabled asks for 1.25.
  const apiMinors = host.initProcess ? DOCKER_API_MINORS : DOCKER_API_MINORS.filter((m) => m < 25);
  const names = [
    ...apiMinors.map((m) => `${CAP}docker-remote-api.1.${m}`),
    // Container output is kept in files on the host, read back by `berth logs`: Docker's json-file.
    `${CAP}logging-driver.json-file`,
    `${CAP}privileged-container`,
    // Images in Berth's registry (its ECR) are pulled with a token from the API, as the ECS agent does for ECR.
    `${CAP}ecr-auth`,
    `${ATTR}execution-role-ecr-pull`,
    // awsvpc: a network namespace per task on the agent's task bridge.
    `${ATTR}task-eni`,
    `${ATTR}container-health-check`,
    `${ATTR}container-ordering`,
  ];
  return names.map((name) => ({ name }));
}
