/**
 * seccompProfile: Docker's refusals, each lifted by its capability, and clone's namespace flags.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from './bundle.js';
import { seccompArchitectures, seccompProfile } from './seccomp.js';

const refused = (caps: readonly string[]): string[] => seccompProfile(caps, 'x64').syscalls[0]!.names;

describe('seccompProfile', () => {
  it("refuses Docker's dangerous syscalls to a container with the default capabilities", () => {
    const p = seccompProfile(DEFAULT_CAPABILITIES, 'x64');
    expect(p.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(p.syscalls[0]).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
    for (const call of ['mount', 'unshare', 'setns', 'keyctl', 'add_key', 'bpf', 'kexec_load', 'init_module', 'reboot', 'userfaultfd', 'open_by_handle_at', 'settimeofday', 'swapon']) {
      expect(refused(DEFAULT_CAPABILITIES)).toContain(call);
    }
    // Default capabilities keep what they are for.
    expect(refused(DEFAULT_CAPABILITIES)).not.toContain('chroot');
    expect(refused(DEFAULT_CAPABILITIES)).not.toContain('ptrace');
  });

  it('lets a capability through the syscalls Docker ties to it, and only those', () => {
    const admin = refused(['CAP_SYS_ADMIN']);
    expect(admin).not.toContain('mount');
    expect(admin).not.toContain('unshare');
    expect(admin).not.toContain('syslog');
    expect(admin).toContain('reboot');
    expect(refused(['CAP_SYS_TIME'])).not.toContain('clock_settime');
    expect(refused(['CAP_SYS_MODULE'])).not.toContain('finit_module');
    expect(refused(['CAP_SYS_PTRACE'])).not.toContain('process_vm_readv');
    expect(refused(['CAP_SYSLOG'])).not.toContain('syslog');
    // Some stay refused whatever the container holds.
    expect(refused(['CAP_SYS_ADMIN', 'CAP_SYS_BOOT'])).toEqual(expect.arrayContaining(['keyctl', 'kexec_load', 'userfaultfd']));
  });

  it('refuses clone with namespace flags and clone3 (ENOSYS, so libc falls back to clone) without CAP_SYS_ADMIN', () => {
    const rules = seccompProfile([], 'x64').syscalls;
    expect(rules).toContainEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    const clone = rules.filter((r) => r.names[0] === 'clone');
    expect(clone.map((r) => r.args![0]!.value).reduce((a, b) => a | b, 0)).toBe(0x7e020000);
    for (const r of clone) expect(r.args).toEqual([{ index: 0, value: r.args![0]!.value, valueTwo: r.args![0]!.value, op: 'SCMP_CMP_MASKED_EQ' }]);
    expect(seccompProfile(['CAP_SYS_ADMIN'], 'x64').syscalls).toHaveLength(1);
  });

  it('covers the 32-bit entry points of the host architecture', () => {
    expect(seccompArchitectures('arm64')).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(seccompArchitectures('riscv64')).toEqual([]);
  });
});
