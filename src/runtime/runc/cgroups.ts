/**
 * Where a container's cgroups live on this host (v1: one hierarchy per controller, found from
 * mountinfo, since cpu and cpuacct may or may not share one; v2: one tree) and what they say.
 */
import { readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerStats } from '../driver.js';

/** The controllers Berth limits or reads; runc creates the container's group in each. */
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'devices', 'freezer', 'blkio', 'cpuset'] as const;

export type CgroupLayout =
  | { readonly version: 1; readonly mounts: ReadonlyMap<string, string> }
  | { readonly version: 2; readonly root: string };

/**
 * Reads the cgroup mounts from a mountinfo text (v1 hierarchies keyed by controller and by
 * `name=` for named ones); a host with no v1 controller mounted is v2.
 *
 * @example parseCgroupLayout('30 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory') // v1, memory → /sys/fs/cgroup/memory
 */
export function parseCgroupLayout(mountinfo: string): CgroupLayout {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mountPoint = unescapeMount(pre.split(' ')[4] ?? '');
    const [fstype, , superOptions = ''] = post.split(' ');
    if (fstype === 'cgroup') {
      for (const opt of superOptions.split(',')) {
        if ((V1_CONTROLLERS as readonly string[]).includes(opt) || opt.startsWith('name=')) v1.set(opt, mountPoint);
      }
    } else if (fstype === 'cgroup2') {
      v2 ??= mountPoint;
    }
  }
  if (v1.has('memory') || v1.has('cpu')) {
    // Hybrid hosts mount cgroup2 beside v1 (/sys/fs/cgroup/unified) and runc makes the container's
    // group there too: without it here, delete would leave one empty group per container behind.
    if (v2 !== undefined) v1.set('unified', v2);
    return { version: 1, mounts: v1 };
  }
  return { version: 2, root: v2 ?? '/sys/fs/cgroup' };
}

/** mountinfo escapes spaces and such as octal (\040). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function detectCgroupLayout(): Promise<CgroupLayout> {
  return parseCgroupLayout(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** Every directory the container's cgroup path names on this host (one per v1 hierarchy). */
export function cgroupDirs(layout: CgroupLayout, cgroupsPath: string): string[] {
  if (layout.version === 2) return [join(layout.root, cgroupsPath)];
  return [...new Set(layout.mounts.values())].map((mount) => join(mount, cgroupsPath));
}

/** The directory of one v1 controller (or the v2 group) for a cgroup path. */
export function controllerDir(layout: CgroupLayout, controller: string, cgroupsPath: string): string | undefined {
  if (layout.version === 2) return join(layout.root, cgroupsPath);
  const mount = layout.mounts.get(controller);
  return mount === undefined ? undefined : join(mount, cgroupsPath);
}

async function readNumber(file: string): Promise<number> {
  const text = (await readFile(file, 'utf8')).trim();
  // v2 writes "max" for no limit; the contract's "huge number" keeps callers' arithmetic simple.
  return text === 'max' ? Number.MAX_SAFE_INTEGER : Number(text);
}

async function readKeyed(file: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}

/** Reads usage from the container's cgroup files; throws ENOENT when the group is gone. */
export async function readCgroupStats(layout: CgroupLayout, cgroupsPath: string): Promise<ContainerStats> {
  const readAt = new Date();
  if (layout.version === 2) {
    const dir = join(layout.root, cgroupsPath);
    const [cpu, mem, usage, limit, pids] = await Promise.all([
      readKeyed(join(dir, 'cpu.stat')),
      readKeyed(join(dir, 'memory.stat')),
      readNumber(join(dir, 'memory.current')),
      readNumber(join(dir, 'memory.max')),
      readNumber(join(dir, 'pids.current')),
    ]);
    return {
      readAt, cpuUsageNs: (cpu.get('usage_usec') ?? 0) * 1000, memoryUsageBytes: usage,
      memoryCacheBytes: mem.get('file') ?? 0, memoryLimitBytes: limit, pids,
    };
  }
  const dir = (c: string): string => controllerDir(layout, c, cgroupsPath) ?? join('/sys/fs/cgroup', c, cgroupsPath);
  const [cpuUsageNs, usage, limit, mem, pids] = await Promise.all([
    readNumber(join(dir('cpuacct'), 'cpuacct.usage')),
    readNumber(join(dir('memory'), 'memory.usage_in_bytes')),
    readNumber(join(dir('memory'), 'memory.limit_in_bytes')),
    readKeyed(join(dir('memory'), 'memory.stat')),
    readNumber(join(dir('pids'), 'pids.current')),
  ]);
  return {
    readAt, cpuUsageNs, memoryUsageBytes: usage, memoryCacheBytes: mem.get('total_cache') ?? mem.get('cache') ?? 0,
    memoryLimitBytes: limit, pids,
  };
}

/** The file whose `oom_kill N` line counts the container's OOM kills (v1 memory.oom_control, v2 memory.events). */
export function oomCounterFile(layout: CgroupLayout, cgroupsPath: string): string {
  if (layout.version === 2) return join(layout.root, cgroupsPath, 'memory.events');
  return join(controllerDir(layout, 'memory', cgroupsPath) ?? join('/sys/fs/cgroup/memory', cgroupsPath), 'memory.oom_control');
}

/**
 * Removes the container's groups that are left (runc removes them when the container exits, but not
 * when runc itself was killed). A group still holding processes is left, and reported by the error.
 */
export async function removeCgroups(layout: CgroupLayout, cgroupsPath: string): Promise<void> {
  for (const dir of cgroupDirs(layout, cgroupsPath)) {
    try {
      await rmdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
