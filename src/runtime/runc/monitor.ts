/**
 * The per-container monitor: a few lines of sh that stay parent of `runc run` and write its exit
 * status to a file, detached from the agent so containers and their exit codes outlive it.
 *
 * Why this shape:
 * - runc's detached modes (`runc create`, `run --detach`) leave the container's process to whoever
 *   reaps orphans (PID 1), and its exit status is lost. Keeping the status needs a parent that waits:
 *   `runc run` in the foreground waits for the container and exits with its status (128+N for
 *   signal N), and removes its runc state and cgroups afterwards.
 * - Something must wait for `runc run` in turn and write the status down. sh does: it costs about a
 *   millisecond to start and a few hundred KiB while it waits, where a Node process would cost tens
 *   of milliseconds on every start and tens of MiB per container. sh cannot make itself a
 *   subreaper, which is why the container is not detached from runc.
 * - The agent starts it with setsid (its own session and process group) and lets go of it, so
 *   neither the agent's exit nor a signal to the agent's process group reaches it.
 * - Output goes straight to two files opened for append (stdout.log, stderr.log) through runc's
 *   pipes: no logger process that could die or fall behind and block the container. Each file holds
 *   one stream's bytes exactly; order between the two streams is not kept.
 * - The status is written to exit.tmp and renamed to `exit`, so a reader sees the whole number or
 *   nothing; the file's mtime is the container's finish time. The pid file runc writes once the
 *   process runs marks the start (its mtime is the start time); an `exit` with no pid file means
 *   runc failed before the process ran, and runc.log says why.
 *
 * Arguments: $1 container dir, $2 runc binary, $3 runc root, $4 container id. The container dir
 * appears in the monitor's command line, which is how a driver tells the monitor from a reused pid.
 */
export const MONITOR_SCRIPT = [
  'dir=$1 runc=$2 root=$3 id=$4',
  '"$runc" --root "$root" --log "$dir/runc.log" --log-format json run --bundle "$dir/bundle" --pid-file "$dir/init.pid" "$id" \\',
  '  </dev/null >>"$dir/stdout.log" 2>>"$dir/stderr.log"',
  'echo $? >"$dir/exit.tmp" && mv -f "$dir/exit.tmp" "$dir/exit"',
].join('\n');

/** argv[0] of the monitor, so `ps` shows what it is. */
export const MONITOR_NAME = 'berth-monitor';

/** The argv (after `sh -c SCRIPT`) that starts the monitor of one container. */
export function monitorArgs(dir: string, runc: string, runcRoot: string, id: string): string[] {
  return ['-c', MONITOR_SCRIPT, MONITOR_NAME, dir, runc, runcRoot, id];
}
