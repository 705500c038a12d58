/**
 * Following a container's log file as it grows (`berth logs -f`, log shipping): the bytes from an
 * offset on, until the container stops and everything it wrote has been read.
 */
import { watch } from 'node:fs';
import { open } from 'node:fs/promises';

export interface FollowOptions {
  /** Byte offset to start at (default 0: the whole log). */
  readonly from?: number;
  /** Settles when no more output can come (e.g. `driver.wait(id)`); the rest is read, then the follow ends. */
  readonly until?: Promise<unknown>;
  readonly signal?: AbortSignal;
}

const CHUNK = 64 * 1024;

/**
 * @example for await (const chunk of followLog(paths.stdout, { until: driver.wait(id) })) process.stdout.write(chunk);
 */
export async function* followLog(path: string, options: FollowOptions = {}): AsyncGenerator<Buffer> {
  let offset = options.from ?? 0;
  let ended = false;
  let wake: (() => void) | undefined;
  let changed = false;
  const poke = (): void => {
    changed = true;
    wake?.();
  };
  const end = (): void => {
    ended = true;
    poke();
  };
  // A rejected `until` ends the follow too: the caller learns why from its own promise.
  void options.until?.then(end, end);
  const watcher = watch(path, poke);
  watcher.on('error', poke);
  options.signal?.addEventListener('abort', poke);
  const file = await open(path, 'r');
  try {
    for (;;) {
      // Read `ended` before reading the file: whatever was written before the end is then read.
      const last = ended;
      changed = false;
      for (;;) {
        const buf = Buffer.alloc(CHUNK);
        const { bytesRead } = await file.read(buf, 0, CHUNK, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        yield buf.subarray(0, bytesRead);
      }
      if (last || options.signal?.aborted) return;
      if (!changed) {
        // The periodic wake covers file systems whose change events do not reach us.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 500);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    }
  } finally {
    watcher.close();
    options.signal?.removeEventListener('abort', poke);
    await file.close();
  }
}
