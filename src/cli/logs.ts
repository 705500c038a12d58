/**
 * `berth logs TASK [-f]`: a task's container output, read from the agent's log files on this host
 * (like `docker logs`). With -f it follows until every container has stopped, or Ctrl-C.
 */
import { readdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { followLog } from '../runtime/index.js';
import { RuncDriver } from '../runtime/runc/runc-driver.js';

interface LogsOptions {
  home?: string;
  follow?: boolean;
  container?: string;
}

/** The runtime ids of a task's containers (`<taskId>-<name>`), by container name. */
export async function taskContainers(containersDir: string, taskRef: string): Promise<Map<string, string>> {
  const taskId = taskRef.split('/').pop() ?? taskRef;
  if (!/^[0-9a-f]{32}$/.test(taskId)) throw new Error(`${taskRef} is not a task id or task ARN`);
  const ids = existsSync(containersDir) ? await readdir(containersDir) : [];
  return new Map(ids.filter((id) => id.startsWith(`${taskId}-`)).map((id) => [id.slice(taskId.length + 1), id]));
}

export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .description("print a task's container logs (on the host that runs it)")
    .argument('<task>', 'task id or ARN')
    .option('-f, --follow', 'keep printing new output until the task stops')
    .option('-c, --container <name>', 'only this container')
    .option('--home <dir>', 'state directory (default $BERTH_HOME or ./.berth)')
    .action(async (task: string, opts: LogsOptions) => {
      const home = resolve(opts.home ?? process.env['BERTH_HOME'] ?? '.berth');
      const runtimeDir = join(home, 'agent', 'runtime');
      const containers = await taskContainers(join(runtimeDir, 'containers'), task);
      if (containers.size === 0) throw new Error(`no containers of task ${task} on this host (under ${runtimeDir})`);
      const selected = [...containers].filter(([name]) => opts.container === undefined || name === opts.container);
      if (selected.length === 0) throw new Error(`task ${task} has no container ${opts.container}; it has ${[...containers.keys()].join(', ')}`);
      const prefix = (name: string) => (selected.length > 1 ? `${name} | ` : '');

      if (!opts.follow) {
        for (const [name, id] of selected) {
          for (const stream of ['stdout', 'stderr'] as const) {
            const path = join(runtimeDir, 'containers', id, `${stream}.log`);
            const text = existsSync(path) ? await readFile(path, 'utf8') : '';
            for (const line of text.split('\n').slice(0, text.endsWith('\n') ? -1 : undefined)) {
              (stream === 'stdout' ? process.stdout : process.stderr).write(`${prefix(name)}${line}\n`);
            }
          }
        }
        return;
      }
      const driver = new RuncDriver({ stateDir: runtimeDir });
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      await Promise.all(
        selected.flatMap(([name, id]) =>
          (['stdout', 'stderr'] as const).map(async (stream) => {
            const out = stream === 'stdout' ? process.stdout : process.stderr;
            const until = driver.wait(id, { signal: abort.signal }).catch(() => undefined);
            for await (const chunk of followLog(join(runtimeDir, 'containers', id, `${stream}.log`), { until, signal: abort.signal })) {
              out.write(selected.length > 1 ? chunk.toString('utf8').replace(/^(?=.)/gm, prefix(name)) : chunk);
            }
          }),
        ),
      );
    });
}
