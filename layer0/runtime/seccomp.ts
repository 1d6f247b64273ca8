// The default seccomp profile: allow by default and refuse (EPERM) the system calls Docker's
// default profile keeps from containers: kernel modules, mounts, namespaces, keyrings, clocks,
// reboot, kexec, bpf, perf and the old or dangerous rest. (personality(2) is left alone: a
// value filter cannot be written as one deny rule, and the other calls are what matter.) A deny-list keeps it small and
// readable; with no_new_privileges and the default capabilities most of these fail anyway.
const DENIED = [
  'acct', 'add_key', 'bpf', 'clock_adjtime', 'clock_settime', 'create_module', 'delete_module',
  'finit_module', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'get_kernel_syms', 'get_mempolicy', 'init_module',
  'ioperm', 'iopl', 'kcmp', 'kexec_file_load', 'kexec_load', 'keyctl', 'lookup_dcookie', 'mbind',
  'mount', 'mount_setattr', 'move_mount', 'move_pages', 'name_to_handle_at', 'nfsservctl', 'open_by_handle_at', 'open_tree',
  'perf_event_open', 'pivot_root', 'process_vm_readv', 'process_vm_writev',
  'query_module', 'quotactl', 'quotactl_fd', 'reboot', 'request_key', 'set_mempolicy', 'setns', 'settimeofday',
  'swapoff', 'swapon', 'sysfs', '_sysctl', 'umount', 'umount2', 'unshare', 'uselib', 'userfaultfd',
  'ustat', 'vm86', 'vm86old',
];

export function defaultSeccompProfile() {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: DENIED, action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
}
