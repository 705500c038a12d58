/**
 * The runtime Driver contract: what the agent's task manager needs from whatever runs containers
 * (runc/ by default, docker/ later). Every driver passes driver.suite.ts unchanged.
 */

/**
 * The members of an OCI image config's `config` object that shape a container's process
 * (image-spec config.md). Spelled as the image config spells them, so an image's config passes as is.
 */
export interface ImageProcessConfig {
  readonly User?: string;
  readonly Env?: readonly string[] | null;
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly WorkingDir?: string;
  readonly ExposedPorts?: Readonly<Record<string, unknown>> | null;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly StopSignal?: string;
}

export interface EnvironmentVariable { readonly name: string; readonly value: string }
export interface HostEntry { readonly hostname: string; readonly ipAddress: string }
export interface Ulimit { readonly name: string; readonly softLimit: number; readonly hardLimit: number }
export interface SystemControl { readonly namespace: string; readonly value: string }

/** A tmpfs at containerPath; size in MiB as ECS counts it; mountOptions as mount(8) spells them. */
export interface TmpfsMount { readonly containerPath: string; readonly size: number; readonly mountOptions?: readonly string[] }

/**
 * A host directory or file bound into the container. The agent resolves ECS mountPoints to these:
 * a `host.sourcePath` volume, or a task-scoped volume's directory it made for the task.
 */
export interface BindMount { readonly sourcePath: string; readonly containerPath: string; readonly readOnly?: boolean }

export interface LinuxParameters {
  /** Names without the CAP_ prefix, as ECS takes them ("NET_ADMIN"); "ALL" is allowed in either list. */
  readonly capabilities?: { readonly add?: readonly string[]; readonly drop?: readonly string[] };
  /** Run a tiny init (tini) as PID 1 that forwards signals and reaps zombies, as `docker run --init`. */
  readonly initProcessEnabled?: boolean;
  /** Size of /dev/shm in MiB (default 64, as Docker). */
  readonly sharedMemorySize?: number;
  readonly tmpfs?: readonly TmpfsMount[];
  /** Swap in MiB the container may use beyond `memory` (0: none); absent: the host's default. */
  readonly maxSwap?: number;
  readonly swappiness?: number;
}

/**
 * Where the container's network comes from:
 * - `none`: a fresh network namespace with only loopback up;
 * - `host`: the host's network namespace (and, without a hostname, the host's UTS namespace);
 * - `netns`: join an existing namespace by path (awsvpc's per-task namespace, or a bridge-mode
 *   namespace); `ipv4Address` is written to /etc/hosts beside the hostname when given.
 */
export type NetworkAttachment =
  | { readonly mode: 'none' }
  | { readonly mode: 'host' }
  | { readonly mode: 'netns'; readonly path: string; readonly ipv4Address?: string };

/**
 * Berth's description of one container: the image's process config plus the ECS container
 * definition's members, with task-level decisions (volume paths, network) already resolved by the
 * agent. Drivers merge `image` with the overrides exactly as Docker does (see process.ts).
 */
export interface ContainerSpec {
  /** Chosen by the caller, unique per driver: letters, digits, `_`, `.`, `-`, at most 128. */
  readonly id: string;
  /** An existing root filesystem directory (the image module's snapshot); the driver never deletes it. */
  readonly rootfs: string;
  readonly image?: ImageProcessConfig;
  /** Replaces the image's Entrypoint, and then the image's Cmd is dropped too (Docker's rule). */
  readonly entryPoint?: readonly string[];
  /** Replaces the image's Cmd. */
  readonly command?: readonly string[];
  /** Merged over the image's Env by name; a later entry wins over an earlier one. */
  readonly environment?: readonly EnvironmentVariable[];
  readonly workingDirectory?: string;
  /** "uid", "uid:gid", "name", "name:group" (names resolved from the rootfs's /etc/passwd and /etc/group). */
  readonly user?: string;
  readonly readonlyRootFilesystem?: boolean;
  /** Every capability the host can give, every device, no masked paths, writable /sys. */
  readonly privileged?: boolean;
  readonly linuxParameters?: LinuxParameters;
  readonly ulimits?: readonly Ulimit[];
  /** Kept as the container's labels (OCI annotations), over the image's Labels. */
  readonly dockerLabels?: Readonly<Record<string, string>>;
  readonly hostname?: string;
  readonly extraHosts?: readonly HostEntry[];
  readonly dnsServers?: readonly string[];
  readonly dnsSearchDomains?: readonly string[];
  readonly mounts?: readonly BindMount[];
  readonly systemControls?: readonly SystemControl[];
  /** CPU units (1024 = one core), turned into relative cpu shares, at least 2 as the ECS agent does. */
  readonly cpu?: number;
  /** Hard memory limit in MiB: the container is OOM-killed above it. */
  readonly memory?: number;
  /** Soft memory limit in MiB: what the kernel reclaims down to under host memory pressure. */
  readonly memoryReservation?: number;
  /** Most tasks (processes and threads) the container may hold at once. */
  readonly pidsLimit?: number;
  readonly network: NetworkAttachment;
}

/**
 * - `created`: the driver holds everything to start it (bundle, files); no process yet;
 * - `running`: its process started and has not been seen to exit;
 * - `stopped`: its process exited (exitCode), failed to start, or was lost (exitCode absent, error says why).
 */
export type ContainerStatus = 'created' | 'running' | 'stopped';

export interface ContainerState {
  readonly id: string;
  readonly status: ContainerStatus;
  /** The container's first process, as the host sees it, while running. */
  readonly pid?: number;
  /** For `stopped`: the exit status, 128+N when signal N ended it (Docker's convention). */
  readonly exitCode?: number;
  readonly createdAt: Date;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  /** Why a stopped container has no exit code: it failed to start, or its monitor died. */
  readonly error?: string;
  /** For `stopped`: the kernel's OOM killer ended a process of it (ECS: OutOfMemoryError). */
  readonly oomKilled?: boolean;
  /** The image's labels with dockerLabels over them. */
  readonly labels: Readonly<Record<string, string>>;
}

/** The outcome wait() and stop() give: exitCode absent means it is not known (see ContainerState.error). */
export interface ExitStatus {
  readonly exitCode?: number;
  readonly finishedAt?: Date;
  readonly error?: string;
  readonly oomKilled?: boolean;
}

/** Usage read from the container's cgroup; cumulative counters, so callers take differences. */
export interface ContainerStats {
  readonly readAt: Date;
  /** CPU time used by all its processes, in nanoseconds, since it started. */
  readonly cpuUsageNs: number;
  readonly memoryUsageBytes: number;
  /** Page cache inside memoryUsageBytes (what `docker stats` subtracts). */
  readonly memoryCacheBytes: number;
  /** The hard limit in force (a huge number when none). */
  readonly memoryLimitBytes: number;
  readonly pids: number;
  /** Per interface of the container's own network namespace, loopback left out; absent in host mode. */
  readonly networks?: Readonly<Record<string, NetworkCounters>>;
}

/** An interface's counters since it was created (what Docker's stats call rx_bytes, …). */
export interface NetworkCounters {
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDropped: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDropped: number;
}

/** What exec() gives back: ECS health checks read exitCode (0 is healthy) and keep the output. */
export interface ExecResult {
  /** The command's status (128+N for signal N); non-zero too when it could not be run (output says why). */
  readonly exitCode: number;
  /** stdout and stderr together as the command wrote them, cut at maxOutputBytes. */
  readonly output: string;
  /** True when the command ran past timeoutMs and was killed. */
  readonly timedOut: boolean;
}

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long; absent: wait as long as it runs. */
  readonly timeoutMs?: number;
  /** Output kept (default 4096 bytes, as Docker keeps of a health check). */
  readonly maxOutputBytes?: number;
}

/**
 * Files holding the container's output, appended as it writes: the bytes of each stream as the
 * process wrote them, nothing added. They outlive the process and go with delete().
 */
export interface LogPaths { readonly stdout: string; readonly stderr: string }

/**
 * Runs containers on this host. Terms (as containerd's): a container is created from a spec (its
 * files exist, nothing runs), started (its process runs), and stops when that process exits or is
 * killed; it stays, with its exit code and logs, until deleted. A container is named by its spec's
 * id; the id is its handle for every call.
 *
 * A driver keeps its state outside the calling process: a new driver over the same state sees the
 * same containers (list() re-adopts them after an agent restart), a container that exits while no
 * driver exists still has its exit code, and creating a driver never stops or kills anything.
 *
 * Errors are RuntimeError: InvalidSpec (create), NotFound (unknown id), AlreadyExists (create),
 * Conflict (wrong status for the call), StartFailed (start), RuntimeFailed (anything else).
 */
export interface Driver {
  /** Short and stable ("runc", "docker"): the agent reports it as the container runtime. */
  readonly name: string;
  /** Checks and records the spec and prepares what start needs; state `created`. */
  create(spec: ContainerSpec): Promise<ContainerState>;
  /** Starts a `created` container's process; resolves once it runs (state `running`), or throws StartFailed. */
  start(id: string): Promise<ContainerState>;
  /** Sends a signal (default SIGKILL) to the container's first process; Conflict unless running. */
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  /**
   * ECS's stopTimeout: the image's StopSignal (default SIGTERM), then SIGKILL if still running
   * after `timeoutMs`. Resolves with the exit status; a container already stopped gives its own.
   */
  stop(id: string, timeoutMs: number): Promise<ExitStatus>;
  /** Resolves when the container is `stopped` (at once if it is); rejects if `signal` aborts first. */
  wait(id: string, options?: { signal?: AbortSignal }): Promise<ExitStatus>;
  state(id: string): Promise<ContainerState>;
  /** Every container this driver's state holds, in any status. */
  list(): Promise<ContainerState[]>;
  /**
   * Runs a command inside a running container (Conflict otherwise) as its own process is run: same
   * user, environment, working directory, capabilities and filters. What CMD health checks use.
   */
  exec(id: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Current usage; Conflict unless running. */
  stats(id: string): Promise<ContainerStats>;
  logPaths(id: string): Promise<LogPaths>;
  /** Removes a container that is not running (Conflict otherwise): its state, logs, cgroups. */
  delete(id: string): Promise<void>;
}

/** The rule for container ids, shared by every driver (runc's own rule is looser). */
export const CONTAINER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
