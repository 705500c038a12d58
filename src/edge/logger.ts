/**
 * The small logging surface the edge and its helpers write to; the CLI passes its own. Faults are
 * logged with their cause, since an error caught and dropped is a bug.
 */

export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

/** One JSON line per entry on stderr; debug lines only with BERTH_DEBUG set. */
export const consoleLogger: Logger = {
  error: (message, fields) => console.error(JSON.stringify({ level: 'error', message, ...describe(fields) })),
  warn: (message, fields) => console.error(JSON.stringify({ level: 'warn', message, ...describe(fields) })),
  debug: (message, fields) => {
    if (process.env['BERTH_DEBUG']) console.error(JSON.stringify({ level: 'debug', message, ...describe(fields) }));
  },
};

/** Errors do not survive JSON.stringify; spell them out, causes included. */
function describe(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (fields === undefined) return {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? errorChain(v) : v]));
}

function errorChain(err: Error): string {
  const parts = [err.stack ?? `${err.name}: ${err.message}`];
  let cause: unknown = err.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    parts.push(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : JSON.stringify(cause) ?? typeof cause}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return parts.join('\n');
}
