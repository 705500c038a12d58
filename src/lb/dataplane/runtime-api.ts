/**
 * HAProxy's Runtime API (and the master CLI) over a unix socket: one command line per connection,
 * answered when HAProxy closes it. Several commands may share a line, ';'-separated; their
 * answers are concatenated.
 */
import { createConnection } from 'node:net';

const TIMEOUT_MS = 10_000;

/**
 * Sends one line and returns everything HAProxy answers. A worker closes the connection when done;
 * the master CLI keeps it open, so with `untilBlankLine` an answer ending in an empty line is whole.
 */
export function runtimeCommand(socketPath: string, line: string, options: { untilBlankLine?: boolean; timeoutMs?: number } = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = createConnection(socketPath);
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`haproxy ${socketPath}: no answer to ${JSON.stringify(line)} in ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (options.untilBlankLine && answer.endsWith('\n\n')) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', (hadError) => {
      if (!hadError) resolve(answer);
    });
  });
}

/** Answers that mean success; any other non-blank answer line is an error message. */
const SUCCESS = [/^New server registered\.$/, /^Server deleted\.$/, /^IP changed from /, /^no need to change the addr/, /^port changed from /];

/** Runs a line of commands that answer nothing (or a known success) and throws HAProxy's message otherwise. */
export async function runtimeAction(socketPath: string, line: string): Promise<void> {
  const answer = await runtimeCommand(socketPath, line);
  const errors = answer.split('\n').filter((l) => l.trim() !== '' && !SUCCESS.some((re) => re.test(l.trim())));
  if (errors.length > 0) throw new Error(`haproxy: ${line}: ${errors.join(' ')}`);
}
