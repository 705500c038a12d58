/**
 * The one error type of `berth build`: a message that names the Dockerfile line when there is one,
 * so a user can go straight to the instruction that failed.
 */

/**
 * @example throw new BuildError('multi-stage builds are not supported', 3) // "… (line 3)"
 */
export class BuildError extends Error {
  /** The Dockerfile line (1-based) the error is about, when it is about one. */
  readonly line: number | undefined;

  /** `detail` goes after the line number, on its own lines (a failed RUN's last output). */
  constructor(message: string, line?: number, options?: { cause?: unknown; detail?: string }) {
    const head = line === undefined ? message : `${message} (line ${line})`;
    super(options?.detail ? `${head}\n${options.detail}` : head, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BuildError';
    this.line = line;
  }
}

export function isBuildError(err: unknown): err is BuildError {
  return err instanceof BuildError;
}
