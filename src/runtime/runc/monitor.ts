/**
 * The per-container monitor: a few lines of sh that stay parent of `runc run` and write its exit
 * status to a file, detached from the agent so containers and their exit codes outlive it.
 *
 * Why this shape:
 * - runc's detached modes (`runc create`, `run --detach`) leave the container's process to whoever
 *   reaps orphans (PID 1), and its exit status is lost. Keeping the status needs a parent that waits:
 *   `runc run` in the foreground waits for the container and exits with its status (128+N for
 *   signal N).
 * - Something must wait for `runc run` in turn and write the status down. sh does: it costs about a
 *   millisecond to start and a few hundred KiB while it waits, where a Node process would cost tens
 *   of milliseconds on every start and tens of MiB per container. sh cannot make itself a
 *   subreaper, which is why the container is not detached from runc.
 * - The agent starts it with setsid (its own session and process group) and lets go of it, so
 *   neither the agent's exit nor a signal to the agent's process group reaches it.
 * - Output goes straight to two files opened for append (stdout.log, stderr.log) through runc's
 *   pipes: no logger process that could die or fall behind and block the container. Each file holds
 *   one stream's bytes exactly; order between the two streams is not kept.
 * - runc runs with --keep so the container's cgroup outlives its process long enough to read the
 *   memory controller's oom_kill counter (v1 memory.oom_control, v2 memory.events): an exit by the
 *   OOM killer is told apart from any other SIGKILL. The monitor then deletes the container from
 *   runc itself, so nothing is left for the agent to clean up if it never comes back.
 * - The status and the OOM count are written to exit.tmp, which becomes `exit` once runc's state is
 *   gone: a reader sees all of it or nothing, and the file's mtime (kept by the rename) is the
 *   container's finish time. The pid file runc writes once the process runs marks the start (its
 *   mtime is the start time); an `exit` with no pid file means runc failed before the process ran,
 *   and runc.log says why.
 *
 * - Start latency (measured with bench/start/driver.ts): the driver's start() costs about what
 *   `runc run -d` of the same bundle costs, plus a few ms to notice the pid file (inotify on the
 *   container's directory, woken only by `init.pid` and `exit`). runc is the rest: two Go starts
 *   (runc, runc init), namespaces, ~10 mounts with cgroup v1, seccomp: 35-60 ms on a loaded 2-core
 *   machine. Splitting into `runc create` at create() and `runc start` (~10 ms) at start() would
 *   need this monitor to be a subreaper (PR_SET_CHILD_SUBREAPER) to keep the status, which sh
 *   cannot be; and it only pays when create() runs well before start().
 *
 * Arguments: $1 container dir, $2 runc binary, $3 runc root, $4 container id, $5 the cgroup file
 * holding `oom_kill N`. The container dir appears in the monitor's command line, which is how a
 * driver tells the monitor from a reused pid.
 */
export const MONITOR_SCRIPT = [
  'dir=$1 runc=$2 root=$3 id=$4 oomfile=$5',
  '"$runc" --root "$root" --log "$dir/runc.log" --log-format json run --keep --bundle "$dir/bundle" --pid-file "$dir/init.pid" "$id" \\',
  '  </dev/null >>"$dir/stdout.log" 2>>"$dir/stderr.log"',
  'code=$? oom=0',
  'if [ -r "$oomfile" ]; then while read -r key value; do [ "$key" = oom_kill ] && oom=$value; done <"$oomfile"; fi',
  'echo "$code $oom" >"$dir/exit.tmp"',
  '"$runc" --root "$root" delete --force "$id" >/dev/null 2>&1',
  'mv -f "$dir/exit.tmp" "$dir/exit"',
].join('\n');

/** argv[0] of the monitor, so `ps` shows what it is. */
export const MONITOR_NAME = 'berth-monitor';

/** The argv (after `sh -c SCRIPT`) that starts the monitor of one container. */
export function monitorArgs(dir: string, runc: string, runcRoot: string, id: string, oomFile: string): string[] {
  return ['-c', MONITOR_SCRIPT, MONITOR_NAME, dir, runc, runcRoot, id, oomFile];
}

/**
 * Reads the monitor's `exit` file: "STATUS OOMKILLS".
 *
 * @example parseExitFile('137 1\n') // { exitCode: 137, oomKilled: true }
 */
export function parseExitFile(text: string): { exitCode: number; oomKilled: boolean } {
  const [code = '', oom = '0'] = text.trim().split(/\s+/);
  return { exitCode: Number(code), oomKilled: Number(oom) > 0 };
}
