/**
 * A docker container's output into the driver's two log files (the Driver contract's LogPaths).
 * Docker keeps every byte in its json-file log; the copier follows the Engine API's logs stream from
 * the start and appends what the files do not hold yet, so a copier started after an agent restart
 * (or after the container ended while no agent ran) completes the files without repeating a byte.
 */
import { open } from 'node:fs/promises';
import type { LogPaths } from '../driver.js';
import { demux, type DockerEngine } from './engine.js';

// One copier per log file in this process: a second driver over the same state (an in-process
// restart) joins the copier already running instead of appending the same bytes again.
const copiers = new Map<string, Promise<void>>();

/**
 * Appends the container's output the files lack; resolves when Docker's stream ends (the
 * container stopped and everything it wrote is in the files).
 *
 * @example await copyLogs(engine, 'berth-…-web-1', await driver.logPaths('web-1'))
 */
export function copyLogs(engine: DockerEngine, container: string, paths: LogPaths): Promise<void> {
  const running = copiers.get(paths.stdout);
  if (running) return running;
  const copy = (async () => {
    const out = await open(paths.stdout, 'a');
    try {
      const err = await open(paths.stderr, 'a');
      try {
        // What the files hold already came from this same stream earlier: skip as many bytes.
        const skip = { 1: (await out.stat()).size, 2: (await err.stat()).size };
        const res = await engine.stream('GET', `/containers/${encodeURIComponent(container)}/logs`, {
          query: { follow: 1, stdout: 1, stderr: 1 },
        });
        for await (const frame of demux(res)) {
          if (frame.stream === 0) continue;
          let data = frame.data;
          const skipped = Math.min(skip[frame.stream], data.length);
          skip[frame.stream] -= skipped;
          data = data.subarray(skipped);
          if (data.length > 0) await (frame.stream === 2 ? err : out).write(data);
        }
      } finally {
        await err.close();
      }
    } finally {
      await out.close();
    }
  })().finally(() => copiers.delete(paths.stdout));
  copiers.set(paths.stdout, copy);
  return copy;
}

/** True while a copier of this process follows the file. */
export function copying(paths: LogPaths): boolean {
  return copiers.has(paths.stdout);
}
