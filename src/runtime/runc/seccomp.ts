/**
 * The seccomp filter of a non-privileged container: the system calls Docker's default profile
 * refuses (its "significant syscalls blocked" list), each allowed again by the capability Docker
 * ties it to. Written as allow-by-default with refusals, so a new syscall is never the thing that breaks.
 */

export interface OciSeccompArg { index: number; value: number; valueTwo?: number; op: string }
export interface OciSeccompRule { names: string[]; action: string; errnoRet?: number; args?: OciSeccompArg[] }
export interface OciSeccomp { defaultAction: string; architectures: string[]; syscalls: OciSeccompRule[] }

const EPERM = 1;
const ENOSYS = 38;

/**
 * Refused unless the container holds the capability (null: always refused, as Docker does).
 * ptrace is allowed: Docker allows it on kernels from 4.8, where it can no longer bypass seccomp.
 */
const GUARDED: readonly [capability: string | null, syscalls: readonly string[]][] = [
  ['CAP_SYS_ADMIN', [
    'bpf', 'fanotify_init', 'lookup_dcookie', 'mount', 'mount_setattr', 'move_mount', 'name_to_handle_at', 'open_tree',
    'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2',
    'unshare', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'pivot_root',
  ]],
  ['CAP_SYS_BOOT', ['reboot']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev']],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'adjtimex', 'clock_adjtime', 'clock_adjtime64']],
  ['CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node', 'move_pages']],
  ['CAP_SYSLOG', ['syslog']],
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
  [null, [
    'add_key', 'keyctl', 'request_key', 'create_module', 'get_kernel_syms', 'query_module', 'kexec_file_load', 'kexec_load',
    'nfsservctl', 'swapon', 'swapoff', 'sysfs', '_sysctl', 'uselib', 'userfaultfd', 'ustat', 'vm86', 'vm86old',
  ]],
];

/** clone(2) flags that make namespaces: Docker lets only CAP_SYS_ADMIN holders pass them. */
const CLONE_NAMESPACE_FLAGS = [
  0x00020000, // CLONE_NEWNS
  0x02000000, // CLONE_NEWCGROUP
  0x04000000, // CLONE_NEWUTS
  0x08000000, // CLONE_NEWIPC
  0x10000000, // CLONE_NEWUSER
  0x20000000, // CLONE_NEWPID
  0x40000000, // CLONE_NEWNET
];

/** The seccomp architectures of a Node `process.arch`, so 32-bit entry points are filtered too. */
export function seccompArchitectures(arch: string): string[] {
  switch (arch) {
    case 'x64': return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64': return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    default: return [];
  }
}

/**
 * @example seccompProfile(['CAP_CHOWN'], 'x64').syscalls[0] // { names: ['bpf', …], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }
 */
export function seccompProfile(capabilities: readonly string[], arch: string): OciSeccomp {
  const held = new Set(capabilities);
  const allowed = new Set(GUARDED.filter(([cap]) => cap !== null && held.has(cap)).flatMap(([, calls]) => calls));
  const refused = [...new Set(GUARDED.flatMap(([, calls]) => calls))].filter((c) => !allowed.has(c)).sort();
  const syscalls: OciSeccompRule[] = [{ names: refused, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }];
  if (!held.has('CAP_SYS_ADMIN')) {
    // clone3 hides its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone,
    // whose flags it can, and which then may not create namespaces.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
    for (const flag of CLONE_NAMESPACE_FLAGS) {
      syscalls.push({
        names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      });
    }
  }
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: seccompArchitectures(arch), syscalls };
}
