/**
 * ECS's stopTimeout over any Driver's kill and wait: the stop signal, a grace period, then SIGKILL.
 * One implementation so every driver stops containers the same way.
 */
import type { Driver, ExitStatus } from './driver.js';
import { isRuntimeError, RuntimeError } from './errors.js';

type KillAndWait = Pick<Driver, 'state' | 'kill' | 'wait'>;

/**
 * @example await stopWithTimeout(driver, 'web-1', 30_000, 'SIGTERM') // { exitCode: 143, ... }
 */
export async function stopWithTimeout(driver: KillAndWait, id: string, timeoutMs: number, signal: NodeJS.Signals): Promise<ExitStatus> {
  const state = await driver.state(id);
  if (state.status === 'stopped') return driver.wait(id);
  if (state.status === 'created') throw new RuntimeError('Conflict', `container ${id} was never started`);
  if (!(await sendUnlessStopped(driver, id, signal))) return driver.wait(id);

  const grace = new AbortController();
  const timer = setTimeout(() => grace.abort(), Math.max(0, timeoutMs));
  try {
    return await driver.wait(id, { signal: grace.signal });
  } catch (err) {
    if (!grace.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  await sendUnlessStopped(driver, id, 'SIGKILL');
  return driver.wait(id);
}

/** Sends the signal; false when the container stopped meanwhile (its exit races our signal). */
async function sendUnlessStopped(driver: KillAndWait, id: string, signal: NodeJS.Signals): Promise<boolean> {
  try {
    await driver.kill(id, signal);
    return true;
  } catch (err) {
    if (isRuntimeError(err, 'Conflict') && (await driver.state(id)).status === 'stopped') return false;
    throw err;
  }
}
