/**
 * The one error type of the runtime module. The agent maps its codes to ECS's container reasons
 * (CannotCreateContainerError, CannotStartContainerError, ...); the message names the container and the rule.
 */

export const RUNTIME_ERROR_CODES = [
  'InvalidSpec', // the ContainerSpec breaks a rule (names the field); nothing was created
  'NotFound', // no container with that id
  'AlreadyExists', // create() with an id already in use
  'Conflict', // the container is not in a state that allows the call (start twice, delete while running)
  'StartFailed', // the runtime could not start the process (bad executable, mount failure, ...)
  'Exhausted', // no free address in a task subnet, or no free host port in the range
  'RuntimeFailed', // the runtime binary or the host failed in a way the caller cannot fix
] as const;

export type RuntimeErrorCode = (typeof RUNTIME_ERROR_CODES)[number];

/**
 * @example throw new RuntimeError('InvalidSpec', 'user: no user "app" in the image\'s /etc/passwd');
 */
export class RuntimeError extends Error {
  readonly code: RuntimeErrorCode;

  constructor(code: RuntimeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = `RuntimeError(${code})`;
    this.code = code;
  }
}

/** True when `err` is a RuntimeError, optionally of one code. */
export function isRuntimeError(err: unknown, code?: RuntimeErrorCode): err is RuntimeError {
  return err instanceof RuntimeError && (code === undefined || err.code === code);
}

/** Shorthand for the commonest error: a spec field that breaks a rule. */
export function invalidSpec(field: string, rule: string): RuntimeError {
  return new RuntimeError('InvalidSpec', `${field}: ${rule}`);
}
