/**
 * Finding cgroup hierarchies from mountinfo: split v1 (this host), co-mounted v1, and v2 only.
 */
import { describe, expect, it } from 'vitest';
import { cgroupDirs, controllerDir, oomCounterFile, parseCgroupLayout } from './cgroups.js';

const SPLIT_V1 = `25 30 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
30 25 0:27 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
31 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

const COMOUNTED_V1 = `26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory`;

describe('parseCgroupLayout', () => {
  it('maps each v1 controller to its own hierarchy, and keeps the hybrid cgroup2 mount among them', () => {
    const l = parseCgroupLayout(SPLIT_V1);
    expect(l.version).toBe(1);
    expect(controllerDir(l, 'cpu', '/berth/a')).toBe('/sys/fs/cgroup/cpu/berth/a');
    expect(controllerDir(l, 'cpuacct', '/berth/a')).toBe('/sys/fs/cgroup/cpuacct/berth/a');
    expect(controllerDir(l, 'hugetlb', '/berth/a')).toBeUndefined();
    expect(cgroupDirs(l, '/berth/a')).toEqual([
      '/sys/fs/cgroup/cpu/berth/a', '/sys/fs/cgroup/cpuacct/berth/a', '/sys/fs/cgroup/memory/berth/a',
      '/sys/fs/cgroup/pids/berth/a', '/sys/fs/cgroup/systemd/berth/a', '/sys/fs/cgroup/unified/berth/a',
    ]);
  });

  it('lists a co-mounted hierarchy once', () => {
    const l = parseCgroupLayout(COMOUNTED_V1);
    expect(controllerDir(l, 'cpuacct', '/x')).toBe('/sys/fs/cgroup/cpu,cpuacct/x');
    expect(cgroupDirs(l, '/x')).toEqual(['/sys/fs/cgroup/cpu,cpuacct/x', '/sys/fs/cgroup/memory/x']);
  });

  it('is v2 when only cgroup2 is mounted', () => {
    const l = parseCgroupLayout('30 25 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate');
    expect(l).toEqual({ version: 2, root: '/sys/fs/cgroup' });
    expect(cgroupDirs(l, '/berth/a')).toEqual(['/sys/fs/cgroup/berth/a']);
    expect(controllerDir(l, 'memory', '/berth/a')).toBe('/sys/fs/cgroup/berth/a');
  });

  it('reads escaped mount points', () => {
    const l = parseCgroupLayout('1 2 0:1 / /mnt/cg\\040mem rw - cgroup cgroup rw,memory');
    expect(controllerDir(l, 'memory', '/a')).toBe('/mnt/cg mem/a');
  });

  it('finds the OOM kill counter of either version', () => {
    expect(oomCounterFile(parseCgroupLayout(SPLIT_V1), '/berth/a')).toBe('/sys/fs/cgroup/memory/berth/a/memory.oom_control');
    expect(oomCounterFile({ version: 2, root: '/sys/fs/cgroup' }, '/berth/a')).toBe('/sys/fs/cgroup/berth/a/memory.events');
  });
});
